//! Socket activation: the listening sockets a service manager passes to the process
//! (systemd's `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES`), read once per process.
//!
//! Protocol: the first [`take`] reads the variables. They count only when `LISTEN_PID`
//! is this process's id (a child that inherited them from its parent ignores them).
//! The descriptors themselves are taken through the `listenfd` crate, which checks that
//! each one is a TCP socket, marks it close-on-exec and unsets `LISTEN_FDS` and
//! `LISTEN_PID`: a descriptor is taken once per process, by the first listener of that
//! name, and the ones no listener names stay open and untouched. The state is one lock,
//! taken alone.

use std::sync::{Mutex, OnceLock};

/// The first descriptor of socket activation.
const FIRST_FD: usize = 3;

/// What the service manager passed, once read.
enum Passed {
    /// Nothing (or for another process).
    Nothing,
    /// The variables contradict each other.
    Broken(String),
    /// The descriptors, by index, and their names.
    Fds {
        fds: listenfd::ListenFd,
        names: Vec<String>,
    },
}

static PASSED: OnceLock<Mutex<Passed>> = OnceLock::new();

/// The listening socket passed under `name`, if one was: `Err` with what is wrong when
/// the variables contradict each other or that descriptor is not a TCP socket.
pub(super) fn take(name: &str) -> Result<Option<std::net::TcpListener>, String> {
    let mut passed = crate::sync::lock(PASSED.get_or_init(|| Mutex::new(read()))); // (alone)
    let (fds, names) = match &mut *passed {
        Passed::Nothing => return Ok(None),
        Passed::Broken(problem) => return Err(problem.clone()),
        Passed::Fds { fds, names } => (fds, names),
    };
    for index in (0..names.len()).filter(|&i| names[i] == name) {
        match fds.take_tcp_listener(index) {
            Ok(Some(socket)) => return Ok(Some(socket)),
            Ok(None) => {} // taken already, by another app of this process
            Err(error) => {
                return Err(format!(
                    "descriptor {} (`{name}` in LISTEN_FDNAMES) is not a TCP socket: {error}",
                    FIRST_FD + index
                ));
            }
        }
    }
    Ok(None)
}

/// For an error: the names of the descriptors passed, when some were (`None` otherwise).
pub(super) fn passed_names() -> Option<String> {
    let passed = crate::sync::lock(PASSED.get_or_init(|| Mutex::new(read()))); // (alone)
    match &*passed {
        Passed::Fds { names, .. } if !names.is_empty() => Some(names.join(":")),
        _ => None,
    }
}

/// Reads the variables (see the module's header).
fn read() -> Passed {
    let Ok(pid) = std::env::var("LISTEN_PID") else {
        return Passed::Nothing;
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        tracing::debug!(%pid, "LISTEN_PID names another process: its LISTEN_FDS are not for this one");
        return Passed::Nothing;
    }
    let Ok(count) = std::env::var("LISTEN_FDS") else {
        return Passed::Nothing;
    };
    let count: usize = match count.trim().parse() {
        Ok(0) => return Passed::Nothing,
        Ok(count) => count,
        Err(_) => {
            return Passed::Broken(format!(
                "LISTEN_FDS is `{count}`, not a number of descriptors"
            ));
        }
    };
    let names: Vec<String> = match std::env::var("LISTEN_FDNAMES") {
        Ok(names) => names.split(':').map(str::to_owned).collect(),
        // systemd's name for a descriptor without one
        Err(_) => vec!["unknown".to_owned(); count],
    };
    if names.len() != count {
        return Passed::Broken(format!(
            "LISTEN_FDS is {count}, but LISTEN_FDNAMES names {} descriptor(s) (`{}`)",
            names.len(),
            names.join(":")
        ));
    }
    let fds = listenfd::ListenFd::from_env();
    if fds.len() != count {
        return Passed::Broken(format!(
            "LISTEN_FDS is {count}, but {} descriptor(s) could be read",
            fds.len()
        ));
    }
    Passed::Fds { fds, names }
}
