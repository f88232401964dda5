//! walkie's session host: coding-agent sessions in real PTYs that outlive the bot, the
//! laptop and the ssh connection, reachable over a Unix socket (like tmux or shpool).
//!
//! # Layout
//! - [`server`]: the daemon (`walkie host`), one file per concern: `conn` (socket security,
//!   handshake, a connection's request loop), `table` (the session table), `broker` (asks,
//!   decisions, notices), `attach` (attach mode, served on the PTY pool). It takes
//!   [`HostOptions`], not the app's configuration: a session asked for by preset is expanded
//!   by the binary's [`Presets`].
//! - [`session`]: one PTY session: its pump, waiter and writer tasks, emulator, subscribers.
//! - [`pty`]: the PTY pool, a fixed few threads for every session's PTY (non-blocking
//!   masters, pidfd waits), so the host's thread count does not grow with its sessions.
//! - [`record`]: each session's asciicast recording, handed by its pump task to the host's
//!   one recorder thread (never waited for: a full queue is a marked gap).
//! - [`revive`]: what it takes to bring a session back after a host restart: agents found in
//!   a command, Claude's chosen session id, resume commands, their checks against the disk.
//! - [`scrollback`]: the byte-capped output history and `tail` rendering.
//! - [`screen`]: the views of a screen (text, ANSI, the cell snapshot of
//!   [`from_vt100`]) with the host's [`Secrets`] masked.
//! - [`fastforward`]: skips floods of plain lines in the emulator without changing the screen.
//! - [`store`]: session records in SQLite, so `ls` shows `lost` sessions after a host restart.
//! - [`lineage`]: the host as child subreaper, reaping orphans, and whether a peer process
//!   runs inside a session (such a peer may not watch or decide asks).
//!
//! The protocol, the client, session names and keys live in `walkie-host-proto`, so that a
//! client needs nothing of the daemon.

mod fastforward;
mod lineage;
mod pty;
mod record;
mod revive;
mod screen;
mod scrollback;
mod server;
mod session;
mod store;

pub use record::{recordings_dir, RecordingOptions};
pub use revive::ReviveMode;
pub use screen::{from_vt100, Secrets, MIN_SECRET_LEN};
pub use server::{run, ExpandFn, HostError, HostOptions, Presets, SandboxOptions, SaveAlways};
pub use session::SessionSettings;
