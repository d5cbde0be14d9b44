//! The arithmetic of supervision: the sliding-window budget, the backoff attempt count
//! and the cooldown cycles. No I/O and no lock here, so it is tested on its own: a
//! [`Policy`] belongs to one supervisor; a [`RestartWindow`] to one unit (kept in its
//! record, under that lock: its supervisor decides with it, the snapshot counts it live)
//! or to one group's coordinator. Only the supervisor or the coordinator changes it.
//!
//! A restart's delay is decided in one place, [`Policy::delay`]: the backoff of its
//! attempt, jittered by the one draw its [`Failure`] carries. The Failed event's
//! `retry_at` ([`Policy::preview`]) and the wait ([`Policy::on_failure`]) are given the
//! same `Failure`, so they agree on the delay.
//!
//! What a run's end leads to is decided in one place too, [`decide`]: a pure function of
//! the restart type, the outcome's kind, the policy and its window, the spec and the
//! time. The supervisor's real decision (`on_end`, `exhaust`), the Failed event's
//! `retry_at` (`on_serve_end`) and the first start's preview (`retries_first_start`)
//! all call it; every question about a [`RestartType`] is an exhaustive `match` here
//! ([`restarts_after_clean_end`], [`retries_failures`], ...), so a new restart type is
//! decided in this file.
//!
//! A failure's kind for observers ([`FailureKind`]: error, panic, timeout, fatal) is
//! classified here too, once, and carried in the bus's `Observed::Changed`.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::{RestartSpec, RestartType, Status};

/// What a failure leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Restart after this delay.
    RestartAfter(Duration),
    /// The budget is used up.
    Exhausted,
}

/// How a run ended, as the restart decision sees it: classified once, where the run
/// ends (`driver::Outcome::kind`); a crash during the cleanup (the status Crashed) counts
/// as [`Fatal`](Self::Fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutcomeKind {
    /// `serve` returned `Ok`.
    Clean,
    /// An error while the app (or the unit) stops: not a failure.
    Closed,
    /// A fatal error: Crashed at once.
    Fatal,
    /// A failure the service marked non-retryable: it exhausts the budget at once.
    NonRetryable,
    /// Any other error or a panic: the budget decides.
    Failed,
}

/// What broke, for a failure that moved a service to Failed or Crashed: told to the
/// bus's observer with the status change (feature `metrics` labels its failures with
/// it), classified here once, from the error's `source()` chain and the status it led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// Any other error.
    Error,
    /// A hook or `serve` panicked ([`Panicked`](crate::Panicked)).
    Panic,
    /// A wait ran out: its own timeout ([`TimedOut`](crate::TimedOut)) or the shutdown
    /// deadline ([`CutOff`](crate::CutOff)).
    Timeout,
    /// A fatal error ([`Fatal`](crate::Fatal), or a `fatal(...)` type: Crashed).
    Fatal,
}

impl FailureKind {
    /// Every kind (the series of `hassette_failures_total` a removal forgets).
    #[allow(
        dead_code,
        reason = "for the metrics observer, which a build may not have"
    )]
    pub(crate) const ALL: [FailureKind; 4] = [
        FailureKind::Error,
        FailureKind::Panic,
        FailureKind::Fatal,
        FailureKind::Timeout,
    ];

    /// The kind of `error`, which moved a service to `to`: a panic, then a timeout, then
    /// [`Fatal`](crate::Fatal) anywhere in its chain, then a crash, else an error.
    pub(crate) fn of(error: &(dyn std::error::Error + Send + Sync + 'static), to: Status) -> Self {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = next {
            if e.is::<crate::Panicked>() {
                return FailureKind::Panic;
            }
            if e.is::<crate::TimedOut>() || e.is::<crate::CutOff>() || e.is::<crate::NoHeartbeat>()
            {
                return FailureKind::Timeout;
            }
            if e.is::<crate::Fatal>() {
                return FailureKind::Fatal;
            }
            next = e.source();
        }
        match to {
            Status::Crashed => FailureKind::Fatal,
            _ => FailureKind::Error,
        }
    }

    /// Its name, as metrics label it: `error`, `panic`, `timeout` or `fatal`.
    #[allow(
        dead_code,
        reason = "for the metrics observer, which a build may not have"
    )]
    pub(crate) fn label(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Panic => "panic",
            FailureKind::Timeout => "timeout",
            FailureKind::Fatal => "fatal",
        }
    }
}

/// What a run's end leads to: the output of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start again after this delay (in a group, the group restarts it).
    RestartAfter(Duration),
    /// The budget is spent: cool down for this long, then start again with a fresh one.
    CoolDown(Duration),
    /// The budget is spent and the service is done for, as [`Dead`] says.
    Exhaust(Dead),
    /// The service crashed: the app goes down.
    Crash,
    /// Nothing to do until the app stops it or someone restarts it.
    Rest,
}

/// How an exhausted service is done for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dead {
    /// A permanent service: Crashed, and the app goes down.
    CrashApp,
    /// ExhaustedDead; a critical child fails its parent (see `family`).
    Dead { escalate: bool },
}

/// The inputs of [`decide`] besides the policy and its window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending<'a> {
    /// `None` for a resource.
    pub(crate) restart_type: Option<RestartType>,
    pub(crate) kind: OutcomeKind,
    pub(crate) spec: &'a RestartSpec,
    /// The failure (or clean end) to decide on, and when.
    pub(crate) failure: Failure,
    /// The run had been healthy for `stable_after`.
    pub(crate) stable: bool,
    /// The app (or the unit) is being stopped for good.
    pub(crate) stopping: bool,
    /// The service is a child (it has a parent).
    pub(crate) child: bool,
    /// Its failure may spread (the `critical` key, see `Unit::critical`): a critical
    /// service's exhaustion crashes the app or fails its parent; another's ends it
    /// ExhaustedDead and goes no further.
    pub(crate) critical: bool,
}

/// The restart decision, in one place: what `end` leads to. With `record` it is the real
/// decision: the restart, the attempt and the cooldown it leads to are recorded in
/// `policy` and `window`; without, a preview that records nothing (the same delay, with
/// the same `Failure`). No lock and no I/O.
pub(crate) fn decide(
    policy: &mut Policy,
    window: &mut RestartWindow,
    end: Ending<'_>,
    record: bool,
) -> Decision {
    if end.kind == OutcomeKind::Fatal {
        return Decision::Crash;
    }
    let Some(restart_type) = end.restart_type else {
        return Decision::Rest;
    };
    if end.stopping
        || end.kind == OutcomeKind::Closed
        || (end.kind == OutcomeKind::Clean && !restarts_after_clean_end(restart_type))
    {
        return Decision::Rest;
    }
    let verdict = match retries_failures(restart_type) && end.kind != OutcomeKind::NonRetryable {
        false => Verdict::Exhausted,
        true if record => {
            if end.stable {
                policy.on_stable();
            }
            policy.on_failure(window, end.spec, end.failure)
        }
        true => match policy.preview(window, end.spec, end.failure, end.stable) {
            Some(delay) => Verdict::RestartAfter(delay),
            None => Verdict::Exhausted,
        },
    };
    if let Verdict::RestartAfter(delay) = verdict {
        return Decision::RestartAfter(delay);
    }
    let spec = end.spec;
    let cycles_left = spec.max_cooldown_cycles == 0 || policy.cooldowns < spec.max_cooldown_cycles;
    if cools_down(restart_type) && cycles_left {
        if record {
            policy.cooldowns += 1;
        }
        return Decision::CoolDown(spec.cooldown);
    }
    // A unit that is not critical is done for alone: its failure never spreads.
    let escalate = end.critical && end.child && escalates(restart_type);
    match end.critical && crashes_app(restart_type) && !escalate {
        true => Decision::Exhaust(Dead::CrashApp),
        false => Decision::Exhaust(Dead::Dead { escalate }),
    }
}

/// Whether a clean return of `serve` is followed by a restart.
pub(crate) fn restarts_after_clean_end(restart_type: RestartType) -> bool {
    match restart_type {
        RestartType::Permanent => true,
        RestartType::Transient | RestartType::Temporary => false,
    }
}

/// Whether a failure is restarted (within the budget).
fn retries_failures(restart_type: RestartType) -> bool {
    match restart_type {
        RestartType::Permanent | RestartType::Transient => true,
        RestartType::Temporary => false,
    }
}

/// Whether a spent budget leads to a cooldown (while cycles are left).
fn cools_down(restart_type: RestartType) -> bool {
    match restart_type {
        RestartType::Transient => true,
        RestartType::Permanent | RestartType::Temporary => false,
    }
}

/// Whether a spent budget takes the app down (unless it is a child that escalates, or a
/// unit that is not critical).
fn crashes_app(restart_type: RestartType) -> bool {
    match restart_type {
        RestartType::Permanent => true,
        RestartType::Transient | RestartType::Temporary => false,
    }
}

/// Whether an exhausted child fails its parent.
fn escalates(restart_type: RestartType) -> bool {
    match restart_type {
        RestartType::Permanent | RestartType::Transient => true,
        RestartType::Temporary => false,
    }
}

/// Whether a service added at run time is removed once it has ended (as OTP's temporary
/// children are).
pub(crate) fn removed_once_ended(restart_type: RestartType) -> bool {
    match restart_type {
        RestartType::Temporary => true,
        RestartType::Permanent | RestartType::Transient => false,
    }
}

/// A failure to decide on: when it happened, and the jitter drawn for its delay, once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure {
    /// When it happened; the delay runs from then.
    pub(crate) at: Instant,
    /// Uniform in `[0, 1]`, for [`RestartSpec::jittered`]; 0 without jitter.
    sample: f64,
}

impl Failure {
    /// A failure now, with its draw (none is made without jitter).
    pub(crate) fn now(spec: &RestartSpec) -> Self {
        let sample = if spec.backoff_jitter > 0.0 {
            fastrand::f64_inclusive()
        } else {
            0.0
        };
        Failure {
            at: Instant::now(),
            sample,
        }
    }
}

/// A true sliding window of restarts, for a service's budget and a group's alike: at
/// most `intensity` restarts within any `period`.
///
/// O(1) amortized per restart, in time and in memory, whatever the intensity: restarts
/// leave the window in one place, [`slide`](Self::slide), each once; restarts at one
/// instant (the paused clock, a burst within one clock tick) share one slot; and every
/// slot holds the count of restarts recorded up to it, so the restarts in the window are
/// one subtraction, and those in it at any other instant one binary search
/// ([`live`](Self::live)). The memory is bounded by the restarts inside one period.
#[derive(Debug, Default)]
pub(crate) struct RestartWindow {
    /// Runs of restarts at one instant, oldest first: the instant, and the count of
    /// restarts recorded (since the last [`clear`](Self::clear)) up to and including it.
    runs: VecDeque<(Instant, u64)>,
    /// The count of restarts recorded up to the last run that left the window.
    left: u64,
    /// How many runs [`slide`](Self::slide) has looked at: the work a decision does.
    #[cfg(test)]
    visits: u64,
}

impl RestartWindow {
    /// Whether a restart at `now` is within the budget: fewer than `intensity` restarts
    /// in the `period` before `now`. It does not record one (see [`admit`](Self::admit)).
    ///
    /// It slides the window to `now`: what left it by then is out for every later
    /// instant too (restarts are decided in the order they happen).
    pub(crate) fn admits(&mut self, intensity: u32, period: Duration, now: Instant) -> bool {
        self.slide(period, now) < u64::from(intensity)
    }

    /// Records a restart at `now` and returns true, unless `intensity` restarts already
    /// fall within the `period` before `now`: then the budget is used up (false).
    pub(crate) fn admit(&mut self, intensity: u32, period: Duration, now: Instant) -> bool {
        let admitted = self.admits(intensity, period, now);
        if admitted {
            self.record(now);
        }
        admitted
    }

    /// Records a restart at `now`, which [`admits`](Self::admits) allowed; at the instant
    /// of the last one (or, never expected, before it), it joins that one's slot.
    pub(crate) fn record(&mut self, now: Instant) {
        let upto = self.recorded() + 1;
        match self.runs.back_mut() {
            Some((at, count)) if *at >= now => *count = upto,
            _ => self.runs.push_back((now, upto)),
        }
    }

    /// The one place restarts leave the window: drops the runs at least `period` before
    /// `now` and returns the restarts left in it. Each run is dropped once, so O(1)
    /// amortized; the storage shrinks with the window.
    fn slide(&mut self, period: Duration, now: Instant) -> u64 {
        while let Some(&(at, upto)) = self.runs.front() {
            #[cfg(test)]
            {
                self.visits += 1;
            }
            if now.saturating_duration_since(at) < period {
                break;
            }
            self.left = upto;
            self.runs.pop_front();
        }
        if self.runs.capacity() > 16 && self.runs.len() < self.runs.capacity() / 4 {
            self.runs.shrink_to(self.runs.len() * 2);
        }
        self.recorded() - self.left
    }

    /// The count of restarts recorded since the last [`clear`](Self::clear).
    fn recorded(&self) -> u64 {
        self.runs.back().map_or(self.left, |&(_, upto)| upto)
    }

    /// The restarts within the `period` before `now`, the window left as it is: for the
    /// snapshot, at any instant after the last decision (a binary search).
    pub(crate) fn live(&self, period: Duration, now: Instant) -> u32 {
        let gone = self
            .runs
            .partition_point(|&(at, _)| now.saturating_duration_since(at) >= period);
        let before = match gone {
            0 => self.left,
            i => self.runs[i - 1].1,
        };
        u32::try_from(self.recorded() - before).unwrap_or(u32::MAX)
    }

    /// A fresh budget.
    pub(crate) fn clear(&mut self) {
        self.runs = VecDeque::new();
        self.left = 0;
    }

    /// Whether it holds no restart (a fresh budget needs no clearing).
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// How many slots it holds and has room for.
    #[cfg(test)]
    fn slots(&self) -> (usize, usize) {
        (self.runs.len(), self.runs.capacity())
    }
}

/// A supervisor's own side of its restart policy; the budget's window is kept with the
/// unit's report (see `unit`), where the snapshot counts it live, and is handed in.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    /// Restarts since the service was last stable, for the backoff exponent.
    attempt: u32,
    /// Cooldowns used so far.
    pub(super) cooldowns: u32,
}

impl Policy {
    /// Restarts since the service was last stable: the next run's `ServiceContext::attempt`.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The decision, in one place: what `failure` leads to with `attempt` restarts since
    /// the service was last stable and the restarts in `window`. A true sliding window:
    /// at most `intensity` restarts within any `period`; the failure that would need one
    /// more exhausts the budget. Records nothing.
    fn decide(
        window: &mut RestartWindow,
        spec: &RestartSpec,
        attempt: u32,
        failure: Failure,
    ) -> Verdict {
        if !window.admits(spec.budget_intensity, spec.budget_period, failure.at) {
            return Verdict::Exhausted;
        }
        Verdict::RestartAfter(Self::delay(spec, attempt.saturating_add(1), failure))
    }

    /// A failure (or a clean return of a permanent service): [`decide`](Self::decide),
    /// and record the restart it leads to.
    pub(crate) fn on_failure(
        &mut self,
        window: &mut RestartWindow,
        spec: &RestartSpec,
        failure: Failure,
    ) -> Verdict {
        let verdict = Self::decide(window, spec, self.attempt, failure);
        if let Verdict::RestartAfter(_) = verdict {
            window.record(failure.at);
            self.attempt = self.attempt.saturating_add(1);
        }
        verdict
    }

    /// The delay [`on_failure`](Self::on_failure) would give `failure`, by the same
    /// [`decide`](Self::decide), without recording it (`stable`: the run had been
    /// healthy for `stable_after`); `None` when it would exhaust the budget.
    pub(crate) fn preview(
        &self,
        window: &mut RestartWindow,
        spec: &RestartSpec,
        failure: Failure,
        stable: bool,
    ) -> Option<Duration> {
        let attempt = if stable { 0 } else { self.attempt };
        match Self::decide(window, spec, attempt, failure) {
            Verdict::RestartAfter(delay) => Some(delay),
            Verdict::Exhausted => None,
        }
    }

    /// The delay before restart number `attempt`: its backoff, jittered by the
    /// failure's draw.
    fn delay(spec: &RestartSpec, attempt: u32, failure: Failure) -> Duration {
        spec.jittered(spec.backoff_delay(attempt), failure.sample)
    }

    /// Running and ready for `stable_after`: the next failure starts from `backoff_base`
    /// again. The budget window is left alone: only a cooldown resets it.
    pub(crate) fn on_stable(&mut self) {
        self.attempt = 0;
    }

    /// A cooldown ended, or an operator restarted the service: a fresh attempt count
    /// (the caller clears the window).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RestartType;

    #[test]
    fn a_failure_kind_is_read_from_the_chain_then_the_status() {
        let panic = crate::Panicked::new("boom".to_owned());
        let timeout = crate::TimedOut {
            what: "serve",
            after: Duration::from_secs(1),
        };
        let other = std::io::Error::other("x");
        assert_eq!(FailureKind::of(&panic, Status::Failed), FailureKind::Panic);
        assert_eq!(
            FailureKind::of(&timeout, Status::Crashed),
            FailureKind::Timeout
        );
        assert_eq!(FailureKind::of(&other, Status::Failed), FailureKind::Error);
        assert_eq!(FailureKind::of(&other, Status::Crashed), FailureKind::Fatal);
        let labels: Vec<_> = FailureKind::ALL.iter().map(|kind| kind.label()).collect();
        assert_eq!(labels, ["error", "panic", "fatal", "timeout"]);
    }

    /// A failure at `t`, without jitter.
    fn at(t: Instant) -> Failure {
        Failure { at: t, sample: 0.0 }
    }

    /// A policy with its window, as a supervisor and its unit hold them.
    #[derive(Default)]
    struct Budgeted {
        policy: Policy,
        window: RestartWindow,
    }

    impl Budgeted {
        fn on_failure(&mut self, spec: &RestartSpec, failure: Failure) -> Verdict {
            self.policy.on_failure(&mut self.window, spec, failure)
        }

        fn preview(
            &mut self,
            spec: &RestartSpec,
            failure: Failure,
            stable: bool,
        ) -> Option<Duration> {
            self.policy.preview(&mut self.window, spec, failure, stable)
        }

        fn on_stable(&mut self) {
            self.policy.on_stable();
        }

        fn reset(&mut self) {
            self.policy.reset();
            self.window.clear();
        }
    }

    fn spec() -> RestartSpec {
        RestartSpec {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            budget_intensity: 3,
            budget_period: Duration::from_secs(60),
            ..RestartSpec::new(RestartType::Permanent)
        }
    }

    /// An end of `kind` for a service of `restart_type`, at `t`.
    fn end(
        spec: &RestartSpec,
        restart_type: Option<RestartType>,
        kind: OutcomeKind,
        t: Instant,
    ) -> Ending<'_> {
        Ending {
            restart_type,
            kind,
            spec,
            failure: at(t),
            stable: false,
            stopping: false,
            child: false,
            critical: true,
        }
    }

    #[test]
    fn decide_answers_each_restart_type_and_outcome() {
        use OutcomeKind::*;
        use RestartType::*;
        let spec = spec();
        let t = Instant::now();
        let one = |restart_type, kind| {
            let mut b = Budgeted::default();
            decide(
                &mut b.policy,
                &mut b.window,
                end(&spec, restart_type, kind, t),
                true,
            )
        };
        let restart = Decision::RestartAfter(Duration::from_secs(1));
        let dead = Decision::Exhaust(Dead::Dead { escalate: false });
        assert_eq!(one(Some(Permanent), Clean), restart);
        assert_eq!(one(Some(Transient), Clean), Decision::Rest);
        assert_eq!(one(Some(Temporary), Clean), Decision::Rest);
        assert_eq!(one(Some(Permanent), Failed), restart);
        assert_eq!(one(Some(Transient), Failed), restart);
        assert_eq!(one(Some(Temporary), Failed), dead);
        assert_eq!(
            one(Some(Permanent), NonRetryable),
            Decision::Exhaust(Dead::CrashApp)
        );
        assert_eq!(
            one(Some(Transient), NonRetryable),
            Decision::CoolDown(spec.cooldown)
        );
        for restart_type in [Some(Permanent), Some(Transient), Some(Temporary), None] {
            assert_eq!(one(restart_type, Fatal), Decision::Crash);
            assert_eq!(one(restart_type, Closed), Decision::Rest);
        }
        assert_eq!(one(None, Failed), Decision::Rest);
        let mut b = Budgeted::default();
        let stopping = Ending {
            stopping: true,
            ..end(&spec, Some(Permanent), Failed, t)
        };
        assert_eq!(
            decide(&mut b.policy, &mut b.window, stopping, true),
            Decision::Rest
        );
    }

    #[test]
    fn an_exhausted_child_escalates_unless_temporary() {
        use RestartType::*;
        let spec = spec();
        let t = Instant::now();
        for (restart_type, expected) in [
            (Permanent, Decision::Exhaust(Dead::Dead { escalate: true })),
            (Temporary, Decision::Exhaust(Dead::Dead { escalate: false })),
        ] {
            let mut b = Budgeted::default();
            let child = Ending {
                child: true,
                ..end(&spec, Some(restart_type), OutcomeKind::NonRetryable, t)
            };
            assert_eq!(decide(&mut b.policy, &mut b.window, child, true), expected);
        }
    }

    #[test]
    fn a_unit_that_is_not_critical_is_dead_alone_when_exhausted() {
        use RestartType::*;
        let spec = spec();
        let t = Instant::now();
        let alone = Decision::Exhaust(Dead::Dead { escalate: false });
        for child in [false, true] {
            for restart_type in [Permanent, Temporary] {
                let mut b = Budgeted::default();
                let end = Ending {
                    child,
                    critical: false,
                    ..end(&spec, Some(restart_type), OutcomeKind::NonRetryable, t)
                };
                assert_eq!(decide(&mut b.policy, &mut b.window, end, true), alone);
            }
        }
        // A transient one still cools down first; a fatal error is still a crash (the
        // service asks for it).
        let mut b = Budgeted::default();
        let cooling = Ending {
            critical: false,
            ..end(&spec, Some(Transient), OutcomeKind::NonRetryable, t)
        };
        assert_eq!(
            decide(&mut b.policy, &mut b.window, cooling, true),
            Decision::CoolDown(spec.cooldown)
        );
        let fatal = Ending {
            critical: false,
            ..end(&spec, Some(Permanent), OutcomeKind::Fatal, t)
        };
        assert_eq!(
            decide(&mut b.policy, &mut b.window, fatal, true),
            Decision::Crash
        );
    }

    #[test]
    fn a_preview_records_nothing_and_agrees_with_the_decision() {
        let spec = RestartSpec {
            max_cooldown_cycles: 1,
            budget_intensity: 1,
            ..RestartSpec::new(RestartType::Transient)
        };
        let t = Instant::now();
        let mut b = Budgeted::default();
        let failed = end(&spec, Some(RestartType::Transient), OutcomeKind::Failed, t);
        let preview = decide(&mut b.policy, &mut b.window, failed, false);
        assert_eq!(decide(&mut b.policy, &mut b.window, failed, false), preview);
        assert_eq!(decide(&mut b.policy, &mut b.window, failed, true), preview);
        assert!(matches!(preview, Decision::RestartAfter(_)));
        // The budget (1) is spent: the one cooldown cycle, counted only when decided.
        let cool = Decision::CoolDown(spec.cooldown);
        assert_eq!(decide(&mut b.policy, &mut b.window, failed, false), cool);
        assert_eq!(decide(&mut b.policy, &mut b.window, failed, true), cool);
        assert_eq!(
            decide(&mut b.policy, &mut b.window, failed, false),
            Decision::Exhaust(Dead::Dead { escalate: false })
        );
    }

    #[test]
    fn the_failure_after_intensity_restarts_in_the_window_exhausts() {
        let t0 = Instant::now();
        let mut p = Budgeted::default();
        let s = spec();
        assert_eq!(
            p.on_failure(&s, at(t0)),
            Verdict::RestartAfter(Duration::from_secs(1))
        );
        assert_eq!(
            p.on_failure(&s, at(t0 + Duration::from_secs(1))),
            Verdict::RestartAfter(Duration::from_secs(2))
        );
        assert_eq!(
            p.on_failure(&s, at(t0 + Duration::from_secs(2))),
            Verdict::RestartAfter(Duration::from_secs(4))
        );
        assert_eq!(
            p.on_failure(&s, at(t0 + Duration::from_secs(3))),
            Verdict::Exhausted
        );
    }

    #[test]
    fn the_window_slides() {
        let t0 = Instant::now();
        let mut p = Budgeted::default();
        let s = spec();
        for i in 0..3 {
            assert!(matches!(
                p.on_failure(&s, at(t0 + Duration::from_secs(i))),
                Verdict::RestartAfter(_)
            ));
        }
        // exactly one period after the first restart, that restart has left the window
        assert!(matches!(
            p.on_failure(&s, at(t0 + Duration::from_secs(60))),
            Verdict::RestartAfter(_)
        ));
        assert_eq!(
            p.on_failure(&s, at(t0 + Duration::from_secs(60))),
            Verdict::Exhausted
        );
    }

    #[test]
    fn stability_resets_the_delay_but_not_the_budget() {
        let t0 = Instant::now();
        let mut p = Budgeted::default();
        let s = spec();
        p.on_failure(&s, at(t0));
        p.on_failure(&s, at(t0));
        p.on_stable();
        assert_eq!(
            p.on_failure(&s, at(t0)),
            Verdict::RestartAfter(Duration::from_secs(1))
        );
        assert_eq!(p.on_failure(&s, at(t0)), Verdict::Exhausted);
        p.reset();
        assert!(matches!(p.on_failure(&s, at(t0)), Verdict::RestartAfter(_)));
    }

    #[test]
    fn the_preview_and_the_decision_share_the_failure_s_draw() {
        let t0 = Instant::now();
        let s = RestartSpec {
            backoff_jitter: 0.5,
            budget_intensity: 10,
            ..spec()
        };
        let mut p = Budgeted::default();
        for (sample, expected) in [(0.0, 1000), (1.0, 1000), (0.5, 3000), (1.0, 4000)] {
            let failure = Failure { at: t0, sample };
            let preview = p.preview(&s, failure, false);
            let verdict = p.on_failure(&s, failure);
            assert_eq!(verdict, Verdict::RestartAfter(preview.unwrap()));
            // backoffs 1s, 2s, 4s, 8s; shortened by half of `sample` of themselves
            assert_eq!(preview, Some(Duration::from_millis(expected)), "{sample}");
        }
    }

    #[test]
    fn no_draw_without_jitter() {
        let s = spec();
        assert_eq!(Failure::now(&s).sample, 0.0);
        let s = RestartSpec {
            backoff_jitter: 1.0,
            ..s
        };
        assert!((0.0..=1.0).contains(&Failure::now(&s).sample));
    }

    /// No budget at all and zero backoff: each failure is restarted at once, on the
    /// paused clock at the same instant.
    fn unlimited() -> RestartSpec {
        RestartSpec {
            backoff_base: Duration::ZERO,
            backoff_multiplier: 1.0,
            budget_intensity: u32::MAX,
            budget_period: Duration::from_secs(300),
            ..RestartSpec::new(RestartType::Permanent)
        }
    }

    #[test]
    fn a_million_restarts_at_one_instant_take_one_slot_and_constant_work_each() {
        let t0 = Instant::now();
        let s = unlimited();
        let mut p = Budgeted::default();
        let n: u64 = 1_000_000;
        for _ in 0..n {
            assert_eq!(p.preview(&s, at(t0), false), Some(Duration::ZERO));
            assert_eq!(
                p.on_failure(&s, at(t0)),
                Verdict::RestartAfter(Duration::ZERO)
            );
        }
        assert_eq!(p.window.slots().0, 1);
        assert_eq!(
            p.window.live(s.budget_period, t0),
            u32::try_from(n).unwrap()
        );
        // The preview and the decision each look at one slot (none while the window is
        // empty): not at the restarts before.
        assert_eq!(p.window.visits, 2 * (n - 1));
    }

    #[test]
    fn restarts_at_distinct_instants_cost_constant_work_and_the_period_s_memory() {
        let t0 = Instant::now();
        let s = RestartSpec {
            budget_period: Duration::from_millis(1),
            ..unlimited()
        };
        let mut p = Budgeted::default();
        let n: u64 = 200_000;
        let mut most = 0;
        for i in 0..n {
            let failure = at(t0 + Duration::from_micros(i));
            assert_eq!(p.preview(&s, failure, false), Some(Duration::ZERO));
            assert!(matches!(
                p.on_failure(&s, failure),
                Verdict::RestartAfter(_)
            ));
            most = most.max(p.window.slots().1);
        }
        // One period holds 1 000 restarts, one a microsecond.
        assert_eq!(p.window.slots().0, 1_000);
        assert!(most <= 4_096, "room for {most} slots");
        // Every slot is let go of once: at most one more look per slide than it keeps.
        assert!(p.window.visits <= 3 * n, "{} looks", p.window.visits);
        // A quiet stretch lets the storage go with the restarts.
        assert!(p.window.admits(
            s.budget_intensity,
            s.budget_period,
            t0 + Duration::from_secs(1)
        ));
        assert!(p.window.slots().1 <= 16, "room for {:?}", p.window.slots());
    }

    #[test]
    fn the_restarts_in_the_window_are_counted_live_at_any_instant() {
        let t0 = Instant::now();
        let s = RestartSpec {
            budget_intensity: 10,
            budget_period: Duration::from_secs(300),
            ..spec()
        };
        let mut p = Budgeted::default();
        for i in 0..3 {
            p.on_failure(&s, at(t0 + Duration::from_secs(i)));
        }
        let live = |p: &Budgeted, ms: u64| {
            p.window
                .live(s.budget_period, t0 + Duration::from_millis(ms))
        };
        assert_eq!(live(&p, 2_000), 3);
        assert_eq!(live(&p, 299_999), 3);
        // Exactly one period after a restart, it has left the window.
        assert_eq!(live(&p, 300_000), 2);
        assert_eq!(live(&p, 301_500), 1);
        assert_eq!(live(&p, 350_000), 0);
        // Counting changes nothing: the next decision still slides from the start.
        assert_eq!(p.window.slots().0, 3);
        p.on_failure(&s, at(t0 + Duration::from_millis(301_500)));
        assert_eq!(p.window.slots().0, 2);
        assert_eq!(live(&p, 301_500), 2);
        // Restarts at one instant count one each.
        p.on_failure(&s, at(t0 + Duration::from_millis(301_500)));
        assert_eq!((p.window.slots().0, live(&p, 301_500)), (2, 3));
        p.reset();
        assert_eq!(live(&p, 301_500), 0);
        assert!(p.window.is_empty());
    }
}
