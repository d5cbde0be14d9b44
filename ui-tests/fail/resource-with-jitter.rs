use hassette_runtime::prelude::*;

struct Pool;

#[resource(backoff(jitter = 0.2))]
impl Pool {
    async fn on_initialize(&self) {}
}

fn main() {}
