// Every mistake of one block is reported in one build.
use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "temprary", backoff(base = "2 s"), startup_timout = "5s")]
impl Ticker {
    fn on_initialize(&self) {}

    async fn on_shutdwon(&self) {}

    async fn serve(&mut self, ctx: &ServiceContext, _extra: u8) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
