//! Feature `health` under a burst: 2 000 well-behaved clients at once, over TCP on
//! 127.0.0.1 with a real (not paused) runtime. In a test binary of its own, so that its
//! load does not skew the timeouts the other health tests measure.

use std::time::Duration;

use hassette_runtime::Hassette;
use hassette_runtime::health::HealthServer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The soft limit on this process's open files, on Linux.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_two_thousand_clients_is_answered_in_full() {
    const CLIENTS: usize = 2_000;
    if let Some(limit) = open_files_limit() {
        assert!(
            limit > CLIENTS + 256,
            "this test opens {CLIENTS} client sockets at once: raise `ulimit -n` (now {limit})"
        );
    }
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();

    // Well-behaved probes, all at once: far more than the connection cap and than a
    // default listen backlog of 128.
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        clients.spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream
                .write_all(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        });
    }
    let all = async {
        let (mut answered, mut failures) = (0, Vec::new());
        while let Some(joined) = clients.join_next().await {
            match joined.unwrap() {
                Ok(answer)
                    if answer.starts_with(b"HTTP/1.1 200 OK\r\n")
                        && answer.ends_with(b"\r\n\r\nok\n") =>
                {
                    answered += 1;
                }
                Ok(answer) => failures.push(format!("{:?}", String::from_utf8_lossy(&answer))),
                Err(error) => failures.push(error.to_string()),
            }
        }
        (answered, failures)
    };
    let (answered, failures) = tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("every client is answered within a minute");
    assert_eq!(
        answered,
        CLIENTS,
        "{} of {CLIENTS} clients were not answered in full, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(app.shutdown().await.is_success());
}
