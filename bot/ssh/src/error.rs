//! The crate's one error type; a link that is down carries one as its reason.

use crate::known_hosts::HostKeyCheck;

/// Everything that can go wrong between walkie and a box. `Clone` because a link state
/// (shared through a watch channel) carries the reason it is down.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `user@box[:port]` could not be parsed.
    #[error("bad ssh target {target:?}: {why}")]
    BadTarget { target: String, why: String },
    /// Name resolution or the TCP connection failed.
    #[error("{addr} is unreachable: {why}")]
    Unreachable { addr: String, why: String },
    /// The ssh handshake (key exchange) failed.
    #[error("ssh handshake with {addr} failed: {why}")]
    Handshake { addr: String, why: String },
    /// The host key is unknown or changed: nothing was sent to the box.
    #[error("{0}")]
    HostKey(Box<HostKeyCheck>),
    /// The box refused every key we offered. `hint` says what to do.
    #[error("{user}@{addr} refused the key: {hint}")]
    AuthRefused {
        user: String,
        addr: String,
        hint: String,
    },
    /// The ssh agent could not be reached or listed.
    #[error("ssh agent: {0}")]
    Agent(String),
    /// walkie's key file could not be read or made.
    #[error("key {path}: {why}")]
    Key { path: String, why: String },
    /// A channel was asked for while the link is not up.
    #[error("the link is not up: {0}")]
    NotUp(String),
    /// The box refused to open this channel or to run the command.
    #[error("the box refused the channel: {0}")]
    ChannelRefused(String),
    /// The connection died (or was declared dead) while in use.
    #[error("the link was lost: {0}")]
    LinkLost(String),
    /// The `Link` was dropped.
    #[error("the link was shut down")]
    Stopped,
}

impl Error {
    /// Whether retrying on a timer cannot help: only the user can fix it (trust a key,
    /// install a key), so the owner waits for `reconnect_now` instead of hammering the box.
    pub fn needs_user(&self) -> bool {
        matches!(
            self,
            Error::HostKey(_)
                | Error::AuthRefused { .. }
                | Error::Key { .. }
                | Error::BadTarget { .. }
        )
    }
}
