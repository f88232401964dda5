//! Where the timer's time comes from, and the zone a chat's jobs get by default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use walkie_config::Config;
use walkie_schedule::{Clock, SystemClock, Zone};

/// **Test only.** Names a file holding a number of seconds added to the machine's time
/// (e.g. `120`: two minutes ahead), read at every look at the clock, so that the
/// integration tests, which spawn the real binary, need no real minute. Ignored unless set;
/// a file that cannot be read counts as 0. Never set it in production.
pub const TEST_CLOCK_ENV: &str = "WALKIE_TEST_CLOCK_FILE";

/// The machine's clock plus the offset in a file (see [`TEST_CLOCK_ENV`]).
#[derive(Debug)]
pub struct OffsetFileClock(PathBuf);

impl Clock for OffsetFileClock {
    fn now(&self) -> Timestamp {
        let offset = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        Timestamp::now()
            .checked_add(SignedDuration::from_secs(offset))
            .unwrap_or_else(|_| Timestamp::now())
    }
}

/// The clock of this process: the machine's, unless [`TEST_CLOCK_ENV`] is set.
pub fn from_env() -> Arc<dyn Clock> {
    match std::env::var_os(TEST_CLOCK_ENV).filter(|v| !v.is_empty()) {
        Some(path) => {
            tracing::warn!(file = ?path, "{TEST_CLOCK_ENV} is set: the schedule clock is a test clock");
            Arc::new(OffsetFileClock(PathBuf::from(path)))
        }
        None => Arc::new(SystemClock),
    }
}

/// The time now on this process's clock (for the requests; the timer keeps its own).
pub fn now() -> Timestamp {
    match std::env::var_os(TEST_CLOCK_ENV).filter(|v| !v.is_empty()) {
        Some(path) => OffsetFileClock(PathBuf::from(path)).now(),
        None => Timestamp::now(),
    }
}

/// Why no default zone could be found or the configured one is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ZoneConfigError(pub String);

/// The zone a chat's jobs get until it picks one: `[schedule] zone`, else the system's
/// (`TZ`, `/etc/timezone`, the `/etc/localtime` link). Never a silent UTC: a machine that
/// says nothing is an error saying what to set.
pub fn default_zone(cfg: &Config) -> Result<Zone, ZoneConfigError> {
    if let Some(name) = &cfg.schedule.zone {
        return Zone::named(name).map_err(|e| {
            ZoneConfigError(format!(
                "schedule.zone in walkie.toml (or WALKIE_SCHEDULE_ZONE): {e}"
            ))
        });
    }
    system_zone(
        std::env::var("TZ").ok().as_deref(),
        Path::new("/etc/timezone"),
        Path::new("/etc/localtime"),
    )
    .ok_or_else(|| {
        ZoneConfigError(
            "cannot tell this machine's time zone (no TZ, /etc/timezone or /etc/localtime \
             link): set `[schedule] zone = \"Europe/Berlin\"` in walkie.toml or \
             WALKIE_SCHEDULE_ZONE"
                .into(),
        )
    })
}

fn system_zone(tz: Option<&str>, timezone: &Path, localtime: &Path) -> Option<Zone> {
    let from_tz = tz
        .map(|t| t.trim_start_matches(':'))
        .filter(|t| !t.is_empty())
        .and_then(|t| Zone::named(t).ok());
    from_tz
        .or_else(|| {
            let text = std::fs::read_to_string(timezone).ok()?;
            Zone::named(text.trim()).ok()
        })
        .or_else(|| {
            let link = std::fs::read_link(localtime).ok()?;
            let s = link.to_string_lossy();
            let (_, name) = s.split_once("zoneinfo/")?;
            Zone::named(name).ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_zone_wins_and_a_wrong_one_says_how_to_fix_it() {
        let mut cfg = Config::default();
        cfg.schedule.zone = Some("Asia/Kolkata".into());
        assert_eq!(default_zone(&cfg).unwrap().name(), "Asia/Kolkata");
        cfg.schedule.zone = Some("Mars/Olympus".into());
        let e = default_zone(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("schedule.zone") && e.contains("Mars/Olympus"),
            "{e}"
        );
    }

    #[test]
    fn the_system_zone_comes_from_tz_then_etc_timezone_then_the_localtime_link() {
        let dir = tempfile::tempdir().unwrap();
        let (tzfile, link) = (dir.path().join("timezone"), dir.path().join("localtime"));
        let none = dir.path().join("none");
        assert_eq!(
            system_zone(Some(":Europe/Berlin"), &none, &none).map(|z| z.name().to_string()),
            Some("Europe/Berlin".into())
        );
        std::fs::write(&tzfile, "America/New_York\n").unwrap();
        assert_eq!(
            system_zone(None, &tzfile, &none).map(|z| z.name().to_string()),
            Some("America/New_York".into())
        );
        std::os::unix::fs::symlink("/usr/share/zoneinfo/Asia/Tokyo", &link).unwrap();
        assert_eq!(
            system_zone(Some(""), &none, &link).map(|z| z.name().to_string()),
            Some("Asia/Tokyo".into())
        );
        assert!(system_zone(None, &none, &none).is_none(), "no silent UTC");
    }

    #[test]
    fn the_offset_file_moves_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("clock");
        let c = OffsetFileClock(f.clone());
        let before = Timestamp::now();
        assert!(c.now() >= before && c.now() < before + SignedDuration::from_secs(60));
        std::fs::write(&f, "3600").unwrap();
        assert!(c.now() >= before + SignedDuration::from_secs(3600));
    }
}
