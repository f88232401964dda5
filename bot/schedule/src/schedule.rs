//! The four schedule syntaxes and their fire times: cron lines, `every DURATION`, `at TIME`
//! and `in DURATION`.

use jiff::civil::{Date, DateTime, Time};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cron::Cron;
use crate::zone::Zone;
use crate::{duration, ParseError};

/// The shortest `every`: cron's own granularity; more often than that is a typo.
const SHORTEST_EVERY: i64 = 60;

/// When a job fires. One-shot `at`/`in` are resolved to an instant when parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct Schedule(Kind);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Cron(Box<Cron>),
    /// Fires at `from + k * secs` for k = 1, 2, ...: absolute time, DST does not move it.
    Every {
        secs: i64,
        from: i64,
    },
    Once {
        at: i64,
    },
}

impl Schedule {
    /// Parses what a person typed. `now` and `zone` resolve `every` (counted from now), `at`
    /// (the next such time in the zone) and `in`.
    pub fn parse(text: &str, zone: &Zone, now: Timestamp) -> Result<Schedule, ParseError> {
        let text = text.trim();
        let now_s = now.as_second();
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim();
        let kind = match word.to_ascii_lowercase().as_str() {
            "" => return Err(ParseError::Empty),
            "every" => {
                let secs = duration::parse(rest).map_err(|e| match e {
                    ParseError::Duration(_) if !rest.is_empty() => {
                        ParseError::EveryNotDuration(rest.into())
                    }
                    other => other,
                })?;
                if secs < SHORTEST_EVERY {
                    return Err(ParseError::TooOften(rest.into()));
                }
                Kind::Every { secs, from: now_s }
            }
            "in" => Kind::Once {
                at: now_s + duration::parse(rest)?,
            },
            "at" => Kind::Once {
                at: parse_at(rest, zone, now_s)?,
            },
            _ => Kind::Cron(Box::new(Cron::parse(text)?)),
        };
        Ok(Schedule(kind))
    }

    /// A cron line alone (for stored jobs and the CLI's `--cron`).
    pub fn cron(line: &str) -> Result<Schedule, ParseError> {
        Ok(Schedule(Kind::Cron(Box::new(Cron::parse(line)?))))
    }

    /// Whether the job ends after its one fire.
    pub fn is_one_shot(&self) -> bool {
        matches!(self.0, Kind::Once { .. })
    }

    /// The first fire strictly after `after`.
    pub fn next_after(&self, zone: &Zone, after: Timestamp) -> Option<Timestamp> {
        to_ts(self.next_after_s(zone, after.as_second()))
    }

    /// The last fire at or before `at`.
    pub fn last_at_or_before(&self, zone: &Zone, at: Timestamp) -> Option<Timestamp> {
        to_ts(self.last_at_or_before_s(zone, at.as_second()))
    }

    /// The next `n` fires after `after` (for the confirmation card: three).
    pub fn upcoming(&self, zone: &Zone, after: Timestamp, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n);
        let mut t = after.as_second();
        while out.len() < n {
            match self
                .next_after_s(zone, t)
                .and_then(|next| Some((next, to_ts(Some(next))?)))
            {
                Some((next, ts)) => {
                    out.push(ts);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    pub(crate) fn next_after_s(&self, zone: &Zone, after: i64) -> Option<i64> {
        match &self.0 {
            Kind::Cron(cron) => cron.next_after(zone, after),
            Kind::Every { secs, from } => {
                let k = if after < *from {
                    0
                } else {
                    (after - from) / secs
                };
                from.checked_add(secs.checked_mul(k + 1)?)
            }
            Kind::Once { at } => (*at > after).then_some(*at),
        }
    }

    pub(crate) fn last_at_or_before_s(&self, zone: &Zone, at: i64) -> Option<i64> {
        match &self.0 {
            Kind::Cron(cron) => cron.last_at_or_before(zone, at),
            Kind::Every { secs, from } => {
                let k = at.checked_sub(*from)?.div_euclid(*secs);
                (k >= 1).then(|| from + k * secs)
            }
            Kind::Once { at: when } => (*when <= at).then_some(*when),
        }
    }

    /// Fires in (after, until], counted up to `cap`: Some(n) exactly, None if more than `cap`.
    pub(crate) fn count_between(
        &self,
        zone: &Zone,
        after: i64,
        until: i64,
        cap: u64,
    ) -> Option<u64> {
        if until <= after {
            return Some(0);
        }
        if let Kind::Every { secs, from } = &self.0 {
            let index = |t: i64| if t < *from { 0 } else { (t - from) / secs };
            return u64::try_from(index(until) - index(after))
                .ok()
                .filter(|n| *n <= cap);
        }
        let mut n = 0;
        let mut t = after;
        while let Some(next) = self.next_after_s(zone, t).filter(|next| *next <= until) {
            n += 1;
            if n > cap {
                return None;
            }
            t = next;
        }
        Some(n)
    }

    /// The schedule in words for a confirmation card: "every weekday at 09:00 (Europe/Berlin)".
    pub fn describe(&self, zone: &Zone) -> String {
        match &self.0 {
            Kind::Cron(cron) => format!("{} ({zone})", cron.describe()),
            Kind::Every { secs, from } => match to_ts(Some(*from)) {
                Some(from) => format!(
                    "every {}, counted from {} ({zone})",
                    duration::show(*secs),
                    zone.show(from)
                ),
                None => format!("every {}", duration::show(*secs)),
            },
            Kind::Once { at } => match to_ts(Some(*at)) {
                Some(at) => format!("once, {} ({zone})", zone.show(at)),
                None => "once".to_string(),
            },
        }
    }
}

fn to_ts(secs: Option<i64>) -> Option<Timestamp> {
    Timestamp::from_second(secs?).ok()
}

/// `at HH:MM` (the next such local time) or `at YYYY-MM-DD HH:MM`.
fn parse_at(text: &str, zone: &Zone, now: i64) -> Result<i64, ParseError> {
    let bad = || ParseError::At(text.to_string());
    let mut parts: Vec<&str> = text.split_whitespace().collect();
    // ISO style, `2026-12-24T09:00`.
    if let [one] = parts.as_slice() {
        if let Some((date, time)) = one.split_once('T').filter(|(d, _)| d.contains('-')) {
            parts = vec![date, time];
        }
    }
    let (date, time) = match parts.as_slice() {
        [time] if time.contains(':') => (None, parse_time(time).ok_or_else(bad)?),
        [date] if date.contains('-') => return Err(ParseError::AtNoTime(text.to_string())),
        [date, time] => {
            let date: Date = date
                .parse()
                .map_err(|_| ParseError::AtDate(date.to_string()))?;
            (Some(date), parse_time(time).ok_or_else(bad)?)
        }
        _ => return Err(bad()),
    };
    // A local time skipped by a jump forward is taken right after the jump, one shown twice
    // on its first pass: the wall-clock rule of cron jobs.
    let instant = |local: DateTime| zone.resolve(local).and_then(|l| l.fires(true)[0]);
    match date {
        Some(date) => {
            let at = instant(date.to_datetime(time)).ok_or_else(bad)?;
            if at <= now {
                let now = to_ts(Some(now)).map(|t| zone.show(t)).unwrap_or_default();
                return Err(ParseError::AtPast {
                    text: text.to_string(),
                    now,
                });
            }
            Ok(at)
        }
        None => {
            let mut day = zone.civil(now).ok_or_else(bad)?.date();
            // Today's, else tomorrow's (twice, in case a zone skips a whole day).
            for _ in 0..3 {
                if let Some(at) = instant(day.to_datetime(time)).filter(|at| *at > now) {
                    return Ok(at);
                }
                day = day.tomorrow().map_err(|_| bad())?;
            }
            Err(bad())
        }
    }
}

fn parse_time(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    let ok = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(h) || m.len() != 2 || !ok(m) {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// How a schedule is kept: the cron line as text (re-validated on load), the rest as instants.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stored {
    Cron(String),
    Every { secs: i64, from: Timestamp },
    Once { at: Timestamp },
}

impl TryFrom<Stored> for Schedule {
    type Error = ParseError;
    fn try_from(stored: Stored) -> Result<Schedule, ParseError> {
        Ok(Schedule(match stored {
            Stored::Cron(line) => Kind::Cron(Box::new(Cron::parse(&line)?)),
            Stored::Every { secs, from } if secs >= SHORTEST_EVERY => Kind::Every {
                secs,
                from: from.as_second(),
            },
            Stored::Every { secs, .. } => return Err(ParseError::TooOften(duration::show(secs))),
            Stored::Once { at } => Kind::Once { at: at.as_second() },
        }))
    }
}

impl From<Schedule> for Stored {
    fn from(schedule: Schedule) -> Stored {
        let ts = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::MIN);
        match schedule.0 {
            Kind::Cron(cron) => Stored::Cron(cron.source().to_string()),
            Kind::Every { secs, from } => Stored::Every {
                secs,
                from: ts(from),
            },
            Kind::Once { at } => Stored::Once { at: ts(at) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn zone(name: &str) -> Zone {
        Zone::named(name).unwrap()
    }

    /// The next `n` fires of a cron line after an instant, as UTC strings.
    fn fires(line: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        Schedule::cron(line)
            .unwrap()
            .upcoming(&zone(tz), ts(after), n)
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    fn last(line: &str, tz: &str, at: &str) -> Option<String> {
        Schedule::cron(line)
            .unwrap()
            .last_at_or_before(&zone(tz), ts(at))
            .map(|t| t.to_string())
    }

    #[test]
    fn berlin_spring_forward_runs_a_0230_job_once_right_after_the_gap() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-03-28T11:00:00Z", 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-31T00:30:00Z"
            ]
        );
        // From just after the jump: not again that day.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", 1),
            ["2026-03-30T00:30:00Z"]
        );
        // Two fixed times in the gap and 03:00 itself: one fire at the jump.
        assert_eq!(
            fires("0,30 2,3 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 2),
            ["2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]
        );
        // A range in the hour field is still a wall-clock job (Vixie): 02:30 runs at 03:00.
        assert_eq!(
            fires("30 1-3 * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", 3),
            [
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:30:00Z"
            ]
        );
        // Interval jobs follow real time: nothing inside the gap.
        assert_eq!(
            fires("*/30 * * * *", "Europe/Berlin", "2026-03-29T00:10:00Z", 3),
            [
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:30:00Z"
            ]
        );
        assert_eq!(
            last("30 2 * * *", "Europe/Berlin", "2026-03-29T02:00:00Z").as_deref(),
            Some("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn berlin_fall_back_runs_a_0230_job_once_on_the_first_pass() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00Z); 02:30 is 00:30Z and 01:30Z.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-24T10:00:00Z", 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
        // Asked from inside the fold, after the first 02:30: the second one is no fire.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-25T00:45:00Z", 1),
            ["2026-10-26T01:30:00Z"]
        );
        assert_eq!(
            last("30 2 * * *", "Europe/Berlin", "2026-10-25T01:45:00Z").as_deref(),
            Some("2026-10-25T00:30:00Z")
        );
        // Interval jobs run through both passes, every 30 real minutes.
        assert_eq!(
            fires("*/30 * * * *", "Europe/Berlin", "2026-10-24T23:10:00Z", 6),
            [
                "2026-10-24T23:30:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T01:30:00Z",
                "2026-10-25T02:00:00Z"
            ]
        );
        // From 02:45 CEST (first pass), the next is 02:00 CET: earlier on the wall clock.
        assert_eq!(
            fires("*/30 * * * *", "Europe/Berlin", "2026-10-25T00:45:00Z", 1),
            ["2026-10-25T01:00:00Z"]
        );
        assert_eq!(
            last("*/30 * * * *", "Europe/Berlin", "2026-10-25T01:15:00Z").as_deref(),
            Some("2026-10-25T01:00:00Z")
        );
    }

    #[test]
    fn new_york_both_transitions() {
        // 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
        assert_eq!(
            fires("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
        );
        assert_eq!(
            fires("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
        );
        assert_eq!(
            fires("0 * * * *", "America/New_York", "2026-11-01T03:30:00Z", 4),
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T07:00:00Z"
            ]
        );
        assert_eq!(
            fires("0 9 * * 1-5", "America/New_York", "2026-03-06T15:00:00Z", 2),
            ["2026-03-09T13:00:00Z", "2026-03-10T13:00:00Z"]
        );
    }

    #[test]
    fn lord_howe_half_hour_transitions() {
        // 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30Z on the 3rd).
        assert_eq!(
            fires(
                "15 2 * * *",
                "Australia/Lord_Howe",
                "2026-10-03T00:00:00Z",
                2
            ),
            ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]
        );
        // 2026-04-05 02:00 +11 -> 01:30 +10:30 (15:00Z on the 4th): 01:45 shown twice.
        assert_eq!(
            fires(
                "45 1 * * *",
                "Australia/Lord_Howe",
                "2026-04-04T00:00:00Z",
                2
            ),
            ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"]
        );
        assert_eq!(
            fires(
                "*/15 * * * *",
                "Australia/Lord_Howe",
                "2026-04-04T14:20:00Z",
                5
            ),
            [
                "2026-04-04T14:30:00Z",
                "2026-04-04T14:45:00Z",
                "2026-04-04T15:00:00Z",
                "2026-04-04T15:15:00Z",
                "2026-04-04T15:30:00Z"
            ]
        );
    }

    #[test]
    fn kolkata_and_utc() {
        // +05:30 all year; Friday 2026-12-04 to the following weekdays.
        assert_eq!(
            fires("0 9 * * 1-5", "Asia/Kolkata", "2026-12-04T04:00:00Z", 3),
            [
                "2026-12-07T03:30:00Z",
                "2026-12-08T03:30:00Z",
                "2026-12-09T03:30:00Z"
            ]
        );
        assert_eq!(
            fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
        );
        assert_eq!(
            fires("@weekly", "UTC", "2026-12-01T00:00:00Z", 1),
            ["2026-12-06T00:00:00Z"]
        );
        assert_eq!(
            last("0 0 29 2 *", "UTC", "2031-01-01T00:00:00Z").as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
    }

    #[test]
    fn every_is_absolute_time_across_dst() {
        let berlin = zone("Europe/Berlin");
        let now = ts("2026-03-28T23:30:00Z");
        let s = Schedule::parse("every 1h30m", &berlin, now).unwrap();
        let got: Vec<String> = s
            .upcoming(&berlin, now, 3)
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:30:00Z",
                "2026-03-29T04:00:00Z"
            ]
        );
        assert_eq!(s.last_at_or_before(&berlin, now), None);
        assert_eq!(
            s.last_at_or_before(&berlin, ts("2026-03-29T03:00:00Z")),
            Some(ts("2026-03-29T02:30:00Z"))
        );
        assert!(!s.is_one_shot());
    }

    #[test]
    fn at_and_in_resolve_to_one_instant() {
        let berlin = zone("Europe/Berlin");
        let now = ts("2026-12-01T10:00:00Z"); // 11:00 CET
        let once = |text: &str, now: Timestamp| {
            let s = Schedule::parse(text, &berlin, now).unwrap();
            assert!(s.is_one_shot());
            assert_eq!(s.upcoming(&berlin, now, 5).len(), 1, "{text}");
            s.next_after(&berlin, now).unwrap().to_string()
        };
        assert_eq!(once("at 14:30", now), "2026-12-01T13:30:00Z");
        assert_eq!(once("at 9:05", now), "2026-12-02T08:05:00Z");
        assert_eq!(once("at 11:00", now), "2026-12-02T10:00:00Z");
        assert_eq!(once("at 2026-12-24 09:00", now), "2026-12-24T08:00:00Z");
        assert_eq!(once("at 2026-12-24T09:00", now), "2026-12-24T08:00:00Z");
        assert_eq!(once("in 20m", now), "2026-12-01T10:20:00Z");
        assert_eq!(once("IN 1h30m", now), "2026-12-01T11:30:00Z");
        // A time the clock skips is taken right after the jump.
        assert_eq!(
            once("at 02:30", ts("2026-03-28T23:00:00Z")),
            "2026-03-29T01:00:00Z"
        );
        assert_eq!(
            once(
                "at 2026-10-25 02:30",
                now - jiff::SignedDuration::from_hours(24 * 40)
            ),
            "2026-10-25T00:30:00Z"
        );
    }

    #[test]
    fn schedule_errors_say_how_to_write_it() {
        let berlin = zone("Europe/Berlin");
        let now = ts("2026-12-01T10:00:00Z");
        let err = |text: &str| Schedule::parse(text, &berlin, now).unwrap_err().to_string();
        assert_eq!(err("  "), "empty schedule: write a cron line (`0 9 * * 1-5`), `every 2h`, `at 14:30`, `at 2026-12-24 09:00` or `in 20m`");
        assert_eq!(
            err("every 30s"),
            "`every 30s` is too often: the shortest repeat is every 1m"
        );
        assert_eq!(
            err("every weekday"),
            "`every weekday`: `weekday` is not a duration (30s, 5m, 2h, 1h30m, 1d); for days or times of day write a cron line, e.g. `0 9 * * 1-5` for every weekday at 09:00"
        );
        assert_eq!(err("every"), "`` is not a duration: write a number and a unit, largest first: 30s, 5m, 2h, 1h30m, 1d");
        assert_eq!(
            err("every 0m"),
            "`0m` is no time at all: give a duration above zero, e.g. 5m"
        );
        assert_eq!(err("in soon"), "`soon` is not a duration: write a number and a unit, largest first: 30s, 5m, 2h, 1h30m, 1d");
        assert_eq!(err("at 25:00"), "`at 25:00`: write a time as `at 14:30` or a date and time as `at 2026-12-24 09:00` (24-hour clock)");
        assert_eq!(err("at 9:5"), "`at 9:5`: write a time as `at 14:30` or a date and time as `at 2026-12-24 09:00` (24-hour clock)");
        assert_eq!(err("at noon"), "`at noon`: write a time as `at 14:30` or a date and time as `at 2026-12-24 09:00` (24-hour clock)");
        assert_eq!(
            err("at Tomorrow"),
            "`at Tomorrow`: write a time as `at 14:30` or a date and time as `at 2026-12-24 09:00` (24-hour clock)"
        );
        assert_eq!(
            err("at 2026-12-24"),
            "`at 2026-12-24`: give a time too, e.g. `at 2026-12-24 09:00`"
        );
        assert_eq!(
            err("at 2026-13-01 09:00"),
            "`2026-13-01` is not a date: write it as YYYY-MM-DD, e.g. 2026-12-24"
        );
        assert_eq!(
            err("at 2026-02-30 09:00"),
            "`2026-02-30` is not a date: write it as YYYY-MM-DD, e.g. 2026-12-24"
        );
        assert_eq!(
            err("at 2026-11-30 09:00"),
            "`at 2026-11-30 09:00` is in the past (it is now Tue 1 Dec 2026 11:00 CET)"
        );
        assert_eq!(err("0 9 * * mon-fry"), "day-of-week field `mon-fry`: `fry` is not a number or a name (write 0-7 (0 and 7 are Sunday) or sun-sat)");
    }

    #[test]
    fn words_for_the_confirmation_card() {
        let berlin = zone("Europe/Berlin");
        let now = ts("2026-12-01T10:00:00Z");
        let words = |text: &str| {
            Schedule::parse(text, &berlin, now)
                .unwrap()
                .describe(&berlin)
        };
        assert_eq!(
            words("0 9 * * 1-5"),
            "every weekday at 09:00 (Europe/Berlin)"
        );
        assert_eq!(
            words("every 2h"),
            "every 2h, counted from Tue 1 Dec 2026 11:00 CET (Europe/Berlin)"
        );
        assert_eq!(
            words("at 2026-12-24 09:00"),
            "once, Thu 24 Dec 2026 09:00 CET (Europe/Berlin)"
        );
        assert_eq!(
            words("in 20m"),
            "once, Tue 1 Dec 2026 11:20 CET (Europe/Berlin)"
        );
    }

    #[test]
    fn serde_keeps_cron_as_text_and_the_rest_as_instants() {
        let berlin = zone("Europe/Berlin");
        let now = ts("2026-12-01T10:00:00Z");
        for (text, json) in [
            ("0 9 * * 1-5", r#"{"cron":"0 9 * * 1-5"}"#),
            ("@daily", r#"{"cron":"@daily"}"#),
            (
                "every 2h",
                r#"{"every":{"secs":7200,"from":"2026-12-01T10:00:00Z"}}"#,
            ),
            ("in 20m", r#"{"once":{"at":"2026-12-01T10:20:00Z"}}"#),
        ] {
            let s = Schedule::parse(text, &berlin, now).unwrap();
            assert_eq!(serde_json::to_string(&s).unwrap(), json);
            assert_eq!(serde_json::from_str::<Schedule>(json).unwrap(), s);
        }
        assert!(serde_json::from_str::<Schedule>(
            r#"{"every":{"secs":5,"from":"2026-12-01T10:00:00Z"}}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Schedule>(r#"{"cron":"61 * * * *"}"#).is_err());
    }
}
