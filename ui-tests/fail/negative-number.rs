use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "transient", max_cooldown_cycles = -1)]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
