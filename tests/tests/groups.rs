//! Supervision groups on the paused clock: each strategy, the group budget, escalation.

use hassette_runtime::{Hassette, RestartType, Status, Strategy};
use hassette_tests::*;

profile!(Perm, RestartType::Permanent, { backoff_base: secs(1), backoff_multiplier: 1.0 });

type P = Probe<Perm>;

/// Three members `a`, `b`, `c` of one group; `b`'s serve fails once.
fn trio(strategy: Strategy, log: &Log) -> Hassette {
    Hassette::builder()
        .group("trio", strategy, |g| {
            g.service_named("a", P::new("a", log))
                .service_named("b", P::new("b", log).then("serve", [Act::Err]))
                .service_named("c", P::new("c", log))
        })
        .build()
        .unwrap()
}

/// `events` without each service's first start (`NotStarted -> Starting` and the
/// `Starting -> Running` after it).
fn without_first_starts(events: Vec<String>) -> Vec<String> {
    let mut starting = std::collections::HashSet::new();
    events
        .into_iter()
        .filter(|e| {
            let name = e.split(':').next().unwrap_or_default().to_owned();
            if e.ends_with("NotStarted -> Starting") {
                starting.insert(name);
                false
            } else {
                !(e.ends_with("Starting -> Running") && starting.remove(&name))
            }
        })
        .collect()
}

/// The order in which `names` ran `hook` after the first `skip` lines of the log.
fn order(log: &Log, hook: &str, skip: usize) -> Vec<String> {
    log.lines()[skip..]
        .iter()
        .filter_map(|l| l.strip_suffix(&format!(":{hook}")).map(str::to_owned))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn one_for_all_stops_the_others_in_reverse_and_starts_all_in_order() {
    let log = Log::default();
    let app = trio(Strategy::OneForAll, &log);
    let mut rx = app.events();
    app.start().await.unwrap();
    settle().await;
    let before = log.lines().len();
    tokio::time::sleep(secs(2)).await;
    // b failed at 0s; after its 1s backoff the group restarts everyone
    assert_eq!(order(&log, "before_shutdown", before), ["c", "a"]);
    assert_eq!(order(&log, "before_initialize", before), ["a", "b", "c"]);
    // b's serve fails in its first poll, which may come before c's first start: leave
    // the first starts out
    let events = without_first_starts(drain(&mut rx));
    let after_failure: Vec<&String> = events
        .iter()
        .skip_while(|e| !e.contains("-> Failed"))
        .collect();
    assert_eq!(
        after_failure,
        [
            "b: Running -> Failed",
            "c: Running -> Stopping",
            "c: Stopping -> Stopped",
            "a: Running -> Stopping",
            "a: Stopping -> Stopped",
            "a: Stopped -> Starting",
            "a: Starting -> Running",
            "b: Failed -> Starting",
            "b: Starting -> Running",
            "c: Stopped -> Starting",
            "c: Starting -> Running",
        ]
    );
    let report = app.shutdown().await;
    // b's restart is its own; a and c restarted along with their group, counted apart.
    let restarts: Vec<(u64, u64)> = (report.services.iter())
        .map(|s| (s.restarts, s.collateral_restarts))
        .collect();
    assert_eq!(restarts, [(0, 1), (1, 0), (0, 1)]);
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_one_and_those_after_it() {
    let log = Log::default();
    let app = trio(Strategy::RestForOne, &log);
    app.start().await.unwrap();
    settle().await;
    let before = log.lines().len();
    tokio::time::sleep(secs(2)).await;
    assert_eq!(order(&log, "before_shutdown", before), ["c"]);
    assert_eq!(order(&log, "before_initialize", before), ["b", "c"]);
    assert_eq!(
        log.count("a:before_initialize"),
        1,
        "a was registered before b: untouched"
    );
    let report = app.shutdown().await;
    let restarts: Vec<(u64, u64)> = (report.services.iter())
        .map(|s| (s.restarts, s.collateral_restarts))
        .collect();
    assert_eq!(restarts, [(0, 0), (1, 0), (0, 1)]);
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_one() {
    let log = Log::default();
    let app = trio(Strategy::OneForOne, &log);
    app.start().await.unwrap();
    tokio::time::sleep(secs(2)).await;
    assert_eq!(log.count("a:before_initialize"), 1);
    assert_eq!(log.count("b:before_initialize"), 2);
    assert_eq!(log.count("c:before_initialize"), 1);
    assert!(app.statuses().iter().all(|(_, s)| *s == Status::Running));
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_group_escalates_to_its_parent() {
    let log = Log::default();
    let app = Hassette::builder()
        .group("outer", Strategy::OneForAll, |g| {
            g.service_named("x", P::new("x", &log))
                .group("inner", Strategy::OneForOne, |g| {
                    g.budget(1, secs(60))
                        .service_named("y", P::new("y", &log).then("serve", [Act::Err, Act::Err]))
                })
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(secs(1) + ms(500)).await;
    // y's first failure: the inner group restarts y alone
    assert_eq!(log.count("y:before_initialize"), 2);
    assert_eq!(log.count("x:before_initialize"), 1);
    tokio::time::sleep(secs(2)).await;
    // y's second failure exhausts the inner budget: the outer group restarts everything
    assert_eq!(log.count("y:before_initialize"), 3);
    assert_eq!(log.count("x:before_initialize"), 2);
    assert_eq!(log.count("x:before_shutdown"), 1);
    assert!(app.statuses().iter().all(|(_, s)| *s == Status::Running));
    assert!(app.shutdown().await.is_success());
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_top_level_group_shuts_the_app_down_with_a_failure() {
    let log = Log::default();
    let app = Hassette::builder()
        .group("top", Strategy::OneForAll, |g| {
            g.budget(2, secs(60))
                .service_named("ok", P::new("ok", &log))
                .service_named("bad", P::new("bad", &log).always("serve", Act::Err))
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(secs(10)).await;
    let report = app.shutdown().await;
    assert_eq!(
        report.reason.as_deref(),
        Some("group `top` exhausted its restart budget")
    );
    assert_eq!(report.service("bad").unwrap().status, Status::Crashed);
    assert_eq!(report.service("bad").unwrap().restarts, 2);
    assert_eq!(report.service("ok").unwrap().status, Status::Stopped);
    assert_eq!(report.exit_code(), std::process::ExitCode::FAILURE);
}
