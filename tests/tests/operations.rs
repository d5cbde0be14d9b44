//! Operations without downtime, on the paused clock: `reload` (its waves, its bounds, its
//! policy, two at once, dropped half-way, from inside a service and from a child),
//! `reconfigure`, the per-service `watchdog` and the restart context (`ctx.attempt()`,
//! `ctx.last_error()`).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{
    NoHeartbeat, Overrides, ReconfigureError, ReloadError, ReloadSkipped, StatusEvent, TimedOut,
};
use hassette_tests::{Oops, drain_events, ms, secs, settle};
use tokio::time::{Instant, sleep, timeout};

/// Far beyond every bound of these tests: an await that reaches it hung.
const HANG: Duration = secs(3600);

async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    match timeout(HANG, fut).await {
        Ok(output) => output,
        Err(_) => panic!("{what} hung"),
    }
}

/// When each `on_reload` began and ended, from the test's start, in whole milliseconds.
#[derive(Clone, Default)]
struct Times(Arc<Mutex<Vec<(String, u128)>>>);

impl Times {
    fn note(&self, what: impl Into<String>, since: Instant) {
        let at = since.elapsed().as_millis();
        self.0.lock().unwrap().push((what.into(), at));
    }

    fn all(&self) -> Vec<(String, u128)> {
        self.0.lock().unwrap().clone()
    }
}

// Three services in a chain (`Top` needs `Middle` needs `Bottom`) whose `on_reload`
// each take 1s, and one without `on_reload`.
struct Bottom(Times, Instant);
#[service(restart = "permanent")]
impl Bottom {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn on_reload(&self) {
        self.0.note("bottom begins", self.1);
        sleep(secs(1)).await;
        self.0.note("bottom ends", self.1);
    }
}

struct Middle(Times, Instant);
#[service(restart = "permanent", depends_on(Bottom))]
impl Middle {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn on_reload(&self) {
        self.0.note("middle begins", self.1);
        sleep(secs(1)).await;
        self.0.note("middle ends", self.1);
    }
}

struct Top(Times, Instant);
#[service(restart = "permanent", depends_on(Middle))]
impl Top {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn on_reload(&self) {
        self.0.note("top begins", self.1);
        sleep(secs(1)).await;
        self.0.note("top ends", self.1);
    }
}

struct Plain;
#[service(restart = "permanent")]
impl Plain {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn reload_runs_each_on_reload_in_dependency_waves_while_serve_goes_on() {
    let times = Times::default();
    let t0 = Instant::now();
    // Registered in reverse order: the waves, not the registration, decide.
    let app = Hassette::builder()
        .service(Top(times.clone(), t0))
        .service(Plain)
        .service(Middle(times.clone(), t0))
        .service(Bottom(times.clone(), t0))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Top>().await.unwrap();
    let mut events = app.events();
    let report = bounded("reload", app.reload()).await.unwrap();
    let names: Vec<&str> = report.reloaded.iter().map(|name| &**name).collect();
    assert_eq!(names, ["Bottom", "Middle", "Top"], "{report}");
    assert!(
        report.failed.is_empty() && report.skipped.is_empty(),
        "{report}"
    );
    assert!(report.is_success());
    let want = [
        ("bottom begins", 0),
        ("bottom ends", 1000),
        ("middle begins", 1000),
        ("middle ends", 2000),
        ("top begins", 2000),
        ("top ends", 3000),
    ];
    let want: Vec<(String, u128)> = want.iter().map(|&(w, t)| (w.to_owned(), t)).collect();
    assert_eq!(times.all(), want);
    assert_eq!(t0.elapsed(), secs(3));
    // Nobody stopped or restarted.
    assert!(drain_events(&mut events).is_empty());
    for name in ["Bottom", "Middle", "Top", "Plain"] {
        assert_eq!(app.status_by_name(name).unwrap(), Status::Running);
    }
    assert!(app.shutdown().await.is_success());
}

/// A service whose `on_reload` does what its `mode` says: 0 returns `Ok`, 1 fails, 2
/// hangs. It counts the calls; `serve` counts its runs.
struct Reloader {
    mode: AtomicU32,
    reloads: AtomicU32,
    runs: AtomicU32,
}

impl Reloader {
    fn new(mode: u32) -> Self {
        Reloader {
            mode: AtomicU32::new(mode),
            reloads: AtomicU32::new(0),
            runs: AtomicU32::new(0),
        }
    }
}

#[service(
    restart = "permanent",
    startup_timeout = "2s",
    backoff(base = "1s", max = "1s")
)]
impl Reloader {
    async fn serve(&self, ctx: &ServiceContext) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        ctx.cancelled().await;
    }
    async fn on_reload(&self) -> Result<(), BoxError> {
        self.reloads.fetch_add(1, Ordering::SeqCst);
        match self.mode.load(Ordering::SeqCst) {
            0 => {
                sleep(secs(1)).await;
                Ok(())
            }
            1 => Err(Box::new(Oops("the new settings are bad"))),
            _ => {
                sleep(HANG).await;
                Ok(())
            }
        }
    }
}

fn reloader(app: &Hassette) -> Arc<Reloader> {
    app.handle("Reloader")
        .unwrap()
        .service::<Reloader>()
        .unwrap()
}

fn transitions(events: &[StatusEvent]) -> Vec<(Status, Status)> {
    events.iter().map(|e| (e.from, e.to)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_failing_on_reload_fails_the_run_and_the_policy_restarts_it() {
    let app = Hassette::builder()
        .service(Reloader::new(1))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Reloader>().await.unwrap();
    let mut events = app.events();
    let report = bounded("reload", app.reload()).await.unwrap();
    assert!(!report.is_success());
    assert_eq!(report.failed.len(), 1, "{report}");
    assert_eq!(&*report.failed[0].0, "Reloader");
    assert_eq!(report.failed[0].1.to_string(), "the new settings are bad");
    // Restarted after its backoff of 1s.
    let t0 = Instant::now();
    app.wait_ready::<Reloader>().await.unwrap();
    assert_eq!(t0.elapsed(), secs(1));
    assert_eq!(reloader(&app).runs.load(Ordering::SeqCst), 2);
    let seen = drain_events(&mut events);
    assert_eq!(
        transitions(&seen),
        [
            (Status::Running, Status::Failed),
            (Status::Failed, Status::Starting),
            (Status::Starting, Status::Running),
        ]
    );
    assert_eq!(
        seen[0].error.as_ref().map(ToString::to_string).as_deref(),
        Some("the new settings are bad")
    );
    let shutdown = app.shutdown().await;
    assert!(shutdown.is_success(), "{shutdown}");
    assert_eq!(shutdown.services[0].restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn an_on_reload_past_its_startup_timeout_is_cut_off_and_fails_the_run() {
    let app = Hassette::builder()
        .service(Reloader::new(2))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Reloader>().await.unwrap();
    let t0 = Instant::now();
    let report = bounded("reload", app.reload()).await.unwrap();
    assert_eq!(t0.elapsed(), secs(2), "bounded by its startup_timeout");
    assert_eq!(report.failed.len(), 1, "{report}");
    let timed_out = report.failed[0].1.downcast_ref::<TimedOut>();
    assert_eq!(timed_out, Some(&TimedOut::new("on_reload", secs(2))));
    app.wait_ready::<Reloader>().await.unwrap();
    assert_eq!(reloader(&app).runs.load(Ordering::SeqCst), 2);
    assert!(app.shutdown().await.is_success());
}

#[tokio::test(start_paused = true)]
async fn reload_before_start_and_once_stopping_is_a_typed_error() {
    let app = Hassette::builder()
        .service(Reloader::new(0))
        .build()
        .unwrap();
    assert_eq!(app.reload().await.unwrap_err(), ReloadError::NotStarted);
    app.start().await.unwrap();
    assert!(app.shutdown().await.is_success());
    assert_eq!(app.reload().await.unwrap_err(), ReloadError::ShuttingDown);
    assert_eq!(reloader(&app).reloads.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn two_reloads_at_once_are_one_and_the_next_one_is_new() {
    let app = Hassette::builder()
        .service(Reloader::new(0))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Reloader>().await.unwrap();
    let t0 = Instant::now();
    let other = app.clone();
    let (a, b) = bounded("two reloads", async {
        tokio::join!(app.reload(), other.reload())
    })
    .await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(t0.elapsed(), secs(1));
    assert_eq!(a.reloaded, b.reloaded);
    assert_eq!(a.reloaded.len(), 1);
    assert_eq!(reloader(&app).reloads.load(Ordering::SeqCst), 1);
    // A reload after that one is a new one.
    bounded("third reload", app.reload()).await.unwrap();
    assert_eq!(reloader(&app).reloads.load(Ordering::SeqCst), 2);
    assert!(app.shutdown().await.is_success());
}

#[tokio::test(start_paused = true)]
async fn a_reload_dropped_half_way_goes_on_and_the_next_call_joins_it() {
    let app = Hassette::builder()
        .service(Reloader::new(0))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Reloader>().await.unwrap();
    let t0 = Instant::now();
    assert!(timeout(ms(400), app.reload()).await.is_err());
    assert_eq!(reloader(&app).reloads.load(Ordering::SeqCst), 1);
    let report = bounded("reload again", app.reload()).await.unwrap();
    assert_eq!(report.reloaded.len(), 1);
    // The one reload, whose `on_reload` takes 1s from the first call.
    assert_eq!(t0.elapsed(), secs(1));
    assert_eq!(reloader(&app).reloads.load(Ordering::SeqCst), 1);
    assert!(app.shutdown().await.is_success());
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_a_reload_ends_it_without_a_failure() {
    let app = Hassette::builder()
        .service(Reloader::new(2))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Reloader>().await.unwrap();
    let reload = tokio::spawn({
        let app = app.clone();
        async move { app.reload().await }
    });
    sleep(ms(100)).await;
    let t0 = Instant::now();
    let shutdown = bounded("shutdown", app.shutdown()).await;
    let report = bounded("the reload", reload).await.unwrap().unwrap();
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(
        report.skipped,
        [("Reloader".into(), ReloadSkipped::Interrupted)]
    );
    // The hook saw its run cancelled and got `shutdown_timeout` (5s), then was cut off;
    // the stop is not a failure.
    assert!(t0.elapsed() <= secs(5), "{:?}", t0.elapsed());
    assert_eq!(shutdown.services[0].status, Status::Stopped, "{shutdown}");
}

/// A service whose `serve` (or a child task of it) asks for the reload itself.
struct SelfReloader {
    from_child: bool,
    reloads: AtomicU32,
    answer: Mutex<Option<Result<usize, ReloadError>>>,
}

#[service(restart = "permanent")]
impl SelfReloader {
    async fn serve(&self, ctx: &ServiceContext) {
        let app = ctx.app();
        let answer = match self.from_child {
            false => app.reload().await.map(|r| r.reloaded.len()),
            true => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                ctx.spawn(async move {
                    let _ = tx.send(app.reload().await.map(|r| r.reloaded.len()));
                });
                rx.await.unwrap_or(Err(ReloadError::ShuttingDown))
            }
        };
        *self.answer.lock().unwrap() = Some(answer);
        ctx.cancelled().await;
    }
    async fn on_reload(&self) {
        self.reloads.fetch_add(1, Ordering::SeqCst);
        sleep(secs(1)).await;
    }
}

async fn reload_from_inside(from_child: bool) {
    let app = Hassette::builder()
        .service(SelfReloader {
            from_child,
            reloads: AtomicU32::new(0),
            answer: Mutex::new(None),
        })
        .build()
        .unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    let this = app.handle("SelfReloader").unwrap();
    let this = this.service::<SelfReloader>().unwrap();
    bounded("the reload from inside", async {
        while this.answer.lock().unwrap().is_none() {
            sleep(ms(10)).await;
        }
    })
    .await;
    // Its own `on_reload` ran next to the `serve` that waited for it: no deadlock, no
    // timeout, no failure.
    assert_eq!(*this.answer.lock().unwrap(), Some(Ok(1)));
    assert_eq!(this.reloads.load(Ordering::SeqCst), 1);
    assert!(t0.elapsed() < secs(2), "{:?}", t0.elapsed());
    assert_eq!(app.status::<SelfReloader>().unwrap(), Status::Running);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.services[0].restarts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_reload_from_serve_runs_its_own_on_reload_next_to_it() {
    reload_from_inside(false).await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_from_a_child_task_runs_its_service_s_on_reload() {
    reload_from_inside(true).await;
}

/// A service whose `on_reload` asks for a reload, and a child service whose `serve`
/// does.
struct Recursive {
    inner: Mutex<Option<Result<usize, ReloadError>>>,
}

#[service(restart = "permanent")]
impl Recursive {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn on_reload(&self, ctx: &ServiceContext) {
        let answer = ctx.app().reload().await.map(|r| r.reloaded.len());
        *self.inner.lock().unwrap() = Some(answer);
    }
}

#[tokio::test(start_paused = true)]
async fn a_reload_from_inside_on_reload_is_answered_at_once() {
    let app = Hassette::builder()
        .service(Recursive {
            inner: Mutex::new(None),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Recursive>().await.unwrap();
    let t0 = Instant::now();
    let report = bounded("reload", app.reload()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO, "nothing waited for itself");
    assert_eq!(report.reloaded.len(), 1, "{report}");
    let this = app.handle("Recursive").unwrap();
    let inner = this.service::<Recursive>().unwrap();
    assert_eq!(
        *inner.inner.lock().unwrap(),
        Some(Err(ReloadError::InsideReload {
            service: "Recursive".into()
        }))
    );
    assert!(app.shutdown().await.is_success());
}

/// What the child's reload answered: the names reloaded.
type Answer = Arc<Mutex<Option<Result<Vec<String>, ReloadError>>>>;

/// A parent that adds a child service whose `serve` reloads the app.
struct Parent {
    reloads: Arc<AtomicU32>,
    answer: Answer,
}
struct Child {
    reloads: Arc<AtomicU32>,
    answer: Answer,
}

#[service(restart = "permanent")]
impl Parent {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let child = Child {
            reloads: self.reloads.clone(),
            answer: self.answer.clone(),
        };
        ctx.add_child(child).await?;
        ctx.cancelled().await;
        Ok(())
    }
    async fn on_reload(&self) {
        self.reloads.fetch_add(1, Ordering::SeqCst);
        sleep(ms(500)).await;
    }
}

#[service(restart = "permanent")]
impl Child {
    async fn serve(&self, ctx: &ServiceContext) {
        let answer = ctx.app().reload().await;
        let names = answer.map(|r| r.reloaded.iter().map(ToString::to_string).collect());
        *self.answer.lock().unwrap() = Some(names);
        ctx.cancelled().await;
    }
    async fn on_reload(&self) {
        self.reloads.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_reload_from_a_child_service_reloads_its_parent_first_then_it() {
    let reloads = Arc::new(AtomicU32::new(0));
    let answer = Arc::new(Mutex::new(None));
    let app = Hassette::builder()
        .service(Parent {
            reloads: reloads.clone(),
            answer: answer.clone(),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    bounded("the child's reload", async {
        while answer.lock().unwrap().is_none() {
            sleep(ms(10)).await;
        }
    })
    .await;
    let names = answer.lock().unwrap().clone().unwrap().unwrap();
    assert_eq!(names, ["Parent", "Parent/Child"]);
    assert_eq!(reloads.load(Ordering::SeqCst), 2);
    assert!(app.shutdown().await.is_success());
}

/// Fails every run after `fail_after`, recording each run's restart context.
struct Flaky {
    runs: Mutex<Vec<(u32, Option<String>)>>,
    fail_after: Duration,
}

#[service(
    restart = "permanent",
    backoff(base = "1s", max = "1m"),
    budget(intensity = 100, period = "1h")
)]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = {
            let mut runs = self.runs.lock().unwrap();
            runs.push((ctx.attempt(), ctx.last_error().map(|e| e.to_string())));
            runs.len()
        };
        tokio::select! {
            () = ctx.cancelled() => Ok(()),
            () = sleep(self.fail_after) => Err(format!("run {run} failed").into()),
        }
    }
}

fn flaky(app: &Hassette) -> Arc<Flaky> {
    app.handle("Flaky").unwrap().service::<Flaky>().unwrap()
}

#[tokio::test(start_paused = true)]
async fn each_run_knows_its_attempt_and_the_error_that_ended_the_run_before() {
    let app = Hassette::builder()
        .service(Flaky {
            runs: Mutex::new(Vec::new()),
            fail_after: ms(100),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    // Runs at 0, 1.1s, 3.2s (backoff 1s, 2s).
    sleep(ms(3300)).await;
    let error = |run: u32| Some(format!("run {run} failed"));
    assert_eq!(
        *flaky(&app).runs.lock().unwrap(),
        [(0, None), (1, error(1)), (2, error(2))]
    );
    // An operator's restart: a fresh attempt count, and no error ended the run before.
    bounded("restart", app.restart::<Flaky>()).await.unwrap();
    assert_eq!(flaky(&app).runs.lock().unwrap().last(), Some(&(0, None)));
    assert!(!app.shutdown().await.services[0].aborted);
}

#[tokio::test(start_paused = true)]
async fn reconfigure_applies_from_the_next_decision_and_checks_by_the_same_rules() {
    let app = Hassette::builder()
        .service(Flaky {
            runs: Mutex::new(Vec::new()),
            fail_after: secs(10),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    // Errors name the service and the key; nothing is applied.
    let error = app
        .reconfigure("Flaky", Overrides::new().backoff_multiplier(0.5))
        .unwrap_err();
    let ReconfigureError::Config(config) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        (&*config.service, config.key),
        ("Flaky", "backoff_multiplier")
    );
    assert!(
        error
            .to_string()
            .starts_with("service `Flaky`: `backoff_multiplier`")
    );
    let error = app
        .reconfigure("Flaky", Overrides::new().watchdog(Duration::ZERO))
        .unwrap_err();
    assert!(
        matches!(&error, ReconfigureError::Config(c) if c.key == "watchdog"),
        "{error}"
    );
    let error = app.reconfigure("Flakey", Overrides::new()).unwrap_err();
    assert_eq!(error.to_string(), "no service is named `Flakey`");
    // The first run fails at 10s and is restarted after the declared 1s ...
    sleep(secs(10) + ms(500)).await;
    assert_eq!(app.status::<Flaky>().unwrap(), Status::Failed);
    // ... a backoff under way keeps its bound; the next decision reads the new base.
    let slower = Overrides::new()
        .backoff_base(secs(30))
        .backoff_max(secs(30));
    app.reconfigure("Flaky", slower).unwrap();
    sleep(ms(600)).await;
    assert_eq!(flaky(&app).runs.lock().unwrap().len(), 2);
    // The second run fails at 21s; its restart comes 30s later, at 51s.
    sleep(secs(10)).await;
    assert_eq!(app.status::<Flaky>().unwrap(), Status::Failed);
    sleep(secs(29)).await;
    assert_eq!(flaky(&app).runs.lock().unwrap().len(), 2);
    sleep(secs(2)).await;
    assert_eq!(flaky(&app).runs.lock().unwrap().len(), 3);
    // Once stopping, nothing is reconfigured.
    assert!(app.shutdown().await.is_success());
    let error = app.reconfigure("Flaky", Overrides::new()).unwrap_err();
    assert!(
        matches!(error, ReconfigureError::Stopping { .. }),
        "{error}"
    );
}

/// Beats `beats` times every `every`, then goes silent while still serving.
struct Beating {
    beats: u32,
    every: Duration,
    runs: AtomicU32,
}

#[service(
    restart = "permanent",
    watchdog = "10s",
    backoff(base = "1s", max = "1s")
)]
impl Beating {
    async fn serve(&self, ctx: &ServiceContext) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        for _ in 0..self.beats {
            tokio::select! {
                () = ctx.cancelled() => return,
                () = sleep(self.every) => ctx.heartbeat(),
            }
        }
        ctx.cancelled().await;
    }
}

fn beating(app: &Hassette) -> Arc<Beating> {
    app.handle("Beating").unwrap().service::<Beating>().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_run_without_a_heartbeat_for_its_watchdog_fails_and_is_restarted() {
    let app = Hassette::builder()
        .service(Beating {
            beats: 3,
            every: secs(3),
            runs: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    let mut events = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    // Beats at 3s, 6s, 9s; silent from then: fails at 19s.
    let failed = bounded("the watchdog", async {
        loop {
            let event = events.recv().await.unwrap();
            if event.to == Status::Failed {
                return event;
            }
        }
    })
    .await;
    assert_eq!(t0.elapsed(), secs(19));
    let error = failed.error.expect("the failure's error");
    assert_eq!(
        error.to_string(),
        "service `Beating`: no heartbeat for 10s (its watchdog)"
    );
    assert_eq!(
        error.downcast_ref::<NoHeartbeat>(),
        Some(&NoHeartbeat::new("Beating", secs(10)))
    );
    // Its policy restarts it after 1s.
    app.wait_ready::<Beating>().await.unwrap();
    assert_eq!(t0.elapsed(), secs(20));
    assert_eq!(beating(&app).runs.load(Ordering::SeqCst), 2);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.services[0].errors[0].what, "watchdog");
}

#[tokio::test(start_paused = true)]
async fn heartbeats_within_the_watchdog_keep_the_run_going() {
    let app = Hassette::builder()
        .service(Beating {
            beats: 400,
            every: ms(9_990),
            runs: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    sleep(secs(3_000)).await;
    settle().await;
    assert_eq!(beating(&app).runs.load(Ordering::SeqCst), 1);
    assert_eq!(app.status::<Beating>().unwrap(), Status::Running);
    assert!(app.shutdown().await.is_success());
}

#[tokio::test(start_paused = true)]
async fn a_watchdog_set_by_reconfigure_guards_the_next_run() {
    let app = Hassette::builder()
        .service(Flaky {
            runs: Mutex::new(Vec::new()),
            fail_after: secs(3600),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.reconfigure("Flaky", Overrides::new().watchdog(secs(5)))
        .unwrap();
    // The run under way was made without one: it is not guarded.
    sleep(secs(60)).await;
    assert_eq!(app.status::<Flaky>().unwrap(), Status::Running);
    // The next run is: it never beats, so it fails 5s after it began.
    bounded("restart", app.restart::<Flaky>()).await.unwrap();
    let t0 = Instant::now();
    let mut events = app.events();
    let failed = bounded("the watchdog", async {
        loop {
            let event = events.recv().await.unwrap();
            if event.to == Status::Failed {
                return event;
            }
        }
    })
    .await;
    assert_eq!(t0.elapsed(), secs(5));
    assert!(failed.error.unwrap().is::<NoHeartbeat>());
    app.shutdown().await;
}

/// A hand-written spec with a watchdog of zero.
struct ZeroWatchdog;
impl Hooks for ZeroWatchdog {}
impl Service for ZeroWatchdog {
    const RESTART_SPEC: RestartSpec = RestartSpec {
        watchdog: Some(Duration::ZERO),
        ..RestartSpec::new(RestartType::Permanent)
    };
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

struct Pool;
#[resource]
impl Pool {}

#[tokio::test(start_paused = true)]
async fn a_watchdog_is_checked_by_the_same_rules_everywhere() {
    let error = Hassette::builder()
        .service(ZeroWatchdog)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`watchdog` must be longer than zero: a watchdog of 0 fails every run"),
        "{error}"
    );
    // Not on a resource: it is never supervised.
    let app = Hassette::builder().resource(Pool).build().unwrap();
    app.start().await.unwrap();
    let error = app
        .reconfigure("Pool", Overrides::new().watchdog(secs(10)))
        .unwrap_err();
    assert!(
        matches!(&error, ReconfigureError::Config(c) if c.key == "watchdog"),
        "{error}"
    );
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_that_stayed_healthy_starts_the_attempt_count_again() {
    let app = Hassette::builder()
        .service(Flaky {
            runs: Mutex::new(Vec::new()),
            // Longer than `stable_after` (60s): each run is stable before it fails.
            fail_after: secs(70),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    // Runs at 0, 71s (after a 1s backoff) and 142s.
    sleep(secs(150)).await;
    let error = |run: u32| Some(format!("run {run} failed"));
    assert_eq!(
        *flaky(&app).runs.lock().unwrap(),
        [(0, None), (1, error(1)), (1, error(2))]
    );
    app.shutdown().await;
}

/// A transient service with a budget of one restart: its second failure cools it down.
struct Cooling {
    runs: Mutex<Vec<(u32, Option<String>)>>,
}

#[service(
    restart = "transient",
    backoff(base = "1s", max = "1s"),
    budget(intensity = 1, period = "1h"),
    cooldown = "10s"
)]
impl Cooling {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = {
            let mut runs = self.runs.lock().unwrap();
            runs.push((ctx.attempt(), ctx.last_error().map(|e| e.to_string())));
            runs.len()
        };
        sleep(ms(100)).await;
        Err(format!("run {run} failed").into())
    }
}

#[tokio::test(start_paused = true)]
async fn after_a_cooldown_the_attempt_count_starts_again_and_the_error_is_kept() {
    let app = Hassette::builder()
        .service(Cooling {
            runs: Mutex::new(Vec::new()),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    // Runs at 0 and 1.1s; the budget is spent at 1.2s; after 10s, the third run.
    sleep(ms(11_250)).await;
    let this = app.handle("Cooling").unwrap().service::<Cooling>().unwrap();
    let error = |run: u32| Some(format!("run {run} failed"));
    assert_eq!(
        *this.runs.lock().unwrap(),
        [(0, None), (1, error(1)), (0, error(2))]
    );
    app.shutdown().await;
}

/// Starts slowly: its `on_initialize` takes 10s.
struct SlowStart {
    reloads: AtomicU32,
}

#[service(restart = "permanent")]
impl SlowStart {
    async fn on_initialize(&self) {
        sleep(secs(10)).await;
    }
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn on_reload(&self) {
        self.reloads.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_not_running_yet_is_skipped_at_once() {
    let app = Hassette::builder()
        .service(SlowStart {
            reloads: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    sleep(secs(1)).await;
    let t0 = Instant::now();
    let report = bounded("reload", app.reload()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(
        report.skipped,
        [("SlowStart".into(), ReloadSkipped::NotRunning)]
    );
    assert!(report.is_success());
    starting.await.unwrap().unwrap();
    app.wait_ready::<SlowStart>().await.unwrap();
    let report = bounded("reload", app.reload()).await.unwrap();
    assert_eq!(report.reloaded, ["SlowStart".into()] as [Arc<str>; 1]);
    let this = app
        .handle("SlowStart")
        .unwrap()
        .service::<SlowStart>()
        .unwrap();
    assert_eq!(this.reloads.load(Ordering::SeqCst), 1);
    app.shutdown().await;
}
