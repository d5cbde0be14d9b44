// A bad jitter is reported with the block's other mistakes, in one build.
use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", backoff(jitter = 2.0, multiplier = 0.5, jiter = 0.1))]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }

    async fn on_initialise(&self) {}
}

fn main() {}
