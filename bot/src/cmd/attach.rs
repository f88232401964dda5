//! `walkie attach NAME`: this terminal becomes the session's terminal.
//!
//! Raw mode, an immediate repaint from the host's emulator, input forwarded, SIGWINCH sent on
//! as a resize. Detach with `Ctrl-\` then `d` (`Ctrl-\` twice types one `Ctrl-\`). The
//! terminal is restored however the attach ends (detach, exit, error, lost connection),
//! because [`RawMode`] restores it on drop.
//!
//! On this machine the terminal itself is handed to the host (its fd over the socket, as
//! tmux's client hands its terminal to tmux's server): the host reads the keys and paints
//! the screen, and this process only passes on resizes and waits for the end. Over ssh to a
//! configured host (a terminal cannot cross the link) the bytes are relayed as frames.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use nix::sys::termios::{self, SetArg, Termios};
use tokio::signal::unix::{signal, SignalKind};
use walkie_host_proto::client::{Client, Stream};
use walkie_host_proto::keys::filter_detach;
use walkie_host_proto::protocol::{Frame, Reply, Request};

/// Puts the terminal in raw mode; restores it when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> anyhow::Result<RawMode> {
        let saved = termios::tcgetattr(fd).context("reading terminal settings")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).context("setting raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

fn term_size() -> (u16, u16) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
    let ok = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (ws.ws_col, ws.ws_row)
    } else {
        (80, 24)
    }
}

/// The terminal's input, read on the client's one thread: the key goes from the terminal to
/// the socket with no hand-off between threads (the echo path is measured against tmux's,
/// which has none).
enum Input {
    /// The terminal opened afresh (its own open file description), non-blocking, so that
    /// `O_NONBLOCK` never reaches the user's shell through the shared stdin and stdout.
    Fd(tokio::io::unix::AsyncFd<std::fs::File>),
    /// Where the terminal cannot be opened again: a plain thread doing blocking reads. Not
    /// tokio's stdin: a blocking read of the terminal cannot be cancelled, and tokio would
    /// wait for it at shutdown, so the client would hang after a detach.
    Thread(tokio::sync::mpsc::Receiver<Vec<u8>>),
}

impl Input {
    fn open() -> anyhow::Result<Input> {
        use std::os::unix::fs::OpenOptionsExt;
        let reopened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open("/proc/self/fd/0")
            // SAFETY: the File owns its fd and keeps it open until the AsyncFd drops it.
            // Readable only: the terminal turns writable at every frame written to it, and
            // each such edge would wake the loop for nothing.
            .and_then(|f| {
                unsafe {
                    tokio::io::unix::AsyncFd::register_with_interest(
                        f,
                        tokio::io::Interest::READABLE,
                    )
                }
                .map_err(|e| e.into_parts().1)
            });
        match reopened {
            Ok(fd) => Ok(Input::Fd(fd)),
            Err(e) => {
                tracing::debug!("terminal not reopened ({e}): reading it on a thread");
                Input::thread()
            }
        }
    }

    fn thread() -> anyhow::Result<Input> {
        let (in_tx, in_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
        std::thread::Builder::new()
            .name("attach-stdin".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = vec![0u8; 4096];
                loop {
                    match std::io::Read::read(&mut stdin, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if in_tx.blocking_send(buf[..n].to_vec()).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .context("starting the input thread")?;
        Ok(Input::Thread(in_rx))
    }

    /// The next keys; `None` when the terminal is gone (hung up, closed).
    async fn next(&mut self) -> Option<Vec<u8>> {
        match self {
            Input::Thread(rx) => rx.recv().await,
            Input::Fd(fd) => loop {
                let mut guard = fd.readable().await.ok()?;
                let mut buf = [0u8; 4096];
                match std::io::Read::read(&mut guard.get_inner(), &mut buf) {
                    Ok(0) => return None,
                    Ok(n) => {
                        if n < buf.len() {
                            // A short read took all there was: wait for the next edge
                            // instead of reading once more for an EAGAIN (tokio clears
                            // only if no newer readiness came meanwhile).
                            guard.clear_ready();
                        }
                        return Some(buf[..n].to_vec());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return None,
                }
            },
        }
    }
}

/// The terminal opened afresh for the host (its own open file description, read and write),
/// `None` where it cannot be (then the bytes are relayed).
fn terminal_for_host() -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/proc/self/fd/0")
        .map_err(|e| tracing::debug!("terminal not reopened ({e}): relaying it"))
        .ok()
}

/// Hands `tty` to the host over `socket`: one byte with the fd (`SCM_RIGHTS`).
fn hand_over(socket: &OwnedFd, tty: &std::fs::File) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [tty.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(b"T")];
    loop {
        match sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                // The socket is non-blocking (the runtime's): wait until it takes a byte.
                let mut pfd = libc::pollfd {
                    fd: socket.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: poll reads and writes the one pollfd we own.
                unsafe { libc::poll(&mut pfd, 1, 100) };
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes a frame of output to the terminal in as few `write`s as it takes (usually one):
/// stdout's own line buffering would split a frame at its last newline and write twice.
fn write_out(mut data: &[u8]) -> std::io::Result<()> {
    // SAFETY: fd 1 is open for the whole process; ManuallyDrop never closes it.
    let out = std::mem::ManuallyDrop::new(unsafe {
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(libc::STDOUT_FILENO)
    });
    while !data.is_empty() {
        match (&*out).write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Someone else made the terminal non-blocking: wait until it takes more.
                let mut pfd = libc::pollfd {
                    fd: libc::STDOUT_FILENO,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: poll reads and writes the one pollfd we own.
                unsafe { libc::poll(&mut pfd, 1, 100) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Restores what a full-screen program may have changed in the user's terminal.
const RESET_MODES: &[u8] =
    b"\x1b[0m\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1l\x1b>";

/// Keys from the terminal when this client reads it; never ready when the host does.
async fn next_keys(input: &mut Option<Input>) -> Option<Vec<u8>> {
    match input {
        Some(i) => i.next().await,
        None => std::future::pending().await,
    }
}

/// Attaches this terminal to `name`; `socket` is the local host's socket, to hand the
/// terminal over on (`None`: relay the bytes).
pub(crate) async fn attach<S: Stream>(
    mut client: Client<S>,
    socket: Option<OwnedFd>,
    name: &str,
) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    if !nix::unistd::isatty(stdin.as_fd()).unwrap_or(false) {
        anyhow::bail!("attach needs a terminal; over ssh use `ssh -t HOST walkie attach {name}`");
    }
    let (cols, rows) = term_size();
    let handover = socket.and_then(|s| terminal_for_host().map(|tty| (s, tty)));
    let (info, host_reads) = client.attach(name, cols, rows, handover.is_some()).await?;
    let live = info.state.is_live();
    let mut conn = client.into_framed();
    let mut out = std::io::stdout();
    let raw = RawMode::enter(stdin.as_fd())?;
    if live {
        // The alternate screen keeps the user's own scrollback intact, as tmux does.
        out.write_all(b"\x1b[?1049h")?;
    }
    out.flush()?;

    let mut winch =
        signal(SignalKind::window_change()).context("installing the SIGWINCH handler")?;
    let mut input = match (host_reads, handover) {
        (true, Some((socket, tty))) => {
            // After the alternate screen above: the host paints from here on.
            hand_over(&socket, &tty).context("handing the terminal to the host")?;
            None
        }
        (true, None) => anyhow::bail!("the host asked for a terminal it was not offered"),
        (false, _) => Some(Input::open().context("reading the terminal")?),
    };
    let mut stdin_open = true;
    let mut armed = false;
    let outcome: anyhow::Result<String> = async {
        loop {
            tokio::select! {
                f = conn.next() => match f {
                    None => return Ok("[lost connection to the walkie host]".to_string()),
                    Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading from the host")),
                    Some(Ok(Frame::Data(b))) => write_out(&b).context("writing to the terminal")?,
                    Some(Ok(Frame::Reply(Reply::Exited { state }))) => {
                        return Ok(format!("[{name} {}]", state.label()));
                    }
                    Some(Ok(Frame::Reply(Reply::Detached))) => {
                        return Ok(format!("[detached from {name}]"));
                    }
                    Some(Ok(Frame::Reply(Reply::Error { message, .. }))) => {
                        anyhow::bail!("{message}");
                    }
                    Some(Ok(_)) => {}
                },
                chunk = next_keys(&mut input), if stdin_open => {
                    let Some(chunk) = chunk else {
                        // The terminal went away (ssh dropped): detach, leave the session running.
                        stdin_open = false;
                        conn.send(Frame::Request(Request::Detach)).await?;
                        continue;
                    };
                    let (fwd, detach) = filter_detach(&chunk, &mut armed);
                    if !fwd.is_empty() {
                        conn.send(Frame::Data(Bytes::from(fwd))).await?;
                    }
                    if detach {
                        conn.send(Frame::Request(Request::Detach)).await?;
                    }
                }
                _ = winch.recv() => {
                    let (cols, rows) = term_size();
                    conn.send(Frame::Request(Request::Resize { cols, rows })).await?;
                }
            }
        }
    }
    .await;
    out.write_all(RESET_MODES)?;
    if live {
        out.write_all(b"\x1b[?1049l")?;
    } else {
        out.write_all(b"\r\n")?;
    }
    out.flush()?;
    drop(raw);
    let msg = outcome?;
    println!("{msg}");
    Ok(ExitCode::SUCCESS)
}
