// Methods that are not hooks are left exactly as written: constructors, `&mut self`,
// generic and non-async helpers, associated consts, private and public items, and names
// that merely start like a hook.
use std::sync::atomic::{AtomicU32, Ordering};

use hassette_runtime::prelude::*;

struct Counter {
    hits: AtomicU32,
    limit: u32,
}

#[service(restart = "permanent")]
impl Counter {
    pub const DEFAULT_LIMIT: u32 = 3;

    pub fn new() -> Self {
        Counter { hits: AtomicU32::new(0), limit: Self::DEFAULT_LIMIT }
    }

    fn set_limit(&mut self, limit: u32) -> &mut Self {
        self.limit = limit;
        self
    }

    fn describe<T: std::fmt::Display>(&self, prefix: T) -> String {
        format!("{prefix}{}", self.limit)
    }

    async fn serve_one(&self) -> u32 {
        self.hits.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn on_initialize_count(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        while self.serve_one().await < self.limit {}
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let mut counter = Counter::new();
    counter.set_limit(5);
    assert_eq!(counter.describe("limit "), "limit 5");
    assert_eq!(counter.on_initialize_count(), 0);

    let app = Hassette::builder().service(counter).build().unwrap();
    app.start().await.unwrap();
    assert!(app.shutdown().await.is_success());
}
