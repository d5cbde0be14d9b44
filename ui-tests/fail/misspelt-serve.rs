use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent")]
impl Ticker {
    async fn server(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
