use hassette_runtime::prelude::*;

struct Pool;

#[resource]
impl Pool {
    async fn on_initialize(&self) {}

    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

fn main() {}
