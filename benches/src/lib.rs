//! Shared code of the Hassette benchmarks: the benchmarked services, the same scenarios
//! written with bare tokio (`TaskTracker` + `CancellationToken` + a hand-written loop),
//! a counting global allocator, and the statistics and table printing.
//!
//! The benchmark itself is `benches/scenarios.rs`:
//!
//! ```text
//! cargo bench -p hassette-benches                        # full run
//! HASSETTE_BENCH_QUICK=1 cargo bench -p hassette-benches # a much smaller, faster run
//! cargo bench -p hassette-benches -- restart memory      # only some scenarios
//! cargo bench -p hassette-benches -- --guard             # fail beyond a guard (CI)
//! ```

use std::alloc::System;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hassette_runtime::{
    BoxError, Hassette, Hooks, RestartSpec, RestartType, Service, ServiceContext, service,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

// ---------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------

/// A reading of the counting global allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// Bytes currently allocated (allocated - freed). `stats_alloc` already adds a
    /// reallocation's growth to `bytes_allocated` (and a shrink to `bytes_deallocated`);
    /// its `bytes_reallocated` is the same growth again, so adding it would count every
    /// `Vec` doubling twice, even of a `Vec` freed since.
    pub live_bytes: i64,
    /// Allocations made since the process began (reallocations not included).
    pub allocations: u64,
}

/// The allocator's counters right now.
#[must_use]
pub fn heap() -> Heap {
    let s = GLOBAL.stats();
    Heap {
        live_bytes: s.bytes_allocated as i64 - s.bytes_deallocated as i64,
        allocations: s.allocations as u64,
    }
}

/// Memory kept by `n` idle services: live bytes and allocations made, per service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemSample {
    /// Live bytes per service, measured while all of them run.
    pub bytes_per_service: f64,
    /// Allocations made per service from before `build` until all are running and ready
    /// (includes the ones already freed again).
    pub allocations_per_service: f64,
    /// Live bytes per service that the first `events()` subscriber adds (the event
    /// channel's slots; 0 for bare tokio, which has no event stream).
    pub subscribed_bytes_per_service: f64,
}

fn mem_sample(before: Heap, after: Heap, n: usize) -> MemSample {
    MemSample {
        bytes_per_service: (after.live_bytes - before.live_bytes) as f64 / n as f64,
        allocations_per_service: (after.allocations - before.allocations) as f64 / n as f64,
        subscribed_bytes_per_service: 0.0,
    }
}

// ---------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------

/// A trivial service: waits for cancellation, then returns `Ok`. Declared as users
/// declare theirs, with the attribute (which also tells the runtime that it defines no
/// hook, so none is called).
#[derive(Debug, Clone, Copy)]
pub struct Idle;

#[service(restart = "permanent")]
impl Idle {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// The error the failing services return: a zero-sized type, so boxing it allocates
/// nothing in either the Hassette or the bare version.
#[derive(Debug, Clone, Copy)]
pub struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}

impl std::error::Error for Boom {}

/// What the test harness and the failing service share.
#[derive(Debug)]
pub struct FlakyState {
    runs: AtomicU64,
    failures: u64,
    done: Notify,
}

/// A permanent service with zero backoff and an unlimited budget whose `serve` fails
/// `failures` times and then waits for cancellation.
///
/// `backoff_multiplier` is 1.0: with a zero base the delay is zero for any multiplier,
/// but `RestartSpec::backoff_delay` computes `0 * 2^(attempt-1)`, which is NaN from
/// attempt 1025 on (`2^1024` overflows to infinity), and a NaN delay becomes
/// `backoff_max` (60 s): with the default multiplier the 1025th restart waits a minute.
#[derive(Debug)]
pub struct Flaky(Arc<FlakyState>);

#[service(
    restart = "permanent",
    backoff(base = "0s", multiplier = 1.0),
    budget(intensity = 4294967295)
)]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = self.0.runs.fetch_add(1, Ordering::Relaxed);
        if run < self.0.failures {
            return Err(Box::new(Boom));
        }
        self.0.done.notify_one();
        ctx.cancelled().await;
        Ok(())
    }
}

/// `n` distinct service names, made once so that every repetition registers the same.
#[must_use]
pub fn names(n: usize) -> Arc<[Arc<str>]> {
    (0..n).map(|i| Arc::from(format!("svc-{i}"))).collect()
}

fn build_idle(names: &[Arc<str>]) -> Hassette {
    let mut builder = Hassette::builder();
    for name in names {
        builder = builder.service_named(name.clone(), Idle);
    }
    builder.build().expect("the benchmark app builds")
}

async fn start_ready(names: &[Arc<str>]) -> Hassette {
    let app = build_idle(names);
    app.start().await.expect("every service starts");
    for name in names {
        app.wait_ready_by_name(name)
            .await
            .expect("every service gets ready");
    }
    app
}

// ---------------------------------------------------------------------------------------
// Scenario 1: start + stop of many trivial services
// ---------------------------------------------------------------------------------------

/// Hassette: build, `start().await`, `shutdown().await`, drop the app; total time.
pub async fn hassette_start_stop(names: Arc<[Arc<str>]>) -> Duration {
    let began = Instant::now();
    let app = build_idle(&names);
    app.start().await.expect("every service starts");
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    drop(report);
    drop(app);
    began.elapsed()
}

/// Bare tokio: spawn `n` tracked tasks awaiting a token, cancel, close, wait.
pub async fn bare_start_stop(n: usize) -> Duration {
    let began = Instant::now();
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    for _ in 0..n {
        let token = token.clone();
        tracker.spawn(async move {
            token.cancelled().await;
            Ok::<(), BoxError>(())
        });
    }
    token.cancel();
    tracker.close();
    tracker.wait().await;
    began.elapsed()
}

// ---------------------------------------------------------------------------------------
// Scenario 2: fail -> restart cycles
// ---------------------------------------------------------------------------------------

/// Hassette: one [`Flaky`] service failing `cycles` times; the time from `start` until
/// its run after the last failure begins, per cycle.
pub async fn hassette_restart(cycles: u64) -> Duration {
    let n = u32::try_from(cycles).expect("cycles fit u32");
    let state = Arc::new(FlakyState {
        runs: AtomicU64::new(0),
        failures: cycles,
        done: Notify::new(),
    });
    let app = Hassette::builder()
        .service(Flaky(state.clone()))
        .build()
        .expect("the benchmark app builds");
    let began = Instant::now();
    app.start().await.expect("the service starts");
    // Generous (the target is 1.0 us a cycle), but a stuck restart must not hang the run.
    let limit = Duration::from_secs(10) + Duration::from_millis(10) * n;
    if tokio::time::timeout(limit, state.done.notified())
        .await
        .is_err()
    {
        panic!(
            "the restarts stalled after {} of {cycles} runs; status {:?}",
            state.runs.load(Ordering::Relaxed),
            app.status::<Flaky>()
        );
    }
    let took = began.elapsed();
    let report = app.shutdown().await;
    assert_eq!(report.services[0].restarts, cycles, "{report}");
    took / n
}

/// Bare tokio: a loop spawning a tracked task that returns `Err`, awaiting it, and
/// spawning it again; time per cycle.
pub async fn bare_restart(cycles: u64) -> Duration {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    let began = Instant::now();
    let mut failures = 0;
    while failures < cycles {
        let token = token.clone();
        let run = tracker.spawn(async move {
            if token.is_cancelled() {
                return Ok(());
            }
            Err::<(), BoxError>(Box::new(Boom))
        });
        match run.await {
            Ok(Err(_)) => failures += 1,
            other => panic!("the bare task should fail: {other:?}"),
        }
    }
    let took = began.elapsed();
    token.cancel();
    tracker.close();
    tracker.wait().await;
    took / u32::try_from(cycles).expect("cycles fit u32")
}

// ---------------------------------------------------------------------------------------
// Scenario 3: idle memory per running service
// ---------------------------------------------------------------------------------------

/// Hassette: live bytes from before the builder (the names are made first) until `n`
/// services are Running and ready, per service (nobody subscribed to the events); then what the first
/// `events()` subscriber adds.
pub async fn hassette_idle_memory(n: usize) -> MemSample {
    // The names are the program's data (bare tokio's tasks have none): made before the
    // count starts. The registry's index of them is counted.
    let names = names(n);
    let before = heap();
    let app = start_ready(&names).await;
    let after = heap();
    let events = app.events();
    let subscribed = heap();
    drop(events);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    MemSample {
        subscribed_bytes_per_service: (subscribed.live_bytes - after.live_bytes) as f64 / n as f64,
        ..mem_sample(before, after, n)
    }
}

/// Bare tokio: live bytes of `n` tracked tasks that have begun awaiting a token, per task.
pub async fn bare_idle_memory(n: usize) -> MemSample {
    let before = heap();
    let (tracker, token, _) = bare_running(n).await;
    let after = heap();
    token.cancel();
    tracker.close();
    tracker.wait().await;
    mem_sample(before, after, n)
}

/// `n` tracked tasks that have all begun awaiting the token.
async fn bare_running(n: usize) -> (TaskTracker, CancellationToken, Arc<AtomicUsize>) {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    let begun = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let token = token.clone();
        let begun = begun.clone();
        tracker.spawn(async move {
            begun.fetch_add(1, Ordering::Relaxed);
            token.cancelled().await;
            Ok::<(), BoxError>(())
        });
    }
    while begun.load(Ordering::Relaxed) < n {
        tokio::task::yield_now().await;
    }
    (tracker, token, begun)
}

// ---------------------------------------------------------------------------------------
// Scenario 4: stopping many running services
// ---------------------------------------------------------------------------------------

/// Hassette: the time of `shutdown().await` with `names.len()` services running and ready.
pub async fn hassette_stop(names: Arc<[Arc<str>]>) -> Duration {
    let app = start_ready(&names).await;
    let began = Instant::now();
    let report = app.shutdown().await;
    let took = began.elapsed();
    assert!(report.is_success(), "{report}");
    took
}

/// Bare tokio: the time of cancel, close and wait with `n` tasks awaiting the token.
pub async fn bare_stop(n: usize) -> Duration {
    let (tracker, token, _) = bare_running(n).await;
    let began = Instant::now();
    token.cancel();
    tracker.close();
    tracker.wait().await;
    began.elapsed()
}

// ---------------------------------------------------------------------------------------
// Scenario 5: a chain of run-time waits
// ---------------------------------------------------------------------------------------

/// A link of a chain: its `on_initialize` waits, by name, until the previous link is
/// Running and ready (a run-time wait that goes through the wait-for graph's cycle check).
///
/// The links take turns so that the whole chain of waits is in the graph at once, built
/// from the front (`1 -> 0`, then `2 -> 1`, ...): the order a search from the target
/// alone pays the most for. Link `i` registers its wait, then hands the turn to link
/// `i + 1`; the last one hands it to link 0, which only then gets ready.
#[derive(Debug)]
pub struct Link {
    index: usize,
    prev: Option<Arc<str>>,
    chain: Arc<Chain>,
}

/// What the links of one chain share: whose turn it is.
#[derive(Debug)]
pub struct Chain {
    turns: Box<[Notify]>,
}

impl Chain {
    fn hand_on(&self, from: usize) {
        self.turns[(from + 1) % self.turns.len()].notify_one();
    }
}

impl Hooks for Link {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let Some(prev) = &self.prev else {
            self.chain.turns[0].notified().await;
            return Ok(());
        };
        if self.index > 1 {
            self.chain.turns[self.index].notified().await;
        }
        let wait = ctx.wait_ready_by_name(prev);
        tokio::pin!(wait);
        // Poll the wait once (that enters it into the graph), then hand the turn on.
        tokio::select! {
            biased;
            done = &mut wait => {
                self.chain.hand_on(self.index);
                return Ok(done?);
            }
            () = std::future::ready(()) => self.chain.hand_on(self.index),
        }
        Ok(wait.await?)
    }
}

impl Service for Link {
    const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Permanent);

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// Hassette: `names.len()` [`Link`]s, each waiting at run time for the one before it;
/// the time from `build` until the last one is Running and ready.
///
/// # Panics
///
/// With fewer than 2 names.
pub async fn hassette_chain(names: Arc<[Arc<str>]>) -> Duration {
    assert!(names.len() >= 2, "a chain has at least 2 links");
    let chain = Arc::new(Chain {
        turns: names.iter().map(|_| Notify::new()).collect(),
    });
    let began = Instant::now();
    let mut builder = Hassette::builder();
    let mut prev = None;
    for (index, name) in names.iter().enumerate() {
        let link = Link {
            index,
            prev: prev.replace(name.clone()),
            chain: chain.clone(),
        };
        builder = builder.service_named(name.clone(), link);
    }
    let app = builder.build().expect("the benchmark app builds");
    app.start().await.expect("every link starts");
    if let Some(last) = names.last() {
        app.wait_ready_by_name(last)
            .await
            .expect("the last link gets ready");
    }
    let took = began.elapsed();
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    took
}

/// Bare tokio: `n` tracked tasks, each awaiting the `watch` of the one before it and then
/// setting its own; the time until the last one is set.
pub async fn bare_chain(n: usize) -> Duration {
    let began = Instant::now();
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    let mut prev: Option<tokio::sync::watch::Receiver<bool>> = None;
    for _ in 0..n {
        let (ready, mine) = tokio::sync::watch::channel(false);
        let before = prev.replace(mine);
        let token = token.clone();
        tracker.spawn(async move {
            if let Some(mut before) = before {
                let _ = before.wait_for(|up| *up).await;
            }
            ready.send_replace(true);
            token.cancelled().await;
        });
    }
    if let Some(mut last) = prev {
        let _ = last.wait_for(|up| *up).await;
    }
    let took = began.elapsed();
    token.cancel();
    tracker.close();
    tracker.wait().await;
    took
}

// ---------------------------------------------------------------------------------------
// Statistics and output
// ---------------------------------------------------------------------------------------

/// The median of `values` (the mean of the two middle ones for an even count).
///
/// # Panics
///
/// On an empty slice.
#[must_use]
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "median of nothing");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// A count with thousands separators: `100 000`.
#[must_use]
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A duration in nanoseconds, in the unit that suits it.
#[must_use]
pub fn time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

// ---------------------------------------------------------------------------------------
// Targets and guards
// ---------------------------------------------------------------------------------------

/// What a guarded number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Hassette's time over bare tokio's, in the same run.
    TimesBare,
    /// Adding and removing at run time over a static start + stop, both Hassette, in the
    /// same run.
    TimesStatic,
    /// Live heap bytes per idle service (an absolute bound: bare tokio's is fixed).
    BytesPerService,
}

/// A number of the benchmark with its design target (the README's table)
/// and its guard: `--guard` fails the run when the number is beyond the guard. A guard
/// is a bound against gross regressions (a 5x slowdown), not a timing test: ratios
/// measured in one run, a generous bound well above where today's code is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    /// The scenario's name on the command line.
    pub scenario: &'static str,
    /// What it measures.
    pub measure: Measure,
    /// The design target.
    pub target: f64,
    /// Beyond this, `--guard` fails the run.
    pub bound: f64,
}

/// Every guarded number, in one place. Quick mode (10 000 services or cycles, 5-9
/// repetitions, on a 2-core machine), as of 2026-12-07 after the second allocation work
/// (a run's cell, the stop in place): start + stop 2.4-3.6x quiet or slowed down (7.8x
/// once while other builds ran, before it); restart 1.8-1.9x (4.5x loaded before it; the
/// O(n) restart window once put it at 50-110x); add + remove 1.6-2.3x; 1075 B per idle
/// service in quick mode (1062 B at 100 000), exact on a platform. Each time bound is
/// beyond every loaded reading, about 2x the quiet one; the memory bound catches a
/// fall back to what was cut (the box of the active run, cut last, was 64 B).
pub const GUARDS: [Guard; 4] = [
    Guard {
        scenario: "start_stop",
        measure: Measure::TimesBare,
        target: 1.5,
        bound: 8.0,
    },
    Guard {
        scenario: "restart",
        measure: Measure::TimesBare,
        target: 1.5,
        bound: 4.5,
    },
    Guard {
        scenario: "memory",
        measure: Measure::BytesPerService,
        target: 512.0,
        bound: 1150.0,
    },
    Guard {
        scenario: "add_remove",
        measure: Measure::TimesStatic,
        target: 1.5,
        bound: 3.5,
    },
];

/// The guard of `scenario`, if it has one.
#[must_use]
pub fn guard(scenario: &str) -> Option<&'static Guard> {
    GUARDS.iter().find(|g| g.scenario == scenario)
}

impl Guard {
    /// `value` in this guard's terms: `2.70x bare tokio`, `1155 B per idle service`.
    #[must_use]
    pub fn show(&self, value: f64) -> String {
        match self.measure {
            Measure::TimesBare => format!("{value:.2}x bare tokio"),
            Measure::TimesStatic => format!("{value:.2}x a static start + stop"),
            Measure::BytesPerService => format!("{value:.0} B per idle service"),
        }
    }

    /// The target, as the table shows it: `≤ 1.5x bare`.
    #[must_use]
    pub fn target_text(&self) -> String {
        match self.measure {
            Measure::TimesBare => format!("≤ {}x bare", self.target),
            Measure::TimesStatic => format!("≤ {}x static start + stop", self.target),
            Measure::BytesPerService => format!("≤ {} B", self.target),
        }
    }

    /// Whether `value` meets the target.
    #[must_use]
    pub fn met(&self, value: f64) -> bool {
        value <= self.target
    }

    /// Whether `value` is within the guard (NaN is not).
    #[must_use]
    pub fn holds(&self, value: f64) -> bool {
        value <= self.bound
    }

    /// One line on `value`: within the guard, or beyond it, naming the scenario, the
    /// number and the bound.
    #[must_use]
    pub fn verdict(&self, value: f64) -> String {
        let bound = match self.measure {
            Measure::BytesPerService => format!("{:.0} B", self.bound),
            Measure::TimesBare | Measure::TimesStatic => format!("{}x", self.bound),
        };
        match self.holds(value) {
            true => format!(
                "bench guard ok: `{}` at {}, within its guard of {bound} (target {})",
                self.scenario,
                self.show(value),
                self.target_text()
            ),
            false => format!(
                "bench guard FAILED: `{}` at {}, beyond its guard of {bound} (target {}); \
                 a regression of several times its cost, see the numbers above",
                self.scenario,
                self.show(value),
                self.target_text()
            ),
        }
    }
}

/// One row of the final table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub scenario: String,
    /// Hassette's median.
    pub hassette: String,
    /// Bare tokio's median.
    pub bare: String,
    /// Hassette / bare.
    pub ratio: f64,
    /// The design target.
    pub target: String,
    /// Whether Hassette meets it (`None`: no target for this row).
    pub met: Option<bool>,
}

/// The Markdown table of all rows.
#[must_use]
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | hassette | bare tokio | ratio | target | met? |\n|---|---:|---:|---:|---|---|\n",
    );
    for row in rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        let ratio = match row.ratio.is_nan() {
            true => "-".to_owned(),
            false => format!("{:.2}x", row.ratio),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {ratio} | {} | {} |\n",
            row.scenario, row.hassette, row.bare, row.target, met
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Scenario 6: services added and removed at run time
// ---------------------------------------------------------------------------------------

/// An empty app, started: what services are added to at run time.
async fn started_empty() -> Hassette {
    let app = Hassette::builder()
        .build()
        .expect("the benchmark app builds");
    app.start().await.expect("an empty app starts");
    app
}

/// Hassette: `names.len()` services added at run time and removed, as connections come
/// and go: one task per connection adds its service, then removes it; the time until
/// every task is done, against [`hassette_start_stop`] of as many.
pub async fn hassette_add_remove(names: Arc<[Arc<str>]>) -> Duration {
    let app = started_empty().await;
    let began = Instant::now();
    let connections = TaskTracker::new();
    for name in names.iter() {
        let (app, name) = (app.clone(), name.clone());
        connections.spawn(async move {
            let handle = app
                .add_named(name, Idle)
                .await
                .expect("the service is added");
            let report = handle.stop().await.expect("the service is removed");
            assert!(!report.is_failure());
        });
    }
    connections.close();
    connections.wait().await;
    let took = began.elapsed();
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, names.len() as u64);
    took
}

/// What [`hassette_churn`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Churn {
    /// Live bytes left after the cycles, against before them (after a warm-up).
    pub retained_bytes: i64,
    /// The time of one add + remove cycle, one at a time.
    pub per_cycle: Duration,
}

/// Hassette: `cycles` add + remove cycles of one service, one after the other; the
/// heap before and after (after 1 000 warm-up cycles, which size the tables).
pub async fn hassette_churn(cycles: usize) -> Churn {
    let app = started_empty().await;
    let name: Arc<str> = Arc::from("conn");
    let cycle = || async {
        let handle = app
            .add_named(name.clone(), Idle)
            .await
            .expect("the service is added");
        handle.stop().await.expect("the service is removed");
    };
    for _ in 0..1_000 {
        cycle().await;
    }
    let before = heap();
    let began = Instant::now();
    for _ in 0..cycles {
        cycle().await;
    }
    let per_cycle = began.elapsed() / cycles as u32;
    let after = heap();
    app.shutdown().await;
    Churn {
        retained_bytes: after.live_bytes - before.live_bytes,
        per_cycle,
    }
}

/// A parent that adds `n` children when it serves.
#[derive(Debug)]
pub struct Parent {
    names: Arc<[Arc<str>]>,
    done: Notify,
}

#[service(restart = "permanent")]
impl Parent {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let added = join_all(
            self.names
                .iter()
                .map(|name| ctx.add_child_named(name.clone(), Idle)),
        )
        .await;
        for child in added {
            child?;
        }
        self.done.notify_one();
        ctx.cancelled().await;
        Ok(())
    }
}

/// Hassette: one parent with `names.len()` live children: the time to add them, and the
/// live bytes per child (names made before).
pub async fn hassette_children(names: Arc<[Arc<str>]>) -> (Duration, f64) {
    let n = names.len();
    let before = heap();
    let app = Hassette::builder()
        .service(Parent {
            names,
            done: Notify::new(),
        })
        .build()
        .expect("the benchmark app builds");
    let parent = app
        .handle("Parent")
        .ok()
        .and_then(|handle| handle.service::<Parent>())
        .expect("the parent is registered");
    let began = Instant::now();
    app.start().await.expect("the parent starts");
    parent.done.notified().await;
    let took = began.elapsed();
    let bytes = (heap().live_bytes - before.live_bytes) as f64 / n as f64;
    assert_eq!(app.snapshot().len(), n + 1);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    (took, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn a_vec_grown_by_reallocation_counts_once() {
        const SIZE: usize = 1 << 20;
        let before = heap();
        let mut grown: Vec<u8> = Vec::with_capacity(1);
        while grown.len() < SIZE {
            grown.push(0);
        }
        let after = heap();
        let live = after.live_bytes - before.live_bytes;
        // The other tests of this binary may allocate or free a little at the same time;
        // counting each growth twice would give about twice the capacity.
        let capacity = grown.capacity() as i64;
        assert!(
            (capacity - 64 * 1024..capacity + 64 * 1024).contains(&live),
            "a vec of capacity {capacity} counted as {live} live bytes"
        );
        drop(grown);
        let freed = heap().live_bytes - before.live_bytes;
        assert!(
            freed < 64 * 1024,
            "{freed} bytes left after the vec was freed"
        );
    }

    #[test]
    fn a_guard_names_the_scenario_the_number_and_the_bound() {
        let restart = guard("restart").expect("the restart is guarded");
        assert!(restart.holds(1.4) && restart.met(1.4) && !restart.met(1.6));
        assert!(!restart.holds(47.0) && !restart.holds(f64::NAN));
        assert_eq!(
            restart.verdict(47.0),
            "bench guard FAILED: `restart` at 47.00x bare tokio, beyond its guard of 4.5x \
             (target ≤ 1.5x bare); a regression of several times its cost, see the numbers above"
        );
        let memory = guard("memory").expect("the memory is guarded");
        assert!(
            memory
                .verdict(1062.0)
                .contains("1062 B per idle service, within its guard of 1150 B")
        );
        assert!(guard("chain").is_none());
    }

    #[test]
    fn counts() {
        assert_eq!(count(100_000), "100 000");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1 000");
    }
}
