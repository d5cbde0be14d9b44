//! The status page as an operator reads it: the tree of children (folded past a few
//! dozen, with counts per status), groups and non-critical services marked, a service
//! opened to its last errors, the server's history on a page opened late, the `waiting`
//! reason and the `degraded` banner, and 10 000 children paged.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// Adds `count` children named `dev-NNNN` in `serve`, then runs until stopped. Every
/// 1000th from the 8th on fails at once and waits an hour; below 1000 children, every 20th
/// from the 8th, and it is not critical.
struct Hub {
    count: usize,
}

#[service(restart = "permanent", name = "hub")]
impl Hub {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        for i in 0..self.count {
            let name = format!("dev-{i:04}");
            if self.count < 1000 && i % 20 == 7 {
                ctx.add_child_named(name, Unplugged).await?;
            } else if i % 1000 == 7 {
                ctx.add_child_named(name, Broken).await?;
            } else {
                ctx.add_child_named(name, Idle).await?;
            }
        }
        ctx.cancelled().await;
        Ok(())
    }
}

/// Fails at once and waits an hour; not critical.
struct Unplugged;

#[service(
    restart = "permanent",
    backoff(base = "1h", max = "1h"),
    critical = false
)]
impl Unplugged {
    async fn serve(&self) -> Result<(), BoxError> {
        Err("no route to host".into())
    }
}

/// Adds `conn-0`..`conn-2`; `conn-1` adds a child `tls` of its own.
struct Pool;

#[service(restart = "permanent", name = "pool")]
impl Pool {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.add_child_named("conn-0", Idle).await?;
        ctx.add_child_named("conn-1", Conn).await?;
        ctx.add_child_named("conn-2", Idle).await?;
        ctx.cancelled().await;
        Ok(())
    }
}

struct Conn;

#[service(restart = "permanent")]
impl Conn {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.add_child_named("tls", Idle).await?;
        ctx.cancelled().await;
        Ok(())
    }
}

/// Fails at once, every run; not critical.
struct Feed;

#[service(
    restart = "permanent",
    backoff(base = "1h", max = "1h"),
    critical = false,
    name = "feed"
)]
impl Feed {
    async fn serve(&self) -> Result<(), BoxError> {
        Err("upstream <em>disconnected</em>".into())
    }
}

/// The names of the rows, in order, as shown (a child by its own name).
fn row_names(dom: &str) -> Vec<String> {
    rows(dom)
        .into_iter()
        .filter(|row| row.starts_with(" class=\"row"))
        .map(|row| {
            let rest = between(row, "<span class=\"leaf\"", "</span></div>");
            let name = rest.rsplit("<span>").next().unwrap_or("");
            name.split("</span>").next().unwrap_or("").to_owned()
        })
        .collect()
}

/// Waits until the app has `count` services and every one is ready or failed.
async fn wait_settled(app: &Hassette, count: usize) {
    wait_until(&format!("{count} services are ready or failed"), || {
        let snapshot = app.snapshot();
        snapshot.len() == count
            && snapshot
                .iter()
                .all(|s| s.ready || s.status == Status::Failed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn children_are_shown_under_their_parent_and_a_big_family_is_folded_with_counts() {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder()
        .resource(server)
        .service(Hub { count: 40 })
        .service(Pool)
        .group("pipeline", hassette_runtime::Strategy::OneForOne, |g| {
            g.service_named("reader", Idle)
        })
        .service(Feed)
        .build()
        .unwrap();
    app.start().await.unwrap();
    // health, hub and its 40, pool, its 3 and tls, reader, feed.
    wait_settled(&app, 2 + 40 + 1 + 3 + 1 + 1 + 1).await;
    let addr = handle.local_addr().unwrap();

    let dom = dump_dom(format!("http://{addr}/"), Duration::from_secs(2)).await;
    // Children under their parent, in order of addition; hub's 40 folded away.
    assert_eq!(
        row_names(&dom),
        [
            "health", "hub", "pool", "conn-0", "conn-1", "tls", "conn-2", "reader", "feed"
        ],
        "{dom}"
    );
    assert_eq!(text_of(&dom, "range"), "1\u{2013}9 of 9");
    // The folded row: a button to unfold, how many children and their counts per status.
    let hub = row(&dom, "hub");
    assert!(
        hub.contains("<button class=\"fold\" type=\"button\" title=\"unfold\">\u{25b8}</button>"),
        "{hub}"
    );
    let kids = between(hub, "<div class=\"kids\"", "</td>");
    for text in [">40 children<", ">38 running<", ">2 failed<"] {
        assert!(kids.contains(text), "{kids}");
    }
    // The indentation follows the depth.
    assert!(row(&dom, "pool").contains("padding-left: 0px;"));
    assert!(row(&dom, "conn-1").contains("padding-left: 22px;"));
    assert!(row(&dom, "tls").contains("padding-left: 44px;"));
    // A small family is open: three children, all running.
    let pool = row(&dom, "pool");
    assert!(pool.contains("title=\"fold\">\u{25be}</button>"), "{pool}");
    assert!(
        pool.contains(">3 children<") && pool.contains(">3 running<"),
        "{pool}"
    );
    // The group is marked; the services that are not critical are, and only they: `feed`
    // declares it, and children are not critical unless declared so.
    assert!(row(&dom, "reader").contains("<span class=\"tag grp\">group pipeline</span>"));
    assert!(row(&dom, "feed").contains("upstream &lt;em&gt;disconnected&lt;/em&gt;"));
    for name in ["feed", "conn-0", "tls"] {
        assert!(row(&dom, name).contains(NON_CRITICAL_SHOWN), "{name}");
    }
    for name in ["health", "hub", "pool", "reader"] {
        assert!(row(&dom, name).contains(NON_CRITICAL_HIDDEN), "{name}");
    }
    // Uptime and the budget of its intensity.
    assert!(
        dom.contains("<body class=\"has-retry has-budget has-uptime\">"),
        "{dom}"
    );
    let reader = row(&dom, "reader");
    assert!(
        reader.contains("<td class=\"c-budget\">0 of 5</td>"),
        "{reader}"
    );
    let uptime = between(reader, "<td class=\"c-uptime\">", "</td>");
    assert!(
        uptime.ends_with(" s") || uptime.ends_with(" ms"),
        "{uptime}"
    );
    assert!(row(&dom, "feed").contains("<td class=\"c-uptime\">\u{2014}</td>"));
    // The timeline, from the server's history: the 40 devices starting are one line each
    // way, their failures one line each.
    let events = between(&dom, "<ol id=\"events\">", "</ol>");
    assert!(!events.contains("hub/dev-0003:"), "{events}");
    assert!(
        events.contains(" services: not started \u{2192} starting ("),
        "{events}"
    );
    for failed in ["hub/dev-0007", "hub/dev-0027"] {
        let line = format!("{failed}: running \u{2192} failed (no route to host)");
        assert!(events.contains(&line), "{events}");
    }

    // Unfolded from the URL (as a click on its button does): its 40 children follow it.
    let dom = dump_dom(format!("http://{addr}/#x=hub"), Duration::from_secs(2)).await;
    let names = row_names(&dom);
    assert_eq!(names.len(), 9 + 40, "{names:?}");
    assert_eq!(&names[1..4], ["hub", "dev-0000", "dev-0001"]);
    assert_eq!(names[41], "dev-0039");
    assert!(row(&dom, "dev-0007").contains(">failed<"));

    // Pool folded from the URL: its row keeps the counts, its children go.
    let dom = dump_dom(format!("http://{addr}/#f=pool"), Duration::from_secs(2)).await;
    assert_eq!(
        row_names(&dom),
        ["health", "hub", "pool", "reader", "feed"],
        "{dom}"
    );
    // A filter lists its matches flat, by their full names.
    let dom = dump_dom(format!("http://{addr}/#q=conn-1"), Duration::from_secs(2)).await;
    assert_eq!(row_names(&dom), ["pool/conn-1", "pool/conn-1/tls"]);

    app.shutdown().await;
}

/// Fails its first three runs, each with a numbered error full of markup, 10ms apart;
/// then runs. It starts once the health server has (its history follows from then on).
struct Flaky {
    runs: AtomicU32,
}

#[service(
    restart = "permanent",
    backoff(base = "10ms", max = "10ms"),
    name = "flaky",
    depends_on(HealthServer)
)]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        if run < 3 {
            return Err(format!("refused <#{run}>").into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn a_page_opened_late_shows_the_failures_before_it_and_an_opened_service_its_errors() {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder()
        .resource(server)
        .service(Flaky {
            runs: AtomicU32::new(0),
        })
        .service_named("db", Idle)
        .build()
        .unwrap();
    app.start().await.unwrap();
    wait_until("flaky failed three times and runs", || {
        app.snapshot()
            .iter()
            .any(|s| &*s.name == "flaky" && s.restarts == 3 && s.ready)
    })
    .await;
    let addr = handle.local_addr().unwrap();

    // Opened after the failures: the timeline has them, from the server's history, older
    // than the page's own "connected".
    let dom = dump_dom(format!("http://{addr}/#open=flaky"), Duration::from_secs(2)).await;
    let events = between(&dom, "<ol id=\"events\">", "</ol>");
    let failures: Vec<usize> = (0..3)
        .map(|i| {
            let text = format!("flaky: running \u{2192} failed (refused &lt;#{i}&gt;)");
            events
                .find(&text)
                .unwrap_or_else(|| panic!("no {text:?} in {events}"))
        })
        .collect();
    // Newest first.
    assert!(
        failures[2] < failures[1] && failures[1] < failures[0],
        "{events}"
    );
    let connected = events.find("connected: 3 services").unwrap();
    assert!(connected < failures[2], "{events}");

    // The opened service: its row, then its last errors, newest first, as text.
    let flaky = row(&dom, "flaky");
    assert!(flaky.starts_with(" class=\"row open\""), "{flaky}");
    let detail = between(&dom, "<tr class=\"detail\">", "</tr>");
    assert!(
        detail.contains("Last errors, newest first (3 in all)"),
        "{detail}"
    );
    let lines: Vec<&str> = detail
        .split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "serve: refused &lt;#2&gt;",
            "serve: refused &lt;#1&gt;",
            "serve: refused &lt;#0&gt;"
        ]
    );
    // Only the opened one has its errors shown.
    assert_eq!(dom.matches("<tr class=\"detail\">").count(), 1);
    assert!(row(&dom, "db").starts_with(" class=\"row\""));

    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn ten_thousand_children_are_folded_and_paged() {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder()
        .resource(server)
        .service(Hub { count: 10_000 })
        .build()
        .unwrap();
    app.start().await.unwrap();
    wait_settled(&app, 10_002).await;
    let addr = handle.local_addr().unwrap();
    let budget = Duration::from_secs(2);

    // Folded: two rows, the counts on the parent's.
    let began = Instant::now();
    let dom = dump_dom(format!("http://{addr}/"), budget).await;
    println!("the folded page took {:?}", began.elapsed());
    assert_eq!(row_names(&dom), ["health", "hub"]);
    let kids = between(row(&dom, "hub"), "<div class=\"kids\"", "</td>");
    for text in [">10,000 children<", ">9,990 running<", ">10 failed<"] {
        assert!(kids.contains(text), "{kids}");
    }
    let summary = between(&dom, "<div id=\"summary\">", "</div>");
    assert!(summary.contains("10,002 services"), "{summary}");

    // Unfolded and paged: page 3 holds rows 201 to 300 (health, hub, then the children).
    let began = Instant::now();
    let dom = dump_dom(format!("http://{addr}/#x=hub&page=3"), budget).await;
    println!("the unfolded page took {:?}", began.elapsed());
    let names = row_names(&dom);
    assert_eq!(names.len(), 100);
    assert_eq!(
        (names[0].as_str(), names[99].as_str()),
        ("dev-0198", "dev-0297")
    );
    assert_eq!(text_of(&dom, "range"), "201\u{2013}300 of 10,002");
    assert!(row(&dom, "dev-0207").contains(">running<"));
    // The failed ones are found by the problems filter, by their full names.
    let dom = dump_dom(format!("http://{addr}/#problems=1"), budget).await;
    let failed: Vec<String> = (0..10).map(|i| format!("hub/dev-{i}007")).collect();
    assert_eq!(row_names(&dom), failed);

    let report = app.shutdown().await;
    assert!(report.is_success(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn the_waiting_reason_and_the_degraded_banner_are_shown_as_sent() {
    // The page as the real server serves it, against a `/status` with the `waiting` and
    // `degraded` fields (which this server does not send yet) and an `/events` whose
    // history lost changes.
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let (_, page) = fetch_page(handle.local_addr().unwrap()).await;
    app.shutdown().await;
    let status = concat!(
        r#"{"live":true,"ready":true,"shutting_down":false,"degraded":true,"services":["#,
        r#"{"name":"hub","status":"starting","ready":false,"restarts":1,"last_error":null,"critical":true,"parent":null,"waiting":null},"#,
        r#"{"name":"hub/lamp","status":"stopped","ready":false,"restarts":0,"last_error":null,"critical":false,"parent":"hub","waiting":{"kind":"parent","on":"hub"}},"#,
        r#"{"name":"api","status":"not_started","ready":false,"restarts":0,"last_error":null,"waiting":{"kind":"dependency","on":"<db>"}},"#,
        r#"{"name":"feed","status":"failed","ready":false,"restarts":2,"last_error":"gone","critical":false,"waiting":{"kind":"backoff","retry_in_secs":1.5}},"#,
        r#"{"name":"mailer","status":"exhausted_cooling","ready":false,"restarts":5,"last_error":"smtp","critical":false,"waiting":{"kind":"cooldown","retry_in_secs":90}},"#,
        r#"{"name":"reader","status":"stopped","ready":false,"restarts":0,"last_error":null,"group":"pipeline","waiting":{"kind":"group","on":"pipeline"}},"#,
        r#"{"name":"db","status":"running","ready":true,"restarts":0,"last_error":null,"waiting":null}]}"#,
    );
    let events = concat!(
        r#"{"next":11,"dropped":0,"events":["#,
        r#"{"seq":7,"lost":3,"age_secs":2.0},"#,
        r#"{"seq":8,"service":"feed","from":"running","to":"failed","error":"<i>gone</i>","age_secs":1.0,"retry_in_secs":1.5},"#,
        // Ages are taken as each entry is written: the later one may come out older.
        r#"{"seq":9,"service":"db","from":"running","to":"stopping","error":null,"age_secs":0.5},"#,
        r#"{"seq":10,"service":"db","from":"stopping","to":"stopped","error":null,"age_secs":0.5004}]}"#,
    );
    let addr = serve_fixed(page, &[("/status", status), ("/events", events)]).await;
    let dom = dump_dom(format!("http://{addr}/"), Duration::from_secs(2)).await;

    // A child stopped for its parent's restart is waiting, not a plain "stopped".
    let lamp = row(&dom, "lamp");
    assert!(lamp.contains("<span class=\"pill cool\">waiting</span><span class=\"why\">waiting for its parent hub</span>"), "{lamp}");
    assert!(row(&dom, "api").contains(">waiting for &lt;db&gt;<"));
    let feed = row(&dom, "feed");
    assert!(feed.contains("<span class=\"pill warn\">failed</span><span class=\"why\">backoff, retry in 1.5 s</span>"), "{feed}");
    assert!(row(&dom, "mailer").contains(">cooling down, retry in 1 min 30 s<"));
    let reader = row(&dom, "reader");
    assert!(
        reader.contains(">waiting for its group pipeline<"),
        "{reader}"
    );
    assert!(row(&dom, "db").contains("<span class=\"why\" hidden=\"\"></span>"));

    // Degraded: a banner naming the non-critical services that are down as the server
    // counts them (failed, crashed, exhausted): not the child waiting for its parent.
    assert_eq!(
        text_of(&dom, "degraded"),
        "Degraded: the app runs without feed, mailer (non-critical, down)."
    );
    assert_eq!(text_of(&dom, "ready"), "ready, degraded");

    // The history, with what it lost.
    let events = between(&dom, "<ol id=\"events\">", "</ol>");
    assert!(
        events.contains("\u{2026} 3 changes missed by the server's history"),
        "{events}"
    );
    assert!(
        events.contains("feed: running \u{2192} failed (&lt;i&gt;gone&lt;/i&gt;)"),
        "{events}"
    );
    assert!(!dom.contains("<i>") && !dom.contains("<db>"), "{dom}");
    // In the order of the changes, newest first, whatever their ages say.
    let stopped = events.find("db: stopping \u{2192} stopped").unwrap();
    let stopping = events.find("db: running \u{2192} stopping").unwrap();
    assert!(stopped < stopping, "{events}");
}

/// Runs until stopped; a member of a group.
struct Writer;

#[service(restart = "permanent", name = "writer")]
impl Writer {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Adds `zigbee-1` and `zigbee-2`, then loses its radio: its children are stopped, and
/// it waits an hour to be restarted (with them). Not critical.
struct Bridge;

#[service(
    restart = "permanent",
    backoff(base = "1h", max = "1h"),
    critical = false,
    name = "bridge"
)]
impl Bridge {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let first = ctx.add_child_named("zigbee-1", Idle).await?;
        let second = ctx.add_child_named("zigbee-2", Idle).await?;
        first.wait_ready().await?;
        second.wait_ready().await?;
        Err("lost the radio".into())
    }
}

/// The README's screenshot (`docs/status-page.png`): a demo app with a folded parent of
/// 40 devices, an open one with a grandchild, a parent waiting out its backoff with its
/// children stopped (shown waiting for it where the server says so), a group, a failing
/// non-critical feed opened to its errors, and the history of a service that failed
/// before the page opened.
///
/// Regenerate it with
///
/// ```text
/// HASSETTE_SCREENSHOT=$PWD/docs/status-page.png \
///     cargo test -p hassette-tests --test browser -- --ignored screenshot_for_the_readme
/// ```
///
/// Without `HASSETTE_SCREENSHOT`, it saves the screenshot in a temporary file and checks
/// only that it is a PNG.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn screenshot_for_the_readme() {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder()
        .resource(server)
        .service_named("database", Idle)
        .service_named("api", Idle)
        .service(Flaky {
            runs: AtomicU32::new(0),
        })
        .service(Hub { count: 40 })
        .service(Pool)
        .group("pipeline", hassette_runtime::Strategy::RestForOne, |g| {
            g.service_named("reader", Idle).service(Writer)
        })
        .service(Bridge)
        .service(Feed)
        .build()
        .unwrap();
    app.start().await.unwrap();
    wait_until("bridge failed and its children stopped", || {
        let snapshot = app.snapshot();
        let status = |name: &str| snapshot.iter().find(|s| &*s.name == name).map(|s| s.status);
        status("bridge") == Some(Status::Failed)
            && status("bridge/zigbee-1") == Some(Status::Stopped)
            && status("bridge/zigbee-2") == Some(Status::Stopped)
    })
    .await;
    wait_until("the others are ready or failed", || {
        let snapshot = app.snapshot();
        snapshot.len() == 4 + 41 + 5 + 2 + 3 + 1
            && snapshot
                .iter()
                .all(|s| s.ready || s.status == Status::Failed || s.name.starts_with("bridge/"))
    })
    .await;
    wait_until("flaky failed three times and runs", || {
        app.snapshot()
            .iter()
            .any(|s| &*s.name == "flaky" && s.restarts == 3 && s.ready)
    })
    .await;
    let addr = handle.local_addr().unwrap();
    let path = match std::env::var_os("HASSETTE_SCREENSHOT") {
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join(format!("hassette-status-{}.png", std::process::id())),
    };
    screenshot(
        format!("http://{addr}/#open=feed"),
        Duration::from_secs(3),
        path.clone(),
    )
    .await;
    app.shutdown().await;
    let png = std::fs::read(&path).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {}",
        path.display()
    );
    println!("saved {} ({} bytes)", path.display(), png.len());
    if std::env::var_os("HASSETTE_SCREENSHOT").is_none() {
        let _ = std::fs::remove_file(&path);
    }
}

/// A page on the same origin that loads the status page in a frame, clicks it as a reader
/// would (hub's fold button, then the `feed` row), and writes the frame's table, its URL
/// and its timeline into its own DOM as text, for `--dump-dom` to show.
const CLICKER: &str = r#"<!doctype html>
<html><body><pre id="out">not done</pre>
<iframe id="frame" src="/" style="width:1280px;height:900px"></iframe>
<script>
'use strict';
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const frame = document.getElementById('frame');
const rowOf = (doc, name) => [...doc.querySelectorAll('#rows tr.row')]
  .find((tr) => tr.querySelector('.node span:not(.leaf):not(.tag)').textContent === name);
frame.addEventListener('load', async () => {
  const doc = frame.contentDocument;
  await wait(1500);
  rowOf(doc, 'hub').querySelector('.fold').click();
  await wait(100);
  rowOf(doc, 'feed').querySelector('.c-status').click();
  await wait(1500);
  document.getElementById('out').textContent = [
    frame.contentWindow.location.hash,
    doc.getElementById('rows').outerHTML,
  ].join('\n');
});
</script></body></html>"#;

/// `/status` with `hub` and its 40 children, and `feed`.
fn hub_status() -> String {
    let service = |name: &str, parent: Option<&str>, status: &str, critical: bool| {
        serde_json::json!({
            "name": name, "status": status, "ready": status == "running", "restarts": 0,
            "last_error": null, "critical": critical, "parent": parent,
        })
    };
    let mut services = vec![service("hub", None, "running", true)];
    for i in 0..40 {
        services.push(service(
            &format!("hub/dev-{i:02}"),
            Some("hub"),
            "running",
            false,
        ));
    }
    services.push(service("feed", None, "failed", false));
    serde_json::json!({ "live": true, "ready": true, "shutting_down": false, "services": services })
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn a_click_unfolds_a_parent_and_opens_a_service_to_its_errors() {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let (_, page) = fetch_page(handle.local_addr().unwrap()).await;
    app.shutdown().await;
    let status = hub_status();
    let report = concat!(
        r#"{"name":"feed","status":"failed","errors":[{"what":"serve","error":"first"},"#,
        r#"{"what":"on_initialize","error":"<b>second</b>"}],"error_count":7,"restarts":6,"#,
        r#""aborted":false,"stop_took_secs":0.0}"#,
    );
    let addr = serve_fixed(
        page,
        &[
            ("/status", &status),
            ("/report", report),
            ("/clicker", CLICKER),
        ],
    )
    .await;
    let dom = dump_dom(format!("http://{addr}/clicker"), Duration::from_secs(5)).await;
    let out = between(&dom, "<pre id=\"out\">", "</pre>");
    assert_ne!(out, "not done", "{dom}");
    // The frame's DOM, as the text the clicker wrote: unescaped once.
    let frame = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let (hash, table) = frame.split_once('\n').unwrap();
    // Both clicks are kept in the URL.
    assert_eq!(hash, "#x=hub&open=feed");
    let table = format!("<tbody id=\"rows\">{}", table.split_once('>').unwrap().1);
    // Unfolded: hub's 40 children under it.
    let names = super::tree::row_names(&table);
    assert_eq!(names.len(), 42, "{names:?}");
    assert_eq!(&names[..3], ["hub", "dev-00", "dev-01"]);
    assert_eq!(names[41], "feed");
    // Opened: feed's last errors, newest first, as text.
    assert!(
        row(&table, "feed").starts_with(" class=\"row open\""),
        "{table}"
    );
    let detail = between(&table, "<tr class=\"detail\">", "</tr>");
    assert!(
        detail.contains("Last errors, newest first (7 in all)"),
        "{detail}"
    );
    assert!(
        detail.contains("<li>on_initialize: &lt;b&gt;second&lt;/b&gt;</li><li>serve: first</li>"),
        "{detail}"
    );
}
