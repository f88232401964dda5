//! A job proposed from a voice note: "every day at nine, backend, run the tests".
//!
//! Only a few spoken shapes are recognised, each mapped onto the typed syntax, so the
//! confirmation card shows exactly what a typed `/schedule add` would have made. Anything
//! else is not a proposal (the note is then an ordinary dispatch).

use jiff::Timestamp;

use crate::job::{Draft, Target};
use crate::schedule::Schedule;
use crate::zone::Zone;

const DAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// The words of a transcript, lowercased and without punctuation, for matching; `raw` keeps
/// the original words for the text.
struct Words<'a> {
    raw: Vec<&'a str>,
    low: Vec<String>,
    at: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Words<'a> {
        let raw: Vec<&str> = text.split_whitespace().collect();
        let low = raw
            .iter()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
                    .to_lowercase()
            })
            .collect();
        Words { raw, low, at: 0 }
    }

    fn peek(&self) -> Option<&str> {
        self.low.get(self.at).map(String::as_str)
    }

    fn eat(&mut self, word: &str) -> bool {
        let hit = self.peek() == Some(word);
        self.at += usize::from(hit);
        hit
    }

    fn number(&mut self) -> Option<u32> {
        let word = self.peek()?;
        let n = walkie_words::number(word)?;
        self.at += 1;
        Some(n)
    }

    /// A spoken time: "9", "nine", "9:30", "9.30", "nine thirty", "nine forty five",
    /// "half past nine", "quarter past nine", each with an optional am/pm or o'clock.
    fn time(&mut self) -> Option<(u32, u32)> {
        let (mut hour, minute) = if self.eat("half") || self.eat("quarter") {
            let minute = if self.low[self.at - 1] == "half" {
                30
            } else {
                15
            };
            if !self.eat("past") {
                return None;
            }
            (self.number()?, minute)
        } else if let Some((h, m)) = self
            .peek()
            .and_then(|w| w.split_once([':', '.']))
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
        {
            self.at += 1;
            (h, m)
        } else {
            let hour = self.number()?;
            (hour, self.spoken_minutes().unwrap_or(0))
        };
        let next = self.peek().map(|w| w.replace('.', ""));
        match next.as_deref() {
            Some("am") => self.at += 1,
            Some("pm") => {
                self.at += 1;
                if hour < 12 {
                    hour += 12;
                }
            }
            Some("o'clock") => self.at += 1,
            _ => {}
        }
        (hour < 24 && minute < 60).then_some((hour, minute))
    }

    /// "thirty", "forty five", "forty-five", "fifteen", "oh five".
    fn spoken_minutes(&mut self) -> Option<u32> {
        let word = self.peek()?.to_string();
        if let Some(tens) = walkie_words::ten(&word) {
            self.at += 1;
            let ones = self.peek().and_then(walkie_words::digit);
            self.at += usize::from(ones.is_some());
            return Some(tens + ones.unwrap_or(0));
        }
        if let Some((t, o)) = word.split_once('-') {
            let tens = walkie_words::ten(t)?;
            let ones = walkie_words::digit(o)?;
            self.at += 1;
            return Some(tens + ones);
        }
        if word == "oh" {
            self.at += 1;
            return self.number().filter(|n| *n < 10);
        }
        let n = walkie_words::ONES[10..20].iter().position(|n| *n == word)? as u32 + 10;
        self.at += 1;
        Some(n)
    }

    /// A unit after a count: minutes or hours (singular or plural) as `m`/`h`.
    fn unit(&mut self) -> Option<char> {
        let unit = match self.peek()? {
            "minute" | "minutes" | "min" | "mins" => 'm',
            "hour" | "hours" => 'h',
            _ => return None,
        };
        self.at += 1;
        Some(unit)
    }

    /// The schedule phrase at the start, in the typed syntax.
    fn schedule(&mut self) -> Option<String> {
        if self.eat("in") {
            let n = self.number()?;
            return Some(format!("in {n}{}", self.unit()?));
        }
        if self.eat("at") {
            let (h, m) = self.time()?;
            return Some(format!("at {h:02}:{m:02}"));
        }
        if !self.eat("every") {
            return None;
        }
        if self.eat("hour") {
            return Some("0 * * * *".to_string());
        }
        if let Some(n) = self.number() {
            return Some(format!("every {n}{}", self.unit()?));
        }
        let days = match self.peek()? {
            "day" => "*".to_string(),
            "weekday" => "1-5".to_string(),
            "week" => {
                self.at += 1;
                if self.peek() != Some("day") {
                    return None;
                }
                "1-5".to_string()
            }
            word => DAYS
                .iter()
                .position(|d| *d == word || word.strip_suffix('s') == Some(d))?
                .to_string(),
        };
        self.at += 1;
        if !self.eat("at") {
            return None;
        }
        let (h, m) = self.time()?;
        Some(format!("{m} {h} * * {days}"))
    }
}

impl Draft {
    /// A proposal from a voice note's transcript: a schedule phrase, then the target session,
    /// then the text ("every weekday at 9:30, backend, triage new issues"). None when the
    /// note does not start like that.
    pub fn from_speech(transcript: &str, zone: &Zone, now: Timestamp) -> Option<Draft> {
        Draft::from_speech_routed(transcript, zone, now, |_| None)
    }

    /// [`Draft::from_speech`], with the words after the schedule phrase first given to
    /// `route` (the console's spoken-name matcher over the sessions that exist, which hears
    /// "back end," or "Back-end:" as `backend`): `Some((session, text))` makes the target
    /// that session. Otherwise the target is the one word after the phrase, as typed.
    pub fn from_speech_routed(
        transcript: &str,
        zone: &Zone,
        now: Timestamp,
        route: impl Fn(&str) -> Option<(String, String)>,
    ) -> Option<Draft> {
        let mut words = Words::new(transcript);
        let schedule = words.schedule()?;
        let rest = words.raw.get(words.at..)?.join(" ");
        let rest = rest.trim_start_matches([',', ':', ' ']);
        if let Some((session, text)) = route(rest) {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            return Some(Draft::new(
                Schedule::parse(&schedule, zone, now).ok()?,
                Target::parse(&session).ok()?,
                text.to_string(),
            ));
        }
        let target = words.low.get(words.at)?;
        let target = Target::parse(target).ok()?;
        let text = words.raw.get(words.at + 1..)?.join(" ");
        let text = text.trim_start_matches([',', ':', ' ']).trim();
        if text.is_empty() {
            return None;
        }
        Some(Draft::new(
            Schedule::parse(&schedule, zone, now).ok()?,
            target,
            text.to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn propose(text: &str) -> Option<(String, String, String)> {
        let zone = Zone::named("Europe/Berlin").unwrap();
        let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let d = Draft::from_speech(text, &zone, now)?;
        Some((d.schedule.describe(&zone), d.target.describe(), d.text))
    }

    fn words(s: &str, t: &str, x: &str) -> Option<(String, String, String)> {
        Some((s.to_string(), t.to_string(), x.to_string()))
    }

    #[test]
    fn a_name_heard_as_two_words_is_routed_by_the_matcher() {
        let zone = Zone::named("Europe/Berlin").unwrap();
        let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        // What tiny.en writes for tests/fixtures/voice/every_day_backend.ogg.
        let heard = "Every day at nine, back end, run the tests.";
        // A stand-in for the console's matcher: "back end," is `backend`.
        let route = |rest: &str| {
            rest.strip_prefix("back end, ")
                .map(|t| ("backend".to_string(), t.to_string()))
        };
        let d = Draft::from_speech_routed(heard, &zone, now, route).unwrap();
        assert_eq!(d.target.describe(), "backend");
        assert_eq!(d.text, "run the tests.");
        assert_eq!(
            d.schedule.describe(&zone),
            "every day at 09:00 (Europe/Berlin)"
        );
        // Without a matcher the first word is taken as typed: the wrong session.
        let d = Draft::from_speech(heard, &zone, now).unwrap();
        assert_eq!(d.target.describe(), "back");
        // A route with nothing after the name proposes nothing.
        assert!(
            Draft::from_speech_routed("every day at nine, backend.", &zone, now, |_| {
                Some(("backend".into(), " ".into()))
            })
            .is_none()
        );
    }

    #[test]
    fn spoken_schedules_become_the_typed_ones() {
        assert_eq!(
            propose("Every day at nine, backend, run the tests."),
            words(
                "every day at 09:00 (Europe/Berlin)",
                "backend",
                "run the tests."
            )
        );
        assert_eq!(
            propose("every weekday at 9:30 backend: triage new issues"),
            words(
                "every weekday at 09:30 (Europe/Berlin)",
                "backend",
                "triage new issues"
            )
        );
        assert_eq!(
            propose("Every week day at half past eight p.m., api, check the queue"),
            words(
                "every weekday at 20:30 (Europe/Berlin)",
                "api",
                "check the queue"
            )
        );
        assert_eq!(
            propose("every Monday at nine forty five, ops, weekly review"),
            words(
                "every Monday at 09:45 (Europe/Berlin)",
                "ops",
                "weekly review"
            )
        );
        assert_eq!(
            propose("Every Fridays at 5 pm, ops, ship it"),
            words("every Friday at 17:00 (Europe/Berlin)", "ops", "ship it")
        );
        assert_eq!(
            propose("every hour, governance, run the review"),
            words(
                "every hour on the hour (Europe/Berlin)",
                "governance",
                "run the review"
            )
        );
        assert_eq!(
            propose("every two hours, api, status"),
            words(
                "every 2h, counted from Tue 1 Dec 2026 11:00 CET (Europe/Berlin)",
                "api",
                "status"
            )
        );
        assert_eq!(
            propose("In twenty minutes, deploy, check the deploy."),
            words(
                "once, Tue 1 Dec 2026 11:20 CET (Europe/Berlin)",
                "deploy",
                "check the deploy."
            )
        );
        assert_eq!(
            propose("at 14.30, backend, merge"),
            words(
                "once, Tue 1 Dec 2026 14:30 CET (Europe/Berlin)",
                "backend",
                "merge"
            )
        );
        assert_eq!(
            propose("at seven o'clock, backend, merge"),
            words(
                "once, Wed 2 Dec 2026 07:00 CET (Europe/Berlin)",
                "backend",
                "merge"
            )
        );
    }

    #[test]
    fn other_notes_are_not_proposals() {
        for text in [
            "backend, run the tests",
            "every day, backend, run the tests",
            "every day at nine",
            "every day at nine, backend",
            "every day at twenty-five, backend, x",
            "in a while, backend, x",
            "every now and then, backend, x",
            "",
        ] {
            assert_eq!(propose(text), None, "{text:?}");
        }
    }
}
