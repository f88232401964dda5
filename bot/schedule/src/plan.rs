//! The console's timer loop, as pure functions of the jobs and the time.
//!
//! The loop: `let now = clock.now(); for a in due(&jobs, now) { ... }`, apply each action's
//! `settled` (and delete `finished` jobs) in the store, then sleep until `next_wake`.

use std::sync::Mutex;

use jiff::Timestamp;

use crate::catch_up::{decide, Missed};
use crate::job::Job;

/// Where the time comes from, so tests need no real minute.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock(Mutex::new(start))
    }

    pub fn set(&self, now: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One job's turn at `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub job: u64,
    /// The fire time to run now (then the overlap policy decides how it is delivered).
    pub run: Option<Timestamp>,
    /// Fires to report once ("missed 09:00 while walkie was down").
    pub missed: Option<Missed>,
    /// Store as the job's `settled`.
    pub settled: Timestamp,
    /// A one-shot job whose fire was handled: delete it.
    pub finished: bool,
}

/// What is due at `now`, one action per job that has something to do. Paused jobs have
/// nothing; a one-shot job whose time passed is finished whether it ran or was missed.
pub fn due(jobs: &[Job], now: Timestamp) -> Vec<Action> {
    jobs.iter()
        .filter(|job| !job.paused)
        .filter_map(|job| {
            let d = decide(&job.schedule, &job.zone, job.catch_up, job.settled, now)?;
            Some(Action {
                job: job.id,
                run: d.run,
                missed: d.missed,
                settled: d.settled,
                finished: job.schedule.is_one_shot(),
            })
        })
        .collect()
}

/// When the loop should wake next: the earliest next fire of the jobs not paused.
pub fn next_wake(jobs: &[Job], now: Timestamp) -> Option<Timestamp> {
    jobs.iter()
        .filter(|job| !job.paused)
        .filter_map(|job| job.next_fire(now))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Draft;
    use crate::zone::Zone;
    use crate::CatchUp;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn job(id: u64, line: &str, created: &str) -> Job {
        let zone = Zone::named("Europe/Berlin").unwrap();
        let draft = Draft::parse(line, &zone, ts(created)).unwrap();
        Job::new(id, draft, zone, ts(created))
    }

    /// Runs the loop as the console would, with a manual clock: each action applied.
    fn tick(jobs: &mut Vec<Job>, clock: &dyn Clock) -> Vec<Action> {
        let actions = due(jobs, clock.now());
        for a in &actions {
            if let Some(j) = jobs.iter_mut().find(|j| j.id == a.job) {
                j.settled = a.settled;
            }
        }
        jobs.retain(|j| !actions.iter().any(|a| a.job == j.id && a.finished));
        actions
    }

    #[test]
    fn loop_fires_each_job_once_and_one_shots_go_away() {
        let created = "2026-12-01T08:00:00Z";
        let mut jobs = vec![
            job(1, "0 9 * * 1-5 backend: triage", created),
            job(2, "in 20m api: check the deploy", created),
            job(3, "every 1h ops: review", created),
        ];
        jobs[2].paused = true;
        let clock = ManualClock::new(ts(created));
        assert_eq!(
            next_wake(&jobs, clock.now()),
            Some(ts("2026-12-01T08:20:00Z"))
        );
        assert!(tick(&mut jobs, &clock).is_empty());

        clock.set(ts("2026-12-01T08:20:01Z"));
        let actions = tick(&mut jobs, &clock);
        assert_eq!(actions.len(), 1);
        assert_eq!(
            (actions[0].job, actions[0].run, actions[0].finished),
            (2, Some(ts("2026-12-01T08:20:00Z")), true)
        );
        assert_eq!(jobs.len(), 2, "the one-shot is gone");
        assert!(tick(&mut jobs, &clock).is_empty(), "never twice");

        // 09:00 Berlin is 08:00 UTC: tomorrow's.
        assert_eq!(
            next_wake(&jobs, clock.now()),
            Some(ts("2026-12-02T08:00:00Z"))
        );
        clock.set(ts("2026-12-02T08:00:00Z"));
        let actions = tick(&mut jobs, &clock);
        assert_eq!(
            actions.iter().map(|a| (a.job, a.run)).collect::<Vec<_>>(),
            [(1, Some(ts("2026-12-02T08:00:00Z")))]
        );
    }

    #[test]
    fn restart_across_a_fire_time_reports_it_once_and_does_not_double() {
        let mut jobs = vec![job(1, "0 9 * * * backend: triage", "2026-12-01T07:00:00Z")];
        let clock = ManualClock::new(ts("2026-12-01T07:59:00Z"));
        assert!(tick(&mut jobs, &clock).is_empty());
        // Down from 07:59 to 08:10 UTC: the 09:00 Berlin fire passed.
        clock.set(ts("2026-12-01T08:10:00Z"));
        let actions = tick(&mut jobs, &clock);
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].run, None);
        assert_eq!(
            actions[0].missed.map(|m| (m.first, m.count)),
            Some((ts("2026-12-01T08:00:00Z"), Some(1)))
        );
        assert!(tick(&mut jobs, &clock).is_empty());

        // With a grace of 15 minutes the same restart runs it once instead.
        let mut jobs = vec![job(1, "0 9 * * * backend: triage", "2026-12-01T07:00:00Z")];
        jobs[0].catch_up = CatchUp::RunLate { grace_s: 900 };
        let actions = tick(&mut jobs, &clock);
        assert_eq!(actions[0].run, Some(ts("2026-12-01T08:00:00Z")));
        assert_eq!(actions[0].missed, None);
        assert!(tick(&mut jobs, &clock).is_empty());
    }
}
