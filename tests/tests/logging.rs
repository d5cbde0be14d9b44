//! Logging, alone in its own test binary: tracing caches which call sites are enabled
//! per process, so a test with its own subscriber must not share the process.

use hassette_runtime::Hassette;
use hassette_tests::*;

#[tokio::test(start_paused = true)]
async fn every_status_change_is_logged_inside_a_span_named_after_the_service() {
    let out = Captured::default();
    let _guard = tracing::subscriber::set_default(out.subscriber(tracing::Level::INFO));
    let log = Log::default();
    let app = Hassette::builder()
        .service_named("db", TempProbe::new("p", &log).then("serve", [Act::Err]))
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    app.shutdown().await;
    let text = out.text();
    for expected in [
        "INFO service{name=db}: hassette_runtime::engine::unit: status changed from=not started to=starting",
        "INFO service{name=db}: hassette_runtime::engine::unit: status changed from=starting to=running",
        "WARN service{name=db}: hassette_runtime::engine::unit: status changed service=db from=running to=failed error=serve failed",
        "WARN service{name=db}: hassette_runtime::engine::unit: status changed service=db from=failed to=exhausted (dead) error=serve failed",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}
