//! Sessions that outlive the machine (issue 13): a simulated reboot (SIGKILL of the host and of
//! every process of its sessions), then a new host, with the real Claude Code and Codex CLIs
//! offline against the fake model. The agents come back with their own resume command and send
//! the earlier conversation with the next prompt; a shell comes back in its cwd; a session whose
//! cwd vanished comes back as a shell in HOME with a note; `host.revive = "none"` leaves
//! everything lost, once.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::agents::{type_prompt, wait_screen, Agent, AgentHome, FakeLlm, Setup, AGENT_START};
use support::host::{path_str, wait_for, TestHost};
use support::reboot::reboot;
use walkie_host_proto::client::{AskEvent, Client};
use walkie_host_proto::revival::{ReviveOutcome, Revived};
use walkie_host_proto::SessionState;

/// An agent's cold start on a loaded 2-core machine.
const START: Duration = AGENT_START;
/// From Enter to the request at the fake model.
const TURN: Duration = Duration::from_secs(60);

fn ls(h: &TestHost) -> Vec<Value> {
    let out = h.ok(&["ls", "--json"]);
    serde_json::from_str::<Value>(&out)
        .expect("ls --json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn session(h: &TestHost, name: &str) -> Value {
    ls(h)
        .into_iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no session {name}"))
}

/// The report of a host start, as a watcher (the bot) gets it.
fn revival_report(h: &TestHost) -> Vec<Revived> {
    support::host::block_on(async {
        let watch = Client::connect(&h.socket).await.expect("connect");
        let mut watch = watch.watch_asks().await.expect("watch");
        tokio::time::timeout(START, async {
            loop {
                match watch.next().await {
                    Some(Ok(AskEvent::Revived(r))) => return r,
                    Some(Ok(_)) => continue,
                    other => panic!("the watch ended: {other:?}"),
                }
            }
        })
        .await
        .expect("a revival report")
    })
}

/// A TOML string (JSON's escapes are TOML's for these).
fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// `[presets.NAME]` running the real agent of `home` in the fake's network namespace, its
/// environment in the preset's env, as a user would configure it.
fn preset(name: &str, home: &AgentHome, fake: &FakeLlm, args: &[&str]) -> String {
    let mut command = fake.netns_prefix();
    command.push(path_str(&home.agent.bin()).to_string());
    command.extend(args.iter().map(|s| s.to_string()));
    let env: Vec<String> = home
        .env()
        .iter()
        .map(|(k, v)| format!("{k} = {}", q(v)))
        .collect();
    format!(
        "[presets.{name}]\ncommand = [{}]\nenv = {{ {} }}\n",
        command.iter().map(|a| q(a)).collect::<Vec<_>>().join(", "),
        env.join(", ")
    )
}

/// A host in /var/tmp (Codex makes helper links in walkie's state dir, never under /tmp)
/// with `config` as its walkie.toml.
fn host_with(config: &str) -> TestHost {
    let dir = tempfile::Builder::new()
        .prefix("wk")
        .tempdir_in("/var/tmp")
        .expect("host dir");
    let toml_path = dir.path().join("walkie.toml");
    std::fs::write(&toml_path, config).expect("walkie.toml");
    let path = path_str(&toml_path).to_string();
    TestHost::start_in(dir, &[("WALKIE_CONFIG", &path)])
}

fn outcome<'a>(report: &'a [Revived], name: &str) -> &'a ReviveOutcome {
    &report
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} not in the report {report:?}"))
        .outcome
}

fn claude_transcript_has_answer(home: &AgentHome, id: &str) -> bool {
    let dir: String = path_str(&home.work)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = home
        .home
        .join(".claude/projects")
        .join(dir)
        .join(format!("{id}.jsonl"));
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["type"] == "assistant")
    })
}

fn codex_rollout_exists(root: &Path, id: &str) -> bool {
    let out = std::process::Command::new("find")
        .arg(root)
        .args(["-name", &format!("rollout-*-{id}.jsonl")])
        .output();
    out.is_ok_and(|o| !o.stdout.is_empty())
}

#[test]
fn a_reboot_brings_agents_back_resumed_and_shells_back_in_their_cwd() {
    let fake = FakeLlm::start_for_sandbox(
        &json!({"turns": [{"text": "hello from the fake model"}], "aux_text": "OK"}),
    );
    let trusted = Setup {
        trust_folder: true,
        ..Setup::default()
    };
    let claude = AgentHome::new(Agent::Claude, &fake, &trusted);
    let codex = AgentHome::new(Agent::Codex, &fake, &trusted);
    let config = format!(
        "[host]\nrevive = \"all\"\n{}{}",
        preset("claude", &claude, &fake, &["--permission-mode", "default"]),
        preset("codex", &codex, &fake, &["--no-daemon"]),
    );
    let mut h = host_with(&config);
    let places = tempfile::Builder::new()
        .prefix("walkie-revival")
        .tempdir_in("/var/tmp")
        .expect("dirs");
    let shell_cwd = places.path().join("logs");
    let doomed = places.path().join("doomed");
    std::fs::create_dir_all(&shell_cwd).unwrap();
    std::fs::create_dir_all(&doomed).unwrap();

    h.ok(&[
        "new",
        "api",
        "--preset",
        "claude",
        "--cwd",
        path_str(&claude.work),
    ]);
    h.ok(&[
        "new",
        "web",
        "--preset",
        "codex",
        "--cwd",
        path_str(&codex.work),
    ]);
    h.ok(&[
        "new",
        "logs",
        "--cwd",
        path_str(&shell_cwd),
        "--",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    h.ok(&[
        "new",
        "tmp",
        "--cwd",
        path_str(&doomed),
        "--",
        "sleep",
        "1000",
    ]);

    // Claude's id is walkie's, known from the start.
    let api = session(&h, "api");
    assert_eq!(api["agent"]["agent"], "claude_code", "{api}");
    let claude_id = api["agent"]["id"]
        .as_str()
        .expect("claude's id")
        .to_string();
    assert!(
        api["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "--session-id"),
        "{api}"
    );

    for (name, agent) in [("api", Agent::Claude), ("web", Agent::Codex)] {
        wait_screen(&h, name, "the input box", START, |s| agent.input_ready(s));
    }
    type_prompt(&h, "api", "Remember the word PELICAN.");
    type_prompt(&h, "web", "Remember the word WALRUS.");
    fake.wait_request_with(&["Remember the word PELICAN."], TURN);
    fake.wait_request_with(&["Remember the word WALRUS."], TURN);
    h.ok(&["send", "logs", "echo logs-was-here-$((6*7))"]);
    wait_screen(&h, "logs", "the shell's output", START, |s| {
        s.contains("logs-was-here-42")
    });

    // The turns are on disk (Claude writes its transcript in batches), and Codex's id reached
    // the host through walkie's hooks.
    wait_for("Claude's answer in its transcript", TURN, || {
        claude_transcript_has_answer(&claude, &claude_id).then_some(())
    });
    let codex_id = wait_for("Codex's session id at the host", TURN, || {
        session(&h, "web")["agent"]["id"]
            .as_str()
            .map(str::to_string)
    });
    // In the user's sessions/, or in walkie's Codex home when the user had none to link.
    wait_for("Codex's rollout", TURN, || {
        (codex_rollout_exists(&codex.home.join(".codex"), &codex_id)
            || codex_rollout_exists(&h.state, &codex_id))
        .then_some(())
    });

    reboot(&mut h);
    std::fs::remove_dir_all(&doomed).unwrap();
    let before = fake.requests().len();
    h.spawn_host();
    let started = Instant::now();
    let report = revival_report(&h);
    eprintln!("revival report after {:?}: {report:?}", started.elapsed());
    assert_eq!(outcome(&report, "api"), &ReviveOutcome::Resumed);
    assert_eq!(outcome(&report, "web"), &ReviveOutcome::Resumed);
    assert_eq!(outcome(&report, "logs"), &ReviveOutcome::Restarted);
    match outcome(&report, "tmp") {
        ReviveOutcome::Shell { why } => assert!(why.contains("is gone"), "{why}"),
        other => panic!("{other:?}"),
    }

    // The agents run their resume commands, in the same cwd, with their original flags.
    let api = session(&h, "api");
    let cmd: Vec<&str> = api["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(cmd.ends_with(&["--resume", &claude_id]), "{cmd:?}");
    assert!(
        cmd.windows(2)
            .any(|w| w == ["--permission-mode", "default"]),
        "{cmd:?}"
    );
    assert!(cmd.contains(&"--settings"), "walkie's hooks again: {cmd:?}");
    assert_eq!(api["cwd"], path_str(&claude.work));
    let web = session(&h, "web");
    let cmd: Vec<&str> = web["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(cmd.ends_with(&["resume", &codex_id]), "{cmd:?}");
    assert!(cmd.contains(&"--no-daemon"), "{cmd:?}");

    // Each shows its old conversation and sends it with the next prompt.
    wait_screen(&h, "api", "Claude resumed", START, |s| {
        Agent::Claude.input_ready(s) && s.contains("Remember the word PELICAN.")
    });
    wait_screen(&h, "web", "Codex resumed", START, |s| {
        Agent::Codex.input_ready(s) && s.contains("Remember the word WALRUS.")
    });
    type_prompt(&h, "api", "Which bird was it?");
    type_prompt(&h, "web", "Which animal was it?");
    fake.wait_request_with(&["Remember the word PELICAN.", "Which bird was it?"], TURN);
    fake.wait_request_with(&["Remember the word WALRUS.", "Which animal was it?"], TURN);
    assert!(fake.requests().len() > before);

    // The shell is a new shell in the same cwd; the vanished cwd's session a shell in HOME
    // saying why.
    h.ok(&["send", "logs", "pwd"]);
    wait_screen(&h, "logs", "the shell in its cwd", START, |s| {
        s.contains(path_str(&shell_cwd))
    });
    let tmp = session(&h, "tmp");
    assert_eq!(tmp["state"], "running");
    assert_eq!(
        tmp["cwd"],
        path_str(h.dir.path()),
        "HOME of the session: {tmp}"
    );
    wait_screen(&h, "tmp", "the note", START, |s| {
        s.contains("could not be resumed") && s.contains("is gone")
    });
    for name in ["api", "web", "logs", "tmp"] {
        h.ok(&["kill", name, "--force"]);
    }
}

#[test]
fn revive_none_leaves_sessions_lost_once_and_by_hand_they_come_back() {
    let mut h = host_with("[host]\nrevive = \"none\"\n");
    let cwd = h.dir.path().join("proj");
    std::fs::create_dir_all(&cwd).unwrap();
    h.ok(&[
        "new",
        "job",
        "--cwd",
        path_str(&cwd),
        "--",
        "sh",
        "-c",
        "pwd; sleep 1000",
    ]);
    wait_screen(&h, "job", "the job", START, |s| s.contains(path_str(&cwd)));
    reboot(&mut h);
    h.spawn_host();
    let report = revival_report(&h);
    assert_eq!(outcome(&report, "job"), &ReviveOutcome::Left);
    let job = session(&h, "job");
    assert_eq!(job["state"], "lost");
    assert_eq!(job["revive"]["how"], "restart", "{job}");
    let table = h.ok(&["ls"]);
    assert!(table.contains("lost"), "{table}");

    // A second restart does not report it again: each record is revived (or left) once.
    h.stop();
    h.spawn_host();
    h.ok(&["new", "marker", "--", "sleep", "1000"]);
    h.stop();
    h.spawn_host();
    let report = revival_report(&h);
    assert_eq!(outcome(&report, "marker"), &ReviveOutcome::Left);
    assert!(
        report.iter().all(|r| r.name != "job"),
        "job was reported again: {report:?}"
    );

    // By hand: started again in its cwd.
    h.ok(&["revive", "job"]);
    wait_screen(&h, "job", "the job again", START, |s| {
        s.contains(path_str(&cwd))
    });
    assert_eq!(h.info("job").state, SessionState::Running);
    h.ok(&["kill", "job", "--force"]);
}

/// Benchmark (not part of the test command: `cargo test -p walkie --test revival -- --ignored
/// --nocapture`): 20 agent sessions after a reboot, each checked against its transcript and
/// resumed. The agent is a stand-in script named `claude` (so walkie's own work is measured,
/// not Claude Code's start-up), with a real transcript file for each id.
#[test]
#[ignore]
fn bench_revival_of_20_sessions() {
    const N: usize = 20;
    let mut h = host_with("[host]\nrevive = \"agents\"\n");
    let bin = h.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let claude = bin.join("claude");
    std::fs::write(
        &claude,
        "#!/bin/sh\necho \"stand-in claude $*\"\nexec sleep 1000\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = h.dir.path().to_path_buf();
    for i in 0..N {
        let cwd = home.join(format!("p{i}"));
        std::fs::create_dir_all(&cwd).unwrap();
        let name = format!("a{i}");
        h.ok(&[
            "new",
            &name,
            "--cwd",
            path_str(&cwd),
            "--",
            path_str(&claude),
        ]);
        let id = session(&h, &name)["agent"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let dir: String = path_str(&cwd)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let project = home.join(".claude/projects").join(dir);
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            project.join(format!("{id}.jsonl")),
            "{\"type\":\"mode\"}\n{\"type\":\"user\",\"message\":{\"content\":\"hi\"}}\n",
        )
        .unwrap();
    }
    reboot(&mut h);
    let t0 = Instant::now();
    h.spawn_host();
    let listening = t0.elapsed();
    let report = revival_report(&h);
    let reported = t0.elapsed();
    assert_eq!(report.len(), N);
    assert!(
        report.iter().all(|r| r.outcome == ReviveOutcome::Resumed),
        "{report:?}"
    );
    wait_for("every stand-in to draw", START, || {
        (0..N)
            .all(|i| h.screen(&format!("a{i}")).contains("--resume"))
            .then_some(())
    });
    let drawn = t0.elapsed();
    let log = h.host_log();
    let host_ms = log
        .lines()
        .find(|l| l.contains("revival after restart done"))
        .unwrap_or("")
        .to_string();
    eprintln!(
        "revival of {N} sessions: host listening {listening:?}, report at the watcher {reported:?}, every resumed agent on screen {drawn:?}; host log: {host_ms}"
    );
    for i in 0..N {
        h.ok(&["kill", &format!("a{i}"), "--force"]);
    }
}
