//! The defaults of `#[service]` and `#[resource]` are the runtime's: an attribute that
//! sets nothing but `restart` gives exactly `RestartSpec::new`, a bare `#[resource]`
//! exactly `ResourceSpec::DEFAULT`. And the macro validates `backoff(base, max)` against
//! the defaults of `hassette_spec::defaults`, which `RestartSpec::new` is built from too;
//! the boundary cases below pin the macro's checks to `RestartSpec::new`'s values.

use std::time::Duration;

use hassette_runtime::ResourceSpec;
use hassette_runtime::prelude::*;

struct Permanent;

#[service(restart = "permanent")]
impl Permanent {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

struct Transient;

#[service(restart = "transient")]
impl Transient {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

struct Temporary;

#[service(restart = "temporary")]
impl Temporary {
    async fn serve(&self) {}
}

struct Plain;

#[resource]
impl Plain {
    async fn on_initialize(&self) {}
}

/// `base` alone, as long as the runtime's default max: the macro accepts it only if its
/// copy of the default max is at least 60s.
struct BaseAtDefaultMax;

#[service(restart = "permanent", backoff(base = "60s"))]
impl BaseAtDefaultMax {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// `max` alone, as short as the runtime's default base: the macro accepts it only if its
/// copy of the default base is at most 2s.
struct MaxAtDefaultBase;

#[service(restart = "permanent", backoff(max = "2s"))]
impl MaxAtDefaultBase {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[test]
fn a_service_with_only_restart_has_the_defaults_of_restart_spec_new() {
    // `RestartSpec` is `PartialEq` over every field, so each `==` compares all of them.
    assert_eq!(
        Permanent::RESTART_SPEC,
        RestartSpec::new(RestartType::Permanent)
    );
    assert_eq!(
        Transient::RESTART_SPEC,
        RestartSpec::new(RestartType::Transient)
    );
    assert_eq!(
        Temporary::RESTART_SPEC,
        RestartSpec::new(RestartType::Temporary)
    );
}

#[test]
fn a_resource_without_keys_has_the_default_resource_spec() {
    assert_eq!(Plain::RESOURCE_SPEC, ResourceSpec::DEFAULT);
}

/// The default max the macro checks against equals `RestartSpec::new`'s `backoff_max`:
/// - at least: `backoff(base = "60s")` compiles (above), and 60s is the runtime's default
///   max (asserted here, so this fails if the runtime's default changes);
/// - less than 61s: `backoff(base = "61s")` is rejected, "backoff base `1m1s` is more than
///   the default max `1m`", by `ui-tests/fail/backoff-base-just-above-default-max.rs`.
#[test]
fn the_macro_checks_base_against_the_runtime_default_max() {
    let defaults = RestartSpec::new(RestartType::Permanent);
    assert_eq!(defaults.backoff_max, Duration::from_secs(60));
    assert_eq!(
        BaseAtDefaultMax::RESTART_SPEC.backoff_base,
        defaults.backoff_max
    );
    assert_eq!(
        BaseAtDefaultMax::RESTART_SPEC,
        RestartSpec {
            backoff_base: defaults.backoff_max,
            ..defaults
        }
    );
}

/// The default base the macro checks against equals `RestartSpec::new`'s `backoff_base`:
/// - at most: `backoff(max = "2s")` compiles (above), and 2s is the runtime's default base
///   (asserted here, so this fails if the runtime's default changes);
/// - more than 1999ms: `backoff(max = "1999ms")` is rejected, "backoff max `1s999ms` is
///   less than the default base `2s`", by `ui-tests/fail/backoff-max-just-below-default-base.rs`.
#[test]
fn the_macro_checks_max_against_the_runtime_default_base() {
    let defaults = RestartSpec::new(RestartType::Permanent);
    assert_eq!(defaults.backoff_base, Duration::from_secs(2));
    assert_eq!(
        MaxAtDefaultBase::RESTART_SPEC.backoff_max,
        defaults.backoff_base
    );
    assert_eq!(
        MaxAtDefaultBase::RESTART_SPEC,
        RestartSpec {
            backoff_max: defaults.backoff_base,
            ..defaults
        }
    );
}

// ---------------------------------------------------------------------------------------
// Which hooks a type defines: the macro tells the runtime (`Hooks::__HOOKS`, a `HookSet`
// of the hook table both crates take from `hassette_spec`), and the runtime calls only
// those. A service that defines exactly one hook must see exactly that one called, for
// each of the six: a set the two crates read differently would skip it.

mod one_hook {
    use std::sync::{Arc, Mutex};

    use hassette_runtime::prelude::*;

    pub(crate) type Calls = Arc<Mutex<Vec<&'static str>>>;

    macro_rules! only {
        ($ty:ident, $hook:ident) => {
            pub(crate) struct $ty(pub(crate) Calls);

            #[service(restart = "temporary")]
            impl $ty {
                async fn $hook(&self) {
                    self.0.lock().unwrap().push(stringify!($hook));
                }

                async fn serve(&self, ctx: &ServiceContext) {
                    ctx.cancelled().await;
                }
            }
        };
    }

    only!(BeforeInitialize, before_initialize);
    only!(OnInitialize, on_initialize);
    only!(AfterInitialize, after_initialize);
    only!(BeforeShutdown, before_shutdown);
    only!(OnShutdown, on_shutdown);
    only!(AfterShutdown, after_shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_service_that_defines_one_hook_has_exactly_that_one_called() {
    use one_hook::*;
    let calls = |_: ()| Calls::default();
    let each: [(Calls, &str); 6] = [
        (calls(()), "before_initialize"),
        (calls(()), "on_initialize"),
        (calls(()), "after_initialize"),
        (calls(()), "before_shutdown"),
        (calls(()), "on_shutdown"),
        (calls(()), "after_shutdown"),
    ];
    let app = Hassette::builder()
        .service(BeforeInitialize(each[0].0.clone()))
        .service(OnInitialize(each[1].0.clone()))
        .service(AfterInitialize(each[2].0.clone()))
        .service(BeforeShutdown(each[3].0.clone()))
        .service(OnShutdown(each[4].0.clone()))
        .service(AfterShutdown(each[5].0.clone()))
        .build()
        .unwrap();
    app.start().await.unwrap();
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    for (calls, hook) in &each {
        assert_eq!(*calls.lock().unwrap(), [*hook], "{hook}");
    }
}
