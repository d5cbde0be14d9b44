// Every form a hook or `serve` may take: with or without `ctx`, returning nothing,
// `()`, `Result<(), BoxError>`, `Result<(), E>` with `E: Into<BoxError>`, or an alias.
use std::sync::Mutex;

use hassette_runtime::prelude::*;

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn record(&self, hook: &'static str) {
        self.calls.lock().unwrap().push(hook);
    }
}

#[service(restart = "permanent")]
impl Recorder {
    async fn before_initialize(&self) {
        self.record("before_initialize");
    }

    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        assert_eq!(ctx.name(), "Recorder");
        self.record("on_initialize");
        Ok(())
    }

    async fn after_initialize(&self) -> () {
        self.record("after_initialize");
    }

    async fn before_shutdown(&self, _ctx: &ServiceContext) -> Result<(), std::io::Error> {
        self.record("before_shutdown");
        Ok(())
    }

    async fn on_shutdown(&self) -> std::io::Result<()> {
        self.record("on_shutdown");
        Ok(())
    }

    async fn after_shutdown(&self, _: &ServiceContext) -> Result<(), String> {
        self.record("after_shutdown");
        Ok(())
    }

    async fn on_reload(&self) -> Result<(), std::io::Error> {
        self.record("on_reload");
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), &'static str> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let app = Hassette::builder()
        .service(Recorder::default())
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Recorder>().await.unwrap();
    let report = app.reload().await.unwrap();
    assert_eq!(report.reloaded.len(), 1, "{report}");
    let recorder = app.handle("Recorder").unwrap().service::<Recorder>().unwrap();
    assert!(recorder.calls.lock().unwrap().contains(&"on_reload"));
    assert!(app.shutdown().await.is_success());
}
