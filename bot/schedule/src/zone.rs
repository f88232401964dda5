//! The job's time zone and how a local wall-clock time becomes instants.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// An IANA time zone a job is computed in. There is no default: a job never falls back to UTC
/// silently; `Zone::named("UTC")` is as explicit as any other.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

/// A zone name that the time zone database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{0}`: use an IANA name such as Europe/Berlin, America/New_York, Asia/Kolkata or UTC")]
pub struct ZoneError(pub String);

impl Zone {
    /// Looks a zone up by its IANA name (`Europe/Berlin`), case-insensitively as the database does.
    pub fn named(name: &str) -> Result<Zone, ZoneError> {
        let name = name.trim();
        let tz = jiff::tz::db()
            .get(name)
            .map_err(|_| ZoneError(name.to_string()))?;
        let name = tz.iana_name().unwrap_or(name).to_string();
        Ok(Zone { name, tz })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A fire time as a person reads it in this zone: `Thu 24 Dec 2026 09:00 CET`. The
    /// abbreviation tells the two 02:30s of a fall-back night apart.
    pub fn show(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.tz.clone())
            .strftime("%a %-d %b %Y %H:%M %Z")
            .to_string()
    }

    /// Local wall-clock time at an instant (Unix seconds).
    pub(crate) fn civil(&self, secs: i64) -> Option<DateTime> {
        Some(self.tz.to_datetime(Timestamp::from_second(secs).ok()?))
    }

    /// The wall-clock reading of an instant under a given offset (seconds), which need not be
    /// the one in force then.
    pub(crate) fn local_under(secs: i64, offset: i64) -> Option<DateTime> {
        let offset = Offset::from_seconds(i32::try_from(offset).ok()?).ok()?;
        Some(offset.to_datetime(Timestamp::from_second(secs).ok()?))
    }

    /// UTC offset in seconds at an instant.
    pub(crate) fn offset_at(&self, secs: i64) -> i64 {
        match Timestamp::from_second(secs) {
            Ok(ts) => i64::from(self.tz.to_offset(ts).seconds()),
            Err(_) => 0,
        }
    }

    /// The smallest (`lowest`) or largest offset in force from `secs` over the next (or, for
    /// the largest, the previous) day: the civil time a search must start from so that a fold
    /// near `secs` is not stepped over.
    pub(crate) fn offset_bound(&self, secs: i64, lowest: bool) -> i64 {
        const DAY: i64 = 86_400;
        let mut bound = self.offset_at(secs);
        let Ok(ts) = Timestamp::from_second(secs) else {
            return bound;
        };
        let mut take = |o: Offset| {
            let o = i64::from(o.seconds());
            bound = if lowest { bound.min(o) } else { bound.max(o) };
        };
        if lowest {
            for t in self.tz.following(ts) {
                if t.timestamp().as_second() > secs + DAY {
                    break;
                }
                take(t.offset());
            }
        } else {
            for t in self.tz.preceding(ts) {
                if t.timestamp().as_second() < secs - DAY {
                    break;
                }
                // The offset in force before this transition.
                if let Ok(before) = t
                    .timestamp()
                    .checked_sub(jiff::SignedDuration::from_secs(1))
                {
                    take(self.tz.to_offset(before));
                }
            }
        }
        bound
    }

    /// What a local wall-clock time is in real time here.
    pub(crate) fn resolve(&self, local: DateTime) -> Option<Local> {
        let naive = Offset::UTC.to_timestamp(local).ok()?.as_second();
        let off = |o: Offset| i64::from(o.seconds());
        Some(match self.tz.to_ambiguous_timestamp(local).offset() {
            AmbiguousOffset::Unambiguous { offset } => Local::One(naive - off(offset)),
            AmbiguousOffset::Gap { after, .. } => {
                // The clock jumped over `local`; the jump happened at the first transition
                // after the instant `local` would be under the new offset.
                let under_new = Timestamp::from_second(naive - off(after)).ok()?;
                let end = self.tz.following(under_new).next()?.timestamp().as_second();
                Local::Gap { end }
            }
            AmbiguousOffset::Fold { before, after } => Local::Fold {
                first: naive - off(before),
                second: naive - off(after),
            },
        })
    }
}

/// A local wall-clock time in real time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Local {
    One(i64),
    /// Skipped by a jump forward; `end` is the instant of the jump (the first time after it).
    Gap {
        end: i64,
    },
    /// Shown twice by a jump back.
    Fold {
        first: i64,
        second: i64,
    },
}

impl Local {
    /// The instants a schedule fires at for this local time. Wall-clock jobs (fixed minute
    /// and hour) fire once per local time: right after a gap, on the first of a fold. Interval
    /// jobs follow real time: nothing in a gap, both passes of a fold (Vixie cron's rule).
    pub(crate) fn fires(self, wall: bool) -> [Option<i64>; 2] {
        match self {
            Local::One(t) => [Some(t), None],
            Local::Gap { end } => [wall.then_some(end), None],
            Local::Fold { first, second } => [Some(first), (!wall).then_some(second)],
        }
    }

    /// A lower bound on the instants of this and every later local time.
    pub(crate) fn earliest(self) -> i64 {
        match self {
            Local::One(t) | Local::Gap { end: t } => t,
            Local::Fold { first, .. } => first,
        }
    }

    /// An upper bound on the instants of this and every earlier local time.
    pub(crate) fn latest(self) -> i64 {
        match self {
            Local::One(t) | Local::Gap { end: t } => t,
            Local::Fold { second, .. } => second,
        }
    }
}

impl TryFrom<String> for Zone {
    type Error = ZoneError;
    fn try_from(name: String) -> Result<Zone, ZoneError> {
        Zone::named(&name)
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> String {
        zone.name
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}
impl Eq for Zone {}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_zone_says_how_to_name_one() {
        let err = Zone::named("Europe/Berln").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown time zone `Europe/Berln`: use an IANA name such as Europe/Berlin, \
             America/New_York, Asia/Kolkata or UTC"
        );
    }

    #[test]
    fn zone_round_trips_through_serde_by_name() {
        let zone = Zone::named("Australia/Lord_Howe").unwrap();
        let json = serde_json::to_string(&zone).unwrap();
        assert_eq!(json, "\"Australia/Lord_Howe\"");
        assert_eq!(serde_json::from_str::<Zone>(&json).unwrap(), zone);
        assert!(serde_json::from_str::<Zone>("\"Mars/Olympus\"").is_err());
    }

    #[test]
    fn show_tells_the_two_passes_of_a_fold_apart() {
        let zone = Zone::named("Europe/Berlin").unwrap();
        // 2026-10-25 02:30 CEST = 00:30 UTC, 02:30 CET = 01:30 UTC.
        let first: Timestamp = "2026-10-25T00:30:00Z".parse().unwrap();
        let second: Timestamp = "2026-10-25T01:30:00Z".parse().unwrap();
        assert_eq!(zone.show(first), "Sun 25 Oct 2026 02:30 CEST");
        assert_eq!(zone.show(second), "Sun 25 Oct 2026 02:30 CET");
    }
}
