use hassette_runtime::prelude::*;

struct Ticker;

#[service(restart = "permanent")]
impl Ticker {
    async fn on_initialize(&self) {}
}

fn main() {}
