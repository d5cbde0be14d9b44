use hassette_runtime::prelude::*;

#[service(restart = "permanent")]
struct Ticker;

fn main() {}
