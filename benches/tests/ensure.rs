//! Add-or-get of a present name costs a lookup: `ServiceContext::ensure_child`,
//! `ServiceContext::child` and `Hassette::ensure_named` of a live unit allocate nothing,
//! counted by the benchmark crate's counting allocator (the only test of this binary, on
//! a current-thread runtime: only the test harness's own thread may allocate meanwhile,
//! which the least of three counts leaves out).

use std::sync::{Arc, Mutex};

use hassette_benches::{Idle, heap};
use hassette_runtime::{BoxError, Hassette, ServiceContext, service};

/// Leaves its context where the test finds it.
struct Hub(Arc<Mutex<Option<ServiceContext>>>);

#[service(restart = "permanent")]
impl Hub {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        *self.0.lock().expect("not poisoned") = Some(ctx.clone());
        ctx.cancelled().await;
        Ok(())
    }
}

fn unused() -> Idle {
    unreachable!("the name is live: make is not called")
}

#[test]
fn ensure_of_a_present_name_allocates_nothing() {
    const CALLS: u64 = 1_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let slot = Arc::default();
        let app = Hassette::builder()
            .service(Hub(Arc::clone(&slot)))
            .build()
            .expect("the app builds");
        app.start().await.expect("the app starts");
        let ctx = loop {
            if let Some(ctx) = slot.lock().expect("not poisoned").clone() {
                break ctx;
            }
            tokio::task::yield_now().await;
        };
        for n in 0..100 {
            ctx.add_child_named(format!("lamp-{n}"), Idle)
                .await
                .expect("added");
        }
        app.add_named("conn", Idle).await.expect("added");
        // Once, to warm up whatever a first call may set up.
        ctx.ensure_child("lamp-7", unused).await.expect("live");
        app.ensure_named("conn", unused).await.expect("live");

        // The counter is the process's: another thread (the test harness's own) may
        // allocate once while this loop runs, on a loaded machine. A call that allocates
        // does so in every round, so the least of three counts is the loop's own.
        let mut least = u64::MAX;
        for _ in 0..3 {
            let before = heap();
            for _ in 0..CALLS {
                let lamp = ctx.ensure_child("lamp-7", unused).await.expect("live");
                drop(lamp);
                let found = ctx.child("lamp-42").expect("live");
                drop(found);
                let conn = app.ensure_named("conn", unused).await.expect("live");
                drop(conn);
            }
            least = least.min(heap().allocations - before.allocations);
        }
        assert_eq!(
            least, 0,
            "{least} allocations (the least of three counts) in {CALLS} rounds of ensure_child, child and ensure_named of present names"
        );
        app.shutdown().await;
    });
}
