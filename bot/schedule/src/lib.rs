//! walkie's scheduling core: agents on a timetable.
//!
//! Pure functions only: no I/O, no clock of its own (the time is always passed in, or read
//! from an injected [`Clock`]), so the console's timer loop is a few lines and tests need no
//! real minute. Every time is computed in an explicit [`Zone`], never a silent UTC.
//!
//! - Schedules ([`Schedule::parse`]): standard 5-field cron lines (`0 9 * * 1-5`, names,
//!   ranges, steps, lists, `@hourly` ... `@yearly`), `every 2h` (absolute time from the
//!   job's creation), and one-shot `at 14:30`, `at 2026-12-24 09:00`, `in 20m`.
//! - Daylight saving follows Vixie cron: a job with fixed minute and hour (`30 2 * * *`)
//!   fires once on each day, right after the jump on a spring-forward night and on the first
//!   02:30 of a fall-back night; other jobs (`*/15 * * * *`) follow real time.
//! - Catch-up ([`decide`], [`due`]): after downtime, the latest fire runs once if the job's
//!   [`CatchUp`] grace allows, and every other missed fire is reported once; a fire is never
//!   run twice, never early.
//! - Overlap ([`Overlap::delivery`]): skip, queue or send when the target is still busy.
//!
//! # Layout
//! - `zone`: [`Zone`], and how a local time maps to instants across gaps and folds.
//! - `duration`: `30s`, `5m`, `1h30m`, `1d`.
//! - `cron`: the 5-field parser, matcher, next/last fire search and description.
//! - `schedule`: [`Schedule`]: the four syntaxes, fire times, words, serde form.
//! - `catch_up`: [`decide`]: which missed fire to run and which to report.
//! - `overlap`: [`Overlap`] and the busy-target decision.
//! - `options`: [`Options`]: `--overlap`, `--grace`, `--kill-after`, one spelling for the
//!   phone and the terminal, and the policies in words for a card.
//! - `job`: [`Job`], [`Target`], and [`Draft`] (the `/schedule add` line).
//! - `plan`: [`due`] and [`next_wake`] for the timer loop, [`Clock`].
//! - `speech`: [`Draft::from_speech`]: a job proposed by a voice note ("every day at nine,
//!   backend, run the tests").

mod catch_up;
mod cron;
mod duration;
mod job;
mod options;
mod overlap;
mod plan;
#[cfg(test)]
mod proptests;
mod schedule;
mod speech;
mod zone;

pub use catch_up::{decide, CatchUp, CatchUpDecision, Missed, ON_TIME};
pub use job::{Draft, Job, Target};
pub use options::{parse_grace, show_secs, Options};
pub use overlap::{Delivery, Overlap, TargetState};
pub use plan::{due, next_wake, Action, Clock, ManualClock, SystemClock};
pub use schedule::Schedule;
pub use zone::{Zone, ZoneError};

/// Why a schedule, target or `/schedule add` line was refused; each message says how to
/// write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty schedule: write a cron line (`0 9 * * 1-5`), `every 2h`, `at 14:30`, `at 2026-12-24 09:00` or `in 20m`")]
    Empty,
    #[error("`{line}` has {found} fields; a cron line has 5: minute hour day-of-month month day-of-week (e.g. `0 9 * * 1-5`)")]
    FieldCount { line: String, found: usize },
    #[error("{field} field `{text}`: {problem} (write {hint})")]
    Field {
        field: &'static str,
        text: String,
        problem: String,
        hint: &'static str,
    },
    #[error("`{0}` is not a cron shorthand: use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually")]
    UnknownShorthand(String),
    #[error("`{line}` never fires: day-of-month `{dom}` falls in no month of `{month}`")]
    NeverFires {
        line: String,
        dom: String,
        month: String,
    },
    #[error(
        "`{0}` is not a duration: write a number and a unit, largest first: 30s, 5m, 2h, 1h30m, 1d"
    )]
    Duration(String),
    #[error("`{0}` is no time at all: give a duration above zero, e.g. 5m")]
    ZeroDuration(String),
    #[error("`{0}` is longer than the longest duration walkie takes (366d)")]
    DurationTooLong(String),
    #[error("`every {0}`: `{0}` is not a duration (30s, 5m, 2h, 1h30m, 1d); for days or times of day write a cron line, e.g. `0 9 * * 1-5` for every weekday at 09:00")]
    EveryNotDuration(String),
    #[error("`every {0}` is too often: the shortest repeat is every 1m")]
    TooOften(String),
    #[error("`at {0}`: write a time as `at 14:30` or a date and time as `at 2026-12-24 09:00` (24-hour clock)")]
    At(String),
    #[error("`at {0}`: give a time too, e.g. `at {0} 09:00`")]
    AtNoTime(String),
    #[error("`{0}` is not a date: write it as YYYY-MM-DD, e.g. 2026-12-24")]
    AtDate(String),
    #[error("`at {text}` is in the past (it is now {now})")]
    AtPast { text: String, now: String },
    #[error("`{0}` is not a target: write a session (`backend`, `backend@host`) or a new session from a preset in a directory (`new:claude:~/src/app`, or `once:claude:~/src/app` to end it after its turn)")]
    Target(String),
    #[error("write `<schedule> <target>: <text>`, e.g. `0 9 * * 1-5 backend: triage new issues` or `in 20m api: check the deploy`")]
    AddShape,
    #[error("the text to send is missing after the `:`")]
    AddNoText,
    #[error("`{0}` is not an option: use --overlap skip|queue|send, --grace 10m, or --kill-after (for new:PRESET:DIR)")]
    UnknownOption(String),
    #[error("{option} needs a value: {hint}")]
    OptionNoValue {
        option: &'static str,
        hint: &'static str,
    },
    #[error("{option} `{value}`: write {hint}")]
    OptionValue {
        option: &'static str,
        value: String,
        hint: &'static str,
    },
    #[error("--kill-after is for a new session from a preset (`new:claude:~/src/app`); `{0}` is an existing session")]
    KillAfterNotNew(String),
}
