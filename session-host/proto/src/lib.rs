//! What a client of a walkie session host needs, and nothing of the daemon: the wire
//! protocol, the async client, the session-name rule and the key table. The host daemon
//! (`walkie-session-host`), the `walkie` commands and the bot all speak through this crate.
//!
//! # Layout
//! - [`protocol`]: the frames on the socket, [`protocol::Request`] / [`protocol::Reply`], the
//!   one encode/decode pair, the frame cap, the version handshake, `protocol::FrameCodec` (feature `io`).
//! - [`snapshot`]: the screen model of [`protocol::Reply::Snapshot`]: styled runs of cells,
//!   its checks, and secret masking (no emulator: the host converts its own screen).
//! - [`ask`]: the typed approval half of the protocol: ask payloads, decisions, notices.
//! - [`revival`]: a session's agent and its own id, revive plans, the report of a host restart.
//! - `client` (feature `io`, on by default): the async `Client` over any byte stream, and
//!   starting a host on demand. Without `io` the crate is the wire types alone, no tokio.
//! - [`sandbox`]: a session's network mode and its boundary as reported for the card.
//! - [`name`]: [`SessionName`], the one session-name rule.
//! - [`keys`]: [`keys::Key`], the one key table (names to terminal bytes).

pub mod ask;
#[cfg(feature = "io")]
pub mod client;
pub mod keys;
pub mod name;
pub mod protocol;
pub mod revival;
pub mod sandbox;
pub mod snapshot;

#[cfg(feature = "io")]
pub use client::{Client, ClientError, SpawnHost};
pub use name::SessionName;
pub use protocol::{NewSession, SessionInfo, SessionState};
