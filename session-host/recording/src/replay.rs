//! Playing a recording back: what to write to the terminal, and when.
//!
//! The plan is pure (no clock, no terminal), so `walkie replay` only sleeps and writes, and
//! tests check the plan without waiting for it.

use std::time::Duration;

use crate::cast::{Cast, Code};

/// How to play.
#[derive(Debug, Clone, Copy)]
pub struct PlayOptions {
    /// 2.0 plays twice as fast.
    pub speed: f64,
    /// Output before this second is written at once (the screen as it was then).
    pub from: f64,
    /// Longer pauses are cut to this (asciinema's `idle_time_limit`).
    pub max_idle: Duration,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            speed: 1.0,
            from: 0.0,
            max_idle: Duration::from_secs(2),
        }
    }
}

/// One write of a playback.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Wait this long, then write the bytes.
    Output { wait: Duration, bytes: String },
    /// The recorded terminal changed size (a player may resize or just say so).
    Resize {
        wait: Duration,
        cols: u16,
        rows: u16,
    },
}

/// The steps of playing `cast` with `opts`.
pub fn plan(cast: &Cast, opts: PlayOptions) -> Vec<Step> {
    let speed = if opts.speed.is_finite() && opts.speed > 0.0 {
        opts.speed
    } else {
        1.0
    };
    let max_idle = opts.max_idle.as_secs_f64();
    let mut steps = Vec::new();
    let mut prev = opts.from.max(0.0);
    let mut caught_up = String::new();
    for e in &cast.events {
        let before = e.time < opts.from;
        let wait = if before {
            Duration::ZERO
        } else {
            let gap = ((e.time - prev).max(0.0)).min(max_idle) / speed;
            prev = e.time;
            Duration::from_secs_f64(gap)
        };
        match e.code {
            Code::Output if before => caught_up.push_str(&e.data),
            Code::Output => {
                catch_up(&mut steps, &mut caught_up);
                steps.push(Step::Output {
                    wait,
                    bytes: e.data.clone(),
                })
            }
            Code::Resize => {
                if let Some((cols, rows)) = e.size() {
                    catch_up(&mut steps, &mut caught_up);
                    steps.push(Step::Resize { wait, cols, rows });
                }
            }
            Code::Input | Code::Marker => {}
        }
    }
    catch_up(&mut steps, &mut caught_up);
    steps
}

/// Output skipped over by `from` is written at once, as one write.
fn catch_up(steps: &mut Vec<Step>, caught_up: &mut String) {
    if !caught_up.is_empty() {
        steps.push(Step::Output {
            wait: Duration::ZERO,
            bytes: std::mem::take(caught_up),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cast::{Event, Header};

    fn cast(events: &[(f64, Code, &str)]) -> Cast {
        Cast {
            header: Header::new(80, 24),
            events: events
                .iter()
                .map(|(t, c, d)| Event {
                    time: *t,
                    code: *c,
                    data: (*d).to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn waits_follow_the_recording_at_speed() {
        let c = cast(&[(0.5, Code::Output, "a"), (1.5, Code::Output, "b")]);
        let steps = plan(
            &c,
            PlayOptions {
                speed: 2.0,
                ..PlayOptions::default()
            },
        );
        assert_eq!(
            steps,
            vec![
                Step::Output {
                    wait: Duration::from_millis(250),
                    bytes: "a".into()
                },
                Step::Output {
                    wait: Duration::from_millis(500),
                    bytes: "b".into()
                },
            ]
        );
    }

    #[test]
    fn long_idle_is_cut_and_from_fast_forwards() {
        let c = cast(&[
            (1.0, Code::Output, "x"),
            (2.0, Code::Marker, "dispatch"),
            (2.0, Code::Input, "ls\r"),
            (3.0, Code::Output, "y"),
            (100.0, Code::Output, "z"),
        ]);
        let steps = plan(
            &c,
            PlayOptions {
                from: 2.5,
                ..PlayOptions::default()
            },
        );
        assert_eq!(
            steps,
            vec![
                Step::Output {
                    wait: Duration::ZERO,
                    bytes: "x".into()
                },
                Step::Output {
                    wait: Duration::from_millis(500),
                    bytes: "y".into()
                },
                Step::Output {
                    wait: Duration::from_secs(2),
                    bytes: "z".into()
                },
            ]
        );
    }
}
