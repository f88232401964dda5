//! Agents' dialogs from the phone (issue 10, point 3), with the real Claude Code 2.1.330, Codex
//! CLI 0.169.0 and Copilot CLI 1.0.102 (installed by `.ci/agents`) offline against the fake
//! model, through the real `walkie up` and the fake Telegram: a session started in a folder the
//! agent does not trust (or with `ANTHROPIC_API_KEY`) shows its dialog as a card with the
//! dialog's own choices; a text sent meanwhile is held (not typed into the dialog) and the
//! sender told; pressing the card's button types the choice's keys; the held text then reaches
//! the model once and its delivery is confirmed.
//!
//! Every wait is on an event (a message in the fake, a request at the fake model), bounded.

mod support;

#[path = "support/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/bot_rig.rs"]
mod bot_rig;

use std::future::Future;
use std::time::Duration;

use bot_rig::{BotRig, OPERATOR};
use fake_telegram::{ChatMessage, FakeTelegram};
use serde_json::{json, Value};
use support::agents::{Agent, AgentHome, FakeLlm, Setup};
use support::host::{path_str, TestHost};

/// An agent's cold start on a loaded 2-core machine, up to its first dialog.
const START: Duration = Duration::from_secs(90);
/// One bot answer.
const T: Duration = Duration::from_secs(30);
/// From the press to the held prompt at the fake model.
const TURN: Duration = Duration::from_secs(60);

fn scenario() -> Value {
    json!({"turns": [{"text": "hello from the fake model"}], "aux_text": "OK"})
}

/// Runs an async test on its own runtime, bounded.
fn run<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(280), f)
                .await
                .expect("test took longer than 280 s")
        })
}

/// A blocking call of the test support (the walkie CLI, its own runtime) on this runtime.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

/// What one dialog test expects: the card's question, whether it names the folder, and the
/// button to press.
struct Case {
    question: &'static str,
    /// The folder is named on the card.
    names_folder: bool,
    choice: &'static str,
}

/// Seconds the agent's start is delayed by (a slow start: nothing on screen yet).
const SLOW_START_S: u32 = 3;

/// The bot's message in the operator's chat, the latest copy.
async fn message(
    fake: &FakeTelegram,
    what: &str,
    pred: impl Fn(&ChatMessage) -> bool,
) -> ChatMessage {
    fake.wait_for_bot_message(OPERATOR, START, what, pred).await
}

/// Starts `agent` from the CLI, works with it from the phone, sends a prompt at once (held:
/// the agent is starting, or shows its dialog), answers the dialog card if `case` has one, and
/// checks that the held prompt reaches the model once and is confirmed. `argv`: the agent's
/// command line from its home.
fn held_until_ready(
    agent: Agent,
    setup: Setup,
    case: Option<Case>,
    argv: impl FnOnce(&AgentHome) -> Vec<String> + Send + 'static,
) {
    run(async move {
        let llm = tokio::task::spawn_blocking(|| FakeLlm::start(&scenario()))
            .await
            .expect("fake model");
        let home = AgentHome::new(agent, &llm, &setup);
        let fake = FakeTelegram::start().await;
        let rig = BotRig::start(&fake, &[], &[], None).await;
        rig.wait_started(&fake, 1, T).await;
        let name = agent.name();
        let mut args = vec![
            "new".to_string(),
            name.to_string(),
            "--cwd".into(),
            path_str(&home.work).to_string(),
            "--".into(),
        ];
        args.extend(argv(&home));
        let h = &rig.host;
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        blocking(|| h.ok(&args_ref));
        fake.send_text(OPERATOR, &format!("/use {name}"));
        message(&fake, "/use answered", |m| {
            m.text.contains("Now talking to")
        })
        .await;
        // Sent before the agent can take it: while it starts, or with its dialog up.
        let prompt = format!("Held prompt for {name} from the phone.");
        fake.send_text(OPERATOR, &prompt);
        let held = message(&fake, "the held note", |m| m.text.starts_with("⏳ held")).await;
        assert!(
            held.text
                .starts_with(&format!("⏳ held until {name}'s input box is back (")),
            "{}",
            held.text
        );
        match &case {
            Some(case) => answer_the_card(&fake, case, name, h, &home, &llm, &prompt).await,
            None => assert!(
                held.text.ends_with("(Claude Code has not drawn it yet)"),
                "{}",
                held.text
            ),
        }
        let got = tokio::task::spawn_blocking({
            let prompt = prompt.clone();
            move || {
                llm.wait_request_with(&[&prompt], TURN);
                llm
            }
        })
        .await
        .expect("the held prompt at the model");
        message(&fake, "the delivery confirmation", |m| {
            m.text.contains("got your held text") && m.text.contains(&prompt)
        })
        .await;
        // Typed once, into the box.
        assert_eq!(got.main_requests_with(&[&prompt]).len(), 1);
        let audit = rig.audit().await;
        assert!(
            audit.iter().any(|a| a.action == "dispatch"
                && a.text.as_deref() == Some(prompt.as_str())
                && a.detail.as_deref() == Some("held until the input box was ready")),
            "{audit:?}"
        );
        blocking(|| h.ok(&["kill", name, "--force"]));
    });
}

#[test]
fn claude_folder_trust_from_the_phone() {
    let case = Case {
        question: "Claude Code asks: Trust this folder?",
        names_folder: true,
        choice: "Yes, I trust this folder",
    };
    held_until_ready(Agent::Claude, Setup::default(), Some(case), |h| h.argv(&[]));
}

#[test]
fn claude_api_key_from_the_phone() {
    // With No (the default) every prompt fails "Not logged in": the prompt reaching the model
    // shows Yes was typed.
    let setup = Setup {
        trust_folder: true,
        claude_api_key: true,
    };
    let case = Case {
        question: "Claude Code asks: Use the API key",
        names_folder: false,
        choice: "Yes",
    };
    held_until_ready(Agent::Claude, setup, Some(case), |h| h.argv(&[]));
}

#[test]
fn codex_folder_trust_from_the_phone() {
    let case = Case {
        question: "Codex asks: Trust this folder?",
        names_folder: true,
        choice: "Trust and continue",
    };
    held_until_ready(Agent::Codex, Setup::default(), Some(case), |h| h.argv(&[]));
}

#[test]
fn copilot_folder_trust_from_the_phone() {
    let case = Case {
        question: "Copilot asks: Trust the files in this folder?",
        names_folder: true,
        choice: "Yes",
    };
    held_until_ready(Agent::Copilot, Setup::default(), Some(case), |h| {
        h.argv(&[])
    });
}

/// A prompt sent before Claude has drawn anything (its start delayed by a shell) waits for its
/// input box.
#[test]
fn claude_slow_start_holds_the_prompt() {
    let setup = Setup {
        trust_folder: true,
        ..Setup::default()
    };
    held_until_ready(Agent::Claude, setup, None, |h| {
        let mut argv = h.argv(&[]);
        let bin = Agent::Claude.bin().display().to_string();
        let at = argv
            .iter()
            .position(|a| *a == bin)
            .expect("the claude binary in argv");
        let delay = format!("sleep {SLOW_START_S}; exec \"$0\" \"$@\"");
        argv.splice(at..at, ["/bin/sh".to_string(), "-c".into(), delay]);
        argv
    });
}

/// Waits for the dialog card, checks that nothing was typed into the dialog, and presses the
/// case's choice.
async fn answer_the_card(
    fake: &FakeTelegram,
    case: &Case,
    name: &str,
    h: &TestHost,
    home: &AgentHome,
    llm: &FakeLlm,
    prompt: &str,
) {
    let card = message(fake, "the dialog card", |m| {
        m.text.contains(case.question) && !m.buttons().is_empty()
    })
    .await;
    assert!(
        card.text.starts_with(&format!("🚧 {name} · ")),
        "{}",
        card.text
    );
    assert_eq!(
        card.text.contains(path_str(&home.work)),
        case.names_folder,
        "{}",
        card.text
    );
    assert!(
        !card.text.contains("sk-ant"),
        "a key's tail on the card: {}",
        card.text
    );
    // Nothing of the prompt was typed into the dialog.
    let screen = blocking(|| h.screen(name));
    assert!(!screen.contains(prompt), "typed into the dialog:\n{screen}");
    assert!(llm.main_requests_with(&[prompt]).is_empty());
    let (_, data) = card
        .buttons()
        .into_iter()
        .find(|(label, _)| label == case.choice)
        .unwrap_or_else(|| panic!("no {:?} button on {:?}", case.choice, card.buttons()));
    fake.press_button(OPERATOR, card.chat_id, card.message_id, &data);
    let (chat, id) = (card.chat_id, card.message_id);
    let done = fake
        .wait_until(START, "the card to show the choice", |s| {
            s.message(chat, id)
                .filter(|m| m.text.starts_with(&format!("✅ {} (by ", case.choice)))
                .cloned()
        })
        .await;
    assert!(
        done.buttons().is_empty(),
        "buttons left: {:?}",
        done.buttons()
    );
}
