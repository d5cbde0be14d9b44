//! Listening for the signals that ask a process to end: SIGINT and SIGTERM on Unix, the
//! console events on Windows.

use std::sync::Arc;

use crate::engine::AppState;

/// A received termination signal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub(crate) name: &'static str,
    /// The conventional exit code of a process ended by it: 128 + its number on Unix,
    /// `STATUS_CONTROL_C_EXIT` on Windows.
    pub(crate) exit_code: i32,
}

/// The listeners, installed when created, so a signal that arrives during a slow start is
/// not lost (nor fatal to the process): SIGINT and SIGTERM on Unix; on Windows the
/// console's Ctrl-C, Ctrl-Break, close, logoff and shutdown events. Windows ends the
/// process a few seconds after a close, logoff or shutdown event whatever the handler
/// does, so a `shutdown_deadline` below that lets the report be logged in time.
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    console: windows::Console,
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
        #[cfg(windows)]
        {
            Ok(Signals {
                console: windows::Console::listen()?,
            })
        }
        #[cfg(not(any(unix, windows)))]
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
        #[cfg(windows)]
        {
            self.console.recv().await
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Received {
                name: "Ctrl-C",
                exit_code: 130,
            }
        }
    }
}

#[cfg(windows)]
mod windows {
    use tokio::signal::windows::{
        CtrlBreak, CtrlC, CtrlClose, CtrlLogoff, CtrlShutdown, ctrl_break, ctrl_c, ctrl_close,
        ctrl_logoff, ctrl_shutdown,
    };

    use super::Received;

    /// `STATUS_CONTROL_C_EXIT`, the code of a console process ended by Ctrl-C.
    const CONTROL_C_EXIT: i32 = 0xC000_013A_u32 as i32;

    /// The five console events that ask a process to end.
    pub(super) struct Console {
        c: CtrlC,
        brk: CtrlBreak,
        close: CtrlClose,
        logoff: CtrlLogoff,
        shutdown: CtrlShutdown,
    }

    impl Console {
        pub(super) fn listen() -> std::io::Result<Self> {
            Ok(Console {
                c: ctrl_c()?,
                brk: ctrl_break()?,
                close: ctrl_close()?,
                logoff: ctrl_logoff()?,
                shutdown: ctrl_shutdown()?,
            })
        }

        pub(super) async fn recv(&mut self) -> Received {
            let name = tokio::select! {
                _ = self.c.recv() => "Ctrl-C",
                _ = self.brk.recv() => "Ctrl-Break",
                _ = self.close.recv() => "the console's close event",
                _ = self.logoff.recv() => "the logoff event",
                _ = self.shutdown.recv() => "the shutdown event",
            };
            Received {
                name,
                exit_code: CONTROL_C_EXIT,
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
