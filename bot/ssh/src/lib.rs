//! walkie's ssh transport: one ssh2 connection per host, owned by one thread, multiplexing
//! every channel of that host, with host-key checking against known_hosts, keepalives, a
//! link state and reconnection forever.
//!
//! The async side never calls libssh2: it talks to the owner thread through bounded queues
//! and a wake-up socket, and gets each channel as a [`Channel`] implementing tokio's
//! `AsyncRead + AsyncWrite`.
//!
//! # Liveness
//! A box that closes the connection (sshd killed, box rebooting) is seen at once (the
//! socket reports the hang-up). A silent one (cable cut, box frozen) is caught by the
//! kernel: keepalives go out every `keepalive` (5 s) and TCP_USER_TIMEOUT drops the
//! connection when sent bytes stay unacknowledged for `dead_after` (10 s), so the link is
//! down within 15 s of the cut. Keepalives do not ask for a reply: libssh2 queues every
//! SSH_MSG_REQUEST_FAILURE answer on its packet list and never frees it, so replies would
//! grow memory and slow every read. A box whose kernel
//! answers but whose sshd or bridge is stuck is the link owner's to detect with its own
//! ping over a channel; it then calls [`Link::mark_down`]. The state goes `Down`, every
//! channel ends with an error ([`is_link_lost`]), and the owner thread reconnects with
//! backoff and jitter (250 ms doubling to 3 s by default), forever, or at once on
//! [`Link::reconnect_now`]. A host-key or authentication problem waits for the user
//! (`reconnect_now`) instead of retrying on a timer.
//!
//! # Layout
//! - `config`: [`HostConfig`] (where and how to connect), [`Auth`], `user@box[:port]` parsing.
//! - `error`: [`Error`], the one error vocabulary (also the reason a link is down).
//! - `known_hosts`: [`HostKey`], [`HostKeyCheck`], fingerprints, host-key algorithm order,
//!   [`trust`] (writes walkie's own file only: the host's new line replaces its old ones).
//! - `keys`: walkie's dedicated key ([`ensure_key`]) and the restricted `authorized_keys` line.
//! - `link`: [`Link`], the handle the async side holds; [`LinkState`].
//! - `owner`: the owner thread: connect, authenticate, the poll loop, reconnect with backoff.
//! - `channel`: [`Channel`], [`Exit`], [`ExitStatus`]: the per-channel async stream.

mod channel;
mod config;
mod error;
mod keys;
mod known_hosts;
mod link;
mod owner;

pub use channel::{is_link_lost, Channel, Exit, ExitStatus};
pub use config::{parse_target, Auth, HostConfig};
pub use error::Error;
pub use keys::{authorized_keys_line, bridge_command, ensure_key, key_comment, public_key_line};
pub use known_hosts::{fingerprint, trust, HostKey, HostKeyCheck};
pub use link::{Link, LinkState};

#[cfg(test)]
mod tests {
    /// The link owner moves channels and the link across tasks and hands channels to a
    /// protocol client generic over the stream.
    #[test]
    fn handles_are_send() {
        fn stream<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static>() {}
        fn shared<T: Send + Sync + 'static>() {}
        stream::<crate::Channel>();
        shared::<crate::Link>();
        shared::<crate::LinkState>();
        shared::<crate::Error>();
    }
}
