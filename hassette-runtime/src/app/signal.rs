//! Listening for the signals that ask a process to end: SIGINT and SIGTERM on Unix, the
//! console events on Windows.
//!
//! Protocol: the first signal begins the shutdown; a second one during its drain ends the
//! drain, and every later one exits the process at once, also once `run_until_signal`
//! has its report. tokio's handler stays installed for the life of the process (the
//! default action, which ends it, never comes back), so a signal nobody listens for
//! would be swallowed: after the report, while `main` goes on
//! or the runtime's drop waits for a blocking thread, one thread of the process listens
//! instead ([`listen_after_the_report`]) and exits at the next signal, unless a
//! `run_until_signal` is listening by then ([`Listening`]): that signal is its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::engine::AppState;

/// How many `run_until_signal`s listen now (see [`Listening`]).
static LISTENING: AtomicUsize = AtomicUsize::new(0);

/// The thread that listens once a report is out; started by the first report.
static AFTER_THE_REPORT: OnceLock<()> = OnceLock::new();

/// One `run_until_signal` listens, from its start until its report (or until it is
/// dropped): meanwhile the signals are its own, not the thread's that listens after a
/// report.
pub(crate) struct Listening(());

impl Listening {
    pub(crate) fn begin() -> Self {
        LISTENING.fetch_add(1, Ordering::SeqCst);
        Listening(())
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        LISTENING.fetch_sub(1, Ordering::SeqCst);
    }
}

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

/// The first signal begins a graceful shutdown; a second one ends the process at once,
/// or first the drain when there is one.
pub(crate) async fn watch_signals(mut signals: Signals, inner: Arc<AppState>) {
    tokio::select! {
        signal = signals.recv() => {
            inner.begin_shutdown(format!("received {}", signal.name));
        }
        () = inner.shutdown_begun() => {}
    }
    let mut signal = signals.recv().await;
    // One during the drain (see `Builder::drain`) ends the drain; the next, the process.
    if inner.skip_drain(&format!("received {} again", signal.name)) {
        signal = signals.recv().await;
    }
    exit_at_once(signal, "again");
}

/// Takes over from [`watch_signals`] once the report is out (see the module's header):
/// returns once the thread listens. That thread runs a small runtime of its own, since
/// the app's may be gone by then; one serves every report of the process.
pub(crate) async fn listen_after_the_report() {
    let mut started = None;
    AFTER_THE_REPORT.get_or_init(|| {
        let (listening, listens) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("hassette-signals".into())
            .spawn(move || listen_for_ever(listening));
        match thread {
            Ok(_) => started = Some(listens),
            Err(error) => tracing::warn!(%error, "cannot listen for signals after the shutdown"),
        }
    });
    if let Some(listens) = started {
        let _ = listens.await;
    }
}

/// The body of the thread that listens after a report.
fn listen_for_ever(listening: tokio::sync::oneshot::Sender<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for signals after the shutdown");
            return;
        }
    };
    runtime.block_on(async move {
        let mut signals = match Signals::listen() {
            Ok(signals) => signals,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for signals after the shutdown");
                return;
            }
        };
        let _ = listening.send(());
        loop {
            let signal = signals.recv().await;
            if LISTENING.load(Ordering::SeqCst) == 0 {
                exit_at_once(signal, "after the shutdown");
            }
        }
    });
}

/// Ends the process at once for `signal`, with its conventional exit code.
fn exit_at_once(signal: Received, when: &str) -> ! {
    tracing::error!(signal = signal.name, "signal {when}: exiting at once");
    eprintln!("hassette: received {} {when}: exiting at once", signal.name);
    std::process::exit(signal.exit_code);
}
