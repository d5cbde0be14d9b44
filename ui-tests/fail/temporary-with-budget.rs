use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "temporary", budget(intensity = 3, period = "1m"))]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
