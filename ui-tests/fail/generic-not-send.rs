// A generic service is a `Service` for the type arguments that are `Send + Sync +
// 'static`; another one is refused where it is registered.
use std::rc::Rc;

use hassette_runtime::prelude::*;

struct Worker<T>(T);

#[service(restart = "permanent")]
impl<T> Worker<T> {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

fn main() {
    let _ = Hassette::builder().service(Worker(Rc::new(1))).build();
}
