// Every key of `#[service]` at once, checked against the generated `RESTART_SPEC`.
use std::fmt;
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{Dependency, ReadyMode};

#[derive(Debug)]
struct ConfigError;
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad config")
    }
}
impl std::error::Error for ConfigError {}

#[derive(Debug)]
struct AuthError;
impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("denied")
    }
}
impl std::error::Error for AuthError {}

struct Database;

#[resource]
impl Database {}

struct Poller;

#[service(
    restart = "transient",
    backoff(base = "250ms", multiplier = 1.5, max = "1m30s", jitter = 0.25),
    budget(intensity = 3, period = "1h"),
    startup_timeout = "10s",
    shutdown_timeout = "2s",
    stable_after = "0s",
    cooldown = "10m",
    max_cooldown_cycles = 3,
    fatal(ConfigError, std::fmt::Error),
    non_retryable(AuthError),
    depends_on(Database),
    ready = "manual",
    max_children = 64,
    critical = false,
    watchdog = "1m30s",
    name = "poller",
    crate = "::hassette_runtime",
)]
impl Poller {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

const SPEC: RestartSpec = <Poller as Service>::RESTART_SPEC;

#[tokio::main]
async fn main() {
    assert_eq!(SPEC.restart_type, RestartType::Transient);
    assert_eq!(SPEC.backoff_base, Duration::from_millis(250));
    assert_eq!(SPEC.backoff_multiplier, 1.5);
    assert_eq!(SPEC.backoff_max, Duration::from_secs(90));
    assert_eq!(SPEC.backoff_jitter, 0.25);
    assert_eq!(SPEC.budget_intensity, 3);
    assert_eq!(SPEC.budget_period, Duration::from_secs(3600));
    assert_eq!(SPEC.startup_timeout, Duration::from_secs(10));
    assert_eq!(SPEC.shutdown_timeout, Duration::from_secs(2));
    assert_eq!(SPEC.stable_after, Duration::ZERO);
    assert_eq!(SPEC.cooldown, Duration::from_secs(600));
    assert_eq!(SPEC.max_cooldown_cycles, 3);
    assert_eq!(SPEC.ready, ReadyMode::Manual);
    assert_eq!(SPEC.max_children, std::num::NonZeroU32::new(64));
    assert_eq!(SPEC.critical, Some(false));
    assert_eq!(SPEC.watchdog, Some(Duration::from_secs(90)));

    assert!(Poller::is_fatal(&ConfigError));
    assert!(Poller::is_fatal(&std::fmt::Error));
    assert!(!Poller::is_fatal(&AuthError));
    assert!(Poller::is_non_retryable(&AuthError));
    assert!(!Poller::is_non_retryable(&ConfigError));
    assert_eq!(Poller::display_name(), "poller");
    let deps: &[Dependency] = <Poller as Hooks>::DEPENDS_ON;
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].type_id(), std::any::TypeId::of::<Database>());

    let app = Hassette::builder()
        .resource(Database)
        .service(Poller)
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Poller>().await.unwrap();
    assert_eq!(app.status_by_name("poller").unwrap(), Status::Running);
    assert!(app.shutdown().await.is_success());
}
