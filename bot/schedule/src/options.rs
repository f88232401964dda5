//! A job's options as typed on the phone or in a terminal, with one spelling for both:
//! `--overlap skip|queue|send`, `--grace 10m` (a duration, or plain seconds as `600`), and
//! `--kill-after` for a new session from a preset (`new:PRESET:DIR`, as `once:` does).

use crate::catch_up::CatchUp;
use crate::duration;
use crate::overlap::Overlap;
use crate::ParseError;

/// The options given with a job (what was not given keeps its default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub overlap: Option<Overlap>,
    pub grace_s: Option<u32>,
    pub kill_after: bool,
}

impl Overlap {
    /// `skip`, `queue` or `send` (case-insensitive).
    pub fn parse(text: &str) -> Result<Overlap, ParseError> {
        match text.to_ascii_lowercase().as_str() {
            "skip" => Ok(Overlap::Skip),
            "queue" => Ok(Overlap::Queue),
            "send" => Ok(Overlap::Send),
            _ => Err(ParseError::OptionValue {
                option: "--overlap",
                value: text.to_string(),
                hint: "skip, queue or send",
            }),
        }
    }

    /// The word the options use: `skip`, `queue`, `send`.
    pub fn name(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Queue => "queue",
            Overlap::Send => "send",
        }
    }

    /// For a card: what happens when the target is still busy.
    pub fn describe(self) -> &'static str {
        match self {
            Overlap::Skip => "if still busy: skip the run (silent note)",
            Overlap::Queue => "if still busy: queue the run until it is idle",
            Overlap::Send => "if still busy: send it anyway",
        }
    }
}

impl CatchUp {
    /// For a card: what happens to a fire missed while walkie (or the host) was down.
    pub fn describe(self) -> String {
        match self {
            CatchUp::Skip => "missed runs: reported, not run".into(),
            CatchUp::RunLate { grace_s } => {
                format!(
                    "missed runs: run once if at most {} late",
                    show_secs(grace_s)
                )
            }
        }
    }
}

/// `600` → `10m`, `5400` → `1h30m`, `45` → `45s`.
pub fn show_secs(secs: u32) -> String {
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// A grace window: a duration (`10m`, `1h30m`) or plain seconds (`600`).
pub fn parse_grace(text: &str) -> Result<u32, ParseError> {
    let secs = match text.parse::<u32>() {
        Ok(s) => i64::from(s),
        Err(_) => duration::parse(text).map_err(|_| ParseError::OptionValue {
            option: "--grace",
            value: text.to_string(),
            hint: "a duration such as 10m, 1h30m, or seconds such as 600",
        })?,
    };
    u32::try_from(secs).map_err(|_| ParseError::DurationTooLong(text.to_string()))
}

impl Options {
    /// Takes the options out of the words of a line's head (before its `: `), wherever they
    /// stand, and returns the rest (schedule and target) joined by single spaces.
    /// `--name value` and `--name=value` are both taken.
    pub fn take(head: &str) -> Result<(Options, String), ParseError> {
        let mut opts = Options::default();
        let mut rest = Vec::new();
        let mut words = head.split_whitespace();
        while let Some(word) = words.next() {
            let Some(flag) = word.strip_prefix("--") else {
                rest.push(word);
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (flag, None),
            };
            let mut value = |option: &'static str, hint: &'static str| {
                inline
                    .map(str::to_string)
                    .or_else(|| words.next().map(str::to_string))
                    .filter(|v| !v.is_empty())
                    .ok_or(ParseError::OptionNoValue { option, hint })
            };
            match name {
                "overlap" => {
                    opts.overlap =
                        Some(Overlap::parse(&value("--overlap", "skip, queue or send")?)?)
                }
                "grace" => {
                    opts.grace_s = Some(parse_grace(&value(
                        "--grace",
                        "a duration such as 10m, or seconds such as 600",
                    )?)?)
                }
                "kill-after" if inline.is_none() => opts.kill_after = true,
                _ => return Err(ParseError::UnknownOption(word.to_string())),
            }
        }
        Ok((opts, rest.join(" ")))
    }

    /// The catch-up policy these options make: a grace window runs a late fire once.
    pub fn catch_up(&self) -> CatchUp {
        match self.grace_s {
            Some(0) | None => CatchUp::Skip,
            Some(grace_s) => CatchUp::RunLate { grace_s },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_taken_wherever_they_stand() {
        let (o, rest) =
            Options::take("--overlap queue 0 9 * * 1-5 --grace=10m new:claude:~/x --kill-after")
                .unwrap();
        assert_eq!(o.overlap, Some(Overlap::Queue));
        assert_eq!(o.grace_s, Some(600));
        assert!(o.kill_after);
        assert_eq!(rest, "0 9 * * 1-5 new:claude:~/x");
        assert_eq!(o.catch_up(), CatchUp::RunLate { grace_s: 600 });
        let (o, rest) = Options::take("every 2h  backend").unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(rest, "every 2h backend");
        assert_eq!(
            Options::take("--grace 900 @hourly a").unwrap().0.grace_s,
            Some(900)
        );
        assert_eq!(
            Options::take("--overlap SEND @hourly a").unwrap().0.overlap,
            Some(Overlap::Send)
        );
    }

    #[test]
    fn wrong_options_say_what_is_wrong() {
        let e = |s: &str| Options::take(s).unwrap_err().to_string();
        assert_eq!(
            e("--overlap later @hourly a"),
            "--overlap `later`: write skip, queue or send"
        );
        assert_eq!(
            e("@hourly a --overlap"),
            "--overlap needs a value: skip, queue or send"
        );
        assert_eq!(
            e("--grace soon @hourly a"),
            "--grace `soon`: write a duration such as 10m, 1h30m, or seconds such as 600"
        );
        assert_eq!(
            e("--repeat 3 @hourly a"),
            "`--repeat` is not an option: use --overlap skip|queue|send, --grace 10m, or --kill-after (for new:PRESET:DIR)"
        );
        assert_eq!(e("--kill-after=yes @hourly a"), "`--kill-after=yes` is not an option: use --overlap skip|queue|send, --grace 10m, or --kill-after (for new:PRESET:DIR)");
    }

    #[test]
    fn policies_in_words() {
        assert_eq!(show_secs(600), "10m");
        assert_eq!(show_secs(5_400), "1h30m");
        assert_eq!(show_secs(45), "45s");
        assert_eq!(
            CatchUp::RunLate { grace_s: 600 }.describe(),
            "missed runs: run once if at most 10m late"
        );
        assert_eq!(Overlap::Queue.name(), "queue");
    }
}
