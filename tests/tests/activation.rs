//! Socket activation and systemd's file-descriptor store, in real processes: `net_probe
//! listen ADDR` (tests/src/bin/net_probe.rs) declares a listener `http` and answers each
//! client with `hello from <pid>`.
//!
//! A child is started the way systemd starts a socket-activated service: the listening
//! socket at descriptor 3, `LISTEN_FDS`, `LISTEN_FDNAMES`, and `LISTEN_PID` set to the
//! child's own pid just before it execs. Without `unsafe` (which this workspace forbids)
//! a small `sh` does the systemd part: it gets the socket as its standard input, moves it
//! to descriptor 3, exports `LISTEN_PID=$$` and execs the probe, which keeps the shell's
//! pid. Only loopback addresses.

use std::fs::File;
use std::io::{IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hassette_tests::process::{Spawned, spawn_with_stdin, wait_for};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

const PROBE: &str = env!("CARGO_BIN_EXE_net_probe");

/// Whose pid `LISTEN_PID` names.
#[derive(Clone, Copy)]
enum Pid {
    /// The child's own, set just before it execs (as systemd does).
    Own,
    /// Another process's (pid 1).
    Other,
}

/// `net_probe listen ADDR` with `fd3` at descriptor 3 and `env` (`LISTEN_FDS`,
/// `LISTEN_FDNAMES`, `NOTIFY_SOCKET`...), and `LISTEN_PID` as `pid` says.
fn activated(fd3: impl Into<Stdio>, env: &[(&str, &str)], addr: &str, pid: Pid) -> Spawned {
    activated_as("3<&0", fd3, env, addr, pid)
}

/// [`activated`], with `fd3` copied to the descriptors `moves` says (`3<&0 4<&0`: at 3
/// and 4).
fn activated_as(
    moves: &str,
    fd3: impl Into<Stdio>,
    env: &[(&str, &str)],
    addr: &str,
    pid: Pid,
) -> Spawned {
    let pid = match pid {
        Pid::Own => "$$",
        Pid::Other => "1",
    };
    let script = format!(r#"exec {moves} 0</dev/null; export LISTEN_PID={pid}; exec "$0" "$@""#);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .arg(PROBE)
        .args(["listen", addr])
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_FDNAMES")
        .envs(env.iter().copied());
    spawn_with_stdin(&mut command, fd3.into())
}

/// A listening socket on a free loopback port, and its address.
fn loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// The address the child says it serves on (`serving ADDR`).
fn serving(child: &Spawned) -> SocketAddr {
    child.wait_stdout("serving ", Duration::from_secs(10));
    let stdout = child.stdout_text();
    let line = stdout.lines().find(|l| l.starts_with("serving ")).unwrap();
    line["serving ".len()..].parse().unwrap()
}

/// What the server at `addr` answers.
fn hello(addr: SocketAddr) -> String {
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    answer
}

/// Stops the child with SIGTERM; its exit code and stderr.
fn stop(child: Spawned) -> (Option<i32>, String) {
    child.signal("-TERM");
    let (code, stderr, _) = wait_for(child, Duration::from_secs(10)).expect("did not exit");
    (code, stderr)
}

/// Waits for a child that ends by itself; its exit code and stderr.
fn ended(child: Spawned) -> (Option<i32>, String) {
    let (code, stderr, _) = wait_for(child, Duration::from_secs(10)).expect("did not exit");
    (code, stderr)
}

const ACTIVATED: &[(&str, &str)] = &[("LISTEN_FDS", "1"), ("LISTEN_FDNAMES", "http")];

#[test]
fn a_process_started_like_systemd_serves_on_the_socket_it_was_given_without_binding() {
    let (socket, addr) = loopback();
    // declared on the very address the socket holds: a bind of its own would fail
    let child = activated(
        OwnedFd::from(socket),
        ACTIVATED,
        &addr.to_string(),
        Pid::Own,
    );
    assert_eq!(serving(&child), addr);
    assert_eq!(hello(addr), format!("hello from {}\n", child.id()));
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("activated=true"), "{stderr}");
}

#[test]
fn one_socket_passed_twice_under_its_name_is_no_error() {
    // a socket unit's descriptor and the store's copy of it, both named `http`
    let (socket, addr) = loopback();
    let env = [("LISTEN_FDS", "2"), ("LISTEN_FDNAMES", "http:http")];
    let child = activated_as(
        "3<&0 4<&0",
        OwnedFd::from(socket),
        &env,
        &addr.to_string(),
        Pid::Own,
    );
    assert_eq!(serving(&child), addr);
    assert_eq!(hello(addr), format!("hello from {}\n", child.id()));
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn listen_fds_for_another_process_are_ignored() {
    let (socket, passed) = loopback();
    let child = activated(OwnedFd::from(socket), ACTIVATED, "127.0.0.1:0", Pid::Other);
    let addr = serving(&child);
    assert_ne!(addr, passed, "took a socket passed to another process");
    assert_eq!(hello(addr), format!("hello from {}\n", child.id()));
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("activated=false"), "{stderr}");
}

#[test]
fn a_count_that_does_not_match_the_names_fails_start() {
    for (count, problem) in [
        (
            "2",
            "LISTEN_FDS is 2, but LISTEN_FDNAMES names 1 descriptor(s) (`http`)",
        ),
        ("two", "LISTEN_FDS is `two`, not a number of descriptors"),
    ] {
        let (socket, _) = loopback();
        let env = [("LISTEN_FDS", count), ("LISTEN_FDNAMES", "http")];
        let child = activated(OwnedFd::from(socket), &env, "127.0.0.1:0", Pid::Own);
        let (code, stderr) = ended(child);
        assert_eq!(code, Some(1), "{stderr}");
        let expected = format!(
            "exiting with failure: the app did not start: listener `http`: socket activation: {problem}"
        );
        assert!(stderr.contains(&expected), "{stderr}");
    }
}

#[test]
fn a_descriptor_that_is_not_a_socket_fails_start() {
    let not_a_socket = File::open("/dev/null").unwrap();
    let child = activated(not_a_socket, ACTIVATED, "127.0.0.1:0", Pid::Own);
    let (code, stderr) = ended(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "listener `http`: socket activation: descriptor 3 (`http` in LISTEN_FDNAMES) is not a TCP socket"
        ),
        "{stderr}"
    );
}

#[test]
fn a_socket_passed_under_another_name_is_left_alone_and_the_bind_error_says_so() {
    let (socket, addr) = loopback();
    let env = [("LISTEN_FDS", "1"), ("LISTEN_FDNAMES", "web")];
    let child = activated(OwnedFd::from(socket), &env, &addr.to_string(), Pid::Own);
    let (code, stderr) = ended(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("listener `http`: cannot listen on {addr}: ")),
        "{stderr}"
    );
    assert!(
        stderr.contains("socket activation passed descriptors named `web`, none `http`: name the socket `http` with `FileDescriptorName=`"),
        "{stderr}"
    );
}

/// The next datagram on `socket` and the descriptors that came with it (`SCM_RIGHTS`);
/// `None` when none comes within the socket's read timeout.
fn receive(socket: &UnixDatagram) -> Option<(String, Vec<OwnedFd>)> {
    let mut buf = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::empty(),
    );
    let received = match received {
        Ok(received) => received,
        Err(error) if error == rustix::io::Errno::AGAIN => return None,
        Err(error) => panic!("recvmsg: {error}"),
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    Some((
        String::from_utf8_lossy(&buf[..received.bytes]).into_owned(),
        fds,
    ))
}

#[test]
fn the_listeners_go_to_systemds_store_and_the_next_process_serves_on_them() {
    let dir = std::env::temp_dir().join(format!("hassette-fdstore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let notify_socket = path.to_str().unwrap();

    // the first process binds its listener itself, and hands it to the store
    let mut command = hassette_tests::process::command(PROBE, "listen");
    command
        .arg("127.0.0.1:0")
        .env("NOTIFY_SOCKET", notify_socket)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID");
    let first = hassette_tests::process::spawn(&mut command);
    let addr = serving(&first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (text, mut fds) = loop {
        assert!(Instant::now() < deadline, "no FDSTORE=1 came");
        if let Some((text, fds)) = receive(&notify)
            && text.lines().any(|l| l == "FDSTORE=1")
        {
            break (text, fds);
        }
    };
    assert!(text.lines().any(|l| l == "FDNAME=http"), "{text}");
    assert_eq!(fds.len(), 1, "{text}");
    let stored = TcpListener::from(fds.remove(0));
    assert_eq!(stored.local_addr().unwrap(), addr, "not the listener");
    assert!(
        rustix::net::sockopt::socket_acceptconn(&stored).unwrap(),
        "not listening"
    );
    let (code, stderr) = stop(first);
    assert_eq!(code, Some(0), "{stderr}");

    // systemd keeps it while no process runs: clients wait in the backlog...
    let waiting = TcpStream::connect(addr).expect("the stored socket listens");
    // ...and passes it to the next process, which serves them without binding
    let next = activated(
        OwnedFd::from(stored),
        ACTIVATED,
        &addr.to_string(),
        Pid::Own,
    );
    assert_eq!(serving(&next), addr);
    let mut answer = String::new();
    let mut waiting = waiting;
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    waiting.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, format!("hello from {}\n", next.id()));
    let (code, stderr) = stop(next);
    assert_eq!(code, Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
