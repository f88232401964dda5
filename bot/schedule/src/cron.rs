//! Standard 5-field cron lines: parsing, matching local times, and the search for the next
//! (or last) fire instant in a zone.
//!
//! The rules are Vixie cron's (what Debian's cron runs): a field is "restricted" unless it
//! starts with `*`; when both day fields are restricted a day matching either fires, else
//! both must match; day-of-week 0 and 7 are Sunday. For daylight saving, a job whose minute
//! and hour fields are both fixed (no `*`) is a wall-clock job: a time skipped by a jump
//! forward fires once right after the jump, a time shown twice by a jump back fires on its
//! first pass only. Any other job follows real time: nothing fires inside the skipped hour,
//! and both passes of a repeated hour fire.

use std::ops::ControlFlow;

use jiff::civil::{Date, DateTime};

use crate::zone::Zone;
use crate::ParseError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Minute,
        Kind::Hour,
        Kind::DayOfMonth,
        Kind::Month,
        Kind::DayOfWeek,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Minute => "minute",
            Kind::Hour => "hour",
            Kind::DayOfMonth => "day-of-month",
            Kind::Month => "month",
            Kind::DayOfWeek => "day-of-week",
        }
    }

    /// The values a field takes (day-of-week 7 is folded into 0 after parsing).
    fn range(self) -> (u8, u8) {
        match self {
            Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::DayOfMonth => (1, 31),
            Kind::Month => (1, 12),
            Kind::DayOfWeek => (0, 7),
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Kind::Month => &MONTHS,
            Kind::DayOfWeek => &DAYS,
            _ => &[],
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Kind::Minute => "0-59",
            Kind::Hour => "0-23",
            Kind::DayOfMonth => "1-31",
            Kind::Month => "1-12 or jan-dec",
            Kind::DayOfWeek => "0-7 (0 and 7 are Sunday) or sun-sat",
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One field: the set of values (bit n = value n) and whether it began with `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    bits: u64,
    star: bool,
}

impl Field {
    fn has(self, value: u32) -> bool {
        value < 64 && self.bits & (1 << value) != 0
    }

    fn values(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |v| self.has(*v))
    }

    fn count(self) -> u32 {
        self.bits.count_ones()
    }
}

/// A parsed cron line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cron {
    /// The line as written (whitespace normalised), or the `@` shorthand.
    source: String,
    /// The five fields as written, for descriptions.
    texts: [String; 5],
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

/// Days searched before giving up: Feb 29 on a given weekday recurs within 28 years, but
/// every validated line fires within 8 years (Feb 29 alone skips 2100).
const SEARCH_DAYS: i32 = 8 * 366 + 7;

impl Cron {
    pub(crate) fn parse(text: &str) -> Result<Cron, ParseError> {
        let text = text.trim();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@hourly" => Some("0 * * * *"),
            "@daily" | "@midnight" => Some("0 0 * * *"),
            "@weekly" => Some("0 0 * * 0"),
            "@monthly" => Some("0 0 1 * *"),
            "@yearly" | "@annually" => Some("0 0 1 1 *"),
            _ if text.starts_with('@') => return Err(ParseError::UnknownShorthand(text.into())),
            _ => None,
        };
        let line = expanded.unwrap_or(text);
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(ParseError::FieldCount {
                line: text.to_string(),
                found: parts.len(),
            });
        }
        let mut fields = [Field {
            bits: 0,
            star: false,
        }; 5];
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            fields[i] = parse_field(kind, parts[i])?;
        }
        let [minute, hour, dom, month, mut dow] = fields;
        if dow.has(7) {
            dow.bits = (dow.bits & !(1 << 7)) | 1;
        }
        let cron = Cron {
            source: if expanded.is_some() {
                text.to_ascii_lowercase()
            } else {
                parts.join(" ")
            },
            texts: [0, 1, 2, 3, 4].map(|i| parts[i].to_string()),
            minute,
            hour,
            dom,
            month,
            dow,
        };
        cron.check_some_day_exists()?;
        Ok(cron)
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// With only the day of month restricted, some allowed month must have an allowed day
    /// (`0 0 31 2 *` never fires).
    fn check_some_day_exists(&self) -> Result<(), ParseError> {
        if self.dom.star || !self.dow.star {
            return Ok(());
        }
        let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let fires = self
            .month
            .values()
            .any(|m| self.dom.values().any(|d| d <= longest[(m - 1) as usize]));
        if fires {
            Ok(())
        } else {
            Err(ParseError::NeverFires {
                line: self.source.clone(),
                dom: self.texts[2].clone(),
                month: self.texts[3].clone(),
            })
        }
    }

    /// Wall-clock job: fixed minute and hour (see the module doc for what that changes).
    pub(crate) fn is_wall_clock(&self) -> bool {
        !self.minute.star && !self.hour.star
    }

    fn day_matches(&self, date: Date) -> bool {
        if !self.month.has(date.month() as u32) {
            return false;
        }
        let dom = self.dom.has(date.day() as u32);
        let dow = self.dow.has(date.weekday().to_sunday_zero_offset() as u32);
        if self.dom.star || self.dow.star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Calls `visit` with each matching local minute from `from` (inclusive) on, in order
    /// (latest first when not `forward`), for at most SEARCH_DAYS days.
    fn scan(
        &self,
        from: DateTime,
        forward: bool,
        mut visit: impl FnMut(DateTime) -> ControlFlow<()>,
    ) {
        let mut hours: Vec<u32> = self.hour.values().collect();
        let mut minutes: Vec<u32> = self.minute.values().collect();
        if !forward {
            hours.reverse();
            minutes.reverse();
        }
        let mut date = from.date();
        for day in 0..SEARCH_DAYS {
            if self.day_matches(date) {
                for h in &hours {
                    for m in &minutes {
                        let local = date.at(*h as i8, *m as i8, 0, 0);
                        let before_from = if forward { local < from } else { local > from };
                        if day == 0 && before_from {
                            continue;
                        }
                        if visit(local).is_break() {
                            return;
                        }
                    }
                }
            }
            match if forward {
                date.tomorrow()
            } else {
                date.yesterday()
            } {
                Ok(next) => date = next,
                Err(_) => return,
            }
        }
    }

    /// The first fire instant strictly after `after` (Unix seconds).
    pub(crate) fn next_after(&self, zone: &Zone, after: i64) -> Option<i64> {
        self.search(zone, after, true)
    }

    /// The last fire instant at or before `at` (Unix seconds).
    pub(crate) fn last_at_or_before(&self, zone: &Zone, at: i64) -> Option<i64> {
        self.search(zone, at, false)
    }

    /// The nearest fire after `t` (forward) or at or before it (backward).
    fn search(&self, zone: &Zone, t: i64, forward: bool) -> Option<i64> {
        let wall = self.is_wall_clock();
        // A local time before t's own can still fire later if a jump back is near (and one
        // after it earlier, backward): start from t's reading under the extreme offset.
        let start = Zone::local_under(t, zone.offset_bound(t, forward))?;
        let wanted = |x: i64| if forward { x > t } else { x <= t };
        let nearer = |x: i64, best: i64| if forward { x < best } else { x > best };
        let mut best: Option<i64> = None;
        self.scan(start, forward, |local| {
            let Some(resolved) = zone.resolve(local) else {
                return ControlFlow::Break(());
            };
            for x in resolved.fires(wall).into_iter().flatten() {
                if wanted(x) && best.is_none_or(|b| nearer(x, b)) {
                    best = Some(x);
                }
            }
            // Every local time still to come in the scan fires at or beyond `bound`.
            let bound = if forward {
                resolved.earliest()
            } else {
                resolved.latest()
            };
            match best {
                Some(b) if b == bound || nearer(b, bound) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        });
        best
    }

    /// Whether a local minute is in the schedule (the brute-force reference in tests uses it).
    #[cfg(test)]
    pub(crate) fn matches(&self, local: DateTime) -> bool {
        self.day_matches(local.date())
            && self.hour.has(local.hour() as u32)
            && self.minute.has(local.minute() as u32)
            && local.second() == 0
    }

    /// The line in words, without the zone: "every weekday at 09:00".
    pub(crate) fn describe(&self) -> String {
        let time = self.describe_time();
        let days = self.describe_days();
        let months = if self.month.star {
            String::new()
        } else {
            format!(
                " in {}",
                list_words(
                    self.month
                        .values()
                        .map(|m| MONTH_NAMES[(m - 1) as usize].to_string())
                )
            )
        };
        match days {
            Some(days) if time.starts_with("at ") => format!("{days} {time}{months}"),
            Some(days) if days == "every day" => format!("{time}{months}"),
            Some(days) => format!("{time}, {days}{months}"),
            None => format!("{time}{months}"),
        }
    }

    fn describe_time(&self) -> String {
        let (m, h) = (&self.texts[0], &self.texts[1]);
        let single_minute = self.minute.count() == 1 && !self.minute.star;
        if self.is_wall_clock() && (single_minute || self.hour.count() * self.minute.count() <= 4) {
            let times = self
                .hour
                .values()
                .flat_map(|h| self.minute.values().map(move |m| format!("{h:02}:{m:02}")));
            return format!("at {}", list_words(times));
        }
        let minutes = if m == "*" {
            "every minute".to_string()
        } else if let Some(step) = m.strip_prefix("*/") {
            format!("every {step} minutes")
        } else if single_minute {
            match self.minute.values().next() {
                Some(0) => "on the hour".to_string(),
                Some(v) => format!("at minute {v}"),
                None => String::new(),
            }
        } else {
            format!("at minutes {m}")
        };
        if h == "*" {
            return if single_minute {
                format!("every hour {minutes}")
            } else {
                minutes
            };
        }
        if let Some(step) = h.strip_prefix("*/") {
            return format!("every {step} hours, {minutes}");
        }
        let hours = list_words(self.hour.values().map(|h| format!("{h:02}")));
        format!(
            "{minutes} of hour{} {hours}",
            if self.hour.count() > 1 { "s" } else { "" }
        )
    }

    /// The days in words, or None for every day.
    fn describe_days(&self) -> Option<String> {
        let weekdays = || {
            let days: Vec<u32> = self.dow.values().collect();
            match days.as_slice() {
                [1, 2, 3, 4, 5] => "every weekday".to_string(),
                [0, 6] => "every Saturday and Sunday".to_string(),
                _ => format!(
                    "every {}",
                    list_words(days.iter().map(|d| DAY_NAMES[*d as usize].to_string()))
                ),
            }
        };
        let month_days = || {
            let days = list_words(self.dom.values().map(ordinal));
            if self.month.star {
                format!("on the {days} of the month")
            } else {
                format!("on the {days}")
            }
        };
        match (self.dom.star, self.dow.star) {
            (true, true) if self.texts[2] == "*" && self.texts[4] == "*" => {
                if self.month.star {
                    Some("every day".to_string())
                } else {
                    None
                }
            }
            (false, true) => Some(month_days()),
            (true, false) if self.texts[2] == "*" => Some(weekdays()),
            (false, false) => Some(format!("{} and {}", month_days(), weekdays())),
            // `*/2` in a day field: both fields apply (ANDed), say so plainly.
            _ => Some(format!(
                "on days of the month {} that are {}",
                self.texts[2],
                weekdays().trim_start_matches("every ")
            )),
        }
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// "a", "a and b", "a, b and c"; long lists are cut: "a, b, c ... and z".
fn list_words(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] if init.len() <= 6 => format!("{} and {last}", init.join(", ")),
        [init @ .., last] => format!("{} ... and {last}", init[..3].join(", ")),
    }
}

fn parse_field(kind: Kind, text: &str) -> Result<Field, ParseError> {
    let err = |problem: String| ParseError::Field {
        field: kind.name(),
        text: text.to_string(),
        problem,
        hint: kind.hint(),
    };
    let (min, max) = kind.range();
    let mut bits = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(err(
                "a list has an empty item (two commas, or one at an end)".into(),
            ));
        }
        let (span, step) = match item.split_once('/') {
            Some((span, step)) => {
                let step: u8 = step.parse().ok().filter(|s| *s >= 1).ok_or_else(|| {
                    err(format!(
                        "step `/{step}` must be a whole number from 1 to {max}"
                    ))
                })?;
                (span, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if span == "*" {
            (min, if kind == Kind::DayOfWeek { 6 } else { max })
        } else if let Some((a, b)) = span.split_once('-') {
            let (a, b) = (value(kind, a, &err)?, value(kind, b, &err)?);
            if a > b {
                return Err(err(format!(
                    "range `{span}` goes backwards: write the smaller value first, or a list (e.g. `{a}-{max},{min}-{b}`)"
                )));
            }
            (a, b)
        } else {
            let a = value(kind, span, &err)?;
            // `a/n` runs from a to the end of the range, as in cronie.
            (a, if step.is_some() { max } else { a })
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v = match v.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    }
    Ok(Field {
        bits,
        star: text.starts_with('*'),
    })
}

fn value(kind: Kind, text: &str, err: &impl Fn(String) -> ParseError) -> Result<u8, ParseError> {
    let (min, max) = kind.range();
    let lower = text.to_ascii_lowercase();
    if let Some(i) = kind.names().iter().position(|n| *n == lower) {
        return Ok(if kind == Kind::Month {
            i as u8 + 1
        } else {
            i as u8
        });
    }
    if let Some(ext) = text
        .chars()
        .find(|c| "LW#?".contains(c.to_ascii_uppercase()))
    {
        return Err(err(format!(
            "`{ext}` is not standard cron; walkie takes numbers, names, `*`, ranges `a-b`, steps `/n` and lists `a,b`"
        )));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(if text.is_empty() {
            "a range is missing a number".to_string()
        } else {
            format!(
                "`{text}` is not a number{}",
                if kind.names().is_empty() {
                    ""
                } else {
                    " or a name"
                }
            )
        }));
    }
    match text.parse::<u8>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(err(format!("{text} is out of range"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        Cron::parse(line).unwrap_err().to_string()
    }

    #[test]
    fn shorthands_expand_to_their_lines() {
        for (short, line) in [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@DAILY", "0 0 * * *"),
        ] {
            let a = Cron::parse(short).unwrap();
            let b = Cron::parse(line).unwrap();
            assert_eq!(
                (a.minute, a.hour, a.dom, a.month, a.dow),
                (b.minute, b.hour, b.dom, b.month, b.dow),
                "{short}"
            );
            assert_eq!(a.source(), short.to_ascii_lowercase());
        }
        assert_eq!(
            err("@reboot"),
            "`@reboot` is not a cron shorthand: use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually"
        );
    }

    #[test]
    fn ranges_steps_lists_and_names() {
        let c = Cron::parse("*/15 9-17/2 1,15 jan-mar,DEC mon-fri").unwrap();
        assert_eq!(c.minute.values().collect::<Vec<_>>(), [0, 15, 30, 45]);
        assert_eq!(c.hour.values().collect::<Vec<_>>(), [9, 11, 13, 15, 17]);
        assert_eq!(c.dom.values().collect::<Vec<_>>(), [1, 15]);
        assert_eq!(c.month.values().collect::<Vec<_>>(), [1, 2, 3, 12]);
        assert_eq!(c.dow.values().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        let c = Cron::parse("5/20 * * * *").unwrap();
        assert_eq!(c.minute.values().collect::<Vec<_>>(), [5, 25, 45]);
        let c = Cron::parse("0 0 * * */2").unwrap();
        assert_eq!(c.dow.values().collect::<Vec<_>>(), [0, 2, 4, 6]);
        assert_eq!(c.source(), "0 0 * * */2");
    }

    #[test]
    fn day_of_week_7_is_sunday_like_0() {
        let seven = Cron::parse("0 0 * * 7").unwrap();
        let zero = Cron::parse("0 0 * * 0").unwrap();
        let sun = Cron::parse("0 0 * * sun").unwrap();
        assert_eq!(seven.dow, zero.dow);
        assert_eq!(sun.dow, zero.dow);
        assert_eq!(
            Cron::parse("0 0 * * 5-7")
                .unwrap()
                .dow
                .values()
                .collect::<Vec<_>>(),
            [0, 5, 6]
        );
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 13th, or any Friday.
        let c = Cron::parse("0 0 13 * 5").unwrap();
        assert!(c.day_matches(Date::constant(2026, 1, 13))); // a Tuesday
        assert!(c.day_matches(Date::constant(2026, 1, 2))); // a Friday
        assert!(!c.day_matches(Date::constant(2026, 1, 3)));
        // A `*` day field (even `*/2`) makes both apply.
        let c = Cron::parse("0 0 */2 * 5").unwrap();
        assert!(!c.day_matches(Date::constant(2026, 1, 2))); // Friday the 2nd: even
        assert!(c.day_matches(Date::constant(2026, 1, 9))); // Friday the 9th
        assert!(!c.day_matches(Date::constant(2026, 1, 11)));
        let c = Cron::parse("0 0 13 * *").unwrap();
        assert!(!c.day_matches(Date::constant(2026, 1, 2)));
    }

    #[test]
    fn errors_say_what_is_wrong_and_how_to_write_it() {
        assert_eq!(
            err("0 9 * *"),
            "`0 9 * *` has 4 fields; a cron line has 5: minute hour day-of-month month day-of-week (e.g. `0 9 * * 1-5`)"
        );
        assert_eq!(
            err("61 * * * *"),
            "minute field `61`: 61 is out of range (write 0-59)"
        );
        assert_eq!(
            err("0 24 * * *"),
            "hour field `24`: 24 is out of range (write 0-23)"
        );
        assert_eq!(
            err("0 0 0 * *"),
            "day-of-month field `0`: 0 is out of range (write 1-31)"
        );
        assert_eq!(
            err("0 0 * 13 *"),
            "month field `13`: 13 is out of range (write 1-12 or jan-dec)"
        );
        assert_eq!(
            err("0 0 * * 8"),
            "day-of-week field `8`: 8 is out of range (write 0-7 (0 and 7 are Sunday) or sun-sat)"
        );
        assert_eq!(
            err("0 0 * * fri-mon"),
            "day-of-week field `fri-mon`: range `fri-mon` goes backwards: write the smaller value first, or a list (e.g. `5-7,0-1`) (write 0-7 (0 and 7 are Sunday) or sun-sat)"
        );
        assert_eq!(
            err("*/0 * * * *"),
            "minute field `*/0`: step `/0` must be a whole number from 1 to 59 (write 0-59)"
        );
        assert_eq!(
            err("x * * * *"),
            "minute field `x`: `x` is not a number (write 0-59)"
        );
        assert_eq!(
            err("0 0 * foo *"),
            "month field `foo`: `foo` is not a number or a name (write 1-12 or jan-dec)"
        );
        assert_eq!(
            err("0 0 1,,2 * *"),
            "day-of-month field `1,,2`: a list has an empty item (two commas, or one at an end) (write 1-31)"
        );
        assert_eq!(
            err("0 0 -3 * *"),
            "day-of-month field `-3`: a range is missing a number (write 1-31)"
        );
        assert_eq!(
            err("0 0 L * *"),
            "day-of-month field `L`: `L` is not standard cron; walkie takes numbers, names, `*`, ranges `a-b`, steps `/n` and lists `a,b` (write 1-31)"
        );
        assert!(err("0 0 ? * *").contains("`?` is not standard cron"));
        assert!(err("0 0 * * 5#2").contains("`#` is not standard cron"));
        assert_eq!(
            err("0 0 31 2,4 *"),
            "`0 0 31 2,4 *` never fires: day-of-month `31` falls in no month of `2,4`"
        );
        // Names containing the letters are not mistaken for extensions.
        assert!(Cron::parse("0 0 * jul wed").is_ok());
        // Both day fields restricted: Fridays exist even if Feb 31 does not.
        assert!(Cron::parse("0 0 31 2 fri").is_ok());
        assert!(Cron::parse("0 0 29 2 *").is_ok());
    }

    #[test]
    fn words_for_common_lines() {
        for (line, words) in [
            ("0 9 * * 1-5", "every weekday at 09:00"),
            ("30 2 * * *", "every day at 02:30"),
            ("0 9,17 * * *", "every day at 09:00 and 17:00"),
            ("0 0 * * 0", "every Sunday at 00:00"),
            ("0 8 * * sat,sun", "every Saturday and Sunday at 08:00"),
            ("0 0 1 * *", "on the 1st of the month at 00:00"),
            ("0 0 1 1 *", "on the 1st at 00:00 in January"),
            (
                "0 12 13 * 5",
                "on the 13th of the month and every Friday at 12:00",
            ),
            ("* * * * *", "every minute"),
            ("*/15 * * * *", "every 15 minutes"),
            ("0 * * * *", "every hour on the hour"),
            ("5 * * * 1", "every hour at minute 5, every Monday"),
            ("0 */2 * * *", "every 2 hours, on the hour"),
            (
                "30 9-17 * * 1-5",
                "every weekday at 09:30, 10:30, 11:30 ... and 17:30",
            ),
            (
                "0,30 9-11 * * *",
                "every day at minutes 0,30 of hours 09, 10 and 11",
            ),
            (
                "*/10 9-17 * * 1-5",
                "every 10 minutes of hours 09, 10, 11 ... and 17, every weekday",
            ),
        ] {
            assert_eq!(Cron::parse(line).unwrap().describe(), words, "{line}");
        }
    }
}
