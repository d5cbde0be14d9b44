use hassette_runtime::prelude::*;

struct Pool;

#[resource(watchdog = "10s")]
impl Pool {
    async fn on_initialize(&self) {}
}

fn main() {}
