use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent")]
impl Ticker {
    fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
