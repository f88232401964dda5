//! One ssh channel as a tokio stream. Bytes go through bounded queues to and from the owner
//! thread; a full inbound queue makes the thread stop reading that channel, so the ssh
//! window closes and the remote side waits (backpressure end to end).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::PollSender;

use crate::error::Error;
use crate::link::Waker;

/// Largest chunk handed across in one queue item.
pub(crate) const CHUNK: usize = 32 * 1024;
/// Chunks queued towards the box per channel (writes wait beyond that).
pub(crate) const OUT_QUEUE: usize = 4;
/// Chunks queued towards the caller per channel (the thread stops reading beyond that).
pub(crate) const IN_QUEUE: usize = 8;

pub(crate) enum Out {
    Data(Bytes),
    Eof,
}

pub(crate) enum In {
    Data(Bytes),
    Eof,
}

/// How an exec channel's command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, when the box sent one.
    pub code: Option<i32>,
    /// The signal name (`TERM`, `KILL`...) when the command was killed.
    pub signal: Option<String>,
    /// The last few KB the command wrote to stderr (e.g. "walkie: command not found").
    pub stderr: String,
}

/// State the owner thread and the stream share.
pub(crate) struct Shared {
    /// The thread holds a chunk it could not queue: the reader must wake it after taking one.
    pub(crate) stalled: AtomicBool,
    /// Why the channel ended without a clean EOF (set before the queue is dropped).
    pub(crate) lost: Mutex<Option<Error>>,
    pub(crate) waker: Arc<Waker>,
}

impl Shared {
    pub(crate) fn set_lost(&self, why: Error) {
        if let Ok(mut l) = self.lost.lock() {
            l.get_or_insert(why);
        }
    }

    fn lost(&self) -> io::Error {
        let why = self
            .lost
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_else(|| Error::LinkLost("the connection ended".into()));
        lost_io(why)
    }
}

fn lost_io(why: Error) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, why)
}

/// Whether an I/O error from a [`Channel`] means the ssh link (or the channel) died, as
/// opposed to a clean close (which reads as EOF, never as an error).
pub fn is_link_lost(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Error>())
}

/// An open channel (exec or direct-streamlocal). Reading gives the remote output, then EOF
/// on a clean close or an error ([`is_link_lost`]) if the link died; shutting down the
/// write half sends EOF; dropping it closes the channel.
pub struct Channel {
    to_box: PollSender<Out>,
    from_box: mpsc::Receiver<In>,
    leftover: Bytes,
    eof: bool,
    shutdown: bool,
    shared: Arc<Shared>,
    exit: Option<oneshot::Receiver<ExitStatus>>,
}

/// The thread's ends of a new channel.
pub(crate) struct ThreadEnds {
    pub(crate) from_caller: mpsc::Receiver<Out>,
    pub(crate) to_caller: mpsc::Sender<In>,
    pub(crate) exit: oneshot::Sender<ExitStatus>,
    pub(crate) shared: Arc<Shared>,
}

pub(crate) fn pair(waker: Arc<Waker>) -> (Channel, ThreadEnds) {
    let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
    let (in_tx, in_rx) = mpsc::channel(IN_QUEUE);
    let (exit_tx, exit_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        stalled: AtomicBool::new(false),
        lost: Mutex::new(None),
        waker,
    });
    (
        Channel {
            to_box: PollSender::new(out_tx),
            from_box: in_rx,
            leftover: Bytes::new(),
            eof: false,
            shutdown: false,
            shared: shared.clone(),
            exit: Some(exit_rx),
        },
        ThreadEnds {
            from_caller: out_rx,
            to_caller: in_tx,
            exit: exit_tx,
            shared,
        },
    )
}

/// Waits for an exec channel's exit status.
pub struct Exit {
    rx: oneshot::Receiver<ExitStatus>,
    shared: Arc<Shared>,
}

impl Exit {
    /// The exit status once the box closed the channel; an error if the link died first
    /// (or for a direct-streamlocal channel, which has no exit status).
    pub async fn wait(self) -> Result<ExitStatus, Error> {
        match self.rx.await {
            Ok(st) => Ok(st),
            Err(_) => Err(self
                .shared
                .lost
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .unwrap_or_else(|| {
                    Error::LinkLost("the channel ended without an exit status".into())
                })),
        }
    }
}

impl Channel {
    /// The exit-status waiter (once; `None` the second time). Take it before splitting the
    /// stream.
    pub fn take_exit(&mut self) -> Option<Exit> {
        self.exit.take().map(|rx| Exit {
            rx,
            shared: self.shared.clone(),
        })
    }
}

impl AsyncRead for Channel {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.leftover.is_empty() {
                let n = this.leftover.len().min(buf.remaining());
                buf.put_slice(&this.leftover.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let item = ready!(this.from_box.poll_recv(cx));
            if this.shared.stalled.swap(false, Ordering::AcqRel) {
                this.shared.waker.wake();
            }
            match item {
                Some(In::Data(b)) => this.leftover = b,
                Some(In::Eof) => this.eof = true,
                // The queue ended without an EOF: the channel or the link died.
                None => return Poll::Ready(Err(this.shared.lost())),
            }
        }
    }
}

impl AsyncWrite for Channel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.shutdown {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if ready!(this.to_box.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(this.shared.lost()));
        }
        let n = buf.len().min(CHUNK);
        if this
            .to_box
            .send_item(Out::Data(Bytes::copy_from_slice(&buf[..n])))
            .is_err()
        {
            return Poll::Ready(Err(this.shared.lost()));
        }
        this.shared.waker.wake();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued bytes belong to the owner thread, which sends them as the window allows.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.shutdown {
            return Poll::Ready(Ok(()));
        }
        if ready!(this.to_box.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(this.shared.lost()));
        }
        if this.to_box.send_item(Out::Eof).is_err() {
            return Poll::Ready(Err(this.shared.lost()));
        }
        this.shutdown = true;
        this.shared.waker.wake();
        Poll::Ready(Ok(()))
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // Dropping the queues tells the thread to close the channel; wake it to see that.
        self.to_box.close();
        self.from_box.close();
        self.shared.waker.wake();
    }
}
