//! Integration tests of the Telegram bot: the real `walkie up` binary against a strict
//! fake Telegram Bot API server (tests/support/fake_telegram.rs) and a real session host.

// Included by path so that this test binary takes only the fake from tests/support/.
#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

mod support;

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_telegram::{ChatMessage, FakeTelegram};
use nix::sys::signal::{kill, Signal};

use tokio::process::Command;
use walkie_console::store::{AuditRecord, Claim};
use walkie_host_proto::client::Client;

use bot_rig::{new_sh, BotRig};

use bot_rig::OPERATOR;
const STRANGER: i64 = 666;
const T: Duration = Duration::from_secs(30);

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("test took longer than 120 s")
}

/// The shared rig ([`BotRig`]) with this file's shell: `sh`.
struct Rig(BotRig);

impl Deref for Rig {
    type Target = BotRig;
    fn deref(&self) -> &BotRig {
        &self.0
    }
}

impl DerefMut for Rig {
    fn deref_mut(&mut self) -> &mut BotRig {
        &mut self.0
    }
}

impl Rig {
    async fn start(fake: &FakeTelegram) -> Rig {
        Rig::start_with(fake, &[], None).await
    }

    /// Starts with extra environment for the bot and an optional walkie.toml.
    async fn start_with(fake: &FakeTelegram, bot_env: &[(&str, &str)], toml: Option<&str>) -> Rig {
        Rig(BotRig::start(fake, &[("SHELL", "/bin/sh")], bot_env, toml).await)
    }

    fn log(&self, name: &str) -> String {
        match name {
            "host.log" => self.host.host_log(),
            _ => self.bot_log(),
        }
    }
}

/// Only what the processes need: no user config, no stray .env, no real token.
fn base_env(dir: &Path) -> Vec<(String, String)> {
    let s = |p: &Path| p.display().to_string();
    vec![
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        ),
        ("HOME".into(), s(dir)),
        ("XDG_CONFIG_HOME".into(), s(&dir.join("config"))),
        ("XDG_STATE_HOME".into(), s(&dir.join("xdg-state"))),
        ("XDG_RUNTIME_DIR".into(), s(dir)),
        ("WALKIE_STATE_DIR".into(), s(&dir.join("state"))),
        ("WALKIE_SOCKET".into(), s(&dir.join("host.sock"))),
        ("SHELL".into(), "/bin/sh".into()),
        ("TERM".into(), "xterm-256color".into()),
        ("RUST_LOG".into(), "info".into()),
        ("RUST_BACKTRACE".into(), "1".into()),
    ]
}

trait ClearEnv {
    fn env_clear_except_base(&mut self) -> &mut Self;
}

impl ClearEnv for Command {
    /// Removes the test's own environment (keeping what `base_env` set).
    fn env_clear_except_base(&mut self) -> &mut Self {
        for (k, _) in std::env::vars() {
            if k.starts_with("WALKIE_") || k.starts_with("TELEGRAM_") || k.starts_with("XDG_") {
                let keep = base_env(Path::new("/")).iter().any(|(b, _)| *b == k);
                if !keep {
                    self.env_remove(&k);
                }
            }
        }
        self
    }
}

/// The audit log's dispatches.
async fn dispatches(rig: &Rig) -> Vec<AuditRecord> {
    rig.audit()
        .await
        .into_iter()
        .filter(|a| a.action == "dispatch")
        .collect()
}

/// The bot is ready once it has registered its command menu.
async fn wait_ready(fake: &FakeTelegram, registrations: usize) {
    fake.wait_until(T, "walkie up to register its commands", |s| {
        (s.calls_to("setMyCommands").filter(|c| c.ok()).count() >= registrations).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused_once_and_audited_and_help_is_answered() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        let menu = fake.with(|s| s.commands.clone());
        for want in [
            "new", "ls", "use", "screen", "tail", "keys", "pause", "resume", "kill", "attach",
            "help",
        ] {
            assert!(
                menu.iter().any(|(c, d)| c == want && !d.is_empty()),
                "{want} not in {menu:?}"
            );
        }

        fake.send_text(STRANGER, "/new evil sh");
        fake.send_text(STRANGER, "rm -rf /");
        fake.send_text(OPERATOR, "/help");
        let help = fake
            .wait_for_bot_message(OPERATOR, T, "the answer to /help", |m| {
                m.text.contains("/new")
            })
            .await;
        assert!(
            help.text.contains("/screen") && help.text.contains("/attach"),
            "{}",
            help.text
        );

        // Strangers are refused off the update loop: wait for the refusal, then for both
        // audit lines (the second message is refused after the first).
        fake.wait_for_bot_message(STRANGER, T, "the refusal", |m| {
            m.text == "This is a private bot."
        })
        .await;
        let deadline = std::time::Instant::now() + T;
        let refused = loop {
            let refused: Vec<_> = rig
                .audit()
                .await
                .into_iter()
                .filter(|a| a.action == "refused" && a.user_id == Some(STRANGER))
                .collect();
            if refused.len() >= 2 || std::time::Instant::now() > deadline {
                break refused;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let to_stranger = fake.with(|s| {
            s.bot_messages(STRANGER)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        });
        assert_eq!(
            to_stranger.len(),
            1,
            "one refusal, nothing else: {to_stranger:?}"
        );
        assert_eq!(to_stranger[0].text, "This is a private bot.");
        let mut host = Client::connect(&rig.socket()).await.expect("host");
        assert!(
            host.list().await.expect("list").is_empty(),
            "the stranger created nothing"
        );

        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0].text.as_deref(), Some("/new evil sh"));
        assert!(
            refused[0]
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("answered"),
            "{refused:?}"
        );
        assert!(
            refused[1]
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("silent"),
            "{refused:?}"
        );
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_session_and_text_show_up_on_the_live_screen() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;

        new_sh(&fake, "t1").await;
        fake.send_text(OPERATOR, "echo walkie-$((6*7))");
        // The command line itself shows "walkie-$((6*7))"; only its output shows 42.
        let live = fake
            .wait_for_bot_message(OPERATOR, T, "the live screen to show the output", |m| {
                m.text.contains("walkie-42") && m.raw.starts_with("<b>t1</b>")
            })
            .await;
        assert!(live.raw.contains("<pre>"), "{}", live.raw);

        let dispatched: Vec<_> = dispatches(&rig).await;
        assert_eq!(dispatched.len(), 1, "{dispatched:?}");
        let d = &dispatched[0];
        assert_eq!(
            (
                d.user_id,
                d.chat_id,
                d.session.as_deref(),
                d.source.as_deref(),
                d.text.as_deref()
            ),
            (
                Some(OPERATOR),
                Some(OPERATOR),
                Some("t1"),
                Some("text"),
                Some("echo walkie-$((6*7))")
            )
        );

        // `name: text` routes to another session; unknown names get a one-line answer.
        new_sh(&fake, "t2").await;
        fake.send_text(OPERATOR, "t1: echo routed-$((1+1))");
        fake.wait_for_bot_message(OPERATOR, T, "t1's screen to show the routed text", |m| {
            m.raw.starts_with("<b>t1</b>") && m.text.contains("routed-2")
        })
        .await;
        fake.send_text(OPERATOR, "/screen nope");
        fake.wait_for_bot_message(OPERATOR, T, "an answer about the unknown session", |m| {
            m.text.starts_with("No session nope")
        })
        .await;
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_dispatches_a_message_twice_and_sigterm_stops_cleanly() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let mut rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "r1").await;
        fake.send_text(OPERATOR, "echo first-$((2+3))");
        fake.wait_for_bot_message(OPERATOR, T, "the first output", |m| {
            m.text.contains("first-5")
        })
        .await;
        // Output that comes while the bot is down shows on the same live message after
        // the restart.
        fake.send_text(OPERATOR, "(sleep 3; echo late-$((4+4))) &");
        let live = fake
            .wait_for_bot_message(OPERATOR, T, "the background command on screen", |m| {
                m.raw.starts_with("<b>r1</b>") && m.text.contains("echo late-")
            })
            .await;

        // SIGKILL: no chance to confirm the last updates with Telegram, so they are
        // delivered again to the next bot, which must not dispatch them again.
        kill(rig.bot_pid(), Signal::SIGKILL).expect("kill");
        let status = rig.bot.as_mut().expect("bot").wait().await.expect("wait");
        assert!(!status.success());
        rig.start_bot();
        wait_ready(&fake, 2).await;
        let live_id = live.message_id;
        fake.wait_until(T, "the same live message to show the late output", |s| {
            s.message(OPERATOR, live_id)
                .filter(|m| m.text.contains("late-8"))
                .map(|_| ())
        })
        .await;
        fake.send_text(OPERATOR, "echo second-$((3+4))");
        fake.wait_for_bot_message(OPERATOR, T, "the second output", |m| {
            m.text.contains("second-7")
        })
        .await;
        let dispatched: Vec<_> = rig
            .audit()
            .await
            .into_iter()
            .filter(|a| a.action == "dispatch")
            .filter_map(|a| a.text)
            .collect();
        assert_eq!(
            dispatched,
            vec![
                "echo first-$((2+3))",
                "(sleep 3; echo late-$((4+4))) &",
                "echo second-$((3+4))"
            ]
        );
        let mut host = Client::connect(&rig.socket()).await.expect("host");
        let screen = host.screen("r1", false).await.expect("screen");
        assert_eq!(
            screen.matches("first-5").count(),
            1,
            "typed once:\n{screen}"
        );

        // SIGTERM (what systemd sends): a clean, prompt exit.
        kill(rig.bot_pid(), Signal::SIGTERM).expect("sigterm");
        let status = tokio::time::timeout(T, rig.bot.as_mut().expect("bot").wait())
            .await
            .expect("the bot to exit after SIGTERM")
            .expect("wait");
        assert!(status.success(), "{status:?}: {}", rig.log("bot.log"));
        assert!(
            !rig.log("bot.log").contains(fake.token()),
            "the token reached the log"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_cut_off_by_a_crash_is_reported_not_lost_and_not_redone() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let mut rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        // The operator has a chat with the bot (Telegram refuses messages to strangers).
        fake.send_text(OPERATOR, "/help");
        fake.wait_for_bot_message(OPERATOR, T, "the help", |_| true)
            .await;
        kill(rig.bot_pid(), Signal::SIGKILL).expect("kill");
        rig.bot.as_mut().expect("bot").wait().await.expect("wait");
        // What a bot killed between claiming an update and finishing it leaves behind.
        let store = rig.store().await;
        assert_eq!(
            store.claim_update(9_000_001).await.expect("claim"),
            Claim::New
        );
        store
            .describe_update(9_000_001, OPERATOR, "make deploy")
            .await
            .expect("describe");
        store.close().await;
        rig.start_bot();
        wait_ready(&fake, 2).await;
        fake.wait_for_bot_message(OPERATOR, T, "the report of the cut-off message", |m| {
            m.text
                .contains("restarted while handling your message \u{201c}make deploy\u{201d}")
        })
        .await;
        // Reported once: marked finished right after, so a further restart says nothing more.
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let s = rig.store().await;
            let left = s.unfinished_updates().await.expect("unfinished");
            s.close().await;
            if left.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still unfinished: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(rig.audit().await.iter().all(|a| a.action != "dispatch"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_turn_is_announced_and_notify_levels_decide_what_buzzes() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let toml = "[notify]\nquiet_after_s = 2\nmin_work_s = 1\nidle_stop_s = 60\n";
        let _rig = Rig::start_with(&fake, &[], Some(toml)).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "q1").await;
        let work = "for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 0.3; done";
        fake.send_text(OPERATOR, work);
        let quiet = fake
            .wait_for_bot_message(OPERATOR, T, "the went-quiet notification", |m| {
                m.text.contains("q1 went quiet")
            })
            .await;
        assert!(!quiet.silent, "a finished turn buzzes by default");
        let screen = fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .map(|m| m.text.clone())
                .collect::<Vec<_>>()
        });
        assert!(
            screen.iter().any(|t| t.contains("tick-8")),
            "the turn was over"
        );

        fake.send_text(OPERATOR, "/notify approvals");
        fake.wait_for_bot_message(OPERATOR, T, "the level", |m| {
            m.text.contains("only approval requests buzz")
        })
        .await;
        fake.send_text(OPERATOR, work);
        let first = quiet.message_id;
        let quiet2 = fake
            .wait_for_bot_message(OPERATOR, T, "the second went-quiet notification", |m| {
                m.text.contains("q1 went quiet") && m.message_id > first
            })
            .await;
        assert!(
            quiet2.silent,
            "with /notify approvals a finished turn arrives silently"
        );
        fake.send_text(OPERATOR, "/notify loud");
        fake.wait_for_bot_message(OPERATOR, T, "the usage", |m| {
            m.text.contains("/notify [all | approvals | none]")
        })
        .await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_the_agent_announced_is_not_announced_again_as_went_quiet() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let toml = "[notify]\nquiet_after_s = 2\nmin_work_s = 1\nidle_stop_s = 60\n";
        let _rig = Rig::start_with(&fake, &[], Some(toml)).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "q2").await;
        // A turn that ends with Claude Code's Stop hook, as the claude preset wires it.
        let stop = r#"{"hook_event_name":"Stop","stop_hook_active":false}"#;
        fake.send_text(
            OPERATOR,
            &format!(
                "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.3; done; echo '{stop}' | {} approve-hook --agent claude",
                env!("CARGO_BIN_EXE_walkie")
            ),
        );
        let notice = fake
            .wait_for_bot_message(OPERATOR, T, "the Stop hook's notice", |m| {
                m.text.contains("q2 finished its turn")
            })
            .await;
        // Absence can only be watched over a window: the quiet period (2 s) plus the live
        // screen's polling slack.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let quiets = || {
            fake.with(|s| {
                s.bot_messages(OPERATOR)
                    .iter()
                    .filter(|m| m.text.contains("q2 went quiet"))
                    .count()
            })
        };
        assert_eq!(quiets(), 0, "the announced turn was announced again");
        // A turn without the hook still gets its went-quiet guess.
        fake.send_text(OPERATOR, "for i in 1 2 3 4 5 6; do echo tock-$i; sleep 0.3; done");
        let quiet = fake
            .wait_for_bot_message(OPERATOR, T, "the unhooked turn's went-quiet", |m| {
                m.text.contains("q2 went quiet")
            })
            .await;
        assert!(quiet.message_id > notice.message_id);
        assert_eq!(quiets(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_or_allowlist_says_what_to_put_where() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let rig_like = |token: Option<&str>, users: Option<&str>| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_walkie"));
            c.arg("up")
                .envs(base_env(dir.path()))
                .env_clear_except_base()
                .env("WALKIE_TELEGRAM_API_URL", fake.api_url())
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .kill_on_drop(true);
            if let Some(t) = token {
                c.env("TELEGRAM_BOT_TOKEN", t);
            }
            if let Some(u) = users {
                c.env("WALKIE_ALLOWED_USERS", u);
            }
            c
        };
        let out = rig_like(None, Some("1")).output().await.expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("TELEGRAM_BOT_TOKEN") && err.contains(".env"),
            "{err}"
        );
        let out = rig_like(Some("1:secret-token"), None)
            .output()
            .await
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("WALKIE_ALLOWED_USERS"), "{err}");
        assert!(!err.contains("secret-token"), "{err}");
        assert!(fake.calls().is_empty(), "nothing was sent to Telegram");
    })
    .await
}

/// The shared voice fixtures and whisper model (beside the repository, as in CI).
fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn voice_fixture(name: &str) -> Vec<u8> {
    std::fs::read(shared().join("fixtures/voice").join(name)).expect("voice fixture")
}

fn model_env() -> (String, String) {
    let model = std::env::var("WALKIE_MODEL").unwrap_or_else(|_| {
        shared()
            .join("models/ggml-tiny.en.bin")
            .display()
            .to_string()
    });
    ("WALKIE_MODEL".into(), model)
}

/// Lower case, letters and spaces only: how transcripts are compared.
fn norm(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_being_transcribed_does_not_hold_up_other_messages() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let (k, v) = model_env();
        let _rig = Rig::start_with(&fake, &[(&k, &v)], None).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "v0").await;
        fake.send_voice(OPERATOR, voice_fixture("long_status_update.ogg"), 57);
        fake.send_text(OPERATOR, "/help");
        let help = fake
            .wait_for_bot_message(OPERATOR, T, "the help", |m| m.text.contains("/new"))
            .await;
        let card = fake
            .wait_for_bot_message(
                OPERATOR,
                Duration::from_secs(90),
                "the transcript card",
                |m| m.text.starts_with("🎙 → v0:"),
            )
            .await;
        assert!(
            help.message_id < card.message_id,
            "the help waited for the transcription"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcript_can_be_edited_before_sending_and_huge_notes_are_refused() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let (k, v) = model_env();
        let rig = Rig::start_with(&fake, &[(&k, &v)], None).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "e1").await;

        // Over Telegram's 20 MB download limit: a clear answer, nothing transcribed.
        fake.send_voice_sized(OPERATOR, voice_fixture("approve.ogg"), 2, Some(25_000_000));
        fake.wait_for_bot_message(OPERATOR, T, "the too-big answer", |m| {
            m.text.contains("over 20 MB")
        })
        .await;

        fake.send_voice(OPERATOR, voice_fixture("deny.ogg"), 2);
        let card = fake
            .wait_for_bot_message(OPERATOR, Duration::from_secs(60), "the card", |m| {
                m.text.starts_with("🎙 → e1:")
            })
            .await;
        let button = |m: &ChatMessage, label: &str| {
            m.buttons()
                .into_iter()
                .find(|(t, _)| t == label)
                .map(|(_, d)| d)
                .unwrap_or_else(|| panic!("no {label} button"))
        };
        let q = fake.press_button(OPERATOR, OPERATOR, card.message_id, &button(&card, "Edit"));
        fake.wait_until(T, "the Edit press to be answered", |s| {
            s.callback_answers.get(&q).cloned()
        })
        .await;
        // The next text replaces the transcript instead of going to the session.
        fake.send_text(OPERATOR, "echo edited-$((5*5))");
        let card_id = card.message_id;
        let edited = fake
            .wait_until(T, "the card to show the corrected text", |s| {
                s.message(OPERATOR, card_id)
                    .filter(|m| m.text.contains("echo edited-$((5*5))") && m.reply_markup.is_some())
                    .cloned()
            })
            .await;
        assert!(rig.audit().await.iter().all(|a| a.action != "dispatch"));
        fake.press_button(OPERATOR, OPERATOR, card_id, &button(&edited, "Send"));
        fake.wait_for_bot_message(
            OPERATOR,
            T,
            "e1's screen to show the edited command's output",
            |m| m.raw.starts_with("<b>e1</b>") && m.text.lines().any(|l| l.trim() == "edited-25"),
        )
        .await;
        let dispatched: Vec<_> = rig
            .audit()
            .await
            .into_iter()
            .filter(|a| a.action == "dispatch")
            .filter_map(|a| a.text)
            .collect();
        assert_eq!(dispatched, vec!["echo edited-$((5*5))"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_note_card_send_types_the_words_into_the_pty() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let (k, v) = model_env();
        let rig = Rig::start_with(&fake, &[(&k, &v)], None).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "v1").await;

        fake.send_voice(OPERATOR, voice_fixture("list_files.ogg"), 3);
        let card = fake
            .wait_for_bot_message(
                OPERATOR,
                Duration::from_secs(60),
                "the transcript card",
                |m| m.text.starts_with("🎙 → v1:"),
            )
            .await;
        assert!(
            norm(&card.text).contains("list all files in the current directory"),
            "{}",
            card.text
        );
        let labels: Vec<String> = card.buttons().into_iter().map(|(t, _)| t).collect();
        assert_eq!(labels, vec!["Send", "Edit", "Cancel"]);
        assert!(card.button_data().iter().all(|d| d.len() <= 64));
        assert!(
            fake.with(|s| s.chat_actions.iter().any(|(c, _)| *c == OPERATOR)),
            "a chat action while working"
        );
        // Nothing is typed before Send.
        assert!(rig.audit().await.iter().all(|a| a.action != "dispatch"));

        let send = card
            .buttons()
            .into_iter()
            .find(|(t, _)| t == "Send")
            .map(|(_, d)| d)
            .expect("Send button");
        let q = fake.press_button(OPERATOR, OPERATOR, card.message_id, &send);
        fake.wait_until(T, "the press to be answered", |s| {
            s.callback_answers.get(&q).cloned()
        })
        .await;
        let card_id = card.message_id;
        fake.wait_until(T, "the card to say sent, without buttons", |s| {
            s.message(OPERATOR, card_id)
                .filter(|m| m.text.contains("sent") && m.reply_markup.is_none())
                .cloned()
        })
        .await;
        // The words reached the PTY: the shell echoed them on v1's live screen.
        fake.wait_for_bot_message(OPERATOR, T, "v1's screen to show the words", |m| {
            m.raw.starts_with("<b>v1</b>")
                && norm(&m.text).contains("list all files in the current directory")
        })
        .await;
        let dispatched: Vec<_> = dispatches(&rig).await;
        assert_eq!(dispatched.len(), 1, "{dispatched:?}");
        assert_eq!(dispatched[0].source.as_deref(), Some("voice"));
        assert_eq!(dispatched[0].session.as_deref(), Some("v1"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_without_confirmation_sends_at_once_and_silence_sends_nothing() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let (k, v) = model_env();
        let rig = Rig::start_with(&fake, &[(&k, &v)], Some("[voice]\nconfirm = false\n")).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "v2").await;

        fake.send_voice(OPERATOR, voice_fixture("silence.ogg"), 2);
        fake.wait_for_bot_message(
            OPERATOR,
            Duration::from_secs(60),
            "didn't catch that",
            |m| m.text.contains("Didn't catch that"),
        )
        .await;
        fake.send_voice(OPERATOR, voice_fixture("not_audio.ogg"), 1);
        fake.wait_for_bot_message(OPERATOR, T, "a clear answer for a broken note", |m| {
            m.text.starts_with("Could not transcribe")
        })
        .await;
        assert!(rig.audit().await.iter().all(|a| a.action != "dispatch"));

        fake.send_voice(OPERATOR, voice_fixture("run_tests.ogg"), 3);
        let card = fake
            .wait_for_bot_message(OPERATOR, Duration::from_secs(60), "the sent card", |m| {
                m.text.starts_with("🎙 → v2:")
            })
            .await;
        assert!(
            card.text.contains("sent") && card.reply_markup.is_none(),
            "{card:?}"
        );
        // "test" or "tests": tiny.en's beam search hesitates on this note (tests/transcription.rs).
        fake.wait_for_bot_message(OPERATOR, T, "v2's screen to show the words", |m| {
            let t = norm(&m.text);
            m.raw.starts_with("<b>v2</b>")
                && t.contains("run the test")
                && t.contains("and fix any failures")
        })
        .await;
        let dispatched: Vec<_> = dispatches(&rig).await;
        assert_eq!(dispatched.len(), 1, "{dispatched:?}");
        assert_eq!(dispatched[0].source.as_deref(), Some("voice"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_long_lines_never_make_a_message_over_4096() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let _rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "big").await;
        // 10 000 lines of 118 characters, full of '<' that escaping turns into "&lt;".
        let script = r#"awk 'BEGIN{for(i=1;i<=10000;i++){s=sprintf("%-118s","line " i);gsub(/ /,"<",s);print s}}'"#;
        fake.send_text(OPERATOR, script);
        fake.wait_for_bot_message(OPERATOR, T, "the live screen to reach line 10000", |m| {
            m.raw.starts_with("<b>big</b>") && m.text.contains("line<10000<")
        })
        .await;
        fake.send_text(OPERATOR, "/tail big 500");
        fake.wait_for_bot_message(OPERATOR, T, "the tail", |m| {
            m.raw.starts_with("<pre>") && m.text.contains("line<9999<")
        })
        .await;
        let too_long = fake.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.description().is_some_and(|d| d.contains("too long")))
                .count()
        });
        assert_eq!(too_long, 0, "a message over 4096 characters was attempted");
        let longest = fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .map(|m| m.text.encode_utf16().count())
                .max()
                .unwrap_or(0)
        });
        assert!(longest <= 4096 && longest > 3000, "longest message: {longest}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sessions_printing_at_once_never_ignore_a_429_and_end_on_the_final_screens() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let _rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        let names = ["b1", "b2", "b3", "b4", "b5"];
        for n in names {
            fake.send_text(OPERATOR, &format!("/new {n} sh"));
        }
        for n in names {
            fake.wait_for_bot_message(OPERATOR, T, "the sessions to start", |m| {
                m.text.starts_with(&format!("Started {n}"))
            })
            .await;
        }
        for n in names {
            fake.send_text(
                OPERATOR,
                &format!("{n}: i=0; while [ $i -lt 200 ]; do echo {n}-$i; i=$((i+1)); sleep 0.02; done; echo {n}-done"),
            );
        }
        for n in names {
            fake.wait_for_bot_message(OPERATOR, Duration::from_secs(90), "every screen's final state", |m| {
                m.raw.starts_with(&format!("<b>{n}</b>")) && m.text.contains(&format!("{n}-199\n{n}-done"))
            })
            .await;
        }
        let stats = fake.flood_stats();
        assert_eq!(stats.ignored_retry_after, 0, "{stats:?}");
        // The pacer keeps under the fake's limits: no 429 at all.
        assert_eq!(stats.too_many_requests, 0, "{stats:?}");
        // Edits were coalesced: far fewer than one per printed line.
        let edits = fake.with(|s| s.calls_to("editMessageText").count());
        assert!(edits < 200, "{edits} edits");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_y_and_bspace_from_the_phone_reach_the_pty() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let _rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "k1").await;
        // The answer to a `[y/N]`, a typo and its erasure, then Enter: the shell reads "y".
        fake.send_text(OPERATOR, "read -r a; echo \"got-[$a]\"");
        fake.send_text(OPERATOR, "/keys k1 y");
        fake.send_text(OPERATOR, "/keys k1 x BSpace");
        fake.send_text(OPERATOR, "/keys k1 Enter");
        fake.wait_for_bot_message(OPERATOR, T, "the shell to read y", |m| {
            m.raw.starts_with("<b>k1</b>") && m.text.contains("got-[y]")
        })
        .await;
        // None of them was refused.
        let refused = fake.with(|s| {
            s.bot_messages(OPERATOR)
                .into_iter()
                .filter(|m| m.text.contains("unknown key") || m.text.starts_with("usage: /keys"))
                .count()
        });
        assert_eq!(refused, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_replies_viewers_keys_notifications_and_scrolling() {
    bounded(async {
        const VIEWER: i64 = 2002;
        let fake = FakeTelegram::start().await;
        let rig = Rig::start_with(&fake, &[("WALKIE_VIEWERS", "2002")], None).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "a1").await;
        new_sh(&fake, "a2").await;

        // /ls lists both with a button each; pressing "use a1" makes a1 current.
        fake.send_text(OPERATOR, "/ls");
        let ls = fake
            .wait_for_bot_message(OPERATOR, T, "the /ls list", |m| m.buttons().len() == 2)
            .await;
        assert!(ls.text.contains("▶ a2"), "a2 is current: {}", ls.text);
        let q = fake.press_button(OPERATOR, OPERATOR, ls.message_id, "use:a1");
        let answer = fake
            .wait_until(T, "the press to be answered", |s| {
                s.callback_answers.get(&q).cloned()
            })
            .await;
        assert_eq!(answer["text"], "Now talking to a1");
        fake.send_text(OPERATOR, "echo to-$((10+1))");
        let a1_live = fake
            .wait_for_bot_message(OPERATOR, T, "a1's screen", |m| {
                m.raw.starts_with("<b>a1</b>") && m.text.contains("to-11")
            })
            .await;

        // Replying to a2's live message goes to a2 although a1 is current.
        let a2_live = fake
            .wait_for_bot_message(OPERATOR, T, "a2's screen", |m| {
                m.raw.starts_with("<b>a2</b>")
            })
            .await;
        fake.send_text_in(
            OPERATOR,
            OPERATOR,
            "echo reply-$((20+2))",
            Some(a2_live.message_id),
        );
        fake.wait_for_bot_message(OPERATOR, T, "a2's screen to show the reply", |m| {
            m.raw.starts_with("<b>a2</b>") && m.text.contains("reply-22")
        })
        .await;

        // /keys: C-c interrupts a sleeping a1 and the prompt comes back.
        // Wait until the shell has really started the sleep: a C-c typed before that reaches
        // the shell, not the sleep.
        fake.send_text(
            OPERATOR,
            "echo sleeping-$((3*3)); sleep 1000; echo not-interrupted",
        );
        fake.wait_for_bot_message(OPERATOR, T, "a1 to start sleeping", |m| {
            m.raw.starts_with("<b>a1</b>") && m.text.lines().any(|l| l.trim() == "sleeping-9")
        })
        .await;
        fake.send_text(OPERATOR, "/keys a1 C-c");
        fake.send_text(OPERATOR, "echo after-$((1+2))");
        fake.wait_for_bot_message(OPERATOR, T, "a1 to be interrupted", |m| {
            m.raw.starts_with("<b>a1</b>") && m.text.contains("after-3")
        })
        .await;

        // A viewer may look but not type.
        fake.send_text(VIEWER, "/attach a1");
        fake.wait_for_bot_message(VIEWER, T, "the attach line", |m| {
            m.text.contains("walkie attach a1")
        })
        .await;
        fake.send_text(VIEWER, "a1: rm -rf /tmp/x");
        fake.wait_for_bot_message(VIEWER, T, "the viewer refusal", |m| {
            m.text.starts_with("You can look")
        })
        .await;

        // Many messages later, the live message is posted again at the bottom and the old
        // one deleted.
        for _ in 0..9 {
            fake.send_text(OPERATOR, "/attach a1");
        }
        fake.wait_until(T, "nine /attach answers", |s| {
            (s.bot_messages(OPERATOR)
                .iter()
                .filter(|m| m.text.contains("walkie attach a1"))
                .count()
                >= 9)
                .then_some(())
        })
        .await;
        fake.send_text(OPERATOR, "echo bottom-$((3+4))");
        let new_live = fake
            .wait_for_bot_message(OPERATOR, T, "a1's screen re-posted", |m| {
                m.raw.starts_with("<b>a1</b>") && m.text.contains("bottom-7")
            })
            .await;
        assert!(new_live.message_id > a1_live.message_id);
        let old_id = a1_live.message_id;
        fake.wait_until(T, "the old live message to be deleted", |s| {
            s.message(OPERATOR, old_id)
                .filter(|m| m.deleted)
                .map(|_| ())
        })
        .await;

        // A session that exits is announced with a new message, with its code.
        fake.send_text(OPERATOR, "exit 3");
        let exited = fake
            .wait_for_bot_message(OPERATOR, T, "the exit notification", |m| {
                m.text.contains("a1") && m.text.contains("exited")
            })
            .await;
        assert!(exited.text.contains('3'), "{}", exited.text);
        assert_eq!(fake.flood_stats().ignored_retry_after, 0);
        let refused = rig
            .audit()
            .await
            .into_iter()
            .filter(|a| a.action == "refused")
            .count();
        assert_eq!(refused, 1, "the viewer's attempt to type");
    })
    .await
}

/// Median and 95th percentile of `v` (sorted in place).
fn median_p95(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

/// Benchmark for docs/PERFORMANCE.md (run with `--ignored --nocapture`): a 3 s voice note
/// arriving at the bot until its words are on the PTY's screen, with `voice.confirm =
/// false`, 20 runs; next to `walkie transcribe --json` on the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_voice_note_to_pty() {
    tokio::time::timeout(Duration::from_secs(600), async {
        let fake = FakeTelegram::start().await;
        let (k, v) = model_env();
        let rig = Rig::start_with(&fake, &[(&k, &v)], Some("[voice]\nconfirm = false\n")).await;
        wait_ready(&fake, 1).await;
        new_sh(&fake, "bench").await;
        let mut host = Client::connect(&rig.socket()).await.expect("host");
        let note = voice_fixture("list_files.ogg");
        let mut times = Vec::new();
        let phrase = "list all files in the current directory";
        let count = |text: &str| norm(text).matches(phrase).count();
        for i in 0..21 {
            let before = count(&host.tail("bench", 2000).await.expect("tail"));
            let t0 = std::time::Instant::now();
            fake.send_voice(OPERATOR, note.clone(), 3);
            // Poll the host (another process) every 5 ms: the words are in the PTY once
            // the shell has echoed them.
            loop {
                let tail = host.tail("bench", 2000).await.expect("tail");
                if count(&tail) > before {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(60), "run {i} timed out");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if i > 0 {
                // The first run loads the model; it is reported apart.
                times.push(t0.elapsed().as_secs_f64() * 1000.0);
            } else {
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                println!("first note (loads the model): {ms:.0} ms");
            }
        }
        let (med, p95) = median_p95(&mut times);
        println!("voice note -> words in the PTY, 20 runs: median {med:.0} ms, p95 {p95:.0} ms");

        // The bot prompts whisper with the session names ("bench"), which makes it use
        // the full encoder window; the CLI is measured both ways.
        let file = shared().join("fixtures/voice/list_files.ogg");
        for vocab in [Some("bench"), None] {
            let mut alone = Vec::new();
            let mut wall = Vec::new();
            for _ in 0..20 {
                let t0 = std::time::Instant::now();
                let mut c = Command::new(env!("CARGO_BIN_EXE_walkie"));
                c.args(["transcribe", "--json"]).arg(&file).env("WALKIE_MODEL", &v);
                if let Some(w) = vocab {
                    c.args(["--vocab", w]);
                }
                let out = c.output().await.expect("walkie transcribe");
                wall.push(t0.elapsed().as_secs_f64() * 1000.0);
                let j: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
                let ms = j["decode_ms"].as_f64().unwrap_or(0.0)
                    + j["transcribe_ms"].as_f64().unwrap_or(0.0);
                alone.push(ms);
            }
            let (m1, p1) = median_p95(&mut alone);
            let (m2, p2) = median_p95(&mut wall);
            println!(
                "walkie transcribe (vocabulary {vocab:?}): decode + transcribe median {m1:.0} ms, p95 {p1:.0} ms; whole process (loads the model) median {m2:.0} ms, p95 {p2:.0} ms"
            );
        }
    })
    .await
    .expect("benchmark timed out");
}

/// Benchmark for docs/PERFORMANCE.md: 10 sessions printing the time continuously into
/// one chat; staleness = when an edit reached Telegram minus the newest time it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_live_screen_staleness() {
    tokio::time::timeout(Duration::from_secs(600), async {
        let fake = FakeTelegram::start().await;
        let _rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        let names: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
        for n in &names {
            new_sh(&fake, n).await;
        }
        let started = fake.with(|s| s.calls.len());
        for n in &names {
            fake.send_text(
                OPERATOR,
                &format!("{n}: while :; do echo T=$(date +%s.%N); sleep 0.1; done"),
            );
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        // Per session: (when the edit reached Telegram, newest output time it shows).
        let mut shown: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
        let mut first_output = f64::INFINITY;
        let mut last_call = 0.0f64;
        fake.with(|s| {
            for c in s.calls[started..].iter().filter(|c| c.ok()) {
                if !matches!(c.method.as_str(), "editMessageText" | "sendMessage") {
                    continue;
                }
                let text = c.text().unwrap_or("");
                // A live screen is `<b>NAME</b> · state` and its screen; the dashboard is a
                // title, then `<b>NAME</b>` and its last lines for each session on it.
                let parts: Vec<&str> = if text.starts_with("<b>📋") {
                    text.split("<b>").skip(2).collect()
                } else {
                    text.strip_prefix("<b>").into_iter().collect()
                };
                for part in parts {
                    let Some(name) = part.split('<').next() else {
                        continue;
                    };
                    let newest = part
                        .split("T=")
                        .skip(1)
                        .filter_map(|t| t.get(..20).and_then(|t| t.trim().parse::<f64>().ok()))
                        .fold(f64::NAN, f64::max);
                    if newest.is_finite() {
                        first_output = first_output.min(newest);
                        last_call = last_call.max(c.unix_s);
                        shown.entry(name.to_string()).or_default().push((c.unix_s, newest));
                    }
                }
            }
        });
        // For an output printed at t (sampled every 100 ms, as the sessions print), its
        // staleness is the time until the first edit showing t or later.
        // The chat's focus is the session it wrote to last (s9); the others are background.
        let focus = names.last().cloned().unwrap_or_default();
        let (mut stale, mut stale_focus, mut stale_others) = (Vec::new(), Vec::new(), Vec::new());
        let edits: usize = shown.values().map(Vec::len).sum();
        for (name, list) in &shown {
            let mut t = first_output + 5.0;
            while t < last_call - 15.0 {
                if let Some((at, _)) = list.iter().find(|(_, newest)| *newest >= t) {
                    let ms = (at - t) * 1000.0;
                    stale.push(ms);
                    if *name == focus {
                        stale_focus.push(ms);
                    } else {
                        stale_others.push(ms);
                    }
                }
                t += 0.1;
            }
        }
        let (med, p95) = median_p95(&mut stale);
        let (fmed, fp95) = median_p95(&mut stale_focus);
        let (omed, op95) = median_p95(&mut stale_others);
        let stats = fake.flood_stats();
        println!(
            "10 sessions in one chat, 60 s: {edits} edits, staleness median {med:.0} ms, p95 {p95:.0} ms; the focus ({focus}) median {fmed:.0} ms, p95 {fp95:.0} ms; the others median {omed:.0} ms, p95 {op95:.0} ms; {stats:?}"
        );
    })
    .await
    .expect("benchmark timed out");
}

/// The highest N in `text`'s `PREFIX-N` lines.
fn highest(text: &str, prefix: &str) -> u64 {
    text.split(prefix)
        .skip(1)
        .filter_map(|t| {
            let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// Four sessions printing into one chat: the three in the background share one dashboard
/// message (their last lines, a button each) while the focus keeps its own live screen; a
/// button makes its session the focus (its own message edited again); once they stop,
/// every session's own message ends on its final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_background_sessions_share_one_dashboard_and_a_button_opens_one() {
    bounded(async {
        let fake = FakeTelegram::start().await;
        let _rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        let names = ["d0", "d1", "d2", "d3"];
        for n in names {
            new_sh(&fake, n).await;
        }
        for n in names {
            fake.send_text(
                OPERATOR,
                &format!(
                    "{n}: for i in $(seq 1 250); do echo {n}-$i; sleep 0.1; done; echo {n}-fin"
                ),
            );
        }
        // d3 was written to last: the focus.
        let dash = fake
            .wait_for_bot_message(OPERATOR, T, "the dashboard with d0 on it", |m| {
                m.text.starts_with("📋 Busy in the background") && m.text.contains("d0-")
            })
            .await;
        assert!(
            !dash.text.contains("d3-"),
            "the focus is not on the dashboard: {}",
            dash.text
        );
        let buttons = fake.with(|s| {
            s.message(OPERATOR, dash.message_id)
                .map(|m| m.buttons())
                .unwrap_or_default()
        });
        assert!(buttons.iter().any(|(_, d)| d == "dash:d0"), "{buttons:?}");
        let seen = highest(&dash.text, "d0-");
        fake.press_button(OPERATOR, OPERATOR, dash.message_id, "dash:d0");
        // d0's own live screen moves on past what the dashboard showed.
        fake.wait_for_bot_message(OPERATOR, T, "d0's own live screen edited again", |m| {
            m.text.starts_with("d0 · ") && highest(&m.text, "d0-") >= seen + 10
        })
        .await;
        // Every final state lands on the session's own message.
        for n in names {
            let fin = format!("{n}-fin");
            fake.wait_for_bot_message(OPERATOR, Duration::from_secs(90), "a final state", |m| {
                m.text.starts_with(&format!("{n} · ")) && m.text.contains(&fin)
            })
            .await;
        }
        let stats = fake.flood_stats();
        assert_eq!(stats.too_many_requests, 0, "{stats:?}");
        assert_eq!(stats.ignored_retry_after, 0, "{stats:?}");
    })
    .await;
}

/// CPU seconds (utime + stime) `pid` has used, from /proc (clock ticks of 1/100 s, as on
/// every Linux build this runs on).
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f[11] + f[12]) as f64 / 100.0
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    support::host::proc_status_kib(pid, "VmRSS").unwrap_or(0)
}

fn idle_spec(name: &str) -> walkie_host_proto::protocol::NewSession {
    walkie_host_proto::protocol::NewSession {
        name: name.into(),
        command: vec!["sh".into()],
        cwd: None,
        env: vec![],
        size: None,
        record: false,
        preset: None,
        resume: None,
        sandbox: None,
        network: None,
        expand: false,
    }
}

/// A host with `total` idle shells, the first `watched` of them started from the chat (so
/// each has a live screen in it and is watched for prompts and dialogs).
async fn idle_fleet(fake: &FakeTelegram, rig: &Rig, total: usize, watched: usize) -> Client {
    for i in 0..watched {
        new_sh(fake, &format!("w{i}")).await;
    }
    let mut host = Client::connect(&rig.socket()).await.expect("host");
    for i in watched..total {
        host.new_session(idle_spec(&format!("idle{i}")))
            .await
            .expect("new session");
    }
    host
}

/// Benchmark for docs/PERFORMANCE.md (issue 18, target 4): 100 idle shells, 10 of them
/// watched in one chat (live screens, prompt and dialog scans); the bot's and the host's
/// CPU over 60 s. Run twice in one go: screens pushed by the host (walkie now) and, as the
/// reference, `WALKIE_SCREEN_PUSH=0` (every watched screen read on timers, as before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_bot_idle() {
    tokio::time::timeout(Duration::from_secs(900), async {
        let mut rows = Vec::new();
        for push in ["1", "0"] {
            let fake = FakeTelegram::start().await;
            let rig = Rig::start_with(&fake, &[("WALKIE_SCREEN_PUSH", push)], None).await;
            wait_ready(&fake, 1).await;
            let host = idle_fleet(&fake, &rig, 100, 10).await;
            // The live screens shown, the shells' prompts drawn: then idle.
            tokio::time::sleep(Duration::from_secs(15)).await;
            let (bot, hostp) = (rig.bot_pid().as_raw() as u32, host.host_pid);
            let calls0 = fake.with(|s| s.calls.len());
            let (b0, h0, t0) = (cpu_s(bot), cpu_s(hostp), std::time::Instant::now());
            tokio::time::sleep(Duration::from_secs(60)).await;
            let secs = t0.elapsed().as_secs_f64();
            let bot_pct = (cpu_s(bot) - b0) / secs * 100.0;
            let host_pct = (cpu_s(hostp) - h0) / secs * 100.0;
            let calls = fake.with(|s| s.calls.len()) - calls0;
            let label = if push == "1" { "pushed" } else { "polled (reference)" };
            println!(
                "100 idle sessions, 10 watched, {secs:.0} s, screens {label}: bot {bot_pct:.2} % of a core, host {host_pct:.2} %; bot RSS {} KiB, host RSS {} KiB; {calls} Bot API calls",
                rss_kib(bot),
                rss_kib(hostp)
            );
            rows.push((bot_pct, host_pct));
        }
        let (p, r) = (rows[0], rows[1]);
        println!(
            "ratio pushed / polled: bot {:.2}x, host {:.2}x",
            p.0 / r.0.max(1e-9),
            p.1 / r.1.max(1e-9)
        );
    })
    .await
    .expect("benchmark timed out");
}

/// Benchmark for docs/PERFORMANCE.md (issue 18, target 7): 200 idle shells on one host,
/// 20 watched in one chat: `/ls` answered (sent to the fake → the answer posted), 10 times,
/// next to `walkie ls` (the CLI on the same host) as the reference; the bot's and host's
/// RSS with 200 sessions, and again after a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_scale_ls() {
    tokio::time::timeout(Duration::from_secs(900), async {
        let fake = FakeTelegram::start().await;
        let rig = Rig::start(&fake).await;
        wait_ready(&fake, 1).await;
        let host = idle_fleet(&fake, &rig, 200, 20).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (bot, hostp) = (rig.bot_pid().as_raw() as u32, host.host_pid);
        let rss0 = (rss_kib(bot), rss_kib(hostp));
        let mut ls = Vec::new();
        for _ in 0..10 {
            // Two seconds apart: the chat's budget (one message a second) refills, so this
            // times the bot, not Telegram's pace.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let before = fake.with(|s| {
                s.bot_messages(OPERATOR)
                    .iter()
                    .map(|m| m.message_id)
                    .max()
                    .unwrap_or(0)
            });
            let t0 = std::time::Instant::now();
            fake.send_text(OPERATOR, "/ls");
            // One message: the sessions that fit (in name order), then how many did not.
            let answer = fake
                .wait_for_bot_message(OPERATOR, T, "the /ls answer", |m| {
                    m.message_id > before && m.text.contains("idle100 · ")
                })
                .await;
            if ls.is_empty() {
                let lines = answer.text.lines().filter(|l| l.contains(" · running")).count();
                let tail = answer.text.lines().last().unwrap_or("").to_string();
                println!("/ls with 200 sessions: {lines} shown; its last line: {tail}");
            }
            ls.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let mut cli = Vec::new();
        for _ in 0..10 {
            let t0 = std::time::Instant::now();
            let out = rig.host.run(&["ls"]);
            assert!(out.status.success(), "{out:?}");
            cli.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        let rss1 = (rss_kib(bot), rss_kib(hostp));
        let (m, p) = median_p95(&mut ls);
        let (cm, cp) = median_p95(&mut cli);
        println!(
            "200 sessions, 20 watched: /ls answered median {m:.0} ms, p95 {p:.0} ms; `walkie ls` median {cm:.0} ms, p95 {cp:.0} ms ({:.1}x); RSS bot {} -> {} KiB, host {} -> {} KiB (a minute later)",
            m / cm.max(1e-9),
            rss0.0,
            rss1.0,
            rss0.1,
            rss1.1
        );
    })
    .await
    .expect("benchmark timed out");
}
