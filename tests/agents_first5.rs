//! The first five minutes with a real agent (issue 10), through the real `walkie` binary and the
//! real Codex CLI 0.169.0 (installed by `.ci/agents`), offline against the fake model: a preset
//! started twice shows no "Hooks need review" dialog, walkie's approval hook reaches the host,
//! the turn end is announced within seconds, and the user's `~/.codex` is left byte-identical.

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::agents::{
    codex_trust_hash, hook_log, record_hook_command, type_prompt, wait_screen, Agent, AgentHome,
    FakeLlm, Setup, AGENT_START,
};
use support::host::{path_str, wait_for, TestHost};
use walkie_host_proto::ask::{AskPayload, Decision, NoticeKind};
use walkie_host_proto::client::{AskEvent, Client};

/// An agent's cold start on a loaded 2-core machine.
const START: Duration = AGENT_START;
/// From Enter to the request at the fake model, or to the hook's ask.
const TURN: Duration = Duration::from_secs(60);
/// From the approved command to the "finished its turn" notice: Codex's Stop hook fires about
/// 0.7 s after the last answer (docs/AGENTS.md); the rest is one more model round trip.
const TURN_END: Duration = Duration::from_secs(20);

/// What the watcher of the host's asks saw, with when it saw it.
enum Seen {
    Asked { session: String, command: String },
    TurnEnded { session: String, at: Instant },
}

/// Watches the host's asks on a thread of its own: approves every hook ask (as a tap on
/// Approve would) and reports asks and turn-end notices.
fn watch_and_approve(socket: std::path::PathBuf) -> mpsc::Receiver<Seen> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let Ok(watch) = Client::connect(&socket).await else {
                return;
            };
            let Ok(mut watch) = watch.watch_asks().await else {
                return;
            };
            while let Some(Ok(ev)) = watch.next().await {
                let seen = match ev {
                    AskEvent::Asked(ask) => {
                        let AskPayload::Hook { request } = &ask.payload else {
                            continue;
                        };
                        if let Ok(mut c) = Client::connect(&socket).await {
                            let _ = c.decide(ask.id, Decision::Allow).await;
                        }
                        Seen::Asked {
                            session: ask.session.clone(),
                            command: request.command.clone().unwrap_or_default(),
                        }
                    }
                    AskEvent::Notice {
                        session,
                        kind: NoticeKind::TurnEnded,
                        ..
                    } => Seen::TurnEnded {
                        session,
                        at: Instant::now(),
                    },
                    _ => continue,
                };
                if tx.send(seen).is_err() {
                    return;
                }
            }
        });
    });
    rx
}

/// A TOML string (JSON's escapes are TOML's for these).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[test]
fn codex_preset_needs_no_hook_review_asks_the_host_and_announces_its_turn_end() {
    // A relative marker, in the session's cwd: the preset's workspace boundary lets an
    // approved command write only there.
    let fake = FakeLlm::start_for_sandbox(&json!({
        "turns": [{"text": "Creating it.", "shell": "touch walkie-marker",
                   "description": "Create the marker"},
                  {"text": "done"}],
        "aux_text": "OK"}));
    let user = AgentHome::new(
        Agent::Codex,
        &fake,
        &Setup {
            trust_folder: true,
            ..Setup::default()
        },
    );
    let marker = user.work.join("walkie-marker");
    let user_codex = user.home.join(".codex");
    // In the workspace: inside the preset's boundary the user's hook writes only there.
    let logs = user.work.join(".walkie-test-logs");
    std::fs::create_dir_all(&logs).expect("logs dir");

    // The user's own state: a trusted hook of their own, credentials, history, old sessions.
    let user_hook = record_hook_command(&logs.join("user.jsonl"), "none");
    std::fs::write(
        user_codex.join("hooks.json"),
        json!({"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": user_hook}]}]}})
            .to_string(),
    )
    .expect("user hooks.json");
    let mut config = std::fs::read_to_string(user_codex.join("config.toml")).expect("config");
    config.push_str(&format!(
        "\n[hooks.state.\"{}:user_prompt_submit:0:0\"]\ntrusted_hash = \"{}\"\n",
        path_str(&user_codex.join("hooks.json")),
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

    // The preset: the real Codex in the fake's network namespace, its environment (HOME,
    // CODEX_HOME = the user's, the fake's key) in the preset's env, as a user would configure.
    let mut command: Vec<String> = fake.netns_prefix();
    command.push(path_str(&Agent::Codex.bin()).to_string());
    command.push("--no-daemon".into());
    let env: Vec<String> = user
        .env()
        .iter()
        .map(|(k, v)| format!("{k} = {}", q(v)))
        .collect();
    // Under /var/tmp: Codex refuses to create its helper links under /tmp, and walkie's Codex
    // home lives in the state dir.
    let dir = tempfile::Builder::new()
        .prefix("wk")
        .tempdir_in("/var/tmp")
        .expect("host dir");
    let toml_path = dir.path().join("walkie.toml");
    std::fs::write(
        &toml_path,
        format!(
            "[presets.codex]\ncommand = [{}]\nenv = {{ {} }}\n",
            command.iter().map(|a| q(a)).collect::<Vec<_>>().join(", "),
            env.join(", ")
        ),
    )
    .expect("walkie.toml");
    let h = TestHost::start_in(dir, &[("WALKIE_CONFIG", path_str(&toml_path))]);
    let seen = watch_and_approve(h.socket.clone());

    h.ok(&[
        "new",
        "cx",
        "--preset",
        "codex",
        "--cwd",
        path_str(&user.work),
    ]);
    let screen = wait_screen(&h, "cx", "the input box (no hook review)", START, |s| {
        Agent::Codex.input_ready(s) || s.contains("Hooks need review")
    });
    assert!(!screen.contains("Hooks need review"), "{screen}");
    type_prompt(&h, "cx", "Please create the marker file.");

    // walkie's PermissionRequest hook asked the host; the watcher approved; the command ran.
    let asked = seen.recv_timeout(TURN).expect("an ask from walkie's hook");
    let Seen::Asked { session, command } = asked else {
        panic!("a turn end before any ask");
    };
    assert_eq!(session, "cx");
    assert!(command.contains("touch"), "{command}");
    wait_for("the marker the approved command creates", TURN, || {
        marker.exists().then_some(())
    });
    let ran = Instant::now();
    // Codex's Stop hook, through walkie's hook command: the host's turn-end notice.
    let ended = match seen.recv_timeout(TURN_END) {
        Ok(Seen::TurnEnded { session, at }) => {
            assert_eq!(session, "cx");
            at
        }
        Ok(Seen::Asked { command, .. }) => panic!("a second ask: {command}"),
        Err(_) => panic!("no turn-end notice within {TURN_END:?} of the approved command"),
    };
    eprintln!(
        "turn end announced {:?} after the approved command ran",
        ended.duration_since(ran)
    );
    assert!(
        hook_log(&logs.join("user.jsonl"))
            .iter()
            .any(|p| p["hook_event_name"] == "UserPromptSubmit"),
        "the user's own trusted hook ran (its trust re-keyed to walkie's home)"
    );
    h.ok(&["kill", "cx", "--force"]);
    h.wait_exit("cx");

    // A second start of the same preset (the next /new): still no dialog, the prompt works.
    fake.set_scenario(&json!({"turns": [{"text": "hello again"}], "aux_text": "OK"}));
    h.ok(&[
        "new",
        "cx2",
        "--preset",
        "codex",
        "--cwd",
        path_str(&user.work),
    ]);
    let screen = wait_screen(&h, "cx2", "the second input box", START, |s| {
        Agent::Codex.input_ready(s) || s.contains("Hooks need review")
    });
    assert!(!screen.contains("Hooks need review"), "{screen}");
    type_prompt(&h, "cx2", "Say hello again.");
    fake.wait_request_with(&["Say hello again."], TURN);
    match seen.recv_timeout(TURN_END) {
        Ok(Seen::TurnEnded { session, .. }) => assert_eq!(session, "cx2"),
        Ok(Seen::Asked { command, .. }) => panic!("an unexpected ask: {command}"),
        Err(_) => panic!("no turn-end notice for the second session"),
    }
    h.ok(&["kill", "cx2", "--force"]);
    h.wait_exit("cx2");

    // Every file the user had is byte-identical; the only new files are rollouts.
    let after = AgentHome::checksums(&user_codex);
    for entry in &before {
        assert!(after.contains(entry), "{entry:?} changed or vanished");
    }
    let new: Vec<&(String, String)> = after.iter().filter(|e| !before.contains(e)).collect();
    assert!(
        new.iter().all(|(p, _)| p.starts_with("sessions/")),
        "new files in the user's ~/.codex: {new:?}"
    );
}

/// `walkie new` from a terminal: the session gets the caller's environment (not the host's,
/// which was started elsewhere), without the secrets.
#[test]
fn walkie_new_gives_the_session_the_callers_environment_without_secrets() {
    let h = TestHost::start();
    let mut cmd = h.command();
    cmd.env("WALKIE_TEST_CALLER_ONLY", "from-the-terminal")
        .env("TELEGRAM_BOT_TOKEN", "123:secret")
        .args([
            "new",
            "envy",
            "--",
            "sh",
            "-c",
            "echo \"caller=$WALKIE_TEST_CALLER_ONLY token=${TELEGRAM_BOT_TOKEN:-unset}\"; sleep 60",
        ]);
    let out = support::host::run_bounded(cmd, Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    let screen = h.wait_screen("envy", "the session's echo", |s| s.contains("caller="));
    assert!(
        screen.contains("caller=from-the-terminal token=unset"),
        "{screen}"
    );
    h.ok(&["kill", "envy", "--force"]);
}
