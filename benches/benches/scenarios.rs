//! Hassette against the same scenarios written with bare tokio, in one process run, on a
//! hand-built multi-thread runtime with 2 workers; the targets are in the README's benchmark table.
//!
//! ```text
//! cargo bench -p hassette-benches                          # everything
//! HASSETTE_BENCH_QUICK=1 cargo bench -p hassette-benches   # much smaller and faster
//! cargo bench -p hassette-benches -- start_stop restart memory stop chain
//! cargo bench -p hassette-benches -- --guard               # exit 1 beyond a guard
//! ```
//!
//! `HASSETTE_BENCH_REPS=N` overrides the number of measured repetitions (each scenario
//! also runs one unmeasured warm-up of each side first); `HASSETTE_BENCH_CHAIN=N` the
//! length of the chain of scenario 5 (10 000). Hassette and bare tokio
//! alternate repetition by repetition, and the medians are compared.
//!
//! `--guard` (what `.ci/run` runs, in quick mode) checks the guarded numbers against
//! their bounds ([`hassette_benches::GUARDS`]) and exits with 1 when one is beyond its
//! bound, with a line naming the scenario, the number and the bound. A scenario beyond
//! its bound is measured again once, and fails only if it is beyond it again: a moment
//! of load on a shared machine does not fail the run, a regression fails both times.
//!
//! The final table, between `<!-- bench:begin -->` and `<!-- bench:end -->` with the
//! date and commit of the run, is the README's (`bash benches/readme-table.sh` runs the
//! full benchmark and puts it there).
//!
//! The compile cost of a `#[service]` type is measured apart, by a script that builds a
//! generated crate with 1 and with N service types (default 64, in debug and release):
//!
//! ```text
//! bash benches/compile-cost.sh [N] [debug|release|both]
//! ```

use std::future::Future;
use std::time::{Duration, SystemTime};

use hassette_benches::{
    MemSample, Row, bare_chain, bare_idle_memory, bare_restart, bare_start_stop, bare_stop, count,
    guard, hassette_add_remove, hassette_chain, hassette_children, hassette_churn,
    hassette_idle_memory, hassette_restart, hassette_start_stop, hassette_stop, median, names,
    table, time,
};
use tokio::runtime::Runtime;

/// A scenario: what it measured, its rows of the table and its guarded number.
type Scenario = fn(&Runtime, &Config) -> Measured;

const SCENARIOS: [(&str, Scenario); 8] = [
    ("start_stop", start_stop),
    ("restart", restart),
    ("memory", memory),
    ("stop", stop),
    ("chain", chain),
    ("add_remove", add_remove),
    ("children", children),
    ("churn", churn),
];

struct Config {
    quick: bool,
    reps: usize,
    start_stop: usize,
    restart_cycles: u64,
    idle: usize,
    memory_reps: usize,
    stop_sizes: [usize; 3],
    chain: usize,
    children: usize,
    churn: usize,
}

impl Config {
    fn from_env() -> Self {
        let quick = std::env::var("HASSETTE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut config = if quick {
            Config {
                quick,
                reps: 9,
                // The guarded scenarios at the sizes of their targets: a start + stop of
                // 1 000 is dominated by fixed costs, and 10 000 restart cycles are what
                // made an O(n) budget window show (40-60x bare tokio).
                start_stop: 10_000,
                restart_cycles: 10_000,
                idle: 10_000,
                memory_reps: 1,
                stop_sizes: [1_000, 5_000, 10_000],
                chain: 10_000,
                children: 10_000,
                churn: 20_000,
            }
        } else {
            Config {
                quick,
                reps: 9,
                start_stop: 10_000,
                restart_cycles: 10_000,
                idle: 100_000,
                memory_reps: 3,
                stop_sizes: [10_000, 50_000, 100_000],
                chain: 10_000,
                children: 100_000,
                churn: 1_000_000,
            }
        };
        if let Some(reps) = std::env::var("HASSETTE_BENCH_REPS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.reps = reps;
            config.memory_reps = reps;
        }
        if let Some(n) = std::env::var("HASSETTE_BENCH_CHAIN")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.chain = n;
        }
        config
    }
}

/// What one scenario measured.
struct Measured {
    rows: Vec<Row>,
    /// Its number for its guard (see [`hassette_benches::GUARDS`]), if it has one.
    guarded: Option<f64>,
}

/// Runs `fut` as a task on the runtime's workers (not on the main thread) and waits.
fn run<F>(rt: &Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async move { tokio::spawn(fut).await.expect("the scenario panicked") })
}

/// One warm-up of each side, then `reps` alternating repetitions.
fn measure<T>(
    reps: usize,
    mut hassette: impl FnMut() -> T,
    mut bare: impl FnMut() -> T,
) -> (Vec<T>, Vec<T>) {
    let _ = hassette();
    let _ = bare();
    let mut h = Vec::with_capacity(reps);
    let mut b = Vec::with_capacity(reps);
    for _ in 0..reps {
        h.push(hassette());
        b.push(bare());
    }
    (h, b)
}

fn ns(values: &[Duration]) -> Vec<f64> {
    values.iter().map(|d| d.as_nanos() as f64).collect()
}

fn spread(values: &[f64], show: impl Fn(f64) -> String) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "median {} (min {}, max {}, n={})",
        show(median(values)),
        show(min),
        show(max),
        values.len()
    )
}

/// The target column and whether it is met, from the scenario's guard.
fn targeted(scenario: &str, value: f64) -> (String, Option<bool>) {
    let guard = guard(scenario).expect("a guarded scenario");
    (guard.target_text(), Some(guard.met(value)))
}

fn start_stop(rt: &Runtime, config: &Config) -> Measured {
    let n = config.start_stop;
    let list = names(n);
    let (h, b) = measure(
        config.reps,
        || run(rt, hassette_start_stop(list.clone())),
        || run(rt, bare_start_stop(n)),
    );
    let (h, b) = (ns(&h), ns(&b));
    println!("\n## 1. start + stop of {} trivial services", count(n));
    println!("hassette:   {}", spread(&h, time));
    println!("bare tokio: {}", spread(&b, time));
    let (mh, mb) = (median(&h), median(&b));
    let per = n as f64;
    println!(
        "per service: hassette {}, bare {}",
        time(mh / per),
        time(mb / per)
    );
    let ratio = mh / mb;
    let (target, met) = targeted("start_stop", ratio);
    Measured {
        rows: vec![Row {
            scenario: format!("start + stop of {} trivial services", count(n)),
            hassette: format!("{} ({}/svc)", time(mh), time(mh / per)),
            bare: format!("{} ({}/svc)", time(mb), time(mb / per)),
            ratio,
            target,
            met,
        }],
        guarded: Some(ratio),
    }
}

fn restart(rt: &Runtime, config: &Config) -> Measured {
    let cycles = config.restart_cycles;
    let (h, b) = measure(
        config.reps,
        || run(rt, hassette_restart(cycles)),
        || run(rt, bare_restart(cycles)),
    );
    let (h, b) = (ns(&h), ns(&b));
    println!(
        "\n## 2. fail -> restart cycle, zero backoff, budget intensity u32::MAX ({} cycles, per cycle)",
        count(cycles as usize)
    );
    println!("hassette:   {}", spread(&h, time));
    println!("bare tokio: {}", spread(&b, time));
    let (mh, mb) = (median(&h), median(&b));
    let ratio = mh / mb;
    let (target, met) = targeted("restart", ratio);
    Measured {
        rows: vec![Row {
            scenario: format!(
                "fail → restart cycle, zero backoff, `intensity = u32::MAX` ({} cycles)",
                count(cycles as usize)
            ),
            hassette: time(mh),
            bare: time(mb),
            ratio,
            target,
            met,
        }],
        guarded: Some(ratio),
    }
}

fn memory(rt: &Runtime, config: &Config) -> Measured {
    let n = config.idle;
    let (h, b): (Vec<MemSample>, Vec<MemSample>) = measure(
        config.memory_reps,
        || run(rt, hassette_idle_memory(n)),
        || run(rt, bare_idle_memory(n)),
    );
    let bytes = |v: &[MemSample]| v.iter().map(|s| s.bytes_per_service).collect::<Vec<_>>();
    let allocs = |v: &[MemSample]| {
        v.iter()
            .map(|s| s.allocations_per_service)
            .collect::<Vec<_>>()
    };
    let show = |b: f64| format!("{b:.0} B");
    println!(
        "\n## 3. idle memory per running service ({} running and ready)",
        count(n)
    );
    println!("hassette:   {}", spread(&bytes(&h), show));
    println!("bare tokio: {}", spread(&bytes(&b), show));
    println!(
        "allocations made per service until ready: hassette {:.1}, bare {:.1}",
        median(&allocs(&h)),
        median(&allocs(&b))
    );
    let subscribed = h
        .iter()
        .map(|s| s.subscribed_bytes_per_service)
        .collect::<Vec<_>>();
    println!(
        "the first events() subscriber adds (the event channel's slots): {}/service",
        show(median(&subscribed))
    );
    let (mh, mb) = (median(&bytes(&h)), median(&bytes(&b)));
    let (target, met) = targeted("memory", mh);
    Measured {
        rows: vec![Row {
            scenario: format!("idle memory per running service ({} services)", count(n)),
            hassette: show(mh),
            bare: show(mb),
            ratio: mh / mb,
            target,
            met,
        }],
        guarded: Some(mh),
    }
}

fn stop(rt: &Runtime, config: &Config) -> Measured {
    println!("\n## 4. stopping many running services (time of the stop only)");
    let mut baseline = None;
    let mut rows = Vec::new();
    for n in config.stop_sizes {
        let list = names(n);
        let (h, b) = measure(
            config.reps.min(5),
            || run(rt, hassette_stop(list.clone())),
            || run(rt, bare_stop(n)),
        );
        let per = n as f64;
        let (h, b) = (ns(&h), ns(&b));
        let (mh, mb) = (median(&h) / per, median(&b) / per);
        println!(
            "{:>7} services: hassette {}, bare {}; per service: hassette {}, bare {}",
            count(n),
            spread(&h, time),
            spread(&b, time),
            time(mh),
            time(mb)
        );
        let (target, met) = match baseline {
            None => {
                baseline = Some((n, mh));
                ("linear: baseline for the rows below".to_owned(), None)
            }
            Some((n0, ns0)) => (
                format!("linear: ≤ 1.5x the {}/svc at {}", time(ns0), count(n0)),
                Some(mh <= 1.5 * ns0),
            ),
        };
        rows.push(Row {
            scenario: format!("stop {} services (per service)", count(n)),
            hassette: format!("{} ({})", time(mh), time(mh * per)),
            bare: format!("{} ({})", time(mb), time(mb * per)),
            ratio: mh / mb,
            target,
            met,
        });
    }
    Measured {
        rows,
        guarded: None,
    }
}

fn chain(rt: &Runtime, config: &Config) -> Measured {
    let n = config.chain;
    let list = names(n);
    let (h, b) = measure(
        config.reps.min(5),
        || run(rt, hassette_chain(list.clone())),
        || run(rt, bare_chain(n)),
    );
    let (h, b) = (ns(&h), ns(&b));
    println!(
        "\n## 5. a chain of {} services, each waiting at run time (`wait_ready_by_name`) for the one before it",
        count(n)
    );
    println!("hassette:   {}", spread(&h, time));
    println!("bare tokio: {}", spread(&b, time));
    let (mh, mb) = (median(&h), median(&b));
    Measured {
        rows: vec![Row {
            scenario: format!(
                "a chain of {} services, each waiting at run time for the one before",
                count(n)
            ),
            hassette: time(mh),
            bare: time(mb),
            ratio: mh / mb,
            target: "well under 1 s".into(),
            met: Some(mh < 0.5e9),
        }],
        guarded: None,
    }
}

fn add_remove(rt: &Runtime, config: &Config) -> Measured {
    let n = config.start_stop;
    let list = names(n);
    let (h, b) = measure(
        config.reps,
        || run(rt, hassette_add_remove(list.clone())),
        || run(rt, hassette_start_stop(list.clone())),
    );
    let (h, b) = (ns(&h), ns(&b));
    println!(
        "\n## 6. {} services added at run time and removed, against a static start + stop of as many (both Hassette)",
        count(n)
    );
    println!("add + remove:      {}", spread(&h, time));
    println!("static start+stop: {}", spread(&b, time));
    let (mh, mb) = (median(&h), median(&b));
    let per = n as f64;
    let ratio = mh / mb;
    let (target, met) = targeted("add_remove", ratio);
    Measured {
        rows: vec![Row {
            scenario: format!(
                "{} services added at run time and removed, one task per connection",
                count(n)
            ),
            hassette: format!("{} ({}/svc)", time(mh), time(mh / per)),
            bare: format!("{} ({}/svc) static start + stop", time(mb), time(mb / per)),
            ratio,
            target,
            met,
        }],
        guarded: Some(ratio),
    }
}

fn children(rt: &Runtime, config: &Config) -> Measured {
    let n = config.children;
    let list = names(n);
    let (took, bytes) = run(rt, hassette_children(list));
    println!(
        "\n## 7. {} live children under one parent: added in {}, {bytes:.0} B each",
        count(n),
        time(took.as_nanos() as f64)
    );
    Measured {
        rows: vec![Row {
            scenario: format!("{} live children under one parent", count(n)),
            hassette: format!(
                "{} to add, {bytes:.0} B/child",
                time(took.as_nanos() as f64)
            ),
            bare: "-".into(),
            ratio: f64::NAN,
            target: "100 000 live children".into(),
            // `hassette_children` checks that every child is live.
            met: (n >= 100_000).then_some(true),
        }],
        guarded: None,
    }
}

fn churn(rt: &Runtime, config: &Config) -> Measured {
    let cycles = config.churn;
    let churn = run(rt, hassette_churn(cycles));
    println!(
        "\n## 8. {} add + remove cycles, one at a time: {} a cycle; {} bytes live after them than before",
        count(cycles),
        time(churn.per_cycle.as_nanos() as f64),
        churn.retained_bytes
    );
    Measured {
        rows: vec![Row {
            scenario: format!(
                "heap after {} add + remove cycles ({} each)",
                count(cycles),
                time(churn.per_cycle.as_nanos() as f64)
            ),
            hassette: format!("{:+} B", churn.retained_bytes),
            bare: "-".into(),
            ratio: f64::NAN,
            target: "back to baseline (≤ 4 KB)".into(),
            met: Some(churn.retained_bytes <= 4_096),
        }],
        guarded: None,
    }
}

/// The commit measured, `git describe --always --dirty` (`unknown` without git).
fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned())
}

/// Today's date (UTC), `YYYY-MM-DD`.
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let guarding = args.iter().any(|a| a == "--guard");
    let selected: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    for s in &selected {
        assert!(
            SCENARIOS.iter().any(|(name, _)| name == s),
            "unknown scenario `{s}`; expected some of {:?}",
            SCENARIOS.map(|(name, _)| name)
        );
    }
    let wants = |name: &str| selected.is_empty() || selected.iter().any(|s| *s == name);
    let config = Config::from_env();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the tokio runtime builds");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "hassette benchmarks: tokio runtime flavor {:?}, {} workers, {cpus} CPUs, {} build, {} mode",
        rt.handle().runtime_flavor(),
        rt.metrics().num_workers(),
        if cfg!(debug_assertions) {
            "DEBUG (numbers are meaningless)"
        } else {
            "optimized"
        },
        if config.quick {
            "QUICK (HASSETTE_BENCH_QUICK)"
        } else {
            "full"
        },
    );

    let mut rows = Vec::new();
    let mut guarded = Vec::new();
    for (name, scenario) in SCENARIOS {
        if wants(name) {
            let measured = scenario(&rt, &config);
            rows.extend(measured.rows);
            if let Some(value) = measured.guarded {
                guarded.push((name, scenario, value));
            }
        }
    }

    println!(
        "\n<!-- bench:begin -->\nMeasured {} at commit `{}`: `cargo bench -p hassette-benches`, {} mode, {} repetitions, 2 tokio workers on {cpus} CPUs.\n\n{}<!-- bench:end -->",
        today(),
        commit(),
        if config.quick { "quick" } else { "full" },
        config.reps,
        table(&rows)
    );

    if guarding {
        let mut failed = false;
        println!();
        for (name, scenario, mut value) in guarded {
            let guard = guard(name).expect("a guarded scenario");
            if !guard.holds(value) {
                println!(
                    "bench guard: `{name}` at {}, beyond its guard; measuring it again once",
                    guard.show(value)
                );
                value = scenario(&rt, &config).guarded.unwrap_or(f64::NAN);
            }
            println!("{}", guard.verdict(value));
            failed |= !guard.holds(value);
        }
        if failed {
            std::process::exit(1);
        }
    }
}
