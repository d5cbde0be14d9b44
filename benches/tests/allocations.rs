//! What a trivial service costs in heap allocations over build + start + stop, counted by
//! the benchmark crate's counting allocator (the only test of this binary, on a
//! current-thread runtime: nothing else allocates meanwhile).
//!
//! Per service today: the service value, the unit, the supervisor's task, the run's
//! context and the run's cell, which holds the future of `serve` (5; bare tokio's
//! `TaskTracker` + `CancellationToken` makes 1, the task). Nothing more may come back: a
//! readiness reason made for no subscriber (2 more), a stack per service in the
//! dependency order (1 more), a boxed stop at the shutdown (1 more) or a box of the
//! active run apart from `serve`'s (1 more) did.
//!
//! Built with the workspace's features (`cargo test --workspace`: the `tests` crate turns
//! on `metrics`), the runtime also tells each status change to the `metrics` facade,
//! which costs 10 more per service (the keys of its series, made even for no recorder). The
//! test sees which build it runs in: a recorder of its own counts whether any update
//! came.

use std::sync::atomic::{AtomicBool, Ordering};

use hassette_benches::{Idle, heap, names};
use hassette_runtime::Hassette;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// A recorder that only notes that the runtime sent it something (no allocation).
#[derive(Default)]
struct Told(AtomicBool);

impl Told {
    fn note(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Recorder for Told {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        self.note();
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        self.note();
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        self.note();
        Histogram::noop()
    }
}

#[test]
fn build_start_and_stop_allocate_at_most_five_times_per_service() {
    const SERVICES: usize = 10_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let names = names(SERVICES);
    let told = Told::default();
    let run = || {
        runtime.block_on(async {
            let before = heap();
            let mut builder = Hassette::builder();
            for name in names.iter() {
                builder = builder.service_named(name.clone(), Idle);
            }
            let app = builder.build().expect("the app builds");
            app.start().await.expect("every service starts");
            let report = app.shutdown().await;
            assert!(report.is_success(), "{report}");
            drop(report);
            drop(app);
            (heap().allocations - before.allocations) as f64 / SERVICES as f64
        })
    };
    // The current-thread runtime runs every service on this thread: its updates come here.
    let per_service = metrics::with_local_recorder(&told, run);
    let expected = match told.0.load(Ordering::Relaxed) {
        true => 15.0,
        false => 5.0,
    };
    // The app's own (its tables, the tasks of the stop) are a few hundred in all: under
    // 0.1 per service at this count.
    assert!(
        per_service < expected + 0.1,
        "{per_service:.2} allocations per service over build + start + stop (at most \
         {expected} in this build)"
    );
}
