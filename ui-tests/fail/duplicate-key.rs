use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", startup_timeout = "5s", startup_timeout = "10s")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
