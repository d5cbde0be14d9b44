//! Feature `health`: the status page at `/`, rendered by a real headless browser (Debian's
//! `chromium-headless-shell`) against a real app on 127.0.0.1, and checked in the DOM the
//! browser dumps once the page's script has run and polled `/status` a few times.
//!
//! Ignored by default (`cargo test --workspace` needs no browser); run with
//! `cargo test -p hassette-tests --test browser -- --ignored`. The browser is
//! `$HASSETTE_BROWSER`, else `/usr/bin/chromium-headless-shell`, else
//! `chromium-headless-shell` or `chromium` on `PATH`.
//!
//! The browser runs on virtual time (`--virtual-time-budget`): the page's one-second timers
//! fire as soon as it is idle, and the clock stands still while a request is pending. A
//! proxy between the browser and the server holds a poll of `/status` for as long as the
//! test needs, so "a change after the page has loaded" is exact, not a race with a timer.

use std::io::Read as _;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hassette_runtime::health::HealthServer;
use hassette_runtime::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// A browser run that takes longer than this is killed (with its whole process group).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(15);

/// The browser to run, or a panic that says how to get one.
fn browser() -> PathBuf {
    if let Some(path) = std::env::var_os("HASSETTE_BROWSER") {
        return path.into();
    }
    let debian = Path::new("/usr/bin/chromium-headless-shell");
    if debian.is_file() {
        return debian.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium-headless-shell", "chromium"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no headless browser found: install Debian's chromium-headless-shell \
         (`apt-get install -y --no-install-recommends chromium-headless-shell`), put \
         `chromium-headless-shell` or `chromium` on PATH, or set HASSETTE_BROWSER to one"
    );
}

/// Loads `url` in the headless browser with `budget` of virtual time, and returns the DOM
/// it dumps at the end of it. Runs on a blocking thread.
async fn dump_dom(url: String, budget: Duration) -> String {
    tokio::task::spawn_blocking(move || dump_dom_blocking(&url, budget))
        .await
        .unwrap()
}

fn dump_dom_blocking(url: &str, budget: Duration) -> String {
    run_browser(url, budget, None)
}

/// Loads `url` in the headless browser with `budget` of virtual time, and saves what it
/// shows at the end of it, 1440 by 1040 pixels, as a PNG at `path`.
async fn screenshot(url: String, budget: Duration, path: PathBuf) {
    tokio::task::spawn_blocking(move || run_browser(&url, budget, Some(&path)))
        .await
        .unwrap();
}

/// Runs the browser on `url`: dumps the DOM (returned), or with `screenshot`, saves a
/// screenshot there (and returns what it printed).
fn run_browser(url: &str, budget: Duration, screenshot: Option<&Path>) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "hassette-browser-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let browser = browser();
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(match screenshot {
            Some(_) => "--window-size=1440,1040",
            None => "--window-size=1280,900",
        })
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg(match screenshot {
            Some(path) => format!("--screenshot={}", path.display()),
            None => "--dump-dom".to_owned(),
        })
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: Debian's wrapper is a shell script that does not `exec`,
        // so a timeout kills the group, browser included.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", browser.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status: Option<ExitStatus> = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dom = out.join().unwrap().unwrap_or_default();
    let stderr = err.join().unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        status.is_some_and(|status| status.success())
            && (screenshot.is_some() || dom.contains("</html>")),
        "{} on {url}: {}; its stderr:\n{stderr}",
        browser.display(),
        match status {
            Some(status) => format!("ended with {status}"),
            None => format!("killed after {BROWSER_TIMEOUT:?}"),
        },
    );
    dom
}

/// The text from just after `open` up to the next `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text
        .find(open)
        .unwrap_or_else(|| panic!("no {open:?} in the DOM:\n{text}"))
        + open.len();
    let len = text[start..]
        .find(close)
        .unwrap_or_else(|| panic!("no {close:?} after {open:?} in the DOM:\n{text}"));
    &text[start..start + len]
}

/// The text of the element with this `id` (its first text node).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let rest = between(dom, &format!(" id=\"{id}\""), "</");
    &rest[rest.find('>').map_or(0, |i| i + 1)..]
}

/// The rows of the services table, each as serialized markup.
fn rows(dom: &str) -> Vec<&str> {
    between(dom, "<tbody id=\"rows\">", "</tbody>")
        .split("<tr")
        .skip(1)
        .collect()
}

/// The row of the service named `name` (as it appears in the DOM: escaped).
fn row<'a>(dom: &'a str, name: &str) -> &'a str {
    let cell = format!("<span>{name}</span>");
    let found: Vec<&str> = rows(dom)
        .into_iter()
        .filter(|row| row.contains(&cell))
        .collect();
    assert_eq!(found.len(), 1, "one row for {name:?} in:\n{dom}");
    found[0]
}

/// Forwards connections to `upstream`, counting the requests of `/status` that come
/// through (`seen`). Poll number `k` (from 1) waits until `allowed` is at least `k`; a poll
/// after `refuse_after` is not forwarded: its connection is closed instead.
struct Proxy {
    addr: SocketAddr,
    seen: watch::Receiver<usize>,
    allowed: watch::Sender<usize>,
    refuse_after: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, seen) = watch::channel(0);
        let seen_tx = Arc::new(seen_tx);
        let allowed = watch::Sender::new(0);
        let refuse_after = Arc::new(AtomicUsize::new(usize::MAX));
        let (allowed_rx, refuse) = (allowed.clone(), refuse_after.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(
                    client,
                    upstream,
                    seen_tx.clone(),
                    allowed_rx.subscribe(),
                    refuse.clone(),
                ));
            }
        });
        Proxy {
            addr,
            seen,
            allowed,
            refuse_after,
        }
    }

    /// Waits until `n` polls of `/status` have reached the proxy.
    async fn wait_for_poll(&mut self, n: usize) {
        tokio::time::timeout(
            Duration::from_secs(10),
            self.seen.wait_for(|&seen| seen >= n),
        )
        .await
        .unwrap_or_else(|_| panic!("the page never sent poll {n} of /status"))
        .unwrap();
    }
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    seen: Arc<watch::Sender<usize>>,
    mut allowed: watch::Receiver<usize>,
    refuse_after: Arc<AtomicUsize>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let polls = chunk
            .windows(b"GET /status ".len())
            .filter(|w| *w == b"GET /status ")
            .count();
        for _ in 0..polls {
            let mut k = 0;
            seen.send_modify(|seen| {
                *seen += 1;
                k = *seen;
            });
            if allowed.wait_for(|&allowed| allowed >= k).await.is_err() {
                return;
            }
            if k > refuse_after.load(Ordering::SeqCst) {
                // Closed without an answer: the page's fetch fails.
                answers.abort();
                return;
            }
        }
        if to_server.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
    let _ = answers.await;
}

/// Runs until stopped, ready at once.
struct Idle;

#[service(restart = "permanent")]
impl Idle {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Runs until tripped, then fails with an error full of markup and waits an hour to be
/// restarted.
struct Switch {
    trip: Arc<Notify>,
}

#[service(
    restart = "permanent",
    backoff(base = "1h", max = "1h"),
    name = "switch"
)]
impl Switch {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::select! {
            () = ctx.cancelled() => Ok(()),
            () = self.trip.notified() => {
                Err("<b>bold</b> claim & <img src=x onerror=alert(2)> refused".into())
            }
        }
    }
}

/// Fails at once and waits an hour to be restarted.
struct Broken;

#[service(restart = "permanent", backoff(base = "1h", max = "1h"))]
impl Broken {
    async fn serve(&self) -> Result<(), BoxError> {
        Err("no route to host".into())
    }
}

/// Polls `done` every 10ms, for at most 10s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The mark of a non-critical service, shown and hidden.
const NON_CRITICAL_SHOWN: &str = "<span class=\"tag nc\">non-critical</span>";
const NON_CRITICAL_HIDDEN: &str = "<span class=\"tag nc\" hidden=\"\">non-critical</span>";

#[path = "browser/tree.rs"]
mod tree;

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const SCRIPT_NAME_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn the_page_lists_services_as_text_follows_changes_and_shows_a_lost_connection() {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let trip = Arc::new(Notify::new());
    let app = Hassette::builder()
        .resource(server)
        .service_named("db", Idle)
        .service_named(SCRIPT_NAME, Idle)
        .service(Switch { trip: trip.clone() })
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    wait_until("every service is running and ready", || {
        app.snapshot().iter().all(|s| s.ready)
    })
    .await;

    // Poll 1 passes at once, poll 2 only once `switch` has failed, poll 3 too; from poll 4
    // on, the proxy closes the connection without an answer.
    let mut proxy = Proxy::start(addr).await;
    proxy.allowed.send_replace(1);
    proxy.refuse_after.store(3, Ordering::SeqCst);
    let began = Instant::now();
    let browser = tokio::spawn(dump_dom(
        format!("http://{}/", proxy.addr),
        Duration::from_secs(6),
    ));

    // The page has shown the first answer (it polls one at a time) once poll 2 arrives.
    proxy.wait_for_poll(2).await;
    trip.notify_one();
    wait_until("switch has failed", || {
        matches!(app.status_by_name("switch"), Ok(Status::Failed))
    })
    .await;
    proxy.allowed.send_replace(usize::MAX);
    let dom = browser.await.unwrap();
    println!("the browser took {:?}", began.elapsed());
    app.shutdown().await;

    // Every service is listed, the one named like a script as text.
    assert_eq!(rows(&dom).len(), 4, "{dom}");
    for name in ["health", "db", SCRIPT_NAME_ESCAPED, "switch"] {
        row(&dom, name);
    }
    assert!(row(&dom, SCRIPT_NAME_ESCAPED).contains(">running<"));
    // Nothing from the data became an element: the page's own script is the only one.
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    assert!(!dom.contains("<b>") && !dom.contains("<img"), "{dom}");
    assert!(!dom.contains(SCRIPT_NAME), "{dom}");

    // The failure that happened after the page had loaded: in the table and the timeline.
    let switch = row(&dom, "switch");
    assert!(switch.contains(">failed<"), "{switch}");
    assert!(
        switch.contains(
            "&lt;b&gt;bold&lt;/b&gt; claim &amp; &lt;img src=x onerror=alert(2)&gt; refused"
        ),
        "{switch}"
    );
    let events = between(&dom, "<ol id=\"events\">", "</ol>");
    assert!(
        events.contains("switch: running \u{2192} failed (&lt;b&gt;bold&lt;/b&gt;"),
        "{events}"
    );
    assert!(events.contains("connected: 4 services"), "{events}");
    assert_eq!(text_of(&dom, "ready"), "not ready", "{dom}");
    assert_eq!(text_of(&dom, "live"), "live", "{dom}");

    // Then polls failed: disconnected, the last answer kept on screen.
    assert_eq!(text_of(&dom, "conn"), "disconnected", "{dom}");
    assert!(
        text_of(&dom, "banner").starts_with("Disconnected ("),
        "{dom}"
    );
    assert!(events.contains("connection lost: "), "{events}");
    let newest_first = |a: &str, b: &str| events.find(a).unwrap() < events.find(b).unwrap();
    assert!(newest_first("connection lost", "switch: running"));
    assert!(newest_first("switch: running", "connected: 4 services"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn ten_thousand_services_are_paged_filtered_and_narrowed_to_problems() {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let mut builder = Hassette::builder().resource(server);
    for i in 0..10_000 {
        let name = format!("svc-{i:04}");
        builder = if i % 1000 == 7 {
            builder.service_named(name, Broken)
        } else {
            builder.service_named(name, Idle)
        };
    }
    let app = builder.build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    wait_until("10 services failed and the others are ready", || {
        let snapshot = app.snapshot();
        let failed = snapshot
            .iter()
            .filter(|s| s.status == Status::Failed)
            .count();
        let ready = snapshot.iter().filter(|s| s.ready).count();
        failed == 10 && ready == 9_991
    })
    .await;
    let budget = Duration::from_secs(2);

    // The first page: 100 rows of 10 001, and the count per status.
    let dom = dump_dom(format!("http://{addr}/"), budget).await;
    assert_eq!(rows(&dom).len(), 100);
    assert_eq!(text_of(&dom, "range"), "1\u{2013}100 of 10,001");
    row(&dom, "health");
    row(&dom, "svc-0098");
    assert!(!dom.contains("svc-0099"));
    let summary = between(&dom, "<div id=\"summary\">", "</div>");
    for count in ["10,001 services", "9,991 running", "10 failed"] {
        assert!(summary.contains(count), "{summary}");
    }

    // A filter and a page, from the URL: names with `svc-1` are svc-1000..svc-1999.
    let dom = dump_dom(format!("http://{addr}/#q=svc-1&page=2"), budget).await;
    assert_eq!(rows(&dom).len(), 100);
    assert_eq!(text_of(&dom, "range"), "101\u{2013}200 of 1,000");
    row(&dom, "svc-1100");
    row(&dom, "svc-1199");
    assert!(!dom.contains("svc-1099") && !dom.contains("svc-1200"));

    // Only problems: the ten failed ones.
    let dom = dump_dom(format!("http://{addr}/#problems=1"), budget).await;
    assert_eq!(rows(&dom).len(), 10, "{dom}");
    assert_eq!(text_of(&dom, "range"), "1\u{2013}10 of 10");
    for i in 0..10 {
        let failed = row(&dom, &format!("svc-{i}007"));
        assert!(failed.contains(">failed<") && failed.contains(">no route to host<"));
    }

    let report = app.shutdown().await;
    assert!(report.is_success(), "{report:?}");
}

/// `GET /` from the real server: the page's headers (lowercase) and its body.
async fn fetch_page(addr: SocketAddr) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    (head.to_ascii_lowercase(), body.to_owned())
}

/// Serves `page` at `/` and each of `answers` (a path and its JSON, or an HTML page, the
/// query left out) at its path, one request a connection; anything else is 404.
async fn serve_fixed(page: String, answers: &[(&str, &str)]) -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page: Arc<str> = page.into();
    let answers: Arc<[(String, String)]> = answers
        .iter()
        .map(|(path, body)| ((*path).to_owned(), (*body).to_owned()))
        .collect();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (page, answers) = (page.clone(), answers.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request);
                let target = request.split(' ').nth(1).unwrap_or("");
                let path = target.split('?').next().unwrap_or("");
                let found = answers.iter().find(|(p, _)| *p == path);
                let (code, content_type, body) = match (path, found) {
                    ("/", _) => ("200 OK", "text/html; charset=utf-8", &*page),
                    (_, Some((_, html))) if html.starts_with("<!doctype html>") => {
                        ("200 OK", "text/html; charset=utf-8", &**html)
                    }
                    (_, Some((_, json))) => ("200 OK", "application/json", &**json),
                    _ => ("404 Not Found", "text/plain", "not found\n"),
                };
                let answer = format!(
                    "HTTP/1.1 {code}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a headless browser: cargo test -p hassette-tests --test browser -- --ignored"]
async fn fields_a_server_may_add_are_shown_and_their_absence_is_not_an_error() {
    // The page as the real server serves it, next to a `/status` with the fields a later
    // server may add (`critical`, `retry_in_secs`, `budget_used`) on some services only, and
    // a status this page does not know.
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let (headers, page) = fetch_page(handle.local_addr().unwrap()).await;
    app.shutdown().await;
    assert!(
        headers.contains("content-type: text/html; charset=utf-8"),
        "{headers}"
    );
    let status = concat!(
        r#"{"live":true,"ready":false,"shutting_down":true,"services":["#,
        r#"{"name":"db","status":"running","ready":true,"restarts":0,"last_error":null,"#,
        r#""critical":true,"retry_in_secs":null,"budget_used":0},"#,
        r#"{"name":"feed","status":"failed","ready":false,"restarts":3,"#,
        r#""last_error":"upstream disconnected","critical":false,"retry_in_secs":1.5,"budget_used":3},"#,
        r#"{"name":"old","status":"running","ready":true,"restarts":0,"last_error":null},"#,
        r#"{"name":"odd","status":"hibernating","ready":false,"restarts":0,"last_error":null}]}"#,
    );
    let addr = serve_fixed(page, &[("/status", status)]).await;
    let dom = dump_dom(format!("http://{addr}/"), Duration::from_secs(2)).await;

    assert_eq!(rows(&dom).len(), 4, "{dom}");
    // The columns for the added fields are shown.
    assert!(
        dom.contains("<body class=\"has-retry has-budget\">"),
        "{dom}"
    );
    // Only the non-critical service is marked; a critical one carries no badge.
    let db = row(&dom, "db");
    assert!(db.contains(NON_CRITICAL_HIDDEN), "{db}");
    assert!(db.contains("<td class=\"c-retry\">\u{2014}</td>"), "{db}");
    let feed = row(&dom, "feed");
    assert!(feed.contains(NON_CRITICAL_SHOWN), "{feed}");
    assert!(
        feed.contains("<td class=\"c-retry\">in 1.5 s</td>"),
        "{feed}"
    );
    assert!(feed.contains("<td class=\"c-budget\">3</td>"), "{feed}");
    // A service without them: empty cells, no badge.
    let old = row(&dom, "old");
    assert!(old.contains(NON_CRITICAL_HIDDEN), "{old}");
    assert!(old.contains("<td class=\"c-retry\"></td>"), "{old}");
    assert!(old.contains("<td class=\"c-budget\"></td>"), "{old}");
    // An unknown status is shown as sent, in the neutral colour.
    assert!(row(&dom, "odd").contains("<span class=\"pill idle\">hibernating</span>"));
    assert_eq!(text_of(&dom, "stopping"), "shutting down");
    assert!(!between(&dom, "<span id=\"stopping\"", ">").contains("hidden"));
    assert_eq!(text_of(&dom, "conn"), "connected");
}
