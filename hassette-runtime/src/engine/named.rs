//! Spawning the runtime's tasks, named for tokio-console.
//!
//! Under `--cfg tokio_unstable` (what tokio-console needs) every task the runtime spawns
//! is named `hassette:<service>` (a supervisor, which runs the service's hooks and
//! `serve`, and the service's `ctx.spawn` tasks) or `hassette:<what>` for the app's own
//! (`hassette:start`, `hassette:shutdown`, `hassette:reload`, ...), through
//! `tokio::task::Builder`; otherwise it is a plain `tokio::spawn`, and the name is never
//! formatted.

use std::fmt::Display;
use std::future::Future;

use tokio::task::JoinHandle;

/// Spawns `fut` as the task `hassette:<name>`.
pub(crate) fn spawn<F>(name: impl Display, fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(tokio_unstable)]
    {
        let name = format!("hassette:{name}");
        match tokio::task::Builder::new().name(&name).spawn(fut) {
            Ok(handle) => handle,
            // tokio's builder spawns a task or panics, as `tokio::spawn` does.
            Err(error) => unreachable!("tokio's task builder returned an error: {error}"),
        }
    }
    #[cfg(not(tokio_unstable))]
    {
        let _ = name;
        tokio::spawn(fut)
    }
}
