//! Real agents from the phone (issue 10): the real Claude Code 2.1.330 and Codex CLI 0.169.0
//! (installed by `.ci/agents`), offline against the scripted fake model, started and driven
//! through the real `walkie up` from the fake Telegram server, as a new user would:
//!
//! - `/new NAME PRESET DIR` runs the agent in DIR (a folder of `projects_dir`): the session's
//!   cwd is DIR and no folder-trust dialog is in the way (the user trusted that folder);
//! - the environment file (`[host] env_file`) reaches the session: the agent's base URL and
//!   credentials come only from it, and the session's environment has its marker variable;
//! - the basic loop: a typed prompt reaches the model, an approval card comes, Approve runs
//!   the command, Deny does not, and each turn's end is announced;
//! - the user's `~/.codex` and `~/.claude*` are left as they were (walkie writes none of it).
//!
//! Plus, with a plain shell: the directory buttons of `/new NAME PRESET` without a DIR, and a
//! live screen resumed after a bot restart that does not send its unchanged text again.
//!
//! Each test has its own host, bot, fake Telegram and fake model, so they run in parallel.

mod support;

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bot_rig::{network_cards, BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram, NOT_MODIFIED};
use serde_json::{json, Value};
use support::agents::{Agent, AgentHome, FakeLlm, Setup};
use support::host::{path_str, wait_for};
use walkie_console::front::ChatId;
use walkie_console::session::SessionRef;

/// An agent's cold start on a loaded 2-core machine.
const START: Duration = Duration::from_secs(90);
/// One step: from a prompt or press to what it causes.
const STEP: Duration = Duration::from_secs(60);
/// A whole agent test.
const WHOLE: Duration = Duration::from_secs(400);
/// Output silence after which a freshly drawn input box takes keys (docs/AGENTS.md).
const QUIET_MS: u64 = 500;

/// Runs an async test on its own runtime, bounded.
fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            tokio::time::timeout(WHOLE, f)
                .await
                .expect("test took longer than its bound")
        })
}

/// Runs a blocking helper (host CLI, file polls) off the runtime the fake serves on.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking helper")
}

/// A TOML string (JSON's escapes are TOML's for these).
fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// One agent set up for a phone: the user's scratch home (also walkie's `HOME`), the fake
/// model, the environment file holding the agent's endpoint and credentials, a preset that
/// runs the real CLI in the fake's network namespace, and the bot.
struct Phone {
    agent: Agent,
    llm: FakeLlm,
    user: AgentHome,
    rig: BotRig,
    fake: FakeTelegram,
}

/// The marker variable the environment file sets.
const ENV_MARK: (&str, &str) = ("WALKIE_TEST_ENV_FILE", "reached-the-session");

impl Phone {
    async fn start(agent: Agent, marker: &Path) -> Phone {
        let llm = FakeLlm::start_for_sandbox(&scenario(marker));
        let user = AgentHome::new(
            agent,
            &llm,
            &Setup {
                trust_folder: true,
                ..Setup::default()
            },
        );
        let root = user.root().to_path_buf();
        // The agent's environment only in the file (HOME is walkie's own already).
        let mut lines: Vec<String> = user
            .env()
            .iter()
            .filter(|(k, _)| k != "HOME")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        lines.push(format!("{}={}", ENV_MARK.0, ENV_MARK.1));
        let env_file = root.join("agents.env");
        std::fs::write(&env_file, lines.join("\n") + "\n").expect("agents.env");
        let mut command = llm.netns_prefix();
        command.push(path_str(&agent.bin()).to_string());
        command.extend(match agent {
            Agent::Claude => vec!["--permission-mode".to_string(), "default".to_string()],
            _ => vec!["--no-daemon".to_string()],
        });
        let command: Vec<String> = command.iter().map(|a| q(a)).collect();
        let toml = format!(
            "projects_dir = {}\n[host]\nenv_file = {}\n[approvals]\ntimeout_s = 120\n[presets.{}]\ncommand = [{}]\n",
            q(path_str(&root)),
            q(path_str(&env_file)),
            agent.name(),
            command.join(", ")
        );
        let fake = FakeTelegram::start().await;
        // The user's home is walkie's HOME; the state dir is outside /tmp (Codex refuses to
        // make its helper links under a temporary dir, and walkie's Codex home lives there).
        let home = path_str(&user.home).to_string();
        let state = path_str(&root.join("state")).to_string();
        let rig = BotRig::start(
            &fake,
            &[("HOME", &home), ("WALKIE_STATE_DIR", &state)],
            &[],
            Some(&toml),
        )
        .await;
        rig.wait_started(&fake, 1, START).await;
        // Telegram lets a bot write only to people who have talked to it.
        fake.send_text(OPERATOR, "/help");
        fake.wait_for_bot_message(OPERATOR, STEP, "the answer to /help", |m| {
            m.text.contains("/new")
        })
        .await;
        Phone {
            agent,
            llm,
            user,
            rig,
            fake,
        }
    }

    /// `walkie ARGS` against this rig's host, off the runtime.
    async fn walkie(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.rig.host.command();
        cmd.arg("--no-spawn").args(args);
        blocking(move || support::host::run_bounded(cmd, Duration::from_secs(30))).await
    }

    /// The host's record of session `name` (from `walkie ls --json`).
    async fn info(&self, name: &str) -> Option<Value> {
        let out = self.walkie(&["ls", "--json"]).await;
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        list.as_array()?.iter().find(|s| s["name"] == name).cloned()
    }

    /// Waits until the screen of `name` satisfies `pred`; returns it.
    async fn screen_where(&self, name: &str, what: &str, pred: fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + START;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            let out = self.walkie(&["screen", name]).await;
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && pred(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("timed out waiting for {what}; screen:\n{last}");
    }

    /// Waits until `name` has printed nothing for [`QUIET_MS`] (keys sent into a box being
    /// drawn can be undone).
    async fn quiet(&self, name: &str) {
        let deadline = tokio::time::Instant::now() + START;
        while tokio::time::Instant::now() < deadline {
            let idle = self.info(name).await.and_then(|s| s["idle_ms"].as_u64());
            if idle.is_some_and(|ms| ms >= QUIET_MS) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} never went quiet");
    }

    /// Sends `text` from the phone once the agent's input box is up and quiet, and waits for
    /// the model to get it.
    async fn prompt(&self, name: &str, text: &str) {
        let ready = match self.agent {
            Agent::Claude => claude_ready,
            _ => codex_ready,
        };
        self.screen_where(name, "the input box", ready).await;
        self.quiet(name).await;
        self.fake.send_text(OPERATOR, text);
        let llm_requests = self.llm.main_requests_with(&[text]).len();
        let deadline = tokio::time::Instant::now() + STEP;
        while self.llm.main_requests_with(&[text]).len() <= llm_requests {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{text:?} did not reach the model; requests: {:?}",
                self.llm
                    .requests()
                    .iter()
                    .map(|r| format!("{} {}", r["path"], r["note"]))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a pending approval card about `what`.
    async fn card(&self, what: &str) -> ChatMessage {
        self.fake
            .wait_for_bot_message(OPERATOR, STEP, &format!("a card about {what:?}"), |m| {
                m.text.starts_with("🔐") && m.text.contains(what) && !m.buttons().is_empty()
            })
            .await
    }

    fn press(&self, card: &ChatMessage, code: &str) {
        let data = card
            .button_data()
            .into_iter()
            .find(|d| d.ends_with(&format!(":{code}")))
            .unwrap_or_else(|| panic!("no {code} button on {:?}", card.buttons()));
        self.fake
            .press_button(OPERATOR, card.chat_id, card.message_id, &data);
    }

    /// Waits until `n` turn ends of `name` were announced.
    async fn turn_ends(&self, name: &str, n: usize) {
        let text = format!("{name} finished its turn");
        self.fake
            .wait_until(STEP, &format!("turn end {n} of {name}"), |s| {
                let seen = s
                    .bot_messages(OPERATOR)
                    .iter()
                    .filter(|m| m.text.contains(&text))
                    .count();
                (seen >= n).then_some(())
            })
            .await;
    }

    /// sha256 of every file of the user's agent configuration: `~/.codex`, `~/.claude` and
    /// `~/.claude.json`.
    fn user_files(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for d in [".codex", ".claude"] {
            for (p, h) in AgentHome::checksums(&self.user.home.join(d)) {
                all.push((format!("{d}/{p}"), h));
            }
        }
        for (p, h) in AgentHome::checksums(&self.user.home) {
            if p.starts_with(".claude") && !p.contains('/') {
                all.push((p, h));
            }
        }
        all
    }
}

fn claude_ready(s: &str) -> bool {
    Agent::Claude.input_ready(s)
}

fn codex_ready(s: &str) -> bool {
    Agent::Codex.input_ready(s)
}

/// Turn 1 asks to create `marker`, turn 2 says done.
fn scenario(marker: &Path) -> Value {
    json!({
        "turns": [{"text": "Creating it.", "shell": format!("touch {}", path_str(marker)),
                   "description": "Create the marker"},
                  {"text": "done"}],
        "aux_text": "OK"})
}

/// The whole loop with one agent; see the file's doc.
async fn basic_loop(agent: Agent) {
    // In the workspace: the agent presets' boundary lets an approved command write only there.
    let p = Phone::start(agent, Path::new("walkie-approved")).await;
    let approved = p.user.work.join("walkie-approved");
    let denied = p.user.work.join("walkie-denied");
    let before = p.user_files();
    let work = p.user.work.clone();
    let name = format!("{}1", agent.name());

    // `/new NAME PRESET DIR`, DIR a folder of projects_dir.
    p.fake
        .send_text(OPERATOR, &format!("/new {name} {} work", agent.name()));
    let started = p
        .fake
        .wait_for_bot_message(OPERATOR, STEP, "the start answer", |m| {
            m.text.starts_with(&format!("Started {name}"))
        })
        .await;
    assert!(
        started.text.contains(&format!("in {}", path_str(&work))),
        "{}",
        started.text
    );
    let info = p.info(&name).await.expect("the session");
    assert_eq!(info["cwd"], path_str(&work), "{info}");
    // The environment file reached the session.
    let pid = info["pid"].as_u64().expect("a pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("session environ");
    let mark = format!("{}={}", ENV_MARK.0, ENV_MARK.1);
    assert!(
        environ.split(|b| *b == 0).any(|v| v == mark.as_bytes()),
        "{mark} not in the session's environment"
    );
    // In a folder the user trusted: no trust dialog, the input box.
    let screen = p
        .screen_where(&name, "the input box or a trust dialog", |s| {
            s.contains("? for shortcuts")
                || s.contains("Quick safety check")
                || s.contains("Trust this folder")
        })
        .await;
    assert!(screen.contains("? for shortcuts"), "{screen}");

    // Approve: the command runs, the turn's end is announced.
    p.prompt(&name, "Please create the marker file.").await;
    let card = p.card("touch walkie-approved").await;
    assert!(card.text.contains(&name), "{}", card.text);
    p.press(&card, "a");
    let marker = approved.clone();
    blocking(move || {
        wait_for("the approved command's marker", STEP, || {
            marker.exists().then_some(())
        })
    })
    .await;
    p.turn_ends(&name, 1).await;

    // Deny: the command does not run; the turn still ends.
    p.llm.set_scenario(&scenario(Path::new("walkie-denied")));
    p.prompt(&name, "Please create the other marker.").await;
    let card = p.card("touch walkie-denied").await;
    p.press(&card, "d");
    p.turn_ends(&name, 2).await;
    assert!(!denied.exists(), "a denied command ran");
    // The boundary's proxy asked nothing at the agent's start: no network card (Codex's
    // announcement fetch is denied without asking).
    let network = network_cards(&p.fake);
    assert!(network.is_empty(), "{network:?}");
    let out = p.walkie(&["kill", &name, "--force"]).await;
    assert!(out.status.success(), "{out:?}");

    // The user's files: nothing walkie wrote. Claude Code keeps its own state in
    // ~/.claude.json (startup counts, project stats) and writes transcripts under ~/.claude;
    // Codex writes rollouts under ~/.codex/sessions. Everything else is byte-identical, and no
    // user setting mentions walkie's hook.
    let after = p.user_files();
    for entry in &before {
        if entry.0 == ".claude.json" {
            continue;
        }
        assert!(after.contains(entry), "{entry:?} changed or vanished");
    }
    for (path, _) in after.iter().filter(|e| !before.contains(e)) {
        let allowed = path.starts_with(".claude.json")
            || path.starts_with(".codex/sessions/")
            || path.starts_with(".claude/");
        assert!(allowed, "walkie or the agent wrote the user's {path}");
        // Transcripts record the hooks that ran; settings must not name walkie's.
        if path.starts_with(".claude/projects/") || path.starts_with(".codex/sessions/") {
            continue;
        }
        let text = std::fs::read_to_string(p.user.home.join(path)).unwrap_or_default();
        assert!(
            !text.contains("approve-hook"),
            "walkie's hook landed in the user's {path}"
        );
    }
    if agent == Agent::Claude {
        let cfg: Value = serde_json::from_str(
            &std::fs::read_to_string(p.user.home.join(".claude.json")).expect(".claude.json"),
        )
        .expect(".claude.json is JSON");
        assert!(!cfg.to_string().contains("approve-hook"), "{cfg}");
        assert_eq!(cfg["hasCompletedOnboarding"], true);
    }
}

#[test]
fn claude_from_the_phone_runs_in_its_dir_with_the_env_file_and_asks() {
    run(basic_loop(Agent::Claude));
}

#[test]
fn codex_from_the_phone_runs_in_its_dir_with_the_env_file_and_asks() {
    run(basic_loop(Agent::Codex));
}

/// A rig with a plain shell preset and a `projects_dir`, for the tests without agents.
async fn shell_rig(toml_extra: &str) -> (BotRig, FakeTelegram, PathBuf) {
    let fake = FakeTelegram::start().await;
    let toml = format!("projects_dir = \"{{dir}}/projects\"\n{toml_extra}");
    let rig = BotRig::start(&fake, &[], &[], Some(&toml)).await;
    let projects = rig.host.dir.path().join("projects");
    std::fs::create_dir_all(projects.join("api")).expect("projects/api");
    rig.wait_started(&fake, 1, STEP).await;
    fake.send_text(OPERATOR, "/help");
    fake.wait_for_bot_message(OPERATOR, STEP, "the answer to /help", |m| {
        m.text.contains("/new")
    })
    .await;
    (rig, fake, projects)
}

/// The answer to callback query `id` ("" for none).
async fn answer(fake: &FakeTelegram, id: &str) -> String {
    fake.wait_until(STEP, "the press's answer", |s| {
        s.callback_answers
            .get(id)
            .map(|a| a["text"].as_str().unwrap_or_default().to_string())
    })
    .await
}

/// The working directory the host records for session `name`.
async fn cwd_of(rig: &BotRig, name: &str) -> String {
    let mut cmd = rig.host.command();
    cmd.args(["--no-spawn", "ls", "--json"]);
    let out = blocking(move || support::host::run_bounded(cmd, Duration::from_secs(30))).await;
    let list: Value = serde_json::from_slice(&out.stdout).expect("ls --json");
    list.as_array()
        .and_then(|l| l.iter().find(|s| s["name"] == name))
        .and_then(|s| s["cwd"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn new_without_a_dir_offers_recent_and_project_dirs_and_refuses_a_missing_one() {
    run(async {
        let (rig, fake, projects) = shell_rig("").await;
        let home = rig.host.dir.path().to_path_buf();
        let elsewhere = home.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("elsewhere");
        // A directory that does not exist: a clear answer, no session.
        fake.send_text(OPERATOR, "/new a1 shell ~/nope");
        let m = fake
            .wait_for_bot_message(OPERATOR, STEP, "the refusal", |m| {
                m.text.contains("is not a directory")
            })
            .await;
        assert!(m.text.contains("projects_dir"), "{}", m.text);
        // An absolute DIR: runs there, and becomes a recent one.
        fake.send_text(OPERATOR, &format!("/new a2 shell {}", path_str(&elsewhere)));
        fake.wait_for_bot_message(OPERATOR, STEP, "the start of a2", |m| {
            m.text.starts_with("Started a2")
        })
        .await;
        // No DIR: buttons, the recent one first, then projects_dir's folders, then ~.
        fake.send_text(OPERATOR, "/new a3 shell");
        let choice = fake
            .wait_for_bot_message(OPERATOR, STEP, "the directory buttons", |m| {
                m.text.contains("Where should a3")
            })
            .await;
        let labels: Vec<String> = choice.buttons().into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["📁 ~/elsewhere", "📁 ~/projects/api", "📁 ~"]);
        assert!(choice.button_data().iter().all(|d| d.len() <= 64));
        let data = choice.button_data()[1].clone();
        // Two quick presses (a double tap): the choice is made once.
        let first = fake.press_button(OPERATOR, choice.chat_id, choice.message_id, &data);
        let again = fake.press_button(OPERATOR, choice.chat_id, choice.message_id, &data);
        fake.wait_for_bot_message(OPERATOR, STEP, "the start of a3", |m| {
            m.text.starts_with("Started a3")
        })
        .await;
        assert_eq!(answer(&fake, &first).await, "a3 in ~/projects/api");
        assert_eq!(answer(&fake, &again).await, "This choice was already made.");
        assert_eq!(cwd_of(&rig, "a3").await, path_str(&projects.join("api")));
        assert_eq!(cwd_of(&rig, "a2").await, path_str(&elsewhere));
        let starts = fake.with(|s| {
            s.bot_messages(OPERATOR)
                .iter()
                .filter(|m| m.text.starts_with("Started a3"))
                .count()
        });
        assert_eq!(starts, 1);
        // The button's message now says what was chosen, without buttons.
        let edited = fake
            .wait_until(STEP, "the choice message edited", |s| {
                s.message(choice.chat_id, choice.message_id)
                    .filter(|m| m.buttons().is_empty())
                    .cloned()
            })
            .await;
        assert!(edited.text.contains("~/projects/api"), "{}", edited.text);
    });
}

#[test]
fn a_live_screen_resumed_after_a_restart_does_not_resend_an_unchanged_text() {
    run(async {
        let (mut rig, fake, _) = shell_rig("").await;
        fake.send_text(
            OPERATOR,
            "/new st sh -c 'echo steady-screen; read x; echo changed-$x; sleep 600'",
        );
        let live = fake
            .wait_for_bot_message(OPERATOR, STEP, "the live screen", |m| {
                m.text.contains("steady-screen") && m.silent
            })
            .await;
        // The bot has recorded what the message shows (it writes that after Telegram's
        // answer; a stop before would be a restart that knows nothing to compare with).
        let store = rig.store().await;
        let deadline = tokio::time::Instant::now() + STEP;
        while !store
            .live_shown(ChatId(OPERATOR), &SessionRef::local("st"))
            .await
            .ok()
            .flatten()
            .is_some_and(|h| h.contains("steady-screen"))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "shown text never recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
        rig.signal_bot(nix::sys::signal::Signal::SIGTERM);
        if let Some(mut b) = rig.bot.take() {
            let _ = tokio::time::timeout(STEP, b.wait()).await;
        }
        let calls_before = fake.with(|s| s.calls.len());
        rig.start_bot();
        rig.wait_started(&fake, 2, STEP).await;
        // It polls: the live screens were resumed before that (and looked at the screen).
        fake.wait_until(STEP, "the restarted bot to poll", |s| {
            s.calls[calls_before..]
                .iter()
                .any(|c| c.method == "getUpdates")
                .then_some(())
        })
        .await;
        let mut cmd = rig.host.command();
        cmd.args(["--no-spawn", "send", "st", "now"]);
        let out = blocking(move || support::host::run_bounded(cmd, Duration::from_secs(30))).await;
        assert!(out.status.success(), "{out:?}");
        fake.wait_until(STEP, "the live screen to change", |s| {
            s.message(live.chat_id, live.message_id)
                .filter(|m| m.text.contains("changed-now"))
                .map(|_| ())
        })
        .await;
        let refused: Vec<String> = fake.with(|s| {
            s.calls[calls_before..]
                .iter()
                .filter(|c| c.description() == Some(NOT_MODIFIED))
                .map(|c| format!("{} {}", c.method, c.params))
                .collect()
        });
        assert!(
            refused.is_empty(),
            "edits that changed nothing: {refused:?}"
        );
    });
}
