use hassette_runtime::prelude::*;

struct Ticker;

#[service(restat = "permanent")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
