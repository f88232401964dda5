//! Helpers shared by the sandbox test files: the machine's preflight, a fake home and
//! project, and bounded runs of the trampoline program.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use walkie_sandbox::{
    preflight, AgentDirs, Boundary, Mechanism, NetworkMode, Plan, Preflight, Profile, SessionPaths,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_walkie-sandbox");
pub const LIMIT: Duration = Duration::from_secs(30);

pub fn machine() -> Preflight {
    preflight(Path::new("bwrap"))
}

/// The bwrap mechanism, or None (with the reason printed loudly) when it cannot run here.
pub fn bwrap_mechanism() -> Option<Mechanism> {
    let p = machine();
    match p.mechanism() {
        m @ Mechanism::Bwrap { .. } => Some(m),
        _ => {
            eprintln!(
                "\n!!!!! SKIPPED: bwrap is unusable on this machine:\n{}\n",
                p.lines().join("\n")
            );
            None
        }
    }
}

pub fn landlock_available() -> bool {
    let p = machine();
    if !p.landlock.ok {
        eprintln!("\n!!!!! SKIPPED: no Landlock here: {}\n", p.landlock.detail);
    }
    p.landlock.ok
}

/// A fake home with secrets and rc files, and a project with hooks and a .env, outside /tmp
/// (the sandbox's /tmp is a private tmpfs).
pub struct Fixture {
    _root: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub cwd: PathBuf,
}

pub fn fixture() -> Fixture {
    let root_dir = tempfile::Builder::new()
        .prefix("sb")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let root = root_dir.path().canonicalize().unwrap();
    let home = root.join("home");
    let cwd = home.join("src/api");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE KEY\n").unwrap();
    std::fs::write(home.join(".bashrc"), "# rc\n").unwrap();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::create_dir_all(cwd.join(".git/hooks")).unwrap();
    std::fs::write(cwd.join(".git/hooks/pre-commit"), "#!/bin/sh\n").unwrap();
    std::fs::write(cwd.join(".env"), "TOKEN=secret\n").unwrap();
    Fixture {
        _root: root_dir,
        root,
        home,
        cwd,
    }
}

impl Fixture {
    pub fn boundary(&self, network: NetworkMode) -> Boundary {
        let mut profile = Profile::builtin("workspace").unwrap();
        profile.network = Some(network);
        profile.allow_domains = vec!["allowed.test".into()];
        let paths = SessionPaths {
            cwd: self.cwd.clone(),
            home: self.home.clone(),
            agent: AgentDirs::claude(&self.home),
        };
        profile.resolve(&paths).unwrap()
    }

    pub fn plan(&self, mechanism: Mechanism, network: NetworkMode, script: &str) -> Plan {
        Plan {
            mechanism,
            boundary: self.boundary(network),
            command: vec!["/bin/bash".into(), "-c".into(), script.into()],
            inner: vec![BIN.into(), "inner".into()],
            proxy_socket: None,
            bwrap: "bwrap".into(),
            proxy_loopback: false,
            keep_visible: vec![],
        }
    }

    pub fn command(&self, plan: &Plan) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["exec", &plan.encode()])
            .env("HOME", &self.home)
            .stdin(Stdio::null());
        cmd
    }
}

/// Runs to completion within LIMIT (killed after it) and returns stdout + stderr.
pub fn run(mut cmd: Command) -> String {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(out) => {
            let out = out.unwrap();
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        }
        Err(_) => {
            // SAFETY: kill on our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the sandboxed command did not finish within {LIMIT:?}");
        }
    }
}
