//! Waiting for SIGINT or SIGTERM.

/// Completes at the next SIGINT (Ctrl-C) or SIGTERM and names it.
pub(crate) async fn first() -> String {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "received SIGINT".to_owned(),
                _ = term.recv() => "received SIGTERM".to_owned(),
            },
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the app");
                let _ = tokio::signal::ctrl_c().await;
                "received SIGINT".to_owned()
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "received Ctrl-C".to_owned()
    }
}
