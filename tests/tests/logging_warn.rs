//! Logs under a `warn` filter, and the span of `ctx.spawn` tasks. Alone in its own test
//! binary (tracing caches which call sites are enabled per process), as one test whose
//! two phases each install their own subscriber, one after the other.

use hassette_runtime::prelude::*;
use hassette_tests::*;
use tracing::Level;

/// Its child task logs at `info`.
struct Chatty;

#[service(restart = "temporary")]
impl Chatty {
    async fn serve(&self, ctx: &ServiceContext) {
        let child = ctx.clone();
        let _ = ctx
            .spawn(async move {
                tracing::info!("hello from the child");
                child.cancelled().await;
            })
            .await;
    }
}

#[tokio::test(start_paused = true)]
async fn warn_lines_name_the_service_and_child_tasks_log_inside_its_span() {
    // 1. Filtered at WARN, the info-level span is gone: the name must be on the event.
    let out = Captured::default();
    {
        let _guard = tracing::subscriber::set_default(out.subscriber(Level::WARN));
        let log = Log::default();
        let app = Hassette::builder()
            .service_named("db", TempProbe::new("p", &log).then("serve", [Act::Err]))
            .build()
            .unwrap();
        app.start().await.unwrap();
        settle().await;
        assert_eq!(app.status_by_name("db").unwrap(), Status::ExhaustedDead);
        app.shutdown().await;
    }
    let text = out.text();
    let expected = "WARN hassette_runtime::engine::unit: status changed service=db from=running to=failed error=serve failed";
    assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let level = line.trim_start();
        assert!(
            level.starts_with("WARN") || level.starts_with("ERROR"),
            "{line}"
        );
        assert!(line.contains("service=db"), "no service name in {line:?}");
    }

    // 2. At INFO, a child task's event is inside the service's span.
    let out = Captured::default();
    {
        let _guard = tracing::subscriber::set_default(out.subscriber(Level::INFO));
        let app = Hassette::builder()
            .service_named("chatty", Chatty)
            .build()
            .unwrap();
        app.start().await.unwrap();
        settle().await;
        app.shutdown().await;
    }
    let text = out.text();
    let expected = "INFO service{name=chatty}:run{service=chatty attempt=1}: logging_warn: hello from the child";
    assert!(text.contains(expected), "missing {expected:?} in\n{text}");
}
