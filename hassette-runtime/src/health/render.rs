//! The answers: the `/livez` and `/readyz` bodies and the `/status` JSON (with its
//! string escaping), all made from one look at the app.

use std::fmt::Write as _;
use std::sync::Arc;

use super::Endpoint;
use crate::{ServiceSnapshot, Status};

/// One look at the app, from which all three answers are made.
pub(super) struct Health {
    services: Vec<ServiceSnapshot>,
    own_name: Arc<str>,
    shutting_down: bool,
    /// The stop is stuck: a service's stop outlived every bound it has and was cut off.
    stuck: bool,
    pub(super) live: bool,
    pub(super) ready: bool,
}

impl Health {
    /// Liveness fails only when restarting the process is the cure: a crash, or a stop
    /// that is stuck. A graceful stop is a readiness matter.
    pub(super) fn of(endpoint: &Endpoint) -> Self {
        let services = endpoint.app.snapshot();
        let shutting_down = endpoint.app.is_shutting_down();
        let stuck = endpoint.app.state().is_stuck();
        let crashed = services.iter().any(|s| s.status == Status::Crashed);
        let ready = !shutting_down
            && services
                .iter()
                .all(|s| *s.name == *endpoint.own_name || s.counts_as_ready());
        Health {
            services,
            own_name: endpoint.own_name.clone(),
            shutting_down,
            stuck,
            live: !stuck && !crashed,
            ready,
        }
    }

    pub(super) fn livez_body(&self) -> String {
        if self.live {
            return "ok\n".to_owned();
        }
        let mut body = String::from("not live:");
        if self.stuck {
            body.push_str(" the stop is stuck (a service never finished its stop);");
        }
        let crashed: Vec<&str> = self
            .services
            .iter()
            .filter(|s| s.status == Status::Crashed)
            .map(|s| &*s.name)
            .collect();
        if !crashed.is_empty() {
            let _ = write!(body, " crashed: {};", crashed.join(", "));
        }
        body.pop();
        body.push('\n');
        body
    }

    pub(super) fn readyz_body(&self) -> String {
        if self.ready {
            return "ready\n".to_owned();
        }
        let mut body = String::from("not ready:");
        if self.shutting_down {
            body.push_str(" shutting down;");
        }
        let mut first = true;
        for s in self
            .services
            .iter()
            .filter(|s| !s.counts_as_ready() && *s.name != *self.own_name)
        {
            body.push_str(if first { " " } else { ", " });
            first = false;
            if s.status == Status::Running {
                let _ = write!(body, "{} (running, not ready)", s.name);
            } else {
                let _ = write!(body, "{} ({})", s.name, s.status);
            }
        }
        if body.ends_with(';') {
            body.pop();
        }
        body.push('\n');
        body
    }

    pub(super) fn status_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.services.len() * 96);
        let _ = write!(
            out,
            "{{\"live\":{},\"ready\":{},\"shutting_down\":{},\"services\":[",
            self.live, self.ready, self.shutting_down
        );
        for (i, s) in self.services.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            push_json_string(&mut out, &s.name);
            let _ = write!(
                out,
                ",\"status\":\"{}\",\"ready\":{},\"restarts\":{},\"last_error\":",
                s.status.key(),
                s.ready,
                s.restarts
            );
            match &s.last_error {
                Some(error) => push_json_string(&mut out, &error.to_string()),
                None => out.push_str("null"),
            }
            let _ = write!(
                out,
                ",\"critical\":{},\"budget_used\":{},\"retry_in_ms\":",
                s.critical, s.budget_used
            );
            match s.retry_at {
                Some(at) => {
                    let wait = at.saturating_duration_since(tokio::time::Instant::now());
                    let _ = write!(out, "{}", wait.as_millis());
                }
                None => out.push_str("null"),
            }
            out.push('}');
        }
        out.push_str("]}\n");
        out
    }
}

/// Appends `s` as a JSON string literal (RFC 8259: quote, backslash and control
/// characters escaped).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::{Health, push_json_string};
    use crate::health::{Endpoint, HealthServer};
    use crate::{Hassette, Hooks, Resource, Status};

    struct Pool;
    impl Hooks for Pool {}
    impl Resource for Pool {}

    /// One look at an app that is built, not started: the health server and `Pool`.
    fn not_started() -> Health {
        let app = Hassette::builder()
            .resource(HealthServer::new(([127, 0, 0, 1], 0)))
            .resource(Pool)
            .build()
            .unwrap();
        Health::of(&Endpoint {
            app,
            own_name: "health".into(),
            #[cfg(feature = "metrics")]
            metrics: None,
        })
    }

    #[test]
    fn a_built_app_is_live_not_ready_and_the_server_leaves_itself_out() {
        let health = not_started();
        assert!(health.live);
        assert!(!health.ready);
        assert_eq!(health.livez_body(), "ok\n");
        assert_eq!(health.readyz_body(), "not ready: Pool (not started)\n");
    }

    #[test]
    fn status_lists_every_service() {
        let expected = concat!(
            r#"{"live":true,"ready":false,"shutting_down":false,"services":["#,
            r#"{"name":"health","status":"not_started","ready":false,"restarts":0,"last_error":null,"critical":true,"budget_used":0,"retry_in_ms":null},"#,
            r#"{"name":"Pool","status":"not_started","ready":false,"restarts":0,"last_error":null,"critical":true,"budget_used":0,"retry_in_ms":null}]}"#,
            "\n"
        );
        assert_eq!(not_started().status_json(), expected);
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a \"quoted\" \\ path\nline\u{1}\té");
        assert_eq!(out, r#""a \"quoted\" \\ path\nline\u0001\té""#);
    }

    #[test]
    fn every_status_has_a_snake_case_key() {
        for status in Status::ALL {
            let key = status.key();
            assert!(key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
