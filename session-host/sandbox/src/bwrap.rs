//! The bubblewrap argv for a boundary.
//!
//! Deliberately without `--new-session`: it would move the program out of the PTY's session,
//! so resizes (SIGWINCH) and Ctrl-C would no longer reach a TUI. TIOCSTI, the reason bwrap
//! recommends it, is refused by the seccomp filter instead.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::profile::{Boundary, NetworkMode};

/// Where the proxy's Unix socket appears inside the sandbox (on its private /tmp, so the
/// mount point is created on a tmpfs, never on the user's disk).
pub const INSIDE_PROXY_SOCKET: &str = "/tmp/.walkie/proxy.sock";
/// The loopback port the forwarder listens on inside the sandbox's network namespace.
pub const INSIDE_PROXY_PORT: u16 = 3128;

/// Everything the argv depends on.
#[derive(Debug, Clone, Copy)]
pub struct BwrapSpec<'a> {
    pub boundary: &'a Boundary,
    /// The inherited descriptor holding the seccomp program.
    pub seccomp_fd: Option<RawFd>,
    /// The proxy's socket outside; bound in for `allowlist`.
    pub proxy_socket: Option<&'a Path>,
    /// Unshare the user namespace too (false only where user namespaces are blocked but bwrap
    /// is privileged).
    pub user_namespace: bool,
    /// Variables set inside, on top of the inherited environment.
    pub env: &'a [(String, String)],
    /// Files bound read-only at their own path after the private /tmp, so they stay visible
    /// even when they live under /tmp (walkie's own binary for the inner step).
    pub keep_visible: &'a [PathBuf],
    /// The program inside and its arguments.
    pub command: &'a [OsString],
}

/// The proxy variables for a program inside an `allowlist` sandbox. With `loopback`, loopback
/// addresses are not exempt (`NO_PROXY` names none): they mean the host's loopback, reached
/// through the proxy and its allowlist.
pub fn proxy_env(loopback: bool) -> Vec<(String, String)> {
    let url = format!("http://127.0.0.1:{INSIDE_PROXY_PORT}");
    let mut env: Vec<(String, String)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .map(|k| (k.to_string(), url.clone()))
    .collect();
    for k in ["NO_PROXY", "no_proxy"] {
        let exempt = if loopback {
            ""
        } else {
            "localhost,127.0.0.1,::1"
        };
        env.push((k.to_string(), exempt.to_string()));
    }
    // Node (Claude Code, Codex's npm wrapper) honours the variables only with this set.
    env.push(("NODE_USE_ENV_PROXY".to_string(), "1".to_string()));
    env
}

/// bwrap's arguments (without the program name).
pub fn argv(spec: &BwrapSpec<'_>) -> Vec<OsString> {
    let b = spec.boundary;
    let mut args = Args::default();
    args.flag("--die-with-parent");
    args.flag("--unshare-pid");
    args.flag("--unshare-ipc");
    args.flag("--unshare-uts");
    args.flag("--unshare-cgroup-try");
    if spec.user_namespace {
        args.flag("--unshare-user");
    }
    if b.network != NetworkMode::Open {
        args.flag("--unshare-net");
    }
    // Run by root, bwrap keeps every capability inside (even in a new user namespace), and
    // CAP_SYS_ADMIN could unmount the masks below.
    args.flag("--cap-drop");
    args.flag("ALL");

    if b.files {
        args.pair("--ro-bind", "/", "/");
    } else {
        args.pair("--bind", "/", "/");
    }
    args.one("--dev", "/dev");
    args.one("--proc", "/proc");
    if b.files {
        args.one("--tmpfs", "/tmp");
        for path in spec.keep_visible {
            args.pair("--ro-bind", path, path);
        }
        for area in &b.write {
            args.pair("--bind", area, area);
        }
        for path in &b.protected {
            args.pair("--ro-bind", path, path);
        }
        for dir in &b.deny_dirs {
            args.one("--tmpfs", dir);
            args.one("--remount-ro", dir);
        }
        for file in &b.deny_files {
            args.pair("--ro-bind", "/dev/null", file);
        }
    }
    if let (Some(socket), NetworkMode::Allowlist) = (spec.proxy_socket, b.network) {
        args.pair("--bind", socket, INSIDE_PROXY_SOCKET);
    }
    for (key, value) in spec.env {
        args.pair("--setenv", key, value);
    }
    args.pair("--setenv", crate::trampoline::BOUNDARY_VAR, &b.profile);
    if let Some(fd) = spec.seccomp_fd {
        args.one("--seccomp", fd.to_string());
    }
    args.one("--chdir", &b.cwd);
    args.flag("--");
    args.0.extend(spec.command.iter().cloned());
    args.0
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn flag(&mut self, flag: &str) {
        self.0.push(flag.into());
    }
    fn one(&mut self, flag: &str, value: impl AsRef<std::ffi::OsStr>) {
        self.0.push(flag.into());
        self.0.push(value.as_ref().to_os_string());
    }
    fn pair(&mut self, flag: &str, a: impl AsRef<std::ffi::OsStr>, b: impl AsRef<std::ffi::OsStr>) {
        self.one(flag, a);
        self.0.push(b.as_ref().to_os_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundary(network: NetworkMode) -> Boundary {
        Boundary {
            profile: "workspace".into(),
            files: true,
            cwd: "/home/u/src/api".into(),
            write: vec!["/home/u/src/api".into(), "/home/u/.claude".into()],
            deny_dirs: vec!["/home/u/.ssh".into()],
            deny_files: vec!["/home/u/src/api/.env".into()],
            protected: vec!["/home/u/src/api/.git/hooks".into()],
            network,
            allow_domains: vec![],
            notes: vec![],
        }
    }

    fn position(args: &[OsString], window: &[&str]) -> usize {
        let window: Vec<OsString> = window.iter().map(OsString::from).collect();
        args.windows(window.len())
            .position(|w| w == window.as_slice())
            .unwrap_or_else(|| panic!("{window:?} not in {args:?}"))
    }

    #[test]
    fn workspace_argv_orders_binds_before_masks_and_has_no_new_session() {
        let b = boundary(NetworkMode::Allowlist);
        let env = proxy_env(false);
        let command = vec![OsString::from("claude")];
        let socket = PathBuf::from("/run/walkie/api.proxy");
        let args = argv(&BwrapSpec {
            boundary: &b,
            seccomp_fd: Some(7),
            proxy_socket: Some(&socket),
            user_namespace: true,
            env: &env,
            keep_visible: &[PathBuf::from("/tmp/t/walkie")],
            command: &command,
        });
        assert!(!args.iter().any(|a| a == "--new-session"));
        for flag in [
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-user",
        ] {
            position(&args, &[flag]);
        }
        position(&args, &["--cap-drop", "ALL"]);
        let root = position(&args, &["--ro-bind", "/", "/"]);
        let tmp = position(&args, &["--tmpfs", "/tmp"]);
        assert!(tmp < position(&args, &["--ro-bind", "/tmp/t/walkie", "/tmp/t/walkie"]));
        let cwd = position(&args, &["--bind", "/home/u/src/api", "/home/u/src/api"]);
        let hooks = position(
            &args,
            &[
                "--ro-bind",
                "/home/u/src/api/.git/hooks",
                "/home/u/src/api/.git/hooks",
            ],
        );
        let env_file = position(&args, &["--ro-bind", "/dev/null", "/home/u/src/api/.env"]);
        let ssh = position(&args, &["--tmpfs", "/home/u/.ssh"]);
        position(&args, &["--remount-ro", "/home/u/.ssh"]);
        position(
            &args,
            &["--bind", "/run/walkie/api.proxy", INSIDE_PROXY_SOCKET],
        );
        position(&args, &["--setenv", "HTTPS_PROXY", "http://127.0.0.1:3128"]);
        position(&args, &["--seccomp", "7"]);
        assert!(root < tmp && tmp < cwd && cwd < hooks && hooks < env_file && cwd < ssh);
        assert_eq!(
            &args[args.len() - 2..],
            &[OsString::from("--"), OsString::from("claude")]
        );
    }

    #[test]
    fn open_network_keeps_the_host_network() {
        let b = boundary(NetworkMode::Open);
        let args = argv(&BwrapSpec {
            boundary: &b,
            seccomp_fd: None,
            proxy_socket: None,
            user_namespace: false,
            env: &[],
            keep_visible: &[],
            command: &[OsString::from("sh")],
        });
        assert!(!args
            .iter()
            .any(|a| a == "--unshare-net" || a == "--unshare-user"));
    }
}
