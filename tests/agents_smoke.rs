//! The real agent CLIs (Claude Code 2.1.330, Codex 0.169.0, Copilot CLI 1.0.102, installed by
//! `.ci/agents`) in real sessions of a real `walkie host`, offline against the fake model: each
//! draws its input box, and a prompt typed into it reaches the model. Also the first-run folder
//! trust dialogs a new user meets, answered with the keys docs/AGENTS.md gives.

mod support;

use std::time::Duration;

use serde_json::json;
use support::agents::{Agent, AgentHome, FakeLlm, Setup};
use support::host::{path_str, wait_for, TestHost};

/// An agent's cold start (Copilot unpacks itself on the first run) on a loaded 2-core machine.
const START: Duration = Duration::from_secs(90);
/// From Enter to the request at the fake model.
const TURN: Duration = Duration::from_secs(60);
/// How long a key may take to show on screen before it counts as dropped and is sent again.
const RETRY: Duration = Duration::from_secs(3);

fn scenario() -> serde_json::Value {
    json!({"turns": [{"text": "hello from the fake model"}], "aux_text": "OK"})
}

/// `walkie new NAME --cwd WORK -- <agent argv>`.
fn start(h: &TestHost, name: &str, home: &AgentHome) {
    let argv = home.argv(&[]);
    let mut args = vec!["new", name, "--cwd", path_str(&home.work), "--"];
    args.extend(argv.iter().map(String::as_str));
    h.ok(&args);
}

/// Polls `walkie screen NAME` until `pred` holds; panics with the last screen after `timeout`.
fn wait_screen(
    h: &TestHost,
    name: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let mut last = String::new();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(what, timeout, || {
            let out = h.run(&["screen", name]);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            (out.status.success() && pred(&last)).then(|| last.clone())
        })
    }));
    found.unwrap_or_else(|_| {
        panic!("timed out after {timeout:?} waiting for {what}; screen:\n{last}")
    })
}

/// Sends `keys` until `pred` holds on screen, waiting `RETRY` after each send. An agent can drop
/// keys that arrive just after it drew a screen (Claude's trust dialog did, under load), so one
/// send is not enough; a dropped key shows as an unchanged screen.
fn press_until(h: &TestHost, name: &str, keys: &[&str], what: &str, pred: impl Fn(&str) -> bool) {
    let mut last = String::new();
    let deadline = std::time::Instant::now() + START;
    while std::time::Instant::now() < deadline {
        h.ok(&[&["send", name][..], keys].concat());
        let retry = std::time::Instant::now() + RETRY;
        while std::time::Instant::now() < retry {
            let out = h.run(&["screen", name]);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if pred(&last) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("timed out after {START:?} sending {keys:?} for {what}; screen:\n{last}");
}

/// Types `text` into the input box until the box shows it, then presses Enter: an agent that
/// gets text and Enter in one burst may take the Enter as part of a paste.
fn type_prompt(h: &TestHost, name: &str, text: &str) {
    press_until(h, name, &["--no-enter", text], "the typed prompt", |s| {
        s.contains(text)
    });
    h.ok(&["send", name, "--keys", "Enter"]);
}

fn prompt_reaches_the_model(agent: Agent) {
    let fake = FakeLlm::start(&scenario());
    let home = AgentHome::new(
        agent,
        &fake,
        &Setup {
            trust_folder: true,
            ..Setup::default()
        },
    );
    let h = TestHost::start();
    let name = agent.name();
    start(&h, name, &home);
    wait_screen(&h, name, "the agent's input box", START, |s| {
        agent.input_ready(s)
    });
    let prompt = format!("Say hello to walkie from {name}.");
    type_prompt(&h, name, &prompt);
    fake.wait_request_with(&[&prompt], TURN);
    wait_screen(&h, name, "the model's answer", TURN, |s| {
        s.contains("hello from the fake model")
    });
    h.ok(&["kill", name, "--force"]);
}

#[test]
fn claude_prompt_reaches_the_model() {
    prompt_reaches_the_model(Agent::Claude);
}

#[test]
fn codex_prompt_reaches_the_model() {
    prompt_reaches_the_model(Agent::Codex);
}

#[test]
fn copilot_prompt_reaches_the_model() {
    prompt_reaches_the_model(Agent::Copilot);
}

/// A new user's first start in an untrusted folder: the dialog is up, the input box is not, no
/// request has gone out; the documented keys accept it and the prompt then reaches the model.
/// `select`: press Down until this highlighted line shows; then `confirm` is pressed.
fn folder_trust_then_prompt(agent: Agent, dialog: &str, select: Option<&str>, confirm: &str) {
    let fake = FakeLlm::start(&scenario());
    let home = AgentHome::new(agent, &fake, &Setup::default());
    let h = TestHost::start();
    let name = agent.name();
    start(&h, name, &home);
    let screen = wait_screen(&h, name, "the folder trust dialog", START, |s| {
        s.contains(dialog)
    });
    assert!(
        !agent.input_ready(&screen),
        "input box reported ready behind the dialog:\n{screen}"
    );
    assert!(
        screen.contains(path_str(&home.work)),
        "the dialog names the folder:\n{screen}"
    );
    if let Some(highlighted) = select {
        press_until(&h, name, &["--keys", "Down"], "the highlight on Yes", |s| {
            s.contains(highlighted)
        });
    }
    press_until(
        &h,
        name,
        &["--keys", confirm],
        "the input box after trusting",
        |s| agent.input_ready(s),
    );
    assert!(
        fake.main_requests_with(&[]).is_empty(),
        "a model request went out before any prompt"
    );
    let prompt = format!("First prompt of a new {name} user.");
    type_prompt(&h, name, &prompt);
    fake.wait_request_with(&[&prompt], TURN);
    h.ok(&["kill", name, "--force"]);
}

#[test]
fn claude_folder_trust_dialog() {
    // Default "No, exit"; digits do nothing: Down then Enter trusts.
    folder_trust_then_prompt(
        Agent::Claude,
        "Is this a project you created or one you trust?",
        Some("❯ Yes, I trust this folder"),
        "Enter",
    );
}

#[test]
fn codex_folder_trust_dialog() {
    // "› 1. Trust and continue" is highlighted; Enter confirms.
    folder_trust_then_prompt(Agent::Codex, "Trust this folder?", None, "Enter");
}

#[test]
fn copilot_folder_trust_dialog() {
    // Digits choose at once: 1 = yes for this session.
    folder_trust_then_prompt(
        Agent::Copilot,
        "Do you trust the files in this folder?",
        None,
        "1",
    );
}

#[test]
fn claude_api_key_dialog_defaults_to_no() {
    // With ANTHROPIC_API_KEY Claude asks first; the default (Enter) is "No (recommended)", and
    // Up then Enter accepts the key. Here: Up, Enter, and the prompt reaches the model.
    let fake = FakeLlm::start(&scenario());
    let home = AgentHome::new(
        Agent::Claude,
        &fake,
        &Setup {
            trust_folder: true,
            claude_api_key: true,
        },
    );
    let h = TestHost::start();
    start(&h, "key", &home);
    let screen = wait_screen(&h, "key", "the API key dialog", START, |s| {
        s.contains("Detected a custom API key in your environment")
    });
    assert!(
        screen.contains("❯ No (recommended)"),
        "No is the default:\n{screen}"
    );
    press_until(&h, "key", &["--keys", "Up"], "the highlight on Yes", |s| {
        s.contains("❯ Yes")
    });
    press_until(&h, "key", &["--keys", "Enter"], "the input box", |s| {
        Agent::Claude.input_ready(s)
    });
    type_prompt(&h, "key", "Use the key.");
    fake.wait_request_with(&["Use the key."], TURN);
    h.ok(&["kill", "key", "--force"]);
}
