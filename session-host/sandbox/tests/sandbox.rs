//! The boundary with the real bwrap, seccomp and Landlock of this machine, driven through the
//! trampoline program (`walkie-sandbox exec PLAN`) as the session host will drive
//! `walkie sandbox-exec`. A test that needs bwrap or Landlock skips with a loud message only
//! when the preflight says the machine cannot run it.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{bwrap_mechanism, fixture, landlock_available, run, Fixture, BIN, LIMIT};
use portable_pty::{CommandBuilder, PtySize};
use walkie_sandbox::{Mechanism, NetworkMode, Plan};

/// The checks both mechanisms run; each prints NAME=yes|no.
fn file_script(outside_tmp: &Path, outside_pid: u32, inside_tmp: &Path) -> String {
    format!(
        r#"
cat ~/.ssh/id_ed25519 >/dev/null 2>&1 && echo READ_SSH=yes || echo READ_SSH=no
echo x >> ~/.bashrc 2>/dev/null && echo WRITE_BASHRC=yes || echo WRITE_BASHRC=no
echo made > ./made.txt && echo WRITE_CWD=yes || echo WRITE_CWD=no
echo x >> .git/hooks/pre-commit 2>/dev/null && echo WRITE_HOOK=yes || echo WRITE_HOOK=no
grep -q secret .env 2>/dev/null && echo READ_ENV=yes || echo READ_ENV=no
test -e {tmp} && echo SEE_TMP=yes || echo SEE_TMP=no
echo x > {inside} && echo WRITE_TMP=yes || echo WRITE_TMP=no
kill -0 {pid} 2>/dev/null && echo SIGNAL_OUTSIDE=yes || echo SIGNAL_OUTSIDE=no
echo DONE
"#,
        tmp = outside_tmp.display(),
        pid = outside_pid,
        inside = inside_tmp.display()
    )
}

/// A /tmp name of this test's own, written from inside.
fn inside_tmp(fx: &Fixture) -> std::path::PathBuf {
    let tag = fx.root.file_name().unwrap().to_string_lossy().to_string();
    Path::new("/tmp").join(format!("walkie-inside-{tag}"))
}

fn answers(out: &str) -> Vec<(String, String)> {
    assert!(out.contains("DONE"), "the script did not finish:\n{out}");
    out.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, v)| {
            k.chars().all(|c| c.is_ascii_uppercase() || c == '_') && (*v == "yes" || *v == "no")
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn expect(out: &str, wanted: &[(&str, &str)]) {
    let got = answers(out);
    let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, wanted, "full output:\n{out}");
}

struct OutsideProcess(std::process::Child);
impl Drop for OutsideProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn outside_process() -> OutsideProcess {
    OutsideProcess(Command::new("sleep").arg("60").spawn().unwrap())
}

fn outside_tmp_file() -> tempfile::NamedTempFile {
    tempfile::Builder::new()
        .prefix("walkie-outside")
        .tempfile_in("/tmp")
        .unwrap()
}

#[test]
fn bwrap_hides_secrets_protects_rc_and_hooks_and_isolates_tmp_and_pids() {
    let Some(mechanism) = bwrap_mechanism() else {
        return;
    };
    let fx = fixture();
    let outside = outside_process();
    let tmp = outside_tmp_file();
    let plan = fx.plan(
        mechanism,
        NetworkMode::Off,
        &file_script(tmp.path(), outside.0.id(), &inside_tmp(&fx)),
    );
    let out = run(fx.command(&plan));
    expect(
        &out,
        &[
            ("READ_SSH", "no"),
            ("WRITE_BASHRC", "no"),
            ("WRITE_CWD", "yes"),
            ("WRITE_HOOK", "no"),
            ("READ_ENV", "no"),
            ("SEE_TMP", "no"),
            ("WRITE_TMP", "yes"),
            ("SIGNAL_OUTSIDE", "no"),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(fx.cwd.join("made.txt")).unwrap(),
        "made\n"
    );
    assert_eq!(
        std::fs::read_to_string(fx.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
    assert_eq!(
        std::fs::read_to_string(fx.cwd.join(".git/hooks/pre-commit")).unwrap(),
        "#!/bin/sh\n"
    );
    assert!(!inside_tmp(&fx).exists(), "the sandbox's /tmp leaked out");
    // The masks are mounts, not writes: nothing appeared in the real tree.
    assert_eq!(
        std::fs::read_to_string(fx.home.join(".ssh/id_ed25519")).unwrap(),
        "PRIVATE KEY\n"
    );
}

#[test]
fn unsandboxed_control_run_sees_everything() {
    // The same script without a boundary: every check flips, so the checks above can fail.
    let fx = fixture();
    let outside = outside_process();
    let tmp = outside_tmp_file();
    let plan = fx.plan(
        Mechanism::Off,
        NetworkMode::Open,
        &file_script(tmp.path(), outside.0.id(), &inside_tmp(&fx)),
    );
    let out = run(fx.command(&plan));
    let _ = std::fs::remove_file(inside_tmp(&fx));
    let got = answers(&out);
    assert!(got.iter().all(|(_, v)| v == "yes"), "{out}");
}

#[test]
fn landlock_alone_denies_secrets_and_writes_outside_and_signals_out() {
    if !landlock_available() {
        return;
    }
    let fx = fixture();
    let outside = outside_process();
    let tmp = outside_tmp_file();
    let plan = fx.plan(
        Mechanism::LandlockOnly,
        NetworkMode::Open,
        &file_script(tmp.path(), outside.0.id(), &inside_tmp(&fx)),
    );
    let out = run(fx.command(&plan));
    // What Landlock cannot do (hooks and .env inside the write area, a private /tmp) is what
    // `Limits::landlock_only` puts on the card.
    expect(
        &out,
        &[
            ("READ_SSH", "no"),
            ("WRITE_BASHRC", "no"),
            ("WRITE_CWD", "yes"),
            ("WRITE_HOOK", "yes"),
            ("READ_ENV", "yes"),
            ("SEE_TMP", "yes"),
            ("WRITE_TMP", "yes"),
            ("SIGNAL_OUTSIDE", "no"),
        ],
    );
    let _ = std::fs::remove_file(inside_tmp(&fx));
    let limits = walkie_sandbox::landlock_layer::Limits::landlock_only(&plan.boundary);
    assert!(
        limits.iter().any(|l| l.contains("protected paths")),
        "{limits:?}"
    );
    assert_eq!(
        std::fs::read_to_string(fx.home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
}

// ---------------------------------------------------------------- real PTY

struct Pty {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    master: Box<dyn portable_pty::MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    rx: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Pty {
    fn spawn(fx: &Fixture, plan: &Plan) -> Pty {
        let pair = portable_pty::native_pty_system()
            .openpty(PtySize {
                rows: 24,
                cols: 80,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(["exec", &plan.encode()]);
        cmd.env("HOME", &fx.home);
        cmd.env("TERM", "xterm");
        cmd.cwd(&fx.cwd);
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            master: pair.master,
            writer,
            rx,
            seen: String::new(),
        }
    }

    /// Waits (bounded) until the screen output contains `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("{needle:?} did not appear; output so far:\n{}", self.seen),
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    fn session(&self) -> i32 {
        self.child.process_id().unwrap() as i32
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// `script` in bash in a bwrap sandbox without network, under a real PTY; None when bwrap
/// cannot run here.
fn sandboxed_pty(script: &str) -> Option<(Fixture, Pty)> {
    let mechanism = bwrap_mechanism()?;
    let fx = fixture();
    let pty = Pty::spawn(&fx, &fx.plan(mechanism, NetworkMode::Off, script));
    Some((fx, pty))
}

/// (pid, command name, state) of every process in session `sid`.
fn session_processes(sid: i32) -> Vec<(i32, String, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp session ..."; comm may hold spaces, so split at ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head
            .split_once('(')
            .map(|(_, c)| c.to_string())
            .unwrap_or_default();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let state = fields.first().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.get(3).and_then(|s| s.parse::<i32>().ok()) == Some(sid) {
            out.push((pid, comm, state));
        }
    }
    out
}

/// Polls (bounded) until `pred` holds for the session's processes.
fn wait_session(sid: i32, what: &str, pred: impl Fn(&[(i32, String, char)]) -> bool) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let procs = session_processes(sid);
        if pred(&procs) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {procs:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn resize_reaches_the_program_inside() {
    let Some((_fx, mut pty)) =
        sandboxed_pty("stty size; echo; read x; stty size; echo SIZE-DONE; read y")
    else {
        return;
    };
    pty.wait_for("24 80");
    pty.master
        .resize(PtySize {
            rows: 31,
            cols: 101,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    pty.send(b"\r");
    pty.wait_for("SIZE-DONE");
    assert!(pty.seen.contains("31 101"), "{}", pty.seen);
}

#[test]
fn ctrl_c_interrupts_a_sleep_and_leaves_the_sandbox_running() {
    let Some((_fx, mut pty)) =
        sandboxed_pty("trap 'echo trapped' INT; sleep 30; echo sleep-exit=$?; read z; echo ALIVE")
    else {
        return;
    };
    let sid = pty.session();
    wait_session(sid, "sleep never started", |p| {
        p.iter().any(|(_, c, _)| c == "sleep")
    });
    let started = Instant::now();
    pty.send(b"\x03");
    pty.wait_for("sleep-exit=130");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleep ran out instead of being interrupted"
    );
    // bwrap survived Ctrl-C (else --die-with-parent would have killed bash): bash still reads.
    pty.send(b"\r");
    pty.wait_for("ALIVE");
}

#[test]
fn stopping_the_process_group_pauses_and_continues_the_child() {
    let Some((_fx, mut pty)) = sandboxed_pty("echo READY; read a; echo got-$a") else {
        return;
    };
    pty.wait_for("READY");
    let sid = pty.session();
    // The session leader's group is the PTY's foreground group: bwrap, its pid 1, bash.
    wait_session(sid, "bash not in the session", |p| {
        p.iter().any(|(_, c, _)| c == "bash")
    });
    // SAFETY: signals to the process group of our own child.
    assert_eq!(unsafe { libc::kill(-sid, libc::SIGSTOP) }, 0);
    wait_session(sid, "not every process stopped", |p| {
        p.len() >= 3 && p.iter().all(|(_, _, s)| *s == 'T')
    });
    assert_eq!(unsafe { libc::kill(-sid, libc::SIGCONT) }, 0);
    wait_session(sid, "not every process continued", |p| {
        p.iter().all(|(_, _, s)| *s != 'T')
    });
    pty.send(b"one\r");
    pty.wait_for("got-one");
}

const TIOCSTI_PROBE: &str = r#"/usr/bin/python3 -c '
import fcntl, termios
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"x")
    print("TIOCSTI-allowed")
except OSError as e:
    print("TIOCSTI-errno-%d" % e.errno)
'; read w"#;

#[test]
fn tiocsti_is_refused_inside_and_works_outside() {
    let Some(mechanism) = bwrap_mechanism() else {
        return;
    };
    let fx = fixture();
    let mut inside = Pty::spawn(&fx, &fx.plan(mechanism, NetworkMode::Off, TIOCSTI_PROBE));
    inside.wait_for("TIOCSTI-");
    inside.wait_for("\n");
    assert!(
        inside
            .seen
            .contains(&format!("TIOCSTI-errno-{}", libc::EPERM)),
        "{}",
        inside.seen
    );
    // Control: this kernel allows TIOCSTI (dev.tty.legacy_tiocsti = 1), so the filter is what refuses it.
    if std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
    {
        let mut outside = Pty::spawn(
            &fx,
            &fx.plan(Mechanism::Off, NetworkMode::Open, TIOCSTI_PROBE),
        );
        outside.wait_for("TIOCSTI-allowed");
    }
}

#[test]
fn landlock_inside_bwrap_is_a_second_layer() {
    // /proc is writable for bwrap (its own procfs) but read-only in the Landlock rules, so a
    // write to /proc/self/comm shows whether the inner step applied Landlock.
    let Some(Mechanism::Bwrap {
        user_namespace,
        landlock,
    }) = bwrap_mechanism()
    else {
        return;
    };
    if !landlock || !landlock_available() {
        return;
    }
    let fx = fixture();
    let script = "echo probe > /proc/self/comm 2>/dev/null && echo PROC_WRITE=yes || echo PROC_WRITE=no; echo DONE";
    for (landlock, wanted) in [(true, "no"), (false, "yes")] {
        let plan = fx.plan(
            Mechanism::Bwrap {
                user_namespace,
                landlock,
            },
            NetworkMode::Off,
            script,
        );
        let out = run(fx.command(&plan));
        assert!(
            out.contains(&format!("PROC_WRITE={wanted}")),
            "landlock={landlock}:\n{out}"
        );
    }
}

#[test]
fn walkie_under_tmp_still_runs_the_inner_step() {
    // The inner step re-enters walkie's binary inside the sandbox, whose /tmp is a fresh tmpfs.
    let Some(mechanism) = bwrap_mechanism() else {
        return;
    };
    let fx = fixture();
    let dir = tempfile::Builder::new()
        .prefix("walkie-bin")
        .tempdir_in("/tmp")
        .unwrap();
    let exe = dir.path().join("walkie-sandbox");
    std::fs::copy(BIN, &exe).unwrap();
    let mut plan = fx.plan(mechanism, NetworkMode::Off, "echo INNER-RAN");
    plan.inner[0] = exe.to_string_lossy().into_owned();
    let out = run(fx.command(&plan));
    assert!(out.contains("INNER-RAN"), "{out}");
}
