use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Option<()> {
        ctx.cancelled().await;
        None
    }
}

fn main() {}
