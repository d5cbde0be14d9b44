use hassette_runtime::prelude::*;

struct Pool;

#[resource(restart = "permanent", startup_timeout = "5s")]
impl Pool {
    async fn on_initialize(&self) {}
}

fn main() {}
