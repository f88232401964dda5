//! Scheduled dispatch end to end (issue 16): the real `walkie up` against the strict fake
//! Telegram and a real session host; jobs made from the phone (confirmation card, Create)
//! and from the terminal (`walkie schedule ... --json`). The clock is the test-only offset
//! file (`WALKIE_TEST_CLOCK_FILE`): the tests move time forward instead of waiting minutes.

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

mod support;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bot_rig::{new_sh, BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram};
use jiff::Timestamp;
use walkie_console::schedule::store::RunRecord;
use walkie_host_proto::client::Client;

const T: Duration = Duration::from_secs(30);
const ZONE: &str = "Europe/Berlin";

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(150), f)
        .await
        .expect("test took longer than 150 s")
}

/// The offset file of the test clock, and the time it makes.
struct TestClock {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl TestClock {
    fn new() -> TestClock {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("clock");
        std::fs::write(&file, "0").expect("clock file");
        TestClock { _dir: dir, file }
    }

    fn offset(&self) -> i64 {
        std::fs::read_to_string(&self.file)
            .expect("clock")
            .trim()
            .parse()
            .expect("offset")
    }

    fn now(&self) -> i64 {
        Timestamp::now().as_second() + self.offset()
    }

    /// Moves the clock so that it reads `at` (Unix seconds) now.
    fn set(&self, at: i64) {
        let offset = at - Timestamp::now().as_second();
        std::fs::write(&self.file, offset.to_string()).expect("clock file");
    }

    fn path(&self) -> &str {
        self.file.to_str().expect("utf-8 path")
    }
}

async fn start(fake: &FakeTelegram, clock: &TestClock) -> BotRig {
    start_with(fake, clock, &[]).await
}

async fn start_with(fake: &FakeTelegram, clock: &TestClock, extra: &[(&str, &str)]) -> BotRig {
    let mut env = vec![
        ("SHELL", "/bin/sh"),
        ("WALKIE_TEST_CLOCK_FILE", clock.path()),
        ("WALKIE_SCHEDULE_ZONE", ZONE),
        ("WALKIE_QUIET_AFTER_S", "2"),
    ];
    env.extend_from_slice(extra);
    let rig = BotRig::start(fake, &env, &[], None).await;
    rig.wait_started(fake, 1, T).await;
    rig
}

/// The whisper model beside the repository (as in CI), or `WALKIE_MODEL`.
fn model() -> String {
    std::env::var("WALKIE_MODEL").unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/models/ggml-tiny.en.bin")
            .display()
            .to_string()
    })
}

fn has_data(m: &ChatMessage, prefix: &str) -> Option<String> {
    m.button_data().into_iter().find(|d| d.starts_with(prefix))
}

async fn screen(socket: &Path, name: &str) -> String {
    match Client::connect(socket).await {
        Ok(mut c) => c.screen(name, false).await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (bounded) until `name`'s screen satisfies `pred`.
async fn wait_screen(socket: &Path, name: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let s = screen(socket, name).await;
        if pred(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; {name}'s screen:\n{s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the next card after `before` of the bot's messages (the zone question or a
/// job's card); with a zone question, presses Use and waits for the same message to become
/// the job's card. Returns the card and whether the zone was asked.
async fn card_after(fake: &FakeTelegram, before: usize) -> (ChatMessage, bool) {
    // A voice note is transcribed first: longer than a typed line on a loaded machine.
    let first = fake
        .wait_until(Duration::from_secs(90), "a schedule card", |s| {
            s.bot_messages(OPERATOR)
                .into_iter()
                .skip(before)
                .find(|m| {
                    has_data(m, "sd:c:")
                        .or_else(|| has_data(m, "sz:u:"))
                        .is_some()
                })
                .cloned()
        })
        .await;
    let Some(use_zone) = has_data(&first, "sz:u:") else {
        return (first, false);
    };
    assert!(
        first.text.starts_with(&format!("🕘 Times in {ZONE}?")),
        "{}",
        first.text
    );
    assert_eq!(
        first
            .buttons()
            .into_iter()
            .map(|(t, _)| t)
            .collect::<Vec<_>>(),
        [format!("Use {ZONE}"), "Other…".to_string()]
    );
    fake.press_button(OPERATOR, OPERATOR, first.message_id, &use_zone);
    let id = first.message_id;
    let card = fake
        .wait_until(T, "the zone question to become the job's card", |s| {
            s.message(OPERATOR, id)
                .filter(|m| has_data(m, "sd:c:").is_some())
                .cloned()
        })
        .await;
    (card, true)
}

/// Presses Create on `card` and waits for it to be edited into "✅ Created job N"
/// without buttons; returns N.
async fn create(fake: &FakeTelegram, card: &ChatMessage) -> u64 {
    let create = has_data(card, "sd:c:").expect("Create");
    assert!(
        has_data(card, "sd:x:").is_some(),
        "a Cancel button: {:?}",
        card.buttons()
    );
    fake.press_button(OPERATOR, OPERATOR, card.message_id, &create);
    let id = card.message_id;
    let created = fake
        .wait_until(T, "the card to say the job was created", |s| {
            s.message(OPERATOR, id)
                .filter(|m| m.text.starts_with("✅ Created job ") && m.reply_markup.is_none())
                .cloned()
        })
        .await;
    created
        .text
        .trim_start_matches("✅ Created job ")
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("job id")
}

/// `/schedule add LINE`, its card checked and Create pressed; returns the job's id, the
/// card as it was before Create, and whether the zone was asked first.
async fn add_from_phone(fake: &FakeTelegram, line: &str) -> (u64, ChatMessage, bool) {
    let before = fake.with(|s| s.bot_messages(OPERATOR).len());
    fake.send_text(OPERATOR, &format!("/schedule add {line}"));
    let (card, asked) = card_after(fake, before).await;
    (create(fake, &card).await, card, asked)
}

async fn runs(rig: &BotRig, job: u64) -> Vec<RunRecord> {
    let s = rig.store().await;
    let r = s.runs(job, 100).await.expect("runs");
    s.close().await;
    r
}

async fn wait_runs(rig: &BotRig, job: u64, n: usize, what: &str) -> Vec<RunRecord> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let r = runs(rig, job).await;
        if r.len() >= n {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; runs: {r:?}\n{}",
            rig.bot_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The start of the next minute plus `secs`, as the clock reads.
fn next_minute(now: i64) -> i64 {
    (now / 60 + 1) * 60
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_for_the_next_minute_fires_once_and_a_restart_across_a_fire_reports_it_missed() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let clock = TestClock::new();
        // Five seconds into a minute, so that the card is answered well before the next.
        clock.set(next_minute(clock.now()) + 5);
        let mut rig = start(&fake, &clock).await;
        new_sh(&fake, "backend").await;

        let fire = next_minute(clock.now());
        let local = Timestamp::from_second(fire).unwrap().in_tz(ZONE).unwrap();
        let line = format!(
            "{} {} * * * backend: echo sched-$((6*7))",
            local.minute(),
            local.hour()
        );
        let (job, card, asked) = add_from_phone(&fake, &line).await;
        // The zone was asked (the chat's first job), and the card shows the schedule in
        // words and three fires.
        assert!(asked, "the chat's first job asks its zone");
        assert!(card.text.contains("every day at"), "{}", card.text);
        assert_eq!(card.text.matches('•').count(), 3, "{}", card.text);
        assert!(card.text.contains("CET"), "{}", card.text);

        // The fire time comes: the text is typed into the session (the shell ran it).
        clock.set(fire + 3);
        wait_screen(&rig.socket(), "backend", "the scheduled text", |s| {
            s.contains("\nsched-42")
        })
        .await;
        fake.wait_for_bot_message(OPERATOR, T, "the run's message", |m| {
            m.text.starts_with(&format!("⏰ job {job} → backend"))
        })
        .await;
        let r = wait_runs(&rig, job, 1, "the run to be recorded").await;
        assert_eq!(r[0].outcome, "delivered");
        assert_eq!(r[0].fired_at, fire);
        let audit: Vec<_> = rig
            .audit()
            .await
            .into_iter()
            .filter(|a| a.action == "dispatch")
            .collect();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(
            audit[0].source.as_deref(),
            Some(&*format!("schedule {job}"))
        );
        assert_eq!(audit[0].user_id, None);
        assert!(audit[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("done by schedule"));

        // walkie is down across tomorrow's fire: at the restart it is reported missed,
        // once, and not run.
        rig.kill_bot().await;
        clock.set(fire + 86_400 + 180);
        rig.start_bot();
        rig.wait_started(&fake, 2, T).await;
        let notice = fake
            .wait_for_bot_message(OPERATOR, T, "the missed notice", |m| {
                m.text.contains("while walkie was down")
            })
            .await;
        assert!(notice.silent, "a missed run is a silent note");
        assert!(
            notice.text.contains(&format!("job {job}: missed")),
            "{}",
            notice.text
        );
        let r = wait_runs(&rig, job, 2, "the missed run").await;
        assert_eq!(
            r.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
            ["delivered", "missed"]
        );
        assert_eq!(r[1].fired_at, fire + 86_400);
        // The day after, it runs again, and only then: two deliveries in all, one notice.
        clock.set(fire + 2 * 86_400 + 2);
        let r = wait_runs(&rig, job, 3, "the third day's run").await;
        assert_eq!(r[2].outcome, "delivered");
        let s = wait_screen(&rig.socket(), "backend", "the second run", |s| {
            s.matches("\nsched-42").count() == 2
        })
        .await;
        assert_eq!(s.matches("\nsched-42").count(), 2, "{s}");
        let notices = fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .filter(|m| m.text.contains("while walkie was down"))
                .count()
        });
        assert_eq!(notices, 1);
        assert_eq!(runs(&rig, job).await.len(), 3, "nothing doubled");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_fires_once_and_is_gone_and_a_preset_job_starts_in_its_directory() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let clock = TestClock::new();
        let rig = start(&fake, &clock).await;
        new_sh(&fake, "backend").await;
        let proj = rig.host.dir.path().join("proj");
        std::fs::create_dir_all(&proj).unwrap();

        let (once, card, asked) = add_from_phone(&fake, "in 1m backend: echo once-$((2+3))").await;
        assert!(asked);
        assert!(card.text.contains("once"), "{}", card.text);
        assert_eq!(
            card.text.matches('•').count(),
            1,
            "a one-shot fires once: {}",
            card.text
        );
        let line = format!("in 2m once:shell:{}: pwd", proj.display());
        let (preset_job, _, asked) = add_from_phone(&fake, &line).await;
        assert!(!asked, "asked once");

        // One minute on: the one-shot fires, once, and its job is gone.
        clock.set(clock.now() + 62);
        wait_screen(&rig.socket(), "backend", "the one-shot's text", |s| {
            s.contains("\nonce-5")
        })
        .await;
        let r = wait_runs(&rig, once, 1, "the one-shot's run").await;
        assert_eq!(r[0].outcome, "delivered");
        let store = rig.store().await;
        assert!(
            store.job(once).await.unwrap().is_none(),
            "the one-shot is gone"
        );
        store.close().await;

        // Another minute: the preset job starts its session in its directory, types its
        // text, and (`once:`) ends the session after its turn.
        clock.set(clock.now() + 62);
        let name = format!("job-{preset_job}");
        let s = wait_screen(&rig.socket(), &name, "the job session's pwd", |s| {
            s.contains(&format!("\n{}", proj.display()))
        })
        .await;
        assert!(s.contains("pwd"), "{s}");
        let mut c = Client::connect(&rig.socket()).await.unwrap();
        let info = c
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.name == name)
            .unwrap();
        assert_eq!(Path::new(&info.cwd), proj.as_path());
        let ended = c.wait(&name, Duration::from_secs(30)).await.unwrap();
        assert!(!ended.state.is_live(), "ended after its turn: {ended:?}");
        let r = wait_runs(&rig, preset_job, 1, "the preset job's run").await;
        assert_eq!(r[0].outcome, "delivered");
        // The first one-shot never fired again.
        assert_eq!(runs(&rig, once).await.len(), 1);
        let s = screen(&rig.socket(), "backend").await;
        assert_eq!(s.matches("\nonce-5").count(), 1, "{s}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_adds_lists_runs_and_removes_jobs_as_json() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let clock = TestClock::new();
        let rig = start(&fake, &clock).await;
        new_sh(&fake, "backend").await;

        let cli = |args: &[&str]| {
            let out = rig.host.run(args);
            assert!(
                out.status.success(),
                "walkie {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
        };
        let added = cli(&[
            "schedule",
            "add",
            "0 3 * * * backend: echo cli-$((1+1))",
            "--json",
        ]);
        let id = added["id"].as_u64().expect("id");
        assert_eq!(added["zone"], ZONE);
        assert_eq!(added["describe"], "every day at 03:00 (Europe/Berlin)");
        let ls = cli(&["schedule", "ls", "--json"]);
        assert_eq!(ls.as_array().map(Vec::len), Some(1));
        assert_eq!(ls[0]["id"].as_u64(), Some(id));
        assert_eq!(ls[0]["target_describe"], "backend");

        // `run` fires it through the bot, exactly once, and reports the outcome.
        let ran = cli(&["schedule", "run", &id.to_string(), "--json"]);
        assert_eq!(ran["outcome"], "delivered");
        wait_screen(&rig.socket(), "backend", "the CLI's run", |s| {
            s.contains("\ncli-2")
        })
        .await;
        let history = cli(&["schedule", "history", &id.to_string(), "--json"]);
        assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
        assert_eq!(history[0]["outcome"], "delivered");

        // A wrong line says what is wrong; nothing is added.
        let bad = rig.host.run(&["schedule", "add", "every 2h backend"]);
        assert!(!bad.status.success());
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("<schedule> <target>: <text>"),
            "{}",
            String::from_utf8_lossy(&bad.stderr)
        );

        let rm = rig.host.run(&["schedule", "rm", &id.to_string()]);
        assert!(rm.status.success());
        assert_eq!(cli(&["schedule", "ls", "--json"]), serde_json::json!([]));
        // The terminal's changes are audited, and the run as done by the schedule.
        let audit = rig.audit().await;
        let cli_lines: Vec<_> = audit
            .iter()
            .filter(|a| a.source.as_deref() == Some("cli"))
            .filter_map(|a| a.text.clone())
            .collect();
        assert_eq!(
            cli_lines,
            [
                format!("walkie schedule add 0 3 * * * backend: echo cli-$((1+1)) (job {id})"),
                format!("walkie schedule run {id}"),
                format!("walkie schedule rm {id}"),
            ]
        );
        assert!(audit
            .iter()
            .any(|a| a.action == "dispatch"
                && a.source.as_deref() == Some(&*format!("schedule {id}"))));
        // The phone's list says so too.
        fake.send_text(OPERATOR, "/schedule");
        fake.wait_for_bot_message(OPERATOR, T, "the empty list", |m| {
            m.text.starts_with("No jobs yet")
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_options_and_overlap_buttons_and_cards_and_run_notes_survive_telegram_faults() {
    use fake_telegram::{Fault, Select, When};
    bounded(async {
        let fake = FakeTelegram::start().await;
        let clock = TestClock::new();
        clock.set(next_minute(clock.now()) + 5);
        let rig = start(&fake, &clock).await;
        new_sh(&fake, "backend").await;

        // The zone question (the chat's first card) is lost once on the way: retried.
        let lost = fake.fault(
            Select::method_where("sendMessage", |p| p.to_string().contains("sz:u:")),
            When::Nth(1),
            Fault::Drop,
        );
        let before = fake.with(|s| s.bot_messages(OPERATOR).len());
        fake.send_text(
            OPERATOR,
            "/schedule add --overlap queue in 1m backend --grace 5m: echo opts-$((3*3))",
        );
        let (card, asked) = card_after(&fake, before).await;
        assert!(asked);
        assert_eq!(fake.fault_hits(lost), 1, "the fault struck");
        // The options are on the card, and the current overlap is marked.
        assert!(
            card.text.contains("if still busy: queue the run"),
            "{}",
            card.text
        );
        assert!(
            card.text.contains("run once if at most 5m late"),
            "{}",
            card.text
        );
        let labels: Vec<String> = card.buttons().into_iter().map(|(t, _)| t).collect();
        assert!(
            labels.contains(&"• queue if busy".to_string()),
            "{labels:?}"
        );
        // Send instead, from its button: the card is edited in place.
        let send = has_data(&card, "sd:oe:").expect("the send button");
        fake.press_button(OPERATOR, OPERATOR, card.message_id, &send);
        let id = card.message_id;
        let card = fake
            .wait_until(T, "the card to show send", |s| {
                s.message(OPERATOR, id)
                    .filter(|m| m.text.contains("if still busy: send it anyway"))
                    .cloned()
            })
            .await;
        assert!(card.buttons().iter().any(|(t, _)| t == "• send if busy"));
        // Create pressed twice (a double tap, before the card lost its buttons): the job
        // is made once, and the second press is told the card is used.
        let data = has_data(&card, "sd:c:").unwrap();
        fake.press_button(OPERATOR, OPERATOR, card.message_id, &data);
        let job = create(&fake, &card).await;
        fake.wait_for_bot_message(OPERATOR, T, "the used card's answer", |m| {
            m.text == "That card was already used."
        })
        .await;
        let store = rig.store().await;
        let jobs = store.jobs().await.unwrap();
        store.close().await;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].job.overlap, walkie_schedule::Overlap::Send);
        assert_eq!(
            jobs[0].job.catch_up,
            walkie_schedule::CatchUp::RunLate { grace_s: 300 }
        );

        // A second card (the zone is known now) is dropped once too, and still arrives.
        let lost_card = fake.fault(
            Select::method_where("sendMessage", |p| p.to_string().contains("sd:c:")),
            When::Nth(1),
            Fault::Drop,
        );
        let before = fake.with(|s| s.bot_messages(OPERATOR).len());
        fake.send_text(OPERATOR, "/schedule add every 2h backend: echo later");
        let (second, asked) = card_after(&fake, before).await;
        assert!(!asked, "the zone is asked once");
        assert_eq!(fake.fault_hits(lost_card), 1);
        let cancel = has_data(&second, "sd:x:").unwrap();
        fake.press_button(OPERATOR, OPERATOR, second.message_id, &cancel);
        let id = second.message_id;
        fake.wait_until(T, "the card to say cancelled", |s| {
            s.message(OPERATOR, id)
                .filter(|m| m.text.starts_with("Cancelled") && m.reply_markup.is_none())
                .cloned()
        })
        .await;

        // The run's note is hit by a 502 once: retried, it arrives.
        let bad_gateway = fake.fault(
            Select::method_where("sendMessage", |p| {
                p["text"].as_str().is_some_and(|t| t.starts_with("⏰ job"))
            }),
            When::Nth(1),
            Fault::Status(502),
        );
        clock.set(clock.now() + 62);
        wait_screen(&rig.socket(), "backend", "the job's text", |s| {
            s.contains("\nopts-9")
        })
        .await;
        fake.wait_for_bot_message(OPERATOR, Duration::from_secs(60), "the run's note", |m| {
            m.text.starts_with(&format!("⏰ job {job} → backend"))
        })
        .await;
        assert_eq!(fake.fault_hits(bad_gateway), 1, "the 502 struck");
        let notes = fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .filter(|m| m.text.starts_with(&format!("⏰ job {job} → backend")))
                .count()
        });
        assert_eq!(notes, 1, "one note");
        assert_eq!(runs(&rig, job).await.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_schedule_proposes_a_job_and_create_stores_it() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let clock = TestClock::new();
        let model = model();
        let rig = start_with(&fake, &clock, &[("WALKIE_MODEL", &model)]).await;
        new_sh(&fake, "backend").await;

        let note = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/voice/every_day_backend.ogg"),
        )
        .expect("the fixture");
        let before = fake.with(|s| s.bot_messages(OPERATOR).len());
        fake.send_voice(OPERATOR, note, 4);
        let (card, asked) = card_after(&fake, before).await;
        assert!(asked, "the chat's first job asks its zone");
        // tiny.en hears "Every day at nine, back end, run the tests.": the name in two words.
        assert!(card.text.contains("every day at 09:00"), "{}", card.text);
        assert!(
            card.text.contains("→ backend: run the tests"),
            "{}",
            card.text
        );
        assert_eq!(
            card.text.matches('•').count(),
            3,
            "three fires: {}",
            card.text
        );
        let job = create(&fake, &card).await;
        let store = rig.store().await;
        let stored = store.job(job).await.unwrap().expect("the job is stored");
        store.close().await;
        assert_eq!(stored.job.target.describe(), "backend");
        assert!(
            stored.job.text.starts_with("run the tests"),
            "{}",
            stored.job.text
        );
        assert_eq!(stored.job.zone.name(), ZONE);
        // Nothing was typed: a proposal is not a dispatch.
        assert!(rig.audit().await.iter().all(|a| a.action != "dispatch"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_survives_a_bot_restart_and_is_delivered_once_when_the_target_is_idle() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let clock = TestClock::new();
        let mut rig = start(&fake, &clock).await;
        new_sh(&fake, "backend").await;
        // The session is busy: it prints every half second.
        fake.send_text(OPERATOR, "backend: while :; do echo busy; sleep 0.5; done");
        wait_screen(&rig.socket(), "backend", "the busy loop", |s| {
            s.matches("\nbusy").count() >= 2
        })
        .await;
        let out = rig.host.run(&[
            "schedule",
            "add",
            "in 1m backend: echo queued-$((4*4))",
            "--overlap",
            "queue",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let job = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"]
            .as_u64()
            .expect("id");
        clock.set(clock.now() + 62);
        let r = wait_runs(&rig, job, 1, "the run to be queued").await;
        assert_eq!(r[0].outcome, "queued");

        // The bot restarts while the run waits; the new one resumes the wait.
        rig.kill_bot().await;
        rig.start_bot();
        rig.wait_started(&fake, 2, T).await;
        assert!(
            !screen(&rig.socket(), "backend")
                .await
                .contains("\nqueued-16"),
            "not while busy"
        );
        fake.send_text(OPERATOR, "/keys backend C-c");
        let s = wait_screen(&rig.socket(), "backend", "the queued run", |s| {
            s.contains("\nqueued-16")
        })
        .await;
        assert_eq!(s.matches("\nqueued-16").count(), 1, "{s}");
        let r = wait_runs(&rig, job, 2, "the delivery to be recorded").await;
        assert_eq!(
            r.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
            ["queued", "delivered"]
        );
        // Never twice: a while later there is still one, and nothing is held.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(runs(&rig, job).await.len(), 2);
        let s = screen(&rig.socket(), "backend").await;
        assert_eq!(s.matches("\nqueued-16").count(), 1, "{s}");
        let store = rig.store().await;
        assert!(store.queued_runs().await.unwrap().is_empty());
        store.close().await;
    })
    .await;
}

/// The cloud box's bridge command (as tests/hosts_phone.rs runs it): its own socket and
/// state, this build of walkie.
fn bridge_command(cloud: &support::host::TestHost) -> String {
    use support::host::{path_str, walkie_bin};
    format!(
        "env WALKIE_SOCKET={} WALKIE_STATE_DIR={} {} --no-spawn bridge --stdio",
        path_str(&cloud.socket),
        path_str(&cloud.state),
        walkie_bin().display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_host_is_down_is_caught_up_when_the_host_is_back() {
    use std::os::unix::fs::PermissionsExt;
    use support::host::{path_str, TestHost};
    use support::sshd::Sshd;
    bounded(async {
        let fake = FakeTelegram::start().await;
        let clock = TestClock::new();
        // The cloud box: a host behind a private sshd whose key may run just the bridge.
        let (cloud, mut sshd) = tokio::task::spawn_blocking(|| {
            let host = TestHost::start();
            let sshd = Sshd::start(&host.dir.path().join("sshd"));
            let public = std::fs::read_to_string(sshd.key.with_extension("pub")).unwrap();
            sshd.set_authorized_keys(&format!(
                "restrict,command=\"{}\" {}",
                bridge_command(&host),
                public.trim()
            ));
            (host, sshd)
        })
        .await
        .unwrap();
        let toml = format!(
            "[hosts.cloud]\nssh = \"{}@127.0.0.1:{}\"\nkey = \"{}\"\nbridge = \"{}\"\n",
            Sshd::user(),
            sshd.port,
            path_str(&sshd.key),
            bridge_command(&cloud).replace('"', "\\\"")
        );
        let env = [
            ("SHELL", "/bin/sh"),
            ("WALKIE_TEST_CLOCK_FILE", clock.path()),
            ("WALKIE_SCHEDULE_ZONE", ZONE),
            ("WALKIE_QUIET_AFTER_S", "2"),
        ];
        let mut rig = BotRig::start(&fake, &env, &[], Some(&toml)).await;
        rig.wait_started(&fake, 1, T).await;
        // Telegram lets a bot write only to people who have written to it; then the
        // cloud's host key is made known (as `walkie hosts trust` writes it).
        fake.send_text(OPERATOR, "/help");
        fake.wait_for_bot_message(OPERATOR, T, "help", |m| m.text.contains("/new"))
            .await;
        rig.kill_bot().await;
        let ssh = rig.host.state.join("ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700)).unwrap();
        let known = ssh.join("known_hosts");
        std::fs::write(
            &known,
            format!("{}\n", sshd.known_hosts_line(&sshd.host_key)),
        )
        .unwrap();
        std::fs::set_permissions(&known, std::fs::Permissions::from_mode(0o600)).unwrap();
        rig.start_bot();
        rig.wait_started(&fake, 2, T).await;

        // Wait until the cloud is up (a bounded poll of /ls, as the phone sees it).
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let sent = fake.send_text(OPERATOR, "/ls");
            let answer = fake
                .wait_until(T, "the answer to /ls", |s| {
                    s.bot_messages(OPERATOR)
                        .into_iter()
                        .find(|m| m.message_id > sent && m.text.contains("🖥 local"))
                        .cloned()
                })
                .await;
            if answer.text.contains("☁️ cloud · up") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{}", answer.text);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        fake.send_text(OPERATOR, "/new api@cloud -- sh");
        fake.wait_for_bot_message(OPERATOR, T, "the cloud session", |m| {
            m.text.contains("Started api@cloud")
        })
        .await;
        let add = |line: &str, grace: Option<&str>| {
            let mut args = vec!["schedule", "add", line, "--json"];
            if let Some(g) = grace {
                args.extend(["--grace", g]);
            }
            let out = rig.host.run(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"]
                .as_u64()
                .expect("id")
        };
        let late = add("in 1m api@cloud: echo caught-$((5*5))", Some("10m"));
        let missed = add("in 1m api@cloud: echo never-$((5*5))", None);

        // The link is cut; both fire times pass while the cloud is down.
        sshd.stop();
        fake.wait_for_bot_message(OPERATOR, Duration::from_secs(20), "cloud down", |m| {
            m.text.contains("cloud is down")
        })
        .await;
        let fire = clock.now() + 62;
        clock.set(fire + 120);
        // Not failed, not run: held while the host is away (a bounded look).
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(runs(&rig, late).await.is_empty(), "{}", rig.bot_log());
        assert!(runs(&rig, missed).await.is_empty());

        // The cloud is back, three minutes after the fire: within the 10 minutes of grace
        // the first runs once; the second (no grace) is one notice naming the host.
        sshd.restart();
        let r = wait_runs(&rig, late, 1, "the late run").await;
        assert_eq!(r[0].outcome, "delivered", "{r:?}");
        wait_screen(&cloud.socket, "api", "the caught-up run", |s| {
            s.contains("\ncaught-25")
        })
        .await;
        let r = wait_runs(&rig, missed, 1, "the missed run").await;
        assert_eq!(r[0].outcome, "missed");
        let notice = fake
            .wait_for_bot_message(OPERATOR, T, "the missed notice", |m| {
                m.text.contains(&format!("job {missed}: missed"))
            })
            .await;
        assert!(
            notice.text.contains("while cloud was down"),
            "{}",
            notice.text
        );
        // Once each.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(runs(&rig, late).await.len(), 1);
        assert_eq!(runs(&rig, missed).await.len(), 1);
        let s = screen(&cloud.socket, "api").await;
        assert_eq!(s.matches("\ncaught-25").count(), 1, "{s}");
        assert!(!s.contains("\nnever-25"), "{s}");
        drop(rig);
    })
    .await;
}
