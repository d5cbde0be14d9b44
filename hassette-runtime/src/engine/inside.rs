//! Which service the running task belongs to, so that a call the app makes on itself
//! (`shutdown()`, `restart()` or `remove()` awaited from a hook, `serve` or a `ctx.spawn`
//! task) does not wait for its own caller.
//!
//! Protocol: a service's supervisor task (which runs its hooks and `serve`) runs inside
//! [`InService`], and its `ctx.spawn` tasks inside [`scope`], each with the service's
//! unit, set for every poll of the task. A call that would wait for the end of the
//! caller's own run asks [`caller`] first (or its [`lineage`]: the stop of any of its
//! ancestors stops it too); one that would wait for the end of a unit's run asks
//! [`from_family_of`] that unit: stopping a unit stops its children (and theirs) first, so
//! a call from the unit or any of its descendants would wait for its own caller. Tasks the user spawns with plain `tokio::spawn` are outside any scope and
//! wait as any outside caller does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::task::futures::TaskLocalFuture;

use super::registry::Registry;
use super::unit::Unit;

/// Which unit a task belongs to: its id, and its address to tell it from a unit of
/// another app with the same id. Plain numbers, so setting it costs no reference count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    id: usize,
    addr: usize,
}

impl Member {
    fn of(unit: &Arc<Unit>) -> Self {
        Member {
            id: unit.id,
            addr: Arc::as_ptr(unit) as usize,
        }
    }
}

tokio::task_local! {
    static CURRENT: Member;
}

/// Runs `fut` (a child task) as part of the service `unit`.
pub(crate) fn scope<F: Future>(unit: &Arc<Unit>, fut: F) -> TaskLocalFuture<Member, F> {
    CURRENT.scope(Member::of(unit), fut)
}

pin_project_lite::pin_project! {
    /// A supervisor's future: each poll runs as part of its service (see [`caller`]) and
    /// inside the service's `tracing` span (kept only when a subscriber wants it). One
    /// wrapper of 16 bytes, where a task-local scope and an instrumented future took 72:
    /// this future is most of a service's idle memory.
    pub(crate) struct InService<F> {
        unit: Arc<Unit>,
        span: Option<Box<tracing::Span>>,
        #[pin]
        fut: F,
    }
}

impl<F> InService<F> {
    pub(crate) fn new(unit: Arc<Unit>, fut: F) -> Self {
        let span = tracing::info_span!("service", name = %unit.name());
        let span = (!span.is_disabled()).then(|| Box::new(span));
        InService { unit, span, fut }
    }
}

impl<F: Future> Future for InService<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.as_ref().map(|span| span.enter());
        let fut = this.fut;
        CURRENT.sync_scope(Member::of(this.unit), || fut.poll(cx))
    }
}

/// The service of the app (whose units `registry` holds) the current task belongs to, if any.
pub(crate) fn caller(registry: &Registry) -> Option<Arc<Unit>> {
    CURRENT
        .try_with(|member| {
            let own = registry.get(member.id)?;
            (Arc::as_ptr(&own) as usize == member.addr).then_some(own)
        })
        .ok()
        .flatten()
}

/// The service the current task belongs to, then its parent, its parent's parent, ...;
/// empty outside the app's services.
pub(crate) fn lineage(registry: &Registry) -> Vec<Arc<Unit>> {
    let mut line: Vec<Arc<Unit>> = caller(registry).into_iter().collect();
    while let Some(parent) = line.last().and_then(|unit| registry.parent_of(unit)) {
        line.push(parent);
    }
    line
}

/// Whether the current task belongs to `target` or to one of its descendants (a child, a
/// grandchild, ...): a call that waits for the end of `target`'s run would then wait for
/// its own caller, whose stop that run's stop waits for (see `family`).
pub(crate) fn from_family_of(registry: &Registry, target: &Arc<Unit>) -> bool {
    lineage(registry)
        .iter()
        .any(|unit| Arc::ptr_eq(unit, target))
}
