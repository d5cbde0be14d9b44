//! [`ListenerError`]: what can go wrong with a listener the app owns.

use std::net::SocketAddr;
use std::sync::Arc;

/// A listener declared with [`Builder::listener`](crate::Builder::listener) that could
/// not be opened (at [`Hassette::start`](crate::Hassette::start), inside
/// [`StartFailure::Listener`](crate::StartFailure::Listener)), or asked for by a name the
/// app does not know.
///
/// ```
/// use hassette_runtime::{Hassette, ListenerError};
///
/// let app = Hassette::builder().listener("http", ([127, 0, 0, 1], 0)).build()?;
/// let error = app.listener_addr("htp").unwrap_err();
/// assert!(matches!(error, ListenerError::Unknown { .. }));
/// assert_eq!(
///     error.to_string(),
///     "no listener is named `htp` (declared: `http`); declare it with `Builder::listener`"
/// );
/// # Ok::<(), hassette_runtime::BuildError>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// No listener has this name.
    #[error(
        "no listener is named `{name}` ({}); declare it with `Builder::listener`",
        declared_list(declared)
    )]
    Unknown {
        /// The name asked for.
        name: Arc<str>,
        /// The names the app declares.
        declared: Vec<Arc<str>>,
    },
    /// The listener is declared, but the app has not opened it yet: it opens its
    /// listeners when it starts.
    #[error("listener `{name}` is not open yet: the app opens its listeners at `start`")]
    NotOpen {
        /// The listener.
        name: Arc<str>,
    },
    /// Binding the listener's address failed (it was not passed by socket activation).
    #[error("listener `{name}`: cannot listen on {addr}: {error}{hint}")]
    Bind {
        /// The listener.
        name: Arc<str>,
        /// The address it was declared with.
        addr: SocketAddr,
        /// The operating system's error.
        error: Arc<std::io::Error>,
        /// What the descriptors passed by socket activation were named, when some were
        /// passed but none under this name (empty otherwise).
        hint: String,
    },
    /// The descriptors passed by socket activation (`LISTEN_FDS`, `LISTEN_PID`,
    /// `LISTEN_FDNAMES`) are not what they say: a count that does not match the names,
    /// or a descriptor that is not a TCP socket.
    #[error("listener `{name}`: socket activation: {problem}")]
    Activation {
        /// The listener.
        name: Arc<str>,
        /// What is wrong.
        problem: String,
    },
    /// The listener is open, but a handle to it could not be made (out of descriptors,
    /// say).
    #[error("listener `{name}`: {error}")]
    Io {
        /// The listener.
        name: Arc<str>,
        /// The operating system's error.
        error: Arc<std::io::Error>,
    },
}

impl ListenerError {
    /// The listener's name (the name asked for, for [`ListenerError::Unknown`]).
    ///
    /// ```
    /// # use hassette_runtime::ListenerError;
    /// let error = ListenerError::NotOpen { name: "http".into() };
    /// assert_eq!(&**error.name(), "http");
    /// ```
    #[must_use]
    pub fn name(&self) -> &Arc<str> {
        match self {
            ListenerError::Unknown { name, .. }
            | ListenerError::NotOpen { name }
            | ListenerError::Bind { name, .. }
            | ListenerError::Activation { name, .. }
            | ListenerError::Io { name, .. } => name,
        }
    }
}

/// `declared: `a`, `b`` or `none are declared`.
fn declared_list(declared: &[Arc<str>]) -> String {
    if declared.is_empty() {
        return "none are declared".to_owned();
    }
    let names: Vec<String> = declared.iter().map(|n| format!("`{n}`")).collect();
    format!("declared: {}", names.join(", "))
}
