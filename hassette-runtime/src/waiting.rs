//! Why a service is not running now: what it waits for.

use std::sync::Arc;

use tokio::time::Instant;

/// What a service that is not running waits for, in
/// [`ServiceSnapshot::waiting`](crate::ServiceSnapshot::waiting): so a child stopped for
/// its parent's restart, a dependant held by a slow dependency and a service in its
/// backoff read differently from one that is simply stopped.
///
/// With feature `serde` (and in the health server's `/status`) it is an object with a
/// `kind`, the name it waits `on` (parent, dependency, group) or the seconds until its
/// restart, `retry_in_secs` (backoff, cooldown; 0 once due):
///
/// ```json
/// {"kind": "parent", "on": "hub"}
/// {"kind": "dependency", "on": "db"}
/// {"kind": "backoff", "retry_in_secs": 1.5}
/// {"kind": "cooldown", "retry_in_secs": 300.0}
/// {"kind": "group", "on": "pipeline"}
/// ```
///
/// ```
/// use hassette_runtime::Waiting;
/// let waiting = Waiting::Parent { name: "hub".into() };
/// assert_eq!(waiting.kind(), "parent");
/// assert_eq!(waiting.on(), Some("hub"));
/// assert_eq!(waiting.retry_at(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Waiting {
    /// A child whose parent is not running (restarting, in its backoff, stopped): it
    /// starts again with its parent's next run.
    Parent {
        /// The parent's name.
        name: Arc<str>,
    },
    /// Starting, and waiting for a dependency (`depends_on`) to be Running and ready.
    Dependency {
        /// The dependency's name.
        name: Arc<str>,
    },
    /// Failed, and waiting out its backoff before its next restart.
    Backoff {
        /// When the restart comes.
        retry_at: Instant,
    },
    /// Its budget is spent (`ExhaustedCooling`): it starts again with a fresh budget
    /// once its cooldown is over.
    Cooldown {
        /// When the cooldown ends.
        retry_at: Instant,
    },
    /// Stopped for its supervision group, which restarts it with the others.
    Group {
        /// The group's name.
        name: Arc<str>,
    },
}

impl Waiting {
    /// Its kind, as serialized: `"parent"`, `"dependency"`, `"backoff"`, `"cooldown"` or
    /// `"group"`.
    ///
    /// ```
    /// # use hassette_runtime::Waiting;
    /// assert_eq!(Waiting::Group { name: "g".into() }.kind(), "group");
    /// ```
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Waiting::Parent { .. } => "parent",
            Waiting::Dependency { .. } => "dependency",
            Waiting::Backoff { .. } => "backoff",
            Waiting::Cooldown { .. } => "cooldown",
            Waiting::Group { .. } => "group",
        }
    }

    /// The name of what it waits on: its parent, its dependency or its group.
    ///
    /// ```
    /// # use hassette_runtime::Waiting;
    /// assert_eq!(Waiting::Dependency { name: "db".into() }.on(), Some("db"));
    /// ```
    #[must_use]
    pub fn on(&self) -> Option<&str> {
        match self {
            Waiting::Parent { name } | Waiting::Dependency { name } | Waiting::Group { name } => {
                Some(name)
            }
            Waiting::Backoff { .. } | Waiting::Cooldown { .. } => None,
        }
    }

    /// When its restart comes: in a backoff or a cooldown.
    ///
    /// ```
    /// # use hassette_runtime::Waiting;
    /// let at = tokio::time::Instant::now();
    /// assert_eq!(Waiting::Backoff { retry_at: at }.retry_at(), Some(at));
    /// ```
    #[must_use]
    pub fn retry_at(&self) -> Option<Instant> {
        match self {
            Waiting::Backoff { retry_at } | Waiting::Cooldown { retry_at } => Some(*retry_at),
            Waiting::Parent { .. } | Waiting::Dependency { .. } | Waiting::Group { .. } => None,
        }
    }
}

impl std::fmt::Display for Waiting {
    /// `waiting for its parent hub`, `waiting for its backoff`, ...
    ///
    /// ```
    /// # use hassette_runtime::Waiting;
    /// let waiting = Waiting::Dependency { name: "db".into() };
    /// assert_eq!(waiting.to_string(), "waiting for its dependency `db`");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.on() {
            Some(on) => write!(f, "waiting for its {} `{on}`", self.kind()),
            None => write!(f, "waiting for its {}", self.kind()),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Waiting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("kind", self.kind())?;
        if let Some(on) = self.on() {
            map.serialize_entry("on", on)?;
        }
        if let Some(at) = self.retry_at() {
            let left = at.saturating_duration_since(Instant::now());
            map.serialize_entry("retry_in_secs", &left.as_secs_f64())?;
        }
        map.end()
    }
}
