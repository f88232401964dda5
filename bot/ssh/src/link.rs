//! The handle the async side holds on one host's connection.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

use crate::channel::Channel;
use crate::config::HostConfig;
use crate::error::Error;

/// The state of a host's link, observable through [`Link::state`].
#[derive(Debug, Clone)]
pub enum LinkState {
    Connecting,
    /// Connected and authenticated. `latency` is the kernel's smoothed round-trip time of
    /// the connection (updated at each keepalive), when it has one.
    Up {
        latency: Option<Duration>,
    },
    Down {
        since: SystemTime,
        why: Error,
    },
}

impl LinkState {
    pub fn is_up(&self) -> bool {
        matches!(self, LinkState::Up { .. })
    }
}

/// Wakes the owner thread out of poll(2): one byte on a socket pair.
pub(crate) struct Waker {
    tx: UnixStream,
}

impl Waker {
    pub(crate) fn wake(&self) {
        // Non-blocking: a full pipe already holds a pending wake-up.
        let _ = (&self.tx).write(&[1]);
    }
}

pub(crate) enum OpenKind {
    Exec(String),
    StreamLocal(String),
}

pub(crate) struct Open {
    pub(crate) kind: OpenKind,
    pub(crate) reply: oneshot::Sender<Result<Channel, Error>>,
}

/// User and owner requests that must never be lost to a full queue.
#[derive(Default)]
pub(crate) struct Control {
    pub(crate) reconnect: AtomicBool,
    pub(crate) mark_down: Mutex<Option<String>>,
    /// The `Link` was dropped.
    pub(crate) stopped: AtomicBool,
}

/// One host's ssh connection, run by its own thread. Dropping the `Link` closes the
/// connection and ends every channel.
pub struct Link {
    opens: mpsc::Sender<Open>,
    control: Arc<Control>,
    waker: Arc<Waker>,
    state: watch::Receiver<LinkState>,
    bridge_command: String,
}

/// Channel-open requests waiting for the owner thread.
const OPEN_QUEUE: usize = 64;

impl Link {
    /// Starts the owner thread, which connects at once and keeps reconnecting forever.
    pub fn start(config: HostConfig) -> Result<Link, Error> {
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(thread_error)?;
        wake_tx.set_nonblocking(true).map_err(thread_error)?;
        wake_rx.set_nonblocking(true).map_err(thread_error)?;
        let waker = Arc::new(Waker { tx: wake_tx });
        let (opens_tx, opens_rx) = mpsc::channel(OPEN_QUEUE);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let control = Arc::new(Control::default());
        let bridge_command = config.bridge_command.clone();
        let owner = crate::owner::Owner {
            config,
            opens: opens_rx,
            control: control.clone(),
            wake_rx,
            waker: waker.clone(),
            state: state_tx,
        };
        std::thread::Builder::new()
            .name(format!("ssh {}", owner.config.name))
            .spawn(move || owner.run())
            .map_err(thread_error)?;
        Ok(Link {
            opens: opens_tx,
            control,
            waker,
            state: state_rx,
            bridge_command,
        })
    }

    /// Watches the link state (`Connecting`, `Up`, `Down`).
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// Runs `command` on the box in an exec channel of this connection.
    pub async fn exec(&self, command: &str) -> Result<Channel, Error> {
        self.open(OpenKind::Exec(command.to_string())).await
    }

    /// Runs the configured bridge command (`walkie bridge --stdio` by default).
    pub async fn bridge(&self) -> Result<Channel, Error> {
        let command = self.bridge_command.clone();
        self.exec(&command).await
    }

    /// Connects to the Unix socket at `path` on the box (direct-streamlocal; needs a key
    /// allowed to forward).
    pub async fn streamlocal(&self, path: &str) -> Result<Channel, Error> {
        self.open(OpenKind::StreamLocal(path.to_string())).await
    }

    async fn open(&self, kind: OpenKind) -> Result<Channel, Error> {
        let (reply, rx) = oneshot::channel();
        self.opens
            .send(Open { kind, reply })
            .await
            .map_err(|_| Error::Stopped)?;
        self.waker.wake();
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Reconnects now: after a user action (trusting a key, installing the key), or to skip
    /// the rest of a backoff delay. A live connection is dropped and made again.
    pub fn reconnect_now(&self) {
        self.control.reconnect.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// The link owner's application-level ping failed (it knows the protocol spoken on the
    /// channels; this crate does not): declare the link down and reconnect with backoff.
    pub fn mark_down(&self, why: &str) {
        if let Ok(mut m) = self.control.mark_down.lock() {
            *m = Some(why.to_string());
        }
        self.waker.wake();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.control.stopped.store(true, Ordering::Release);
        self.waker.wake();
    }
}

fn thread_error(e: std::io::Error) -> Error {
    Error::LinkLost(format!("cannot start the ssh thread: {e}"))
}
