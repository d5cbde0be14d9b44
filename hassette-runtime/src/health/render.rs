//! The answers: the `/livez` and `/readyz` bodies and the `/status` JSON, all made from
//! one look at the app. `/status` is the serde form of that look (feature `serde`, which
//! `health` turns on): its services are [`ServiceSnapshot`]s as they serialize anywhere
//! else, so there is one set of field names and units.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use super::Endpoint;
use crate::{ServiceSnapshot, Status};

/// One look at the app, from which all three answers are made; `/status` is its serde
/// form.
#[derive(Serialize)]
pub(super) struct Health {
    pub(super) live: bool,
    pub(super) ready: bool,
    /// A service that is not critical is down ([`ServiceSnapshot::degrades`]): the app
    /// goes on without it.
    degraded: bool,
    shutting_down: bool,
    services: Vec<ServiceSnapshot>,
    #[serde(skip)]
    own_name: Arc<str>,
    /// The stop is stuck: a service's stop outlived every bound it has and was cut off.
    #[serde(skip)]
    stuck: bool,
    /// The app drains (`Builder::drain`): `/readyz` says only that.
    #[serde(skip)]
    draining: bool,
}

impl Health {
    /// Liveness fails only when restarting the process is the cure: a crash, or a stop
    /// that is stuck. A graceful stop is a readiness matter.
    pub(super) fn of(endpoint: &Endpoint) -> Self {
        let services = endpoint.app.snapshot();
        let shutting_down = endpoint.app.is_shutting_down();
        let stuck = endpoint.app.state().is_stuck();
        let draining = endpoint.app.is_draining();
        let crashed = services.iter().any(|s| s.status == Status::Crashed);
        let ready = !shutting_down
            && services
                .iter()
                .all(|s| *s.name == *endpoint.own_name || s.counts_as_ready());
        Health {
            degraded: services.iter().any(ServiceSnapshot::degrades),
            services,
            own_name: endpoint.own_name.clone(),
            shutting_down,
            stuck,
            draining,
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
        if self.draining {
            return "draining\n".to_owned();
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

    /// The `/status` body: the serde form, as JSON, and a line break.
    pub(super) fn status_json(&self) -> String {
        to_json(self)
    }
}

/// A JSON answer: `value`'s serde form and a line break.
pub(super) fn to_json(value: &impl Serialize) -> String {
    let mut body = serde_json::to_string(value).unwrap_or_else(|error| {
        // Plain fields and strings cannot fail to serialize; should one, say so.
        tracing::error!(%error, "cannot write a JSON answer; this is a bug in hassette, please report it");
        serde_json::json!({ "error": error.to_string() }).to_string()
    });
    body.push('\n');
    body
}

#[cfg(test)]
mod tests {
    use super::Health;
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
            history: std::sync::Arc::new(crate::health::history::History::new(8)),
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
            r#"{"live":true,"ready":false,"degraded":false,"shutting_down":false,"services":["#,
            r#"{"name":"health","status":"not_started","ready":false,"restarts":0,"collateral_restarts":0,"last_error":null,"finished":false,"critical":true,"retry_in_secs":null,"budget_used":0,"waiting":null,"budget_intensity":5,"uptime_secs":null,"parent":null,"group":null},"#,
            r#"{"name":"Pool","status":"not_started","ready":false,"restarts":0,"collateral_restarts":0,"last_error":null,"finished":false,"critical":true,"retry_in_secs":null,"budget_used":0,"waiting":null,"budget_intensity":5,"uptime_secs":null,"parent":null,"group":null}]}"#,
            "\n"
        );
        assert_eq!(not_started().status_json(), expected);
    }

    #[test]
    fn every_status_has_a_snake_case_key() {
        for status in Status::ALL {
            let key = status.key();
            assert!(key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
