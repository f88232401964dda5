//! The PTY event loop shared by every session: a small fixed pool of threads (its own tokio
//! runtime) drives every session's PTY master (non-blocking, through `AsyncFd`), its
//! emulator and the wait for its child (a pidfd), so that the host's thread count does not
//! grow with its sessions. The pool is separate from the host's runtime so that a flood's
//! parsing never delays the socket (requests, attach clients).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::{Handle, Runtime};

/// Threads of the PTY pool: one per core of the project's target machine (2 cores), so that
/// one session's reading and another's (or its own) emulation run side by side.
const POOL_THREADS: usize = 2;

/// Bytes read from a PTY at once. PTY reads rarely return more than a few KiB; the buffer
/// is one per pool thread, not one per session, so an idle session holds none.
const READ_BUF: usize = 16 * 1024;

static POOL: OnceLock<Option<Runtime>> = OnceLock::new();

thread_local! {
    static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The pool's handle; the current runtime's when the pool cannot be started (then sessions
/// share the host's runtime, which works, only less isolated).
pub(crate) fn handle() -> Handle {
    let pool = POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(POOL_THREADS)
            .thread_name("walkie-pty")
            .enable_all()
            .build()
            .map_err(|e| tracing::error!("cannot start the PTY pool: {e}"))
            .ok()
    });
    match pool {
        Some(rt) => rt.handle().clone(),
        None => Handle::current(),
    }
}

/// A session's PTY master, non-blocking, for its reader and writer tasks.
pub(crate) type Master = Arc<AsyncFd<File>>;

/// A non-blocking duplicate of `fd` registered with the current runtime (call it on the
/// pool). `O_NONBLOCK` is shared with the other duplicates of the master, which are only
/// used for `ioctl`s (resize, foreground group).
pub(crate) fn master(fd: RawFd) -> io::Result<Master> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    // SAFETY: `fd` is the session's master, open for as long as the session holds it (the
    // caller's borrow); the duplicate is owned here.
    let dup = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    let flags = fcntl(&dup, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    fcntl(
        &dup,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(io::Error::from)?;
    // SAFETY: the File owns its fd and keeps it open until the AsyncFd drops it.
    let fd = unsafe { AsyncFd::register(File::from(dup)) }.map_err(|e| e.into_parts().1)?;
    Ok(Arc::new(fd))
}

/// The next output of the PTY; `None` at its end (the last slave closed: EIO on Linux).
pub(crate) async fn read(fd: &AsyncFd<File>) -> Option<Vec<u8>> {
    loop {
        let mut guard = fd.readable().await.ok()?;
        let got = guard.try_io(|f| {
            BUF.with(|b| {
                let mut b = b.borrow_mut();
                if b.len() < READ_BUF {
                    b.resize(READ_BUF, 0);
                }
                let n = f.get_ref().read(&mut b[..])?;
                Ok(b[..n].to_vec())
            })
        });
        match got {
            Err(_would_block) => continue,
            Ok(Ok(v)) if v.is_empty() => return None,
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(_)) => return None,
        }
    }
}

/// Appends to `batch` what the PTY has now, without waiting: what a flood has queued is
/// taken as one batch. False when there was nothing (or the PTY is closed).
pub(crate) fn try_read(fd: &AsyncFd<File>, batch: &mut Vec<u8>) -> bool {
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < READ_BUF {
            b.resize(READ_BUF, 0);
        }
        match fd.get_ref().read(&mut b[..]) {
            Ok(n) if n > 0 => {
                batch.extend_from_slice(&b[..n]);
                true
            }
            _ => false,
        }
    })
}

/// Writes `data` whole, waiting (without blocking a thread) while the PTY's input is full.
pub(crate) async fn write_all(fd: &AsyncFd<File>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|f| f.get_ref().write(data)) {
            Err(_would_block) => continue,
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(())
}

/// Writes what fits of `data` now without waiting: the keystroke fast path (no task
/// hand-off when the PTY takes the bytes at once). Answers how many bytes were written.
pub(crate) fn try_write(fd: &AsyncFd<File>, data: &[u8]) -> usize {
    let mut done = 0;
    while done < data.len() {
        match fd.get_ref().write(&data[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    done
}

/// Waits for the child `pid` to exit and reaps it, without a thread: its pidfd becomes
/// readable at the exit. Without pidfds (Linux before 5.3) a blocking wait on the runtime's
/// blocking pool.
pub(crate) async fn wait(
    pid: u32,
    mut child: Box<dyn portable_pty::Child + Send + Sync>,
) -> io::Result<portable_pty::ExitStatus> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if raw < 0 {
        return tokio::task::spawn_blocking(move || child.wait())
            .await
            .map_err(io::Error::other)?;
    }
    // SAFETY: a fresh fd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    // SAFETY: the OwnedFd keeps the pidfd open until the AsyncFd drops it.
    let pidfd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    let _ = pidfd.readable().await?;
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status of our own child into `status`.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if r == pid as libc::pid_t {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(std::process::ExitStatus::from_raw(status).into())
}
