//! The lifecycle and supervision tests again, with services declared by `#[service]` and
//! `#[resource]`: what the attribute says is what the runtime does.

use std::sync::Mutex;

use hassette_runtime::prelude::*;
use hassette_runtime::{ReadyMode, RestartSpec};
use hassette_tests::{Boom, Log, drain, drain_events, secs, settle};
use tokio::time::Instant;

/// Every hook form: with and without `ctx`, returning `()` or a `Result`.
struct Recorder {
    log: Log,
}

#[service(restart = "temporary", name = "recorder")]
impl Recorder {
    async fn before_initialize(&self) {
        self.log.push("before_initialize");
    }
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push(format!("on_initialize {}", ctx.name()));
        Ok(())
    }
    async fn after_initialize(&self, ctx: &ServiceContext) {
        self.log.push(format!("after_initialize {}", ctx.status()));
    }
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), std::io::Error> {
        self.log.push("serve");
        ctx.cancelled().await;
        Ok(())
    }
    async fn before_shutdown(&self) -> Result<(), String> {
        self.log.push("before_shutdown");
        Err("flush failed".to_owned())
    }
    async fn on_shutdown(&self, _ctx: &ServiceContext) {
        self.log.push("on_shutdown");
    }
    async fn after_shutdown(&self) {
        self.log.push("after_shutdown");
    }

    /// A helper the attribute leaves alone.
    fn helper(&self) -> usize {
        self.log.lines().len()
    }
}

#[tokio::test(start_paused = true)]
async fn declared_hooks_run_in_order_in_every_form() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Recorder { log: log.clone() })
        .build()
        .unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    app.wait_ready::<Recorder>().await.unwrap();
    let report = app.shutdown().await;
    assert_eq!(
        log.lines(),
        [
            "before_initialize",
            "on_initialize recorder",
            "after_initialize starting",
            "serve",
            "before_shutdown",
            "on_shutdown",
            "after_shutdown"
        ]
    );
    assert_eq!(
        drain(&mut rx),
        [
            "recorder: NotStarted -> Starting",
            "recorder: Starting -> Running",
            "recorder: Running -> Stopping",
            "recorder: Stopping -> Stopped"
        ]
    );
    assert_eq!(
        report.services[0].errors[0].to_string(),
        "before_shutdown: flush failed"
    );
    assert_eq!(Recorder { log }.helper(), 7);
    assert_eq!(
        <Recorder as Service>::RESTART_SPEC,
        RestartSpec::new(RestartType::Temporary)
    );
}

/// Fails every time; its attribute sets the whole policy.
struct Flaky {
    runs: Mutex<u32>,
}

#[service(
    restart = "permanent",
    backoff(base = "1s", multiplier = 3.0, max = "20s"),
    budget(intensity = 4, period = "10m"),
    startup_timeout = "3s",
    shutdown_timeout = "2s",
    stable_after = "1m30s"
)]
impl Flaky {
    async fn serve(&self) -> Result<(), BoxError> {
        *self.runs.lock().unwrap() += 1;
        Err("flaky".into())
    }
}

#[tokio::test(start_paused = true)]
async fn the_declared_backoff_and_budget_drive_the_restarts() {
    let spec = <Flaky as Service>::RESTART_SPEC;
    assert_eq!(spec.startup_timeout, secs(3));
    assert_eq!(spec.shutdown_timeout, secs(2));
    assert_eq!(spec.stable_after, secs(90));
    let app = Hassette::builder()
        .service(Flaky {
            runs: Mutex::new(0),
        })
        .build()
        .unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    tokio::time::sleep(secs(100)).await;
    let starts: Vec<u64> = drain_events(&mut rx)
        .iter()
        .filter(|e| e.to == Status::Starting)
        .map(|e| (e.at - t0).as_secs())
        .collect();
    // delays 1, 3, 9, 20 (capped): restarts at 1, 4, 13, 33; the 5th failure exhausts
    assert_eq!(starts, [0, 1, 4, 13, 33]);
    assert_eq!(app.status::<Flaky>().unwrap(), Status::Crashed);
    assert_eq!(
        app.shutdown().await.exit_code(),
        std::process::ExitCode::FAILURE
    );
}

#[derive(Debug, thiserror::Error)]
#[error("bad credentials")]
struct BadCredentials;

/// `fatal(...)` and `non_retryable(...)` by type.
struct Picky {
    next: Mutex<Vec<BoxError>>,
}

#[service(
    restart = "transient",
    fatal(Boom),
    non_retryable(BadCredentials),
    cooldown = "1m"
)]
impl Picky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let next = self.next.lock().unwrap().pop();
        match next {
            Some(error) => Err(error),
            None => {
                ctx.cancelled().await;
                Ok(())
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn declared_fatal_and_non_retryable_types_are_recognised() {
    let app = Hassette::builder()
        .service(Picky {
            next: Mutex::new(vec![BadCredentials.into()]),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(app.status::<Picky>().unwrap(), Status::ExhaustedCooling);
    tokio::time::sleep(secs(61)).await;
    assert_eq!(app.status::<Picky>().unwrap(), Status::Running);
    app.shutdown().await;

    let app = Hassette::builder()
        .service(Picky {
            next: Mutex::new(vec![Boom.into()]),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(app.status::<Picky>().unwrap(), Status::Crashed);
    app.shutdown().await;
}

/// A resource with a slow hook; a manual-ready service that depends on it.
struct Pool {
    log: Log,
}

#[resource(startup_timeout = "10s", shutdown_timeout = "1s")]
impl Pool {
    async fn on_initialize(&self) {
        tokio::time::sleep(secs(2)).await;
        self.log.push("pool open");
    }
    async fn after_shutdown(&self) {
        self.log.push("pool closed");
    }
}

struct Worker {
    log: Log,
}

#[service(restart = "permanent", depends_on(Pool), ready = "manual")]
impl Worker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push("worker serving");
        tokio::time::sleep(secs(1)).await;
        ctx.mark_ready();
        ctx.cancelled().await;
        self.log.push("worker done");
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn declared_dependencies_and_manual_readiness() {
    assert_eq!(<Worker as Service>::RESTART_SPEC.ready, ReadyMode::Manual);
    assert_eq!(<Pool as Resource>::RESOURCE_SPEC.shutdown_timeout, secs(1));
    let log = Log::default();
    let app = Hassette::builder()
        .service(Worker { log: log.clone() })
        .resource(Pool { log: log.clone() })
        .build()
        .unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    assert_eq!(t0.elapsed(), secs(2), "the worker waited for the pool");
    app.wait_ready::<Worker>().await.unwrap();
    assert_eq!(t0.elapsed(), secs(3), "ready only once serve said so");
    app.shutdown().await;
    assert_eq!(
        log.lines(),
        ["pool open", "worker serving", "worker done", "pool closed"]
    );
}

/// The generic form: one declaration, many types.
struct Echo<T> {
    value: T,
    seen: Log,
}

#[service(restart = "temporary")]
impl<T: std::fmt::Debug + Send + Sync + 'static> Echo<T> {
    async fn serve(&self) {
        self.seen.push(format!("{:?}", self.value));
    }
}

#[tokio::test(start_paused = true)]
async fn a_generic_declaration_serves_every_instance() {
    let seen = Log::default();
    let app = Hassette::builder()
        .service(Echo {
            value: 7u8,
            seen: seen.clone(),
        })
        .service(Echo {
            value: "seven",
            seen: seen.clone(),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let mut lines = seen.lines();
    lines.sort();
    assert_eq!(lines, ["\"seven\"", "7"]);
    assert_eq!(app.status::<Echo<u8>>().unwrap(), Status::Stopped);
    app.shutdown().await;
}
