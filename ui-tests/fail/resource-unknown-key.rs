use hassette_runtime::prelude::*;

struct Pool;

#[resource(startup_timeot = "5s")]
impl Pool {
    async fn on_initialize(&self) {}
}

fn main() {}
