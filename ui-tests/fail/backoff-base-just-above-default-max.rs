// The boundary of `backoff-base-above-default-max.rs`: one second over the runtime's
// default max (`RestartSpec::new`'s 60s). `tests/tests/defaults.rs` checks that 60s compiles.
use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", backoff(base = "61s"))]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
