use hassette_runtime::prelude::*;

struct Pool;

#[resource(max_children = 4)]
impl Pool {
    async fn on_initialize(&self) {}
}

fn main() {}
