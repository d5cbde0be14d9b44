use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", ready = "manuel")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
