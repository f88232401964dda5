//! Every host `walkie up` drives: this machine's ([`HostLink`]) and one [`Remote`] per
//! `[hosts.NAME]`, behind the one [`Host`] the console, the desk and the live screens use.
//!
//! Sessions are addressed as people write them ([`walkie_host_proto::name::Address`]):
//! `api` on this machine, `api@cloud` on a remote host. Everything the fleet answers names
//! remote sessions that way (`list`, `new_session`, asks and notices), so a name the
//! console got from the fleet always routes back to the same host. A bare name is tried
//! on this machine first (a missing session types nothing there), then on the one remote
//! host that has it; two of them having it is a one-line error listing both addresses.
//!
//! Each remote host has one ssh link (walkie-ssh: its own thread, reconnected forever),
//! one shared client channel for calls, and a task ([`Fleet::spawn`]) that pings the host
//! over its own channel every [`PING_EVERY`]: two missed pings mark the link down (libssh2
//! alone does not see a stuck sshd or bridge). Its [`HostStatus`] is what `/ls` shows and
//! what [`announce`] tells the chats once per change ("cloud is down", "cloud is back").
//!
//! Ask ids are per host, so a remote host's ids carry its tag in their top bits
//! ([`tag_id`]): the desk keeps one id space, and a decision goes back to the host that
//! asked. A host's ids are its start time in µs (< 2^56 until the year 4200), and the tag
//! leaves bit 63 clear, so ids still fit the store's signed 64-bit column. An ask whose
//! host's watch broke is closed undecided (shown closed, never approved).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use walkie_approval::hook::Decision;
use walkie_config::Config;
use walkie_host_proto::client::{AskEvent, AskWatch, Client, ClientError};
use walkie_host_proto::protocol::{ErrorKind, NewSession, SessionInfo};
use walkie_host_proto::sandbox::{BoundaryInfo, Widen};
use walkie_host_proto::snapshot::Snapshot;
use walkie_ssh::{Channel, HostKey, HostKeyCheck, Link, LinkState};

use crate::front::{ChatId, Frontend};
use crate::host::{AskStream, Host, HostLink};
use crate::requests::View;
use crate::session::LOCAL_HOST;

/// How often a remote host is pinged, and how long a ping may take.
pub const PING_EVERY: Duration = Duration::from_secs(3);
/// Missed pings before the link is declared down.
const MISSED_PINGS: u32 = 2;
/// How long a call waits for a remote link to open a channel and greet.
const OPEN_WITHIN: Duration = Duration::from_secs(5);
/// Asks of remote hosts waiting for the desk.
const ASK_QUEUE: usize = 64;
/// A remote host's tag sits above the host's own id bits.
const TAG_SHIFT: u32 = 56;
/// Tags 1..=127 keep bit 63 clear.
pub const MAX_REMOTES: usize = 127;

/// A remote host's state, as `/ls` and `walkie hosts` show it.
#[derive(Debug, Clone, PartialEq)]
pub enum HostStatus {
    Connecting,
    /// `latency`: the last ping's round trip (request to reply, through ssh and the bridge).
    Up {
        latency: Option<Duration>,
    },
    /// Unreachable since `since` (the first failure, kept through reconnect attempts).
    Down {
        since: SystemTime,
        why: String,
    },
}

impl HostStatus {
    pub fn is_up(&self) -> bool {
        matches!(self, HostStatus::Up { .. })
    }

    /// `up 12 ms`, `connecting`, `down since 12:03 (why)`; times in UTC.
    pub fn describe(&self) -> String {
        match self {
            HostStatus::Connecting => "connecting".into(),
            HostStatus::Up { latency: Some(l) } => format!("up {} ms", l.as_millis()),
            HostStatus::Up { latency: None } => "up".into(),
            HostStatus::Down { since, why } => {
                format!("down since {} ({why})", clock(*since))
            }
        }
    }
}

/// `HH:MM` UTC of `t`.
pub fn clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60)
}

/// One `[hosts.NAME]`: its ssh link, a shared client over it, its status.
pub struct Remote {
    pub name: String,
    /// 1..=MAX_REMOTES, in the order of `[hosts]` (sorted by name).
    tag: u64,
    cfg: Config,
    link: Link,
    conn: Mutex<Option<Client<Channel>>>,
    status: watch::Sender<HostStatus>,
    /// The unknown host key the chats were shown (Trust trusts this one, never whatever
    /// the box presents by the time of the press).
    offered: std::sync::Mutex<Option<HostKey>>,
}

/// The error of a call to a host that cannot take it now.
fn unreachable(name: &str, status: &HostStatus) -> ClientError {
    ClientError::Host {
        kind: ErrorKind::Internal,
        message: format!(
            "{name} is {}; walkie reconnects by itself.",
            status.describe()
        ),
    }
}

/// Whether a failed call broke the connection (the next call opens a new one).
fn broke(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Closed
            | ClientError::Frame(_)
            | ClientError::Connect { .. }
            | ClientError::NotAnswering { .. }
            | ClientError::Unexpected(_)
    )
}

/// One call on a remote host's shared client: opened first if needed; dropped when it
/// broke. Never retried (an input might be typed twice).
macro_rules! remote_call {
    ($r:expr, |$c:ident| $body:expr) => {{
        let r: &Remote = $r;
        let mut guard = r.conn.lock().await;
        if guard.is_none() {
            *guard = Some(r.open().await?);
        }
        let result = match guard.as_mut() {
            Some($c) => $body.await,
            None => Err(ClientError::Closed),
        };
        if let Err(e) = &result {
            if broke(e) {
                *guard = None;
            }
        }
        result
    }};
}

impl Remote {
    /// The host's status now.
    pub fn status(&self) -> HostStatus {
        self.status.borrow().clone()
    }

    /// Why the link refuses the box's host key, if that is why it is down.
    pub fn host_key_problem(&self) -> Option<HostKeyCheck> {
        match &*self.link.state().borrow() {
            LinkState::Down {
                why: walkie_ssh::Error::HostKey(check),
                ..
            } => Some((**check).clone()),
            _ => None,
        }
    }

    /// How long an outbox item for this host waits before it expires.
    pub fn queue_expiry(&self) -> Duration {
        let s = self
            .cfg
            .hosts
            .get(&self.name)
            .map_or(3600, |h| h.queue_expiry_s);
        Duration::from_secs(s)
    }

    /// Watches the host's status.
    pub fn watch_status(&self) -> watch::Receiver<HostStatus> {
        self.status.subscribe()
    }

    /// A new greeted client over a new channel (refused at once when the link is not up).
    async fn open(&self) -> Result<Client<Channel>, ClientError> {
        let link_up = self.link.state().borrow().is_up();
        if !link_up {
            return Err(unreachable(&self.name, &self.status()));
        }
        crate::remote::client(&self.cfg, &self.name, &self.link, OPEN_WITHIN)
            .await
            .map_err(|e| ClientError::Host {
                kind: ErrorKind::Internal,
                message: e.to_string(),
            })
    }

    /// A new channel to the host's protocol on this host's one ssh connection, not greeted
    /// (for [`crate::relay`], whose caller says hello itself); refused while it is not up.
    pub async fn raw_channel(&self) -> Result<Channel, String> {
        if !self.link.state().borrow().is_up() {
            return Err(unreachable(&self.name, &self.status()).to_string());
        }
        let host = crate::remote::remote(&self.cfg, &self.name).map_err(|e| e.to_string())?;
        crate::remote::channel(host, &self.link)
            .await
            .map_err(|e| e.to_string())
    }

    /// `api` → `api@cloud`.
    fn address(&self, name: &str) -> String {
        format!("{name}@{}", self.name)
    }

    fn rename(&self, mut info: SessionInfo) -> SessionInfo {
        info.name = self.address(&info.name);
        info
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, ClientError> {
        let list = remote_call!(self, |c| c.list())?;
        Ok(list.into_iter().map(|s| self.rename(s)).collect())
    }

    async fn has(&self, name: &str) -> bool {
        self.status().is_up()
            && self
                .list()
                .await
                .is_ok_and(|l| l.iter().any(|s| s.name == self.address(name)))
    }

    /// Pings and keeps the status true until `shutdown`.
    async fn keep(self: Arc<Self>, shutdown: CancellationToken) {
        let mut link = self.link.state();
        let mut ping: Option<Client<Channel>> = None;
        let mut missed = 0;
        let mut tick = tokio::time::interval(PING_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let state = link.borrow_and_update().clone();
            match state {
                LinkState::Up { .. } => {
                    let started = Instant::now();
                    let answered = match ping.as_mut() {
                        Some(c) => c.list().await.is_ok(),
                        None => match self.open().await {
                            Ok(c) => {
                                ping = Some(c);
                                true
                            }
                            Err(e) => {
                                tracing::debug!(host = %self.name, error = %e, "ping channel");
                                false
                            }
                        },
                    };
                    if answered {
                        missed = 0;
                        let latency = Some(started.elapsed());
                        self.status.send_if_modified(|s| {
                            let was_up = s.is_up();
                            *s = HostStatus::Up { latency };
                            !was_up
                        });
                    } else {
                        ping = None;
                        missed += 1;
                        if missed >= MISSED_PINGS {
                            tracing::warn!(host = %self.name, "no answer to {missed} pings");
                            self.link.mark_down(&format!("no answer to {missed} pings"));
                            missed = 0;
                        }
                    }
                }
                LinkState::Connecting => {
                    ping = None;
                    // Still "down since" the first failure while it tries again.
                    self.status.send_if_modified(|s| {
                        if matches!(s, HostStatus::Down { .. } | HostStatus::Connecting) {
                            false
                        } else {
                            *s = HostStatus::Connecting;
                            true
                        }
                    });
                }
                LinkState::Down { since, why } => {
                    ping = None;
                    *self.conn.lock().await = None;
                    // Still down since the first failure, with the latest reason (a
                    // changed host key shows once the box answers again).
                    let why = why.to_string();
                    self.status.send_if_modified(|s| match s {
                        HostStatus::Down { why: old, .. } if *old == why => false,
                        HostStatus::Down { why: old, .. } => {
                            *old = why;
                            true
                        }
                        _ => {
                            *s = HostStatus::Down { since, why };
                            true
                        }
                    });
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
                changed = link.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Forwards this host's asks, tagged and addressed, until `tx` closes; re-watches
    /// whenever the link comes back. Asks open when the watch broke are closed undecided.
    async fn forward_asks(self: Arc<Self>, tx: mpsc::Sender<AskEvent>) {
        let tag = self.tag << TAG_SHIFT;
        loop {
            let mut link = self.link.state();
            let up = tokio::select! {
                _ = tx.closed() => return,
                up = link.wait_for(LinkState::is_up) => up.is_ok(),
            };
            if !up {
                return;
            }
            let watch = match self.open().await {
                Ok(c) => c.watch_asks().await,
                Err(e) => Err(e),
            };
            let mut w: AskWatch<Channel> = match watch {
                Ok(w) => w,
                Err(e) => {
                    tracing::debug!(host = %self.name, error = %e, "cannot watch asks");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            tracing::info!(host = %self.name, "watching approval requests");
            let mut open: HashSet<u64> = HashSet::new();
            loop {
                let ev = tokio::select! {
                    _ = tx.closed() => return,
                    ev = w.next() => ev,
                };
                let ev = match ev {
                    Some(Ok(AskEvent::Asked(mut ask))) => {
                        ask.id |= tag;
                        ask.session = self.address(&ask.session);
                        open.insert(ask.id);
                        AskEvent::Asked(ask)
                    }
                    Some(Ok(AskEvent::Closed { id, decision })) => {
                        open.remove(&(id | tag));
                        AskEvent::Closed {
                            id: id | tag,
                            decision,
                        }
                    }
                    Some(Ok(AskEvent::Notice {
                        session,
                        kind,
                        text,
                    })) => AskEvent::Notice {
                        session: self.address(&session),
                        kind,
                        text,
                    },
                    Some(Ok(AskEvent::Revived(mut list))) => {
                        for r in &mut list {
                            r.name = self.address(&r.name);
                        }
                        AskEvent::Revived(list)
                    }
                    Some(Err(e)) => {
                        tracing::warn!(host = %self.name, error = %e, "approval watch broke");
                        break;
                    }
                    None => break,
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
            // Its asker may still be waiting over there, but nothing here can decide it
            // until the watch is back (which shows it again if it is still pending).
            for id in open.drain() {
                if tx
                    .send(AskEvent::Closed { id, decision: None })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Puts host `tag`'s mark on its ask id.
pub fn tag_id(tag: u64, id: u64) -> u64 {
    id | (tag << TAG_SHIFT)
}

/// The tag and the host's own id of a fleet ask id (tag 0: this machine).
pub fn untag_id(id: u64) -> (u64, u64) {
    (id >> TAG_SHIFT, id & ((1 << TAG_SHIFT) - 1))
}

/// Where a session address goes.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// This machine; `bare`: no host was written, so another host may have it.
    Local {
        name: String,
        bare: bool,
    },
    Remote {
        host: &'a str,
        name: String,
    },
}

/// Splits an address: `api` (bare), `api@local`, `api@cloud`; unknown hosts refused.
fn route<'a>(hosts: &'a [Arc<Remote>], addr: &str) -> Result<Route<'a>, ClientError> {
    route_in(hosts.iter().map(|r| r.name.as_str()), addr)
}

fn route_in<'a>(
    mut hosts: impl Iterator<Item = &'a str>,
    addr: &str,
) -> Result<Route<'a>, ClientError> {
    match addr.split_once('@') {
        None => Ok(Route::Local {
            name: addr.to_string(),
            bare: true,
        }),
        Some((name, LOCAL_HOST)) => Ok(Route::Local {
            name: name.to_string(),
            bare: false,
        }),
        Some((name, host)) => match hosts.find(|h| *h == host) {
            Some(host) => Ok(Route::Remote {
                host,
                name: name.to_string(),
            }),
            None => Err(ClientError::Host {
                kind: ErrorKind::NoSuchSession,
                message: format!(
                    "No host {host:?}: add it with `walkie hosts add {host} user@box` (walkie hosts lists them)."
                ),
            }),
        },
    }
}

/// The one answer to a bare name that two hosts have.
fn ambiguous(name: &str, hosts: &[&str]) -> ClientError {
    let list: Vec<String> = hosts.iter().map(|h| format!("{name}@{h}")).collect();
    ClientError::Host {
        kind: ErrorKind::BadName,
        message: format!("{name} is on several hosts: say {}.", list.join(" or ")),
    }
}

/// This machine's host and every configured remote one.
pub struct Fleet {
    pub local: HostLink,
    remotes: Vec<Arc<Remote>>,
}

/// Runs `$local` (with `$n` the name) on this machine, or `$remote` on the remote host
/// the address names, or on the one remote host that has a bare name this machine lacks.
macro_rules! on_host {
    ($self:ident, $addr:expr, |$n:ident| $local:expr, |$c:ident, $r:ident| $remote:expr) => {{
        let addr: &str = $addr;
        match route(&$self.remotes, addr)? {
            Route::Remote { host, name: $n } => {
                let $r = $self.remote(host)?;
                remote_call!($r, |$c| $remote)
            }
            Route::Local { name: $n, bare } => {
                let res = $local;
                let missing = matches!(
                    &res,
                    Err(ClientError::Host {
                        kind: ErrorKind::NoSuchSession,
                        ..
                    })
                );
                if bare && missing && !$self.remotes.is_empty() {
                    match $self.find_bare(&$n).await? {
                        Some($r) => remote_call!(&$r, |$c| $remote),
                        None => res,
                    }
                } else {
                    res
                }
            }
        }
    }};
}

impl Fleet {
    /// This machine's host and a link per `[hosts.NAME]` (each connects in the background).
    pub fn new(cfg: &Config, local: HostLink) -> Result<Fleet, crate::remote::RemoteError> {
        let mut remotes = Vec::new();
        for (i, name) in cfg.hosts.keys().enumerate().take(MAX_REMOTES) {
            let link = crate::remote::start(cfg, name)?;
            let (status, _) = watch::channel(HostStatus::Connecting);
            remotes.push(Arc::new(Remote {
                name: name.clone(),
                tag: i as u64 + 1,
                cfg: cfg.clone(),
                link,
                conn: Mutex::new(None),
                status,
                offered: std::sync::Mutex::new(None),
            }));
        }
        if cfg.hosts.len() > MAX_REMOTES {
            tracing::warn!("only the first {MAX_REMOTES} [hosts] are driven");
        }
        // Remote sessions' screens pushed too: each host's watch on a channel of its link.
        if let Some(changes) = local.changes() {
            for r in &remotes {
                let weak = Arc::downgrade(r);
                let connect: crate::changes::Connect = Arc::new(move || {
                    let r = weak.upgrade();
                    Box::pin(async move {
                        match r {
                            Some(r) => Ok(r.open().await?.boxed()),
                            None => Err(ClientError::Closed),
                        }
                    })
                });
                changes.add_remote(&r.name, connect);
            }
        }
        Ok(Fleet { local, remotes })
    }

    /// Only this machine.
    pub fn local_only(local: HostLink) -> Fleet {
        Fleet {
            local,
            remotes: Vec::new(),
        }
    }

    pub fn remotes(&self) -> &[Arc<Remote>] {
        &self.remotes
    }

    fn remote(&self, host: &str) -> Result<&Remote, ClientError> {
        self.remotes
            .iter()
            .find(|r| r.name == host)
            .map(|r| &**r)
            .ok_or_else(|| ClientError::Host {
                kind: ErrorKind::NoSuchSession,
                message: format!("No host {host:?}."),
            })
    }

    /// The one remote host that has a session named `name`; several: the error listing them.
    async fn find_bare(&self, name: &str) -> Result<Option<Arc<Remote>>, ClientError> {
        let looks = self
            .remotes
            .iter()
            .map(|r| async move { (r, r.has(name).await) });
        let found: Vec<&Arc<Remote>> = futures::future::join_all(looks)
            .await
            .into_iter()
            .filter(|(_, has)| *has)
            .map(|(r, _)| r)
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some((*one).clone())),
            many => {
                let names: Vec<&str> = many.iter().map(|r| r.name.as_str()).collect();
                Err(ambiguous(name, &names))
            }
        }
    }

    /// Starts the ping and status task of each remote host.
    pub fn spawn(&self, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        self.remotes
            .iter()
            .map(|r| tokio::spawn(r.clone().keep(shutdown.clone())))
            .collect()
    }

    /// Each host's sessions as `(host, status, sessions)`: this machine first (its status
    /// `None`: it is started on demand), then the remote hosts by name. A host that cannot
    /// list has no sessions here.
    pub async fn by_host(
        &self,
    ) -> Result<Vec<(String, Option<HostStatus>, Vec<SessionInfo>)>, ClientError> {
        let local = self.local.list().await?;
        let mut out = vec![(LOCAL_HOST.to_string(), None, local)];
        let lists = self.remotes.iter().map(|r| async move {
            let status = r.status();
            let list = if status.is_up() {
                r.list().await.unwrap_or_default()
            } else {
                Vec::new()
            };
            (r.name.clone(), Some(r.status()), list)
        });
        out.extend(futures::future::join_all(lists).await);
        Ok(out)
    }

    /// Starts a lost or exited session again.
    pub async fn revive(&self, addr: &str) -> Result<String, ClientError> {
        on_host!(self, addr, |n| self.local.revive(&n).await, |c, r| async {
            c.revive(&n).await.map(|s| r.address(&s))
        })
    }

    /// Trusts the unknown host key of `host` that the chats were shown (walkie's own
    /// known_hosts; never `~/.ssh`) and reconnects at once. A changed key is never trusted
    /// from a chat: that takes `walkie hosts trust NAME` at a terminal.
    pub async fn trust(&self, host: &str) -> Result<String, String> {
        let r = self.remote(host).map_err(|e| e.to_string())?;
        let offered = r.offered.lock().ok().and_then(|o| o.clone());
        let Some(key) = offered else {
            return Err(format!("{host} has no host key waiting to be trusted."));
        };
        match r.host_key_problem() {
            Some(HostKeyCheck::Unknown(now)) if now.blob == key.blob => {}
            Some(HostKeyCheck::Changed { .. }) => {
                return Err(format!(
                    "{host}'s host key changed: run `walkie hosts trust {host}` on this machine."
                ))
            }
            _ => return Err(format!("{host} no longer presents that key.")),
        }
        let file = crate::remote::known_hosts_path(&r.cfg);
        let written = key.clone();
        tokio::task::spawn_blocking(move || walkie_ssh::trust(&file, &written))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot write walkie's known_hosts: {e}"))?;
        if let Ok(mut o) = r.offered.lock() {
            *o = None;
        }
        r.link.reconnect_now();
        Ok(key.fingerprint())
    }

    /// Forgets the key shown for `host`: nothing is trusted, the host stays down.
    pub fn reject(&self, host: &str) -> Result<(), String> {
        let r = self.remote(host).map_err(|e| e.to_string())?;
        if let Ok(mut o) = r.offered.lock() {
            *o = None;
        }
        Ok(())
    }

    /// Types an outbox item into `addr` (a remote session) with its dispatch id, so that
    /// the host types it once however often it is delivered.
    pub async fn deliver(
        &self,
        addr: &str,
        chunks: Vec<Vec<u8>>,
        source: &str,
        dispatch: &str,
    ) -> Result<(), ClientError> {
        let Route::Remote { host, name } = route(&self.remotes, addr)? else {
            return Err(ClientError::Host {
                kind: ErrorKind::BadRequest,
                message: format!("{addr} is not on a remote host"),
            });
        };
        let r = self.remote(host)?;
        remote_call!(r, |c| c.input_dispatch(
            &name,
            chunks,
            Some(source.to_string()),
            Some(dispatch.to_string())
        ))
        .map(|_| ())
    }

    /// Whether remote host `host` is not up now.
    pub fn is_down(&self, host: &str) -> bool {
        self.remote(host).is_ok_and(|r| !r.status().is_up())
    }

    /// Connects to this machine's host now (so that `walkie up` fails early).
    pub async fn connect(&self) -> Result<u32, ClientError> {
        self.local.connect().await
    }
}

/// This machine's asks and every remote host's, in one stream.
pub struct FleetAsks {
    local: <HostLink as Host>::Asks,
    remote: mpsc::Receiver<AskEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FleetAsks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl AskStream for FleetAsks {
    async fn next_ask(&mut self) -> Option<Result<AskEvent, ClientError>> {
        tokio::select! {
            // This machine's watch ending ends the stream: the desk watches again (and
            // resyncs), which restarts the remote watches too.
            ev = self.local.next_ask() => ev,
            Some(ev) = self.remote.recv() => Some(Ok(ev)),
        }
    }
}

impl Host for Fleet {
    type Asks = FleetAsks;

    fn changes(&self) -> Option<&Arc<crate::changes::Changes>> {
        self.local.changes()
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, ClientError> {
        Ok(self
            .by_host()
            .await?
            .into_iter()
            .flat_map(|(_, _, l)| l)
            .collect())
    }

    async fn new_session(&self, mut spec: NewSession) -> Result<String, ClientError> {
        match route(&self.remotes, &spec.name)? {
            // A bare name starts on this machine.
            Route::Local { name, .. } => {
                spec.name = name;
                self.local.new_session(spec).await
            }
            Route::Remote { host, name } => {
                let r = self.remote(host)?;
                spec.name = name;
                let created = match remote_call!(r, |c| c.new_session(spec)) {
                    // The box's preset table answered: say which box's.
                    Err(ClientError::Host {
                        kind: ErrorKind::NoPreset,
                        message,
                    }) => Err(ClientError::Host {
                        kind: ErrorKind::NoPreset,
                        message: format!("{host}: {message}"),
                    }),
                    other => other,
                }?;
                Ok(r.address(&created))
            }
        }
    }

    async fn send_line(
        &self,
        name: &str,
        text: &str,
        source: &str,
    ) -> Result<Option<f64>, ClientError> {
        on_host!(
            self,
            name,
            |n| self.local.send_line(&n, text, source).await,
            |c, _r| c.input_from(
                &n,
                vec![text.as_bytes().to_vec(), b"\r".to_vec()],
                Some(source.to_string())
            )
        )
    }

    async fn input(&self, name: &str, chunks: Vec<Vec<u8>>) -> Result<(), ClientError> {
        on_host!(
            self,
            name,
            |n| self.local.input(&n, chunks.clone()).await,
            |c, _r| async {
                c.input_from(&n, chunks.clone(), Some("telegram".to_string()))
                    .await
                    .map(|_| ())
            }
        )
    }

    async fn screen(&self, name: &str) -> Result<String, ClientError> {
        on_host!(self, name, |n| self.local.screen(&n).await, |c, _r| c
            .screen(&n, false))
    }

    async fn snapshot(&self, name: &str) -> Result<Snapshot, ClientError> {
        on_host!(self, name, |n| self.local.snapshot(&n).await, |c, _r| c
            .snapshot(&n))
    }

    async fn boundary(&self, name: &str) -> Result<BoundaryInfo, ClientError> {
        on_host!(self, name, |n| self.local.boundary(&n).await, |c, _r| c
            .boundary(&n))
    }

    async fn widen(
        &self,
        name: &str,
        change: Widen,
        by: &str,
    ) -> Result<BoundaryInfo, ClientError> {
        on_host!(
            self,
            name,
            |n| self.local.widen(&n, change.clone(), by).await,
            |c, _r| c.widen(&n, change.clone(), by)
        )
    }

    async fn tail(&self, name: &str, lines: usize) -> Result<String, ClientError> {
        on_host!(self, name, |n| self.local.tail(&n, lines).await, |c, _r| c
            .tail(&n, lines))
    }

    async fn pause(&self, name: &str) -> Result<SessionInfo, ClientError> {
        on_host!(self, name, |n| self.local.pause(&n).await, |c, r| async {
            c.pause(&n).await.map(|s| r.rename(s))
        })
    }

    async fn resume(&self, name: &str) -> Result<SessionInfo, ClientError> {
        on_host!(self, name, |n| self.local.resume(&n).await, |c, r| async {
            c.resume(&n).await.map(|s| r.rename(s))
        })
    }

    async fn kill(&self, name: &str) -> Result<SessionInfo, ClientError> {
        on_host!(self, name, |n| self.local.kill(&n).await, |c, r| async {
            c.kill(&n, false).await.map(|s| r.rename(s))
        })
    }

    async fn decide(&self, id: u64, decision: Decision) -> Result<(), ClientError> {
        match untag_id(id) {
            (0, _) => self.local.decide(id, decision).await,
            (tag, own) => {
                let r = self.remotes.iter().find(|r| r.tag == tag).ok_or_else(|| {
                    ClientError::Host {
                        kind: ErrorKind::AlreadyDecided,
                        message: "the host of that request is no longer configured".into(),
                    }
                })?;
                remote_call!(&**r, |c| c.decide(own, decision))
            }
        }
    }

    fn queue_for(&self, session: &str) -> Option<Option<SystemTime>> {
        match route(&self.remotes, session).ok()? {
            Route::Remote { host, .. } => {
                let status = self.remote(host).ok()?.status();
                (!status.is_up()).then(|| crate::outbox::down_since(&status))
            }
            Route::Local { .. } => None,
        }
    }

    fn remote_hosts(&self) -> Vec<(String, String)> {
        self.remotes
            .iter()
            .map(|r| (r.name.clone(), r.status().describe()))
            .collect()
    }

    async fn watch_asks(&self) -> Result<(u32, Self::Asks), ClientError> {
        let (pid, local) = self.local.watch_asks().await?;
        let (tx, rx) = mpsc::channel(ASK_QUEUE);
        let tasks = self
            .remotes
            .iter()
            .map(|r| tokio::spawn(r.clone().forward_asks(tx.clone())))
            .collect();
        Ok((
            pid,
            FleetAsks {
                local,
                remote: rx,
                tasks,
            },
        ))
    }
}

/// Tells every chat the bot knows (and `also`, the operators' private chats) once when a
/// remote host goes down and when it is back, until `shutdown`.
pub async fn announce<F: Frontend + Clone>(
    fleet: Arc<Fleet>,
    front: F,
    store: crate::store::Store,
    also: Vec<ChatId>,
    shutdown: CancellationToken,
) {
    let each = fleet.remotes.iter().map(|r| {
        let (r, front, store, also, shutdown) = (
            r.clone(),
            front.clone(),
            store.clone(),
            also.clone(),
            shutdown.clone(),
        );
        async move {
            let mut status = r.watch_status();
            // Nothing is said until the host was first seen down.
            let mut told_down = false;
            // The host key last shown, so that a card is posted once per key.
            let mut shown_key: Option<String> = None;
            loop {
                let now = status.borrow_and_update().clone();
                if let Some(view) = key_card(&r, &mut shown_key) {
                    tell(&store, &also, &front, &r.name, &view).await;
                    // The card says it; no "is down" line besides.
                    told_down = true;
                }
                let line = match &now {
                    HostStatus::Down { since, .. } if !told_down => {
                        told_down = true;
                        Some(format!(
                            "☁️ {} is down (since {} UTC); walkie reconnects by itself.",
                            r.name,
                            clock(*since)
                        ))
                    }
                    HostStatus::Up { .. } if told_down => {
                        told_down = false;
                        Some(format!("☁️ {} is back.", r.name))
                    }
                    _ => None,
                };
                if let Some(line) = line {
                    tracing::info!(host = %r.name, "{line}");
                    tell(&store, &also, &front, &r.name, &View::Text(line)).await;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = status.changed() => if changed.is_err() { return },
                }
            }
        }
    });
    futures::future::join_all(each).await;
}

/// The card for a host key problem not shown yet: an unknown key (Trust / Reject), or a
/// changed one (a hard stop naming both fingerprints).
fn key_card(r: &Remote, shown: &mut Option<String>) -> Option<View> {
    let problem = r.host_key_problem()?;
    let (key, old) = match &problem {
        HostKeyCheck::Unknown(k) => (k, Vec::new()),
        HostKeyCheck::Changed { key, old } => (key, old.clone()),
        HostKeyCheck::Trusted => return None,
    };
    let fingerprint = key.fingerprint();
    if shown.as_deref() == Some(fingerprint.as_str()) {
        return None;
    }
    *shown = Some(fingerprint.clone());
    if old.is_empty() {
        if let Ok(mut o) = r.offered.lock() {
            *o = Some(key.clone());
        }
    }
    tracing::warn!(host = %r.name, %problem, "host key not trusted");
    Some(View::HostKey {
        host: r.name.clone(),
        address: r
            .cfg
            .hosts
            .get(&r.name)
            .map(|h| h.ssh.clone())
            .unwrap_or_default(),
        key_type: key.key_type.clone(),
        fingerprint,
        old,
    })
}

/// Shows `view` in every chat the bot knows and in `also`.
async fn tell<F: Frontend>(
    store: &crate::store::Store,
    also: &[ChatId],
    front: &F,
    host: &str,
    view: &View,
) {
    let mut chats = store.chats().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the chats");
        Vec::new()
    });
    for c in also {
        if !chats.contains(c) {
            chats.push(*c);
        }
    }
    for chat in chats {
        if let Err(e) = front.show(chat, view).await {
            tracing::warn!(host, error = %e, "cannot tell a chat");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<&'static str> {
        vec!["cloud", "lab"]
    }

    #[test]
    fn addresses_route_to_their_host() {
        let r = |a: &str| route_in(hosts().into_iter(), a);
        assert_eq!(
            r("api").unwrap(),
            Route::Local {
                name: "api".into(),
                bare: true
            }
        );
        assert_eq!(
            r("api@local").unwrap(),
            Route::Local {
                name: "api".into(),
                bare: false
            }
        );
        assert_eq!(
            r("api@cloud").unwrap(),
            Route::Remote {
                host: "cloud",
                name: "api".into()
            }
        );
        let e = r("api@moon").unwrap_err().to_string();
        assert!(e.contains("walkie hosts add moon"), "{e}");
    }

    #[test]
    fn an_ambiguous_bare_name_lists_its_candidates_in_one_line() {
        let e = ambiguous("api", &["cloud", "lab"]).to_string();
        assert_eq!(e, "api is on several hosts: say api@cloud or api@lab.");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn ask_ids_carry_their_host_and_fit_a_signed_column() {
        let own = 1_764_600_000_000_000_u64; // a host started in 2025, in µs
        for tag in [1, MAX_REMOTES as u64] {
            let id = tag_id(tag, own);
            assert_eq!(untag_id(id), (tag, own));
            assert!(i64::try_from(id).is_ok());
        }
        assert_eq!(untag_id(own), (0, own));
    }

    #[test]
    fn states_read_as_the_issue_writes_them() {
        assert_eq!(HostStatus::Connecting.describe(), "connecting");
        assert_eq!(
            HostStatus::Up {
                latency: Some(Duration::from_millis(12))
            }
            .describe(),
            "up 12 ms"
        );
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(12 * 3600 + 3 * 60);
        assert_eq!(
            HostStatus::Down {
                since,
                why: "connection refused".into()
            }
            .describe(),
            "down since 12:03 (connection refused)"
        );
    }
}
