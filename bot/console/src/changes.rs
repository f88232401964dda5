//! Screen changes pushed by the hosts, so the bot reads a screen only when it changed instead
//! of every watched screen every second.
//!
//! One connection ([`walkie_host_proto::client::Client::watch_screens`]) carries the set of
//! sessions someone follows ([`Changes::follow`]: live screens, the desk's prompt scan, the
//! dialogs scan); the set is sent again when it changes. Each event gives the session a new
//! *generation* (counted here, so a reconnect can never repeat one): a reader remembers the
//! generation it read at and reads again when it differs ([`Looks`]). `None` means the host
//! does not tell about that session now (not connected yet, the session is not running, it
//! host has no hub here): the reader then reads as it did before, on its own timer.
//!
//! A remote host's sessions (`name@host`) are followed through a hub of that host
//! ([`Changes::add_remote`]: its watch is one more channel of the fleet's ssh connection),
//! which shares this hub's [`Changes::any`].

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use walkie_host_proto::client::{Client, ClientError, ScreenChange, ScreenWatch, Stream};

/// A new connection to a hub's host (greeted), on which the hub opens its watch.
pub type Connect = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Client<Box<dyn Stream>>, ClientError>> + Send>>
        + Send
        + Sync,
>;

/// While some followed session is not told about (not running, unknown), the set is sent
/// again this often, so a session started or revived under a followed name is told again.
const RETRY_UNKNOWN: Duration = Duration::from_secs(5);

/// The longest wait before connecting again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The hub of one host's screen changes.
pub struct Changes {
    /// Whose changes, for the log: "this machine" or the remote host's name.
    host: String,
    connect: Connect,
    slots: Mutex<HashMap<String, Slot>>,
    /// Bumped on every change of any followed session, of this hub and its remote hosts'.
    any: Arc<watch::Sender<u64>>,
    /// The hubs of remote hosts, by host name.
    remotes: Mutex<HashMap<String, Arc<Changes>>>,
    /// The followed set changed: send it again.
    resend: Notify,
    started: AtomicBool,
    /// Off (`WALKIE_SCREEN_PUSH=0`) only as the reference of the `bench_bot_idle`
    /// benchmark: every screen read on a timer, as before pushes.
    push: bool,
}

struct Slot {
    followers: usize,
    tx: watch::Sender<Option<u64>>,
}

/// One follower's interest in a session: the set keeps the session while a `Follow` lives.
pub struct Follow {
    changes: Arc<Changes>,
    name: String,
    rx: watch::Receiver<Option<u64>>,
}

impl Follow {
    /// The session's generation now (`None`: not told about, read it on a timer).
    pub fn generation(&self) -> Option<u64> {
        *self.rx.borrow()
    }

    /// Waits for the next change (or for the host to stop telling about it).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The hub never drops a followed slot's sender; should it, wait for ever.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let mut slots = self.changes.lock();
        let gone = match slots.get_mut(&self.name) {
            Some(s) => {
                s.followers = s.followers.saturating_sub(1);
                s.followers == 0
            }
            None => false,
        };
        if gone {
            slots.remove(&self.name);
            drop(slots);
            self.changes.resend.notify_one();
        }
    }
}

impl Changes {
    /// The hub for the host on `socket`, started on the first follow. It never starts a
    /// host itself (the link does, on its next call): it only connects to one that runs.
    pub fn new(socket: PathBuf) -> Arc<Changes> {
        let connect: Connect = Arc::new(move || {
            let socket = socket.clone();
            Box::pin(async move { Ok(Client::connect(&socket).await?.boxed()) })
        });
        Changes::with("this machine", connect, Arc::new(watch::channel(0).0))
    }

    fn with(host: &str, connect: Connect, any: Arc<watch::Sender<u64>>) -> Arc<Changes> {
        Arc::new(Changes {
            host: host.to_string(),
            connect,
            slots: Mutex::new(HashMap::new()),
            any,
            remotes: Mutex::new(HashMap::new()),
            resend: Notify::new(),
            started: AtomicBool::new(false),
            push: std::env::var_os("WALKIE_SCREEN_PUSH").is_none_or(|v| v != "0"),
        })
    }

    /// Follows the sessions of remote host `host` (`name@host`) through a hub of its own,
    /// which reaches the host with `connect` (started on its first follow, as this one).
    pub fn add_remote(&self, host: &str, connect: Connect) {
        let hub = Changes::with(host, connect, self.any.clone());
        self.remotes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_string(), hub);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows `session` (a name on this host, or `name@host` of a remote host with a hub)
    /// while the returned `Follow` lives; `None` when nobody tells about it (a host without
    /// a hub here, or pushes off): then it is read on a timer.
    pub fn follow(self: &Arc<Self>, session: &str) -> Option<Follow> {
        if !self.push {
            return None;
        }
        if let Some((name, host)) = session.rsplit_once('@') {
            let hub = self
                .remotes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(host)
                .cloned()?;
            return hub.follow(name);
        }
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().run());
        }
        let mut slots = self.lock();
        let fresh = !slots.contains_key(session);
        let slot = slots.entry(session.to_string()).or_insert_with(|| Slot {
            followers: 0,
            tx: watch::channel(None).0,
        });
        slot.followers += 1;
        let rx = slot.tx.subscribe();
        drop(slots);
        if fresh {
            self.resend.notify_one();
        }
        Some(Follow {
            changes: self.clone(),
            name: session.to_string(),
            rx,
        })
    }

    /// Every change of any followed session (the value itself means nothing).
    pub fn any(&self) -> watch::Receiver<u64> {
        self.any.subscribe()
    }

    fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.lock().keys().cloned().collect();
        n.sort();
        n
    }

    fn unknown(&self) -> bool {
        self.lock().values().any(|s| s.tx.borrow().is_none())
    }

    /// Every followed session is not told about (the watch broke).
    fn forget_all(&self) {
        for s in self.lock().values() {
            s.tx.send_if_modified(|g| g.take().is_some());
        }
        self.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn apply(&self, ch: ScreenChange) {
        let live = ch.state.as_ref().is_some_and(|s| s.is_live());
        let next = self.any.borrow().wrapping_add(1);
        if let Some(s) = self.lock().get(&ch.name) {
            s.tx.send_replace(live.then_some(next));
        }
        self.any.send_replace(next);
    }

    /// Keeps one watch connected, with the followed set, for the rest of the process.
    async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let names = self.names();
            let watched = match (self.connect)().await {
                Ok(c) => c.watch_screens(names.clone()).await,
                Err(e) => Err(e),
            };
            match watched {
                Ok(w) => {
                    // Once per connection: at the first follow and after a break.
                    tracing::info!(host = %self.host, "screen changes pushed");
                    backoff = Duration::from_millis(200);
                    if let Err(e) = self.serve(w, names).await {
                        tracing::info!(error = %e, "screen watch ended; reading screens on a timer until it is back");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "no screen watch"),
            }
            self.forget_all();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn serve(
        &self,
        mut w: ScreenWatch<Box<dyn Stream>>,
        mut sent: Vec<String>,
    ) -> Result<(), ClientError> {
        loop {
            let retry = self.unknown();
            tokio::select! {
                ev = w.next() => match ev {
                    Some(Ok(ch)) => self.apply(ch),
                    Some(Err(e)) => return Err(e),
                    None => return Err(ClientError::Closed),
                },
                _ = self.resend.notified() => {
                    let names = self.names();
                    if names != sent {
                        w.set(names.clone()).await?;
                        sent = names;
                    }
                }
                _ = tokio::time::sleep(RETRY_UNKNOWN), if retry => {
                    sent = self.names();
                    w.set(sent.clone()).await?;
                }
            }
        }
    }
}

/// Which followed sessions a scanning reader must read on this pass: one whose screen
/// changed since it last read it, one read fewer than twice since its last change (a prompt
/// or dialog counts once seen on two looks in a row), and any the host does not tell about.
#[derive(Default)]
pub struct Looks {
    seen: HashMap<String, (u64, u8)>,
    follows: HashMap<String, Option<Follow>>,
}

impl Looks {
    /// Keeps following exactly `sessions` (through `changes`, when there is a hub).
    pub fn follow_only(&mut self, changes: Option<&Arc<Changes>>, sessions: &[String]) {
        self.follows.retain(|s, _| sessions.contains(s));
        self.seen.retain(|s, _| sessions.contains(s));
        for s in sessions {
            self.follows
                .entry(s.clone())
                .or_insert_with(|| changes.and_then(|c| c.follow(s)));
        }
    }

    /// Whether to read `session` now; read its generation before its screen.
    pub fn due(&mut self, session: &str) -> bool {
        let Some(generation) = self
            .follows
            .get(session)
            .and_then(|f| f.as_ref())
            .and_then(|f| f.generation())
        else {
            self.seen.remove(session);
            return true;
        };
        let e = self
            .seen
            .entry(session.to_string())
            .or_insert((generation, 0));
        if e.0 != generation {
            *e = (generation, 0);
        }
        if e.1 >= 2 {
            return false;
        }
        e.1 += 1;
        true
    }

    /// Forgets what was read of `session`: it is read on the next pass.
    pub fn again(&mut self, session: &str) {
        self.seen.remove(session);
    }

    /// Whether a pass soon is needed: some session is not told about, or not settled.
    pub fn settling(&self) -> bool {
        self.follows
            .iter()
            .any(|(s, f)| match f.as_ref().and_then(|f| f.generation()) {
                None => true,
                Some(g) => self
                    .seen
                    .get(s)
                    .is_none_or(|(seen, n)| *seen != g || *n < 2),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Arc<Changes> {
        Changes::new("/nonexistent/walkie-test.sock".into())
    }

    fn change(name: &str, live: bool) -> ScreenChange {
        ScreenChange {
            name: name.into(),
            seq: 1,
            state: live.then_some(walkie_host_proto::protocol::SessionState::Running),
        }
    }

    #[tokio::test]
    async fn a_screen_is_read_twice_after_each_change_and_not_while_unchanged() {
        let c = hub();
        let mut looks = Looks::default();
        looks.follow_only(Some(&c), &["a".into(), "b@cloud".into()]);
        // Not told about yet: read every pass, as on a timer.
        assert!(looks.due("a") && looks.due("a") && looks.due("a"));
        assert!(looks.due("b@cloud") && looks.due("b@cloud"));
        c.apply(change("a", true));
        assert!(looks.due("a"), "a change is read");
        assert!(looks.due("a"), "and looked at once more, to settle");
        assert!(!looks.due("a"), "then not while it does not change");
        assert!(!looks.due("a"));
        assert!(
            looks.settling(),
            "the remote session is still read on a timer"
        );
        looks.follow_only(Some(&c), &["a".into()]);
        assert!(!looks.settling(), "nothing to read until a change");
        c.apply(change("a", true));
        assert!(looks.settling());
        assert!(looks.due("a") && looks.due("a") && !looks.due("a"));
        // Not running any more: read on a timer again.
        c.apply(change("a", false));
        assert!(looks.due("a") && looks.due("a") && looks.due("a"));
    }

    #[tokio::test]
    async fn the_set_is_what_is_followed_and_a_broken_watch_forgets() {
        let c = hub();
        let f1 = c.follow("a").unwrap();
        let f2 = c.follow("a").unwrap();
        let _g = c.follow("b").unwrap();
        assert!(c.follow("x@cloud").is_none(), "no hub of host cloud");
        assert_eq!(c.names(), vec!["a".to_string(), "b".to_string()]);
        drop(f1);
        assert_eq!(c.names().len(), 2, "a is still followed once");
        c.apply(change("a", true));
        assert!(f2.generation().is_some());
        c.forget_all();
        assert_eq!(f2.generation(), None);
        drop(f2);
        assert_eq!(c.names(), vec!["b".to_string()]);
    }

    #[tokio::test]
    async fn a_remote_hosts_sessions_are_followed_through_its_hub() {
        let c = hub();
        let connect: Connect = Arc::new(|| Box::pin(async { Err(ClientError::Closed) }));
        c.add_remote("cloud", connect);
        let mut any = c.any();
        let f = c.follow("api@cloud").expect("followed through cloud's hub");
        assert!(c.follow("api@elsewhere").is_none(), "no hub of that host");
        assert!(c.names().is_empty(), "not this host's session");
        let cloud = c.remotes.lock().unwrap().get("cloud").cloned().unwrap();
        assert_eq!(cloud.names(), vec!["api".to_string()]);
        assert_eq!(f.generation(), None, "not told about yet");
        cloud.apply(change("api", true));
        assert!(f.generation().is_some(), "its host told");
        assert!(any.has_changed().unwrap(), "the scans hear of it");
        any.borrow_and_update();
        // A local session's generation never repeats a remote one's (one counter).
        let local = c.follow("web").unwrap();
        c.apply(change("web", true));
        assert_ne!(local.generation(), f.generation());
        drop(f);
        assert!(cloud.names().is_empty());
    }
}
