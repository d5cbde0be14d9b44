//! A `tracing` span per run, alone in its own test binary (see `logging.rs`).

use hassette_runtime::{BoxError, Hassette, ServiceContext, service};
use hassette_tests::*;

struct Worker;

#[service(restart = "permanent", backoff(base = "1s"))]
impl Worker {
    async fn on_initialize(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        tracing::info!("connecting");
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        tracing::info!("serving");
        let child = ctx.spawn(async {
            tracing::info!("child task");
        });
        let _ = child.await;
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn each_run_has_a_span_with_the_service_and_the_attempt() {
    let out = Captured::default();
    let _guard = tracing::subscriber::set_default(out.subscriber(tracing::Level::INFO));
    let app = Hassette::builder().service(Worker).build().unwrap();
    app.start().await.unwrap();
    settle().await;
    app.restart::<Worker>().await.unwrap();
    settle().await;
    app.shutdown().await;
    let text = out.text();
    for expected in [
        "service{name=Worker}:run{service=Worker attempt=1}: logging_runs: connecting",
        "service{name=Worker}:run{service=Worker attempt=1}: logging_runs: serving",
        "service{name=Worker}:run{service=Worker attempt=1}: logging_runs: child task",
        "service{name=Worker}:run{service=Worker attempt=2}: logging_runs: connecting",
        "service{name=Worker}:run{service=Worker attempt=2}: logging_runs: serving",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}
