//! Integration tests of the session host: the real `walkie` binary, real PTYs, real programs.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use support::host::{block_on, proc_state, proc_status_kib, wait_for, TestHost};
use support::term::Term;
use walkie_host_proto::ask::{AskPayload, Decision};
use walkie_host_proto::client::{Client, ClientError};
use walkie_host_proto::protocol::{
    decode, encode, ErrorKind, Frame, Reply, Request, SessionState, MAX_FRAME,
};

fn bash(h: &TestHost, name: &str) {
    let out = h.ok(&["new", name, "--", "bash", "--norc", "--noprofile"]);
    assert_eq!(out.trim(), name);
    h.wait_screen(name, "a bash prompt", |s| {
        s.contains('$') || s.contains('#')
    });
}

#[test]
fn new_ls_send_screen_tail() {
    let h = TestHost::start();
    bash(&h, "work");
    h.ok(&["send", "work", "echo", "hello-$((40+2))"]);
    h.wait_screen("work", "the echo", |s| s.contains("hello-42"));
    h.ok(&[
        "send",
        "work",
        "for i in $(seq 1 50); do echo line-$i; done",
    ]);
    h.wait_screen("work", "the loop", |s| s.contains("line-50"));
    let tail = h.ok(&["tail", "work", "-n", "4"]);
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 4, "{tail}");
    assert_eq!(&lines[..3], &["line-48", "line-49", "line-50"], "{tail}");

    let ls = h.ok(&["ls"]);
    assert!(ls.starts_with("NAME"), "{ls}");
    assert!(
        ls.contains("work") && ls.contains("running") && ls.contains("bash --norc"),
        "{ls}"
    );
    let json: serde_json::Value = serde_json::from_str(&h.ok(&["ls", "--json"])).unwrap();
    let s = &json[0];
    assert_eq!(s["name"], "work");
    assert_eq!(s["state"], "running");
    assert!(s["pid"].as_u64().unwrap() > 1);
    assert_eq!(s["cols"], 120);
    assert!(s["idle_ms"].is_u64());

    // Screen with attributes keeps escape sequences.
    h.ok(&["send", "work", "printf '\\033[1;31mRED\\033[0m\\n'"]);
    h.wait_screen("work", "RED", |s| s.lines().any(|l| l == "RED"));
    let ansi = h.ok(&["screen", "work", "--ansi"]);
    assert!(ansi.contains("\x1b["), "no escapes in --ansi output");
    let plain = h.ok(&["screen", "work"]);
    assert!(!plain.contains('\x1b'));
}

#[test]
fn send_text_and_enter_are_separate_writes_and_keys_work() {
    let h = TestHost::start();
    // A reader that reports each read() it gets: the text and the Enter must arrive apart.
    let script = r#"import os,sys,tty
tty.setraw(0)
print("ready", flush=True)
while True:
    b = os.read(0, 1024)
    sys.stdout.write("got %r\r\n" % b); sys.stdout.flush()
    if b == b"\x03": break
"#;
    h.ok(&["new", "raw", "--", "python3", "-c", script]);
    h.wait_screen("raw", "ready", |s| s.contains("ready"));
    h.ok(&["send", "raw", "make", "test"]);
    h.wait_screen("raw", "both reads", |s| {
        s.contains("got b'make test'") && s.contains("got b'\\r'")
    });
    h.ok(&["send", "raw", "--keys", "Up", "Escape"]);
    h.wait_screen("raw", "keys", |s| s.contains("got b'\\x1b[A'"));
    h.ok(&["send", "raw", "--no-enter", "abc"]);
    // (The Escape before may arrive in the same read: only the missing Enter matters.)
    h.wait_screen("raw", "no enter", |s| s.contains("abc'"));
    assert!(!h.screen("raw").contains("abc\\r"));
    h.ok(&["send", "raw", "--keys", "C-c"]);
    let info = h.wait_exit("raw");
    assert_eq!(
        info.state,
        SessionState::Exited {
            code: Some(0),
            signal: None
        }
    );
    let bad = h.run(&["send", "raw", "--keys", "Hyperspace"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown key"));
}

#[test]
fn full_screen_program_renders() {
    let h = TestHost::start();
    let file = h.dir.path().join("notes.txt");
    let text: String = (1..=200).map(|i| format!("row number {i}\n")).collect();
    std::fs::write(&file, text).unwrap();
    h.ok(&["new", "pager", "--", "less", support::host::path_str(&file)]);
    let screen = h.wait_screen("pager", "less showing the file", |s| {
        s.contains("row number 1\n") && s.contains("row number 39")
    });
    // 40 rows: 39 of text and less's prompt line.
    assert!(!screen.contains("row number 40\n"), "{screen}");
    h.ok(&["send", "pager", "--keys", "G"]);
    h.wait_screen("pager", "the end of the file", |s| {
        s.contains("row number 200") && s.contains("(END)")
    });
    h.ok(&["send", "pager", "--keys", "q"]);
    let info = h.wait_exit("pager");
    assert!(matches!(
        info.state,
        SessionState::Exited { code: Some(0), .. }
    ));
}

#[test]
fn names_are_checked() {
    let h = TestHost::start();
    let out = h.run(&["new", "Bad Name", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid session name"));
    h.ok(&["new", "dup", "--", "sleep", "100"]);
    let out = h.run(&["new", "dup", "--", "sleep", "100"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    let out = h.run(&["screen", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session named \"nope\""));
    let out = h.run(&["new", "x", "--cwd", "/does/not/exist", "--", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("working directory does not exist"));
}

#[test]
fn session_environment_has_no_secrets() {
    let h = TestHost::start_with(&[
        ("TELEGRAM_BOT_TOKEN", "123456:SECRET-token"),
        ("KEEP_ME", "yes"),
    ]);
    h.ok(&["new", "env", "--", "sh", "-c", "env | sort; sleep 100"]);
    let screen = h.wait_screen("env", "env output", |s| s.contains("WALKIE_SESSION"));
    assert!(screen.contains("WALKIE_SESSION=env"), "{screen}");
    assert!(
        screen.contains(&format!("WALKIE_SOCKET={}", h.socket.display())),
        "{screen}"
    );
    assert!(screen.contains("KEEP_ME=yes"), "{screen}");
    assert!(screen.contains("TERM=xterm-256color"), "{screen}");
    assert!(!screen.contains("SECRET"), "{screen}");
    assert!(!h.host_log().contains("SECRET"));
}

fn child_of(pid: u32) -> u32 {
    wait_for("a child process", Duration::from_secs(10), || {
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse::<u32>().ok())
    })
}

#[test]
fn pause_resume_keeps_input() {
    let h = TestHost::start();
    // A line reader with a background child in its process group.
    h.ok(&[
        "new",
        "p",
        "--",
        "sh",
        "-c",
        "sleep 300 & echo ready; while read l; do echo \"got:$l\"; done",
    ]);
    h.wait_screen("p", "ready", |s| s.contains("ready"));
    let pid = h.info("p").pid.unwrap();
    let sleep_pid = child_of(pid);
    h.ok(&["pause", "p"]);
    wait_for("stopped processes", Duration::from_secs(10), || {
        (proc_state(sleep_pid) == Some('T') && proc_state(pid) == Some('T')).then_some(())
    });
    assert!(h.ok(&["ls"]).contains("paused"));
    // Typed while paused: kept, not lost, not read yet.
    h.ok(&["send", "p", "while-paused"]);
    assert_eq!(proc_state(pid), Some('T'));
    assert!(!h.screen("p").contains("got:while-paused"));
    h.ok(&["resume", "p"]);
    h.wait_screen("p", "input delivered on resume", |s| {
        s.contains("got:while-paused")
    });
    assert!(h.ok(&["ls"]).contains("running"));
    assert_ne!(proc_state(sleep_pid), Some('T'));
}

#[test]
fn pause_resume_of_a_shell_job_keeps_it_in_the_foreground() {
    let h = TestHost::start();
    bash(&h, "j");
    h.ok(&["send", "j", "sleep 300; echo after-sleep"]);
    let pid = h.info("j").pid.unwrap();
    let sleep_pid = child_of(pid);
    h.ok(&["pause", "j"]);
    wait_for("stopped job and shell", Duration::from_secs(10), || {
        (proc_state(sleep_pid) == Some('T') && proc_state(pid) == Some('T')).then_some(())
    });
    h.ok(&["resume", "j"]);
    wait_for("running job", Duration::from_secs(10), || {
        (proc_state(sleep_pid) == Some('S')).then_some(())
    });
    // The shell did not see its job stopped: Ctrl-C reaches the job, and the shell goes on.
    h.ok(&["send", "j", "--keys", "C-c"]);
    h.wait_screen("j", "prompt after the interrupted job", |s| {
        s.trim_end().ends_with('#') || s.trim_end().ends_with('$')
    });
    assert!(!h.screen("j").contains("Stopped"), "{}", h.screen("j"));
}

#[test]
fn kill_and_exit_codes() {
    // A grace period far from the forced kill's time, so a loaded machine cannot blur them.
    let h = TestHost::start_with(&[("WALKIE_KILL_GRACE_MS", "3000")]);
    h.ok(&["new", "three", "--", "sh", "-c", "exit 3"]);
    let info = h.wait_exit("three");
    assert_eq!(
        info.state,
        SessionState::Exited {
            code: Some(3),
            signal: None
        }
    );
    assert!(h.ok(&["ls"]).contains("exited (3)"));

    h.ok(&["new", "sleeper", "--", "sleep", "1000"]);
    // The host answers at once; the exit follows.
    let out = h.ok(&["kill", "sleeper"]);
    assert!(
        out.contains("being killed") || out.contains("exited"),
        "{out}"
    );
    assert!(matches!(
        h.wait_exit("sleeper").state,
        SessionState::Exited {
            signal: Some(_),
            ..
        }
    ));

    // Ignores SIGTERM and SIGHUP: SIGKILL after the 3 s grace period.
    h.ok(&[
        "new",
        "stubborn",
        "--",
        "sh",
        "-c",
        "trap '' TERM HUP; echo armed; while :; do sleep 1; done",
    ]);
    h.wait_screen("stubborn", "trap set", |s| s.contains("armed"));
    let started = std::time::Instant::now();
    h.ok(&["kill", "stubborn"]);
    let info = h.wait_exit("stubborn");
    assert!(started.elapsed() >= Duration::from_millis(2900));
    match info.state {
        SessionState::Exited {
            signal: Some(s), ..
        } => assert!(s.contains("Killed") || s.contains('9'), "{s}"),
        other => panic!("{other:?}"),
    }

    h.ok(&[
        "new",
        "forced",
        "--",
        "sh",
        "-c",
        "trap '' TERM HUP; while :; do sleep 1; done",
    ]);
    let started = std::time::Instant::now();
    h.ok(&["kill", "forced", "--force"]);
    h.wait_exit("forced");
    assert!(started.elapsed() < Duration::from_millis(2000));

    // Exited records stay until rm; rm of a running one is refused.
    h.ok(&["new", "alive", "--", "sleep", "100"]);
    let out = h.run(&["rm", "alive"]);
    assert_eq!(out.status.code(), Some(4));
    h.ok(&["rm", "three"]);
    assert!(!h.ok(&["ls"]).contains("three"));
    // Input to an exited session is an error that says so.
    let out = h.run(&["send", "sleeper", "hi"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exited"));
}

#[test]
fn attach_type_detach_reattach() {
    let h = TestHost::start();
    bash(&h, "a");
    let mut cmd = h.command();
    cmd.args(["--no-spawn", "attach", "a"]);
    let mut t = Term::spawn(&cmd, 100, 30);
    t.wait_screen("the repaint of the prompt", |s| {
        s.contains('$') || s.contains('#')
    });
    t.type_bytes(b"echo attached-$((6*7))\r");
    t.wait_screen("typed echo", |s| s.contains("attached-42"));
    // The session took this client's size.
    assert_eq!(h.info("a").cols, 100);
    t.type_bytes(b"\x1cd");
    assert_eq!(t.wait_exit(), 0);
    t.wait_screen("the detach message", |s| s.contains("[detached from a]"));
    assert!(t.is_cooked(), "terminal not restored after detach");
    // The session still runs; a new attach repaints what was on screen.
    assert_eq!(h.info("a").state, SessionState::Running);
    let mut t2 = Term::spawn(&cmd, 100, 30);
    t2.wait_screen("repaint on reattach", |s| s.contains("attached-42"));
    t2.type_bytes(b"exit\r");
    assert_eq!(t2.wait_exit(), 0);
    t2.wait_screen("exit status", |s| s.contains("[a exited (0)]"));

    // Attaching to an exited session shows its last screen and status.
    let mut t3 = Term::spawn(&cmd, 100, 30);
    let s = t3.wait_screen("last screen", |s| s.contains("[a exited (0)]"));
    assert!(s.contains("attached-42"), "{s}");
    assert_eq!(t3.wait_exit(), 0);
}

/// On this machine the client hands its terminal to the host, which reads the keys and
/// paints the screen itself (as tmux's server does): with the client stopped, typing still
/// echoes; the detach keys are read by the host and the client restores the terminal.
#[test]
fn the_host_reads_and_paints_a_terminal_handed_over_by_attach() {
    let h = TestHost::start();
    bash(&h, "held");
    let mut cmd = h.command();
    cmd.args(["--no-spawn", "attach", "held"]);
    let mut t = Term::spawn(&cmd, 100, 30);
    t.wait_screen("the repaint of the prompt", |s| {
        s.contains('$') || s.contains('#')
    });
    let client = support::host::freeze(t.pid());
    t.type_bytes(b"echo by-the-host-$((6*7))\r");
    t.wait_screen("the echo with the client stopped", |s| {
        s.contains("by-the-host-42")
    });
    t.type_bytes(b"\x1cd");
    // The host let go of the terminal; the client, once running again, restores it.
    wait_for("the client to be told", Duration::from_secs(10), || {
        (h.info("held").clients == 0).then_some(())
    });
    client.resume();
    assert_eq!(t.wait_exit(), 0);
    t.wait_screen("the detach message", |s| s.contains("[detached from held]"));
    assert!(t.is_cooked(), "terminal not restored after detach");
    assert_eq!(h.info("held").state, SessionState::Running);
}

#[test]
fn two_clients_and_resize() {
    let h = TestHost::start();
    bash(&h, "both");
    let mut cmd = h.command();
    cmd.args(["--no-spawn", "attach", "both"]);
    let mut t1 = Term::spawn(&cmd, 90, 25);
    t1.wait_screen("prompt in client 1", |s| s.contains('$') || s.contains('#'));
    let mut t2 = Term::spawn(&cmd, 110, 35);
    t2.wait_screen("prompt in client 2", |s| s.contains('$') || s.contains('#'));
    wait_for("size of the newest client", Duration::from_secs(10), || {
        (h.info("both").cols == 110).then_some(())
    });
    t1.type_bytes(b"echo from-one\r");
    t1.wait_screen("echo in client 1", |s| s.contains("from-one\n"));
    t2.wait_screen("echo in client 2", |s| s.contains("from-one\n"));
    // Typing in client 1 makes it the active one: its size wins.
    t1.type_bytes(b"stty size\r");
    t1.wait_screen("stty size", |s| s.contains("25 90"));
    // SIGWINCH in the client resizes the session.
    t1.resize(132, 43);
    wait_for("resize", Duration::from_secs(10), || {
        (h.info("both").cols == 132).then_some(())
    });
    t1.type_bytes(b"stty size\r");
    t1.wait_screen("new size", |s| s.contains("43 132"));
    assert_eq!(h.info("both").clients, 2);
    t1.type_bytes(b"\x1cd");
    t2.type_bytes(b"\x1cd");
    assert_eq!(t1.wait_exit(), 0);
    assert_eq!(t2.wait_exit(), 0);
    wait_for("clients gone", Duration::from_secs(10), || {
        (h.info("both").clients == 0).then_some(())
    });
}

fn raw_connect(h: &TestHost) -> UnixStream {
    let s = UnixStream::connect(&h.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn send_frame(s: &mut UnixStream, f: Frame) {
    let mut b = bytes::BytesMut::new();
    encode(&f, &mut b).unwrap();
    s.write_all(&b).unwrap();
}

fn read_frame(s: &mut UnixStream) -> Option<Frame> {
    let mut buf = bytes::BytesMut::new();
    let mut chunk = [0u8; 65536];
    loop {
        if let Ok(Some(f)) = decode(&mut buf) {
            return Some(f);
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn slow_subscriber_never_stalls_the_session() {
    let h = TestHost::start();
    h.ok(&[
        "new",
        "flood",
        "--",
        "sh",
        "-c",
        "read go; head -c 100000000 /dev/zero | tr '\\0' x; echo; echo flood-done; sleep 100",
    ]);
    // A client that attaches and then never reads a byte.
    let mut stuck = raw_connect(&h);
    send_frame(
        &mut stuck,
        Frame::Request(Request::Hello {
            version: walkie_host_proto::protocol::PROTOCOL_VERSION,
        }),
    );
    assert!(matches!(
        read_frame(&mut stuck),
        Some(Frame::Reply(Reply::Hello { .. }))
    ));
    send_frame(
        &mut stuck,
        Frame::Request(Request::Attach {
            name: "flood".into(),
            cols: 80,
            rows: 24,
            terminal: false,
        }),
    );
    h.ok(&["send", "flood", "go"]);
    let started = std::time::Instant::now();
    // A generous bound: 100 MB through a debug build at a load of 10-15 takes a while.
    wait_for("the flood to finish", Duration::from_secs(90), || {
        h.screen("flood").contains("flood-done").then_some(())
    });
    eprintln!(
        "100 MB through a session with a stuck subscriber: {:?}",
        started.elapsed()
    );
    // The host stays responsive and memory stays bounded by the scrollback cap (1 MiB).
    assert!(h.ok(&["ls"]).contains("flood"));
    let pid = h.child.as_ref().unwrap().id();
    let rss_kb = proc_status_kib(pid, "VmRSS").expect("VmRSS");
    assert!(
        rss_kb < 64 * 1024,
        "host RSS {rss_kb} kB after a 100 MB flood"
    );
    drop(stuck);
}

/// Ten sessions that each print 20 MB at once and end leave the host holding their screens
/// and capped scrollbacks (1 MiB each), not their floods: the recording buffers, batches and
/// queues of 200 MB of output are given back.
#[test]
fn memory_a_flood_used_is_given_back_when_it_ends() {
    let h = TestHost::start();
    let pid = h.child.as_ref().expect("host").id();
    let anon_kib = || proc_status_kib(pid, "RssAnon").expect("RssAnon");
    let flood = "read go; head -c 20000000 /dev/zero | tr '\\0' y | fold -w 100; echo flood-done";
    for i in 0..10 {
        h.ok(&["new", &format!("flood{i}"), "--", "sh", "-c", flood]);
    }
    let before = anon_kib();
    for i in 0..10 {
        h.ok(&["send", &format!("flood{i}"), "go"]);
    }
    for i in 0..10 {
        wait_for("the floods to end", Duration::from_secs(120), || {
            h.ok(&["ls"])
                .lines()
                .any(|l| l.contains(&format!("flood{i} ")) && l.contains("exited"))
                .then_some(())
        });
    }
    // What stays per session: its scrollback (1 MiB), screen and the allocator's slack
    // (17-27 MiB for the ten in debug builds here; a flood kept would be 20 MB each).
    let after = anon_kib();
    eprintln!("host anonymous RSS: {before} KiB before the floods, {after} KiB after");
    assert!(
        after < before + 40 * 1024,
        "host anonymous RSS {after} KiB after the floods ended ({before} KiB before)"
    );
}

#[test]
fn malformed_and_oversized_frames_close_only_that_connection() {
    let h = TestHost::start();
    h.ok(&["new", "keep", "--", "sleep", "100"]);
    // Garbage.
    let mut s = raw_connect(&h);
    s.write_all(b"\x00\x00\x00\x05\x01{{{{").unwrap();
    match read_frame(&mut s) {
        Some(Frame::Reply(Reply::Error { kind, .. })) => assert_eq!(kind, ErrorKind::BadRequest),
        other => panic!("{other:?}"),
    }
    assert!(read_frame(&mut s).is_none(), "connection should be closed");
    // Oversized length prefix.
    let mut s = raw_connect(&h);
    s.write_all(&((MAX_FRAME as u32) + 1).to_be_bytes())
        .unwrap();
    match read_frame(&mut s) {
        Some(Frame::Reply(Reply::Error { message, .. })) => {
            assert!(message.contains("limit"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A request before the handshake, and a wrong version.
    let mut s = raw_connect(&h);
    send_frame(&mut s, Frame::Request(Request::List));
    assert!(matches!(
        read_frame(&mut s),
        Some(Frame::Reply(Reply::Error {
            kind: ErrorKind::BadRequest,
            ..
        }))
    ));
    let mut s = raw_connect(&h);
    send_frame(&mut s, Frame::Request(Request::Hello { version: 999 }));
    assert!(matches!(
        read_frame(&mut s),
        Some(Frame::Reply(Reply::Error {
            kind: ErrorKind::Version,
            ..
        }))
    ));
    // The host is fine.
    assert!(h.ok(&["ls"]).contains("keep"));
    assert!(h.host_log().contains("closing connection"));
}

#[test]
fn socket_is_private_and_other_uids_are_refused() {
    let h = TestHost::start();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&h.socket), 0o600);
    assert_eq!(mode(h.socket.parent().unwrap()), 0o700);
    if !nix::unistd::getuid().is_root() {
        eprintln!("skipped the other-uid half: it needs root to run a client as another user");
        return;
    }
    // Open the permissions by hand (as a careless admin might) so that only SO_PEERCRED stands
    // between user `nobody` and the sessions.
    std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        h.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&h.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    // A copy of the binary where `nobody` can run it: the checkout may sit under a private
    // home directory.
    let bin = h.dir.path().join("walkie-for-nobody");
    std::fs::copy(support::host::walkie_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = std::process::Command::new(&bin);
    cmd.env_clear()
        .env("WALKIE_SOCKET", &h.socket)
        .env("WALKIE_STATE_DIR", "/tmp")
        .env("HOME", "/tmp")
        .args(["--no-spawn", "ls"]);
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    let out = support::host::run_bounded(cmd, Duration::from_secs(20));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to another user"), "{err}");
    let log = h.host_log();
    assert!(
        log.contains("refused a connection from another user"),
        "{log}"
    );
}

#[test]
fn records_after_host_restart_are_lost_then_revived() {
    let mut h = TestHost::start();
    let cwd = h.dir.path().join("proj");
    std::fs::create_dir(&cwd).unwrap();
    h.ok(&[
        "new",
        "agent",
        "--cwd",
        support::host::path_str(&cwd),
        "--",
        "sh",
        "-c",
        "pwd; echo started-$$; sleep 1000",
    ]);
    h.wait_screen("agent", "start", |s| s.contains("started-"));
    h.ok(&["new", "done", "--", "sh", "-c", "exit 5"]);
    h.wait_exit("done");
    h.crash();
    h.spawn_host();
    let ls = h.ok(&["ls"]);
    assert!(ls.contains("lost"), "{ls}");
    assert!(ls.contains("exited (5)"), "{ls}");
    let json: serde_json::Value = serde_json::from_str(&h.ok(&["ls", "--json"])).unwrap();
    let agent = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "agent")
        .unwrap();
    assert_eq!(agent["state"], "lost");
    assert_eq!(agent["cwd"], cwd.display().to_string());
    // A lost session cannot take input, and says how to fix it.
    let out = h.run(&["send", "agent", "hi"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("walkie revive agent"));
    h.ok(&["revive", "agent"]);
    let screen = h.wait_screen("agent", "revived", |s| s.contains("started-"));
    assert!(screen.contains(&cwd.display().to_string()), "{screen}");
    assert_eq!(h.info("agent").state, SessionState::Running);
    // A clean stop (SIGTERM, as systemd does) ends sessions and records them as lost.
    let st = h.stop().unwrap();
    assert!(st.success(), "{st:?}");
    h.spawn_host();
    assert_eq!(h.info("agent").state, SessionState::Lost);
}

#[test]
fn clients_start_a_host_on_demand() {
    let h = TestHost::start();
    // A second, separate socket with no host behind it.
    let sock = h.dir.path().join("other/host.sock");
    let mut cmd = h.command();
    cmd.env("WALKIE_SOCKET", &sock).args(["--no-spawn", "ls"]);
    let out = support::host::run_bounded(cmd, Duration::from_secs(20));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no walkie host is running"));

    let mut cmd = h.command();
    cmd.env("WALKIE_SOCKET", &sock)
        .args(["new", "auto", "--", "sleep", "100"]);
    let out = support::host::run_bounded(cmd, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (pid, sessions) = block_on(async {
        let mut c = Client::connect(&sock).await.unwrap();
        (c.host_pid, c.list().await.unwrap())
    });
    assert_eq!(sessions[0].name, "auto");
    // `walkie host` started on demand became the slim daemon where there is one.
    if support::host::slim_host_beside() {
        assert_eq!(exe_name(pid), "walkie-host");
    }
    stop_spawned_host(pid, &sock);
}

/// The file name of the executable process `pid` runs.
fn exe_name(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .expect("the host's exe")
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// The arguments process `pid` runs with.
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .expect("the host's cmdline")
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

#[test]
fn walkie_host_becomes_the_slim_daemon_beside_it_and_runs_alone_without_one() {
    // Beside target/debug/walkie: `walkie host` execs walkie-host (same pid), telling it
    // walkie's own path for what the host execs (the sandbox trampoline).
    let h = TestHost::start();
    if support::host::slim_host_beside() {
        assert_eq!(exe_name(h.pid()), "walkie-host");
        let args = cmdline(h.pid());
        let told = args
            .iter()
            .position(|a| a == "--walkie-exe")
            .and_then(|i| args.get(i + 1))
            .unwrap_or_else(|| panic!("no --walkie-exe in {args:?}"));
        assert_eq!(
            std::fs::canonicalize(told).unwrap(),
            std::fs::canonicalize(support::host::walkie_bin()).unwrap()
        );
    } else {
        eprintln!(
            "\n!!!!! no walkie-host beside {:?}: the slim half is not checked\n",
            support::host::walkie_bin()
        );
    }
    h.ok(&[
        "new",
        "slim",
        "--",
        "sh",
        "-c",
        "echo slim-ok; exec sleep 100",
    ]);
    h.wait_screen("slim", "the session's output", |s| s.contains("slim-ok"));

    // A lone walkie (no walkie-host beside it, as under `cargo run` or a copied binary)
    // runs the host in its own process, as before.
    let lone_dir = tempfile::Builder::new()
        .prefix("lone")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    let lone = lone_dir.path().join("walkie");
    if std::fs::hard_link(support::host::walkie_bin(), &lone).is_err() {
        std::fs::copy(support::host::walkie_bin(), &lone).expect("a copy of walkie");
    }
    let sock = h.dir.path().join("lone/host.sock");
    let base = h.command();
    let with_env = |cmd: &mut std::process::Command| {
        cmd.env_clear().current_dir(h.dir.path());
        for (k, v) in base.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.env("WALKIE_SOCKET", &sock)
            .env("WALKIE_STATE_DIR", h.dir.path().join("lone-state"));
    };
    let mut host = std::process::Command::new(&lone);
    with_env(&mut host);
    host.arg("host")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = host.spawn().expect("spawn the lone walkie host");
    let pid = wait_for("the lone host to answer", Duration::from_secs(20), || {
        block_on(Client::connect(&sock)).ok().map(|c| c.host_pid)
    });
    assert_eq!(pid, child.id());
    assert_eq!(
        std::fs::canonicalize(format!("/proc/{pid}/exe")).unwrap(),
        std::fs::canonicalize(&lone).unwrap()
    );
    let mut new = std::process::Command::new(&lone);
    with_env(&mut new);
    new.args([
        "--no-spawn",
        "new",
        "alone",
        "--",
        "sh",
        "-c",
        "echo alone-ok; exec sleep 100",
    ]);
    let out = support::host::run_bounded(new, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "the lone host's session output",
        Duration::from_secs(20),
        || {
            block_on(async { Client::connect(&sock).await?.screen("alone", false).await })
                .ok()
                .filter(|s| s.contains("alone-ok"))
        },
    );
    stop_spawned_host(pid, &sock);
    let _ = child.wait();
}

/// Stops a host a client started on demand, and waits until its socket is gone.
fn stop_spawned_host(pid: u32, sock: &std::path::Path) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("spawned host to exit", Duration::from_secs(20), || {
        matches!(
            block_on(Client::connect(sock)),
            Err(ClientError::NotRunning(_))
        )
        .then_some(())
    });
}

#[test]
fn a_second_host_on_the_same_socket_is_refused() {
    let h = TestHost::start();
    let out = h.run(&["host"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    assert!(h.ok(&["ls"]).contains("no sessions"));
}

#[test]
fn attach_over_ssh() {
    let h = TestHost::start();
    bash(&h, "remote");
    let sshd = support::sshd::Sshd::start(&h.dir.path().join("sshd"));
    let remote = format!(
        "env WALKIE_SOCKET={} WALKIE_STATE_DIR={} {} --no-spawn attach remote",
        h.socket.display(),
        h.state.display(),
        support::host::walkie_bin().display()
    );
    let cmd = sshd.ssh_command(&remote);
    let mut t = Term::spawn(&cmd, 100, 30);
    t.wait_screen("the repaint over ssh", |s| {
        s.contains('$') || s.contains('#')
    });
    t.type_bytes(b"echo over-ssh-$((2*21))\r");
    t.wait_screen("echo over ssh", |s| s.contains("over-ssh-42"));
    wait_for("ssh client size", Duration::from_secs(10), || {
        (h.info("remote").cols == 100).then_some(())
    });
    t.type_bytes(b"\x1cd");
    assert_eq!(t.wait_exit(), 0);
    t.wait_screen("detach over ssh", |s| s.contains("[detached from remote]"));
    assert_eq!(h.info("remote").state, SessionState::Running);
}

/// An ask payload from JSON (the wire form `walkie approve-hook` and `walkie ask` send).
fn payload(v: serde_json::Value) -> AskPayload {
    serde_json::from_value(v).expect("an ask payload")
}

fn question() -> AskPayload {
    payload(serde_json::json!({"kind": "question", "question": "ok?", "cwd": "/"}))
}

#[test]
fn asks_are_decided_exactly_once() {
    use walkie_host_proto::client::AskEvent;
    let h = TestHost::start();
    let sock = h.socket.clone();
    block_on(async move {
        let t = Duration::from_secs(20);
        let mut watch = Client::connect(&sock)
            .await
            .unwrap()
            .watch_asks()
            .await
            .unwrap();
        // An asker blocks until someone decides.
        let s2 = sock.clone();
        let asker = tokio::spawn(async move {
            let mut c = Client::connect(&s2).await.unwrap();
            c.ask(
                "agent",
                payload(serde_json::json!({"kind": "hook", "request": {
                    "agent": "claude_code", "event": "PermissionRequest", "tool": "Bash",
                    "command": "rm -rf build", "file_path": null, "cwd": null,
                    "description": null, "session_id": null}})),
                Duration::from_secs(60),
            )
            .await
        });
        let ask = match tokio::time::timeout(t, watch.next()).await.unwrap() {
            Some(Ok(AskEvent::Asked(a))) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!(ask.session, "agent");
        assert_eq!(
            serde_json::to_value(&ask.payload).unwrap()["request"]["command"],
            "rm -rf build"
        );
        // A watcher that connects later sees the pending ask too.
        let mut late = Client::connect(&sock)
            .await
            .unwrap()
            .watch_asks()
            .await
            .unwrap();
        assert!(matches!(
            tokio::time::timeout(t, late.next()).await.unwrap(),
            Some(Ok(AskEvent::Asked(a))) if a.id == ask.id
        ));
        // Two presses at the same moment: exactly one decision.
        let (mut c1, mut c2) = (
            Client::connect(&sock).await.unwrap(),
            Client::connect(&sock).await.unwrap(),
        );
        let (r1, r2) = tokio::join!(
            c1.decide(ask.id, Decision::Allow),
            c2.decide(
                ask.id,
                Decision::Deny {
                    reason: "no".into()
                }
            )
        );
        assert!(r1.is_ok() != r2.is_ok(), "{r1:?} {r2:?}");
        let loser = if r1.is_err() { r1 } else { r2 };
        assert!(matches!(
            loser,
            Err(ClientError::Host {
                kind: ErrorKind::AlreadyDecided,
                ..
            })
        ));
        let decision = tokio::time::timeout(t, asker)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(matches!(decision, Decision::Allow | Decision::Deny { .. }));
        match tokio::time::timeout(t, watch.next()).await.unwrap() {
            Some(Ok(AskEvent::Closed {
                id,
                decision: Some(d),
            })) => {
                assert_eq!(id, ask.id);
                assert_eq!(d, decision);
            }
            other => panic!("{other:?}"),
        }

        // Nobody decides: the asker gets a timeout, watchers see it closed.
        let mut c = Client::connect(&sock).await.unwrap();
        let r = c.ask("agent", question(), Duration::from_millis(200)).await;
        assert!(
            matches!(
                r,
                Err(ClientError::Host {
                    kind: ErrorKind::Timeout,
                    ..
                })
            ),
            "{r:?}"
        );
        let id = match tokio::time::timeout(t, watch.next()).await.unwrap() {
            Some(Ok(AskEvent::Asked(a))) => a.id,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            tokio::time::timeout(t, watch.next()).await.unwrap(),
            Some(Ok(AskEvent::Closed { id: i, decision: None })) if i == id
        ));
        // A late press on the expired ask.
        let r = c.decide(id, Decision::Allow).await;
        assert!(matches!(
            r,
            Err(ClientError::Host {
                kind: ErrorKind::AlreadyDecided,
                ..
            })
        ));

        // The asker goes away (the agent was interrupted): the ask closes.
        let s3 = sock.clone();
        let gone = tokio::spawn(async move {
            let mut c = Client::connect(&s3).await.unwrap();
            c.ask("agent", question(), Duration::from_secs(60)).await
        });
        let id = match tokio::time::timeout(t, watch.next()).await.unwrap() {
            Some(Ok(AskEvent::Asked(a))) => a.id,
            other => panic!("{other:?}"),
        };
        gone.abort();
        assert!(matches!(
            tokio::time::timeout(t, watch.next()).await.unwrap(),
            Some(Ok(AskEvent::Closed { id: i, decision: None })) if i == id
        ));
    });
}

/// Decides the next ask seen by a watcher with `decision`, from a background thread.
fn decide_next(
    h: &TestHost,
    decision: serde_json::Value,
) -> std::thread::JoinHandle<serde_json::Value> {
    use walkie_host_proto::client::AskEvent;
    let sock = h.socket.clone();
    std::thread::spawn(move || {
        block_on(async move {
            let mut w = Client::connect(&sock)
                .await
                .unwrap()
                .watch_asks()
                .await
                .unwrap();
            let ask = match tokio::time::timeout(Duration::from_secs(20), w.next())
                .await
                .unwrap()
            {
                Some(Ok(AskEvent::Asked(a))) => a,
                other => panic!("{other:?}"),
            };
            Client::connect(&sock)
                .await
                .unwrap()
                .decide(ask.id, serde_json::from_value(decision).unwrap())
                .await
                .unwrap();
            serde_json::json!({"session": ask.session, "payload": ask.payload})
        })
    })
}

#[test]
fn approve_hook_answers_in_each_agents_format() {
    let h = TestHost::start();
    let hook = |agent: &str, input: &str, extra: &[(&str, &str)]| {
        let mut cmd = h.command();
        cmd.env("WALKIE_SESSION", "agent")
            .args(["approve-hook", "--agent", agent]);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        support::host::run_with_stdin(cmd, input.as_bytes(), Duration::from_secs(30))
    };
    let claude = support::host::hook_fixture("claude-hooks.jsonl", "PermissionRequest");
    let codex = support::host::hook_fixture("codex-hooks.jsonl", "PermissionRequest");

    // Allowed on the phone.
    let seen = decide_next(&h, serde_json::json!("Allow"));
    let out = hook("claude", &claude, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\",\"decision\":{\"behavior\":\"allow\"}}}\n"
    );
    let seen = seen.join().unwrap();
    assert_eq!(seen["session"], "agent");
    assert_eq!(seen["payload"]["kind"], "hook");
    assert_eq!(
        seen["payload"]["request"]["command"],
        "touch /tmp/agent-approved-demo"
    );

    // Denied on the phone, for Codex.
    let seen = decide_next(&h, serde_json::json!({"Deny": {"reason": "not now"}}));
    let out = hook("codex", &codex, &[]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert_eq!(v["hookSpecificOutput"]["decision"]["message"], "not now");
    seen.join().unwrap();

    // Nobody decides: denied with a reason when the deadline passes.
    let out = hook("claude", &claude, &[("WALKIE_APPROVAL_TIMEOUT_S", "1")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert!(v["hookSpecificOutput"]["decision"]["message"]
        .as_str()
        .unwrap()
        .contains("within 1 s"));

    // Events that ask nothing, and garbage, leave the agent alone.
    let post = support::host::hook_fixture("claude-hooks.jsonl", "PostToolUse");
    let out = hook("claude", &post, &[]);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
    let out = hook("claude", "{not json", &[]);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));

    // No host: the agent's own prompt decides (never an allow).
    let mut cmd = h.command();
    cmd.env("WALKIE_SOCKET", h.dir.path().join("none.sock"))
        .args(["approve-hook", "--agent", "claude"]);
    let out = support::host::run_with_stdin(cmd, claude.as_bytes(), Duration::from_secs(30));
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("answer on screen"));
}

#[test]
fn approve_hook_denies_when_the_host_goes_away() {
    let mut h = TestHost::start();
    let claude = support::host::hook_fixture("claude-hooks.jsonl", "PermissionRequest");
    let mut cmd = h.command();
    cmd.env("WALKIE_SESSION", "agent")
        .args(["approve-hook", "--agent", "claude"]);
    let input = claude.clone();
    let hook = std::thread::spawn(move || {
        support::host::run_with_stdin(cmd, input.as_bytes(), Duration::from_secs(30))
    });
    // Wait until the ask is pending, then stop the host.
    let sock = h.socket.clone();
    block_on(async move {
        let mut w = Client::connect(&sock)
            .await
            .unwrap()
            .watch_asks()
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(20), w.next())
            .await
            .unwrap();
    });
    h.stop();
    let out = hook.join().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
}

#[test]
fn ask_exits_by_decision() {
    let h = TestHost::start();
    let ask = |extra: &[&str]| {
        let mut cmd = h.command();
        cmd.env("WALKIE_SESSION", "ops").arg("ask").args(extra);
        support::host::run_bounded(cmd, Duration::from_secs(30))
    };
    let seen = decide_next(&h, serde_json::json!("Allow"));
    assert_eq!(ask(&["deploy", "to", "staging?"]).status.code(), Some(0));
    let seen = seen.join().unwrap();
    assert_eq!(seen["payload"]["question"], "deploy to staging?");
    assert_eq!(seen["session"], "ops");
    let seen = decide_next(&h, serde_json::json!({"Deny": {"reason": ""}}));
    assert_eq!(ask(&["drop the database?"]).status.code(), Some(1));
    seen.join().unwrap();
    assert_eq!(ask(&["--timeout", "1", "anyone?"]).status.code(), Some(1));
    let mut cmd = h.command();
    cmd.env("WALKIE_SOCKET", h.dir.path().join("none.sock"))
        .args(["ask", "hello?"]);
    let out = support::host::run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_bot_with_no_spawn_never_starts_a_host() {
    let h = TestHost::start();
    let sock = h.dir.path().join("nohost/host.sock");
    let mut cmd = h.command();
    cmd.env("WALKIE_SOCKET", &sock)
        .env("TELEGRAM_BOT_TOKEN", "123:abc")
        .env("WALKIE_ALLOWED_USERS", "1")
        .env("WALKIE_TELEGRAM_API_URL", "http://127.0.0.1:9")
        .args(["--no-spawn", "up"]);
    let out = support::host::run_bounded(cmd, Duration::from_secs(30));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no walkie host is running"), "{err}");
    assert!(!sock.exists(), "a host was started");
}

/// Sends SIGCONT on drop, so a test that stopped the host never leaves it stopped.
struct Continue(u32);

impl Drop for Continue {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
}

#[test]
fn a_stopped_host_is_reported_within_the_bound() {
    let h = TestHost::start_with(&[("WALKIE_CLIENT_TIMEOUT_MS", "2000")]);
    h.ok(&["new", "s", "--", "sleep", "1000"]);
    let pid = h.pid();
    let _cont = Continue(pid);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    wait_for("the host to stop", Duration::from_secs(10), || {
        (proc_state(pid) == Some('T')).then_some(())
    });
    for args in [&["ls"][..], &["screen", "s"], &["kill", "s"]] {
        let started = std::time::Instant::now();
        let out = h.run(args);
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains(&format!("the session host is not answering (pid {pid})")),
            "{args:?}: {err}"
        );
        // 2 s of timeout, and the time to start a debug binary on a loaded machine.
        assert!(took < Duration::from_secs(12), "{args:?} took {took:?}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    assert!(h.ok(&["ls"]).contains("running"));
}

#[test]
fn kill_answers_at_once_and_never_holds_the_connection() {
    let grace = Duration::from_secs(8);
    let h = TestHost::start_with(&[("WALKIE_KILL_GRACE_MS", "8000")]);
    h.ok(&[
        "new",
        "stubborn",
        "--",
        "sh",
        "-c",
        "trap '' TERM HUP; echo armed; while :; do sleep 1; done",
    ]);
    h.wait_screen("stubborn", "trap set", |s| s.contains("armed"));
    let started = std::time::Instant::now();
    let out = h.ok(&["kill", "stubborn"]);
    assert!(out.contains("being killed"), "{out}");
    assert!(
        started.elapsed() < grace / 2,
        "kill took {:?}",
        started.elapsed()
    );
    // The session ignores SIGTERM: it still runs, and other requests are answered at once.
    let ls = h.ok(&["ls"]);
    assert!(ls.contains("running"), "{ls}");
    // One connection, as the bot's link is: a kill then a list on it, neither waiting.
    block_on(async {
        let mut c = Client::connect(&h.socket).await.unwrap();
        let t = std::time::Instant::now();
        c.kill("stubborn", false).await.unwrap();
        c.list().await.unwrap();
        assert!(t.elapsed() < grace / 2, "{:?}", t.elapsed());
    });
    let info = h.wait_exit("stubborn");
    assert!(started.elapsed() >= grace, "{:?}", started.elapsed());
    match info.state {
        SessionState::Exited {
            signal: Some(s), ..
        } => assert!(s.contains("Killed") || s.contains('9'), "{s}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_paused_sessions_input_queue_is_capped() {
    let h = TestHost::start_with(&[("WALKIE_PAUSED_INPUT_BYTES", "1000")]);
    h.ok(&[
        "new",
        "p",
        "--",
        "sh",
        "-c",
        "echo ready; while read l; do echo \"got:${#l}\"; done",
    ]);
    h.wait_screen("p", "ready", |s| s.contains("ready"));
    h.ok(&["pause", "p"]);
    let line = "x".repeat(600);
    h.ok(&["send", "p", &line]);
    let out = h.run(&["send", "p", &line]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a second 600 bytes went into a 1000-byte queue"
    );
    assert!(
        err.contains("is paused and its input queue is full"),
        "{err}"
    );
    h.ok(&["resume", "p"]);
    h.wait_screen("p", "the held line", |s| s.contains("got:600"));
    // Refused whole: nothing of the second line was typed. Running again, input flows.
    h.ok(&["send", "p", "after"]);
    let screen = h.wait_screen("p", "the line after resume", |s| s.contains("got:5"));
    assert_eq!(screen.matches("got:600").count(), 1, "{screen}");
    assert!(h.host_log().contains("input queue is full"));
}

#[test]
fn state_is_private_whatever_the_umask() {
    use std::os::unix::process::CommandExt;
    let h = TestHost::start();
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    // What a shell with umask 022 (or an older walkie) left: everything readable by others.
    let old = h.dir.path().join("old");
    let (state, run) = (old.join("state"), old.join("run"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    for f in ["host.log", "host.db"] {
        std::fs::write(state.join(f), "").unwrap();
        set(&state.join(f), 0o644);
    }
    set(&state, 0o755);
    set(&run, 0o755);
    // And a fresh one, where everything is created by walkie.
    let fresh = h.dir.path().join("fresh");
    for base in [&old, &fresh] {
        let sock = base.join("run/host.sock");
        let mut cmd = h.command();
        cmd.env("WALKIE_SOCKET", &sock)
            .env("WALKIE_STATE_DIR", base.join("state"))
            .args(["new", "s", "--", "sleep", "100"]);
        // SAFETY: umask is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
                Ok(())
            });
        }
        let out = support::host::run_bounded(cmd, Duration::from_secs(30));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let state = base.join("state");
        assert_eq!(mode(&state), 0o700, "{}", state.display());
        for f in ["host.log", "host.db", "host.db-wal", "host.db-shm"] {
            let p = state.join(f);
            if f == "host.log" || f == "host.db" || p.exists() {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            }
        }
        assert_eq!(mode(&base.join("run")), 0o700);
        assert_eq!(mode(&sock), 0o600);
        let pid = block_on(async { Client::connect(&sock).await.unwrap().host_pid });
        stop_spawned_host(pid, &sock);
    }
}

#[test]
fn ls_with_huge_command_lines() {
    let h = TestHost::start();
    // 24 sessions of 60 KB command lines: 1.4 MB of session infos, over the 1 MiB frame cap.
    let names: Vec<String> = (0..24).map(|i| format!("big{i:02}")).collect();
    for (i, n) in names.iter().enumerate() {
        let arg = format!("{i}").repeat(60_000 / format!("{i}").len());
        h.ok(&["new", n, "--", "sh", "-c", "sleep 1000", &arg]);
    }
    let ls = h.ok(&["ls"]);
    for n in &names {
        assert!(ls.contains(n.as_str()), "{n} missing");
    }
    let json: serde_json::Value = serde_json::from_str(&h.ok(&["ls", "--json"])).unwrap();
    let all = json.as_array().unwrap();
    assert_eq!(all.len(), names.len());
    for s in all {
        assert!(
            s["command"][3].as_str().unwrap().len() >= 59_000,
            "{}",
            s["name"]
        );
    }
}

/// A process inside a session that tries to decide ask `id` and to watch asks, over the raw
/// protocol; it writes what the host answered (and, as an orphan, its new parent) to `out`.
const DECIDER: &str = r#"
import json, os, socket, struct, sys, time
version, ask_id, out, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
info = {}
if mode == "orphan":
    first = os.getppid()
    deadline = time.time() + 20
    while os.getppid() == first and time.time() < deadline:
        time.sleep(0.02)
    info["ppid"] = os.getppid()

def recv(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def call(s, req):
    b = json.dumps(req).encode()
    s.sendall(struct.pack(">IB", len(b) + 1, 1) + b)
    n = struct.unpack(">I", recv(s, 4))[0]
    return json.loads(recv(s, n)[1:])

def connect():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(os.environ["WALKIE_SOCKET"])
    call(s, {"type": "hello", "version": version})
    return s

info["decide"] = call(connect(), {"type": "decide", "id": ask_id, "decision": "Allow"})
info["watch"] = call(connect(), {"type": "watch_asks"})
open(out + ".tmp", "w").write(json.dumps(info))
os.rename(out + ".tmp", out)
"#;

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn sessions_cannot_watch_or_decide_asks() {
    use walkie_host_proto::client::AskEvent;
    let h = TestHost::start();
    let sock = h.socket.clone();
    let py = h.dir.path().join("decider.py");
    std::fs::write(&py, DECIDER).unwrap();
    let version = walkie_host_proto::protocol::PROTOCOL_VERSION.to_string();
    block_on(async {
        let t = Duration::from_secs(20);
        // The test is outside every session: it may watch.
        let mut watch = Client::connect(&sock)
            .await
            .unwrap()
            .watch_asks()
            .await
            .unwrap();
        let s2 = sock.clone();
        let asker = tokio::spawn(async move {
            let mut c = Client::connect(&s2).await.unwrap();
            c.ask("agent", question(), Duration::from_secs(120)).await
        });
        let id = match tokio::time::timeout(t, watch.next()).await.unwrap() {
            Some(Ok(AskEvent::Asked(a))) => a.id,
            other => panic!("{other:?}"),
        };
        let id_s = id.to_string();
        let py = support::host::path_str(&py);
        // A session's own process, and one that double-forked out of its session's tree
        // into a new session (setsid) before trying.
        let direct = h.dir.path().join("direct.json");
        let orphan = h.dir.path().join("orphan.json");
        h.ok(&[
            "new",
            "direct",
            "--",
            "python3",
            py,
            &version,
            &id_s,
            support::host::path_str(&direct),
            "direct",
        ]);
        let escape = format!(
            "setsid sh -c 'python3 {py} {version} {id_s} {} orphan &'; sleep 300",
            orphan.display()
        );
        h.ok(&["new", "escaper", "--", "sh", "-c", &escape]);
        for (out, what) in [(&direct, "direct"), (&orphan, "orphan")] {
            let got: serde_json::Value = wait_for(
                &format!("the {what} decider"),
                Duration::from_secs(30),
                || serde_json::from_str(&std::fs::read_to_string(out).ok()?).ok(),
            );
            for req in ["decide", "watch"] {
                assert_eq!(got[req]["type"], "error", "{what} {req}: {got}");
                assert_eq!(got[req]["kind"], "permission_denied", "{what} {req}: {got}");
            }
            if what == "orphan" {
                // It really left its session's tree: the host (a subreaper) adopted it.
                assert_eq!(got["ppid"].as_u64(), Some(u64::from(h.pid())), "{got}");
            }
        }
        // Still pending: nobody decided it. From outside, the decision goes through.
        let mut c = Client::connect(&sock).await.unwrap();
        c.decide(id, Decision::Allow).await.unwrap();
        let d = tokio::time::timeout(t, asker)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(d, Decision::Allow);
    });
    let log = h.host_log();
    assert!(
        log.matches("refused: the peer runs inside a walkie session")
            .count()
            >= 4,
        "{log}"
    );
}

#[test]
fn orphans_of_sessions_are_reaped() {
    let h = TestHost::start();
    let pidfile = h.dir.path().join("orphan.pid");
    let go = h.dir.path().join("go");
    // The inner shell backgrounds a waiter and exits: the waiter is orphaned. It lives until
    // the test says go, so its adoption is seen while it runs.
    let script = format!(
        "sh -c 'while [ ! -e {go} ]; do sleep 0.1; done & echo $! > {pid}'; echo forked; sleep 300",
        go = go.display(),
        pid = pidfile.display()
    );
    h.ok(&["new", "forker", "--", "sh", "-c", &script]);
    let orphan: u32 = wait_for("the orphan's pid", Duration::from_secs(20), || {
        std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()
    });
    let host = h.pid();
    let mut parent = None;
    let adopted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            "the host to adopt the orphan",
            Duration::from_secs(20),
            || {
                parent = parent_of(orphan);
                (parent == Some(host)).then_some(())
            },
        )
    }));
    assert!(
        adopted.is_ok(),
        "the orphan's parent is {parent:?}, not the host {host}"
    );
    // Once it exits, it is reaped: no zombie stays behind.
    std::fs::write(&go, "").unwrap();
    wait_for("the orphan to be reaped", Duration::from_secs(30), || {
        proc_state(orphan).is_none().then_some(())
    });
    assert_eq!(h.info("forker").state, SessionState::Running);
}

/// Draws a 400x100 screen of half blocks, each cell its own truecolour pair, then a marker.
const TRUECOLOR: &str = r#"
import os, sys, time
while os.get_terminal_size(0).columns < 400 or os.get_terminal_size(0).lines < 100:
    time.sleep(0.05)
out = ["\x1b[H"]
for r in range(99):
    for c in range(400):
        out.append("\x1b[38;2;%d;%d;%dm\x1b[48;2;%d;%d;%dm\u2580"
                   % (r * 2, c % 256, (r + c) % 256, c % 256, 255 - r, (r * c) % 256))
    out.append("\x1b[0m\r\n")
out.append("big-done")
sys.stdout.write("".join(out))
sys.stdout.flush()
time.sleep(1000)
"#;

#[test]
fn a_huge_truecolor_screen_attaches_and_prints() {
    let h = TestHost::start();
    h.ok(&["new", "big", "--", "python3", "-c", TRUECOLOR]);
    let mut cmd = h.command();
    cmd.args(["--no-spawn", "attach", "big"]);
    // The first client gives the session its size, and sees it drawn live.
    let mut t1 = Term::spawn(&cmd, 400, 100);
    h.wait_screen("big", "the drawing", |s| s.contains("big-done"));
    t1.type_bytes(b"\x1cd");
    assert_eq!(t1.wait_exit(), 0);
    // The second gets it as a repaint: megabytes, in many frames.
    let mut t2 = Term::spawn(&cmd, 400, 100);
    let s = t2.wait_screen("the repaint of the big screen", |s| s.contains("big-done"));
    assert!(s.starts_with('▀'), "{}", &s[..s.len().min(200)]);
    t2.type_bytes(b"\x1cd");
    assert_eq!(t2.wait_exit(), 0);
    t2.wait_screen("the detach message", |s| s.contains("[detached from big]"));

    let ansi = h.ok(&["screen", "big", "--ansi"]);
    assert!(ansi.len() > MAX_FRAME, "only {} bytes", ansi.len());
    assert!(ansi.contains("big-done") && ansi.contains("38;2;"));
    assert_eq!(h.info("big").state, SessionState::Running);
}

/// A bot token a careless command prints: every view of the screen the host answers, and the
/// picture, show it masked. Attach (the raw terminal) is not masked.
#[test]
fn a_printed_secret_is_masked_in_every_view_and_in_the_picture() {
    const TOKEN: &str = "987654321:AAHk-test_TOKEN-value";
    let mask = "*".repeat(TOKEN.len());
    let h = TestHost::start_with(&[("TELEGRAM_BOT_TOKEN", TOKEN)]);
    // The session's environment has no token (the host strips it): it prints it from a file.
    let leak = h.dir.path().join("leak.txt");
    std::fs::write(&leak, format!("token={TOKEN}\n")).unwrap();
    let script = format!(
        "echo env=${{TELEGRAM_BOT_TOKEN:-none}}; printf '\\033[32m'; cat {}; printf '\\033[0m'; echo done-printing; exec sleep 60",
        leak.display()
    );
    h.ok(&[
        "new",
        "leak",
        "--",
        "bash",
        "--norc",
        "--noprofile",
        "-c",
        &script,
    ]);
    h.wait_screen("leak", "the token printed", |s| s.contains("done-printing"));

    let plain = h.ok(&["screen", "leak"]);
    assert!(plain.contains("env=none"), "{plain}");
    assert!(!plain.contains(TOKEN), "{plain}");
    assert!(plain.contains(&format!("token={mask}")), "{plain}");
    let ansi = h.ok(&["screen", "leak", "--ansi"]);
    assert!(!ansi.contains(TOKEN), "{ansi:?}");
    assert!(ansi.contains(&format!("\x1b[32mtoken={mask}")), "{ansi:?}");
    let tail = h.ok(&["tail", "leak", "-n", "5"]);
    assert!(!tail.contains(TOKEN), "{tail}");
    assert!(tail.contains(&format!("token={mask}")), "{tail}");
    let snapshot = block_on(async { Client::connect(&h.socket).await?.snapshot("leak").await })
        .expect("snapshot");
    let text = snapshot.text().expect("a well-formed snapshot");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains(&format!("token={mask}")), "{text}");
    // The green of the token is kept on its mask.
    let green = snapshot
        .lines
        .iter()
        .flatten()
        .find(|r| r.text.contains('*'))
        .map(|r| snapshot.styles[r.style as usize].fg);
    assert_eq!(green, Some(walkie_screenshot::Color::Indexed(2)));

    // The picture: a PNG of the session's size at phone scale, drawn from the masked cells.
    let file = h.dir.path().join("shot.png");
    let out = h.ok(&["screen", "leak", "--png", file.to_str().unwrap()]);
    assert_eq!(out.trim(), file.display().to_string());
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let (w, hgt) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    let mut r = walkie_screenshot::Renderer::new(walkie_screenshot::PHONE_FONT_PX).unwrap();
    let title = walkie_screenshot::Title {
        session: "leak".into(),
        host: "local".into(),
        time: "2026-01-01 00:00".into(),
    };
    let layout = r.layout(snapshot.rows, snapshot.cols, &title);
    assert_eq!((w, hgt), (layout.width, layout.height));
    assert_eq!(
        (snapshot.cols, snapshot.rows),
        (120, 40),
        "the host's default size"
    );
    // Cells about 2x a 14 px terminal font's (8x17 px).
    assert!((14..=20).contains(&layout.cell_width), "{layout:?}");
    assert!(layout.cell_height >= 28, "{layout:?}");
    assert_eq!(
        w,
        layout.grid_left * 2 + u32::from(snapshot.cols) * layout.cell_width
    );

    // Below the title bar (whose clock differs) the picture is the masked snapshot's, and
    // not what the token would have looked like.
    let grid = |rgb: &[u8]| rgb[(layout.grid_top * w * 3) as usize..].to_vec();
    let got = decode_png(&bytes);
    let options = walkie_screenshot::RenderOptions {
        title: title.clone(),
        ..Default::default()
    };
    let masked = r.render(&snapshot, &options).unwrap();
    assert!(
        grid(&got) == grid(&masked.rgb),
        "the picture is not the masked snapshot"
    );
    let mut unmasked = snapshot.clone();
    for run in unmasked.lines.iter_mut().flatten() {
        run.text = run.text.replace(&mask, TOKEN);
    }
    let leaked = r.render(&unmasked, &options).unwrap();
    assert!(grid(&got) != grid(&leaked.rgb));
}

/// A PNG's pixels as RGB.
fn decode_png(bytes: &[u8]) -> Vec<u8> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    buf
}

// ---- Recordings (issue 13) ----

/// The parts of a session's recording, oldest first.
fn cast_parts(h: &TestHost, name: &str) -> Vec<std::path::PathBuf> {
    let dir = h.state.join("recordings").join(name);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cast"))
        .collect();
    v.sort();
    v
}

/// Checks one file as asciicast v2 (without walkie's own parser): a header line with
/// version 2 and a size, then `[time, code, data]` lines with times never going back.
/// Answers the events.
fn asciicast_events(path: &std::path::Path) -> Vec<(f64, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().expect("a header")).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    assert!(header["width"].as_u64().unwrap() > 0, "{header}");
    assert!(header["height"].as_u64().unwrap() > 0, "{header}");
    let mut last = 0.0;
    let mut events = Vec::new();
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}: bad line {line:?}: {e}", path.display()));
        let t = v[0].as_f64().expect("a time");
        assert!(t >= last, "{}: time {t} after {last}", path.display());
        last = t;
        let code = v[1].as_str().expect("a code").to_string();
        assert!(["o", "i", "m", "r"].contains(&code.as_str()), "{line}");
        events.push((t, code, v[2].as_str().expect("data").to_string()));
    }
    events
}

/// The screen a recording replays to.
fn replayed_screen(bytes: &[u8], cols: u16, rows: u16) -> String {
    let nz = |v: u16| std::num::NonZeroU16::new(v.max(1)).expect("not zero");
    let mut p = vt100::Parser::new(nz(rows), nz(cols), 0);
    p.process(bytes);
    p.screen().contents()
}

fn trimmed(screen: &str) -> Vec<String> {
    let mut v: Vec<String> = screen.lines().map(|l| l.trim_end().to_string()).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

#[test]
fn recording_has_the_pty_output_input_markers_and_exit() {
    let h = TestHost::start();
    // The program writes the same bytes to a file and the terminal (no newline translation).
    h.ok(&[
        "new",
        "flat",
        "--",
        "bash",
        "--norc",
        "--noprofile",
        "-c",
        "stty -onlcr; for i in $(seq 1 300); do printf 'line %d \\033[1mbold\\033[0m caf\\303\\251 \\360\\237\\246\\200\\n' $i; done | tee expected.txt; exit 3",
    ]);
    h.wait_exit("flat");
    let parts = cast_parts(&h, "flat");
    assert_eq!(parts.len(), 1, "{parts:?}");
    let events = asciicast_events(&parts[0]);
    let output: String = events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect();
    let expected = std::fs::read_to_string(h.dir.path().join("expected.txt")).unwrap();
    assert!(expected.contains("line 300"), "{expected}");
    assert_eq!(output, expected);
    let last = events.last().expect("events");
    assert_eq!(last.1, "m");
    assert!(last.2.starts_with("exit: "), "{last:?}");

    // Input typed through walkie: a marker naming the sender, then the input.
    bash(&h, "typing");
    h.ok(&["send", "typing", "echo typed-$((6*7))"]);
    h.wait_screen("typing", "the echo", |s| s.contains("typed-42"));
    h.ok(&["kill", "typing"]);
    h.wait_exit("typing");
    let events: Vec<_> = cast_parts(&h, "typing")
        .iter()
        .flat_map(|p| asciicast_events(p))
        .collect();
    let i = events
        .iter()
        .position(|e| e.1 == "i")
        .expect("an input event");
    assert_eq!(events[i].2, "echo typed-$((6*7))\r");
    assert_eq!(events[i - 1].1, "m");
    assert_eq!(events[i - 1].2, "input from cli");
}

#[test]
fn input_answers_its_recording_time() {
    let h = TestHost::start();
    bash(&h, "t");
    let at = block_on(async {
        let mut c = Client::connect(&h.socket).await?;
        c.input_from("t", vec![b"true\r".to_vec()], Some("test".into()))
            .await
    })
    .expect("input");
    let at = at.expect("a recorded session answers a time");
    assert!(at > 0.0 && at < 60.0, "{at}");
}

#[test]
fn secrets_never_reach_the_recording() {
    let secret = "7012345678:AAE-secret-Token_for-the-recording";
    let h = TestHost::start_with(&[("TELEGRAM_BOT_TOKEN", secret)]);
    std::fs::write(h.dir.path().join("token.txt"), format!("{secret}\n")).unwrap();
    bash(&h, "leaky");
    // Printed by the session (its environment has no token: it reads a file)...
    h.ok(&[
        "send",
        "leaky",
        "echo env:${TELEGRAM_BOT_TOKEN:-none}; cat token.txt",
    ]);
    // (Screens mask the secret too, so what is waited for is its mask.)
    let masked = "*".repeat(secret.len());
    h.wait_screen("leaky", "the token printed", |s| {
        s.lines().any(|l| l.trim() == masked)
    });
    // ...and typed through walkie.
    h.ok(&["send", "leaky", &format!("echo {secret} again")]);
    h.wait_screen("leaky", "the token typed", |s| {
        s.contains(&format!("{masked} again"))
    });
    h.ok(&["kill", "leaky"]);
    h.wait_exit("leaky");
    let mut all = String::new();
    for p in cast_parts(&h, "leaky") {
        all.push_str(&std::fs::read_to_string(p).unwrap());
    }
    assert!(all.contains("env:none"), "{all}");
    assert!(!all.contains(secret), "the token is in the recording");
    // A part of it neither (masking is not just of whole lines).
    assert!(!all.contains("AAE-secret-Token"), "{all}");
    assert!(all.contains("********"), "{all}");
}

#[test]
fn replay_and_export_reproduce_the_screen() {
    let h = TestHost::start();
    bash(&h, "show");
    h.ok(&[
        "send",
        "show",
        "printf '\\033[2J\\033[H\\033[31mred\\033[0m top\\n'; seq 1 100; printf '\\033[5;10Hplaced'",
    ]);
    h.wait_screen("show", "the drawing", |s| s.contains("placed"));
    h.ok(&["kill", "show"]);
    h.wait_exit("show");
    let screen = h.ok(&["screen", "show"]);
    let info = h.info("show");

    let out = h.ok(&["replay", "show", "--speed", "1000"]);
    assert_eq!(
        trimmed(&replayed_screen(out.as_bytes(), info.cols, info.rows)),
        trimmed(&screen)
    );

    let file = h.dir.path().join("show.cast");
    h.ok(&["rec", "show", "--out", file.to_str().unwrap()]);
    let events = asciicast_events(&file);
    let bytes: String = events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(
        trimmed(&replayed_screen(bytes.as_bytes(), info.cols, info.rows)),
        trimmed(&screen)
    );

    // A bad name or a session without a recording: a clear error.
    let out = h.run(&["replay", "nope"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("recording"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn recording_caps_and_rotation_hold_under_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("walkie.toml");
    let (part, session, total) = (256u64 << 10, 1u64 << 20, 1536u64 << 10);
    std::fs::write(
        &cfg,
        format!(
            "[recording]\npart_bytes = {part}\nsession_bytes = {session}\ntotal_bytes = {total}\n"
        ),
    )
    .unwrap();
    let h = TestHost::start_with(&[("WALKIE_CONFIG", cfg.to_str().unwrap())]);
    // What the recorder's queue holds (up to 2 MiB) and one batch (64 KiB) go into a part
    // after it asked to rotate.
    let slack = part + (2u64 << 20) + (64 << 10);
    let mut first_parts = Vec::new();
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    for name in ["flood1", "flood2"] {
        h.ok(&[
            "new",
            name,
            "--",
            "bash",
            "--norc",
            "--noprofile",
            "-c",
            "head -c 4500000 /dev/zero | tr '\\0' x | fold -w 100; echo; echo flood-done",
        ]);
        h.wait_exit(name);
        let parts = cast_parts(&h, name);
        assert!(parts.len() >= 2, "no rotation: {parts:?}");
        assert!(
            !parts[0].ends_with("000001.cast"),
            "the oldest part was not deleted: {parts:?}"
        );
        let used: u64 = parts.iter().map(|p| size(p)).sum();
        assert!(used <= session + slack, "{name}: {used} bytes in {parts:?}");
        for p in &parts {
            asciicast_events(p);
        }
        // Rotated parts start with a repaint: the stitched export replays to the screen.
        let screen = h.ok(&["screen", name]);
        let info = h.info(name);
        let file = h.dir.path().join(format!("{name}.cast"));
        h.ok(&["rec", name, "--out", file.to_str().unwrap()]);
        let bytes: String = asciicast_events(&file)
            .iter()
            .filter(|e| e.1 == "o")
            .map(|e| e.2.clone())
            .collect();
        assert_eq!(
            trimmed(&replayed_screen(bytes.as_bytes(), info.cols, info.rows)),
            trimmed(&screen)
        );
        assert!(screen.contains("flood-done"), "{screen}");
        if first_parts.is_empty() {
            first_parts = parts;
        }
    }
    // The second flood took the total past its cap: the first session's oldest parts went.
    let now = cast_parts(&h, "flood1");
    assert!(
        !now.contains(&first_parts[0]),
        "{first_parts:?} then {now:?}"
    );
    let all: u64 = ["flood1", "flood2"]
        .iter()
        .flat_map(|n| cast_parts(&h, n))
        .map(|p| size(&p))
        .sum();
    assert!(all <= total + slack, "{all} bytes in all recordings");
}

#[test]
fn a_stuck_recorder_never_stalls_the_session() {
    // A recorder that cannot write: the session's next part is a FIFO nobody reads, so
    // opening it blocks the recorder, as a hung disk would.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("walkie.toml");
    std::fs::write(&cfg, "[recording]\npart_bytes = 65536\n").unwrap();
    let h = TestHost::start_with(&[("WALKIE_CONFIG", cfg.to_str().unwrap())]);
    bash(&h, "stuck");
    // The recorder thread opens the first part on its own time (under load after the
    // prompt is up), so the folder is waited for.
    let dir = h.state.join("recordings").join("stuck");
    let parts = wait_for(
        "the recording's first part",
        Duration::from_secs(10),
        || {
            dir.is_dir()
                .then(|| cast_parts(&h, "stuck"))
                .filter(|p| !p.is_empty())
        },
    );
    assert_eq!(parts.len(), 1, "{parts:?}");
    let fifo = parts[0].with_file_name("000002.cast");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Past the part's cap: the recorder rotates into the FIFO and hangs there.
    h.ok(&[
        "send",
        "stuck",
        "head -c 3000000 /dev/zero | tr '\\0' x | fold -w 100; echo flood-$((1+1))",
    ]);
    h.wait_screen("stuck", "the flood's end", |s| s.contains("flood-2"));
    // The session still takes input and shows its echo, to an attached client too.
    let mut cmd = h.command();
    cmd.args(["--no-spawn", "attach", "stuck"]);
    let mut term = Term::spawn(&cmd, 100, 30);
    term.wait_screen("the attach repaint", |s| s.contains("xxxx"));
    term.type_bytes(b"echo while-$((3*3))\r");
    term.wait_screen("the echo while the recorder hangs", |s| {
        s.contains("while-9")
    });
    drop(term);
    let log = h.host_log();
    assert!(log.contains("the recorder is behind"), "{log}");

    // The disk comes back: whatever the recorder writes into the FIFO is read.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    h.ok(&["send", "stuck", "echo after-$((4*4))"]);
    h.wait_screen("stuck", "the echo after", |s| s.contains("after-16"));
    h.ok(&["kill", "stuck"]);
    h.wait_exit("stuck");
    let in_fifo = reader.join().unwrap();
    std::fs::remove_file(&fifo).unwrap();
    let mut events = Vec::new();
    for p in cast_parts(&h, "stuck") {
        events.extend(asciicast_events(&p));
    }
    let all = format!("{in_fifo}\n{events:?}");
    assert!(
        all.contains("bytes of output not recorded (the recorder was behind)"),
        "no gap marker: {all}"
    );
    assert!(all.contains("after-16"), "{all}");
    assert!(all.contains("exit: "), "{all}");
}

#[test]
fn recording_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("walkie.toml");
    std::fs::write(&cfg, "[recording]\nenabled = false\n").unwrap();
    let h = TestHost::start_with(&[("WALKIE_CONFIG", cfg.to_str().unwrap())]);
    h.ok(&["new", "quiet", "--", "bash", "-c", "echo hi"]);
    h.wait_exit("quiet");
    assert!(!h.state.join("recordings").join("quiet").exists());
}

#[test]
fn a_revived_session_continues_its_recording() {
    let h = TestHost::start();
    h.ok(&[
        "new",
        "again",
        "--",
        "bash",
        "--norc",
        "--noprofile",
        "-c",
        "echo first-run",
    ]);
    h.wait_exit("again");
    h.ok(&["revive", "again"]);
    h.wait_exit("again");
    let parts = cast_parts(&h, "again");
    assert_eq!(parts.len(), 1, "{parts:?}");
    let events = asciicast_events(&parts[0]);
    let out: String = events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(out.matches("first-run").count(), 2, "{out}");
    assert!(
        events
            .iter()
            .any(|e| e.1 == "m" && e.2.starts_with("revived")),
        "{events:?}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_screen_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let h = TestHost::start();
    h.ok(&["new", "work", "--", "bash", "--norc"]);
    h.ok(&["send", "work", "seq 1 200"]);
    h.wait_screen("work", "the numbers", |s| s.contains("200"));
    // stdout is a pipe whose reader is already gone, as `walkie screen work | grep -q x`
    // is once grep has matched.
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let mut cmd = h.command();
    cmd.args(["--no-spawn", "screen", "work"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let status = wait_for("screen to end", Duration::from_secs(20), || {
        child.try_wait().expect("try_wait")
    });
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        status.signal(),
        Some(nix::sys::signal::Signal::SIGPIPE as i32),
        "ended by SIGPIPE like cat: {status:?} {stderr}"
    );
}

/// A client of the host speaking through `walkie bridge --stdio` run by `cmd` (directly, or
/// by ssh on "the box"): the far side of what the home walkie does over an ssh channel.
fn bridged(
    cmd: std::process::Command,
) -> (
    tokio::process::Child,
    Client<tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>>,
) {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn the bridge");
    let io = tokio::io::join(
        child.stdout.take().expect("stdout"),
        child.stdin.take().expect("stdin"),
    );
    let client = tokio::runtime::Handle::current()
        .block_on(async { Client::over_within(io, Duration::from_secs(20)).await });
    (child, client.expect("a greeting through the bridge"))
}

#[test]
fn the_bridge_carries_the_protocol_and_starts_the_host() {
    let mut h = TestHost::start();
    bash(&h, "work");
    h.ok(&["send", "work", "echo bridged-$((6*7))"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let mut bridge = h.command();
    bridge.args(["--no-spawn", "bridge", "--stdio"]);
    let (child, mut c) = bridged(bridge);
    rt.block_on(async {
        let list = c.list().await.unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].name, "work");
        c.send_text("work", "echo through-$((2*21))", true)
            .await
            .unwrap();
    });
    h.wait_screen("work", "text typed through the bridge", |s| {
        s.contains("through-42")
    });
    // The far side closing ends the bridge.
    drop(c);
    let status = rt.block_on(async {
        let mut child = child;
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await
    });
    assert!(status
        .expect("the bridge ends when its ssh side closes")
        .unwrap()
        .success());

    // No host running: the bridge starts one, as any walkie command would.
    let old = h.pid();
    h.stop();
    let mut bridge = h.command();
    bridge.args(["bridge", "--stdio"]);
    let (_child, mut c) = bridged(bridge);
    let spawned = c.host_pid;
    assert!(
        spawned != 0 && spawned != old,
        "a new host: {spawned} (old {old})"
    );
    rt.block_on(c.list())
        .expect("the new host answers through the bridge");
    let _ = support::host::signal(spawned, nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn a_key_restricted_to_the_bridge_reaches_the_host_over_ssh() {
    let h = TestHost::start();
    bash(&h, "work");
    let sshd = support::sshd::Sshd::start(&h.dir.path().join("sshd"));
    // The line `walkie hosts add` prints for the box: nothing but the bridge may run.
    let forced = format!(
        "env WALKIE_SOCKET={} WALKIE_STATE_DIR={} {} --no-spawn bridge --stdio",
        h.socket.display(),
        h.state.display(),
        support::host::walkie_bin().display()
    );
    sshd.set_authorized_keys(&format!(
        "restrict,command=\"{forced}\" {}\n",
        sshd.client_public_key().trim()
    ));
    let ssh = |remote: &[&str]| {
        let mut cmd = std::process::Command::new("ssh");
        cmd.args(["-T", "-p", &sshd.port.to_string(), "-i"])
            .arg(&sshd.key)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("{}@127.0.0.1", support::sshd::Sshd::user()))
            .args(remote);
        cmd
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    // Whatever the caller asks to run, the key runs the bridge.
    let (_child, mut c) = bridged(ssh(&["sh", "-c", "echo not-a-bridge"]));
    rt.block_on(async {
        let list = c.list().await.unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        c.send_text("work", "echo over-ssh-$((2*21))", true)
            .await
            .unwrap();
    });
    h.wait_screen("work", "text typed over the ssh bridge", |s| {
        s.contains("over-ssh-42")
    });
    let screen = rt.block_on(c.screen("work", false)).unwrap();
    assert!(screen.contains("over-ssh-42"), "{screen}");
}

/// The host's OS threads, from /proc/PID/task.
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn the_hosts_thread_count_does_not_grow_with_its_sessions() {
    let h = TestHost::start();
    let pid = h.pid();
    h.ok(&["new", "t0", "--", "cat"]);
    h.ok(&["send", "t0", "first"]);
    h.wait_screen("t0", "the echo in the first session", |s| {
        s.contains("first")
    });
    let one = threads_of(pid);
    for i in 1..50 {
        h.ok(&["new", &format!("t{i}"), "--", "cat"]);
    }
    // Every session is live: the last one echoes, the first one still does.
    h.ok(&["send", "t49", "last"]);
    h.wait_screen("t49", "the echo in the 50th session", |s| {
        s.contains("last")
    });
    h.ok(&["send", "t0", "again"]);
    h.wait_screen("t0", "the first session's second echo", |s| {
        s.contains("again")
    });
    let fifty = threads_of(pid);
    // A little slack for the runtime's blocking pool (its threads come and go with
    // database writes and exits); four threads a session would add 196.
    assert!(
        fifty <= one + 4,
        "the host had {one} threads with 1 session and {fifty} with 50"
    );
    eprintln!("host threads: {one} with 1 session, {fifty} with 50");
}
