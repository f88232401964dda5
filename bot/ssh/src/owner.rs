//! The owner thread of one host: the only place libssh2 is called. It connects
//! (handshake and authentication in blocking mode, bounded by a timeout), then runs the
//! session non-blocking: one poll(2) over the connection socket and a wake-up socket,
//! serving every channel in turn (wezterm-ssh's model), sending keepalives on its own
//! schedule since libssh2 has no timer, and reconnecting with backoff when the link dies.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::{mpsc, oneshot, watch};

use crate::channel::{self, Channel, ExitStatus, In, Out, Shared, CHUNK};
use crate::config::{Auth, HostConfig};
use crate::error::Error;
use crate::keys::{authorized_keys_line, ensure_key, key_comment};
use crate::known_hosts::{check, fingerprint, host_key_prefs, known_keys, HostKey, HostKeyCheck};
use crate::link::{Control, LinkState, Open, OpenKind, Waker};

// libssh2 error codes (libssh2.h) that concern one channel, not the connection.
const EAGAIN: i32 = -37;
const CHANNEL_CODES: std::ops::RangeInclusive<i32> = -27..=-20; // OUTOFORDER .. EOF_SENT
const REQUEST_DENIED: i32 = -32;
const CHANNEL_WINDOW_FULL: i32 = -47;
const AUTHENTICATION_FAILED: i32 = -18;
const PUBLICKEY_UNVERIFIED: i32 = -19;
const FILE: i32 = -16;

/// The last few KB of an exec channel's stderr kept for its exit status.
const STDERR_TAIL: usize = 4096;

pub(crate) struct Owner {
    pub(crate) config: HostConfig,
    pub(crate) opens: mpsc::Receiver<Open>,
    pub(crate) control: Arc<Control>,
    pub(crate) wake_rx: UnixStream,
    pub(crate) waker: Arc<Waker>,
    pub(crate) state: watch::Sender<LinkState>,
}

enum End {
    Stopped,
    Reconnect,
    Down(Error),
}

impl Owner {
    pub(crate) fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            self.state.send_replace(LinkState::Connecting);
            self.control.reconnect.store(false, Ordering::Release);
            // A ping failure reported about an earlier connection says nothing of this one.
            self.take_mark_down();
            let end = match connect(&self.config) {
                Ok(conn) => {
                    attempt = 0;
                    tracing::info!(host = %self.config.name, "ssh link up");
                    self.state.send_replace(LinkState::Up {
                        latency: rtt(conn.sock.as_raw_fd()),
                    });
                    self.serve(conn)
                }
                Err(e) => End::Down(e),
            };
            let why = match end {
                End::Stopped => return,
                End::Reconnect => continue,
                End::Down(why) => why,
            };
            tracing::warn!(host = %self.config.name, "ssh link down: {why}");
            let delay = (!why.needs_user()).then(|| backoff(&self.config, attempt));
            attempt = attempt.saturating_add(1);
            self.state.send_replace(LinkState::Down {
                since: SystemTime::now(),
                why: why.clone(),
            });
            if !self.wait(delay, &why) {
                return;
            }
        }
    }

    fn stopped(&self) -> bool {
        self.control.stopped.load(Ordering::Acquire)
    }

    fn take_mark_down(&self) -> Option<String> {
        self.control
            .mark_down
            .lock()
            .ok()
            .and_then(|mut m| m.take())
    }

    fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Waits out a backoff delay (forever when `delay` is `None`: only the user can fix
    /// it) while refusing channel requests. False when the `Link` was dropped.
    fn wait(&mut self, delay: Option<Duration>, why: &Error) -> bool {
        let deadline = delay.map(|d| Instant::now() + d);
        loop {
            if self.stopped() {
                return false;
            }
            self.drain_wake();
            loop {
                match self.opens.try_recv() {
                    Ok(open) => {
                        let _ = open.reply.send(Err(Error::NotUp(why.to_string())));
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return false,
                }
            }
            if self.control.reconnect.swap(false, Ordering::AcqRel) {
                return true;
            }
            self.take_mark_down();
            let timeout = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return true,
                },
                None => None,
            };
            let mut fds = [pollfd(self.wake_rx.as_raw_fd(), libc::POLLIN)];
            poll(&mut fds, timeout);
        }
    }

    /// Runs one live connection until it dies, the user asks to reconnect, or the `Link`
    /// is dropped.
    fn serve(&mut self, mut conn: Conn) -> End {
        let keepalive = self.config.keepalive;
        loop {
            if self.stopped() {
                conn.fail_all(&Error::Stopped);
                return End::Stopped;
            }
            self.drain_wake();
            if self.control.reconnect.swap(false, Ordering::AcqRel) {
                conn.fail_all(&Error::LinkLost("reconnecting on request".into()));
                return End::Reconnect;
            }
            if let Some(why) = self.take_mark_down() {
                let why = Error::LinkLost(why);
                conn.fail_all(&why);
                return End::Down(why);
            }
            loop {
                match self.opens.try_recv() {
                    Ok(open) => conn.queue.push_back(open),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        conn.fail_all(&Error::Stopped);
                        return End::Stopped;
                    }
                }
            }
            if let Err(why) = conn.turn(&self.waker) {
                conn.fail_all(&why);
                return End::Down(why);
            }
            let now = Instant::now();
            if now >= conn.next_keepalive && !writable(conn.sock.as_raw_fd()) {
                // libssh2 sends a keepalive from a stack buffer and treats a half-sent one
                // as sent; the rest goes out only when the same buffer comes back, and
                // until then every other send is refused. Only send into a socket with room.
                conn.next_keepalive = now + Duration::from_secs(1);
            } else if now >= conn.next_keepalive {
                match conn.sess.keepalive_send() {
                    Ok(secs) => conn.next_keepalive = now + Duration::from_secs(secs.max(1).into()),
                    Err(e) => match classify(&e) {
                        Fail::Again => conn.next_keepalive = now + Duration::from_secs(1),
                        Fail::Channel(m) | Fail::Link(m) => {
                            let why = Error::LinkLost(format!("keepalive: {m}"));
                            conn.fail_all(&why);
                            return End::Down(why);
                        }
                    },
                }
                self.update_latency(&conn);
            }
            let mut events = libc::POLLRDHUP;
            let (inbound, outbound) = match conn.sess.block_directions() {
                ssh2::BlockDirections::Inbound => (true, false),
                ssh2::BlockDirections::Outbound => (false, true),
                ssh2::BlockDirections::Both => (true, true),
                ssh2::BlockDirections::None => (false, false),
            };
            if inbound || conn.wants_input() {
                events |= libc::POLLIN;
            }
            let mut timeout = conn
                .next_keepalive
                .saturating_duration_since(Instant::now())
                .min(keepalive);
            if outbound {
                // libssh2 holds a half-sent packet and flushes it at its next send. Only
                // wait for a writable socket when a turn will send (else a writable socket
                // would spin the loop); a packet of its own (window adjust, keepalive) is
                // retried within a second.
                if conn.has_outbound_work() {
                    events |= libc::POLLOUT;
                } else {
                    timeout = timeout.min(Duration::from_secs(1));
                }
            }
            let mut fds = [
                pollfd(self.wake_rx.as_raw_fd(), libc::POLLIN),
                pollfd(conn.sock.as_raw_fd(), events),
            ];
            poll(&mut fds, Some(timeout));
            if fds[1].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLRDHUP) != 0 {
                // Read the socket's error before libssh2 does (a recv consumes it).
                let error = socket_error(conn.sock.as_raw_fd());
                // Hand over what arrived before the end (output, exit statuses) first.
                let _ = conn.turn(&self.waker);
                let why = Error::LinkLost(match error {
                    Some(libc::ETIMEDOUT) => format!(
                        "no answer from {} for {:?}",
                        self.config.addr(),
                        self.config.dead_after
                    ),
                    _ => format!("{} closed the connection", self.config.addr()),
                });
                conn.fail_all(&why);
                return End::Down(why);
            }
        }
    }

    fn update_latency(&self, conn: &Conn) {
        let Some(new) = rtt(conn.sock.as_raw_fd()) else {
            return;
        };
        self.state.send_if_modified(|s| match s {
            LinkState::Up { latency } => {
                // Only changes worth a redraw (a quarter) wake the watchers.
                let worth = latency.is_none_or(|old| {
                    let (a, b) = (old.as_micros() as f64, new.as_micros() as f64);
                    (a - b).abs() > a.max(b) / 4.0
                });
                if worth {
                    *latency = Some(new);
                }
                worth
            }
            _ => false,
        });
    }
}

/// Exponential backoff, doubling from `backoff_min` to `backoff_max`, each delay scaled by
/// a random factor in [0.5, 1] so many walkies do not retry in step.
fn backoff(config: &HostConfig, attempt: u32) -> Duration {
    let base = config
        .backoff_min
        .saturating_mul(1u32 << attempt.min(16))
        .min(config.backoff_max);
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    base.mul_f64(0.5 + (r % 1000) as f64 / 2000.0)
}

enum Fail {
    Again,
    /// Only this channel is affected.
    Channel(String),
    /// The connection is unusable.
    Link(String),
}

fn classify(e: &ssh2::Error) -> Fail {
    match e.code() {
        ssh2::ErrorCode::Session(EAGAIN) => Fail::Again,
        ssh2::ErrorCode::Session(c)
            if CHANNEL_CODES.contains(&c) || c == REQUEST_DENIED || c == CHANNEL_WINDOW_FULL =>
        {
            Fail::Channel(e.message().to_string())
        }
        _ => Fail::Link(e.to_string()),
    }
}

/// ssh2's `Read`/`Write` lose the libssh2 code; the session's last error still has it.
fn classify_io(sess: &ssh2::Session, e: &std::io::Error) -> Fail {
    if e.kind() == std::io::ErrorKind::WouldBlock {
        return Fail::Again;
    }
    match ssh2::Error::last_session_error(sess).map(|se| classify(&se)) {
        Some(Fail::Again) | None => Fail::Link(e.to_string()),
        Some(f) => f,
    }
}

fn connect(config: &HostConfig) -> Result<Conn, Error> {
    let addr = config.addr();
    let unreachable = |why: String| Error::Unreachable {
        addr: addr.clone(),
        why,
    };
    let handshake = |why: String| Error::Handshake {
        addr: addr.clone(),
        why,
    };
    // The fields are public; ssh2 unwraps a NUL in the host name it checks.
    if config.host.contains('\0') || config.user.contains('\0') {
        return Err(Error::BadTarget {
            target: format!("{}@{}", config.user, addr).replace('\0', "\\0"),
            why: "a NUL character".into(),
        });
    }
    let addrs: Vec<_> = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .collect();
    let mut last = "the name has no address".to_string();
    let mut tcp = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, config.connect_timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let tcp = tcp.ok_or_else(|| unreachable(last))?;
    let _ = tcp.set_nodelay(true);
    set_user_timeout(tcp.as_raw_fd(), config.dead_after);
    // libssh2 owns one handle; this one is for poll(2) and TCP_INFO.
    let sock = tcp.try_clone().map_err(|e| unreachable(e.to_string()))?;
    let mut sess = ssh2::Session::new().map_err(|e| handshake(e.to_string()))?;
    sess.set_tcp_stream(tcp);
    sess.set_blocking(true);
    sess.set_timeout(millis(config.connect_timeout));
    let files: Vec<PathBuf> = std::iter::once(config.own_known_hosts.clone())
        .chain(config.user_known_hosts.clone())
        .collect();
    let known = known_keys(&sess, &files, &config.host, config.port);
    let supported = sess
        .supported_algs(ssh2::MethodType::HostKey)
        .unwrap_or_default();
    sess.method_pref(
        ssh2::MethodType::HostKey,
        &host_key_prefs(&known, &supported),
    )
    .map_err(|e| handshake(e.to_string()))?;
    sess.handshake().map_err(|e| handshake(e.to_string()))?;
    let key = sess
        .host_key()
        .and_then(|(blob, _)| HostKey::from_blob(&config.host, config.port, blob))
        .ok_or_else(|| handshake("the box sent no usable host key".into()))?;
    match check(&known, &key) {
        HostKeyCheck::Trusted => {}
        other => {
            // Nothing else goes to a box whose key is not trusted: not even the user name.
            let _ = sess.disconnect(None, "host key not trusted", None);
            return Err(Error::HostKey(Box::new(other)));
        }
    }
    authenticate(&sess, config)?;
    sess.set_keepalive(false, config.keepalive.as_secs().clamp(2, 3600) as u32);
    sess.set_blocking(false);
    Ok(Conn {
        sess,
        sock,
        chans: Vec::new(),
        opening: None,
        queue: VecDeque::new(),
        next_keepalive: Instant::now() + config.keepalive,
        buf: vec![0u8; CHUNK],
    })
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

fn authenticate(sess: &ssh2::Session, config: &HostConfig) -> Result<(), Error> {
    let refused = |hint: String| Error::AuthRefused {
        user: config.user.clone(),
        addr: config.addr(),
        hint,
    };
    let lost = |e: &ssh2::Error| Error::Handshake {
        addr: config.addr(),
        why: format!("during authentication: {e}"),
    };
    match &config.auth {
        Auth::KeyFile(path) => {
            let line = ensure_key(path, &key_comment())?;
            match sess.userauth_pubkey_file(&config.user, None, path, None) {
                Ok(()) if sess.authenticated() => Ok(()),
                Err(e) if e.code() == ssh2::ErrorCode::Session(FILE) => Err(Error::Key {
                    path: path.display().to_string(),
                    why: e.message().to_string(),
                }),
                Err(e)
                    if !matches!(
                        e.code(),
                        ssh2::ErrorCode::Session(AUTHENTICATION_FAILED | PUBLICKEY_UNVERIFIED)
                    ) =>
                {
                    Err(lost(&e))
                }
                _ => {
                    let entry = authorized_keys_line(&config.bridge_command, &line).unwrap_or(line);
                    Err(refused(format!(
                        "the key is not installed on the box yet: add this line to ~/.ssh/authorized_keys of {} on {}: {entry}",
                        config.user, config.host
                    )))
                }
            }
        }
        Auth::Agent { socket } => {
            let agent_err =
                |what: &str, e: &dyn std::fmt::Display| Error::Agent(format!("{what}: {e}"));
            let mut agent = sess.agent().map_err(|e| agent_err("cannot start", &e))?;
            let place = match socket {
                Some(p) => {
                    agent
                        .set_identity_path(p)
                        .map_err(|e| agent_err("bad socket path", &e))?;
                    p.display().to_string()
                }
                None => match std::env::var("SSH_AUTH_SOCK") {
                    Ok(s) if !s.is_empty() => s,
                    _ => {
                        return Err(Error::Agent(
                            "SSH_AUTH_SOCK is not set (usual under systemd): give the agent socket path in the host's config".into(),
                        ))
                    }
                },
            };
            agent
                .connect()
                .map_err(|e| agent_err(&format!("cannot reach the agent at {place}"), &e))?;
            agent
                .list_identities()
                .map_err(|e| agent_err("cannot list identities", &e))?;
            let ids = agent
                .identities()
                .map_err(|e| agent_err("cannot list identities", &e))?;
            if ids.is_empty() {
                return Err(Error::Agent(format!(
                    "the agent at {place} holds no key (ssh-add one)"
                )));
            }
            let mut tried = Vec::new();
            for id in &ids {
                if agent.userauth(&config.user, id).is_ok() && sess.authenticated() {
                    let _ = agent.disconnect();
                    return Ok(());
                }
                tried.push(format!("{} {}", fingerprint(id.blob()), id.comment()));
            }
            let _ = agent.disconnect();
            Err(refused(format!(
                "none of the agent's keys is in ~/.ssh/authorized_keys of {} on {}: tried {}",
                config.user,
                config.host,
                tried.join(", ")
            )))
        }
    }
}

/// A live, authenticated connection and its channels.
struct Conn {
    sess: ssh2::Session,
    sock: TcpStream,
    chans: Vec<Chan>,
    /// The open being negotiated: libssh2 keeps one open state per session, so opens go
    /// one at a time.
    opening: Option<Open>,
    queue: VecDeque<Open>,
    next_keepalive: Instant,
    /// Read buffer shared by every channel's turn.
    buf: Vec<u8>,
}

impl Conn {
    fn turn(&mut self, waker: &Arc<Waker>) -> Result<(), Error> {
        loop {
            if self.opening.is_none() {
                self.opening = self.queue.pop_front();
            }
            let Some(open) = &self.opening else { break };
            let r = match &open.kind {
                OpenKind::Exec(_) => self.sess.channel_session(),
                OpenKind::StreamLocal(path) => self.sess.channel_direct_streamlocal(path, None),
            };
            match r {
                Ok(ch) => {
                    let Some(open) = self.opening.take() else {
                        break;
                    };
                    let (channel, ends) = channel::pair(waker.clone());
                    let mut chan = Chan::new(ch, ends);
                    match open.kind {
                        OpenKind::Exec(command) => {
                            chan.starting = Some(Starting {
                                command,
                                reply: open.reply,
                                channel,
                            })
                        }
                        OpenKind::StreamLocal(_) => {
                            // No exit status on a socket: `Exit::wait` says so.
                            chan.exit = None;
                            // A caller that gave up drops the channel, which closes it.
                            let _ = open.reply.send(Ok(channel));
                        }
                    }
                    self.chans.push(chan);
                }
                Err(e) => match classify(&e) {
                    Fail::Again => break,
                    Fail::Channel(m) => {
                        if let Some(open) = self.opening.take() {
                            let what = match &open.kind {
                                OpenKind::Exec(_) => {
                                    "a session channel (too many at once for sshd's MaxSessions?)"
                                        .to_string()
                                }
                                // sshd answers both cases alike.
                                OpenKind::StreamLocal(p) => {
                                    format!("the socket {p} (missing, or this key may not forward)")
                                }
                            };
                            let _ = open
                                .reply
                                .send(Err(Error::ChannelRefused(format!("{what}: {m}"))));
                        }
                    }
                    Fail::Link(m) => return Err(Error::LinkLost(m)),
                },
            }
        }
        for chan in &mut self.chans {
            chan.turn(&self.sess, &mut self.buf)?;
        }
        self.chans.retain(|c| !c.closed);
        Ok(())
    }

    /// Whether the socket's input matters now (else a channel whose caller is not reading
    /// would make a readable socket spin the loop).
    fn wants_input(&self) -> bool {
        self.opening.is_some()
            || self
                .chans
                .iter()
                .any(|c| c.held.is_none() || c.out.is_some() || c.starting.is_some())
    }

    /// Whether a turn will call libssh2 to send (which flushes a half-sent packet first).
    fn has_outbound_work(&self) -> bool {
        self.opening.is_some()
            || self.chans.iter().any(|c| {
                c.out.is_some()
                    || (c.eof_wanted && !c.eof_sent)
                    || c.starting.is_some()
                    || c.closing
            })
    }

    /// Ends every channel and request with `why`, so callers see an error, not an EOF.
    fn fail_all(&mut self, why: &Error) {
        for open in self.opening.take().into_iter().chain(self.queue.drain(..)) {
            let _ = open.reply.send(Err(why.clone()));
        }
        for chan in &mut self.chans {
            chan.shared.set_lost(why.clone());
            if let Some(st) = chan.starting.take() {
                let _ = st.reply.send(Err(why.clone()));
            }
        }
        // Freeing channels may want to send CHANNEL_CLOSE: bound that on a live socket.
        self.sess.set_timeout(200);
        self.sess.set_blocking(true);
        self.chans.clear();
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.sess.set_timeout(200);
        self.sess.set_blocking(true);
        self.chans.clear();
        let _ = self.sess.disconnect(None, "walkie closes the link", None);
    }
}

/// An exec channel whose command request is still in flight.
struct Starting {
    command: String,
    reply: oneshot::Sender<Result<Channel, Error>>,
    channel: Channel,
}

struct Chan {
    ch: ssh2::Channel,
    starting: Option<Starting>,
    from_caller: mpsc::Receiver<Out>,
    to_caller: mpsc::Sender<In>,
    exit: Option<oneshot::Sender<ExitStatus>>,
    shared: Arc<Shared>,
    /// The chunk being written (the channel window may take it in parts).
    out: Option<Bytes>,
    eof_wanted: bool,
    eof_sent: bool,
    /// An item the caller's queue had no room for: nothing more is read until it goes.
    held: Option<In>,
    remote_eof: bool,
    remote_closed: bool,
    closing: bool,
    closed: bool,
    stderr: VecDeque<u8>,
}

impl Chan {
    fn new(ch: ssh2::Channel, ends: channel::ThreadEnds) -> Chan {
        Chan {
            ch,
            starting: None,
            from_caller: ends.from_caller,
            to_caller: ends.to_caller,
            exit: Some(ends.exit),
            shared: ends.shared,
            out: None,
            eof_wanted: false,
            eof_sent: false,
            held: None,
            remote_eof: false,
            remote_closed: false,
            closing: false,
            closed: false,
            stderr: VecDeque::new(),
        }
    }

    /// Ends this channel alone (the connection lives on): the caller reads `why`.
    fn fail(&mut self, why: String) {
        self.shared
            .set_lost(Error::LinkLost(format!("channel: {why}")));
        self.held = None;
        self.closing = true;
    }

    fn turn(&mut self, sess: &ssh2::Session, buf: &mut [u8]) -> Result<(), Error> {
        if let Some(st) = &self.starting {
            if st.reply.is_closed() {
                self.starting = None;
                self.closing = true;
            } else {
                match self.ch.exec(&st.command) {
                    Ok(()) => {
                        if let Some(st) = self.starting.take() {
                            // A caller that gave up drops the channel, which closes it.
                            let _ = st.reply.send(Ok(st.channel));
                        }
                    }
                    Err(e) => match classify(&e) {
                        Fail::Again => return Ok(()),
                        Fail::Channel(m) => {
                            if let Some(st) = self.starting.take() {
                                let _ = st.reply.send(Err(Error::ChannelRefused(format!(
                                    "running {:?}: {m}",
                                    st.command
                                ))));
                            }
                            self.closing = true;
                        }
                        Fail::Link(m) => return Err(Error::LinkLost(m)),
                    },
                }
            }
        }
        if !self.closing && self.to_caller.is_closed() {
            // The Channel was dropped.
            self.closing = true;
        }
        if self.closing {
            self.closed = settled(self.ch.close())?;
            return Ok(());
        }
        self.write_out(sess)?;
        if self.closing {
            return Ok(());
        }
        self.read_in(sess, buf)?;
        if self.closing {
            return Ok(());
        }
        if self.remote_eof && !self.remote_closed {
            self.remote_closed = settled(self.ch.wait_close())?;
        }
        if self.remote_closed {
            if let Some(exit) = self.exit.take() {
                let signal = self.ch.exit_signal().ok().and_then(|s| s.exit_signal);
                let code = match signal {
                    Some(_) => None,
                    None => self.ch.exit_status().ok(),
                };
                let stderr = String::from_utf8_lossy(self.stderr.make_contiguous()).into_owned();
                let _ = exit.send(ExitStatus {
                    code,
                    signal,
                    stderr,
                });
            }
            // Close once the caller has the EOF (dropping the queue before would read as a
            // lost link).
            if self.held.is_none() {
                self.closing = true;
                return self.turn(sess, buf);
            }
        }
        Ok(())
    }

    fn write_out(&mut self, sess: &ssh2::Session) -> Result<(), Error> {
        loop {
            if self.out.is_none() && !self.eof_wanted {
                match self.from_caller.try_recv() {
                    Ok(Out::Data(b)) => self.out = Some(b),
                    Ok(Out::Eof) | Err(TryRecvError::Disconnected) => self.eof_wanted = true,
                    Err(TryRecvError::Empty) => break,
                }
            }
            let Some(chunk) = &self.out else { break };
            let r = self.ch.write(chunk);
            match self.step(sess, r)? {
                Some(0) | None => break,
                Some(n) => {
                    if let Some(chunk) = &mut self.out {
                        chunk.advance(n);
                        if chunk.is_empty() {
                            self.out = None;
                        }
                    }
                }
            }
        }
        if self.closing {
            return Ok(());
        }
        if self.eof_wanted && self.out.is_none() && !self.eof_sent {
            self.eof_sent = settled(self.ch.send_eof())?;
        }
        Ok(())
    }

    /// The outcome of a read or write: `Some(n)` bytes moved, `None` to stop this direction
    /// for now (it would block, or this channel failed and is closing); an error only when
    /// the whole connection is gone.
    fn step(
        &mut self,
        sess: &ssh2::Session,
        r: std::io::Result<usize>,
    ) -> Result<Option<usize>, Error> {
        match r {
            Ok(n) => Ok(Some(n)),
            Err(e) => match classify_io(sess, &e) {
                Fail::Again => Ok(None),
                Fail::Channel(m) => {
                    self.fail(m);
                    Ok(None)
                }
                Fail::Link(m) => Err(Error::LinkLost(m)),
            },
        }
    }

    /// Queues `item` for the caller, or holds it (and stops reading) if the queue is full.
    fn push(&mut self, item: In) {
        match self.to_caller.try_send(item) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(item)) => {
                // Flag first, then retry: a reader that emptied the queue in between has
                // not seen the flag, but the retry then succeeds.
                self.shared.stalled.store(true, Ordering::Release);
                match self.to_caller.try_send(item) {
                    Ok(()) | Err(TrySendError::Closed(_)) => {
                        self.shared.stalled.store(false, Ordering::Release)
                    }
                    Err(TrySendError::Full(item)) => self.held = Some(item),
                }
            }
        }
    }

    fn read_in(&mut self, sess: &ssh2::Session, buf: &mut [u8]) -> Result<(), Error> {
        if let Some(item) = self.held.take() {
            self.push(item);
        }
        // stderr shares the channel window: drain it always, keep only its tail.
        loop {
            let r = self.ch.stderr().read(buf);
            match self.step(sess, r)? {
                Some(0) | None => break,
                Some(n) => {
                    self.stderr.extend(&buf[..n]);
                    let excess = self.stderr.len().saturating_sub(STDERR_TAIL);
                    self.stderr.drain(..excess);
                }
            }
        }
        while self.held.is_none() && !self.remote_eof && !self.closing {
            let r = self.ch.read(buf);
            match self.step(sess, r)? {
                None => break,
                Some(0) => {
                    if self.ch.eof() {
                        self.remote_eof = true;
                        self.push(In::Eof);
                    }
                    break;
                }
                Some(n) => self.push(In::Data(Bytes::copy_from_slice(&buf[..n]))),
            }
        }
        Ok(())
    }
}

/// Whether a non-blocking request (close, wait for close, EOF) has settled: done, or
/// failed for this channel only (nothing more to wait for either way).
fn settled(r: Result<(), ssh2::Error>) -> Result<bool, Error> {
    match r {
        Ok(()) => Ok(true),
        Err(e) => match classify(&e) {
            Fail::Again => Ok(false),
            Fail::Channel(_) => Ok(true),
            Fail::Link(m) => Err(Error::LinkLost(m)),
        },
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd for the call.
    // EINTR and other failures just end this wait; the caller loops.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
}

/// Whether the socket has room to send now.
fn writable(fd: RawFd) -> bool {
    let mut fds = [pollfd(fd, libc::POLLOUT)];
    poll(&mut fds, Some(Duration::ZERO));
    fds[0].revents & libc::POLLOUT != 0
}

/// Sent bytes unacknowledged for `d` make the kernel drop the connection (ETIMEDOUT): the
/// deadline that turns a silently dead box into a Down link, with keepalives giving it
/// bytes to time out on.
fn set_user_timeout(fd: RawFd, d: Duration) {
    let ms: libc::c_uint = millis(d);
    // SAFETY: a plain setsockopt with a correctly sized value on a socket we own.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&ms as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
}

/// The kernel's smoothed round-trip time of the connection.
fn rtt(fd: RawFd) -> Option<Duration> {
    // SAFETY: getsockopt fills at most `len` bytes of a zeroed, correctly sized tcp_info.
    let info = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc == 0).then_some(info)
    }?;
    (info.tcpi_rtt > 0).then(|| Duration::from_micros(info.tcpi_rtt.into()))
}

fn socket_error(fd: RawFd) -> Option<i32> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(SO_ERROR) writes one c_int.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0 && err != 0).then_some(err)
}
