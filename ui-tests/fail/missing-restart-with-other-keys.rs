use hassette_runtime::prelude::*;

struct Ticker;

#[service(backoff(base = "100ms"), name = "ticker")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
