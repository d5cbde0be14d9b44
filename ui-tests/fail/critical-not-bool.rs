use hassette_runtime::prelude::*;

struct Sidecar;

#[service(restart = "permanent", critical = 0)]
impl Sidecar {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
