use hassette_runtime::prelude::*;

struct Poller;

#[service(restart = "permanent", watchdog = "0s")]
impl Poller {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
