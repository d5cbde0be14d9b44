use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent", fatal(std::io::Error), non_retryable(std::io::Error))]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() {}
