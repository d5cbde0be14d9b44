use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", shutdown_timeout = "5 seconds")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
