//! walkie's session host: coding-agent sessions in real PTYs that outlive the bot, the
//! laptop and the ssh connection, reachable over a Unix socket (like tmux or shpool).
//!
//! # Layout
//! - [`protocol`]: the typed frames on the socket, the one encode/decode pair, version handshake.
//! - [`server`]: the daemon (`walkie host`): socket security, request handling, attach mode.
//! - [`session`]: one PTY session: reader, waiter and writer threads, emulator, subscribers.
//! - [`scrollback`]: the byte-capped output history and `tail` rendering.
//! - [`fastforward`]: skips floods of plain lines in the emulator without changing the screen.
//! - [`store`]: session records in SQLite, so `ls` shows `lost` sessions after a host restart.
//! - [`client`]: the async client (and starting a host on demand).
//! - [`name`]: session name rules.
//! - [`keys`]: named keys (`Enter`, `C-c`, `Up`) to terminal bytes.

pub mod client;
pub mod fastforward;
pub mod keys;
pub mod name;
pub mod protocol;
pub mod scrollback;
pub mod server;
pub mod session;
pub mod store;

pub use client::{Client, ClientError, SpawnHost};
pub use name::SessionName;
pub use protocol::{NewSession, SessionInfo, SessionState};
pub use server::{run, HostOptions};
