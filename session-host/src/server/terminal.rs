//! A terminal handed over by `walkie attach` (`Request::Attach { terminal: true }`): the
//! client passes its terminal's fd over the socket (`SCM_RIGHTS`) and the host reads the keys
//! and writes the output itself, as tmux's server does, so that a keystroke's echo goes
//! terminal -> host -> PTY -> host -> terminal with no client process in between (issue #18
//! target 2: tmux's echo path has none).
//!
//! The fd is the client's own open file description of the terminal (it reopens its stdin),
//! so the `O_NONBLOCK` set here never reaches the user's shell. The host writes it without a
//! writable registration (each write would make it writable and wake the loop for nothing);
//! only a write that finds the terminal full waits, through a registration made for that wait.

use std::fs::File;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::UnixStream;

/// The byte that carries the terminal's fd.
pub(crate) const TERMINAL_BYTE: u8 = b'T';

/// How long the host waits for the terminal after saying it takes it.
const HANDOVER_WITHIN: Duration = Duration::from_secs(10);

/// The client's terminal, held by the host for one attach.
pub(super) struct Terminal {
    fd: AsyncFd<File>,
}

impl Terminal {
    /// Receives the terminal on `sock` (nothing else may be buffered on it: the client sends
    /// the fd right after the host said it takes it, and nothing before).
    pub(super) async fn receive(sock: &UnixStream) -> io::Result<Terminal> {
        let fd = tokio::time::timeout(HANDOVER_WITHIN, async {
            loop {
                sock.readable().await?;
                match sock.try_io(Interest::READABLE, || recv_fd(sock.as_raw_fd())) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return r,
                }
            }
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no terminal came"))??;
        if !nix::unistd::isatty(fd.as_fd()).unwrap_or(false) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the fd passed is not a terminal",
            ));
        }
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = fcntl(&fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        fcntl(
            &fd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .map_err(io::Error::from)?;
        // Readable only: see the module's comment.
        // SAFETY: the File owns its fd and keeps it open until the AsyncFd drops it.
        let fd = unsafe { AsyncFd::register_with_interest(File::from(fd), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Terminal { fd })
    }

    /// The next keys; `None` when the terminal is gone (hung up: EIO, or closed).
    pub(super) async fn read(&self) -> Option<Vec<u8>> {
        loop {
            let mut guard = self.fd.readable().await.ok()?;
            let mut buf = [0u8; 4096];
            match guard.try_io(|f| f.get_ref().read(&mut buf)) {
                Err(_would_block) => continue,
                Ok(Ok(0)) => return None,
                Ok(Ok(n)) => return Some(buf[..n].to_vec()),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(_)) => return None,
            }
        }
    }

    /// Writes `data` whole; while the terminal is full (a slow ssh link), waits for it
    /// without blocking the thread.
    pub(super) async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        let mut waiting: Option<AsyncFd<OwnedFd>> = None;
        while !data.is_empty() {
            match self.fd.get_ref().write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let w = match &waiting {
                        Some(w) => w,
                        // A duplicate fd of its own, so that this writable registration
                        // goes when the wait is over and the readable one stays.
                        None => {
                            let dup = self.fd.get_ref().as_fd().try_clone_to_owned()?;
                            // SAFETY: the OwnedFd is kept open until the AsyncFd drops it.
                            let w =
                                unsafe { AsyncFd::register_with_interest(dup, Interest::WRITABLE) }
                                    .map_err(|e| e.into_parts().1)?;
                            waiting.insert(w)
                        }
                    };
                    w.writable().await?.clear_ready();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// One `recvmsg` of the handover: the byte and exactly one fd (any other fds are closed).
fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let (got, truncated, bytes) = {
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            sock,
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let mut got: Vec<OwnedFd> = Vec::new();
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: SCM_RIGHTS installed these fds in this process; nothing else owns
                // them.
                got.extend(
                    fds.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        (got, msg.flags.contains(MsgFlags::MSG_CTRUNC), msg.bytes)
    };
    let mut got = got;
    if bytes == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if byte[0] != TERMINAL_BYTE || got.len() != 1 || truncated {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "expected the terminal's fd and nothing else",
        ));
    }
    Ok(got.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{sendmsg, ControlMessage};
    use std::io::IoSlice;

    fn send(sock: &UnixStream, byte: &[u8], fds: &[RawFd]) {
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(byte)],
            cmsgs,
            MsgFlags::empty(),
            None,
        )
        .expect("sendmsg");
    }

    #[tokio::test]
    async fn a_terminal_is_taken_and_anything_else_refused() {
        // A real terminal: keys typed on the PTY's master are read, output reaches it.
        let pty = nix::pty::openpty(None, None).expect("openpty");
        // Raw, as `walkie attach` leaves it: keys readable at once, no echo.
        let mut raw = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
        nix::sys::termios::cfmakeraw(&mut raw);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &raw).unwrap();
        let (client, host) = UnixStream::pair().expect("pair");
        send(&client, &[TERMINAL_BYTE], &[pty.slave.as_raw_fd()]);
        let t = Terminal::receive(&host).await.expect("a terminal");
        let mut master = File::from(pty.master);
        master.write_all(b"k").unwrap();
        let keys = tokio::time::timeout(Duration::from_secs(10), t.read()).await;
        assert_eq!(keys.expect("the keys").as_deref(), Some(&b"k"[..]));
        t.write_all(b"painted").await.unwrap();
        let mut got = [0u8; 7];
        master.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"painted");

        // A pipe is not a terminal.
        let (r, _w) = nix::unistd::pipe().expect("pipe");
        let (client, host) = UnixStream::pair().expect("pair");
        send(&client, &[TERMINAL_BYTE], &[r.as_raw_fd()]);
        let e = Terminal::receive(&host).await.err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");

        // The byte without an fd, or a frame where the handover should be.
        let (client, host) = UnixStream::pair().expect("pair");
        send(&client, &[TERMINAL_BYTE], &[]);
        let e = Terminal::receive(&host).await.err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let (client, host) = UnixStream::pair().expect("pair");
        send(&client, b"\0", &[pty.slave.as_raw_fd()]);
        let e = Terminal::receive(&host).await.err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");

        // The client went away without handing anything over.
        let (client, host) = UnixStream::pair().expect("pair");
        drop(client);
        let e = Terminal::receive(&host).await.err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    }
}
