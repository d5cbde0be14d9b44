// The attribute written inside a `macro_rules!`, with every key that takes tokens filled
// in from the macro's caller (`fatal`, `non_retryable`, `depends_on`, `name`, the
// durations, numbers, `ready`, `crate`) and the methods passed in whole. The tokens then
// carry two hygiene contexts (the macro's body and its caller), and the generated code
// must still resolve its own locals (`self`, the context, the error) in both.
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

/// A service whose every key comes from the caller; the methods too.
macro_rules! every_key {
    (
        $ty:ident,
        restart = $restart:literal,
        base = $base:literal, multiplier = $multiplier:literal, max = $max:literal,
        jitter = $jitter:literal,
        intensity = $intensity:literal, period = $period:literal,
        startup = $startup:literal, shutdown = $shutdown:literal, stable = $stable:literal,
        cooldown = $cooldown:literal, cycles = $cycles:literal,
        fatal = [$($fatal:ty),*],
        non_retryable = [$($non_retryable:ty),*],
        depends_on = [$($dep:ty),*],
        ready = $ready:literal,
        name = $name:literal,
        krate = $krate:literal,
        { $($methods:tt)* }
    ) => {
        struct $ty;

        #[service(
            restart = $restart,
            backoff(base = $base, multiplier = $multiplier, max = $max, jitter = $jitter),
            budget(intensity = $intensity, period = $period),
            startup_timeout = $startup,
            shutdown_timeout = $shutdown,
            stable_after = $stable,
            cooldown = $cooldown,
            max_cooldown_cycles = $cycles,
            fatal($($fatal),*),
            non_retryable($($non_retryable),*),
            depends_on($($dep),*),
            ready = $ready,
            name = $name,
            crate = $krate,
        )]
        impl $ty {
            $($methods)*
        }
    };
}

/// The other way round: the macro writes the keys and the methods, the caller names the
/// type and the error types only.
macro_rules! fixed_keys {
    ($ty:ident, $fatal:ty, $non_retryable:ty, $dep:ty) => {
        struct $ty;

        #[service(
            restart = "permanent",
            fatal($fatal),
            non_retryable($non_retryable),
            depends_on($dep),
            name = "fixed",
        )]
        impl $ty {
            async fn on_initialize(&self, ctx: &ServiceContext) {
                let _ = ctx;
            }

            async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
                ctx.cancelled().await;
                Ok(())
            }

            async fn after_shutdown(&self) -> Result<(), ConfigError> {
                Ok(())
            }
        }
    };
}

/// A resource declared the same way, with its two keys from the caller.
macro_rules! resource {
    ($ty:ident, $startup:literal, $shutdown:literal, { $($methods:tt)* }) => {
        struct $ty;

        #[resource(startup_timeout = $startup, shutdown_timeout = $shutdown)]
        impl $ty {
            $($methods)*
        }
    };
}

resource!(Database, "3s", "1s", {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let _ = ctx;
        Ok(())
    }

    async fn on_shutdown(&self) {}
});

every_key!(
    Poller,
    restart = "transient",
    base = "250ms", multiplier = 1.5, max = "1m30s",
    jitter = 0.25,
    intensity = 3, period = "1h",
    startup = "10s", shutdown = "2s", stable = "0s",
    cooldown = "10m", cycles = 3,
    fatal = [ConfigError, std::fmt::Error],
    non_retryable = [AuthError],
    depends_on = [Database],
    ready = "manual",
    name = "poller",
    krate = "::hassette_runtime",
    {
        async fn before_initialize(&self) {}

        async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), AuthError> {
            let _ = ctx;
            Ok(())
        }

        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            ctx.mark_ready();
            ctx.cancelled().await;
            Ok(())
        }

        async fn before_shutdown(&self, ctx: &ServiceContext) {
            let _ = ctx;
        }
    }
);

fixed_keys!(Fixed, ConfigError, AuthError, Database);

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

    assert!(Poller::is_fatal(&ConfigError));
    assert!(Poller::is_fatal(&std::fmt::Error));
    assert!(!Poller::is_fatal(&AuthError));
    assert!(Poller::is_non_retryable(&AuthError));
    assert!(!Poller::is_non_retryable(&ConfigError));
    assert_eq!(Poller::display_name(), "poller");
    let deps: &[Dependency] = <Poller as Hooks>::DEPENDS_ON;
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].type_id(), std::any::TypeId::of::<Database>());

    assert!(Fixed::is_fatal(&ConfigError));
    assert!(Fixed::is_non_retryable(&AuthError));
    assert_eq!(Fixed::display_name(), "fixed");
    assert_eq!(<Fixed as Hooks>::DEPENDS_ON.len(), 1);

    let resource = <Database as Resource>::RESOURCE_SPEC;
    assert_eq!(resource.startup_timeout, Duration::from_secs(3));
    assert_eq!(resource.shutdown_timeout, Duration::from_secs(1));

    let app = Hassette::builder()
        .resource(Database)
        .service(Poller)
        .service(Fixed)
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Poller>().await.unwrap();
    assert_eq!(app.status_by_name("poller").unwrap(), Status::Running);
    assert_eq!(app.status_by_name("fixed").unwrap(), Status::Running);
    assert!(app.shutdown().await.is_success());
}
