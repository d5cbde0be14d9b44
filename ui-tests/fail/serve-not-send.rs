// A serve future that is not `Send` (a std MutexGuard held across an await) is
// reported on the user's `serve`, not on the attribute.
use hassette_runtime::prelude::*;
use std::sync::Mutex;
struct S { m: Mutex<u32> }
#[service(restart = "permanent")]
impl S {
    async fn serve(&self, ctx: &ServiceContext) {
        let g = self.m.lock().unwrap();
        ctx.cancelled().await;
        drop(g);
    }
}
fn main() {}
