//! Test support: a real `walkie host` daemon in a temp dir, and helpers that wait on events
//! (bounded polls of the host's state), never on fixed sleeps.

#![allow(dead_code)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use walkie_host_proto::client::Client;
use walkie_host_proto::SessionInfo;

/// The `walkie` binary under test. `WALKIE_TEST_BIN` overrides it: copies of the tree that
/// share one target directory overwrite each other's `target/debug/walkie`, so a test run
/// can point at its own build in `target/debug/deps/`.
pub fn walkie_bin() -> PathBuf {
    std::env::var_os("WALKIE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_walkie")))
}

/// Whether the slim `walkie-host` sits beside the binary under test, so that `walkie host`
/// execs it (cargo builds both for the tests; not beside a `WALKIE_TEST_BIN` in deps/).
pub fn slim_host_beside() -> bool {
    walkie_bin().with_file_name("walkie-host").is_file()
}

pub use super::wait::{run_bounded, wait_for};

/// A host daemon with its own socket and state dir, stopped on drop.
pub struct TestHost {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub state: PathBuf,
    pub child: Option<Child>,
    pub extra_env: Vec<(String, String)>,
    /// The walkie it runs (and its CLI commands): [`walkie_bin`] unless started from a copy.
    pub exe: PathBuf,
}

impl TestHost {
    /// Starts `walkie host` and waits until it answers.
    pub fn start() -> TestHost {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> TestHost {
        // Short path: Unix socket paths are limited to ~100 bytes.
        let dir = tempfile::Builder::new()
            .prefix("wk")
            .tempdir_in("/tmp")
            .expect("tempdir");
        Self::start_in(dir, env)
    }

    /// Starts `walkie host` in `dir` (made by the caller, e.g. with a config in it).
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> TestHost {
        Self::start_as(dir, env, &walkie_bin())
    }

    /// [`Self::start_in`] with walkie run from `exe` (a link or copy elsewhere: another box's
    /// install).
    pub fn start_as(dir: tempfile::TempDir, env: &[(&str, &str)], exe: &Path) -> TestHost {
        let mut h = TestHost {
            exe: exe.to_path_buf(),
            socket: dir.path().join("run/host.sock"),
            state: dir.path().join("state"),
            dir,
            child: None,
            extra_env: env
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        h.spawn_host();
        h
    }

    /// Starts (or restarts) the daemon on the same socket and state dir.
    pub fn spawn_host(&mut self) {
        let mut cmd = self.command();
        cmd.arg("host").stdin(Stdio::null()).stdout(Stdio::null());
        cmd.stderr(
            std::fs::File::create(self.dir.path().join("host.stderr"))
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        );
        let child = cmd.spawn().expect("spawn walkie host");
        self.child = Some(child);
        // Listening is enough (a connect then waits for the accept): no greeting here, so
        // that the CLI-only tests can also run against another build's binary.
        let socket = self.socket.clone();
        wait_for("the host to listen", Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&socket)
                .ok()
                .map(|_| ())
        });
    }

    /// A `walkie` command with this host's environment (no spawning of other hosts).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.dir.path())
            .env("SHELL", "/bin/bash")
            .env("WALKIE_SOCKET", &self.socket)
            .env("WALKIE_STATE_DIR", &self.state)
            .env("WALKIE_KILL_GRACE_MS", "1000")
            .env("RUST_LOG", "info")
            .current_dir(self.dir.path());
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running host").id()
    }

    /// Runs `walkie ARGS --no-spawn`, bounded.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.arg("--no-spawn").args(args);
        run_bounded(cmd, Duration::from_secs(30))
    }

    /// Runs `walkie ARGS` and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "walkie {args:?} failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn client(&self) -> Client {
        block_on(Client::connect(&self.socket)).expect("connect")
    }

    pub fn screen(&self, name: &str) -> String {
        block_on(async {
            Client::connect(&self.socket)
                .await?
                .screen(name, false)
                .await
        })
        .expect("screen")
    }

    /// Waits (bounded) for the session to exit; returns its final info.
    pub fn wait_exit(&self, name: &str) -> SessionInfo {
        block_on(async {
            Client::connect(&self.socket)
                .await?
                .wait(name, Duration::from_secs(20))
                .await
        })
        .expect("wait for exit")
    }

    pub fn info(&self, name: &str) -> SessionInfo {
        block_on(async { Client::connect(&self.socket).await?.list().await })
            .expect("list")
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no session {name}"))
    }

    /// Waits until the session's screen satisfies `pred`; returns that screen.
    pub fn wait_screen(&self, name: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(what, Duration::from_secs(20), || {
                last = self.screen(name);
                pred(&last).then(|| last.clone())
            })
        }));
        match res {
            Ok(s) => s,
            Err(_) => panic!("timed out waiting for {what}; screen was:\n{last}"),
        }
    }

    /// SIGTERM and wait for the daemon to exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let st = wait_for("the host to exit", Duration::from_secs(20), || {
            child.try_wait().ok().flatten()
        });
        Some(st)
    }

    /// SIGKILL: the host dies without cleaning up (a crash).
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn host_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host.stderr")).unwrap_or_default()
    }

    /// SIGSTOP: the host hangs (alive, its socket open, answering nothing) until the
    /// returned guard resumes it or is dropped.
    pub fn freeze(&self) -> Frozen {
        freeze(self.pid())
    }
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: nix::sys::signal::Signal) -> nix::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig)
}

/// A process stopped with SIGSTOP; it gets SIGCONT on [`Frozen::resume`] or drop, so a
/// failing test does not leave it stopped.
pub struct Frozen {
    pid: u32,
    resumed: bool,
}

/// SIGSTOPs `pid` and waits (bounded) until the kernel reports it stopped.
pub fn freeze(pid: u32) -> Frozen {
    signal(pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
    wait_for("the process to stop", Duration::from_secs(10), || {
        matches!(proc_state(pid), Some('T' | 't')).then_some(())
    });
    Frozen {
        pid,
        resumed: false,
    }
}

impl Frozen {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGCONTs and waits (bounded) until it runs again.
    pub fn resume(mut self) {
        self.cont();
        let pid = self.pid;
        wait_for("the process to resume", Duration::from_secs(10), || {
            (!matches!(proc_state(pid), Some('T' | 't'))).then_some(())
        });
    }

    fn cont(&mut self) {
        if !self.resumed {
            self.resumed = true;
            let _ = signal(self.pid, nix::sys::signal::Signal::SIGCONT);
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.cont();
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a future on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The state of a process from /proc (R, S, T, Z, ...).
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the state follows the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.chars().next()
}

/// A `kB` field of /proc/PID/status (`VmRSS`, `RssAnon`, ...), in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Exit code or signal, for messages.
pub fn describe(st: &std::process::ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("code {c}"),
        (_, Some(s)) => format!("signal {s}"),
        _ => "?".into(),
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs a command with `input` on its stdin, killing it after `timeout`.
pub fn run_with_stdin(mut cmd: Command, input: &[u8], timeout: Duration) -> Output {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("command {cmd:?} did not finish within {timeout:?}");
        }
    };
    let _ = writer.join();
    out
}

/// The `stdin` payload of the first hook line for `event` in an agent's fixture file.
pub fn hook_fixture(file: &str, event: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/agents")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("fixture json");
        let stdin = match &v["stdin"] {
            serde_json::Value::String(s) => serde_json::from_str(s).expect("stdin json"),
            other => other.clone(),
        };
        if stdin["hook_event_name"] == event {
            return stdin.to_string();
        }
    }
    panic!("no {event} line in {file}");
}
