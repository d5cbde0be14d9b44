use hassette_runtime::prelude::*;

struct Pool;

#[resource(critical = false)]
impl Pool {
    async fn on_initialize(&self) {}
}

fn main() {}
