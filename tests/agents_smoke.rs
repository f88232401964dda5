//! The real agent CLIs (Claude Code 2.1.330, Codex 0.169.0, Copilot CLI 1.0.102, installed by
//! `.ci/agents`) in real sessions of a real `walkie host`, offline against the fake model: each
//! draws its input box, and a prompt typed into it reaches the model. Also the first-run folder
//! trust dialogs a new user meets, answered with the keys docs/AGENTS.md gives.

mod support;

use std::time::Duration;

use serde_json::json;
use support::agents::{
    codex_trust_hash, hook_log, press_until, record_hook_command, type_prompt, wait_quiet,
    wait_screen, Agent, AgentHome, FakeLlm, Setup, AGENT_START,
};
use support::host::{path_str, wait_for, TestHost};

/// An agent's cold start (Copilot unpacks itself on the first run) on a loaded 2-core machine.
const START: Duration = AGENT_START;
/// From Enter to the request at the fake model.
const TURN: Duration = Duration::from_secs(60);

fn scenario() -> serde_json::Value {
    json!({"turns": [{"text": "hello from the fake model"}], "aux_text": "OK"})
}

/// `walkie new NAME --cwd WORK -- <agent argv>`.
fn start(h: &TestHost, name: &str, home: &AgentHome) {
    start_argv(h, name, home, &home.argv(&[]));
}

fn start_argv(h: &TestHost, name: &str, home: &AgentHome, argv: &[String]) {
    let mut args = vec!["new", name, "--cwd", path_str(&home.work), "--"];
    args.extend(argv.iter().map(String::as_str));
    h.ok(&args);
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
    wait_quiet(&h, name);
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
    wait_quiet(&h, "key");
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

fn trusted() -> Setup {
    Setup {
        trust_folder: true,
        ..Setup::default()
    }
}

#[test]
fn claude_session_id_and_resume() {
    // walkie can choose the id (`--session-id`); the transcript is named after it; `--resume`
    // sends the old conversation with the next prompt.
    let fake = FakeLlm::start(&scenario());
    let home = AgentHome::new(Agent::Claude, &fake, &trusted());
    let h = TestHost::start();
    let id = "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
    start_argv(&h, "one", &home, &home.argv(&["--session-id", id]));
    wait_screen(&h, "one", "the input box", START, |s| {
        Agent::Claude.input_ready(s)
    });
    type_prompt(&h, "one", "Remember the word PELICAN.");
    fake.wait_request_with(&["Remember the word PELICAN."], TURN);
    let dir: String = path_str(&home.work)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let transcript = home
        .home
        .join(".claude/projects")
        .join(dir)
        .join(format!("{id}.jsonl"));
    wait_screen(&h, "one", "the model's answer", TURN, |s| {
        s.contains("hello from the fake model")
    });
    // Claude writes the transcript in batches (the user line lands ~0.1 s after the answer is
    // drawn); killed before that, `--resume` says "No conversation found". Wait for the answer
    // in the file, then SIGKILL, as a reboot or host crash would.
    wait_for("the answer in the transcript", TURN, || {
        std::fs::read_to_string(&transcript)
            .ok()?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["type"] == "assistant")
            .then_some(())
    });
    h.ok(&["kill", "one", "--force"]);
    h.wait_exit("one");

    start_argv(&h, "two", &home, &home.argv(&["--resume", id]));
    wait_screen(&h, "two", "the resumed input box", START, |s| {
        Agent::Claude.input_ready(s) && s.contains("Remember the word PELICAN.")
    });
    type_prompt(&h, "two", "Which word was it?");
    fake.wait_request_with(&["Remember the word PELICAN.", "Which word was it?"], TURN);
    h.ok(&["kill", "two", "--force"]);
}

/// The Codex home docs/AGENTS.md recommends: walkie's own CODEX_HOME with a real copy of the
/// user's config.toml (user hook trust re-keyed), symlinks to the user's auth.json, hooks.json
/// and sessions/, and walkie's hooks plus their trust on the command line.
#[test]
fn codex_walkie_home_trusts_its_hooks_and_leaves_the_user_home_alone() {
    let user = {
        let fake = FakeLlm::start(&scenario());
        AgentHome::new(Agent::Codex, &fake, &trusted())
    };
    let marker = user.root().join("marker");
    let fake = FakeLlm::start(&json!({
        "turns": [{"text": "Creating it.", "shell": format!("touch {}", path_str(&marker)),
                   "description": "Create the marker"},
                  {"text": "done"}],
        "aux_text": "OK"}));
    // The scratch home's config points at the first fake; this one replaces it.
    let user = AgentHome::new(Agent::Codex, &fake, &trusted());
    let user_codex = user.home.join(".codex");
    let logs = user.root().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");

    // The user's own state: a trusted hook of their own, credentials, history, old sessions.
    let user_hook = record_hook_command(&logs.join("user.jsonl"), "none");
    std::fs::write(
        user_codex.join("hooks.json"),
        json!({"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": user_hook}]}]}})
            .to_string(),
    )
    .expect("user hooks.json");
    let user_hooks_path = user_codex.join("hooks.json");
    let mut config = std::fs::read_to_string(user_codex.join("config.toml")).expect("config");
    config.push_str(&format!(
        "\n[hooks.state.\"{}:user_prompt_submit:0:0\"]\ntrusted_hash = \"{}\"\n",
        path_str(&user_hooks_path),
        codex_trust_hash("user_prompt_submit", None, 600, &user_hook)
    ));
    std::fs::write(user_codex.join("config.toml"), &config).expect("user config");
    std::fs::write(
        user_codex.join("auth.json"),
        r#"{"OPENAI_API_KEY": "sk-user-fake"}"#,
    )
    .expect("auth.json");
    std::fs::write(
        user_codex.join("history.jsonl"),
        "{\"session_id\":\"x\",\"ts\":1,\"text\":\"old\"}\n",
    )
    .expect("history");
    std::fs::create_dir_all(user_codex.join("sessions/2026/01/01")).expect("sessions");
    std::fs::write(
        user_codex.join("sessions/2026/01/01/rollout-old.jsonl"),
        "{}\n",
    )
    .expect("old rollout");
    let before = AgentHome::checksums(&user_codex);

    // walkie's home for the preset.
    let walkie = user.root().join("walkie-state/codex-home/codex");
    std::fs::create_dir_all(&walkie).expect("walkie home");
    let walkie_hooks_path = walkie.join("hooks.json");
    std::fs::write(
        walkie.join("config.toml"),
        config.replace(
            &format!("[hooks.state.\"{}:", path_str(&user_hooks_path)),
            &format!("[hooks.state.\"{}:", path_str(&walkie_hooks_path)),
        ),
    )
    .expect("walkie config");
    for name in ["auth.json", "hooks.json", "sessions"] {
        std::os::unix::fs::symlink(user_codex.join(name), walkie.join(name)).expect("symlink");
    }
    let walkie_log = logs.join("walkie.jsonl");
    let perm = record_hook_command(&walkie_log, "allow");
    let stop = record_hook_command(&walkie_log, "none");
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let flags = [
        "-c".to_string(),
        format!(
            "hooks.PermissionRequest=[{{matcher=\"Bash\",hooks=[{{type=\"command\",command={},timeout=60}}]}}]",
            q(&perm)
        ),
        "-c".to_string(),
        format!(
            "hooks.Stop=[{{hooks=[{{type=\"command\",command={},timeout=30}}]}}]",
            q(&stop)
        ),
        "-c".to_string(),
        format!(
            "hooks.state={{{}={{trusted_hash={}}},{}={{trusted_hash={}}}}}",
            q("/<session-flags>/config.toml:permission_request:0:0"),
            q(&codex_trust_hash("permission_request", Some("Bash"), 60, &perm)),
            q("/<session-flags>/config.toml:stop:0:0"),
            q(&codex_trust_hash("stop", None, 30, &stop)),
        ),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let walkie_env = [("CODEX_HOME", path_str(&walkie))];

    let h = TestHost::start();
    start_argv(&h, "cx", &user, &user.argv_with_env(&walkie_env, &flags));
    let screen = wait_screen(&h, "cx", "the input box (no hook review)", START, |s| {
        Agent::Codex.input_ready(s) || s.contains("Hooks need review")
    });
    assert!(!screen.contains("Hooks need review"), "{screen}");
    type_prompt(&h, "cx", "Please create the marker file.");
    // walkie's PermissionRequest hook answered allow: the command ran with no dialog.
    wait_for("the marker the approved command creates", TURN, || {
        marker.exists().then_some(())
    });
    let stop_payload = wait_for("walkie's Stop hook", TURN, || {
        hook_log(&walkie_log)
            .into_iter()
            .find(|p| p["hook_event_name"] == "Stop")
    });
    let events: Vec<String> = hook_log(&walkie_log)
        .iter()
        .map(|p| p["hook_event_name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(events, ["PermissionRequest", "Stop"]);
    assert!(
        hook_log(&logs.join("user.jsonl"))
            .iter()
            .any(|p| p["hook_event_name"] == "UserPromptSubmit"),
        "the user's own trusted hook ran"
    );
    h.ok(&["kill", "cx", "--force"]);
    h.wait_exit("cx");

    // Every file the user had is unchanged; the only new files are this session's rollout.
    let after = AgentHome::checksums(&user_codex);
    for entry in &before {
        assert!(after.contains(entry), "{entry:?} changed or vanished");
    }
    let new: Vec<&(String, String)> = after.iter().filter(|e| !before.contains(e)).collect();
    let id = stop_payload["session_id"].as_str().expect("session_id");
    assert_eq!(new.len(), 1, "new files in the user's ~/.codex: {new:?}");
    assert!(
        new[0].0.starts_with("sessions/") && new[0].0.ends_with(&format!("-{id}.jsonl")),
        "{new:?}"
    );

    // The shared rollout resumes the conversation.
    fake.set_scenario(&scenario());
    let mut resume = flags.clone();
    resume.extend(["resume", id]);
    start_argv(&h, "cx2", &user, &user.argv_with_env(&walkie_env, &resume));
    wait_screen(&h, "cx2", "the resumed input box", START, |s| {
        Agent::Codex.input_ready(s) && s.contains("Please create the marker file.")
    });
    type_prompt(&h, "cx2", "And now?");
    fake.wait_request_with(&["Please create the marker file.", "And now?"], TURN);
    h.ok(&["kill", "cx2", "--force"]);
}
