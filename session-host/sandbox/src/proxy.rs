//! The allowlist proxy of one session: HTTP/1.1 `CONNECT host:port` and absolute-form
//! `GET http://host/...` on a Unix socket (0600, peer uid checked) that bwrap binds into the
//! sandbox. A domain on the allowlist (exact, or `*.suffix`) goes through; any other one waits
//! for the decision callback (the phone's card) up to a timeout, then is denied with a 403
//! that says why. Blocked attempts are kept in a bounded ring for the boundary card.
//!
//! Rules apply live: [`Proxy::allow_domain`] and the callback's "for this session"/"always"
//! answers change the list for the next connection.
//!
//! Some domains are denied without asking ([`ProxyOptions::unasked`]): what an agent fetches
//! by itself at every start and does without (Codex's announcement tip), which would put a
//! card on the phone each time a session starts. They are logged as blocked attempts like
//! any denial, so the card offers to allow them, and an allow rule for them wins.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::Error;

/// A request head larger than this is refused (a proxy request head is a few hundred bytes).
const MAX_HEAD: usize = 16 * 1024;
/// A client that has not sent its request head by then is dropped.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait for a slot.
const MAX_CONNECTIONS: usize = 256;
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A connection the allowlist does not cover, as the callback sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub host: String,
    pub port: u16,
}

/// The phone's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// This one connection.
    AllowOnce,
    /// The domain, until the session ends.
    AllowSession,
    /// The domain, and the caller adds it to the profile.
    Always,
    /// Refused; `reason` says by whom (the phone user as audited: "denied by Ann (Telegram
    /// user 42)"), for the 403's body and the card.
    Deny { reason: String },
    /// Nobody answered in time (denied, with the timeout as the reason).
    NoAnswer,
}

/// The decision callback: asked for each connection the allowlist does not cover.
pub type Decide =
    Arc<dyn Fn(AccessRequest) -> Pin<Box<dyn Future<Output = Decision> + Send>> + Send + Sync>;

/// A blocked attempt, for the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    pub at: SystemTime,
    pub host: String,
    pub port: u16,
    pub reason: String,
}

/// Name resolution for upstream connections, with fixed answers for chosen names (tests map
/// names to 127.0.0.1).
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    overrides: HashMap<String, IpAddr>,
}

impl Resolver {
    pub fn with_override(mut self, host: &str, ip: IpAddr) -> Resolver {
        self.overrides.insert(host.to_ascii_lowercase(), ip);
        self
    }

    /// Names that resolve only to loopback are refused: an allowed domain must not become a way
    /// to the host's own local services. An IP address asked for by itself is connected as is
    /// (it was checked, and asked about, as that address).
    async fn connect(&self, host: &str, port: u16) -> std::io::Result<TcpStream> {
        if let Some(ip) = self.overrides.get(host) {
            return TcpStream::connect(SocketAddr::new(*ip, port)).await;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return TcpStream::connect(SocketAddr::new(ip, port)).await;
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await?
            .filter(|a| !a.ip().is_loopback() && !a.ip().is_unspecified())
            .collect();
        if addrs.is_empty() {
            return Err(std::io::Error::other(format!(
                "{host} resolves to no address outside this machine"
            )));
        }
        TcpStream::connect(&addrs[..]).await
    }
}

/// A domain denied without asking, and why (for the 403, the blocked log and the card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unasked {
    /// A rule as in the allowlist: `raw.githubusercontent.com`, `*.example.com`.
    pub rule: String,
    /// What connects there: "Codex's announcement tip, fetched at every start".
    pub why: String,
}

#[derive(Clone)]
pub struct ProxyOptions {
    /// Domains let through without asking: `pypi.org`, `*.pythonhosted.org`.
    pub allow: Vec<String>,
    /// Domains not on `allow` that are denied without asking the callback.
    pub unasked: Vec<Unasked>,
    /// How long a connection waits for the callback; then it is denied.
    pub ask_timeout: Duration,
    /// How many blocked attempts are kept.
    pub log_capacity: usize,
    pub resolver: Resolver,
}

impl Default for ProxyOptions {
    fn default() -> ProxyOptions {
        ProxyOptions {
            allow: Vec::new(),
            unasked: Vec::new(),
            ask_timeout: Duration::from_secs(120),
            log_capacity: 50,
            resolver: Resolver::default(),
        }
    }
}

/// The connections waiting on each question in flight, by host:port.
type Waiters = HashMap<(String, u16), Vec<oneshot::Sender<Outcome>>>;

struct Shared {
    allow: Mutex<Vec<String>>,
    unasked: Vec<Unasked>,
    blocked: Mutex<VecDeque<Blocked>>,
    log_capacity: usize,
    ask_timeout: Duration,
    resolver: Resolver,
    decide: Decide,
    uid: u32,
    /// Questions in flight by host:port, with the connections waiting for their answer.
    pending: Mutex<Waiters>,
}

/// A running proxy; dropping it stops it and removes its socket.
pub struct Proxy {
    shared: Arc<Shared>,
    socket: PathBuf,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the lists half-updated (single pushes),
    // so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `rule` (`example.com`, `*.example.com`, or `*` for every host) covers `host`. `*.example.com` does not cover
/// `example.com` itself.
pub fn domain_matches(rule: &str, host: &str) -> bool {
    let rule = rule.trim().trim_end_matches('.').to_ascii_lowercase();
    // `*` alone: every domain (the network opened from the phone, live).
    if rule == "*" {
        return true;
    }
    let host = host.trim_end_matches('.');
    match rule.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(&suffix)
                && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => host == rule,
    }
}

impl Proxy {
    /// Binds `socket` (replacing a stale one), restricts it to the owner and serves.
    pub async fn bind(
        socket: &Path,
        options: ProxyOptions,
        decide: Decide,
    ) -> Result<Proxy, Error> {
        if socket.exists() {
            std::fs::remove_file(socket).map_err(Error::io(format!(
                "removing the stale socket {}",
                socket.display()
            )))?;
        }
        let listener = UnixListener::bind(socket)
            .map_err(Error::io(format!("binding {}", socket.display())))?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
            .map_err(Error::io(format!("chmod 0600 {}", socket.display())))?;
        let shared = Arc::new(Shared {
            allow: Mutex::new(options.allow),
            unasked: options.unasked,
            blocked: Mutex::new(VecDeque::new()),
            log_capacity: options.log_capacity.max(1),
            ask_timeout: options.ask_timeout,
            resolver: options.resolver,
            decide,
            uid: nix::unistd::geteuid().as_raw(),
            pending: Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Proxy {
            shared,
            socket: socket.to_path_buf(),
            task,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Adds a domain rule for the rest of the session.
    pub fn allow_domain(&self, rule: &str) {
        let mut allow = lock(&self.shared.allow);
        if !allow.iter().any(|r| r == rule) {
            allow.push(rule.to_string());
        }
    }

    pub fn allowed(&self) -> Vec<String> {
        lock(&self.shared.allow).clone()
    }

    /// Connections waiting for an answer (the askers and those waiting on their question).
    pub fn waiting(&self) -> usize {
        lock(&self.shared.pending)
            .values()
            .map(|w| 1 + w.len())
            .sum()
    }

    /// The last blocked attempts, oldest first.
    pub fn blocked(&self) -> Vec<Blocked> {
        lock(&self.shared.blocked).iter().cloned().collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

async fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let conn = match listener.accept().await {
            Ok((conn, _)) => conn,
            Err(e) => {
                // Out of descriptors and the like: do not spin on the error.
                tracing::warn!("proxy: accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let peer_ok = conn
            .peer_cred()
            .map(|c| c.uid() == shared.uid)
            .unwrap_or(false);
        if !peer_ok {
            tracing::warn!("proxy: refused a connection from another user");
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(conn, &shared).await {
                tracing::debug!("proxy connection ended: {e}");
            }
            drop(permit);
        });
    }
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    /// For absolute-form requests: the head rewritten to origin-form, sent upstream first.
    forward_head: Option<Vec<u8>>,
}

async fn serve(mut conn: UnixStream, shared: &Shared) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut conn, &mut buf)).await {
        Ok(Ok(Some(end))) => end,
        Ok(Ok(None)) => {
            return respond(
                &mut conn,
                400,
                "Bad Request",
                "walkie proxy: the request head is too long or incomplete\n",
            )
            .await
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let target = match parse_head(&buf[..head_end]) {
        Ok(t) => t,
        Err(why) => {
            return respond(
                &mut conn,
                400,
                "Bad Request",
                &format!("walkie proxy: {why}\n"),
            )
            .await
        }
    };
    let rest = buf[head_end..].to_vec();

    if let Err(reason) = admit(shared, &target.host, target.port).await {
        record(shared, &target.host, target.port, &reason);
        let body = format!(
            "walkie sandbox: connection to {}:{} denied: {reason}\n",
            target.host, target.port
        );
        return respond(&mut conn, 403, "Forbidden", &body).await;
    }

    let upstream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        shared.resolver.connect(&target.host, target.port),
    )
    .await;
    let mut upstream = match upstream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let body = format!(
                "walkie proxy: cannot reach {}:{}: {e}\n",
                target.host, target.port
            );
            return respond(&mut conn, 502, "Bad Gateway", &body).await;
        }
        Err(_) => {
            let body = format!(
                "walkie proxy: {}:{} did not answer within {CONNECT_TIMEOUT:?}\n",
                target.host, target.port
            );
            return respond(&mut conn, 504, "Gateway Timeout", &body).await;
        }
    };
    match &target.forward_head {
        Some(head) => upstream.write_all(head).await?,
        None => {
            conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?
        }
    }
    if !rest.is_empty() {
        upstream.write_all(&rest).await?;
    }
    tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
    Ok(())
}

/// Ok when the list covers the host or the callback allows it; Err(reason) otherwise.
///
/// One question per target at a time: connections to a host:port already being asked about
/// wait for that answer instead of putting a second card on the phone. "For this session",
/// "always" and "deny" answer them all; "once" lets only the asking connection through, and
/// the waiting ones ask again.
async fn admit(shared: &Shared, host: &str, port: u16) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + shared.ask_timeout;
    let key = (host.to_string(), port);
    loop {
        if lock(&shared.allow)
            .iter()
            .any(|rule| domain_matches(rule, host))
        {
            return Ok(());
        }
        if let Some(u) = shared
            .unasked
            .iter()
            .find(|u| domain_matches(&u.rule, host))
        {
            return Err(format!(
                "denied without asking: {} (allow {host} to let it through)",
                u.why
            ));
        }
        let joined = {
            let mut pending = lock(&shared.pending);
            match pending.get_mut(&key) {
                Some(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    pending.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        let Some(answer) = joined else {
            let mut asking = Asking {
                shared,
                key: key.clone(),
                outcome: Outcome::Retry,
            };
            let (result, outcome) = ask(shared, host, port, deadline).await;
            asking.outcome = outcome;
            return result;
        };
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(Outcome::Allowed)) => return Ok(()),
            Ok(Ok(Outcome::Denied(reason))) => return Err(reason),
            Ok(Ok(Outcome::Retry) | Err(_)) => continue,
            Err(_) => return Err(timeout_reason(shared)),
        }
    }
}

/// What the connections waiting on a question get.
#[derive(Debug, Clone)]
enum Outcome {
    Allowed,
    /// The answer was for the asking connection only (or it went away): ask again.
    Retry,
    Denied(String),
}

/// The question in flight for one target; dropping it (answered, or the asking connection
/// cancelled) hands the outcome to the waiters.
struct Asking<'a> {
    shared: &'a Shared,
    key: (String, u16),
    outcome: Outcome,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        let waiters = lock(&self.shared.pending)
            .remove(&self.key)
            .unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(self.outcome.clone());
        }
    }
}

fn timeout_reason(shared: &Shared) -> String {
    format!(
        "not on the allowlist and no answer within {:?}",
        shared.ask_timeout
    )
}

async fn ask(
    shared: &Shared,
    host: &str,
    port: u16,
    deadline: tokio::time::Instant,
) -> (Result<(), String>, Outcome) {
    let request = AccessRequest {
        host: host.to_string(),
        port,
    };
    match tokio::time::timeout_at(deadline, (shared.decide)(request)).await {
        Ok(Decision::AllowOnce) => (Ok(()), Outcome::Retry),
        Ok(Decision::AllowSession | Decision::Always) => {
            let mut allow = lock(&shared.allow);
            if !allow.iter().any(|r| r == host) {
                allow.push(host.to_string());
            }
            (Ok(()), Outcome::Allowed)
        }
        Ok(Decision::Deny { reason }) => {
            let reason = if reason.trim().is_empty() {
                "denied".to_string()
            } else {
                reason
            };
            (Err(reason.clone()), Outcome::Denied(reason))
        }
        Ok(Decision::NoAnswer) | Err(_) => {
            let reason = timeout_reason(shared);
            (Err(reason.clone()), Outcome::Denied(reason))
        }
    }
}

fn record(shared: &Shared, host: &str, port: u16, reason: &str) {
    let mut log = lock(&shared.blocked);
    while log.len() >= shared.log_capacity {
        log.pop_front();
    }
    log.push_back(Blocked {
        at: SystemTime::now(),
        host: host.to_string(),
        port,
        reason: reason.to_string(),
    });
}

/// Reads until the end of the head; Some(index after "\r\n\r\n"), None when too long or
/// the client closed early.
async fn read_head(conn: &mut UnixStream, buf: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(at + 4));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_head(head: &[u8]) -> Result<Target, String> {
    let text =
        std::str::from_utf8(head).map_err(|_| "the request head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, uri, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(u), Some(v), None) if v.starts_with("HTTP/1.") => (m, u, v),
        _ => return Err(format!("not an HTTP/1.x request line: {request_line:?}")),
    };
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_host_port(uri, None)?;
        return Ok(Target {
            host,
            port,
            forward_head: None,
        });
    }
    let Some(rest) = uri.strip_prefix("http://") else {
        return Err(format!(
            "only CONNECT and absolute http:// requests are proxied, not {method} {uri}"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_host_port(authority, Some(80))?;
    // One request per upstream connection: with keep-alive a second request on the same
    // client connection would reach this upstream without being checked.
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if [
            "connection",
            "proxy-connection",
            "proxy-authorization",
            "keep-alive",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(Target {
        host,
        port,
        forward_head: Some(out.into_bytes()),
    })
}

fn split_host_port(authority: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6
            .split_once(']')
            .ok_or_else(|| format!("bad address {authority:?}"))?;
        (h, rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match (port, default_port) {
        (Some(p), _) => p
            .parse::<u16>()
            .map_err(|_| format!("bad port in {authority:?}"))?,
        (None, Some(d)) => d,
        (None, None) => return Err(format!("CONNECT needs host:port, got {authority:?}")),
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if !valid {
        return Err(format!("bad host in {authority:?}"));
    }
    Ok((host.to_ascii_lowercase(), port))
}

async fn respond(
    conn: &mut UnixStream,
    code: u16,
    status: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nX-Walkie-Sandbox: {code}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_rules_match_exact_names_and_proper_subdomains() {
        assert!(domain_matches("pypi.org", "pypi.org"));
        assert!(domain_matches("PyPI.org.", "pypi.org"));
        assert!(!domain_matches("pypi.org", "evilpypi.org"));
        assert!(domain_matches(
            "*.pythonhosted.org",
            "files.pythonhosted.org"
        ));
        assert!(!domain_matches("*.pythonhosted.org", "pythonhosted.org"));
        assert!(!domain_matches(
            "*.pythonhosted.org",
            "evilpythonhosted.org"
        ));
    }

    #[test]
    fn heads_parse_into_targets_and_junk_is_refused() {
        let t = parse_head(b"CONNECT Api.Example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.forward_head),
            ("api.example.com", 443, None)
        );
        let t = parse_head(b"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\n\r\n").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("example.com", 80));
        let head = String::from_utf8(t.forward_head.unwrap()).unwrap();
        assert_eq!(
            head,
            "GET /a?b HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            parse_head(b"CONNECT [::1]:8080 HTTP/1.1\r\n\r\n")
                .unwrap()
                .port,
            8080
        );
        for bad in [
            &b"CONNECT example.com HTTP/1.1\r\n\r\n"[..],
            b"GET /local HTTP/1.1\r\n\r\n",
            b"CONNECT a b:1 HTTP/1.1\r\n\r\n",
            b"CONNECT ex\xffmple:1 HTTP/1.1\r\n\r\n",
            b"CONNECT host:99999 HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
