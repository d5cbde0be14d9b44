//! Which service the running task belongs to, so that a call the app makes on itself
//! (`shutdown()` or `restart()` awaited from a hook, `serve` or a `ctx.spawn` task) does
//! not wait for its own caller.
//!
//! Protocol: a service's supervisor task (which runs its hooks), its serve task and its
//! `ctx.spawn` tasks each run inside [`scope`] with the service's unit, set once for the
//! task's life. A call that would wait for the end of the caller's own run asks
//! [`caller`] first; tasks the user spawns with plain `tokio::spawn` are outside any
//! scope and wait as any outside caller does.

use std::future::Future;
use std::sync::Arc;

use tokio::task::futures::TaskLocalFuture;

use super::state::AppState;
use super::unit::Unit;

tokio::task_local! {
    static CURRENT: Arc<Unit>;
}

/// Runs `fut` as part of the service `unit`.
pub(crate) fn scope<F: Future>(unit: Arc<Unit>, fut: F) -> TaskLocalFuture<Arc<Unit>, F> {
    CURRENT.scope(unit, fut)
}

/// The service of `app` the current task belongs to, if any.
pub(crate) fn caller(app: &AppState) -> Option<Arc<Unit>> {
    CURRENT
        .try_with(|unit| {
            let own = app.registry.units.get(unit.id)?;
            Arc::ptr_eq(own, unit).then(|| unit.clone())
        })
        .ok()
        .flatten()
}
