//! A scheduled job, its target, and the `/schedule add` line.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catch_up::CatchUp;
use crate::options::Options;
use crate::overlap::Overlap;
use crate::schedule::Schedule;
use crate::zone::Zone;
use crate::ParseError;

/// Where a job's text goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// An existing session, on this host or on a named one (`backend`, `backend@build1`).
    Session { name: String, host: Option<String> },
    /// A session started from a preset in a directory when the job fires, named after the
    /// job; `kill_after_turn` ends it when its turn ends.
    NewSession {
        preset: String,
        dir: String,
        kill_after_turn: bool,
    },
}

impl Target {
    /// `name`, `name@host`, `new:PRESET:DIR` (kept) or `once:PRESET:DIR` (killed after its turn).
    /// Only the shape is checked here: the console checks the session name with the host's
    /// own `SessionName` rules, the host and preset against its config, and expands `~`.
    pub fn parse(text: &str) -> Result<Target, ParseError> {
        let text = text.trim();
        let bad = || ParseError::Target(text.to_string());
        let word_ok = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        for (prefix, kill_after_turn) in [("new:", false), ("once:", true)] {
            if let Some(rest) = text.strip_prefix(prefix) {
                let (preset, dir) = rest.split_once(':').ok_or_else(bad)?;
                if !word_ok(preset) || dir.is_empty() || dir.chars().any(char::is_whitespace) {
                    return Err(bad());
                }
                return Ok(Target::NewSession {
                    preset: preset.to_string(),
                    dir: dir.to_string(),
                    kill_after_turn,
                });
            }
        }
        let (name, host) = match text.split_once('@') {
            Some((name, host)) => (name, Some(host)),
            None => (text, None),
        };
        if !word_ok(name) || host.is_some_and(|h| !word_ok(h)) {
            return Err(bad());
        }
        Ok(Target::Session {
            name: name.to_string(),
            host: host.map(str::to_string),
        })
    }

    /// The target in words: "backend@build1", "a new claude session in ~/src/app".
    pub fn describe(&self) -> String {
        match self {
            Target::Session { name, host: None } => name.clone(),
            Target::Session {
                name,
                host: Some(host),
            } => format!("{name}@{host}"),
            Target::NewSession {
                preset,
                dir,
                kill_after_turn,
            } => format!(
                "a new {preset} session in {dir}{}",
                if *kill_after_turn {
                    ", ended after its turn"
                } else {
                    ""
                }
            ),
        }
    }
}

/// A job as the console stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub schedule: Schedule,
    pub zone: Zone,
    pub target: Target,
    pub text: String,
    #[serde(default)]
    pub catch_up: CatchUp,
    #[serde(default)]
    pub overlap: Overlap,
    #[serde(default)]
    pub paused: bool,
    /// Every fire at or before this has been run or reported (creation time at first).
    pub settled: Timestamp,
}

impl Job {
    /// A new job, settled as of its creation (nothing before it is ever due).
    pub fn new(id: u64, draft: Draft, zone: Zone, created: Timestamp) -> Job {
        Job {
            id,
            schedule: draft.schedule,
            zone,
            target: draft.target,
            text: draft.text,
            catch_up: draft.catch_up,
            overlap: draft.overlap,
            paused: false,
            settled: created,
        }
    }

    /// The session name a new-session job starts (`job-7`).
    pub fn session_name(&self) -> String {
        format!("job-{}", self.id)
    }

    /// Resumes a paused job: fires that passed while it was paused are neither run nor
    /// reported (pausing was asked for).
    pub fn resume(&mut self, now: Timestamp) {
        self.paused = false;
        self.settled = self.settled.max(now);
    }

    pub fn next_fire(&self, after: Timestamp) -> Option<Timestamp> {
        self.schedule
            .next_after(&self.zone, after.max(self.settled))
    }
}

/// A parsed `/schedule add` line, before it is confirmed and given an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub schedule: Schedule,
    pub target: Target,
    pub text: String,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
}

impl Draft {
    /// Parses `<schedule> <target>: <text>`, e.g. `0 9 * * 1-5 backend: triage new issues`
    /// or `at 14:30 once:claude:~/src/app: check the deploy`. The target is the last word
    /// before the first `: ` (a colon and a space; the colon of `14:30` is not one).
    /// Options ([`Options`]: `--overlap queue`, `--grace 10m`, `--kill-after`) may stand
    /// anywhere before that `: `; the text after it is never read for options.
    pub fn parse(line: &str, zone: &Zone, now: Timestamp) -> Result<Draft, ParseError> {
        let line = line.trim();
        let (head, text) = match line.split_once(": ") {
            Some((head, text)) => (head, text.trim()),
            None => (line.strip_suffix(':').ok_or(ParseError::AddShape)?, ""),
        };
        if text.is_empty() {
            return Err(ParseError::AddNoText);
        }
        let (opts, head) = Options::take(head)?;
        let (schedule, target) = head
            .trim()
            .rsplit_once(char::is_whitespace)
            .ok_or(ParseError::AddShape)?;
        let mut draft = Draft::new(
            Schedule::parse(schedule, zone, now)?,
            Target::parse(target)?,
            text.to_string(),
        );
        draft.apply(opts)?;
        Ok(draft)
    }

    /// A draft with the default policies (skip when busy, missed fires reported).
    pub fn new(schedule: Schedule, target: Target, text: String) -> Draft {
        Draft {
            schedule,
            target,
            text,
            overlap: Overlap::default(),
            catch_up: CatchUp::default(),
        }
    }

    /// Sets what `opts` gives; `--kill-after` only for a new session from a preset.
    pub fn apply(&mut self, opts: Options) -> Result<(), ParseError> {
        if let Some(o) = opts.overlap {
            self.overlap = o;
        }
        if opts.grace_s.is_some() {
            self.catch_up = opts.catch_up();
        }
        if opts.kill_after {
            match &mut self.target {
                Target::NewSession {
                    kill_after_turn, ..
                } => *kill_after_turn = true,
                t @ Target::Session { .. } => {
                    return Err(ParseError::KillAfterNotNew(t.describe()))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Zone {
        Zone::named("Europe/Berlin").unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn targets_parse_in_each_form() {
        assert_eq!(
            Target::parse("backend").unwrap(),
            Target::Session {
                name: "backend".into(),
                host: None
            }
        );
        assert_eq!(
            Target::parse("backend@build1").unwrap(),
            Target::Session {
                name: "backend".into(),
                host: Some("build1".into())
            }
        );
        assert_eq!(
            Target::parse("new:claude:~/src/app").unwrap(),
            Target::NewSession {
                preset: "claude".into(),
                dir: "~/src/app".into(),
                kill_after_turn: false
            }
        );
        let once = Target::parse("once:codex:/srv/x").unwrap();
        assert_eq!(
            once.describe(),
            "a new codex session in /srv/x, ended after its turn"
        );
        for bad in [
            "",
            "a b",
            "@host",
            "name@",
            "new:claude",
            "new::dir",
            "a@b@c",
        ] {
            assert_eq!(
                Target::parse(bad).unwrap_err().to_string(),
                format!(
                    "`{bad}` is not a target: write a session (`backend`, `backend@host`) or a new \
                     session from a preset in a directory (`new:claude:~/src/app`, or `once:claude:~/src/app` \
                     to end it after its turn)"
                )
            );
        }
    }

    #[test]
    fn add_lines_split_into_schedule_target_and_text() {
        let d = Draft::parse("0 9 * * 1-5 backend: triage new issues", &berlin(), now()).unwrap();
        assert_eq!(d.schedule, Schedule::cron("0 9 * * 1-5").unwrap());
        assert_eq!(d.target.describe(), "backend");
        assert_eq!(d.text, "triage new issues");
        let d = Draft::parse(
            "at 14:30 once:claude:~/src/app: check: the deploy",
            &berlin(),
            now(),
        )
        .unwrap();
        assert_eq!(d.text, "check: the deploy");
        assert_eq!(
            d.schedule.next_after(&berlin(), now()),
            Some("2026-12-01T13:30:00Z".parse().unwrap())
        );
        let d = Draft::parse("every 2h api@build1: governance review", &berlin(), now()).unwrap();
        assert_eq!(d.target.describe(), "api@build1");
        assert_eq!(
            Draft::parse("every 2h backend", &berlin(), now()).unwrap_err().to_string(),
            "write `<schedule> <target>: <text>`, e.g. `0 9 * * 1-5 backend: triage new issues` or `in 20m api: check the deploy`"
        );
        assert_eq!(
            Draft::parse("every 2h backend:", &berlin(), now())
                .unwrap_err()
                .to_string(),
            "the text to send is missing after the `:`"
        );
        assert_eq!(
            Draft::parse("backend: hello", &berlin(), now()).unwrap_err().to_string(),
            "write `<schedule> <target>: <text>`, e.g. `0 9 * * 1-5 backend: triage new issues` or `in 20m api: check the deploy`"
        );
    }

    #[test]
    fn add_lines_take_options_before_the_text() {
        let d = Draft::parse(
            "--overlap queue 0 9 * * 1-5 --grace 10m new:claude:~/src/app --kill-after: run --all the tests",
            &berlin(),
            now(),
        )
        .unwrap();
        assert_eq!(d.overlap, Overlap::Queue);
        assert_eq!(d.catch_up, CatchUp::RunLate { grace_s: 600 });
        assert_eq!(
            d.target.describe(),
            "a new claude session in ~/src/app, ended after its turn"
        );
        assert_eq!(
            d.text, "run --all the tests",
            "the text is never read for options"
        );
        let job = Job::new(1, d, berlin(), now());
        assert_eq!(
            (job.overlap, job.catch_up),
            (Overlap::Queue, CatchUp::RunLate { grace_s: 600 })
        );
        let e = |l: &str| Draft::parse(l, &berlin(), now()).unwrap_err().to_string();
        assert_eq!(
            e("@hourly backend --kill-after: ping"),
            "--kill-after is for a new session from a preset (`new:claude:~/src/app`); `backend` is an existing session"
        );
        assert_eq!(
            e("@hourly backend --overlap maybe: ping"),
            "--overlap `maybe`: write skip, queue or send"
        );
        let d = Draft::parse("@hourly backend: ping", &berlin(), now()).unwrap();
        assert_eq!((d.overlap, d.catch_up), (Overlap::Skip, CatchUp::Skip));
    }

    #[test]
    fn job_round_trips_through_serde() {
        let d = Draft::parse("30 2 * * * new:shell:/tmp: uptime", &berlin(), now()).unwrap();
        let mut job = Job::new(7, d, berlin(), now());
        job.catch_up = CatchUp::RunLate { grace_s: 600 };
        job.overlap = Overlap::Queue;
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
        assert!(
            json.contains(r#""schedule":{"cron":"30 2 * * *"}"#),
            "{json}"
        );
        assert!(json.contains(r#""zone":"Europe/Berlin""#), "{json}");
        assert_eq!(job.session_name(), "job-7");
        // A stored cron line that no longer parses is refused, not loaded half-valid.
        let broken = json.replace("30 2 * * *", "30 2 * *");
        assert!(serde_json::from_str::<Job>(&broken).is_err());
    }

    #[test]
    fn resume_forgets_the_fires_of_the_pause() {
        let d = Draft::parse("@hourly backend: ping", &berlin(), now()).unwrap();
        let mut job = Job::new(1, d, berlin(), now());
        job.paused = true;
        let later: Timestamp = "2026-12-02T10:30:00Z".parse().unwrap();
        job.resume(later);
        assert!(!job.paused);
        assert_eq!(job.settled, later);
        assert_eq!(
            job.next_fire(now()),
            Some("2026-12-02T11:00:00Z".parse().unwrap())
        );
    }
}
