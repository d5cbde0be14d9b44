//! Which service the running task belongs to, so that a call the app makes on itself
//! (`shutdown()` or `restart()` awaited from a hook, `serve` or a `ctx.spawn` task) does
//! not wait for its own caller.
//!
//! Protocol: every hook future, every serve task and every `ctx.spawn` task runs inside
//! [`scope`] with its run's [`ServiceContext`]. A call that would wait for the end of the
//! caller's own run asks [`caller`] first; tasks the user spawns with plain
//! `tokio::spawn` are outside any scope and wait as any outside caller does.

use std::future::Future;
use std::sync::Arc;

use tokio::task::futures::TaskLocalFuture;

use crate::ServiceContext;
use crate::app::AppInner;

tokio::task_local! {
    static CURRENT: ServiceContext;
}

/// Runs `fut` as part of the run of `ctx`.
pub(crate) fn scope<F: Future>(ctx: ServiceContext, fut: F) -> TaskLocalFuture<ServiceContext, F> {
    CURRENT.scope(ctx, fut)
}

/// The run the current task belongs to, when it is a run of `app`.
pub(crate) fn caller(app: &Arc<AppInner>) -> Option<ServiceContext> {
    CURRENT
        .try_with(|ctx| ctx.belongs_to(app).then(|| ctx.clone()))
        .ok()
        .flatten()
}
