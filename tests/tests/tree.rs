//! Children as a tree: `ServiceContext::children`, `child`, `remove_child`,
//! `ServiceHandle::children`, and add-or-get (`ServiceContext::ensure_child`,
//! `Hassette::ensure_named`), with the hard cases: races, restarts, futures dropped
//! half-way, calls from inside the family, and 100 000 children under one parent.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_runtime::{
    AddError, BoxError, Hassette, LookupError, RemoveError, ServiceContext, ServiceHandle, Status,
    service,
};
use hassette_tests::*;

/// Where a parent's current run leaves its context, for the test (and its children) to
/// call the tree's methods on.
type Slot = Arc<Mutex<Option<ServiceContext>>>;

/// A parent that leaves its context in its slot and serves until cancelled.
struct Hub {
    slot: Slot,
    runs: AtomicU32,
}

#[service(restart = "permanent")]
impl Hub {
    async fn on_initialize(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        *self.slot.lock().unwrap() = Some(ctx.clone());
        ctx.cancelled().await;
        Ok(())
    }
}

fn hub(slot: &Slot) -> Hub {
    Hub {
        slot: slot.clone(),
        runs: AtomicU32::new(0),
    }
}

/// The context the hub's current run left.
async fn hub_ctx(slot: &Slot) -> ServiceContext {
    settle().await;
    slot.lock().unwrap().clone().expect("the hub serves")
}

/// An app with a started [`Hub`]; its context.
async fn started_hub() -> (Hassette, ServiceContext, Slot) {
    let slot = Slot::default();
    let app = Hassette::builder().service(hub(&slot)).build().unwrap();
    app.start().await.unwrap();
    let ctx = hub_ctx(&slot).await;
    (app, ctx, slot)
}

/// A child: serves until cancelled; `id` tells one instance from another.
struct Lamp {
    id: u32,
}

#[service(restart = "permanent")]
impl Lamp {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// Another type of child.
struct Switch;

#[service(restart = "permanent")]
impl Switch {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// A child whose initialize takes 1s and whose stop takes 500ms.
struct Slow {
    id: u32,
}

#[service(restart = "permanent", shutdown_timeout = "2s")]
impl Slow {
    async fn on_initialize(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::time::sleep(secs(1)).await;
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }

    async fn on_shutdown(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::time::sleep(ms(500)).await;
        Ok(())
    }
}

fn names(handles: &[ServiceHandle]) -> Vec<String> {
    handles.iter().map(|h| h.name().to_string()).collect()
}

/// The id of the `Lamp` behind `handle`.
fn lamp_id(handle: &ServiceHandle) -> u32 {
    handle.service::<Lamp>().expect("a Lamp").id
}

/// A `make` that counts its calls.
fn lamp(made: &AtomicU32, id: u32) -> impl FnOnce() -> Lamp + '_ {
    move || {
        made.fetch_add(1, Ordering::SeqCst);
        Lamp { id }
    }
}

// ---------------------------------------------------------------------------------------
// Listing and finding

#[tokio::test(start_paused = true)]
async fn children_lists_the_children_in_order_of_addition_and_child_finds_one_by_its_own_name() {
    let (app, ctx, _slot) = started_hub().await;
    assert!(ctx.children().is_empty());
    for name in ["b", "a", "c"] {
        ctx.add_child_named(name, Lamp { id: 0 }).await.unwrap();
    }
    ctx.add_child(Switch).await.unwrap();
    assert_eq!(
        names(&ctx.children()),
        ["Hub/b", "Hub/a", "Hub/c", "Hub/Switch"]
    );
    // The same list from the parent's handle.
    let handle = app.handle("Hub").unwrap();
    assert_eq!(names(&handle.children()), names(&ctx.children()));
    // By its own name (the type's display name for `add_child`), not the full path.
    assert_eq!(&**ctx.child("a").unwrap().name(), "Hub/a");
    assert_eq!(&**ctx.child("Switch").unwrap().name(), "Hub/Switch");
    assert!(ctx.child("Hub/a").is_none());
    assert!(ctx.child("").is_none());
    // A grandchild is its parent's child, not its grandparent's.
    let a = app.handle("Hub/a").unwrap();
    assert!(a.children().is_empty());
    // Removed: gone from the list, the others keep their order.
    ctx.remove_child("a").await.unwrap();
    assert_eq!(names(&ctx.children()), ["Hub/b", "Hub/c", "Hub/Switch"]);
    assert!(ctx.child("a").is_none());
    // Added again: last.
    ctx.add_child_named("a", Lamp { id: 1 }).await.unwrap();
    assert_eq!(
        names(&ctx.children()),
        ["Hub/b", "Hub/c", "Hub/Switch", "Hub/a"]
    );
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn the_children_keep_their_place_across_the_parents_restart() {
    let (app, ctx, slot) = started_hub().await;
    for name in ["x", "y"] {
        ctx.add_child_named(name, Lamp { id: 0 }).await.unwrap();
    }
    app.restart::<Hub>().await.unwrap();
    app.wait_ready_by_name("Hub/y").await.unwrap();
    // The old run's context and the new one's list the same children.
    let new = hub_ctx(&slot).await;
    assert_eq!(names(&ctx.children()), ["Hub/x", "Hub/y"]);
    assert_eq!(names(&new.children()), ["Hub/x", "Hub/y"]);
    assert!(new.children().iter().all(|c| c.status() == Status::Running));
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn grandchildren_are_listed_under_their_parent() {
    /// Adds a child of its own from `serve`.
    struct Mid;
    #[service(restart = "permanent")]
    impl Mid {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            ctx.ensure_child("leaf", || Lamp { id: 7 }).await?;
            ctx.cancelled().await;
            Ok(())
        }
    }
    let (app, ctx, _slot) = started_hub().await;
    ctx.add_child_named("mid", Mid).await.unwrap();
    app.wait_ready_by_name("Hub/mid/leaf").await.unwrap();
    let mid = ctx.child("mid").unwrap();
    assert_eq!(names(&ctx.children()), ["Hub/mid"]);
    assert_eq!(names(&mid.children()), ["Hub/mid/leaf"]);
    assert_eq!(lamp_id(&mid.children()[0]), 7);
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// remove_child

#[tokio::test(start_paused = true)]
async fn remove_child_of_an_unknown_name_is_a_typed_error_naming_the_parent() {
    let (app, ctx, _slot) = started_hub().await;
    ctx.add_child_named("a", Lamp { id: 0 }).await.unwrap();
    // A child of another parent, and a full path, are not this parent's children.
    app.add_named("other", hub(&Slot::default())).await.unwrap();
    let other = app.handle("other").unwrap();
    settle().await;
    assert!(other.children().is_empty());
    for name in ["nobody", "", "Hub/a", "other/a"] {
        let error = ctx.remove_child(name).await.unwrap_err();
        let RemoveError::Lookup(LookupError::NoChild {
            parent,
            name: asked,
        }) = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!((&**parent, &**asked), ("Hub", name));
        assert_eq!(
            error.to_string(),
            format!("`Hub` has no child named `{name}`")
        );
    }
    // Nothing was touched.
    assert_eq!(names(&ctx.children()), ["Hub/a"]);
    assert_eq!(app.status_by_name("Hub/a").unwrap(), Status::Running);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn remove_child_stops_and_removes_it_and_a_second_call_is_a_typed_error() {
    let (app, ctx, _slot) = started_hub().await;
    let lamp = ctx.add_child_named("a", Lamp { id: 0 }).await.unwrap();
    let (first, second) = tokio::join!(ctx.remove_child("a"), ctx.remove_child("a"));
    // Two at once: one removal, the same report.
    assert_eq!(first.clone().unwrap().status, Status::Stopped);
    assert_eq!(first.unwrap().status, second.unwrap().status);
    assert_eq!(lamp.status(), Status::Stopped);
    assert!(app.handle("Hub/a").is_err());
    assert!(matches!(
        ctx.remove_child("a").await,
        Err(RemoveError::Lookup(LookupError::NoChild { .. }))
    ));
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_remove_child_dropped_half_way_leaves_the_removal_to_end() {
    let (app, ctx, _slot) = started_hub().await;
    let slow = ctx.add_child_named("s", Slow { id: 1 }).await.unwrap();
    // Its stop takes 500ms: the call is dropped 100ms in, while the child stops.
    let dropped = tokio::time::timeout(ms(100), ctx.remove_child("s")).await;
    assert!(dropped.is_err());
    assert!(app.handle("Hub/s").is_ok(), "still stopping");
    // The removal goes on without its caller, and ends by itself.
    tokio::time::sleep(secs(1)).await;
    assert_eq!(slow.status(), Status::Stopped);
    assert!(ctx.children().is_empty());
    assert!(app.handle("Hub/s").is_err());
    assert!(matches!(
        ctx.remove_child("s").await,
        Err(RemoveError::Lookup(LookupError::NoChild { .. }))
    ));
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 1);
}

// ---------------------------------------------------------------------------------------
// ensure_child and ensure_named

#[tokio::test(start_paused = true)]
async fn ensure_child_adds_once_then_gets_the_live_child_without_calling_make() {
    let (app, ctx, _slot) = started_hub().await;
    let made = AtomicU32::new(0);
    let first = ctx.ensure_child("lamp", lamp(&made, 1)).await.unwrap();
    assert_eq!(&**first.name(), "Hub/lamp");
    assert_eq!(first.status(), Status::Running);
    let again = ctx.ensure_child("lamp", lamp(&made, 2)).await.unwrap();
    assert_eq!(
        made.load(Ordering::SeqCst),
        1,
        "make is not called for a live child"
    );
    assert_eq!(lamp_id(&again), 1, "the same child");
    assert_eq!(names(&ctx.children()), ["Hub/lamp"]);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn ensure_child_returns_a_child_that_has_stopped_for_good_as_it_is() {
    /// Done after one run: transient, its `serve` returns `Ok`.
    struct Job;
    #[service(restart = "transient")]
    impl Job {
        async fn serve(&self) -> Result<(), BoxError> {
            Ok(())
        }
    }
    let (app, ctx, _slot) = started_hub().await;
    ctx.ensure_child("job", || Job).await.unwrap();
    settle().await;
    let job = ctx
        .ensure_child("job", || -> Job { unreachable!("it is registered") })
        .await
        .unwrap();
    assert_eq!(job.status(), Status::Stopped);
    // Registered, so found: the caller restarts or removes it.
    assert_eq!(
        ctx.remove_child("job").await.unwrap().status,
        Status::Stopped
    );
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, 1);
}

#[tokio::test(start_paused = true)]
async fn ensure_of_a_name_held_by_another_type_or_another_parent_is_name_taken() {
    let (app, ctx, _slot) = started_hub().await;
    ctx.add_child_named("switch", Switch).await.unwrap();
    let made = AtomicU32::new(0);
    let error = ctx
        .ensure_child("switch", lamp(&made, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AddError::NameTaken { name } if &**name == "Hub/switch"),
        "{error:?}"
    );
    // A service that is not the hub's child, named like one.
    app.add_named("Hub/x", Lamp { id: 9 }).await.unwrap();
    let error = ctx.ensure_child("x", lamp(&made, 1)).await.unwrap_err();
    assert!(
        matches!(&error, AddError::NameTaken { name } if &**name == "Hub/x"),
        "{error:?}"
    );
    assert!(ctx.child("x").is_none());
    // By name: a static service of another type.
    let error = app.ensure_named("Hub", lamp(&made, 1)).await.unwrap_err();
    assert!(matches!(&error, AddError::NameTaken { .. }), "{error:?}");
    // `make` was called only for `x`: a lookup in the hub's children misses a service
    // that is not one, and the registration found the name held.
    assert_eq!(made.load(Ordering::SeqCst), 1);
    assert_eq!(names(&ctx.children()), ["Hub/switch"]);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ensure_named_finds_static_added_and_child_services_of_its_type() {
    let (app, ctx, _slot) = started_hub().await;
    let made = AtomicU32::new(0);
    let hub = app
        .ensure_named("Hub", || -> Hub { unreachable!("the hub is live") })
        .await
        .unwrap();
    assert_eq!(&**hub.name(), "Hub");
    ctx.add_child_named("lamp", Lamp { id: 3 }).await.unwrap();
    let child = app.ensure_named("Hub/lamp", lamp(&made, 4)).await.unwrap();
    assert_eq!(lamp_id(&child), 3);
    let added = app.ensure_named("lamp-7", lamp(&made, 7)).await.unwrap();
    let again = app.ensure_named("lamp-7", lamp(&made, 8)).await.unwrap();
    assert_eq!((lamp_id(&added), lamp_id(&again)), (7, 7));
    assert_eq!(made.load(Ordering::SeqCst), 1);
    assert_eq!(app.snapshot().len(), 3);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn two_ensure_calls_at_once_give_one_unit() {
    let (app, ctx, _slot) = started_hub().await;
    let made = AtomicU32::new(0);
    // Slow to initialize: the second call comes while the first waits for the start.
    let slow = |id| {
        let made = &made;
        move || {
            made.fetch_add(1, Ordering::SeqCst);
            Slow { id }
        }
    };
    let (a, b) = tokio::join!(
        ctx.ensure_child("s", slow(1)),
        ctx.ensure_child("s", slow(2))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let id = |h: &ServiceHandle| h.service::<Slow>().unwrap().id;
    assert_eq!((id(&a), id(&b)), (1, 1), "one added, the other got it");
    assert_eq!(names(&ctx.children()), ["Hub/s"]);
    let (a, b) = tokio::join!(
        app.ensure_named("conn", slow(3)),
        app.ensure_named("conn", slow(4))
    );
    assert_eq!((id(&a.unwrap()), id(&b.unwrap())), (3, 3));
    // The second of each pair found the first's: its `make` was not called.
    assert_eq!(made.load(Ordering::SeqCst), 2);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.services.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_ensure_dropped_half_way_and_called_again_gives_one_unit() {
    let (app, ctx, _slot) = started_hub().await;
    for (n, limit) in [0, 1, 500, 999].into_iter().enumerate() {
        let name = format!("s-{n}");
        let made = AtomicU32::new(0);
        let make = || {
            made.fetch_add(1, Ordering::SeqCst);
            Slow { id: 1 }
        };
        let dropped = tokio::time::timeout(ms(limit), ctx.ensure_child(&name, make)).await;
        assert!(dropped.is_err(), "the start takes 1s");
        let again = ctx.ensure_child(&name, || Slow { id: 2 }).await.unwrap();
        assert_eq!(
            again.service::<Slow>().unwrap().id,
            1,
            "the one added first"
        );
        assert_eq!(made.load(Ordering::SeqCst), 1);
        again.wait_ready().await.unwrap();
    }
    let named = tokio::time::timeout(ms(10), app.ensure_named("top", || Slow { id: 1 })).await;
    assert!(named.is_err());
    let top = app.ensure_named("top", || Slow { id: 2 }).await.unwrap();
    assert_eq!(top.service::<Slow>().unwrap().id, 1);
    assert_eq!(ctx.children().len(), 4);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.services.len(), 6);
}

// ---------------------------------------------------------------------------------------
// Races with removals and restarts

#[tokio::test(start_paused = true)]
async fn ensure_child_after_a_remove_child_of_the_same_name_waits_for_it_and_adds_anew() {
    let (app, ctx, _slot) = started_hub().await;
    let old = ctx.ensure_child("s", || Slow { id: 1 }).await.unwrap();
    let t0 = tokio::time::Instant::now();
    // The removal begins first (its stop takes 500ms), then the ensure looks.
    let (removed, ensured) = tokio::join!(
        ctx.remove_child("s"),
        ctx.ensure_child("s", || Slow { id: 2 })
    );
    assert_eq!(removed.unwrap().status, Status::Stopped);
    let new = ensured.unwrap();
    assert_eq!(new.service::<Slow>().unwrap().id, 2, "a new child");
    assert_eq!(old.status(), Status::Stopped);
    assert_eq!(new.status(), Status::Running);
    // The removal's stop, then the new child's start.
    assert_eq!(t0.elapsed(), ms(1500));
    assert_eq!(names(&ctx.children()), ["Hub/s"]);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 1);
}

#[tokio::test(start_paused = true)]
async fn ensure_child_before_a_remove_child_of_the_same_name_gets_the_child_that_is_removed() {
    let (app, ctx, _slot) = started_hub().await;
    ctx.ensure_child("s", || Slow { id: 1 }).await.unwrap();
    let (ensured, removed) = tokio::join!(
        ctx.ensure_child("s", || Slow { id: 2 }),
        ctx.remove_child("s")
    );
    // The ensure looked first: it got the live child, which the removal then removed.
    let got = ensured.unwrap();
    assert_eq!(got.service::<Slow>().unwrap().id, 1);
    assert_eq!(removed.unwrap().status, Status::Stopped);
    assert_eq!(got.status(), Status::Stopped);
    assert!(ctx.children().is_empty());
    // And the next call adds one.
    let next = ctx.ensure_child("s", || Slow { id: 3 }).await.unwrap();
    assert_eq!(next.service::<Slow>().unwrap().id, 3);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_ensure_dropped_while_it_waits_for_a_removal_leaves_the_removal_to_end() {
    let (app, ctx, _slot) = started_hub().await;
    ctx.ensure_child("s", || Slow { id: 1 }).await.unwrap();
    let removing = {
        let ctx = ctx.clone();
        tokio::spawn(async move { ctx.remove_child("s").await })
    };
    settle().await;
    // The removal's stop takes 500ms: the ensure waits for it, and is dropped.
    let dropped = tokio::time::timeout(ms(100), ctx.ensure_child("s", || Slow { id: 2 })).await;
    assert!(dropped.is_err());
    assert_eq!(removing.await.unwrap().unwrap().status, Status::Stopped);
    let new = ctx.ensure_child("s", || Slow { id: 3 }).await.unwrap();
    assert_eq!(new.service::<Slow>().unwrap().id, 3);
    assert_eq!(names(&ctx.children()), ["Hub/s"]);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 1);
}

/// `make` of the first call runs a second call to its end (on another thread) before it
/// returns: the first call's registration then finds the name taken, and returns the
/// second call's unit instead of an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_name_is_taken_while_it_makes_its_service_gets_the_unit_that_took_it() {
    let slot = Slot::default();
    let app = Hassette::builder().service(hub(&slot)).build().unwrap();
    app.start().await.unwrap();
    let ctx = loop {
        if let Some(ctx) = slot.lock().unwrap().clone() {
            break ctx;
        }
        tokio::task::yield_now().await;
    };
    let runtime = tokio::runtime::Handle::current();
    let second = |call: std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>>| {
        let runtime = runtime.clone();
        move || {
            let id = std::thread::spawn(move || runtime.block_on(call))
                .join()
                .unwrap();
            assert_eq!(id, 2, "the second call added its own");
            Lamp { id: 1 }
        }
    };
    let child = {
        let ctx = ctx.clone();
        Box::pin(async move {
            let added = ctx.ensure_child("l", || Lamp { id: 2 }).await.unwrap();
            lamp_id(&added)
        })
    };
    let got = ctx.ensure_child("l", second(child)).await.unwrap();
    assert_eq!(lamp_id(&got), 2);
    assert_eq!(names(&ctx.children()), ["Hub/l"]);
    let top = {
        let app = app.clone();
        Box::pin(async move {
            let added = app.ensure_named("top", || Lamp { id: 2 }).await.unwrap();
            lamp_id(&added)
        })
    };
    let got = app.ensure_named("top", second(top)).await.unwrap();
    assert_eq!(lamp_id(&got), 2);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.services.len(), 3);
}

/// A child whose stop takes 200ms (real time: the test below runs on a multi-thread
/// runtime).
struct SlowStop {
    id: u32,
}

#[service(restart = "permanent")]
impl SlowStop {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }

    async fn on_shutdown(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::time::sleep(ms(200)).await;
        Ok(())
    }
}

/// As above, and the unit that took the name is being removed when the first call's
/// registration finds it: the call waits for that removal, then adds the service it
/// made, under its own name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_name_is_taken_by_a_unit_being_removed_waits_and_adds_its_own() {
    let slot = Slot::default();
    let app = Hassette::builder().service(hub(&slot)).build().unwrap();
    app.start().await.unwrap();
    let ctx = loop {
        if let Some(ctx) = slot.lock().unwrap().clone() {
            break ctx;
        }
        tokio::task::yield_now().await;
    };
    let runtime = tokio::runtime::Handle::current();
    let other = ctx.clone();
    let make = move || {
        // Another call adds `s` and its removal begins, all before this call registers.
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let added = other
                    .ensure_child("s", || SlowStop { id: 2 })
                    .await
                    .unwrap();
                let remover = other.clone();
                tokio::spawn(async move { remover.remove_child("s").await });
                while added.status() != Status::Stopping {
                    tokio::task::yield_now().await;
                }
            });
        })
        .join()
        .unwrap();
        SlowStop { id: 1 }
    };
    let got = tokio::time::timeout(secs(60), ctx.ensure_child("s", make))
        .await
        .expect("no hang")
        .unwrap();
    assert_eq!(&**got.name(), "Hub/s");
    assert_eq!(got.service::<SlowStop>().unwrap().id, 1);
    assert_eq!(names(&ctx.children()), ["Hub/s"]);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 1);
}

#[tokio::test(start_paused = true)]
async fn ensure_and_remove_of_one_name_churning_at_once_never_leave_two_or_hang() {
    let (app, ctx, _slot) = started_hub().await;
    let ensurer = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            for id in 0..50 {
                match ctx.ensure_child("s", || Lamp { id }).await {
                    Ok(_) | Err(AddError::Start(_)) => {}
                    Err(error) => panic!("{error:?}"),
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let remover = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                match ctx.remove_child("s").await {
                    Ok(_) | Err(RemoveError::Lookup(LookupError::NoChild { .. })) => {}
                    Err(error) => panic!("{error:?}"),
                }
                tokio::task::yield_now().await;
            }
        })
    };
    tokio::time::timeout(secs(60), async {
        ensurer.await.unwrap();
        remover.await.unwrap();
    })
    .await
    .expect("no hang");
    let children = ctx.children();
    assert!(children.len() <= 1, "{:?}", names(&children));
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    let live = report
        .services
        .iter()
        .filter(|s| &*s.name == "Hub/s")
        .count();
    assert_eq!(live, children.len());
}

#[tokio::test(start_paused = true)]
async fn a_parent_restarting_while_ensure_child_runs_gives_one_child_that_runs_after_it() {
    let (app, ctx, slot) = started_hub().await;
    let made = AtomicU32::new(0);
    let make = || {
        made.fetch_add(1, Ordering::SeqCst);
        Slow { id: 1 }
    };
    // The child's initialize (1s) is under way when the parent restarts.
    let (ensured, restarted) = tokio::join!(ctx.ensure_child("s", make), async {
        tokio::time::sleep(ms(300)).await;
        app.restart::<Hub>().await
    });
    restarted.unwrap();
    // Its first start was cut short by the parent's stop: a typed error, the child
    // stays, and the parent's new run initializes it again.
    match ensured {
        Ok(_) => {}
        Err(AddError::Start(error)) => assert_eq!(&*error.service, "Hub/s"),
        Err(error) => panic!("{error:?}"),
    }
    let new = hub_ctx(&slot).await;
    let again = new.ensure_child("s", || Slow { id: 2 }).await.unwrap();
    assert_eq!(again.service::<Slow>().unwrap().id, 1);
    again.wait_ready().await.unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 1);
    assert_eq!(names(&new.children()), ["Hub/s"]);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn ensure_child_during_the_parents_initialize_returns_at_once_and_starts_after_it() {
    /// Restarts slowly: its `after_initialize` takes 1s.
    struct Lazy(Slot);
    #[service(restart = "permanent")]
    impl Lazy {
        async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            *self.0.lock().unwrap() = Some(ctx.clone());
            Ok(())
        }
        async fn after_initialize(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
            tokio::time::sleep(secs(1)).await;
            Ok(())
        }
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            ctx.cancelled().await;
            Ok(())
        }
    }
    let slot = Slot::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let adding = {
        let app = app.clone();
        let slot = slot.clone();
        tokio::spawn(async move { app.add_named("lazy", Lazy(slot)).await })
    };
    settle().await;
    let ctx = slot.lock().unwrap().clone().unwrap();
    let t0 = tokio::time::Instant::now();
    let lamp = ctx.ensure_child("l", || Lamp { id: 1 }).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(lamp.status(), Status::NotStarted);
    adding.await.unwrap().unwrap();
    lamp.wait_ready().await.unwrap();
    assert_eq!(t0.elapsed(), secs(1));
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_child_lists_its_siblings_while_they_churn() {
    /// Lists its parent's children at every turn while it serves, and logs a list that
    /// is not consistent (a panic here would only be an error of the service).
    struct Watcher {
        parent: Slot,
        lists: Arc<AtomicU32>,
        bad: Log,
    }
    #[service(restart = "permanent")]
    impl Watcher {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            let parent = self.parent.lock().unwrap().clone().unwrap();
            while !ctx.is_cancelled() {
                let listed = names(&parent.children());
                // In order of addition: the watcher, then siblings `s-<n>` by `n`, each
                // once.
                let numbers: Vec<u32> = listed
                    .iter()
                    .filter_map(|n| n.strip_prefix("Hub/s-"))
                    .filter_map(|n| n.parse().ok())
                    .collect();
                let ordered = numbers.windows(2).all(|w| w[0] < w[1]);
                let first = listed.first().map(String::as_str) == Some("Hub/watcher");
                if !ordered || !first || listed.len() != numbers.len() + 1 {
                    self.bad.push(format!("{listed:?}"));
                }
                self.lists.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
            Ok(())
        }
    }
    let (app, ctx, slot) = started_hub().await;
    let lists = Arc::new(AtomicU32::new(0));
    let bad = Log::default();
    let watcher = Watcher {
        parent: slot.clone(),
        lists: lists.clone(),
        bad: bad.clone(),
    };
    ctx.add_child_named("watcher", watcher).await.unwrap();
    for n in 0..300 {
        ctx.add_child_named(format!("s-{n}"), Lamp { id: n })
            .await
            .unwrap();
        if n % 3 == 0 {
            ctx.remove_child(&format!("s-{}", n / 2)).await.ok();
        }
        tokio::task::yield_now().await;
    }
    assert!(lists.load(Ordering::SeqCst) > 100);
    assert!(bad.lines().is_empty(), "{:?}", bad.lines());
    assert_eq!(app.status_by_name("Hub/watcher").unwrap(), Status::Running);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

// ---------------------------------------------------------------------------------------
// Calls from inside the family

/// What a child does from its `serve`, through its parent's context, and what it got.
struct Inside {
    parent: Slot,
    log: Log,
}

#[service(restart = "permanent")]
impl Inside {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let parent = self.parent.lock().unwrap().clone().unwrap();
        let short = ctx.name().rsplit('/').next().unwrap().to_owned();
        let t0 = tokio::time::Instant::now();
        let took = |what: &str| format!("{what} after {:?}", t0.elapsed());
        // Itself: the live child.
        let me = parent
            .ensure_child(&short, || -> Inside { unreachable!("it is live") })
            .await?;
        self.log
            .push(took(&format!("ensure self -> {}", me.name())));
        // A sibling: added, then removed.
        let sibling = parent.ensure_child("sib", || Lamp { id: 1 }).await?;
        self.log
            .push(took(&format!("ensure sib -> {}", sibling.status())));
        let removed = parent.remove_child("sib").await?;
        self.log
            .push(took(&format!("remove sib -> {}", removed.status)));
        // Itself: answered as of the request, and then no ensure can wait for it.
        let removed = parent.remove_child(&short).await?;
        self.log
            .push(took(&format!("remove self -> {}", removed.status)));
        let again = parent.ensure_child(&short, || Inside {
            parent: self.parent.clone(),
            log: self.log.clone(),
        });
        let again = again.await.map(|h| h.name().to_string());
        self.log.push(took(&format!("ensure self -> {again:?}")));
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_that_ensures_and_removes_its_siblings_and_itself_never_waits_on_itself() {
    let (app, ctx, slot) = started_hub().await;
    let log = Log::default();
    let inside = Inside {
        parent: slot.clone(),
        log: log.clone(),
    };
    ctx.add_child_named("me", inside).await.unwrap();
    tokio::time::timeout(secs(60), async {
        while log.lines().len() < 5 {
            settle().await;
        }
    })
    .await
    .expect("no hang");
    assert_eq!(
        log.lines(),
        [
            "ensure self -> Hub/me after 0ns",
            // Returned as `add_child_named` returns: once initialized.
            "ensure sib -> starting after 0ns",
            "remove sib -> stopped after 0ns",
            // As of the request.
            "remove self -> running after 0ns",
            "ensure self -> Err(BeingRemoved { name: \"Hub/me\" }) after 0ns",
        ]
    );
    settle().await;
    assert!(ctx.children().is_empty());
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 2);
    assert_eq!(report.removed.failed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_grandchild_that_removes_its_parent_through_the_grandparent_never_waits_on_itself() {
    /// Adds a [`Remover`] child when `.2`.
    struct Mid(Slot, Log, bool);
    #[service(restart = "permanent")]
    impl Mid {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            if self.2 {
                ctx.add_child_named("g", Remover(self.0.clone(), self.1.clone()))
                    .await?;
            }
            ctx.cancelled().await;
            Ok(())
        }
    }
    /// Removes its parent `mid` through the hub, then tries to ensure it.
    struct Remover(Slot, Log);
    #[service(restart = "permanent")]
    impl Remover {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            let hub = self.0.lock().unwrap().clone().unwrap();
            let t0 = tokio::time::Instant::now();
            let removed = hub.remove_child("mid").await.map(|r| r.status);
            let again = hub
                .ensure_child("mid", || Mid(self.0.clone(), self.1.clone(), false))
                .await
                .map(|h| h.name().to_string());
            self.1
                .push(format!("{removed:?} {again:?} after {:?}", t0.elapsed()));
            ctx.cancelled().await;
            Ok(())
        }
    }
    let (app, ctx, slot) = started_hub().await;
    let log = Log::default();
    ctx.add_child_named("mid", Mid(slot.clone(), log.clone(), true))
        .await
        .unwrap();
    tokio::time::timeout(secs(60), async {
        while log.lines().is_empty() {
            settle().await;
        }
    })
    .await
    .expect("no hang");
    assert_eq!(
        log.lines(),
        ["Ok(Running) Err(BeingRemoved { name: \"Hub/mid\" }) after 0ns"]
    );
    settle().await;
    assert!(ctx.children().is_empty());
    // From outside, the name is free again: added anew.
    let mid = ctx
        .ensure_child("mid", || Mid(slot.clone(), Log::default(), false))
        .await
        .unwrap();
    assert_eq!(mid.status(), Status::Running);
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, 2, "{report}");
}

// ---------------------------------------------------------------------------------------
// Scale

/// Leaves its context in its slot during `on_initialize` and waits there until the run
/// is cancelled: the children added meanwhile wait for its `after_initialize`, so they
/// cost no task.
struct Holding(Slot);

#[service(restart = "permanent")]
impl Holding {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        *self.0.lock().unwrap() = Some(ctx.clone());
        ctx.cancelled().await;
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test]
async fn a_hundred_thousand_children_under_one_parent() {
    const N: u32 = 100_000;
    let (big, small) = (Slot::default(), Slot::default());
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let adding = {
        let (app, big, small) = (app.clone(), big.clone(), small.clone());
        tokio::spawn(async move {
            let (a, b) = tokio::join!(
                app.add_named("big", Holding(big)),
                app.add_named("small", Holding(small))
            );
            (a.map(drop), b.map(drop))
        })
    };
    while big.lock().unwrap().is_none() || small.lock().unwrap().is_none() {
        tokio::task::yield_now().await;
    }
    let big = big.lock().unwrap().clone().unwrap();
    let small = small.lock().unwrap().clone().unwrap();
    for n in 0..N {
        big.add_child_named(format!("c-{n}"), Lamp { id: n })
            .await
            .unwrap();
    }
    small.add_child_named("only", Lamp { id: 0 }).await.unwrap();

    let children = big.children();
    assert_eq!(children.len(), N as usize);
    assert!(
        children
            .iter()
            .enumerate()
            .all(|(n, c)| lamp_id(c) == n as u32),
        "in order of addition"
    );
    assert_eq!(lamp_id(&big.child("c-99999").unwrap()), 99_999);
    let present = big.ensure_child("c-4242", || -> Lamp { unreachable!() });
    assert_eq!(lamp_id(&present.await.unwrap()), 4242);
    big.remove_child("c-0").await.unwrap();
    assert_eq!(big.children().len(), N as usize - 1);
    // The small parent's list costs its own children, not the big one's: many listings
    // take less time than one look at every unit.
    let t0 = std::time::Instant::now();
    let snapshot = app.snapshot();
    let one_scan = t0.elapsed();
    assert_eq!(snapshot.len(), N as usize + 2);
    let t0 = std::time::Instant::now();
    for _ in 0..1_000 {
        assert_eq!(names(&small.children()), ["small/only"]);
    }
    let listings = t0.elapsed();
    assert!(
        listings < one_scan,
        "1 000 listings of one child took {listings:?}, one scan of the table {one_scan:?}"
    );
    let report = tokio::time::timeout(secs(600), app.shutdown())
        .await
        .expect("no hang");
    assert!(report.is_success(), "{report}");
    // Their first start ended with the shutdown; whatever `add_named` said, it returned.
    let _ = adding.await.unwrap();
}
