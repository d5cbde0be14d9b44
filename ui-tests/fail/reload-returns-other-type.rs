use hassette_runtime::prelude::*;

struct Feed;

#[service(restart = "permanent")]
impl Feed {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }

    async fn on_reload(&self, _ctx: &ServiceContext) -> bool {
        true
    }
}

fn main() {}
