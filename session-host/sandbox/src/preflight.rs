//! What this machine can enforce: bwrap present and usable (a real `bwrap ... true` with the
//! session's namespaces and the seccomp filter), unprivileged user namespaces, the Landlock
//! ABI. Each check carries a fix hint in plain words. Blocking (it runs processes): the host
//! calls it from `spawn_blocking` at start and per session.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::seccomp;
use crate::trampoline::Mechanism;

/// A trial that has not finished after this is treated as failed (and killed).
const TRIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The descriptor number the trial's seccomp program gets in the bwrap child.
const TRIAL_SECCOMP_FD: i32 = 3;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub ok: bool,
    /// What was found, exact (the error bwrap printed, the ABI number).
    pub detail: String,
    /// What to do about it, when not ok.
    pub fix: Option<String>,
}

impl Check {
    fn ok(detail: impl Into<String>) -> Check {
        Check {
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }
    fn failed(detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The preflight result shown at host start and on the boundary card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    pub bwrap_path: PathBuf,
    pub bwrap: Check,
    pub user_namespaces: Check,
    pub landlock: Check,
    /// The kernel's Landlock ABI version, when it has Landlock.
    pub landlock_abi: Option<u32>,
}

impl Preflight {
    /// The strongest mechanism available.
    pub fn mechanism(&self) -> Mechanism {
        let landlock = self.landlock.ok;
        if self.bwrap.ok {
            Mechanism::Bwrap {
                user_namespace: self.user_namespaces.ok,
                landlock,
            }
        } else if landlock {
            Mechanism::LandlockOnly
        } else {
            Mechanism::Off
        }
    }

    /// The mechanism for one session: none for a boundary that confines nothing (the `off`
    /// profile), else the strongest available; without Landlock inside bwrap for an agent
    /// that runs its own bwrap sandbox.
    pub fn mechanism_for(&self, boundary: &crate::Boundary, agent: &crate::AgentDirs) -> Mechanism {
        if !boundary.files && boundary.network == crate::NetworkMode::Open {
            return Mechanism::Off;
        }
        match self.mechanism() {
            Mechanism::Bwrap { user_namespace, .. } if agent.sandboxes_itself => Mechanism::Bwrap {
                user_namespace,
                landlock: false,
            },
            other => other,
        }
    }

    /// Plain lines for the host's start log and the card.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, check) in [
            ("bwrap", &self.bwrap),
            ("user namespaces", &self.user_namespaces),
            ("landlock", &self.landlock),
        ] {
            let mark = if check.ok { "ok" } else { "missing" };
            out.push(format!("{name}: {mark}: {}", check.detail));
            if let Some(fix) = &check.fix {
                out.push(format!("  fix: {fix}"));
            }
        }
        out
    }
}

/// Runs every check. `bwrap` is a program name (looked up in PATH) or a path.
pub fn preflight(bwrap: &Path) -> Preflight {
    let user_namespaces = user_namespaces();
    let (landlock, landlock_abi) = landlock();
    let bwrap_check = bwrap_trial(bwrap, user_namespaces.ok);
    Preflight {
        bwrap_path: bwrap.to_path_buf(),
        bwrap: bwrap_check,
        user_namespaces,
        landlock,
        landlock_abi,
    }
}

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Tries unshare(CLONE_NEWUSER) in a child, so the caller's threads do not matter.
fn user_namespaces() -> Check {
    let mut cmd = Command::new("true");
    // SAFETY: unshare is a plain syscall, async-signal-safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let outcome = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match outcome {
        Ok(status) if status.success() => Check::ok("unshare(CLONE_NEWUSER) works"),
        Ok(status) => Check::failed(
            format!("`true` in a new user namespace exited with {status}"),
            USERNS_FIX_GENERIC,
        ),
        Err(e) => {
            let detail = format!("unshare(CLONE_NEWUSER): {e}");
            if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
                == Some("1")
            {
                Check::failed(detail, "Ubuntu's AppArmor blocks unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1). Install an AppArmor profile that allows bwrap (Ubuntu ships one as bwrap-userns-restrict in apparmor's extra profiles), or run `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`. Until then Landlock is the only layer: no private /tmp and no network boundary.")
            } else if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref()
                == Some("0")
            {
                Check::failed(detail, "the kernel disallows unprivileged user namespaces: `sudo sysctl kernel.unprivileged_userns_clone=1` (and in /etc/sysctl.d to keep it).")
            } else if read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
                Check::failed(
                    detail,
                    "user.max_user_namespaces is 0: `sudo sysctl user.max_user_namespaces=15000`.",
                )
            } else {
                Check::failed(detail, USERNS_FIX_GENERIC)
            }
        }
    }
}

const USERNS_FIX_GENERIC: &str = "unprivileged user namespaces are blocked (a container without them, or a kernel setting). In a container, allow them (e.g. Docker's default seccomp profile blocks unshare: run with a profile that allows it); on a host, check the kernel.*userns* sysctls.";

fn landlock() -> (Check, Option<u32>) {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: landlock_create_ruleset with a NULL attribute and the VERSION flag only returns
    // a number.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi > 0 {
        let abi = abi as u32;
        let mut detail = format!("Landlock ABI {abi}");
        if abi < 6 {
            detail.push_str(" (before 6: signals and abstract sockets outside are not scoped)");
        }
        return (Check::ok(detail), Some(abi));
    }
    let e = std::io::Error::last_os_error();
    let check = match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Check::failed(
            format!("landlock_create_ruleset: {e} (built in, not enabled at boot)"),
            "add landlock to the kernel's LSM list: boot with lsm=landlock,... (keep the other entries of /sys/kernel/security/lsm).",
        ),
        _ => Check::failed(
            format!("landlock_create_ruleset: {e}"),
            "this kernel has no Landlock (needs Linux 5.13+ with CONFIG_SECURITY_LANDLOCK); bwrap still confines the session.",
        ),
    };
    (check, None)
}

/// Runs `bwrap` with the namespaces and the seccomp filter a session gets, around `true`.
fn bwrap_trial(bwrap: &Path, user_namespace: bool) -> Check {
    let version = match Command::new(bwrap).arg("--version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => {
            return Check::failed(
                format!("`{} --version` failed: {}", bwrap.display(), String::from_utf8_lossy(&out.stderr).trim()),
                "reinstall bubblewrap: `sudo apt-get install bubblewrap`.",
            )
        }
        Err(e) => {
            return Check::failed(
                format!("{} not found: {e}", bwrap.display()),
                "install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora).",
            )
        }
    };
    let filter = match seccomp::memfd() {
        Ok(fd) => fd,
        Err(e) => {
            return Check::failed(
                format!("{version}: {e}"),
                "walkie cannot build its seccomp filter on this machine.",
            )
        }
    };
    let mut cmd = Command::new(bwrap);
    cmd.args([
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-net",
        "--cap-drop",
        "ALL",
    ]);
    if user_namespace {
        cmd.arg("--unshare-user");
    }
    cmd.args([
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]);
    cmd.args(["--seccomp", &TRIAL_SECCOMP_FD.to_string(), "--", "true"]);
    let raw = filter.as_raw_fd();
    // SAFETY: dup2/fcntl are async-signal-safe; they only renumber the filter descriptor in
    // the child.
    unsafe {
        cmd.pre_exec(move || {
            if raw == TRIAL_SECCOMP_FD {
                if libc::fcntl(raw, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, TRIAL_SECCOMP_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Check::failed(
                format!("{version}: cannot run it: {e}"),
                "check that bwrap is executable.",
            )
        }
    };
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TRIAL_TIMEOUT) {
        Ok(Ok(out)) if out.status.success() => {
            Check::ok(format!("{version}: namespaces and seccomp work"))
        }
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let fix = if err.contains("namespace")
                || err.contains("uid map")
                || err.contains("Operation not permitted")
            {
                "bwrap cannot create namespaces here; allow unprivileged user namespaces (see the user namespaces check), or install bwrap setuid root (`sudo chmod u+s /usr/bin/bwrap`, weaker)."
            } else {
                "run the bwrap command from walkie's log by hand to see why it fails."
            };
            Check::failed(
                format!("{version}: `bwrap ... true` failed ({}): {err}", out.status),
                fix,
            )
        }
        Ok(Err(e)) => Check::failed(
            format!("{version}: waiting for it: {e}"),
            "retry; this is unexpected.",
        ),
        Err(_) => {
            // SAFETY: kill on the pid of our own child, which the waiting thread has not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            Check::failed(
                format!("{version}: `bwrap ... true` did not finish in {TRIAL_TIMEOUT:?}"),
                "the machine is overloaded or bwrap hangs; retry.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bwrap_is_reported_with_an_install_hint() {
        let p = preflight(Path::new("/nonexistent/bwrap"));
        assert!(!p.bwrap.ok);
        assert!(
            p.bwrap
                .fix
                .as_deref()
                .unwrap_or("")
                .contains("apt-get install bubblewrap"),
            "{p:?}"
        );
        assert!(!matches!(p.mechanism(), Mechanism::Bwrap { .. }));
        assert!(p.lines().iter().any(|l| l.starts_with("bwrap: missing")));
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::SessionPaths {
            cwd: dir.path().into(),
            home: dir.path().into(),
            agent: crate::AgentDirs::default(),
        };
        let off = crate::Profile::builtin("off")
            .unwrap()
            .resolve(&paths)
            .unwrap();
        assert_eq!(
            p.mechanism_for(&off, &crate::AgentDirs::default()),
            Mechanism::Off
        );
        let mut usable = p.clone();
        for check in [
            &mut usable.bwrap,
            &mut usable.user_namespaces,
            &mut usable.landlock,
        ] {
            check.ok = true;
        }
        let workspace = crate::Profile::builtin("workspace")
            .unwrap()
            .resolve(&paths)
            .unwrap();
        let codex = crate::AgentDirs::codex(dir.path(), None);
        let claude = crate::AgentDirs::claude(dir.path());
        let full = Mechanism::Bwrap {
            user_namespace: true,
            landlock: true,
        };
        assert_eq!(usable.mechanism_for(&workspace, &claude), full);
        assert_eq!(
            usable.mechanism_for(&workspace, &codex),
            Mechanism::Bwrap {
                user_namespace: true,
                landlock: false
            }
        );
    }
}
