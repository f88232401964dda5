//! The relay inside an `allowlist` sandbox: 127.0.0.1:PORT (what `HTTP(S)_PROXY` names) to
//! the proxy's Unix socket bound in from the host. The sandbox's network namespace has only
//! loopback, so this socket is its one way out.
//!
//! It runs as a detached grandchild of the inner trampoline: in its own session (no
//! controlling terminal, so Ctrl-C and the PTY's SIGHUP do not reach it), reparented to
//! bwrap's pid 1, and killed with the pid namespace when the agent exits.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setsid, ForkResult};

use crate::Error;

/// Binds 127.0.0.1:`port` now (so the agent's first request cannot race the relay) and
/// leaves a detached process relaying it to `socket`.
///
/// Must be called while the process is single-threaded (the inner trampoline is): the child
/// goes on running Rust code after fork.
pub fn spawn_detached(port: u16, socket: &Path) -> Result<(), Error> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(Error::io(format!(
        "binding the proxy relay on 127.0.0.1:{port}"
    )))?;
    let socket = socket.to_path_buf();
    // SAFETY: the caller is single-threaded (documented above), so the child has no locks
    // held by threads that do not exist in it.
    match unsafe { fork() }.map_err(|e| Error::Io {
        what: "forking the proxy relay".into(),
        source: e.into(),
    })? {
        ForkResult::Parent { child } => {
            drop(listener);
            // The intermediate child exits at once, 0 once the relay is forked.
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                other => Err(Error::Io {
                    what: format!("starting the proxy relay ({other:?})"),
                    source: std::io::Error::other("fork failed"),
                }),
            }
        }
        ForkResult::Child => {
            // SAFETY: still single-threaded in the child.
            let code = match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    let _ = setsid();
                    detach_stdio();
                    serve(&listener, &socket);
                    0
                }
                Ok(ForkResult::Parent { .. }) => 0,
                Err(_) => 1,
            };
            // Exit without running the parent's atexit handlers or destructors.
            // SAFETY: _exit is always safe.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Points stdin/stdout/stderr at /dev/null so the relay does not hold the session's PTY open.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// Accepts forever; one pair of threads per connection.
pub(crate) fn serve(listener: &TcpListener, socket: &Path) {
    for client in listener.incoming() {
        let Ok(client) = client else {
            continue;
        };
        let socket: PathBuf = socket.to_path_buf();
        std::thread::spawn(move || relay(client, &socket));
    }
}

fn relay(client: TcpStream, socket: &Path) {
    let Ok(upstream) = UnixStream::connect(socket) else {
        // Nothing to relay to: the proxy is gone. Closing tells the client at once.
        return;
    };
    let (Ok(client_read), Ok(upstream_write)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        copy(client_read, &upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    });
    copy(upstream, &client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
}

fn copy(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn relays_bytes_both_ways_and_half_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.sock");
        let unix = UnixListener::bind(&path).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        std::thread::spawn(move || serve(&tcp, &path));
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = unix.accept().unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            conn.write_all(&got).unwrap();
            conn.write_all(b"!").unwrap();
        });
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        client.write_all(b"hello").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        client.read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello!");
        echo.join().unwrap();
    }
}
