// A resource: hooks, timeouts, a name and a dependency, registered with
// `Builder::resource`; a service depends on it and finds it through the context.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{Resource, ResourceSpec};

#[derive(Default)]
struct Settings {
    loaded: AtomicBool,
}

#[resource]
impl Settings {
    async fn on_initialize(&self) {
        self.loaded.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Pool {
    open: AtomicBool,
}

#[resource(
    startup_timeout = "5s",
    shutdown_timeout = "500ms",
    depends_on(Settings),
    name = "db-pool"
)]
impl Pool {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        assert!(ctx.service::<Settings>()?.loaded.load(Ordering::SeqCst));
        self.open.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn on_shutdown(&self) {
        self.open.store(false, Ordering::SeqCst);
    }
}

struct Api;

#[service(restart = "permanent", depends_on(Pool))]
impl Api {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        assert!(ctx.service::<Pool>()?.open.load(Ordering::SeqCst));
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    const SPEC: ResourceSpec = <Pool as Resource>::RESOURCE_SPEC;
    assert_eq!(SPEC.startup_timeout, Duration::from_secs(5));
    assert_eq!(SPEC.shutdown_timeout, Duration::from_millis(500));
    assert_eq!(<Settings as Resource>::RESOURCE_SPEC, ResourceSpec::DEFAULT);
    assert_eq!(Pool::display_name(), "db-pool");

    let app = Hassette::builder()
        .service(Api)
        .resource(Pool::default())
        .resource(Settings::default())
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Api>().await.unwrap();
    assert_eq!(app.status_by_name("db-pool").unwrap(), Status::Running);
    assert!(app.shutdown().await.is_success());
}
