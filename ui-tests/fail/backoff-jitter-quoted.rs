use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", backoff(base = "1s", max = "30s", jitter = "0.2"))]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
