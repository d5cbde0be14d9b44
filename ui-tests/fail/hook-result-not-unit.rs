use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }

    async fn on_initialize(&self) -> Result<u32, BoxError> {
        Ok(1)
    }
}

fn main() {}
