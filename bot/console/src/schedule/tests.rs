//! The store's schedule tables and the timer's wiring (catch-up, overlap, run now) against
//! the in-memory front end and host, with a real store and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use walkie_config::Config;
use walkie_host_proto::protocol::SessionState;
use walkie_schedule::{Clock, Draft, Job, ManualClock, Overlap, TargetState, Zone};

use super::store::{DraftSource, Outcome};
use super::timer::{target_state, Scheduler};
use crate::front::{ChatId, MessageRef, UserId};
use crate::requests::Console;
use crate::store::Store;
use crate::testing::{session, InMemory, MemHost, Sent};

const CHAT: ChatId = ChatId(101);

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn berlin() -> Zone {
    Zone::named("Europe/Berlin").unwrap()
}

fn job(line: &str, created: &str) -> Job {
    let d = Draft::parse(line, &berlin(), ts(created)).unwrap();
    Job::new(0, d, berlin(), ts(created))
}

struct Rig {
    timer: Arc<Scheduler<InMemory, MemHost>>,
    console: Arc<Console<InMemory, MemHost>>,
    clock: Arc<ManualClock>,
    store: Store,
    front: InMemory,
    host: MemHost,
    _dir: tempfile::TempDir,
}

async fn rig(start: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let cfg = Config::from_toml("[telegram]\nallowed_users = [1]\n[notify]\nquiet_after_s = 20\n")
        .unwrap();
    let host = MemHost::default();
    host.add("backend", SessionState::Running);
    let front = InMemory::default();
    let console = Arc::new(Console {
        cfg,
        store: store.clone(),
        host: Arc::new(host.clone()),
        front: front.clone(),
        dialogs: Default::default(),
        schedules: Default::default(),
    });
    let clock = Arc::new(ManualClock::new(ts(start)));
    let timer = Scheduler::new(console.clone(), clock.clone() as Arc<dyn Clock>);
    Rig {
        timer,
        console,
        clock,
        store,
        front,
        host,
        _dir: dir,
    }
}

impl Rig {
    fn typed(&self) -> Vec<String> {
        self.host.with(|s| {
            s.typed
                .iter()
                .flat_map(|(_, c)| c.iter().map(|b| String::from_utf8_lossy(b).into_owned()))
                .collect()
        })
    }

    /// The notes once there are `n` (they are posted by tasks of their own).
    async fn wait_notes(&self, n: usize) -> Vec<(String, bool)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let notes = self.notes();
            if notes.len() >= n {
                return notes;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} notes: {notes:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn notes(&self) -> Vec<(String, bool)> {
        self.front
            .sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Note { text, silent, .. } => Some((text, silent)),
                _ => None,
            })
            .collect()
    }

    async fn outcomes(&self, id: u64) -> Vec<String> {
        let runs = self.store.runs(id, 100).await.unwrap();
        runs.into_iter().map(|r| r.outcome).collect()
    }

    fn busy(&self, busy: bool) {
        self.host.with(|s| {
            for i in &mut s.sessions {
                i.idle_ms = Some(if busy { 500 } else { 60_000 });
            }
        });
    }
}

#[tokio::test]
async fn jobs_runs_drafts_and_zones_round_trip_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let g0 = store.schedule_generation().await.unwrap();
    let a = store
        .add_job(
            Some(CHAT),
            job("0 9 * * 1-5 backend: triage", "2026-12-01T08:00:00Z"),
        )
        .await
        .unwrap();
    let b = store
        .add_job(None, job("every 2h api: review", "2026-12-01T08:00:00Z"))
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert!(
        store.schedule_generation().await.unwrap() > g0,
        "a change is seen"
    );
    let all = store.jobs().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].job, a);
    assert_eq!((all[0].chat, all[1].chat), (Some(CHAT), None));

    // Settling never goes back; a pause keeps it, a resume moves it to now.
    store
        .settle_job(
            a.id,
            ts("2026-12-02T08:00:00Z"),
            Some(ts("2026-12-02T08:00:00Z")),
            false,
        )
        .await
        .unwrap();
    store
        .settle_job(a.id, ts("2026-12-01T09:00:00Z"), None, false)
        .await
        .unwrap();
    let got = store.job(a.id).await.unwrap().unwrap();
    assert_eq!(got.job.settled, ts("2026-12-02T08:00:00Z"));
    assert_eq!(got.last_fired, Some(ts("2026-12-02T08:00:00Z").as_second()));
    assert!(store
        .set_job_paused(a.id, true, ts("2026-12-05T00:00:00Z"))
        .await
        .unwrap());
    assert!(store.job(a.id).await.unwrap().unwrap().job.paused);
    assert!(store
        .set_job_paused(a.id, false, ts("2026-12-05T00:00:00Z"))
        .await
        .unwrap());
    let got = store.job(a.id).await.unwrap().unwrap().job;
    assert!(!got.paused);
    assert_eq!(got.settled, ts("2026-12-05T00:00:00Z"));
    assert!(!store
        .set_job_paused(999, true, ts("2026-12-05T00:00:00Z"))
        .await
        .unwrap());

    // History, oldest first, with the why.
    store
        .record_run(
            a.id,
            ts("2026-12-02T08:00:00Z"),
            "backend",
            Outcome::Delivered,
            None,
        )
        .await
        .unwrap();
    store
        .record_run(
            a.id,
            ts("2026-12-03T08:00:00Z"),
            "backend",
            Outcome::Failed,
            Some("no session backend"),
        )
        .await
        .unwrap();
    let runs = store.runs(a.id, 10).await.unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| (r.outcome.as_str(), r.detail.as_deref()))
            .collect::<Vec<_>>(),
        [("delivered", None), ("failed", Some("no session backend"))]
    );
    assert_eq!(Outcome::Skipped.as_str(), "skipped (busy)");

    // Run now: taken once; a withdrawn ask is never taken.
    let ask = store.ask_run_now(a.id).await.unwrap();
    assert!(!store.run_now_taken(ask).await.unwrap());
    assert_eq!(store.take_run_now().await.unwrap(), [(ask, a.id)]);
    assert!(store.take_run_now().await.unwrap().is_empty());
    assert!(store.withdraw_run_now(ask).await.unwrap(), "taken already");
    let late = store.ask_run_now(a.id).await.unwrap();
    assert!(!store.withdraw_run_now(late).await.unwrap(), "withdrawn");
    assert!(store.take_run_now().await.unwrap().is_empty());

    // A draft is answered once.
    let src = DraftSource {
        line: "every 2h api: review",
        spoken: false,
    };
    let d = store
        .add_schedule_draft(CHAT, UserId(1), &b, src, false)
        .await
        .unwrap();
    store.set_draft_message(d, MessageRef(77)).await.unwrap();
    let taken = store
        .take_schedule_draft(d, "created")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.job.text, "review");
    assert_eq!(taken.message, Some(MessageRef(77)));
    assert_eq!(taken.line.as_deref(), Some("every 2h api: review"));
    assert!(
        !store.set_draft_job(d, &b).await.unwrap(),
        "a used card is not changed"
    );
    assert!(store
        .take_schedule_draft(d, "cancelled")
        .await
        .unwrap()
        .is_none());

    // A draft waiting for the chat's zone question: taken once by `/schedule zone NAME`.
    let z = store
        .add_schedule_draft(CHAT, UserId(1), &b, src, true)
        .await
        .unwrap();
    assert!(store
        .take_schedule_draft(z, "created")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.take_zone_draft(CHAT).await.unwrap().map(|d| d.id),
        Some(z)
    );
    assert!(store.take_zone_draft(CHAT).await.unwrap().is_none());
    assert_eq!(
        store.schedule_draft(z).await.unwrap().unwrap().state,
        "pending"
    );

    // Queued runs: one per job, taken once, with the job as it fired.
    let sb = store.job(b.id).await.unwrap().unwrap();
    assert!(store
        .queue_run(&sb, "api", ts("2026-12-01T10:00:00Z"))
        .await
        .unwrap());
    assert!(!store
        .queue_run(&sb, "api", ts("2026-12-01T12:00:00Z"))
        .await
        .unwrap());
    assert!(store.is_run_queued(b.id).await.unwrap());
    assert_eq!(store.queued_runs().await.unwrap().len(), 1);
    let run = store.take_queued_run(b.id).await.unwrap().unwrap();
    assert_eq!(
        (run.session.as_str(), run.fired_at),
        ("api", ts("2026-12-01T10:00:00Z"))
    );
    assert_eq!(
        run.fired.map(|f| (f.job, f.chat)),
        Some((sb.job.clone(), sb.chat))
    );
    assert!(store.take_queued_run(b.id).await.unwrap().is_none());
    assert!(!store.is_run_queued(b.id).await.unwrap());

    // A chat's zone.
    assert_eq!(store.chat_zone(CHAT).await.unwrap(), None);
    store.set_chat_zone(CHAT, "Asia/Kolkata").await.unwrap();
    assert_eq!(
        store.chat_zone(CHAT).await.unwrap().as_deref(),
        Some("Asia/Kolkata")
    );

    // A one-shot finished is deleted; delete says whether there was one.
    store
        .settle_job(b.id, ts("2026-12-09T00:00:00Z"), None, true)
        .await
        .unwrap();
    assert!(store.job(b.id).await.unwrap().is_none());
    assert!(store.delete_job(a.id).await.unwrap());
    assert!(!store.delete_job(a.id).await.unwrap());
    assert!(store.jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_timer_fires_on_time_once_and_reports_missed_fires_once() {
    let r = rig("2026-12-01T07:00:00Z").await;
    let j = r
        .store
        .add_job(
            Some(CHAT),
            job("0 9 * * * backend: triage", "2026-12-01T07:00:00Z"),
        )
        .await
        .unwrap();
    // 09:00 Berlin is 08:00 UTC.
    assert_eq!(
        r.timer.tick().await.unwrap(),
        Some(ts("2026-12-01T08:00:00Z"))
    );
    assert!(r.typed().is_empty());

    r.clock.set(ts("2026-12-01T08:00:02Z"));
    r.busy(false);
    r.timer.tick().await.unwrap();
    assert_eq!(r.typed(), ["triage\r"]);
    r.timer.tick().await.unwrap();
    assert_eq!(r.typed().len(), 1, "never twice");
    assert_eq!(r.outcomes(j.id).await, ["delivered"]);
    let notes = r.wait_notes(1).await;
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]
            .0
            .starts_with(&format!("⏰ job {} → backend", j.id)),
        "{notes:?}"
    );
    assert!(!notes[0].1, "buzzes under the default /notify all");

    // Down for three days: one silent notice, nothing typed, then on time again.
    r.clock.set(ts("2026-12-04T08:30:00Z"));
    assert_eq!(
        r.timer.tick().await.unwrap(),
        Some(ts("2026-12-05T08:00:00Z"))
    );
    assert_eq!(r.typed().len(), 1);
    assert_eq!(r.outcomes(j.id).await, ["delivered", "missed"]);
    let notes = r.wait_notes(2).await;
    assert_eq!(notes.len(), 2);
    assert!(
        notes[1].0.contains("missed 3 runs") && notes[1].0.contains("while walkie was down"),
        "{notes:?}"
    );
    assert!(notes[1].1, "silent");
    r.timer.tick().await.unwrap();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(r.notes().len(), 2, "reported once");
}

#[tokio::test]
async fn a_busy_target_is_skipped_or_sent_as_the_job_says_and_run_now_always_fires() {
    let r = rig("2026-12-01T07:00:00Z").await;
    let skip = r
        .store
        .add_job(
            Some(CHAT),
            job(
                "0 9 * * * backend: skipped when busy",
                "2026-12-01T07:00:00Z",
            ),
        )
        .await
        .unwrap();
    let mut send = job("0 9 * * * backend: sent anyway", "2026-12-01T07:00:00Z");
    send.overlap = Overlap::Send;
    let send = r.store.add_job(Some(CHAT), send).await.unwrap();
    r.busy(true);
    r.clock.set(ts("2026-12-01T08:00:01Z"));
    r.timer.tick().await.unwrap();
    assert_eq!(r.typed(), ["sent anyway\r"]);
    assert_eq!(r.outcomes(skip.id).await, ["skipped (busy)"]);
    assert_eq!(r.outcomes(send.id).await, ["delivered"]);
    let skipped: Vec<_> = r
        .wait_notes(2)
        .await
        .into_iter()
        .filter(|(t, _)| t.contains("skipped"))
        .collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].1, "a skip is a silent note");

    // Run now fires even a busy target, once.
    r.store.ask_run_now(skip.id).await.unwrap();
    r.timer.tick().await.unwrap();
    r.timer.tick().await.unwrap();
    assert_eq!(r.typed(), ["sent anyway\r", "skipped when busy\r"]);
}

#[tokio::test]
async fn a_missing_target_is_a_failed_run_with_the_reason() {
    let r = rig("2026-12-01T07:00:00Z").await;
    let j = r
        .store
        .add_job(Some(CHAT), job("in 5m gone: hello", "2026-12-01T07:00:00Z"))
        .await
        .unwrap();
    let remote = r
        .store
        .add_job(
            Some(CHAT),
            job("in 5m backend@build1: hello", "2026-12-01T07:00:00Z"),
        )
        .await
        .unwrap();
    r.clock.set(ts("2026-12-01T07:05:01Z"));
    assert_eq!(
        r.timer.tick().await.unwrap(),
        None,
        "both one-shots are done"
    );
    let runs = r.store.runs(j.id, 10).await.unwrap();
    assert_eq!(runs[0].outcome, "failed");
    assert!(runs[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("no session gone"));
    let runs = r.store.runs(remote.id, 10).await.unwrap();
    assert!(
        runs[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("no session backend@build1"),
        "{runs:?}"
    );
    assert!(r.typed().is_empty());
    assert!(r.store.jobs().await.unwrap().is_empty());
}

#[test]
fn busy_means_it_printed_within_quiet_after() {
    let q = Duration::from_secs(20);
    let mut s = session("a", SessionState::Running);
    assert_eq!(target_state(None, q, false), TargetState::Idle);
    s.idle_ms = Some(1_000);
    assert_eq!(target_state(Some(&s), q, false), TargetState::Busy);
    assert_eq!(target_state(Some(&s), q, true), TargetState::BusyWithQueued);
    s.idle_ms = Some(20_000);
    assert_eq!(target_state(Some(&s), q, false), TargetState::Idle);
    s.idle_ms = Some(1_000);
    s.state = SessionState::Exited {
        code: Some(0),
        signal: None,
    };
    assert_eq!(target_state(Some(&s), q, false), TargetState::Idle);
}

#[tokio::test]
async fn a_queued_run_waits_for_the_target_to_be_idle_and_a_second_is_skipped() {
    let r = rig("2026-12-01T07:00:00Z").await;
    let mut q = job("*/5 * * * * backend: queued", "2026-12-01T07:00:00Z");
    q.overlap = Overlap::Queue;
    let q = r.store.add_job(Some(CHAT), q).await.unwrap();
    r.busy(true);
    r.clock.set(ts("2026-12-01T07:05:01Z"));
    r.timer.tick().await.unwrap();
    assert_eq!(r.outcomes(q.id).await, ["queued"]);
    // Still busy at the next fire: one queued run at most, the newer is skipped.
    r.clock.set(ts("2026-12-01T07:10:01Z"));
    r.timer.tick().await.unwrap();
    assert_eq!(r.outcomes(q.id).await, ["queued", "skipped (busy)"]);
    assert!(r.typed().is_empty());
    // Idle: the queued run is typed, once.
    r.busy(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while r.typed().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queued run never came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(r.typed(), ["queued\r"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while r.outcomes(q.id).await.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        r.outcomes(q.id).await,
        ["queued", "skipped (busy)", "delivered"]
    );
}

/// Waits (bounded) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_queued_run_survives_a_restart_and_is_delivered_once() {
    let r = rig("2026-12-01T07:00:00Z").await;
    let mut q = job("*/5 * * * * backend: after restart", "2026-12-01T07:00:00Z");
    q.overlap = Overlap::Queue;
    let q = r.store.add_job(Some(CHAT), q).await.unwrap();
    r.busy(true);
    r.clock.set(ts("2026-12-01T07:05:01Z"));
    r.timer.tick().await.unwrap();
    assert_eq!(r.outcomes(q.id).await, ["queued"]);
    // The bot stops while the run waits: it stays in the store.
    r.timer.stop();
    assert_eq!(r.store.queued_runs().await.unwrap().len(), 1);
    // Two schedulers resume it (a restart, and a second look at the same store): still one
    // delivery when the target is idle.
    let after = Scheduler::new(r.console.clone(), r.clock.clone() as Arc<dyn Clock>);
    let other = Scheduler::new(r.console.clone(), r.clock.clone() as Arc<dyn Clock>);
    assert_eq!(after.resume_queued().await.unwrap(), 1);
    assert_eq!(other.resume_queued().await.unwrap(), 1);
    // Busy still: a fire now is skipped, not queued twice.
    r.clock.set(ts("2026-12-01T07:10:01Z"));
    after.tick().await.unwrap();
    assert_eq!(r.outcomes(q.id).await, ["queued", "skipped (busy)"]);
    assert!(r.typed().is_empty());
    r.busy(false);
    until("the queued run", || !r.typed().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(r.typed(), ["after restart\r"], "delivered once");
    assert!(r.store.queued_runs().await.unwrap().is_empty());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while r.outcomes(q.id).await.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        r.outcomes(q.id).await,
        ["queued", "skipped (busy)", "delivered"]
    );
    after.stop();
    other.stop();
}

#[tokio::test]
async fn an_unreachable_host_is_caught_up_when_it_is_back() {
    let r = rig("2026-12-01T07:00:00Z").await;
    r.host.add("api@cloud", SessionState::Running);
    r.busy(false);
    let mut late = job("0 9 * * * api@cloud: within grace", "2026-12-01T07:00:00Z");
    late.catch_up = walkie_schedule::CatchUp::RunLate { grace_s: 600 };
    let late = r.store.add_job(Some(CHAT), late).await.unwrap();
    let skip = r
        .store
        .add_job(
            Some(CHAT),
            job("0 9 * * * api@cloud: past grace", "2026-12-01T07:00:00Z"),
        )
        .await
        .unwrap();
    r.host.with(|s| s.down.push("cloud".into()));
    // 09:00 Berlin passes while cloud is down: not failed, not run, nothing reported.
    r.clock.set(ts("2026-12-01T08:00:05Z"));
    let wake = r.timer.tick().await.unwrap().unwrap();
    assert!(
        wake <= ts("2026-12-01T08:00:07Z"),
        "it looks again soon: {wake}"
    );
    assert!(r.typed().is_empty());
    assert!(r.outcomes(late.id).await.is_empty());
    assert!(r.outcomes(skip.id).await.is_empty());
    r.clock.set(ts("2026-12-01T08:04:00Z"));
    r.timer.tick().await.unwrap();
    assert!(
        r.outcomes(late.id).await.is_empty(),
        "still down: still held"
    );

    // Back after 5 minutes: within the grace the fire runs once; without one it is one
    // notice saying the host was down.
    r.host.with(|s| s.down.clear());
    r.clock.set(ts("2026-12-01T08:05:00Z"));
    r.timer.tick().await.unwrap();
    assert_eq!(r.typed(), ["within grace\r"]);
    assert_eq!(r.outcomes(late.id).await, ["delivered"]);
    assert_eq!(r.outcomes(skip.id).await, ["missed"]);
    let runs = r.store.runs(skip.id, 10).await.unwrap();
    assert_eq!(runs[0].fired_at, ts("2026-12-01T08:00:00Z").as_second());
    let notes = r.wait_notes(2).await;
    let missed: Vec<_> = notes.iter().filter(|(t, _)| t.contains("missed")).collect();
    assert_eq!(missed.len(), 1, "{notes:?}");
    assert!(
        missed[0]
            .0
            .contains("missed Tue 1 Dec 2026 09:00 CET while cloud was down"),
        "{notes:?}"
    );
    // Never twice.
    r.timer.tick().await.unwrap();
    assert_eq!(r.typed().len(), 1);
    assert_eq!(r.outcomes(skip.id).await.len(), 1);

    // Down across the next fire for longer than the grace: one notice, not a run.
    r.host.with(|s| s.down.push("cloud".into()));
    r.clock.set(ts("2026-12-02T08:00:01Z"));
    r.timer.tick().await.unwrap();
    r.host.with(|s| s.down.clear());
    r.clock.set(ts("2026-12-02T09:00:00Z"));
    r.timer.tick().await.unwrap();
    assert_eq!(r.typed().len(), 1);
    assert_eq!(r.outcomes(late.id).await, ["delivered", "missed"]);
}

#[tokio::test]
async fn a_queued_one_shot_is_delivered_although_its_job_is_gone() {
    let r = rig("2026-12-01T07:00:00Z").await;
    let mut q = job("in 5m backend: one shot, queued", "2026-12-01T07:00:00Z");
    q.overlap = Overlap::Queue;
    let q = r.store.add_job(Some(CHAT), q).await.unwrap();
    r.busy(true);
    r.clock.set(ts("2026-12-01T07:05:01Z"));
    r.timer.tick().await.unwrap();
    assert_eq!(r.outcomes(q.id).await, ["queued"]);
    assert!(
        r.store.job(q.id).await.unwrap().is_none(),
        "the one-shot fired"
    );
    r.busy(false);
    until("the queued one-shot", || !r.typed().is_empty()).await;
    assert_eq!(r.typed(), ["one shot, queued\r"]);
    r.timer.stop();
}
