//! The arithmetic of supervision: the sliding-window budget, the backoff attempt count
//! and the cooldown cycles. No I/O and no lock here, so it is tested on its own: a
//! [`Policy`] belongs to one supervisor, a [`RestartWindow`] to one supervisor or one
//! group's coordinator, and only its owner touches it.
//!
//! A restart's delay is decided in one place, [`Policy::delay`]: the backoff of its
//! attempt, jittered by the one draw its [`Failure`] carries. The Failed event's
//! `retry_at` ([`Policy::preview`]) and the wait ([`Policy::on_failure`]) are given the
//! same `Failure`, so they agree on the delay.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::RestartSpec;

/// What a failure leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Restart after this delay.
    RestartAfter(Duration),
    /// The budget is used up.
    Exhausted,
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
#[derive(Debug, Default)]
pub(crate) struct RestartWindow {
    /// When each restart of the current window happened, oldest first; never longer than
    /// the intensity. Made at the first restart: a service that never fails pays 8 bytes.
    #[allow(clippy::box_collection)] // 8 bytes in every supervisor instead of 32
    times: Option<Box<VecDeque<Instant>>>,
}

impl RestartWindow {
    /// Records a restart at `now` and returns true, unless `intensity` restarts already
    /// fall within the `period` before `now`: then the budget is used up (false).
    pub(crate) fn admit(&mut self, intensity: u32, period: Duration, now: Instant) -> bool {
        let times = self.times.get_or_insert_with(Box::default);
        while times
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= period)
        {
            times.pop_front();
        }
        if times.len() >= intensity as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    /// Whether [`admit`](Self::admit) would admit a restart at `now`, without recording
    /// one.
    pub(crate) fn would_admit(&self, intensity: u32, period: Duration, now: Instant) -> bool {
        let Some(times) = &self.times else {
            return intensity > 0;
        };
        let live = times
            .iter()
            .filter(|&&t| now.saturating_duration_since(t) < period)
            .count();
        live < intensity as usize
    }

    /// How many restarts the window holds.
    pub(crate) fn len(&self) -> usize {
        self.times.as_ref().map_or(0, |times| times.len())
    }

    /// A fresh budget.
    pub(crate) fn clear(&mut self) {
        if let Some(times) = &mut self.times {
            times.clear();
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Policy {
    /// The restarts of the budget's window.
    restarts: RestartWindow,
    /// Restarts since the service was last stable, for the backoff exponent.
    attempt: u32,
    /// Cooldowns used so far.
    pub(super) cooldowns: u32,
}

impl Policy {
    /// A failure (or a clean return of a permanent service): a true sliding window, at
    /// most `intensity` restarts within any `period`; the failure that would need one
    /// more exhausts the budget.
    pub(crate) fn on_failure(&mut self, spec: &RestartSpec, failure: Failure) -> Verdict {
        if !self
            .restarts
            .admit(spec.budget_intensity, spec.budget_period, failure.at)
        {
            return Verdict::Exhausted;
        }
        self.attempt = self.attempt.saturating_add(1);
        Verdict::RestartAfter(Self::delay(spec, self.attempt, failure))
    }

    /// The delay [`on_failure`](Self::on_failure) would give `failure`, without recording
    /// it (`stable`: the run had been healthy for `stable_after`); `None` when it would
    /// exhaust the budget.
    pub(crate) fn preview(
        &self,
        spec: &RestartSpec,
        failure: Failure,
        stable: bool,
    ) -> Option<Duration> {
        if !self
            .restarts
            .would_admit(spec.budget_intensity, spec.budget_period, failure.at)
        {
            return None;
        }
        let attempt = if stable { 0 } else { self.attempt };
        Some(Self::delay(spec, attempt.saturating_add(1), failure))
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

    /// The restarts in the budget's window.
    pub(crate) fn in_window(&self) -> u32 {
        u32::try_from(self.restarts.len()).unwrap_or(u32::MAX)
    }

    /// A cooldown ended, or an operator restarted the service: a fresh budget.
    pub(crate) fn reset(&mut self) {
        self.restarts.clear();
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RestartType;

    /// A failure at `t`, without jitter.
    fn at(t: Instant) -> Failure {
        Failure { at: t, sample: 0.0 }
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

    #[test]
    fn the_failure_after_intensity_restarts_in_the_window_exhausts() {
        let t0 = Instant::now();
        let mut p = Policy::default();
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
        let mut p = Policy::default();
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
        let mut p = Policy::default();
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
        let mut p = Policy::default();
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
}
