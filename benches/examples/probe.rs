//! A profiling probe: one benchmark scenario repeated, for `perf` and `heaptrack` (the
//! benchmark itself alternates Hassette and bare tokio, which mixes their profiles).
//!
//! ```text
//! cargo build --profile bench -p hassette-benches --example probe
//! N=10000 R=60 perf record -F 2000 --call-graph dwarf,16384 \
//!     ./target/release/examples/probe start_stop
//! ```
//!
//! The scenario is the first argument: `start_stop` (the default), `bare_start_stop`,
//! `memory`, `bare_memory`, `restart` or `add_remove`; `N` is the number of services (or
//! of restart cycles), `R` the number of repetitions. It prints the first and the last
//! repetition's time and heap allocations per service.

use std::time::Duration;

use hassette_benches::{
    bare_idle_memory, bare_start_stop, hassette_add_remove, hassette_idle_memory, hassette_restart,
    hassette_start_stop, heap, names,
};

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (n, reps) = (var("N", 10_000), var("R", 20));
    let scenario = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "start_stop".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let list = names(n);
    for rep in 0..reps {
        let before = heap();
        let (list, scenario) = (list.clone(), scenario.clone());
        let took = runtime.block_on(async move {
            let task = tokio::spawn(async move {
                match scenario.as_str() {
                    "start_stop" => hassette_start_stop(list).await,
                    "bare_start_stop" => bare_start_stop(n).await,
                    "add_remove" => hassette_add_remove(list).await,
                    "restart" => hassette_restart(n as u64).await,
                    "memory" | "bare_memory" => {
                        let sample = match scenario.as_str() {
                            "memory" => hassette_idle_memory(n).await,
                            _ => bare_idle_memory(n).await,
                        };
                        println!("{scenario}: {:.0} B per service", sample.bytes_per_service);
                        Duration::ZERO
                    }
                    other => panic!("unknown scenario `{other}`"),
                }
            });
            task.await.expect("the scenario runs")
        });
        let allocations = (heap().allocations - before.allocations) as f64 / n as f64;
        if rep == 0 || rep + 1 == reps || std::env::var_os("ALL").is_some() {
            println!("repetition {rep}: {took:?}, {allocations:.2} allocations per service");
        }
    }
}
