// One mistake gives one error: the block stays as written (its helpers still work)
// and the type still counts as a `Service`, so registering it adds no error.
use hassette_runtime::prelude::*;

struct Ticker {
    period_ms: u64,
}

#[service(restart = "permanant")]
impl Ticker {
    fn new() -> Self {
        Ticker { period_ms: 100 }
    }

    fn period(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.period_ms)
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let _ = self.period();
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {
    let ticker = Ticker::new();
    let _ = ticker.period();
    let _app = Hassette::builder().service(ticker).build();
}
