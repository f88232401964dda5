//! Activity detection: from successive looks at a session's screen, whether it is
//! working, went quiet after a turn (a "went quiet" notification), or has been idle long
//! enough that nobody needs to watch it. Pure: the caller passes the screen and the time.

use std::time::Duration;

use tokio::time::Instant;
use walkie_config::NotifyConfig;

/// When a session counts as quiet or idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityConfig {
    /// Quiet this long after working: "went quiet" notification.
    pub quiet_after: Duration,
    /// Working at least this long before the quiet counts as a finished turn.
    pub min_work: Duration,
    /// No change for this long: stop watching.
    pub stop_after: Duration,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            quiet_after: Duration::from_secs(20),
            min_work: Duration::from_secs(5),
            stop_after: Duration::from_secs(600),
        }
    }
}

impl ActivityConfig {
    pub fn from_config(cfg: &NotifyConfig) -> Self {
        ActivityConfig {
            quiet_after: Duration::from_secs(cfg.quiet_after_s),
            min_work: Duration::from_secs(cfg.min_work_s),
            stop_after: Duration::from_secs(cfg.idle_stop_s),
        }
    }
}

/// What one look at a session's screen means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Nothing,
    /// It worked for a while (since this instant) and has now been quiet: it probably
    /// finished its turn.
    WentQuiet {
        since: Instant,
    },
    /// Nothing changed for [`ActivityConfig::stop_after`]: stop watching.
    Idle,
}

/// A session's activity as seen through its screen.
#[derive(Debug)]
pub struct Activity {
    cfg: ActivityConfig,
    last_screen: Option<String>,
    last_change: Instant,
    /// When the current burst of changes began (the first look does not count).
    work_started: Option<Instant>,
}

impl Activity {
    pub fn new(cfg: ActivityConfig, now: Instant) -> Self {
        Activity {
            cfg,
            last_screen: None,
            last_change: now,
            work_started: None,
        }
    }

    pub fn observe(&mut self, screen: &str, now: Instant) -> Seen {
        if self.last_screen.as_deref() != Some(screen) {
            // A change after a quiet that nobody looked at: the earlier burst ended back
            // then (said now, late, rather than merged into this one and lost).
            let ended = self
                .work_started
                .filter(|_| now - self.last_change >= self.cfg.quiet_after)
                .filter(|started| self.last_change - *started >= self.cfg.min_work);
            if self.last_screen.is_some() {
                if now - self.last_change >= self.cfg.quiet_after {
                    self.work_started = Some(now);
                } else {
                    self.work_started.get_or_insert(now);
                }
            }
            self.last_change = now;
            self.last_screen = Some(screen.to_string());
            if let Some(since) = ended {
                return Seen::WentQuiet { since };
            }
        }
        let quiet_for = now - self.last_change;
        if let Some(started) = self.work_started {
            if quiet_for >= self.cfg.quiet_after {
                self.work_started = None;
                // A short burst (the echo of a typed command) is not a turn.
                if self.last_change - started >= self.cfg.min_work {
                    return Seen::WentQuiet { since: started };
                }
            }
        }
        if quiet_for >= self.cfg.stop_after {
            return Seen::Idle;
        }
        Seen::Nothing
    }

    /// When a look next can mean something (the quiet after a burst, or idle): a caller
    /// that looks only on changes must look by then.
    pub fn next_deadline(&self) -> Instant {
        match self.work_started {
            Some(_) => self.last_change + self.cfg.quiet_after,
            None => self.last_change + self.cfg.stop_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_turn_then_quiet_is_announced_once_then_idle_stops() {
        let cfg = ActivityConfig::default();
        let t0 = Instant::now();
        let mut a = Activity::new(cfg, t0);
        assert_eq!(a.observe("$", t0), Seen::Nothing);
        // Working for 10 s: the screen changes every second.
        for i in 1..=10 {
            assert_eq!(a.observe(&format!("$ out {i}"), t0 + s(i)), Seen::Nothing);
        }
        assert_eq!(a.observe("$ out 10", t0 + s(29)), Seen::Nothing);
        assert_eq!(
            a.observe("$ out 10", t0 + s(30)),
            Seen::WentQuiet { since: t0 + s(1) }
        );
        assert_eq!(
            a.observe("$ out 10", t0 + s(40)),
            Seen::Nothing,
            "announced once"
        );
        assert_eq!(
            a.observe("$ out 10", t0 + s(10) + cfg.stop_after),
            Seen::Idle
        );
    }

    #[test]
    fn a_quiet_nobody_looked_at_ends_the_turn_before_the_next_one() {
        let cfg = ActivityConfig::default();
        let t0 = Instant::now();
        let mut a = Activity::new(cfg, t0);
        a.observe("$", t0);
        for i in 1..=10 {
            a.observe(&format!("$ out {i}"), t0 + s(i));
        }
        assert_eq!(a.next_deadline(), t0 + s(10) + cfg.quiet_after);
        // The next look comes with the next turn, long after the quiet: the first turn is
        // said to have ended, and the second is a turn of its own.
        assert_eq!(
            a.observe("$ next 1", t0 + s(60)),
            Seen::WentQuiet { since: t0 + s(1) }
        );
        for i in 2..=10 {
            a.observe(&format!("$ next {i}"), t0 + s(59 + i));
        }
        assert_eq!(
            a.observe("$ next 10", t0 + s(69) + cfg.quiet_after),
            Seen::WentQuiet { since: t0 + s(60) }
        );
        assert_eq!(a.next_deadline(), t0 + s(69) + cfg.stop_after);
    }

    #[test]
    fn a_short_burst_is_not_a_turn() {
        let cfg = ActivityConfig::default();
        let t0 = Instant::now();
        let mut a = Activity::new(cfg, t0);
        a.observe("$", t0);
        a.observe("$ ls\nfile", t0 + s(1));
        assert_eq!(a.observe("$ ls\nfile", t0 + s(30)), Seen::Nothing);
    }

    #[test]
    fn the_first_look_is_not_work_and_an_untouched_screen_idles() {
        let cfg = ActivityConfig::default();
        let t0 = Instant::now();
        let mut a = Activity::new(cfg, t0);
        assert_eq!(a.observe("old screen", t0), Seen::Nothing);
        assert_eq!(a.observe("old screen", t0 + s(100)), Seen::Nothing);
        assert_eq!(a.observe("old screen", t0 + cfg.stop_after), Seen::Idle);
    }
}
