//! walkie-sandbox: the kernel-enforced boundary around a session.
//!
//! A session's program runs as `walkie sandbox-exec PLAN` under its PTY. That trampoline
//! ([`exec_outer`]) hands a seccomp program (no `TIOCSTI`/`TIOCLINUX`) to bubblewrap on an
//! inherited file descriptor and execs `bwrap`; bwrap builds the mount, pid, user and network
//! namespaces and runs `walkie sandbox-inner INNER` ([`exec_inner`]), which starts the loopback
//! forwarder to the allowlist proxy, applies Landlock as a second layer and execs the agent.
//! Where user namespaces are blocked, the trampoline applies seccomp and Landlock itself
//! ([`Mechanism::LandlockOnly`]). The host runs one [`Proxy`] per `allowlist` session on a Unix
//! socket that bwrap binds into the sandbox.
//!
//! Why the two steps: Landlock forbids mount(2), so it can only be applied after bwrap has set
//! up the mounts; and a forwarder inside the sandbox's network namespace can only be started
//! from inside it.
//!
//! # Wiring (for the session host and the `walkie` binary)
//! 1. At host start, in `spawn_blocking`: [`preflight()`]`(bwrap)`; log [`Preflight::lines`],
//!    keep the result for the cards.
//! 2. Per session: [`SandboxConfig::profile`] (a `--network` flag sets `profile.network`),
//!    then [`Profile::resolve`] with the cwd, home and [`AgentDirs`] → [`Boundary`];
//!    [`Preflight::mechanism_for`] picks the mechanism (no Landlock layer for an agent that
//!    runs its own bwrap, [`AgentDirs::sandboxes_itself`]). With `sandbox.required`, refuse when
//!    it is [`Mechanism::Off`] for a boundary that is not `off`.
//! 3. For `allowlist` under bwrap: [`Proxy::bind`] on a per-session socket (0600, in the
//!    host's runtime dir, path under 108 bytes), with the decision callback that puts the card
//!    on the phone; keep the `Proxy` as long as the session, drop it after.
//! 4. Spawn through portable-pty: `walkie sandbox-exec <Plan::encode()>` with
//!    `plan.inner = [current_exe, "sandbox-inner"]`; the session env passes through bwrap.
//! 5. In `walkie`'s main, dispatch `sandbox-exec PLAN` to [`main_outer`] and `sandbox-inner
//!    INNER` to [`main_inner`] before starting tokio or any thread (the inner step forks the
//!    relay and must be single-threaded).
//! 6. The card: the [`Boundary`] fields, [`landlock_layer::Limits::landlock_only`] when that is
//!    the mechanism, [`Proxy::blocked`] and [`Proxy::waiting`], the preflight lines.
//!
//! Pause/resume (SIGSTOP/SIGCONT to the session's process group) and kill (SIGHUP, then bwrap's
//! `--die-with-parent`) work unchanged: the tests check the first.
//!
//! # Layout
//! - [`profile`]: profiles (`off`, `workspace`, `readonly`, custom from config) and their
//!   resolution against one session's paths into a [`Boundary`].
//! - [`mod@preflight`]: what this machine can enforce (bwrap, user namespaces, Landlock), with fix hints.
//! - [`bwrap`]: the bubblewrap argv for a boundary.
//! - [`seccomp`]: the hand-assembled BPF filter refusing `TIOCSTI` and `TIOCLINUX`.
//! - [`landlock_layer`]: the Landlock ruleset for a boundary.
//! - [`trampoline`]: the plan the host hands to `sandbox-exec`, and the two exec steps.
//! - [`forwarder`]: the loopback TCP to Unix socket relay inside the sandbox.
//! - [`proxy`]: the HTTP CONNECT / absolute-form proxy checking domains against the allowlist
//!   and asking a decision callback for the rest.
//! - [`error`]: the crate's error type.

pub mod bwrap;
pub mod error;
pub mod forwarder;
pub mod landlock_layer;
pub mod preflight;
pub mod profile;
pub mod proxy;
pub mod seccomp;
pub mod trampoline;

pub use error::Error;

pub use preflight::{preflight, Check, Preflight};
pub use profile::{
    AgentDirs, Boundary, FileBase, NetworkMode, Profile, SandboxConfig, SessionPaths,
};
pub use proxy::{AccessRequest, Blocked, Decide, Decision, Proxy, ProxyOptions, Resolver, Unasked};
pub use trampoline::{exec_inner, exec_outer, main_inner, main_outer, InnerPlan, Mechanism, Plan};
