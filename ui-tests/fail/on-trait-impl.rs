use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent")]
impl Hooks for Ticker {
    async fn on_initialize(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        Ok(())
    }
}

fn main() {}
