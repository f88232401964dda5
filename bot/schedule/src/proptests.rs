//! Property tests against brute force: fire times found minute by minute in real time, and
//! catch-up decisions replayed over random timelines with random downtimes.

use jiff::Timestamp;
use proptest::prelude::*;

use crate::catch_up::{decide, CatchUp, ON_TIME};
use crate::cron::Cron;
use crate::schedule::Schedule;
use crate::zone::Zone;

/// Zones with instants near their 2026 transitions (and two without DST), so that random
/// windows around them contain a gap or a fold.
const PLACES: [(&str, &str); 8] = [
    ("Europe/Berlin", "2026-03-29T01:00:00Z"), // spring forward
    ("Europe/Berlin", "2026-10-25T01:00:00Z"), // fall back
    ("America/New_York", "2026-03-08T07:00:00Z"), // spring forward
    ("America/New_York", "2026-11-01T06:00:00Z"), // fall back
    ("Australia/Lord_Howe", "2026-10-03T15:30:00Z"), // spring forward, 30 minutes
    ("Australia/Lord_Howe", "2026-04-04T15:00:00Z"), // fall back, 30 minutes
    ("Asia/Kolkata", "2026-06-15T00:00:00Z"),
    ("UTC", "2026-12-31T12:00:00Z"),
];

fn secs(s: &str) -> i64 {
    s.parse::<Timestamp>().map(|t| t.as_second()).unwrap_or(0)
}

/// Every fire of `cron` in (from, to], found by looking at each real minute: a minute fires
/// if its wall-clock time matches (a wall-clock job only on the first instant that shows
/// it), and a wall-clock job also fires at a jump forward that skipped a matching time.
fn brute_force(cron: &Cron, zone: &Zone, from: i64, to: i64) -> Vec<i64> {
    let wall = cron.is_wall_clock();
    let mut out = Vec::new();
    let mut i = (from.div_euclid(60) + 1) * 60;
    while i <= to {
        let (Some(now), Some(before)) = (zone.civil(i), zone.civil(i - 60)) else {
            break;
        };
        let shown_before = || (1..=180).any(|k| zone.civil(i - 60 * k) == Some(now));
        let mut fire = cron.matches(now) && !(wall && shown_before());
        if wall && !fire {
            let mut skipped = before.checked_add(jiff::SignedDuration::from_mins(1)).ok();
            while let Some(local) = skipped.filter(|l| *l < now) {
                fire |= cron.matches(local);
                skipped = local.checked_add(jiff::SignedDuration::from_mins(1)).ok();
            }
        }
        if fire {
            out.push(i);
        }
        i += 60;
    }
    out
}

fn minute_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        prop::sample::select(vec![5, 7, 15, 20, 30]).prop_map(|k| format!("*/{k}")),
        (0..60u32).prop_map(|m| m.to_string()),
        (0..30u32, 30..60u32).prop_map(|(a, b)| format!("{a},{b}")),
        (0..30u32, 30..60u32, 1..20u32).prop_map(|(a, b, k)| format!("{a}-{b}/{k}")),
    ]
}

fn hour_field() -> impl Strategy<Value = String> {
    // Hours 1-3 are where the transitions are: weight them.
    let hour = prop_oneof![3 => 1..4u32, 1 => 0..24u32];
    prop_oneof![
        Just("*".to_string()),
        prop::sample::select(vec![2, 3, 5]).prop_map(|k| format!("*/{k}")),
        hour.clone().prop_map(|h| h.to_string()),
        (hour.clone(), hour).prop_map(|(a, b)| format!("{},{}", a.min(b), a.max(b))),
        (0..3u32, 2..6u32).prop_map(|(a, b)| format!("{a}-{b}")),
    ]
}

fn day_fields() -> impl Strategy<Value = (String, String, String)> {
    let dom = prop_oneof![
        4 => Just("*".to_string()),
        1 => (1..29u32).prop_map(|d| d.to_string()),
        1 => Just("*/2".to_string()),
        1 => (1..15u32, 15..32u32).prop_map(|(a, b)| format!("{a}-{b}")),
    ];
    let month = prop_oneof![
        6 => Just("*".to_string()),
        1 => Just("3,4,10,11".to_string()),
        1 => (1..13u32).prop_map(|m| m.to_string()),
    ];
    let dow = prop_oneof![
        4 => Just("*".to_string()),
        1 => Just("1-5".to_string()),
        1 => (0..8u32).prop_map(|d| d.to_string()),
        1 => Just("sat,sun".to_string()),
        1 => Just("*/2".to_string()),
    ];
    (dom, month, dow)
}

fn cron_line() -> impl Strategy<Value = String> {
    (minute_field(), hour_field(), day_fields())
        .prop_map(|(m, h, (dom, mon, dow))| format!("{m} {h} {dom} {mon} {dow}"))
        .prop_filter("fires", |line| Cron::parse(line).is_ok())
}

/// A zone and an instant up to 30 hours before one of its transitions.
fn place() -> impl Strategy<Value = (Zone, i64)> {
    (prop::sample::select(PLACES.to_vec()), 0..30 * 3_600i64).prop_map(|((zone, at), before)| {
        (Zone::named(zone).expect("known zone"), secs(at) - before)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn next_and_last_fire_match_brute_force(line in cron_line(), (zone, from) in place(), probes in prop::collection::vec(0..2 * 86_400i64, 8)) {
        let cron = Cron::parse(&line).expect("filtered");
        let to = from + 2 * 86_400;
        let want = brute_force(&cron, &zone, from, to);
        let mut got = Vec::new();
        let mut t = from;
        while let Some(next) = cron.next_after(&zone, t).filter(|n| *n <= to) {
            got.push(next);
            t = next;
        }
        prop_assert_eq!(&got, &want, "{} in {}", line, zone);
        for p in probes {
            let at = from + p;
            let want_last = want.iter().rev().find(|w| **w <= at).copied();
            if want_last.is_some() {
                prop_assert_eq!(cron.last_at_or_before(&zone, at), want_last, "{} in {} at {}", line, zone, at);
            }
        }
    }

    #[test]
    fn catch_up_runs_exactly_the_policys_fires(
        line in prop_oneof![4 => cron_line(), 1 => (1..180i64).prop_map(|m| format!("every {m}m"))],
        (zone, created) in place(),
        grace in prop_oneof![Just(None), (0..7_200u32).prop_map(Some)],
        steps in prop::collection::vec(prop_oneof![8 => 1..90i64, 1 => 120..2 * 86_400i64], 1..150),
    ) {
        let created_ts = Timestamp::from_second(created).expect("in range");
        let schedule = Schedule::parse(&line, &zone, created_ts).expect("valid");
        let policy = grace.map_or(CatchUp::Skip, |grace_s| CatchUp::RunLate { grace_s });
        // The timeline: the console's ticks, with downtimes where a step is long.
        let mut ticks = vec![created];
        for step in steps {
            let next = ticks[ticks.len() - 1] + step;
            ticks.push(next);
        }
        let end = ticks[ticks.len() - 1];

        // Replay what the console would do.
        let mut settled = created_ts;
        let mut runs = Vec::new();
        let mut reports = Vec::new();
        for &tick in &ticks {
            let now = Timestamp::from_second(tick).expect("in range");
            if let Some(d) = decide(&schedule, &zone, policy, settled, now) {
                prop_assert!(d.settled > settled, "settled moves forward");
                prop_assert!(d.settled <= now, "never early");
                if let Some(run) = d.run {
                    runs.push((run.as_second(), tick));
                }
                if let Some(m) = d.missed {
                    reports.push((m.first.as_second(), m.last.as_second(), m.count, tick));
                }
                settled = d.settled;
                prop_assert_eq!(decide(&schedule, &zone, policy, settled, now), None, "decided twice");
            }
        }

        // The reference: every fire in (created, end], from brute force or arithmetic.
        let fires: Vec<i64> = match Cron::parse(&line) {
            Ok(cron) => brute_force(&cron, &zone, created, end),
            Err(_) => {
                let period = schedule.next_after_s(&zone, created).expect("every fires") - created;
                (1..).map(|k| created + k * period).take_while(|t| *t <= end).collect()
            }
        };
        let allowance = ON_TIME.as_secs().max(grace.map_or(0, i64::from));
        let mut want_runs = Vec::new();
        let mut want_reports = Vec::new();
        let mut group: Vec<i64> = Vec::new();
        let mut k = 0;
        for &tick in &ticks {
            group.clear();
            while k < fires.len() && fires[k] <= tick {
                group.push(fires[k]);
                k += 1;
            }
            let Some(&latest) = group.last() else { continue };
            let run = tick - latest <= allowance;
            if run {
                want_runs.push((latest, tick));
            }
            let missed = &group[..group.len() - usize::from(run)];
            if let (Some(first), Some(last)) = (missed.first(), missed.last()) {
                want_reports.push((*first, *last, Some(missed.len() as u64), tick));
            }
        }
        prop_assert_eq!(runs, want_runs, "runs of {} in {}", line, zone);
        prop_assert_eq!(reports, want_reports, "reports of {} in {}", line, zone);
    }

    #[test]
    fn no_input_panics(text in "\\PC{0,40}", (zone, at) in place()) {
        let now = Timestamp::from_second(at).expect("in range");
        let _ = Schedule::parse(&text, &zone, now);
        let _ = crate::Draft::parse(&text, &zone, now);
        let _ = crate::Target::parse(&text);
        let _ = crate::Draft::from_speech(&text, &zone, now);
        let _ = crate::Draft::from_speech(&format!("every day at {text}"), &zone, now);
    }

    #[test]
    fn near_misses_of_the_syntax_never_panic(line in "[0-9*/,a-z@-]{1,6}( [0-9*/,a-z-]{1,6}){0,5}", (zone, at) in place()) {
        let now = Timestamp::from_second(at).expect("in range");
        if let Ok(s) = Schedule::parse(&line, &zone, now) {
            // Whatever parses, fires (the parser refuses lines that never fire).
            prop_assert!(s.next_after(&zone, now).is_some(), "{}", line);
            let _ = s.describe(&zone);
        }
    }
}
