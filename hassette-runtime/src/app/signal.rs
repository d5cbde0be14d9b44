//! Listening for SIGINT and SIGTERM.

use std::sync::Arc;

use crate::engine::AppState;

/// A received termination signal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub(crate) name: &'static str,
    /// The conventional exit code of a process ended by it (128 + its number).
    pub(crate) exit_code: i32,
}

/// SIGINT and SIGTERM listeners, installed when created, so a signal that arrives during
/// a slow start is not lost (nor fatal to the process).
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal.
    pub(crate) async fn recv(&mut self) -> Received {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Received { name: "SIGINT", exit_code: 130 },
                _ = self.terminate.recv() => Received { name: "SIGTERM", exit_code: 143 },
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Received {
                name: "Ctrl-C",
                exit_code: 130,
            }
        }
    }
}

/// The first signal begins a graceful shutdown; a second one ends the process at once.
pub(crate) async fn watch_signals(mut signals: Signals, inner: Arc<AppState>) {
    tokio::select! {
        signal = signals.recv() => {
            inner.begin_shutdown(format!("received {}", signal.name));
        }
        () = inner.shutdown_begun() => {}
    }
    let signal = signals.recv().await;
    tracing::error!(signal = signal.name, "second signal: exiting at once");
    eprintln!("hassette: received {} again: exiting at once", signal.name);
    std::process::exit(signal.exit_code);
}
