//! What to do about fire times that passed: run the latest one (on time, or late within the
//! job's grace) and report the others once.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;
use crate::zone::Zone;

/// A fire this late still counts as on time whatever the policy: the console's timer wakes
/// up a little after the fire time, and a busy machine may be a few seconds later still.
pub const ON_TIME: SignedDuration = SignedDuration::from_secs(60);

/// Missed fires are counted up to this many (a minute job down for a week would be 10080).
const COUNT_CAP: u64 = 10_000;

/// What a job does about fire times that passed while walkie was down (or the host away).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum CatchUp {
    /// Missed fires are reported once and not run.
    #[default]
    Skip,
    /// The latest missed fire is run once if no more than `grace_s` seconds late; any
    /// earlier ones are reported.
    RunLate { grace_s: u32 },
}

/// Fire times that passed without a run: reported once, in one notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missed {
    pub first: Timestamp,
    pub last: Timestamp,
    /// How many; None when more than 10000.
    pub count: Option<u64>,
}

impl Missed {
    /// For the notice, in the job's zone: "missed Tue 1 Dec 2026 09:00 CET", or
    /// "missed 4 runs, Tue 1 Dec 2026 09:00 CET to Fri 4 Dec 2026 09:00 CET". The console
    /// adds why ("while walkie was down").
    pub fn describe(&self, zone: &Zone) -> String {
        let (first, last) = (zone.show(self.first), zone.show(self.last));
        match self.count {
            Some(1) => format!("missed {first}"),
            Some(n) => format!("missed {n} runs, {first} to {last}"),
            None => format!("missed more than {COUNT_CAP} runs, {first} to {last}"),
        }
    }
}

/// The decision for one job at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatchUpDecision {
    /// The fire time to run now (at most one).
    pub run: Option<Timestamp>,
    pub missed: Option<Missed>,
    /// Every fire at or before this has been run or reported: store it as the job's `settled`.
    pub settled: Timestamp,
}

/// Decides which fire (at most one) to run and which to report, for fires after `settled`
/// (the job's last handled fire, or its creation) up to `now`. Returns None when no fire has
/// come due. Deciding again with the returned `settled` and the same `now` gives None: a
/// fire is never run or reported twice.
pub fn decide(
    schedule: &Schedule,
    zone: &Zone,
    policy: CatchUp,
    settled: Timestamp,
    now: Timestamp,
) -> Option<CatchUpDecision> {
    let (since, now_s) = (settled.as_second(), now.as_second());
    // Forward first: it stops at the first fire, so a tick with nothing due costs one search.
    let first = schedule.next_after_s(zone, since).filter(|f| *f <= now_s)?;
    let last = schedule
        .last_at_or_before_s(zone, now_s)
        .filter(|l| *l >= first)?;
    let late = now_s - last;
    let grace = match policy {
        CatchUp::Skip => 0,
        CatchUp::RunLate { grace_s } => i64::from(grace_s),
    };
    let run = late <= ON_TIME.as_secs().max(grace);
    // The missed ones: all due fires, less the one run.
    let missed_until = if run {
        schedule
            .last_at_or_before_s(zone, last - 1)
            .filter(|l| *l > since)
    } else {
        Some(last)
    };
    let missed = missed_until.and_then(|until| {
        Some(Missed {
            first: Timestamp::from_second(first).ok()?,
            last: Timestamp::from_second(until).ok()?,
            count: schedule.count_between(zone, since, until, COUNT_CAP),
        })
    });
    Some(CatchUpDecision {
        run: if run {
            Timestamp::from_second(last).ok()
        } else {
            None
        },
        missed,
        settled: Timestamp::from_second(last).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn daily_nine() -> (Schedule, Zone) {
        (
            Schedule::cron("0 9 * * *").unwrap(),
            Zone::named("UTC").unwrap(),
        )
    }

    #[test]
    fn on_time_fire_runs_with_either_policy() {
        let (s, z) = daily_nine();
        for policy in [CatchUp::Skip, CatchUp::RunLate { grace_s: 600 }] {
            let d = decide(
                &s,
                &z,
                policy,
                ts("2026-12-01T08:00:00Z"),
                ts("2026-12-01T09:00:02Z"),
            )
            .unwrap();
            assert_eq!(d.run, Some(ts("2026-12-01T09:00:00Z")));
            assert_eq!(d.missed, None);
            assert_eq!(d.settled, ts("2026-12-01T09:00:00Z"));
            // Asked again: nothing, never a second run.
            assert_eq!(
                decide(&s, &z, policy, d.settled, ts("2026-12-01T09:00:30Z")),
                None
            );
        }
    }

    #[test]
    fn a_clock_set_back_fires_nothing_again() {
        let (s, z) = daily_nine();
        let settled = ts("2026-12-01T09:00:00Z");
        assert_eq!(
            decide(&s, &z, CatchUp::Skip, settled, ts("2026-11-30T09:00:30Z")),
            None
        );
        assert_eq!(
            decide(&s, &z, CatchUp::Skip, settled, ts("2026-12-01T09:00:30Z")),
            None
        );
    }

    #[test]
    fn nothing_before_the_fire_time() {
        let (s, z) = daily_nine();
        assert_eq!(
            decide(
                &s,
                &z,
                CatchUp::Skip,
                ts("2026-12-01T08:00:00Z"),
                ts("2026-12-01T08:59:59Z")
            ),
            None
        );
    }

    #[test]
    fn skip_reports_every_missed_fire_in_one_notice() {
        let (s, z) = daily_nine();
        // Down from Dec 1 08:00 to Dec 4 10:00: the 1st, 2nd, 3rd and 4th at 09:00 missed.
        let d = decide(
            &s,
            &z,
            CatchUp::Skip,
            ts("2026-12-01T08:00:00Z"),
            ts("2026-12-04T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(d.run, None);
        assert_eq!(
            d.missed,
            Some(Missed {
                first: ts("2026-12-01T09:00:00Z"),
                last: ts("2026-12-04T09:00:00Z"),
                count: Some(4)
            })
        );
        assert_eq!(d.settled, ts("2026-12-04T09:00:00Z"));
        assert_eq!(
            d.missed
                .unwrap()
                .describe(&Zone::named("Europe/Berlin").unwrap()),
            "missed 4 runs, Tue 1 Dec 2026 10:00 CET to Fri 4 Dec 2026 10:00 CET"
        );
    }

    #[test]
    fn run_late_runs_the_latest_once_within_grace_and_reports_the_rest() {
        let (s, z) = daily_nine();
        let policy = CatchUp::RunLate { grace_s: 3_600 };
        let d = decide(
            &s,
            &z,
            policy,
            ts("2026-12-01T08:00:00Z"),
            ts("2026-12-03T09:45:00Z"),
        )
        .unwrap();
        assert_eq!(d.run, Some(ts("2026-12-03T09:00:00Z")));
        assert_eq!(
            d.missed,
            Some(Missed {
                first: ts("2026-12-01T09:00:00Z"),
                last: ts("2026-12-02T09:00:00Z"),
                count: Some(2)
            })
        );
        // Past the grace: reported, not run.
        let d = decide(
            &s,
            &z,
            policy,
            ts("2026-12-01T08:00:00Z"),
            ts("2026-12-01T10:00:01Z"),
        )
        .unwrap();
        assert_eq!(d.run, None);
        assert_eq!(d.missed.map(|m| m.count), Some(Some(1)));
        assert_eq!(
            d.missed.unwrap().describe(&z),
            "missed Tue 1 Dec 2026 09:00 UTC"
        );
    }

    #[test]
    fn huge_backlogs_are_capped_not_counted_forever() {
        let s = Schedule::cron("* * * * *").unwrap();
        let z = Zone::named("Europe/Berlin").unwrap();
        let d = decide(
            &s,
            &z,
            CatchUp::Skip,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-03-01T00:00:30Z"),
        )
        .unwrap();
        assert_eq!(d.run, Some(ts("2026-03-01T00:00:00Z")));
        let missed = d.missed.unwrap();
        assert_eq!(missed.first, ts("2026-01-01T00:01:00Z"));
        assert_eq!(missed.last, ts("2026-02-28T23:59:00Z"));
        assert_eq!(missed.count, None);
        assert_eq!(
            missed.describe(&z),
            "missed more than 10000 runs, Thu 1 Jan 2026 01:01 CET to Sun 1 Mar 2026 00:59 CET"
        );
    }

    #[test]
    fn policy_serde_is_plain() {
        assert_eq!(
            serde_json::to_string(&CatchUp::Skip).unwrap(),
            r#"{"policy":"skip"}"#
        );
        let late = CatchUp::RunLate { grace_s: 900 };
        let json = serde_json::to_string(&late).unwrap();
        assert_eq!(json, r#"{"policy":"run_late","grace_s":900}"#);
        assert_eq!(serde_json::from_str::<CatchUp>(&json).unwrap(), late);
    }
}
