//! Test support: a private sshd on 127.0.0.1 (its own config, host key and authorized key),
//! so that `ssh -t HOST walkie attach NAME` is tested through a real ssh connection. It can
//! also be stopped (listener and every connection, as a box going away) and restarted on the
//! same port, get a new host key, and take any authorized_keys text (e.g. restricted lines).

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait::{run_bounded, wait_for};

pub struct Sshd {
    pub port: u16,
    pub key: PathBuf,
    /// The host key's private file (`.pub` beside it).
    pub host_key: PathBuf,
    pub authorized_keys: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

fn keygen(path: &Path) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(path);
    let out = run_bounded(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sshd {
    /// Starts sshd in the foreground on a free loopback port; `dir` holds its files.
    pub fn start(dir: &Path) -> Sshd {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "/usr/sbin/sshd is missing: install openssh-server (.ci/deps does)"
        );
        std::fs::create_dir_all(dir).unwrap();
        // sshd's privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = dir.join("host_key");
        let key = dir.join("client_key");
        keygen(&host_key);
        keygen(&key);
        let pubkey = std::fs::read_to_string(dir.join("client_key.pub")).unwrap();
        let auth = dir.join("authorized_keys");
        std::fs::write(&auth, pubkey).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPermitTTY yes\n\
                 AllowStreamLocalForwarding yes\n",
                host_key.display(),
                auth.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let mut sshd = Sshd {
            port,
            key,
            host_key,
            authorized_keys: auth,
            dir: dir.to_path_buf(),
            config,
            child: None,
        };
        sshd.restart();
        sshd
    }

    /// (Re)starts the listener on the same port and config; `sshd.log` starts afresh.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "sshd is running");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join("sshd.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        let port = self.port;
        wait_for("sshd to listen", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
    }

    /// Kills the listener and every connection it serves (the sshd processes below it), as
    /// a box that went away: clients see their connections closed. The sessions' commands
    /// are left to end on their own (EOF, SIGHUP): a SIGKILL could catch a login shell in
    /// the middle of startup work (e.g. pyenv's rehash) and leave its lock behind.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let root = child.id() as i32;
        // Freeze the listener so no connection is forked while the tree is read.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(root),
            nix::sys::signal::Signal::SIGSTOP,
        );
        for pid in descendants(root).into_iter().filter(|p| is_sshd(*p)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Replaces the host key with a new one (takes effect at the next `restart`).
    pub fn new_host_key(&self) {
        let _ = std::fs::remove_file(&self.host_key);
        let _ = std::fs::remove_file(self.host_key.with_extension("pub"));
        keygen(&self.host_key);
    }

    /// Adds a second host key of another type (`ecdsa`, `rsa`); takes effect at the next
    /// `restart`. Returns its private file.
    pub fn add_host_key(&self, kind: &str) -> PathBuf {
        let path = self.dir.join(format!("host_key_{kind}"));
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", kind, "-N", "", "-f"]).arg(&path);
        let out = run_bounded(cmd, Duration::from_secs(20));
        assert!(
            out.status.success(),
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config = std::fs::read_to_string(&self.config).unwrap();
        config.push_str(&format!("HostKey {}\n", path.display()));
        std::fs::write(&self.config, config).unwrap();
        path
    }

    /// Replaces authorized_keys (read by sshd at each login).
    pub fn set_authorized_keys(&self, text: &str) {
        std::fs::write(&self.authorized_keys, text).unwrap();
    }

    /// The client key's public line.
    pub fn client_public_key(&self) -> String {
        std::fs::read_to_string(self.key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// `ssh-keygen -lf` of a host key's public file: the `SHA256:...` fingerprint.
    pub fn fingerprint_of(private: &Path) -> String {
        let mut cmd = Command::new("ssh-keygen");
        cmd.arg("-lf").arg(private.with_extension("pub"));
        let out = run_bounded(cmd, Duration::from_secs(20));
        assert!(
            out.status.success(),
            "ssh-keygen -lf: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("fingerprint field")
            .to_string()
    }

    /// The known_hosts line of a host key for this sshd (`[127.0.0.1]:PORT type base64`).
    pub fn known_hosts_line(&self, private: &Path) -> String {
        let public = std::fs::read_to_string(private.with_extension("pub")).unwrap();
        let mut f = public.split_whitespace();
        let (kind, b64) = (f.next().unwrap(), f.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {b64}", self.port)
    }

    /// sshd's log since its last (re)start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// The user the tests log in as.
    pub fn user() -> String {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| "root".into())
    }

    /// `ssh -t` to this sshd as the current user, running `remote` (a shell command line).
    pub fn ssh_command(&self, remote: &str) -> Command {
        let user = Sshd::user();
        let mut cmd = Command::new("ssh");
        cmd.args(["-t", "-t", "-p", &self.port.to_string(), "-i"])
            .arg(&self.key)
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
            .arg(format!("{user}@127.0.0.1"))
            .arg(remote);
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd
    }
}

fn is_sshd(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sshd")
}

/// Every process below `root`, read from /proc (parent links).
fn descendants(root: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name (in parentheses) may hold spaces: fields start after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == p)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
