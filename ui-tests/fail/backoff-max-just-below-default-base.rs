// One millisecond under the runtime's default base (`RestartSpec::new`'s 2s).
// `tests/tests/defaults.rs` checks that `max = "2s"` compiles.
use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", backoff(max = "1999ms"))]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
