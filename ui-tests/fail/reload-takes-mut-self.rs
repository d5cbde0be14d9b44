use hassette_runtime::prelude::*;

struct Feed;

#[service(restart = "permanent")]
impl Feed {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }

    async fn on_reload(&mut self, _ctx: &ServiceContext) {}
}

fn main() {}
