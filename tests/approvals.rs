//! Approvals end to end: a real `walkie host`, the real `walkie up` against the strict fake
//! Telegram server, and the real `walkie approve-hook` / `walkie ask` blocking on the
//! host's approval broker until a card's button is pressed.
//!
//! Every wait is on an event (a message appearing or changing in the fake, a process
//! exiting), bounded in time.

mod support;

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::process::{Output, Stdio};
use std::time::Duration;

use bot_rig::{BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram};
use serde_json::Value;
use support::host::{hook_fixture, run_bounded, run_with_stdin};

const VIEWER: i64 = 1002;
const STRANGER: i64 = 666;
/// How long any one event may take.
const T: Duration = Duration::from_secs(30);
/// How long a blocked hook or ask may take in all.
const ASKER: Duration = Duration::from_secs(90);

const ALLOW_JSON: &str = "{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\",\"decision\":{\"behavior\":\"allow\"}}}\n";

/// The shared rig, and the fake Telegram server it talks to.
struct Rig {
    rig: BotRig,
    fake: FakeTelegram,
}

impl Deref for Rig {
    type Target = BotRig;
    fn deref(&self) -> &BotRig {
        &self.rig
    }
}

impl DerefMut for Rig {
    fn deref_mut(&mut self) -> &mut BotRig {
        &mut self.rig
    }
}

impl Rig {
    /// Must run inside a tokio runtime (the fake serves on it). `toml`: a walkie.toml.
    async fn start(toml: Option<&str>) -> Rig {
        let fake = FakeTelegram::start().await;
        let viewer = VIEWER.to_string();
        let rig = BotRig::start(&fake, &[], &[("WALKIE_VIEWERS", &viewer)], toml).await;
        let rig = Rig { rig, fake };
        rig.wait_started(&rig.fake, 1, T).await;
        // Telegram lets a bot write only to people who have talked to it.
        for user in [OPERATOR, VIEWER] {
            rig.fake.send_text(user, "/help");
            rig.fake
                .wait_for_bot_message(user, T, "the answer to /help", |m| m.text.contains("/new"))
                .await;
        }
        rig
    }

    /// Starts `walkie up` again and waits until it polls (it has registered its commands).
    async fn restart_bot(&mut self) {
        self.rig.start_bot();
        let n = self.rig.starts;
        self.rig.wait_started(&self.fake, n, T).await;
    }

    /// `walkie approve-hook --agent AGENT` in session `session` with `payload` on stdin,
    /// in the background.
    fn hook(&self, session: &str, agent: &str, payload: String) -> tokio::task::JoinHandle<Output> {
        let mut cmd = self.host.command();
        cmd.env("WALKIE_SESSION", session)
            .args(["approve-hook", "--agent", agent]);
        tokio::task::spawn_blocking(move || run_with_stdin(cmd, payload.as_bytes(), ASKER))
    }

    /// `walkie ask ARGS` in session `session`, in the background.
    fn ask(&self, session: &str, args: &[&str]) -> tokio::task::JoinHandle<Output> {
        let mut cmd = self.host.command();
        cmd.env("WALKIE_SESSION", session).arg("ask").args(args);
        tokio::task::spawn_blocking(move || run_bounded(cmd, ASKER))
    }

    /// Waits for a pending approval card in `chat` whose text contains `what`.
    async fn card(&self, chat: i64, what: &str) -> ChatMessage {
        self.fake
            .wait_for_bot_message(chat, T, &format!("a card about {what:?}"), |m| {
                m.text.starts_with("🔐") && m.text.contains(what)
            })
            .await
    }

    /// Waits until message `id` in `chat` satisfies `pred`.
    async fn message_where(
        &self,
        chat: i64,
        id: i64,
        what: &str,
        pred: impl Fn(&ChatMessage) -> bool,
    ) -> ChatMessage {
        self.fake
            .wait_until(T, what, |s| {
                s.message(chat, id).filter(|m| pred(m)).cloned()
            })
            .await
    }

    /// Waits until `session`'s screen shows `text`. The helper blocks on a runtime of its
    /// own, so it runs on a thread of its own.
    fn wait_screen(&self, session: &str, text: &str) {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.host
                    .wait_screen(session, &format!("the screen to show {text:?}"), |t| {
                        t.contains(text)
                    })
            })
            .join()
            .expect("screen")
        });
    }

    /// Waits until card `id` in `chat` is edited to start with `outcome`; returns it.
    async fn outcome(&self, chat: i64, id: i64, outcome: &str) -> ChatMessage {
        self.message_where(chat, id, &format!("the card to say {outcome:?}"), |m| {
            m.text.starts_with(outcome)
        })
        .await
    }

    /// Starts session `session` running [`FAKE_AGENT`] on the fixtures `screen` and
    /// `after`, and makes it the operator's current session (so its screen is watched).
    /// Returns the file where the agent records the key it gets.
    async fn fake_agent(&self, session: &str, screen: &str, after: &str) -> std::path::PathBuf {
        let dir = self.host.dir.path();
        let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/agents");
        let agent = dir.join("fake-agent.sh");
        std::fs::write(&agent, FAKE_AGENT).expect("fake agent");
        let record = dir.join(format!("{session}.keys"));
        let arg = |p: &std::path::Path| p.display().to_string();
        self.host.ok(&[
            "new",
            session,
            "--",
            "sh",
            &arg(&agent),
            &arg(&fixtures.join(screen)),
            &arg(&record),
            &arg(&fixtures.join(after)),
        ]);
        self.fake.send_text(OPERATOR, &format!("/use {session}"));
        record
    }

    /// Presses the card's button `code` (`a`, `s`, `d`, `v`) as `user`; returns the query id.
    fn press(&self, user: i64, card: &ChatMessage, code: &str) -> String {
        let data = card
            .button_data()
            .into_iter()
            .find(|d| d.ends_with(&format!(":{code}")))
            .unwrap_or_else(|| panic!("no {code} button on {:?}", card.buttons()));
        self.fake
            .press_button(user, card.chat_id, card.message_id, &data)
    }

    /// Waits for the answer to callback query `id`; returns its text ("" for none).
    async fn answer(&self, id: &str) -> String {
        self.fake
            .wait_until(T, "the press to be answered", |s| {
                s.callback_answers.get(id).map(|a| {
                    a.get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
            })
            .await
    }
}

/// Runs an async test on its own runtime, bounded.
fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(180), f)
                .await
                .expect("test took longer than 180 s")
        })
}

/// The fixture's hook payload with another command.
fn with_command(payload: &str, command: &str) -> String {
    let mut v: Value = serde_json::from_str(payload).expect("payload json");
    v["tool_input"]["command"] = Value::String(command.into());
    v.to_string()
}

fn claude_payload() -> String {
    hook_fixture("claude-hooks.jsonl", "PermissionRequest")
}

async fn finished(h: tokio::task::JoinHandle<Output>) -> Output {
    h.await.expect("asker thread")
}

/// Waits (bounded) for a file another process writes, and reads it.
async fn file_written(path: &std::path::Path) -> String {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if let Ok(t) = std::fs::read_to_string(path) {
            if t.ends_with("--end--\n") {
                return t;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} was not written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn walkie_new_with_a_preset_gets_the_same_hook_as_new_from_the_phone() {
    run(async {
        // A stand-in `claude` that records the arguments it was started with.
        // Stand-in agents write next to themselves: outside a workspace, so no boundary.
        let toml = "[presets.claude]\ncommand = [\"{dir}/claude\"]\nsandbox = \"off\"\n";
        let rig = Rig::start(Some(toml)).await;
        let dir = rig.host.dir.path().to_path_buf();
        std::fs::write(
            dir.join("claude"),
            "#!/bin/sh\nprintf '%s\\n' \"$@\" --end-- > \"$0.$WALKIE_SESSION\"\nexec sleep 600\n",
        )
        .expect("fake claude");
        std::fs::set_permissions(
            dir.join("claude"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        rig.host.ok(&["new", "cli1", "--preset", "claude"]);
        rig.fake.send_text(OPERATOR, "/new phone1 claude");
        // The host puts a session id of its own first (for resuming after a restart); each
        // session has its own, the rest is the same.
        let after_id = |t: String| {
            let mut lines = t.lines();
            assert_eq!(lines.next(), Some("--session-id"), "{t}");
            let id = lines.next().unwrap_or_default().to_string();
            (id, lines.collect::<Vec<_>>().join("\n"))
        };
        let (cli_id, from_cli) = after_id(file_written(&dir.join("claude.cli1")).await);
        let (phone_id, from_phone) = after_id(file_written(&dir.join("claude.phone1")).await);
        assert_ne!(cli_id, phone_id);
        assert!(
            from_cli.starts_with("--settings\n")
                && from_cli.contains("approve-hook --agent claude"),
            "{from_cli}"
        );
        assert_eq!(from_cli, from_phone);
    });
}

#[test]
fn approve_on_the_phone_allows_the_hook_and_the_card_says_who() {
    run(async {
        let rig = Rig::start(None).await;
        let hook = rig.hook("agent", "claude", claude_payload());
        let card = rig.card(OPERATOR, "touch /tmp/agent-approved-demo").await;
        assert!(
            card.text.contains("agent · claude wants to run")
                && card.text.contains("/srv/demo/agent-repo-1")
                && card.text.contains("Create marker file")
                && card.text.contains("denied at"),
            "{}",
            card.text
        );
        let labels: Vec<String> = card.buttons().into_iter().map(|(l, _)| l).collect();
        assert_eq!(
            labels,
            [
                "✅ Approve",
                "✅ Approve for this session",
                "⛔ Deny",
                "🖥 Screen"
            ]
        );
        assert!(card.button_data().iter().all(|d| d.len() <= 64));
        // Sent as a new message that notifies.
        let sent = rig.fake.with(|s| {
            s.calls_to("sendMessage")
                .find(|c| {
                    c.ok()
                        && c.response["result"]["message_id"] == card.message_id
                        && c.chat_id() == Some(OPERATOR)
                })
                .map(|c| c.params.clone())
        });
        let sent = sent.expect("the card's sendMessage");
        assert_ne!(sent["disable_notification"], Value::Bool(true));
        // The viewer sees the same card without buttons.
        let viewer_card = rig.card(VIEWER, "touch /tmp/agent-approved-demo").await;
        assert!(viewer_card.buttons().is_empty());

        let q = rig.press(OPERATOR, &card, "a");
        let out = finished(hook).await;
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout), ALLOW_JSON);
        assert_eq!(rig.answer(&q).await, "Approved");
        let done = rig
            .outcome(OPERATOR, card.message_id, "✅ Approved by user1001 at")
            .await;
        assert!(done.buttons().is_empty(), "{:?}", done.buttons());
        assert!(done.text.contains("touch /tmp/agent-approved-demo"));
        rig.outcome(VIEWER, viewer_card.message_id, "✅ Approved by user1001")
            .await;

        let audit = rig.audit().await;
        assert!(
            audit.iter().any(|a| a.action == "approval"
                && a.source.as_deref() == Some("button")
                && a.user_id == Some(OPERATOR)
                && a.session.as_deref() == Some("agent")
                && a.text.as_deref() == Some("touch /tmp/agent-approved-demo")),
            "{audit:?}"
        );
    });
}

#[test]
fn deny_wins_once_and_strangers_and_viewers_cannot_decide() {
    run(async {
        let rig = Rig::start(None).await;
        let codex = hook_fixture("codex-hooks.jsonl", "PermissionRequest");
        let hook = rig.hook("agent", "codex", codex);
        let card = rig.card(OPERATOR, "codex wants to run").await;

        // A stranger's and a viewer's presses decide nothing.
        let stranger = rig.press(STRANGER, &card, "a");
        let viewer = rig.press(VIEWER, &card, "a");
        assert_eq!(rig.answer(&stranger).await, "");
        assert!(rig
            .answer(&viewer)
            .await
            .contains("not type, kill or approve"));
        assert!(!hook.is_finished());

        // Deny and Approve pressed at once: one decision, the other is told.
        let deny = rig.press(OPERATOR, &card, "d");
        let approve = rig.press(OPERATOR, &card, "a");
        let out = finished(hook).await;
        assert_eq!(out.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&out.stdout).expect("hook json");
        assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
        assert_eq!(
            v["hookSpecificOutput"]["decision"]["message"],
            "denied by user1001 via walkie"
        );
        assert_eq!(rig.answer(&deny).await, "Denied");
        let late = rig.answer(&approve).await;
        assert!(late.starts_with("Already denied by user1001"), "{late}");
        let done = rig
            .outcome(OPERATOR, card.message_id, "⛔ Denied by user1001")
            .await;
        assert!(done.buttons().is_empty());

        let audit = rig.audit().await;
        let decisions: Vec<_> = audit.iter().filter(|a| a.action == "approval").collect();
        assert_eq!(decisions.len(), 1, "{decisions:?}");
        assert!(decisions[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("Denied"));
        assert!(
            audit
                .iter()
                .any(|a| a.action == "refused" && a.user_id == Some(STRANGER)),
            "{audit:?}"
        );
        assert!(
            audit
                .iter()
                .any(|a| a.action == "refused" && a.user_id == Some(VIEWER)),
            "{audit:?}"
        );
    });
}

#[test]
fn buttons_keep_working_after_a_bot_restart() {
    run(async {
        let mut rig = Rig::start(None).await;
        let hook = rig.hook("agent", "claude", claude_payload());
        let card = rig.card(OPERATOR, "touch /tmp/agent-approved-demo").await;
        rig.card(VIEWER, "touch /tmp/agent-approved-demo").await;
        // Cards go out to all chats at once, each stored when Telegram answered: both on
        // record before the crash (one lost in between is posted again, at least once).
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let store = rig.store().await;
            let mut stored = 0;
            for (a, _) in store.pending_approvals().await.expect("approvals") {
                stored += store.approval_cards(a.id).await.expect("cards").len();
            }
            store.close().await;
            if stored == 2 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{stored} cards stored"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        rig.kill_bot().await;
        rig.restart_bot().await;
        let q = rig.press(OPERATOR, &card, "a");
        let out = finished(hook).await;
        assert_eq!(String::from_utf8_lossy(&out.stdout), ALLOW_JSON);
        assert_eq!(rig.answer(&q).await, "Approved");
        rig.outcome(OPERATOR, card.message_id, "✅ Approved by user1001")
            .await;
        // The restarted bot did not post the pending card a second time.
        let cards = rig.fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .filter(|m| m.text.contains("touch /tmp/agent-approved-demo"))
                .count()
        });
        assert_eq!(cards, 1);
    });
}

#[test]
fn ask_exits_by_the_press_and_expired_cards_say_so() {
    run(async {
        let rig = Rig::start(None).await;
        let ask = rig.ask("ops", &["deploy", "to", "staging?"]);
        let card = rig.card(OPERATOR, "ops asks: deploy to staging?").await;
        rig.press(OPERATOR, &card, "a");
        assert_eq!(finished(ask).await.status.code(), Some(0));

        assert!(!card.silent, "an approval card buzzes");

        // A chat that chose /notify none still gets its cards, silently.
        rig.fake.send_text(OPERATOR, "/notify none");
        rig.fake
            .wait_for_bot_message(OPERATOR, T, "the level", |m| {
                m.text.contains("nothing buzzes")
            })
            .await;
        let ask = rig.ask("ops", &["drop", "the", "database?"]);
        let card = rig.card(OPERATOR, "drop the database?").await;
        assert!(card.silent, "with /notify none the card arrives silently");
        rig.press(OPERATOR, &card, "d");
        assert_eq!(finished(ask).await.status.code(), Some(1));

        // Nobody answers: the asker gets no, and the card says why.
        let ask = rig.ask("ops", &["--timeout", "5", "anyone?"]);
        let card = rig.card(OPERATOR, "anyone?").await;
        assert_eq!(finished(ask).await.status.code(), Some(1));
        let done = rig
            .outcome(
                OPERATOR,
                card.message_id,
                "⛔ Denied (nobody answered in time)",
            )
            .await;
        assert!(done.buttons().is_empty());
    });
}

#[test]
fn policy_rules_and_approve_for_this_session() {
    run(async {
        let toml = r#"
[approvals]
auto_allow = ["git status"]
always_deny = ["rm -rf *"]
"#;
        let rig = Rig::start(Some(toml)).await;
        // Session rules belong to a live session.
        rig.host.ok(&["new", "agent", "--", "sleep", "600"]);

        // auto_allow: allowed at once, with a silent note.
        let out = finished(rig.hook(
            "agent",
            "claude",
            with_command(&claude_payload(), "git status --short"),
        ))
        .await;
        assert_eq!(String::from_utf8_lossy(&out.stdout), ALLOW_JSON);
        let note = rig
            .fake
            .wait_for_bot_message(OPERATOR, T, "the auto-approval note", |m| {
                m.text.contains("by rule git status") && m.text.contains("git status --short")
            })
            .await;
        assert!(note.buttons().is_empty());
        let silent = rig.fake.with(|s| {
            s.calls_to("sendMessage").any(|c| {
                c.response["result"]["message_id"] == note.message_id
                    && c.chat_id() == Some(OPERATOR)
                    && c.params["disable_notification"] == Value::Bool(true)
            })
        });
        assert!(silent, "the auto-approval note must be silent");

        // always_deny, even behind a wrapper.
        let out = finished(rig.hook(
            "agent",
            "claude",
            with_command(&claude_payload(), "sudo rm -rf /"),
        ))
        .await;
        let v: Value = serde_json::from_slice(&out.stdout).expect("hook json");
        assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");

        // Approve for this session: later `cargo test ...` pass without a card.
        let hook = rig.hook(
            "agent",
            "claude",
            with_command(&claude_payload(), "cargo test --lib"),
        );
        let card = rig.card(OPERATOR, "cargo test --lib").await;
        let q = rig.press(OPERATOR, &card, "s");
        assert_eq!(
            String::from_utf8_lossy(&finished(hook).await.stdout),
            ALLOW_JSON
        );
        // The next request comes at once, as an agent's would: the rule is already there.
        let out = finished(rig.hook(
            "agent",
            "claude",
            with_command(&claude_payload(), "cargo test --doc"),
        ))
        .await;
        assert_eq!(rig.answer(&q).await, "Approved for this session");
        assert_eq!(String::from_utf8_lossy(&out.stdout), ALLOW_JSON);
        rig.fake
            .wait_for_bot_message(OPERATOR, T, "the session auto-approval note", |m| {
                m.text.contains("cargo test --doc") && m.text.contains("approved for this session")
            })
            .await;
        // Another command still asks.
        let hook = rig.hook(
            "agent",
            "claude",
            with_command(&claude_payload(), "cargo publish"),
        );
        let card = rig.card(OPERATOR, "cargo publish").await;
        rig.press(OPERATOR, &card, "d");
        let v: Value = serde_json::from_slice(&finished(hook).await.stdout).expect("hook json");
        assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");

        let audit = rig.audit().await;
        let policy: Vec<_> = audit
            .iter()
            .filter(|a| a.action == "approval" && a.source.as_deref() == Some("policy"))
            .map(|a| a.text.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            policy,
            ["git status --short", "sudo rm -rf /", "cargo test --doc"],
            "{audit:?}"
        );
    });
}

#[test]
fn a_host_restart_closes_the_cards_of_its_asks() {
    run(async {
        let mut rig = Rig::start(None).await;
        let hook = rig.hook("agent", "claude", claude_payload());
        let card = rig.card(OPERATOR, "touch /tmp/agent-approved-demo").await;
        rig.host.crash();
        let out = finished(hook).await;
        let v: Value = serde_json::from_slice(&out.stdout).expect("hook json");
        assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
        // A thread of its own: the helper runs a runtime of its own to wait for the host.
        std::thread::scope(|s| {
            s.spawn(|| rig.host.spawn_host())
                .join()
                .expect("restart the host")
        });
        rig.message_where(
            OPERATOR,
            card.message_id,
            "the card to say the host restarted",
            |m| m.text.starts_with("⌛ Expired: the session host restarted"),
        )
        .await;
    });
}

#[test]
fn a_hook_that_stops_waiting_was_answered_at_the_terminal() {
    run(async {
        let rig = Rig::start(None).await;
        let mut cmd = rig.host.command();
        cmd.env("WALKIE_SESSION", "agent")
            .args(["approve-hook", "--agent", "claude"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut hook = cmd.spawn().expect("spawn approve-hook");
        {
            use std::io::Write;
            let mut stdin = hook.stdin.take().expect("stdin");
            stdin
                .write_all(claude_payload().as_bytes())
                .expect("write the payload");
        }
        let card = rig.card(OPERATOR, "touch /tmp/agent-approved-demo").await;
        // Claude Code stops its hook when its own dialog is answered at the terminal.
        hook.kill().expect("kill the hook");
        let _ = hook.wait();
        let done = rig
            .outcome(OPERATOR, card.message_id, "⌨️ Answered at the terminal")
            .await;
        assert!(done.buttons().is_empty());
    });
}

#[test]
fn screen_prompts_get_cards_that_type_the_answer() {
    run(async {
        let rig = Rig::start(None).await;
        // A small program that asks twice, as shell tools do, and shows what it got.
        let script = rig.host.dir.path().join("asker.sh");
        std::fs::write(
            &script,
            "printf 'Overwrite config? [y/N] '\nread a\necho \"got $a\"\n\
             printf 'Delete cache? [y/N] '\nread b\necho \"second $b\"\n\
             printf 'Really quit? [y/N] '\nread c\n",
        )
        .expect("script");
        let script = script.display().to_string();
        rig.host.ok(&["new", "scr", "--", "sh", &script]);
        rig.fake.send_text(OPERATOR, "/use scr");
        rig.fake
            .wait_for_bot_message(OPERATOR, T, "/use to be answered", |m| {
                m.text.contains("Now talking to scr")
            })
            .await;

        let card = rig.card(OPERATOR, "Overwrite config? [y/N]").await;
        assert!(card.text.contains("scr asks"), "{}", card.text);
        rig.press(OPERATOR, &card, "a");
        // The approve keys reach the program.
        rig.wait_screen("scr", "got y");
        rig.outcome(OPERATOR, card.message_id, "✅ Approved by user1001")
            .await;

        // The next prompt is answered at the terminal: its card says so.
        let card = rig.card(OPERATOR, "Delete cache? [y/N]").await;
        rig.host.ok(&["send", "scr", "n"]);
        let done = rig
            .outcome(OPERATOR, card.message_id, "⌨️ Answered at the terminal")
            .await;
        assert!(done.buttons().is_empty());
        rig.wait_screen("scr", "second n");

        // A prompt whose session ends can no longer be answered: its card says so.
        let card = rig.card(OPERATOR, "Really quit? [y/N]").await;
        rig.host.ok(&["kill", "scr"]);
        let done = rig
            .outcome(OPERATOR, card.message_id, "⛔ Denied by the session ended")
            .await;
        assert!(done.buttons().is_empty());
    });
}

/// A fake agent for screen detection: shows a real agent's approval screen (a fixture),
/// records the first key it receives, then shows the fixture's after-screen.
const FAKE_AGENT: &str = "stty -icanon -echo min 1\n\
                          cat \"$1\"\n\
                          dd bs=1 count=1 of=\"$2\" 2>/dev/null\n\
                          printf '\\033[2J\\033[H'\n\
                          cat \"$3\"\n\
                          sleep 600\n";

#[test]
fn agent_dialogs_on_screen_are_answered_with_their_keys() {
    run(async {
        let rig = Rig::start(None).await;
        // (session, approval screen, after-screen, button, key it must receive, outcome)
        let cases = [
            (
                "cl",
                "claude-approval.ansi",
                "claude-after-approve.txt",
                "a",
                "1",
                "✅ Approved by user1001",
            ),
            (
                "cx",
                "codex-approval.ansi",
                "codex-after-deny.txt",
                "d",
                "\u{1b}",
                "⛔ Denied by user1001",
            ),
        ];
        for (session, screen, after, button, key, outcome) in cases {
            let record = rig.fake_agent(session, screen, after).await;
            let card = rig.card(OPERATOR, &format!("{session} asks")).await;
            assert!(
                card.text.contains("touch /tmp/agent-approved-demo"),
                "the card names the command: {}",
                card.text
            );
            rig.press(OPERATOR, &card, button);
            rig.outcome(OPERATOR, card.message_id, outcome).await;
            let got = support::host::wait_for("the fake agent's key", T, || {
                std::fs::read(&record).ok().filter(|b| !b.is_empty())
            });
            assert_eq!(String::from_utf8_lossy(&got), key, "{session}");
        }
    });
}

/// A stand-in for Claude Code: runs the approval hook it was given with `--settings`, as
/// Claude Code does, on the fixture's payload, and keeps what the hook answered.
const FAKE_CLAUDE: &str = r#"#!/usr/bin/env python3
import json, subprocess, sys, time
args = sys.argv[1:]
settings = json.loads(args[args.index("--settings") + 1])
hook = settings["hooks"]["PermissionRequest"][0]
cmd = hook["hooks"][0]
out = subprocess.run(["sh", "-c", cmd["command"]], input=open(sys.argv[0] + ".payload", "rb").read(),
                     capture_output=True)
with open(sys.argv[0] + ".meta", "w") as f:
    json.dump({"matcher": hook["matcher"], "timeout": cmd["timeout"], "command": cmd["command"]}, f)
with open(sys.argv[0] + ".out", "wb") as f:
    f.write(out.stdout)
time.sleep(600)
"#;

#[test]
fn the_claude_preset_asks_through_walkies_hook() {
    run(async {
        let toml =
            "[approvals]\ntimeout_s = 120\n[presets.claude]\ncommand = [\"{dir}/bin/claude\"]\nsandbox = \"off\"\n";
        let rig = Rig::start(Some(toml)).await;
        let bin = rig.host.dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let claude = bin.join("claude");
        std::fs::write(&claude, FAKE_CLAUDE).expect("fake claude");
        std::fs::write(bin.join("claude.payload"), claude_payload()).expect("payload");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        rig.fake.send_text(OPERATOR, "/new cc claude");
        let card = rig.card(OPERATOR, "cc · claude wants to run").await;
        rig.press(OPERATOR, &card, "a");
        let out = support::host::wait_for("the hook's answer", T, || {
            std::fs::read_to_string(bin.join("claude.out"))
                .ok()
                .filter(|s| !s.is_empty())
        });
        assert_eq!(out, ALLOW_JSON);
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(bin.join("claude.meta")).expect("meta"))
                .expect("meta json");
        assert_eq!(meta["matcher"], "Bash");
        // The agent waits longer than walkie, so walkie's own deny comes first.
        assert_eq!(meta["timeout"], 180);
        assert!(
            meta["command"]
                .as_str()
                .unwrap_or_default()
                .ends_with("approve-hook --agent claude"),
            "{meta}"
        );
    });
}

#[test]
fn rules_answer_agent_dialogs_on_screen_too() {
    run(async {
        let toml = "[approvals]\nauto_allow = [\"touch /tmp/agent-approved-demo\"]\n";
        let rig = Rig::start(Some(toml)).await;
        let record = rig
            .fake_agent("cl", "claude-approval.ansi", "claude-after-approve.txt")
            .await;
        let got = support::host::wait_for("the approve key", T, || {
            std::fs::read(&record).ok().filter(|b| !b.is_empty())
        });
        assert_eq!(got, b"1");
        let note = rig
            .fake
            .wait_for_bot_message(OPERATOR, T, "the silent note", |m| {
                m.text
                    .contains("Approved by rule touch /tmp/agent-approved-demo")
            })
            .await;
        assert!(note.buttons().is_empty());
        // No card asked anyone.
        let cards = rig.fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .filter(|m| m.text.starts_with("🔐"))
                .count()
        });
        assert_eq!(cards, 0);
    });
}

#[test]
fn the_stop_hook_tells_the_phone_the_turn_is_over() {
    run(async {
        let rig = Rig::start(None).await;
        let stop = serde_json::json!({
            "session_id": "4aaefecf-dab3-4085-b4d8-fde46704612b",
            "cwd": "/srv/demo/agent-repo-1",
            "hook_event_name": "Stop",
            "stop_hook_active": false
        })
        .to_string();
        let out = finished(rig.hook("agent7", "claude", stop)).await;
        assert_eq!(out.status.code(), Some(0));
        assert!(out.stdout.is_empty(), "the agent is told nothing");
        let m = rig
            .fake
            .wait_for_bot_message(OPERATOR, T, "the finished-turn notice", |m| {
                m.text.contains("agent7 finished its turn")
            })
            .await;
        assert!(!m.silent, "with the default level a finished turn buzzes");
    });
}

/// A stand-in `codex`: reads walkie's hooks from its `-c hooks.EVENT=[...]` arguments as Codex
/// does, runs walkie's PermissionRequest hook on the fixture payload, and records what it saw.
const FAKE_CODEX: &str = r#"#!/usr/bin/env python3
import json, os, subprocess, sys, time, tomllib
home = os.environ["CODEX_HOME"]
hooks = {}
for a in sys.argv[1:]:
    if a.startswith("hooks.") and not a.startswith("hooks.state="):
        k, v = a[len("hooks."):].split("=", 1)
        hooks[k] = tomllib.loads("v = " + v)["v"]
ours = [h for h in hooks["PermissionRequest"] if "approve-hook" in h["hooks"][0]["command"]][0]
out = subprocess.run(["sh", "-c", ours["hooks"][0]["command"]], input=open(sys.argv[0] + ".payload", "rb").read(),
                     capture_output=True)
with open(sys.argv[0] + ".meta", "w") as f:
    json.dump({"events": sorted(hooks), "config": open(os.path.join(home, "config.toml")).read(),
               "hooks_json": os.readlink(os.path.join(home, "hooks.json")),
               "command": ours["hooks"][0]["command"]}, f)
with open(sys.argv[0] + ".out", "wb") as f:
    f.write(out.stdout)
time.sleep(600)
"#;

#[test]
fn the_codex_preset_gets_walkies_hook_in_its_own_home() {
    run(async {
        let toml =
            "[approvals]\ntimeout_s = 120\n[presets.codex]\ncommand = [\"{dir}/bin/codex\"]\nsandbox = \"off\"\n";
        let rig = Rig::start(Some(toml)).await;
        let dir = rig.host.dir.path().to_path_buf();
        // The user's own Codex home: a config and a hook of their own, both to be kept.
        let user_home = dir.join(".codex");
        std::fs::create_dir_all(&user_home).expect("codex home");
        std::fs::write(user_home.join("config.toml"), "model = \"mine\"\n").expect("config");
        let user_hooks =
            r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "true"}]}]}}"#;
        std::fs::write(user_home.join("hooks.json"), user_hooks).expect("hooks");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let codex = bin.join("codex");
        std::fs::write(&codex, FAKE_CODEX).expect("fake codex");
        std::fs::write(
            bin.join("codex.payload"),
            hook_fixture("codex-hooks.jsonl", "PermissionRequest"),
        )
        .expect("payload");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        rig.fake.send_text(OPERATOR, "/new cx codex");
        let card = rig.card(OPERATOR, "touch /tmp/agent-approved-demo").await;
        rig.press(OPERATOR, &card, "a");
        let out = support::host::wait_for("the hook's answer", T, || {
            std::fs::read_to_string(bin.join("codex.out"))
                .ok()
                .filter(|s| !s.is_empty())
        });
        assert_eq!(out, ALLOW_JSON);
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(bin.join("codex.meta")).expect("meta"))
                .expect("meta json");
        assert_eq!(
            meta["events"],
            serde_json::json!(["PermissionRequest", "PreToolUse", "Stop"])
        );
        // A real copy of the user's config; the user's hooks.json linked, not rewritten.
        assert_eq!(meta["config"], "model = \"mine\"\n");
        assert_eq!(
            meta["hooks_json"],
            user_home.join("hooks.json").display().to_string().as_str()
        );
        assert!(
            meta["command"]
                .as_str()
                .unwrap_or_default()
                .ends_with("approve-hook --agent codex"),
            "{meta}"
        );
        // The user's files are untouched.
        assert_eq!(
            std::fs::read_to_string(user_home.join("hooks.json")).expect("hooks"),
            user_hooks
        );
    });
}
