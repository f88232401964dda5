//! Sandboxed sessions end to end (issue 17): the real `walkie host` starting sessions through
//! `walkie sandbox-exec` under real bubblewrap, seccomp and Landlock; the per-session
//! allowlist proxy with its asks decided over the host's own protocol; the preflight with
//! bwrap missing. Every test needs a usable bwrap and says so loudly when it has none.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::agents::{
    press_until, type_prompt, wait_quiet, wait_screen, Agent, AgentHome, FakeLlm, Setup,
    AGENT_START,
};
use support::host::{path_str, proc_state, wait_for, TestHost};
use support::term::Term;
use walkie_host_proto::ask::{AskPayload, Decision, NetworkScope};
use walkie_host_proto::client::{AskEvent, Client};
use walkie_host_proto::sandbox::NetworkMode;

/// A host whose HOME (with secrets, rc files and a project) lives outside /tmp: the
/// sandbox's /tmp is private, so a home under it would not be the real one inside.
struct Rig {
    h: TestHost,
    home: PathBuf,
    cwd: PathBuf,
}

fn usable() -> bool {
    let p = walkie_sandbox::preflight(Path::new("bwrap"));
    let ok = matches!(p.mechanism(), walkie_sandbox::Mechanism::Bwrap { .. });
    if !ok {
        eprintln!(
            "\n!!!!! SKIPPED: bwrap is unusable here:\n{}\n",
            p.lines().join("\n")
        );
    }
    ok
}

fn start(config: &str) -> Rig {
    let dir = tempfile::Builder::new()
        .prefix("sb")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    let root = dir.path().canonicalize().unwrap();
    let home = root.clone();
    let cwd = home.join("src/api");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE KEY\n").unwrap();
    std::fs::write(home.join(".bashrc"), "# rc\n").unwrap();
    std::fs::create_dir_all(cwd.join(".git/hooks")).unwrap();
    std::fs::write(cwd.join(".git/hooks/pre-commit"), "#!/bin/sh\n").unwrap();
    std::fs::write(cwd.join(".env"), "TOKEN=secret\n").unwrap();
    let cfg = root.join("walkie.toml");
    std::fs::write(&cfg, config).unwrap();
    let h = TestHost::start_in(dir, &[("WALKIE_CONFIG", cfg.to_str().unwrap())]);
    Rig { h, home, cwd }
}

impl Rig {
    fn run_script(&self, name: &str, flags: &[&str], script: &str) {
        let cwd = self.cwd.to_str().unwrap();
        let mut args = vec!["new", name, "--cwd", cwd];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "bash", "--norc", "--noprofile", "-c", script]);
        self.h.ok(&args);
    }

    fn bash(&self, name: &str, profile: &str) {
        let cwd = self.cwd.to_str().unwrap();
        self.h.ok(&[
            "new",
            name,
            "--cwd",
            cwd,
            "--sandbox",
            profile,
            "--",
            "bash",
            "--norc",
            "--noprofile",
        ]);
        self.h.wait_screen(name, "a bash prompt", |s| {
            s.contains('$') || s.contains('#')
        });
    }

    fn done(&self, name: &str) -> String {
        self.h
            .wait_screen(name, "the script's end", |s| s.contains("END"))
    }
}

#[test]
fn the_workspace_boundary_hides_secrets_and_keeps_writes_to_the_cwd() {
    if !usable() {
        return;
    }
    let b = start("");
    // A file in the host's /tmp the session must not see.
    let outside = tempfile::Builder::new()
        .prefix("walkie-sb-outside")
        .tempfile_in("/tmp")
        .unwrap();
    let outside_name = outside.path().to_str().unwrap().to_string();
    b.run_script(
        "files",
        &["--sandbox", "workspace"],
        &format!(
            "cat ~/.ssh/id_ed25519 >/dev/null 2>&1 && echo ssh=read || echo ssh=denied; \
             (echo x >> ~/.bashrc) 2>/dev/null && echo rc=written || echo rc=denied; \
             (echo ok > made-here) && echo cwd=written; \
             (echo y >> .git/hooks/pre-commit) 2>/dev/null && echo hook=written || echo hook=denied; \
             grep -q secret .env 2>/dev/null && echo env=read || echo env=hidden; \
             test -e {outside_name} && echo tmp=shared || echo tmp=private; \
             echo inside > /tmp/walkie-sb-inside; echo sandbox=$WALKIE_SANDBOX; echo END; sleep 60"
        ),
    );
    let s = b.done("files");
    for want in [
        "ssh=denied",
        "rc=denied",
        "cwd=written",
        "hook=denied",
        "env=hidden",
        "tmp=private",
        "sandbox=workspace",
    ] {
        assert!(s.contains(want), "{want} missing:\n{s}");
    }
    assert_eq!(
        std::fs::read_to_string(b.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
    assert_eq!(
        std::fs::read_to_string(b.cwd.join(".git/hooks/pre-commit")).unwrap(),
        "#!/bin/sh\n"
    );
    assert_eq!(
        std::fs::read_to_string(b.cwd.join("made-here")).unwrap(),
        "ok\n"
    );
    assert!(!Path::new("/tmp/walkie-sb-inside").exists());

    // The boundary as the card shows it.
    let card = b.h.ok(&["boundary", "files"]);
    for want in [
        "profile: workspace",
        "bubblewrap + seccomp",
        "(enforced)",
        ".ssh",
        "network: allowlist",
    ] {
        assert!(card.contains(want), "{want} missing:\n{card}");
    }
    assert!(
        card.contains(&format!("write: {}", b.cwd.display())),
        "{card}"
    );
    // `ls` shows the command as given, not the trampoline.
    let ls = b.h.ok(&["ls"]);
    assert!(!ls.contains("sandbox-exec"), "{ls}");
}

#[test]
fn sandboxed_processes_cannot_signal_processes_outside() {
    if !usable() {
        return;
    }
    let b = start("");
    let mut outside = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let pid = outside.id();
    b.run_script(
        "sig",
        &["--sandbox", "workspace"],
        &format!("kill -TERM {pid} 2>/dev/null; echo kill=$?; kill -0 1 && echo own-init=ok; echo END; sleep 60"),
    );
    let s = b.done("sig");
    assert!(s.contains("kill=1"), "{s}");
    assert!(
        matches!(outside.try_wait(), Ok(None)),
        "the outside process died"
    );
    let _ = outside.kill();
    let _ = outside.wait();
}

#[test]
fn resize_and_ctrl_c_reach_a_sandboxed_shell() {
    if !usable() {
        return;
    }
    let b = start("");
    b.bash("tty", "workspace");
    let mut cmd = b.h.command();
    cmd.args(["--no-spawn", "attach", "tty"]);
    let mut t = Term::spawn(&cmd, 90, 25);
    t.wait_screen("prompt", |s| s.contains('$') || s.contains('#'));
    t.type_bytes(b"stty size\r");
    t.wait_screen("stty size", |s| s.contains("25 90"));
    t.resize(132, 43);
    wait_for("resize", Duration::from_secs(10), || {
        (b.h.info("tty").cols == 132).then_some(())
    });
    t.type_bytes(b"stty size\r");
    t.wait_screen("new size", |s| s.contains("43 132"));
    // Ctrl-C interrupts the foreground job and the shell goes on (the echo typed meanwhile
    // runs only after the sleep is gone).
    t.type_bytes(b"sleep 100; echo NOT-$((1+1))-INTERRUPTED\r");
    wait_child_named(b.h.info("tty").pid.unwrap(), "sleep");
    t.type_bytes(b"\x03");
    t.type_bytes(b"echo back-$((40+2))\r");
    let s = t.wait_screen("the shell after Ctrl-C", |s| s.contains("back-42"));
    assert!(!s.contains("NOT-2-INTERRUPTED"), "{s}");
    t.type_bytes(b"\x1cd");
    assert_eq!(t.wait_exit(), 0);
}

/// The processes below `pid`, all generations.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) else {
            continue;
        };
        for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// The session id of `pid` (field 6 of /proc/PID/stat).
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// Waits until a process named `comm` runs below `pid`.
fn wait_child_named(pid: u32, comm: &str) {
    wait_for(comm, Duration::from_secs(10), || {
        descendants(pid)
            .into_iter()
            .any(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
            })
            .then_some(())
    });
}

#[test]
fn pause_and_resume_stop_and_continue_the_sandboxed_processes() {
    if !usable() {
        return;
    }
    let b = start("");
    b.run_script(
        "p",
        &["--sandbox", "workspace"],
        "sleep 300 & echo ready; while read l; do echo \"got:$l\"; done",
    );
    b.h.wait_screen("p", "ready", |s| s.contains("ready"));
    let pid = b.h.info("p").pid.unwrap();
    // The session's processes (bwrap, its init, the shell, the sleep), not the proxy relay,
    // which runs in a session of its own and is walkie's plumbing, not the agent.
    let inside = wait_for("the sandboxed processes", Duration::from_secs(10), || {
        let d: Vec<u32> = descendants(pid)
            .into_iter()
            .filter(|p| session_of(*p).is_some() && session_of(*p) == session_of(pid))
            .collect();
        (d.len() >= 3).then_some(d)
    });
    b.h.ok(&["pause", "p"]);
    wait_for("every process stopped", Duration::from_secs(10), || {
        inside
            .iter()
            .chain([&pid])
            .all(|p| matches!(proc_state(*p), Some('T') | None))
            .then_some(())
    });
    b.h.ok(&["send", "p", "while-paused"]);
    assert!(!b.h.screen("p").contains("got:while-paused"));
    b.h.ok(&["resume", "p"]);
    b.h.wait_screen("p", "input delivered on resume", |s| {
        s.contains("got:while-paused")
    });
    assert!(inside.iter().all(|p| proc_state(*p) != Some('T')));
}

/// A loopback HTTP server answering `hello` to every request; counts connections.
fn http_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n",
                );
            });
        }
    });
    (port, hits)
}

fn network_config() -> String {
    r#"
[sandbox]
ask_timeout_secs = 30
[sandbox.resolve]
"allowed.test" = "127.0.0.1"
"other.test" = "127.0.0.1"
"third.test" = "127.0.0.1"
[sandbox.profiles.net]
base = "workspace"
allow_domains = ["allowed.test"]
"#
    .to_string()
}

/// The next network ask of the host, decided with `decision`; returns its question.
fn decide_next(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    watch: &mut walkie_host_proto::client::AskWatch,
    decision: Decision,
) -> String {
    rt.block_on(async {
        let next = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match watch.next().await {
                    Some(Ok(AskEvent::Asked(ask))) => return ask,
                    Some(Ok(_)) => continue,
                    other => panic!("the ask stream ended: {other:?}"),
                }
            }
        })
        .await
        .expect("an ask within 30 s");
        let AskPayload::Network {
            host,
            port,
            profile,
            ..
        } = &next.payload
        else {
            panic!("not a network ask: {next:?}");
        };
        let mut c = Client::connect(socket).await.unwrap();
        c.decide(next.id, decision).await.unwrap();
        format!(
            "{} [{profile}]",
            AskPayload::network_question(&next.session, host, *port)
        )
    })
}

#[test]
fn allowlist_lets_allowed_names_through_and_asks_for_the_others() {
    if !usable() {
        return;
    }
    let b = start(&network_config());
    let (port, hits) = http_server();
    // One runtime for the watch connection and the decisions made on it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut watch = rt
        .block_on(async { Client::connect(&b.h.socket).await?.watch_asks().await })
        .expect("watch asks");
    b.bash("net", "net");
    let curl = |url: &str, tag: &str| {
        b.h.ok(&[
            "send",
            "net",
            &format!("curl -fsS -m 40 {url}; echo {tag}=$?"),
        ]);
    };
    curl(&format!("http://allowed.test:{port}/a"), "allowed");
    b.h.wait_screen("net", "the allowed request", |s| s.contains("allowed=0"));
    assert!(b.h.screen("net").contains("hello"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Another name asks; Allow once lets exactly that connection through.
    curl(&format!("http://other.test:{port}/b"), "once");
    let q = decide_next(&rt, &b.h.socket, &mut watch, Decision::Allow);
    assert_eq!(q, format!("net wants to reach other.test:{port} [net]"));
    b.h.wait_screen("net", "the allowed-once request", |s| s.contains("once=0"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // The next one asks again; Deny fails it with a clear error inside the session (the
    // proxy's 403 body, shown without -f).
    b.h.ok(&[
        "send",
        "net",
        &format!("curl -sS -m 40 http://other.test:{port}/c; echo denied=$?"),
    ]);
    decide_next(
        &rt,
        &b.h.socket,
        &mut watch,
        // As the bot words a phone user's refusal (the audit log's name and id).
        Decision::Deny {
            reason: "denied by ana (Telegram user 42) via walkie".into(),
        },
    );
    // The line curl's exit code is echoed on (the command line itself says `denied=$?`).
    let s = b.h.wait_screen("net", "the denied request", |s| {
        s.lines().any(|l| l.starts_with("denied="))
    });
    // The 403's body says who refused.
    assert!(
        s.contains(&format!(
            "walkie sandbox: connection to other.test:{port} denied: denied by ana (Telegram user 42) via walkie"
        )),
        "{s}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "a denied request got through"
    );
    let card = b.h.ok(&["boundary", "net"]);
    assert!(card.contains("blocked: other.test"), "{card}");

    // Widened live: the domain goes through without asking.
    b.h.ok(&["boundary", "net", "--allow", "other.test"]);
    curl(&format!("http://other.test:{port}/d"), "widened");
    b.h.wait_screen("net", "the widened request", |s| s.contains("widened=0"));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[test]
fn allow_for_the_session_and_always_widen_the_allowlist() {
    if !usable() {
        return;
    }
    let b = start(&network_config());
    let (port, hits) = http_server();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut watch = rt
        .block_on(async { Client::connect(&b.h.socket).await?.watch_asks().await })
        .expect("watch asks");
    b.bash("net", "net");
    let curl = |session: &str, url: &str, tag: &str| {
        b.h.ok(&[
            "send",
            session,
            &format!("curl -fsS -m 40 {url}; echo {tag}=$?"),
        ]);
    };

    // For this session: the domain joins the live allowlist; the next request does not ask
    // (an ask nobody answers would fail it after the 30 s timeout).
    curl("net", &format!("http://other.test:{port}/a"), "session");
    let q = decide_next(
        &rt,
        &b.h.socket,
        &mut watch,
        Decision::AllowNetwork {
            scope: NetworkScope::Session,
        },
    );
    assert_eq!(q, format!("net wants to reach other.test:{port} [net]"));
    b.h.wait_screen("net", "the allowed-for-the-session request", |s| {
        s.contains("session=0")
    });
    curl("net", &format!("http://other.test:{port}/b"), "again");
    b.h.wait_screen("net", "the second request, not asked", |s| {
        s.contains("again=0")
    });
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let card = b.h.ok(&["boundary", "net"]);
    assert!(card.contains("other.test"), "{card}");
    let cfg = b.home.join("walkie.toml");
    let profile = |text: &str| {
        walkie_config::Config::from_toml(text)
            .unwrap()
            .sandbox
            .profile("net")
            .unwrap()
            .allow_domains
    };
    assert_eq!(
        profile(&std::fs::read_to_string(&cfg).unwrap()),
        ["allowed.test"]
    );

    // Always: also in the profile, in walkie's own walkie.toml, so a new session of the
    // profile has it without asking; the user's other files are untouched.
    let bashrc = std::fs::read_to_string(b.home.join(".bashrc")).unwrap();
    curl("net", &format!("http://third.test:{port}/c"), "always");
    let q = decide_next(
        &rt,
        &b.h.socket,
        &mut watch,
        Decision::AllowNetwork {
            scope: NetworkScope::Always,
        },
    );
    assert_eq!(q, format!("net wants to reach third.test:{port} [net]"));
    b.h.wait_screen("net", "the always-allowed request", |s| {
        s.contains("always=0")
    });
    let saved = wait_for("third.test in walkie.toml", Duration::from_secs(10), || {
        let t = std::fs::read_to_string(&cfg).unwrap();
        (profile(&t).len() == 2).then_some(t)
    });
    assert_eq!(profile(&saved), ["allowed.test", "third.test"], "{saved}");
    assert!(saved.contains("ask_timeout_secs = 30"), "{saved}");
    assert_eq!(
        std::fs::read_to_string(b.home.join(".bashrc")).unwrap(),
        bashrc
    );
    b.bash("net2", "net");
    curl("net2", &format!("http://third.test:{port}/d"), "new");
    b.h.wait_screen("net2", "a new session's request, not asked", |s| {
        s.contains("new=0")
    });
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    // The other session's "for this session" domain did not spread.
    let card = b.h.ok(&["boundary", "net2"]);
    assert!(!card.contains("other.test"), "{card}");
}

#[test]
fn an_unanswered_network_ask_is_denied_at_its_timeout() {
    if !usable() {
        return;
    }
    let b = start(&network_config().replace("ask_timeout_secs = 30", "ask_timeout_secs = 2"));
    let (port, hits) = http_server();
    b.bash("net", "net");
    b.h.ok(&[
        "send",
        "net",
        &format!("curl -sS -m 40 http://other.test:{port}/a; echo timeout=$?"),
    ]);
    let s =
        b.h.wait_screen("net", "the request denied at the timeout", |s| {
            s.lines().any(|l| l.starts_with("timeout="))
        });
    assert!(
        s.contains("not on the allowlist and no answer within 2s"),
        "{s}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn network_off_reaches_nothing_but_its_own_loopback() {
    if !usable() {
        return;
    }
    let b = start("");
    let (port, hits) = http_server();
    b.run_script(
        "off",
        &["--sandbox", "workspace", "--network", "off"],
        &format!(
            "curl -sS -m 5 --noproxy '*' http://127.0.0.1:{port}/ >/dev/null 2>&1; echo host=$?; \
             python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); c=socket.create_connection(s.getsockname()); print(\"lo=ok\")'; \
             echo proxy=${{HTTP_PROXY:-none}}; echo END; sleep 60"
        ),
    );
    let s = b.done("off");
    assert!(!s.contains("host=0"), "{s}");
    assert!(s.contains("lo=ok"), "{s}");
    assert!(s.contains("proxy=none"), "{s}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let card = b.h.ok(&["boundary", "off"]);
    assert!(card.contains("network: off (loopback only)"), "{card}");
    let _ = NetworkMode::Off;
}

#[test]
fn without_bwrap_the_card_says_so_and_required_refuses() {
    if !usable() {
        return;
    }
    // Not required: the session starts with what is left (Landlock), and the card says why.
    let b = start("[sandbox]\nbwrap = \"/nonexistent/bwrap\"\n");
    b.run_script("weak", &["--sandbox", "workspace"], "echo END; sleep 60");
    b.done("weak");
    let card = b.h.ok(&["boundary", "weak"]);
    assert!(card.contains("bwrap: missing"), "{card}");
    assert!(card.contains("fix:"), "{card}");
    assert!(!card.contains("bubblewrap + seccomp"), "{card}");

    // Required: refused, with the reason and the fix.
    let r = start("[sandbox]\nrequired = true\nbwrap = \"/nonexistent/bwrap\"\n");
    let cwd = r.cwd.to_str().unwrap();
    let out = r.h.run(&[
        "new",
        "strict",
        "--cwd",
        cwd,
        "--sandbox",
        "workspace",
        "--",
        "true",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sandbox.required"), "{err}");
    assert!(err.contains("bwrap"), "{err}");
    assert!(!r.h.ok(&["ls"]).contains("strict"));
    // Profile off is not a sandbox to refuse.
    r.h.ok(&[
        "new",
        "plain",
        "--cwd",
        cwd,
        "--sandbox",
        "off",
        "--",
        "true",
    ]);
}

/// The real agent CLI of `agent` in a `workspace` sandbox (its variables in the session's
/// environment, as a preset's env puts them): it starts and its prompt reaches the fake model
/// through the session's proxy (the model's loopback address is its API host, on the
/// allowlist; the sandbox's own loopback is another one).
fn agent_reaches_the_model_through_the_proxy(agent: Agent) {
    if !usable() {
        return;
    }
    let Some(_) = agent.bin().exists().then_some(()) else {
        panic!("{} is not installed: bash .ci/agents", agent.name());
    };
    // Codex also runs a shell command: its own sandbox is replaced by walkie's, so the command
    // runs (inside walkie's boundary) and writes its marker in the workspace.
    let marker_name = "codex-ran-in-the-boundary";
    let turns = match agent {
        Agent::Codex => json!([
            {"text": "Creating it.", "shell": format!("touch {marker_name}"),
             "description": "Create the marker"},
            {"text": "hello from the fake model"}]),
        _ => json!([{"text": "hello from the fake model"}]),
    };
    let fake = FakeLlm::start_for_sandbox(&json!({"turns": turns, "aux_text": "OK"}));
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
    let mut cmd = h.command();
    cmd.envs(home.env().iter().cloned());
    cmd.args(["--no-spawn", "new", name, "--cwd", path_str(&home.work)]);
    cmd.args(["--sandbox", "workspace", "--"]);
    cmd.arg(agent.bin());
    cmd.args(match agent {
        Agent::Claude => vec!["--permission-mode", "default"],
        Agent::Codex => vec!["--no-daemon"],
        Agent::Copilot => vec![],
    });
    let out = support::host::run_bounded(cmd, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Claude cannot save ~/.claude.json in a read-only home (config/src/lib.rs,
    // BUILTIN_PROFILE), so it may offer its fullscreen renderer again: "Not now".
    let screen = wait_screen(&h, name, "the input box", AGENT_START, |s| {
        agent.input_ready(s) || s.contains("Try the new fullscreen renderer")
    });
    if !agent.input_ready(&screen) {
        wait_quiet(&h, name);
        press_until(&h, name, &["--keys", "Escape"], "no dialog", |s| {
            agent.input_ready(s)
        });
    }
    let prompt = format!("Say hello to walkie from a sandboxed {name}.");
    type_prompt(&h, name, &prompt);
    // On failure, what the agent shows says why (a dialog, an error) better than the fake.
    let asked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fake.wait_request_with(&[&prompt], Duration::from_secs(90))
    }));
    if asked.is_err() {
        panic!(
            "{name} sent no request; its screen:\n{}\ncard:\n{}",
            h.screen(name),
            h.ok(&["boundary", name])
        );
    }
    wait_screen(
        &h,
        name,
        "the model's answer",
        Duration::from_secs(90),
        |s| s.contains("hello from the fake model"),
    );
    let card = h.ok(&["boundary", name]);
    assert!(
        card.contains("127.0.0.1"),
        "the API host is not allowed:\n{card}"
    );
    assert!(card.contains("(enforced)"), "{card}");
    if agent == Agent::Codex {
        // Codex fetches its announcement tip from GitHub at every start, through the proxy:
        // denied without a question (none waits), shown on the card with its reason.
        let card = wait_for(
            "Codex's announcement fetch on the card",
            AGENT_START,
            || {
                let card = h.ok(&["boundary", name]);
                card.contains("blocked: raw.githubusercontent.com:443 (denied without asking")
                    .then_some(card)
            },
        );
        assert!(!card.contains("waiting for a decision"), "{card}");
        assert!(
            card.contains("note: network: raw.githubusercontent.com is denied without asking (Codex fetches its announcement tip there at every start)"),
            "{card}"
        );
        assert!(
            card.contains("agent's own sandbox: replaced by walkie's"),
            "{card}"
        );
        assert!(card.contains("bubblewrap + seccomp + Landlock"), "{card}");
        assert!(
            home.work.join(marker_name).exists(),
            "Codex's shell command did not run in the boundary:\n{}",
            h.screen(name)
        );
    }
    h.ok(&["kill", name, "--force"]);
}

#[test]
fn real_claude_code_reaches_the_model_through_the_proxy() {
    agent_reaches_the_model_through_the_proxy(Agent::Claude);
}

#[test]
fn real_codex_reaches_the_model_through_the_proxy() {
    agent_reaches_the_model_through_the_proxy(Agent::Codex);
}
