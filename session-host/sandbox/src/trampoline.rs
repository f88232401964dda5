//! The plan the host hands to the trampoline, and the two exec steps.
//!
//! The host spawns, through portable-pty's `CommandBuilder`,
//! `walkie sandbox-exec <Plan::encode()>`; that subcommand calls [`main_outer`]. The plan names
//! how to re-enter walkie inside the sandbox (`plan.inner`, e.g. `[walkie, "sandbox-inner"]`),
//! and that subcommand calls [`main_inner`]. Both steps are single-threaded and end in exec,
//! so the session's PTY, pid, session and process group are the agent's in the end.
//!
//! The seccomp descriptor is created by the outer step itself, after portable-pty's fork, so
//! it never has to survive `CommandBuilder` (which closes stray descriptors): a memfd, close-on-
//! exec cleared, numbered in bwrap's `--seccomp` argument.

use std::convert::Infallible;
use std::ffi::{CString, OsString};
use std::path::PathBuf;

use nix::sys::signal::{signal, SigHandler, Signal};
use serde::{Deserialize, Serialize};

use crate::bwrap::{self, BwrapSpec, INSIDE_PROXY_PORT, INSIDE_PROXY_SOCKET};
use crate::profile::{Boundary, NetworkMode};
use crate::{forwarder, landlock_layer, seccomp, Error};

/// How a session is confined; chosen by the host from [`crate::Preflight::mechanism`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Mechanism {
    /// Not confined.
    Off,
    /// bubblewrap namespaces + seccomp, with Landlock inside when the kernel has it.
    Bwrap {
        user_namespace: bool,
        landlock: bool,
    },
    /// User namespaces are blocked: Landlock and seccomp only, no network boundary.
    LandlockOnly,
}

/// Everything `sandbox-exec` needs; passed as one JSON argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub mechanism: Mechanism,
    pub boundary: Boundary,
    /// The agent's argv; the program is looked up in PATH.
    pub command: Vec<String>,
    /// The argv prefix that re-enters walkie inside the sandbox (`[walkie, "sandbox-inner"]`);
    /// the inner plan is appended as one argument.
    pub inner: Vec<String>,
    /// The session's proxy socket on the host (`allowlist` only).
    #[serde(default)]
    pub proxy_socket: Option<PathBuf>,
    /// The bwrap program.
    pub bwrap: PathBuf,
    /// The session's API endpoint is on the host's loopback (a local model server): loopback
    /// addresses then go through the proxy too, since the sandbox's loopback is its own.
    #[serde(default)]
    pub proxy_loopback: bool,
    /// More paths kept visible at their own place despite the private /tmp (the host's
    /// socket, which the agent's approval hook connects to).
    #[serde(default)]
    pub keep_visible: Vec<PathBuf>,
}

/// What the inner step does inside the sandbox before exec'ing the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerPlan {
    /// Apply Landlock for this boundary (computed inside, on the masked file system).
    #[serde(default)]
    pub landlock: Option<Boundary>,
    /// Relay 127.0.0.1:port to this socket.
    #[serde(default)]
    pub forward: Option<(u16, PathBuf)>,
    pub command: Vec<String>,
}

impl Plan {
    pub fn encode(&self) -> String {
        // A struct of strings, paths from canonicalize and enums: serialising cannot fail
        // except on non-UTF-8 paths, which `decode` would refuse anyway.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(arg: &str) -> Result<Plan, Error> {
        serde_json::from_str(arg).map_err(|e| Error::Plan(e.to_string()))
    }

    /// The bwrap argv (program first) this plan runs, with the seccomp program on `seccomp_fd`.
    pub fn bwrap_argv(
        &self,
        seccomp_fd: Option<i32>,
        user_namespace: bool,
        landlock: bool,
    ) -> Vec<OsString> {
        let forward = match (&self.proxy_socket, self.boundary.network) {
            (Some(_), NetworkMode::Allowlist) => {
                Some((INSIDE_PROXY_PORT, PathBuf::from(INSIDE_PROXY_SOCKET)))
            }
            _ => None,
        };
        let env = if forward.is_some() {
            bwrap::proxy_env(self.proxy_loopback)
        } else {
            Vec::new()
        };
        let inner = InnerPlan {
            landlock: (landlock && self.boundary.files).then(|| self.boundary.clone()),
            forward,
            command: self.command.clone(),
        };
        let mut command: Vec<OsString> = self.inner.iter().map(OsString::from).collect();
        command.push(inner.encode().into());
        let keep_visible: Vec<PathBuf> = self
            .inner
            .first()
            .and_then(|exe| std::fs::canonicalize(exe).ok())
            .into_iter()
            .chain(
                self.keep_visible
                    .iter()
                    .filter_map(|p| std::fs::canonicalize(p).ok()),
            )
            .collect();
        let mut argv = vec![self.bwrap.clone().into_os_string()];
        argv.extend(bwrap::argv(&BwrapSpec {
            boundary: &self.boundary,
            seccomp_fd,
            proxy_socket: self.proxy_socket.as_deref(),
            user_namespace,
            env: &env,
            keep_visible: &keep_visible,
            command: &command,
        }));
        argv
    }
}

impl InnerPlan {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(arg: &str) -> Result<InnerPlan, Error> {
        serde_json::from_str(arg).map_err(|e| Error::Plan(e.to_string()))
    }
}

/// The `sandbox-exec` step: confine as the plan says and exec. Returns only on failure.
pub fn exec_outer(plan: &Plan) -> Result<Infallible, Error> {
    if plan.command.is_empty() {
        return Err(Error::NoCommand);
    }
    match plan.mechanism {
        Mechanism::Off => {
            chdir(&plan.boundary.cwd)?;
            exec(&plan.command)
        }
        Mechanism::LandlockOnly => {
            chdir(&plan.boundary.cwd)?;
            if plan.boundary.files {
                landlock_layer::apply(&landlock_layer::rules(&plan.boundary))?;
            }
            seccomp::apply_to_self()?;
            // As bwrap's `--setenv` does: the session's programs (walkie's agent hooks) can
            // tell they run inside a boundary.
            std::env::set_var(BOUNDARY_VAR, &plan.boundary.profile);
            exec(&plan.command)
        }
        Mechanism::Bwrap {
            user_namespace,
            landlock,
        } => {
            let fd = seccomp::memfd()?;
            let raw = seccomp::inheritable(&fd)?;
            let argv = plan.bwrap_argv(Some(raw), user_namespace, landlock);
            // bwrap's own monitor process stays in the PTY's foreground group (no
            // --new-session), and Ctrl-C would kill it and, through --die-with-parent, the
            // agent. Ignored dispositions survive exec; the inner step restores them.
            set_interrupt_handlers(SigHandler::SigIgn);
            let argv: Vec<String> = argv
                .into_iter()
                .map(|a| {
                    a.into_string()
                        .map_err(|a| Error::Plan(format!("non-UTF-8 argument {a:?}")))
                })
                .collect::<Result<_, _>>()?;
            let result = exec(&argv);
            set_interrupt_handlers(SigHandler::SigDfl);
            result
        }
    }
}

/// The `sandbox-inner` step inside bwrap: restore Ctrl-C, start the proxy relay, apply
/// Landlock, exec the agent. Returns only on failure.
pub fn exec_inner(inner: &InnerPlan) -> Result<Infallible, Error> {
    if inner.command.is_empty() {
        return Err(Error::NoCommand);
    }
    set_interrupt_handlers(SigHandler::SigDfl);
    if let Some((port, socket)) = &inner.forward {
        forwarder::spawn_detached(*port, socket)?;
    }
    if let Some(boundary) = &inner.landlock {
        landlock_layer::apply(&landlock_layer::rules(boundary))?;
    }
    exec(&inner.command)
}

/// `walkie sandbox-exec PLAN`: never returns; on failure the reason goes to the session's
/// screen and the exit code is 127.
pub fn main_outer(arg: &str) -> ! {
    run_step(Plan::decode(arg), |plan| exec_outer(&plan))
}

/// `walkie sandbox-inner INNER`: never returns.
pub fn main_inner(arg: &str) -> ! {
    run_step(InnerPlan::decode(arg), |inner| exec_inner(&inner))
}

fn run_step<T>(decoded: Result<T, Error>, step: impl FnOnce(T) -> Result<Infallible, Error>) -> ! {
    let err = match decoded.and_then(step) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    fail(&err)
}

fn fail(err: &Error) -> ! {
    eprintln!("walkie sandbox: {err}");
    std::process::exit(127)
}

fn set_interrupt_handlers(handler: SigHandler) {
    for sig in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: SigIgn and SigDfl install no Rust code as a handler.
        let _ = unsafe { signal(sig, handler) };
    }
}

fn chdir(dir: &std::path::Path) -> Result<(), Error> {
    std::env::set_current_dir(dir).map_err(|source| Error::Path {
        path: dir.to_path_buf(),
        source,
    })
}

/// Set inside every enforced boundary to the session's profile (bwrap's `--setenv`, or here
/// for Landlock only).
pub const BOUNDARY_VAR: &str = "WALKIE_SANDBOX";

fn exec(argv: &[String]) -> Result<Infallible, Error> {
    let c: Vec<CString> = argv
        .iter()
        .map(|a| {
            CString::new(a.as_str()).map_err(|_| Error::Plan(format!("NUL byte in argument {a:?}")))
        })
        .collect::<Result<_, _>>()?;
    let program = c.first().ok_or(Error::NoCommand)?;
    nix::unistd::execvp(program, &c).map_err(|source| Error::Exec {
        program: argv[0].clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip_and_bad_ones_are_refused() {
        let plan = Plan {
            mechanism: Mechanism::Bwrap {
                user_namespace: true,
                landlock: true,
            },
            boundary: Boundary {
                profile: "workspace".into(),
                files: true,
                cwd: "/w".into(),
                write: vec!["/w".into()],
                deny_dirs: vec![],
                deny_files: vec![],
                protected: vec![],
                network: NetworkMode::Allowlist,
                allow_domains: vec!["pypi.org".into()],
                notes: vec![],
            },
            command: vec!["claude".into()],
            inner: vec!["/usr/bin/walkie".into(), "sandbox-inner".into()],
            proxy_socket: Some("/run/w/p.sock".into()),
            bwrap: "bwrap".into(),
            proxy_loopback: false,
            keep_visible: vec![],
        };
        assert_eq!(Plan::decode(&plan.encode()).unwrap(), plan);
        assert!(matches!(Plan::decode("{"), Err(Error::Plan(_))));
        let argv = plan.bwrap_argv(Some(5), true, true);
        let last = argv.last().unwrap().to_str().unwrap();
        let inner = InnerPlan::decode(last).unwrap();
        assert_eq!(
            inner.forward,
            Some((INSIDE_PROXY_PORT, PathBuf::from(INSIDE_PROXY_SOCKET)))
        );
        assert_eq!(inner.command, vec!["claude".to_string()]);
        assert!(inner.landlock.is_some());
        let mut empty = plan;
        empty.command.clear();
        assert!(matches!(exec_outer(&empty), Err(Error::NoCommand)));
    }
}
