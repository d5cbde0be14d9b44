//! The HTTP side of a connection: reading requests (with the header read timeout),
//! routing a path to its answer, and writing it (with the write timeout).

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::connections::Place;
use super::query;
use super::render::{Health, to_json};
use super::{Endpoint, Limits};
use crate::ServiceContext;

/// Timeouts this long or longer mean "no limit" (and never overflow an `Instant`).
const NO_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `None` for a timeout that means "no limit".
fn finite(timeout: Duration) -> Option<Duration> {
    (timeout < NO_LIMIT).then_some(timeout)
}

/// Serves one client until it is done, fails a timeout, or the server stops: then the
/// connection is dropped at once, whatever it was doing, and its `place` under the cap
/// with it.
pub(super) async fn serve_connection(
    stream: TcpStream,
    endpoint: Endpoint,
    ctx: ServiceContext,
    place: Place,
    limits: Limits,
) {
    let name = endpoint.own_name.clone();
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(&endpoint, request.method(), request.uri());
        std::future::ready(Ok::<_, Infallible>(response))
    });
    // A write that makes no progress for `write_timeout` (the client does not read its
    // answer) fails with `TimedOut`; the clock restarts with every write that goes through.
    let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
    stream.set_write_timeout(finite(limits.write_timeout));
    let io = TokioIo::new(Box::pin(stream));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(finite(limits.header_read_timeout))
        .serve_connection(io, service);
    let result = tokio::select! {
        biased;
        // A stop or restart of the server: no grace for a client (it could be half-way
        // through a request it never finishes).
        () = ctx.cancelled() => return,
        result = connection => result,
    };
    drop(place);
    if let Err(error) = result {
        tracing::debug!(service = %name, %error, "health endpoint: connection ended with an error");
    }
}

/// The answer to `method uri`, from one look at the app.
fn respond(endpoint: &Endpoint, method: &Method, uri: &Uri) -> Response<Full<Bytes>> {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let (code, content_type, body) = match path {
        "/" | "/livez" | "/readyz" | "/status" | "/events" | "/report" | "/metrics"
            if method != Method::GET && method != Method::HEAD =>
        {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                Bytes::from_static(b"method not allowed: use GET\n"),
            )
        }
        "/" => (StatusCode::OK, HTML, Bytes::from_static(PAGE.as_bytes())),
        "/livez" => {
            let health = Health::of(endpoint);
            let code = if health.live {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (code, TEXT, Bytes::from(health.livez_body()))
        }
        "/readyz" => {
            let health = Health::of(endpoint);
            let code = if health.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (code, TEXT, Bytes::from(health.readyz_body()))
        }
        "/status" => (
            StatusCode::OK,
            JSON,
            Bytes::from(Health::of(endpoint).status_json()),
        ),
        "/events" => match query::after(query) {
            Ok(after) => (
                StatusCode::OK,
                JSON,
                Bytes::from(to_json(&endpoint.history.after(after))),
            ),
            Err(message) => (StatusCode::BAD_REQUEST, TEXT, Bytes::from(message)),
        },
        "/report" => match query::name(query).map(|name| endpoint.app.handle(&name)) {
            Some(Ok(handle)) => (StatusCode::OK, JSON, Bytes::from(to_json(&handle.report()))),
            Some(Err(error)) => (
                StatusCode::NOT_FOUND,
                TEXT,
                Bytes::from(format!("{error}\n")),
            ),
            None => (
                StatusCode::BAD_REQUEST,
                TEXT,
                Bytes::from_static(b"bad request: name the service: /report?name=NAME\n"),
            ),
        },
        #[cfg(feature = "metrics")]
        "/metrics" if endpoint.metrics.is_some() => (
            StatusCode::OK,
            PROMETHEUS,
            Bytes::from(
                endpoint
                    .metrics
                    .as_ref()
                    .map(|m| m.render())
                    .unwrap_or_default(),
            ),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            TEXT,
            Bytes::from_static(b"not found\n"),
        ),
    };
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type == HTML {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    if code == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";
/// The Prometheus text exposition format, version 0.0.4.
#[cfg(feature = "metrics")]
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// The status page served at `/`: one self-contained file (inline style and script, no
/// external resource) that polls `/status` and puts its data in the DOM as text only.
const PAGE: &str = include_str!("page.html");

/// What the page may do: run its own inline script and style, and fetch from its own
/// origin; nothing else (no other origin, no plugin, no form, no framing).
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt as _;
    use http_body_util::BodyExt as _;
    use hyper::header::{self, HeaderMap};
    use hyper::{Method, StatusCode};

    use super::{PAGE, finite, respond};
    use crate::health::{Endpoint, HEADER_READ_TIMEOUT, HealthServer};
    use crate::{Hassette, Hooks, Resource};

    struct Pool;
    impl Hooks for Pool {}
    impl Resource for Pool {}

    /// The answer to `method path` from an app that is built, not started.
    fn answer(method: &Method, path: &str) -> (StatusCode, HeaderMap, String) {
        let app = Hassette::builder()
            .resource(HealthServer::new(([127, 0, 0, 1], 0)))
            .resource(Pool)
            .build()
            .unwrap();
        let endpoint = Endpoint {
            app,
            own_name: "health".into(),
            history: std::sync::Arc::new(crate::health::history::History::new(8)),
            #[cfg(feature = "metrics")]
            metrics: None,
        };
        let uri: hyper::Uri = path.parse().unwrap();
        let (parts, body) = respond(&endpoint, method, &uri).into_parts();
        let body = body.collect().now_or_never().unwrap().unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(parts.headers[header::CACHE_CONTROL], "no-store");
        (parts.status, parts.headers, body)
    }

    #[test]
    fn paths_are_routed_to_their_answers() {
        let (code, headers, body) = answer(&Method::GET, "/livez");
        assert_eq!((code, body.as_str()), (StatusCode::OK, "ok\n"));
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        let (code, _, body) = answer(&Method::GET, "/readyz");
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: Pool (not started)\n");
        let (code, headers, body) = answer(&Method::GET, "/status");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(body.starts_with(r#"{"live":true,"ready":false,"#));
        let (code, _, body) = answer(&Method::GET, "/nope");
        assert_eq!(
            (code, body.as_str()),
            (StatusCode::NOT_FOUND, "not found\n")
        );
    }

    #[test]
    fn events_and_a_report_are_answered_by_query() {
        let (code, headers, body) = answer(&Method::GET, "/events");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body, "{\"next\":0,\"dropped\":0,\"events\":[]}\n");
        let (code, _, body) = answer(&Method::GET, "/events?after=x");
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body.starts_with("bad request: `after`"), "{body}");

        let (code, headers, body) = answer(&Method::GET, "/report?name=Pool");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(
            body.starts_with(r#"{"name":"Pool","status":"not_started","errors":[],"#),
            "{body}"
        );
        let (code, _, body) = answer(&Method::GET, "/report?name=Poool");
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert!(body.contains("Poool"), "{body}");
        let (code, _, body) = answer(&Method::GET, "/report");
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(body, "bad request: name the service: /report?name=NAME\n");
    }

    #[test]
    fn head_has_the_status_and_headers_and_no_body() {
        let (code, headers, body) = answer(&Method::HEAD, "/readyz");
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(body, "");
    }

    #[test]
    fn another_method_is_not_allowed() {
        for path in ["/", "/livez", "/readyz", "/status", "/events", "/report"] {
            let (code, headers, _) = answer(&Method::POST, path);
            assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(headers[header::ALLOW], "GET, HEAD");
        }
        let (code, _, _) = answer(&Method::POST, "/nope");
        assert_eq!(code, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_root_serves_the_status_page() {
        let (code, headers, body) = answer(&Method::GET, "/");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none';"), "{policy}");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        assert_eq!(body, PAGE);
        assert!(body.starts_with("<!doctype html>"));
        assert!(
            body.contains("fetch('status'"),
            "it polls /status, relative to itself"
        );
        // The other paths carry no page policy.
        let (_, headers, _) = answer(&Method::GET, "/status");
        assert!(!headers.contains_key(header::CONTENT_SECURITY_POLICY));

        let (code, headers, body) = answer(&Method::HEAD, "/");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(body, "");
    }

    #[test]
    fn the_page_is_self_contained_and_never_parses_data_as_html() {
        // No resource from elsewhere (no CDN, no font, no external script or style).
        for needle in [
            "http://",
            "https://",
            "//cdn",
            " src=",
            "<link rel=\"stylesheet",
            "@import",
        ] {
            assert!(!PAGE.contains(needle), "the page contains {needle:?}");
        }
        // Data reaches the DOM through textContent only.
        for needle in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setAttribute",
            "dataset",
        ] {
            assert!(!PAGE.contains(needle), "the page uses {needle}");
        }
        assert_eq!(PAGE.matches("<script").count(), 1, "one inline script");
    }

    #[test]
    fn duration_max_means_no_timeout() {
        assert_eq!(finite(HEADER_READ_TIMEOUT), Some(HEADER_READ_TIMEOUT));
        assert_eq!(finite(Duration::MAX), None);
    }
}
