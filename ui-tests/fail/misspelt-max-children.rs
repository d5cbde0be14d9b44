use hassette_runtime::prelude::*;

struct Acceptor;

#[service(restart = "permanent", max_child = 10)]
impl Acceptor {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
