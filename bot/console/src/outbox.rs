//! The offline outbox: text, keys and `/new` for a session on a remote host that is down
//! wait in the store, each with a dispatch id, and the chat is told "⏳ queued for cloud (down since
//! 12:03)" with a Cancel button. When the host is back ([`deliver`]) they go in order, each
//! once: an item is marked delivered only after the host answered, and the dispatch id goes
//! with the input (`Request::Input { dispatch }`), so a delivery repeated after a reconnect
//! mid-way is answered by the host without typing again. Items older than the host's
//! `queue_expiry_s` are not delivered: their message says they expired.
//!
//! A queued `/new` is started once the same way without a dispatch id in the protocol:
//! session names are unique per host, and each delivery is counted before it is sent
//! ([`Store::outbox_attempt`]), so "name taken" after an earlier attempt means that
//! attempt started it (the link broke before its answer came back).
//!
//! Approvals are never queued: an ask whose host went away is closed (the fleet closes
//! them undecided when a host's watch breaks).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use walkie_host_proto::client::ClientError;
use walkie_host_proto::protocol::{ErrorKind, NewSession};

use crate::fleet::{clock, Fleet, HostStatus};
use crate::front::{ChatId, Frontend, MessageRef, UserId};
use crate::host::Host;
use crate::requests::View;
use crate::session::SessionRef;
use crate::store::{now_unix, AuditAction, AuditEntry, Result, Store};

/// What a queued item types.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A line, then Enter as a separate write.
    Text(String),
    /// Each chunk written separately (`/keys`).
    Keys(Vec<Vec<u8>>),
    /// `/new` on that host: the session's spec, its name the address (`api@cloud`).
    New(Box<NewSession>),
}

impl Payload {
    fn kind(&self) -> &'static str {
        match self {
            Payload::Text(_) => "text",
            Payload::Keys(_) => "keys",
            Payload::New(_) => "new",
        }
    }

    fn encode(&self) -> String {
        match self {
            Payload::Text(t) => t.clone(),
            Payload::Keys(k) => serde_json::to_string(k).unwrap_or_default(),
            Payload::New(spec) => serde_json::to_string(spec).unwrap_or_default(),
        }
    }

    fn decode(kind: &str, payload: &str) -> Option<Payload> {
        match kind {
            "text" => Some(Payload::Text(payload.to_string())),
            "keys" => serde_json::from_str(payload).ok().map(Payload::Keys),
            "new" => serde_json::from_str(payload)
                .ok()
                .map(|s| Payload::New(Box::new(s))),
            _ => None,
        }
    }

    /// The chunks the host types (a `/new` types nothing).
    pub fn chunks(&self) -> Vec<Vec<u8>> {
        match self {
            Payload::Text(t) => vec![t.as_bytes().to_vec(), b"\r".to_vec()],
            Payload::Keys(k) => k.clone(),
            Payload::New(_) => Vec::new(),
        }
    }

    /// For the chat and the audit log.
    pub fn describe(&self) -> String {
        match self {
            Payload::Text(t) => t.clone(),
            Payload::Keys(k) => format!("{} key(s)", k.len()),
            Payload::New(spec) if spec.command.is_empty() => {
                format!("/new {} (its shell)", spec.name)
            }
            Payload::New(spec) => format!("/new {} ({})", spec.name, spec.command.join(" ")),
        }
    }
}

/// One queued item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: i64,
    pub dispatch_id: String,
    pub session: SessionRef,
    pub payload: Payload,
    pub source: String,
    pub chat: ChatId,
    pub user: Option<UserId>,
    pub message: Option<MessageRef>,
    pub created_at: i64,
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
);

fn item(r: Row) -> Option<Item> {
    let (id, dispatch_id, host, name, kind, payload, source, chat, user, message, created_at) = r;
    Some(Item {
        id,
        dispatch_id,
        session: SessionRef { host, name },
        payload: Payload::decode(&kind, &payload)?,
        source,
        chat: ChatId(chat),
        user: user.map(UserId),
        message: message.map(MessageRef),
        created_at,
    })
}

/// The columns of a [`Row`] (a macro: sqlx takes only static SQL).
macro_rules! columns {
    () => {
        "id, dispatch_id, host, session, kind, payload, source, chat_id, user_id, message_id, created_at"
    };
}

impl Store {
    /// Queues `payload` for `session`; answers the item's id and dispatch id.
    pub async fn enqueue(
        &self,
        session: &SessionRef,
        payload: &Payload,
        source: &str,
        chat: ChatId,
        user: Option<UserId>,
    ) -> Result<(i64, String)> {
        let now = now_unix();
        // Unique across this store's life and across stores (the time and a random part):
        // the remote host remembers the ids it typed.
        let dispatch_id = format!(
            "{}-{:x}-{:x}",
            session.host,
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            std::process::id()
        );
        let row: (i64,) = sqlx::query_as(
            "INSERT INTO outbox (dispatch_id, host, session, kind, payload, source, chat_id, user_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&dispatch_id)
        .bind(&session.host)
        .bind(&session.name)
        .bind(payload.kind())
        .bind(payload.encode())
        .bind(source)
        .bind(chat.0)
        .bind(user.map(|u| u.0))
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok((row.0, dispatch_id))
    }

    /// The chat's "queued" message of item `id`.
    pub async fn set_outbox_message(&self, id: i64, message: MessageRef) -> Result<()> {
        sqlx::query("UPDATE outbox SET message_id = ? WHERE id = ?")
            .bind(message.0)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The items still queued for `host`, oldest first.
    pub async fn queued(&self, host: &str) -> Result<Vec<Item>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM outbox WHERE host = ? AND state = 'queued' ORDER BY id"
        ))
        .bind(host)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().filter_map(item).collect())
    }

    /// Item `id` and its state (queued, delivered, ...).
    pub async fn outbox_item(&self, id: i64) -> Result<Option<(Item, String)>> {
        let row: Option<Row> =
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM outbox WHERE id = ?"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        let Some(it) = row.and_then(item) else {
            return Ok(None);
        };
        let state: (String,) = sqlx::query_as("SELECT state FROM outbox WHERE id = ?")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(Some((it, state.0)))
    }

    /// Counts a delivery of item `id` about to be sent; answers how many were sent before.
    pub async fn outbox_attempt(&self, id: i64) -> Result<i64> {
        let row: (i64,) = sqlx::query_as(
            "UPDATE outbox SET attempts = attempts + 1 WHERE id = ? RETURNING attempts - 1",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.0)
    }

    /// Moves a queued item to `state` (delivered, cancelled, expired, failed); false if it
    /// was no longer queued (someone else settled it first).
    pub async fn settle_outbox(&self, id: i64, state: &str, detail: Option<&str>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = ?, detail = ?, settled_at = ? WHERE id = ? AND state = 'queued'",
        )
        .bind(state)
        .bind(detail)
        .bind(now_unix())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Whether an item made at `created_at` has expired at `now` (unix seconds).
pub fn expired(created_at: i64, now: i64, expiry: Duration) -> bool {
    now.saturating_sub(created_at) > expiry.as_secs() as i64
}

/// The "queued" line of an item for `host`, down since `since`.
pub fn queued_line(session: &SessionRef, host: &str, since: Option<SystemTime>) -> String {
    queued_as(session, host, since, "gets it")
}

/// [`queued_line`] of a payload: a queued `/new` "starts" when the host is back.
fn queued_for(payload: &Payload, session: &SessionRef, since: Option<SystemTime>) -> String {
    let what = match payload {
        Payload::New(_) => "starts",
        _ => "gets it",
    };
    queued_as(session, &session.host, since, what)
}

fn queued_as(session: &SessionRef, host: &str, since: Option<SystemTime>, what: &str) -> String {
    match since {
        Some(t) => format!(
            "⏳ queued for {host} (down since {} UTC): {session} {what} when {host} is back.",
            clock(t)
        ),
        None => format!("⏳ queued for {host}: {session} {what} when {host} is back."),
    }
}

/// Queues text, keys or a `/new` for `session` on a host that is down, tells the chat (with a Cancel
/// button) and audits it.
#[allow(clippy::too_many_arguments)]
pub async fn queue<F: Frontend>(
    store: &Store,
    front: &F,
    user: Option<UserId>,
    chat: ChatId,
    session: &str,
    payload: Payload,
    source: &str,
    since: Option<SystemTime>,
) -> Result<(), crate::requests::RequestError> {
    let at = SessionRef::address(session);
    let (id, dispatch_id) = store.enqueue(&at, &payload, source, chat, user).await?;
    let line = queued_for(&payload, &at, since);
    let m = front.show(chat, &View::Queued { id, line }).await?;
    store.set_outbox_message(id, m).await?;
    let entry = AuditEntry {
        user_id: user,
        chat_id: Some(chat),
        session: Some(at),
        action: AuditAction::Dispatch,
        source: Some(source.into()),
        text: Some(payload.describe()),
        detail: Some(format!("queued {dispatch_id}")),
    };
    if let Err(e) = store.audit(&entry).await {
        tracing::error!(error = %e, "cannot write the audit log");
    }
    Ok(())
}

/// How often queued items are looked at while their host is up (items queued while a
/// delivery ran) and expired while it is down.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Delivers each remote host's queue when it is up, until `shutdown`.
pub async fn deliver<F: Frontend + Clone>(
    fleet: Arc<Fleet>,
    front: F,
    store: Store,
    shutdown: CancellationToken,
) {
    let each = fleet.remotes().iter().map(|r| {
        let (fleet, r, front, store, shutdown) = (
            fleet.clone(),
            r.clone(),
            front.clone(),
            store.clone(),
            shutdown.clone(),
        );
        async move {
            let mut status = r.watch_status();
            loop {
                let up = status.borrow_and_update().is_up();
                flush(&fleet, &r.name, r.queue_expiry(), up, &front, &store).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = status.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(SWEEP_EVERY) => {}
                }
            }
        }
    });
    futures::future::join_all(each).await;
}

/// One pass over `host`'s queue: expired items are closed; with the host `up`, the others
/// are delivered in order until one cannot be.
async fn flush<F: Frontend>(
    fleet: &Fleet,
    host: &str,
    expiry: Duration,
    up: bool,
    front: &F,
    store: &Store,
) {
    let items = match store.queued(host).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(host, error = %e, "cannot read the outbox");
            return;
        }
    };
    for it in items {
        let addr = it.session.to_string();
        if expired(it.created_at, now_unix(), expiry) {
            let line = format!(
                "⌛ expired: not delivered to {addr} ({host} was down longer than {} min, hosts.{host}.queue_expiry_s): {}",
                expiry.as_secs() / 60,
                it.payload.describe()
            );
            settle(store, front, &it, "expired", &line).await;
            continue;
        }
        if !up {
            continue;
        }
        let sent = match &it.payload {
            Payload::New(spec) => start(fleet, store, &it, spec).await,
            _ => {
                fleet
                    .deliver(&addr, it.payload.chunks(), &it.source, &it.dispatch_id)
                    .await
            }
        };
        match sent {
            Ok(()) => {
                let line = match &it.payload {
                    Payload::New(_) => format!("✅ delivered: started {addr}"),
                    _ => format!("✅ delivered to {addr}: {}", it.payload.describe()),
                };
                settle(store, front, &it, "delivered", &line).await;
                front.watch(it.chat, &addr);
            }
            Err(e) if fleet.is_down(host) => {
                tracing::info!(host, error = %e, "host went down again mid-delivery");
                return;
            }
            Err(e) => {
                let line = format!("⚠️ not delivered to {addr}: {e}");
                settle(store, front, &it, "failed", &line).await;
            }
        }
    }
}

/// Delivers a queued `/new`: counted first, so that "name taken" after an earlier attempt
/// (cut off before its answer) is that attempt's session, not a second one.
async fn start(
    fleet: &Fleet,
    store: &Store,
    it: &Item,
    spec: &NewSession,
) -> std::result::Result<(), ClientError> {
    let before = store
        .outbox_attempt(it.id)
        .await
        .map_err(|e| ClientError::Host {
            kind: ErrorKind::Internal,
            message: format!("cannot count the delivery: {e}"),
        })?;
    match fleet.new_session(spec.clone()).await {
        Ok(_) => Ok(()),
        Err(ClientError::Host {
            kind: ErrorKind::NameTaken,
            ..
        }) if before > 0 => {
            tracing::info!(
                item = it.id,
                "a /new started by an earlier, cut-off delivery"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Settles `it` (once) and edits its message to `line`.
async fn settle<F: Frontend>(store: &Store, front: &F, it: &Item, state: &str, line: &str) {
    match store.settle_outbox(it.id, state, Some(line)).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot settle an outbox item");
            return;
        }
    }
    tracing::info!(item = it.id, dispatch = %it.dispatch_id, state, "outbox item settled");
    if let Some(m) = it.message {
        let view = View::Text(line.to_string());
        if let Err(e) = front.edit_view(it.chat, m, &view).await {
            tracing::warn!(error = %e, "cannot edit an outbox message");
        }
    }
}

/// Cancels queued item `id` from `chat`; the line to show, `None` if it is not that chat's
/// or no longer queued.
pub async fn cancel(store: &Store, chat: ChatId, id: i64) -> Result<Option<String>> {
    let Some((it, _)) = store.outbox_item(id).await? else {
        return Ok(None);
    };
    if it.chat != chat {
        return Ok(None);
    }
    let line = format!(
        "✖ cancelled: not sent to {}: {}",
        it.session,
        it.payload.describe()
    );
    Ok(store
        .settle_outbox(id, "cancelled", Some(&line))
        .await?
        .then_some(line))
}

/// The status line used for the queued message, from a host's status.
pub fn down_since(status: &HostStatus) -> Option<SystemTime> {
    match status {
        HostStatus::Down { since, .. } => Some(*since),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_in(dir.path()).await.unwrap();
        (dir, s)
    }

    fn api() -> SessionRef {
        SessionRef::address("api@cloud")
    }

    #[tokio::test]
    async fn items_come_back_in_order_with_unique_dispatch_ids() {
        let (_d, s) = store().await;
        let mut ids = Vec::new();
        for t in ["one", "two", "three"] {
            let (_, d) = s
                .enqueue(
                    &api(),
                    &Payload::Text(t.into()),
                    "telegram",
                    ChatId(1),
                    None,
                )
                .await
                .unwrap();
            ids.push(d);
        }
        s.enqueue(
            &SessionRef::address("web@lab"),
            &Payload::Keys(vec![b"y".to_vec()]),
            "telegram",
            ChatId(1),
            None,
        )
        .await
        .unwrap();
        let q = s.queued("cloud").await.unwrap();
        let texts: Vec<String> = q.iter().map(|i| i.payload.describe()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), 3);
        assert_eq!(q[0].dispatch_id, ids[0]);
        let lab = s.queued("lab").await.unwrap();
        assert_eq!(lab[0].payload, Payload::Keys(vec![b"y".to_vec()]));
    }

    #[tokio::test]
    async fn an_item_is_settled_once() {
        let (_d, s) = store().await;
        let (id, _) = s
            .enqueue(
                &api(),
                &Payload::Text("x".into()),
                "telegram",
                ChatId(1),
                None,
            )
            .await
            .unwrap();
        assert!(s.settle_outbox(id, "delivered", None).await.unwrap());
        // A second delivery (after a reconnect mid-way) or a late Cancel changes nothing.
        assert!(!s.settle_outbox(id, "delivered", None).await.unwrap());
        assert_eq!(cancel(&s, ChatId(1), id).await.unwrap(), None);
        assert!(s.queued("cloud").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn cancel_is_for_the_chat_that_queued_it() {
        let (_d, s) = store().await;
        let (id, _) = s
            .enqueue(
                &api(),
                &Payload::Text("x".into()),
                "telegram",
                ChatId(1),
                None,
            )
            .await
            .unwrap();
        assert_eq!(cancel(&s, ChatId(2), id).await.unwrap(), None);
        let line = cancel(&s, ChatId(1), id).await.unwrap().unwrap();
        assert!(line.starts_with("✖ cancelled"), "{line}");
        assert!(s.queued("cloud").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_queued_new_keeps_its_spec_and_counts_its_deliveries() {
        let (_d, s) = store().await;
        let spec = NewSession {
            name: "api@cloud".into(),
            command: vec!["bash".into(), "--norc".into()],
            cwd: Some("~/src/api".into()),
            env: vec![("A".into(), "b".into())],
            size: None,
            record: true,
            preset: Some("claude".into()),
            resume: None,
            sandbox: None,
            network: None,
            expand: false,
        };
        let payload = Payload::New(Box::new(spec));
        let (id, _) = s
            .enqueue(&api(), &payload, "telegram", ChatId(1), None)
            .await
            .unwrap();
        let q = s.queued("cloud").await.unwrap();
        assert_eq!(q[0].payload, payload);
        assert!(q[0].payload.chunks().is_empty(), "a /new types nothing");
        assert_eq!(q[0].payload.describe(), "/new api@cloud (bash --norc)");
        assert_eq!(s.outbox_attempt(id).await.unwrap(), 0);
        assert_eq!(s.outbox_attempt(id).await.unwrap(), 1);
        assert_eq!(
            queued_for(&payload, &api(), None),
            "⏳ queued for cloud: api@cloud starts when cloud is back."
        );
    }

    #[test]
    fn expiry() {
        let hour = Duration::from_secs(3600);
        assert!(!expired(1_000, 1_000 + 3600, hour));
        assert!(expired(1_000, 1_000 + 3601, hour));
        assert!(
            !expired(1_000, 900, hour),
            "a clock step back expires nothing"
        );
    }

    #[test]
    fn the_queued_line_says_since_when() {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(12 * 3600 + 3 * 60);
        assert_eq!(
            queued_line(&api(), "cloud", Some(since)),
            "⏳ queued for cloud (down since 12:03 UTC): api@cloud gets it when cloud is back."
        );
    }
}
