//! A strict fake of the Telegram Bot API, for tests: real HTTP/1.1 on 127.0.0.1.
//!
//! It answers like Telegram does, so that a bot that passes against it behaves on the
//! real service:
//! - the `{"ok":true,"result":...}` / `{"ok":false,"error_code":...,"description":...}`
//!   envelope with Telegram's own error texts (the ones teloxide maps to its `ApiError`s);
//! - method names matched case-insensitively (teloxide calls `SendMessage`);
//! - HTML parse mode parsed and checked; 4096 UTF-16 units after entity parsing; empty
//!   texts refused; `callback_data` at most 64 bytes;
//! - "message is not modified" for an edit that changes nothing;
//! - flood control: per chat a small burst then about 1 request/s (sends *and* edits
//!   count), optionally a per-minute budget for groups, and a global budget; over it, 429
//!   with `retry_after`. A request to a chat
//!   still inside its `retry_after` is counted as *ignored*, so tests can assert that
//!   every 429 was honoured;
//! - getUpdates long polling with `offset` confirmation, and 409 Conflict when a second
//!   poller takes over;
//! - getFile and the `/file/bot<token>/<path>` download (20 MB limit);
//! - uploads as multipart/form-data: `sendDocument`, `editMessageMedia`,
//!   `editMessageCaption` (50 MB, captions of 1024; see [`uploads`]), every file kept.
//!
//! The control side injects updates (text, voice notes with their OGG file, button
//! presses, floods of them from strangers) and waits, event-driven and bounded, for what
//! the bot did.
//!
//! Faults, for the tests of a flaky network (see [`FakeTelegram::fault`]): a rule picks
//! calls ([`Select`]), when to strike ([`When`]) and what goes wrong ([`Fault`]): the
//! connection dropped before or after Telegram acted, a 5xx in Telegram's envelope or as
//! the nginx page in front of it, a 429 with `retry_after`, any API error, a body cut
//! mid-way, a delay. [`FakeTelegram::set_latency`] slows every call. Every call records
//! when it arrived and when it was answered, and every update when it was injected,
//! offered to the bot and confirmed, so tests can assert latencies.

#![allow(dead_code)] // each test binary uses a different part of this module

// Always included by `#[path]`, so its own modules are found beside it.
#[path = "fake_telegram/uploads.rs"]
pub mod uploads;
pub use uploads::{Document, Upload};

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Telegram's limit on a message's text (UTF-16 units after entity parsing).
pub const MAX_TEXT_UTF16: usize = 4096;
/// Telegram's limit on a button's `callback_data`, in bytes.
pub const MAX_CALLBACK_DATA: usize = 64;
/// Bots may download files up to this size.
pub const MAX_DOWNLOAD: usize = 20 * 1024 * 1024;

pub const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";
pub const TOO_LONG: &str = "Bad Request: message is too long";
pub const QUERY_TOO_OLD: &str =
    "Bad Request: query is too old and response timeout expired or query ID is invalid";
pub const CONFLICT: &str =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

/// Tunables of the fake.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub token: String,
    pub bot_id: i64,
    pub bot_username: String,
    /// Requests a chat may make at once (sends and edits).
    pub chat_burst: f64,
    /// Sustained requests per second per chat.
    pub chat_per_sec: f64,
    pub global_burst: f64,
    pub global_per_sec: f64,
    /// Smallest `retry_after` handed out, in seconds.
    pub min_retry_after: u64,
    /// Refuse answers to callback queries this long after the press, as Telegram does
    /// after about 15 s ("query is too old"). None: never.
    pub callback_expiry: Option<Duration>,
    /// Requests a group (negative chat id) may get per minute, beyond the per-chat
    /// budget, as Telegram's ~20 a minute in groups. None: no group limit.
    pub group_per_minute: Option<f64>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            token: "123456:TEST-token_for-the-fake".into(),
            bot_id: 123456,
            bot_username: "walkie_test_bot".into(),
            chat_burst: 4.0,
            chat_per_sec: 1.0,
            global_burst: 30.0,
            global_per_sec: 30.0,
            min_retry_after: 1,
            callback_expiry: None,
            group_per_minute: None,
        }
    }
}

/// One request the bot made, with the answer it got.
#[derive(Debug, Clone)]
pub struct Call {
    pub seq: u64,
    /// The method in Telegram's spelling (`sendMessage`), whatever case the bot used.
    pub method: String,
    pub params: Value,
    /// When the request arrived (before any latency or delay the fake adds).
    pub arrived: Instant,
    /// When it was answered (for a long poll: when the poll returned).
    pub at: Instant,
    /// Wall-clock time of the answer, in Unix seconds (for staleness measurements).
    pub unix_s: f64,
    /// The HTTP status answered; 0 when the connection was dropped without one.
    pub status: u16,
    pub response: Value,
    /// The injected fault that struck this call, if any.
    pub fault: Option<Fault>,
}

impl Call {
    /// Telegram did it and the bot heard so.
    pub fn ok(&self) -> bool {
        self.status == 200 && self.delivered()
    }
    /// The bot received the whole answer (not dropped or cut by a fault).
    pub fn delivered(&self) -> bool {
        !matches!(
            self.fault,
            Some(Fault::Drop | Fault::DropAfter | Fault::CutBody)
        )
    }
    pub fn description(&self) -> Option<&str> {
        self.response.get("description").and_then(Value::as_str)
    }
    pub fn chat_id(&self) -> Option<i64> {
        self.params.get("chat_id").and_then(as_i64)
    }
    pub fn text(&self) -> Option<&str> {
        self.params.get("text").and_then(Value::as_str)
    }
}

/// A message in a chat, as it currently stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub chat_id: i64,
    pub message_id: i64,
    /// Sender's user id (the bot's id for the bot's messages).
    pub from: i64,
    pub from_bot: bool,
    /// The text as shown (entities parsed).
    pub text: String,
    /// The text as sent (with HTML tags), for the bot's messages.
    pub raw: String,
    pub parse_mode: Option<String>,
    pub reply_markup: Option<Value>,
    pub reply_to: Option<i64>,
    pub voice_file_id: Option<String>,
    /// A document (the text is then its caption).
    pub document: Option<Document>,
    pub edits: u32,
    pub deleted: bool,
    pub date: i64,
    /// Sent with `disable_notification` (no sound on the phone).
    pub silent: bool,
}

impl ChatMessage {
    /// A user's message with no text yet.
    fn from_user(chat_id: i64, message_id: i64, user: i64, date: i64) -> Self {
        ChatMessage {
            chat_id,
            message_id,
            from: user,
            from_bot: false,
            text: String::new(),
            raw: String::new(),
            parse_mode: None,
            reply_markup: None,
            reply_to: None,
            voice_file_id: None,
            document: None,
            edits: 0,
            deleted: false,
            date,
            silent: false,
        }
    }

    /// `callback_data` of every inline button, in order.
    pub fn button_data(&self) -> Vec<String> {
        self.buttons().into_iter().map(|(_, d)| d).collect()
    }
    /// (text, callback_data) of every inline button.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let rows = self
            .reply_markup
            .as_ref()
            .and_then(|m| m.get("inline_keyboard"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        rows.iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| {
                Some((
                    b.get("text")?.as_str()?.to_string(),
                    b.get("callback_data")?.as_str()?.to_string(),
                ))
            })
            .collect()
    }
}

/// Flood-control counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodStats {
    /// 429 answers given.
    pub too_many_requests: u32,
    /// Requests that arrived while their chat (or the bot) was still told to wait.
    pub ignored_retry_after: u32,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A time when requests are refused with 429, and whether the bot was told so yet (a
/// request made after being told and before `until` ignored `retry_after`).
#[derive(Debug, Clone, Copy)]
struct Block {
    until: Instant,
    told: bool,
}

#[derive(Debug)]
struct CallbackQueryState {
    chat_id: i64,
    answered: bool,
    answer: Option<Value>,
}

/// The life of one injected update.
#[derive(Debug, Clone)]
pub struct UpdateRecord {
    pub update_id: i64,
    /// `message` or `callback_query`.
    pub kind: &'static str,
    pub chat_id: i64,
    pub user: i64,
    /// The message's id (for a callback query: the id of the message whose button was pressed).
    pub message_id: i64,
    /// The callback query's id.
    pub query_id: Option<String>,
    /// When the test injected it.
    pub pushed: Instant,
    /// When a getUpdates answer first carried it to the bot (a faulted answer does not count).
    pub offered: Option<Instant>,
    /// When a getUpdates offset confirmed it.
    pub confirmed: Option<Instant>,
    /// For a callback query: when answerCallbackQuery succeeded for it.
    pub answered: Option<Instant>,
}

impl UpdateRecord {
    /// How long after it was first offered the callback query was answered.
    pub fn answered_after_offer(&self) -> Option<Duration> {
        Some(self.answered?.saturating_duration_since(self.offered?))
    }
}

/// Which calls a fault rule picks.
#[derive(Clone)]
pub enum Select {
    /// Calls of one method, in Telegram's spelling, matched case-insensitively.
    Method(&'static str),
    /// Every Bot API call, getUpdates included (not file downloads).
    AnyMethod,
    /// Every Bot API call except getUpdates: what the bot says and does.
    AnyButPolling,
    /// Downloads of files (`/file/bot<token>/<path>`).
    Download,
    /// Calls of a method whose parameters satisfy a predicate (see [`Select::method_where`]).
    Matching(&'static str, Arc<dyn Fn(&Value) -> bool + Send + Sync>),
}

impl Select {
    /// Calls of `method` whose parameters satisfy `pred`.
    pub fn method_where(
        method: &'static str,
        pred: impl Fn(&Value) -> bool + Send + Sync + 'static,
    ) -> Select {
        Select::Matching(method, Arc::new(pred))
    }

    /// Calls of `method` to one chat.
    pub fn in_chat(method: &'static str, chat_id: i64) -> Select {
        Select::method_where(method, move |p| {
            p.get("chat_id").and_then(as_i64) == Some(chat_id)
        })
    }

    /// Calls of `method` whose text contains `needle` (cards, notices, edits).
    pub fn text_contains(method: &'static str, needle: &'static str) -> Select {
        Select::method_where(method, move |p| {
            p.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains(needle))
        })
    }

    fn matches(&self, method: &str, params: &Value) -> bool {
        match self {
            Select::Method(m) => m.eq_ignore_ascii_case(method),
            Select::AnyMethod => method != DOWNLOAD,
            Select::AnyButPolling => method != DOWNLOAD && method != "getUpdates",
            Select::Download => method == DOWNLOAD,
            Select::Matching(m, pred) => m.eq_ignore_ascii_case(method) && pred(params),
        }
    }
}

impl std::fmt::Debug for Select {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Select::Method(m) => write!(f, "Method({m:?})"),
            Select::AnyMethod => write!(f, "AnyMethod"),
            Select::AnyButPolling => write!(f, "AnyButPolling"),
            Select::Download => write!(f, "Download"),
            Select::Matching(m, _) => write!(f, "Matching({m:?}, ..)"),
        }
    }
}

/// When a rule strikes, counting the calls it picks from the moment it is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The n-th picked call only (1 is the next one).
    Nth(u32),
    /// The next k picked calls.
    Next(u32),
    /// Every picked call until [`FakeTelegram::clear_faults`].
    Every,
}

/// What goes wrong with a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The connection closes without an answer; Telegram never saw the request.
    Drop,
    /// Telegram does what was asked, then the connection closes without an answer (the
    /// bot cannot know whether its message went out).
    DropAfter,
    /// An error status in Telegram's envelope with the status' own text:
    /// `{"ok":false,"error_code":502,"description":"Bad Gateway"}`. Telegram does nothing.
    /// 429 is answered as [`Fault::RetryAfter`] with the smallest `retry_after`.
    Status(u16),
    /// Any API error, e.g. `Fault::Api(400, TOO_LONG.into())`. Telegram does nothing.
    Api(u16, String),
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after`; the call's
    /// chat is then in flood wait for N s, as after a real 429.
    RetryAfter(u64),
    /// The nginx HTML error page that Telegram's front end serves for a 5xx (not JSON).
    Html(u16),
    /// Telegram does what was asked; the answer's headers promise the whole body, half of
    /// it is sent and the connection closes.
    CutBody,
    /// The call is handled normally after this delay.
    Delay(Duration),
}

/// A fault rule installed by [`FakeTelegram::fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultId(usize);

#[derive(Debug)]
struct FaultRule {
    select: Select,
    when: When,
    fault: Fault,
    /// Calls picked so far.
    seen: u32,
    /// Calls struck so far.
    hits: u32,
    cleared: bool,
}

impl FaultRule {
    /// Counts a call it picks; true when the rule would strike it.
    fn picks(&mut self) -> bool {
        self.seen += 1;
        match self.when {
            When::Nth(n) => self.seen == n,
            When::Next(k) => self.seen <= k,
            When::Every => true,
        }
    }
}

/// The name calls to the file download path are logged under.
pub const DOWNLOAD: &str = "download";

#[derive(Debug, Clone)]
struct StoredFile {
    path: String,
    bytes: Vec<u8>,
    /// Size reported by getFile (may differ from `bytes` to simulate huge files).
    size: usize,
}

/// Everything the fake knows. Tests read it through [`FakeTelegram::wait_until`] and friends.
#[derive(Debug)]
pub struct State {
    opts: FakeOptions,
    pub calls: Vec<Call>,
    /// chat id → message id → message.
    pub chats: BTreeMap<i64, BTreeMap<i64, ChatMessage>>,
    /// Commands registered with setMyCommands: (command, description).
    pub commands: Vec<(String, String)>,
    pub flood: FloodStats,
    /// Answers given to callback queries: query id → params.
    pub callback_answers: BTreeMap<String, Value>,
    /// Chat actions sent: (chat, action).
    pub chat_actions: Vec<(i64, String)>,
    /// Every injected update, oldest first, with its timings.
    pub update_log: Vec<UpdateRecord>,
    /// Every file the bot uploaded that was accepted, oldest first.
    pub uploads: Vec<Upload>,
    next_file: u64,
    faults: Vec<FaultRule>,
    latency: Duration,
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: BTreeMap<i64, i64>,
    next_query: u64,
    queries: BTreeMap<String, CallbackQueryState>,
    files: BTreeMap<String, StoredFile>,
    chat_buckets: BTreeMap<i64, Bucket>,
    group_buckets: BTreeMap<i64, Bucket>,
    global_bucket: Bucket,
    blocked: BTreeMap<i64, Block>,
    global_blocked: Option<Block>,
    poll_generation: u64,
    seq: u64,
}

impl State {
    /// The chat's messages that are not deleted, oldest first.
    pub fn messages(&self, chat_id: i64) -> Vec<&ChatMessage> {
        self.chats
            .get(&chat_id)
            .map(|m| m.values().filter(|m| !m.deleted).collect())
            .unwrap_or_default()
    }
    /// The bot's messages in the chat that are not deleted, oldest first.
    pub fn bot_messages(&self, chat_id: i64) -> Vec<&ChatMessage> {
        self.messages(chat_id)
            .into_iter()
            .filter(|m| m.from_bot)
            .collect()
    }
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<&ChatMessage> {
        self.chats.get(&chat_id)?.get(&message_id)
    }
    pub fn calls_to<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls
            .iter()
            .filter(move |c| c.method.eq_ignore_ascii_case(method))
    }
    /// Updates injected but not yet confirmed by a getUpdates offset.
    pub fn pending_updates(&self) -> usize {
        self.updates.len()
    }
    /// The record of the update that carried message `message_id` of `chat_id`.
    pub fn message_update(&self, chat_id: i64, message_id: i64) -> Option<&UpdateRecord> {
        self.update_log
            .iter()
            .find(|u| u.kind == "message" && u.chat_id == chat_id && u.message_id == message_id)
    }
    /// The record of callback query `query_id`.
    pub fn query_update(&self, query_id: &str) -> Option<&UpdateRecord> {
        self.update_log
            .iter()
            .find(|u| u.query_id.as_deref() == Some(query_id))
    }
    /// Calls struck by an injected fault.
    pub fn faulted_calls(&self) -> impl Iterator<Item = &Call> + '_ {
        self.calls.iter().filter(|c| c.fault.is_some())
    }
    fn update_mut(&mut self, update_id: i64) -> Option<&mut UpdateRecord> {
        let i = self
            .update_log
            .binary_search_by_key(&update_id, |u| u.update_id)
            .ok()?;
        self.update_log.get_mut(i)
    }
}

struct Shared {
    state: Mutex<State>,
    /// Bumped on every change, so waiters wake without polling.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// A running fake Telegram server. Dropping it stops accepting connections.
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    opts: FakeOptions,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A user as Telegram describes one.
pub fn user_json(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("User{id}"), "username": format!("user{id}"), "language_code": "en"})
}

fn chat_json(chat_id: i64) -> Value {
    if chat_id > 0 {
        json!({"id": chat_id, "type": "private", "first_name": format!("User{chat_id}"), "username": format!("user{chat_id}")})
    } else {
        json!({"id": chat_id, "type": "group", "title": format!("Group {chat_id}")})
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An API error: HTTP status and description.
#[derive(Debug)]
struct ApiErr {
    code: u16,
    description: String,
    retry_after: Option<u64>,
}

fn bad(description: impl Into<String>) -> ApiErr {
    ApiErr {
        code: 400,
        description: description.into(),
        retry_after: None,
    }
}

type ApiResult = Result<Value, ApiErr>;

impl FakeTelegram {
    /// Starts a fake with default options on a free port of 127.0.0.1.
    pub async fn start() -> FakeTelegram {
        Self::start_with(FakeOptions::default()).await
    }

    pub async fn start_with(opts: FakeOptions) -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telegram");
        let addr = listener.local_addr().expect("local addr");
        let now = Instant::now();
        let state = State {
            opts: opts.clone(),
            calls: Vec::new(),
            chats: BTreeMap::new(),
            commands: Vec::new(),
            flood: FloodStats::default(),
            callback_answers: BTreeMap::new(),
            chat_actions: Vec::new(),
            update_log: Vec::new(),
            uploads: Vec::new(),
            next_file: 0,
            faults: Vec::new(),
            latency: Duration::ZERO,
            updates: VecDeque::new(),
            next_update_id: 500_000_001,
            next_message_id: BTreeMap::new(),
            next_query: 1,
            queries: BTreeMap::new(),
            files: BTreeMap::new(),
            chat_buckets: BTreeMap::new(),
            group_buckets: BTreeMap::new(),
            global_bucket: Bucket {
                tokens: opts.global_burst,
                last: now,
            },
            blocked: BTreeMap::new(),
            global_blocked: None,
            poll_generation: 0,
            seq: 0,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: watch::channel(0).0,
        });
        let server = {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| handle(shared.clone(), req));
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            })
        };
        FakeTelegram {
            addr,
            shared,
            server,
            opts,
        }
    }

    /// Base URL to give the bot (`WALKIE_TELEGRAM_API_URL`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> &str {
        &self.opts.token
    }

    pub fn bot_id(&self) -> i64 {
        self.opts.bot_id
    }

    /// Runs `f` on the current state.
    pub fn with<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.shared.lock())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.with(|s| s.calls.clone())
    }

    pub fn flood_stats(&self) -> FloodStats {
        self.with(|s| s.flood)
    }

    /// Waits until `f` returns `Some`, re-checking on every change of the fake's state.
    /// Panics after `timeout` with `what` and the requests seen (this is test code).
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&State) -> Option<T>,
    ) -> T {
        let mut rx = self.shared.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(v) = f(&self.shared.lock()) {
                return v;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let calls: Vec<String> = self.with(|s| {
                    s.calls
                        .iter()
                        .filter(|c| !c.method.eq_ignore_ascii_case("getUpdates"))
                        .map(|c| {
                            format!("{} {} -> {} {}", c.method, c.params, c.status, c.response)
                        })
                        .collect()
                });
                panic!(
                    "timed out after {timeout:?} waiting for {what}; requests seen:\n{}",
                    calls.join("\n")
                );
            }
        }
    }

    /// Waits for a bot message in `chat_id` (sent or edited to) that satisfies `pred`.
    pub async fn wait_for_bot_message(
        &self,
        chat_id: i64,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&ChatMessage) -> bool,
    ) -> ChatMessage {
        self.wait_until(timeout, what, |s| {
            s.bot_messages(chat_id)
                .into_iter()
                .find(|m| pred(m))
                .cloned()
        })
        .await
    }

    /// Queues an update; `at` is (chat, user, message id).
    fn push_update(
        st: &mut State,
        body: (&'static str, Value),
        at: (i64, i64, i64),
        query_id: Option<String>,
    ) -> i64 {
        let id = st.next_update_id;
        st.next_update_id += 1;
        let mut u = Map::new();
        u.insert("update_id".into(), json!(id));
        u.insert(body.0.into(), body.1);
        st.updates.push_back(Value::Object(u));
        st.update_log.push(UpdateRecord {
            update_id: id,
            kind: body.0,
            chat_id: at.0,
            user: at.1,
            message_id: at.2,
            query_id,
            pushed: Instant::now(),
            offered: None,
            confirmed: None,
            answered: None,
        });
        id
    }

    fn new_message_id(st: &mut State, chat_id: i64) -> i64 {
        let n = st.next_message_id.entry(chat_id).or_insert(1);
        let id = *n;
        *n += 1;
        id
    }

    /// A user sends `text` in their private chat with the bot. Returns the message id.
    pub fn send_text(&self, user: i64, text: &str) -> i64 {
        self.send_text_in(user, user, text, None)
    }

    /// A user sends `text` in `chat_id`, optionally as a reply. Returns the message id.
    pub fn send_text_in(&self, chat_id: i64, user: i64, text: &str, reply_to: Option<i64>) -> i64 {
        let mut st = self.shared.lock();
        let message_id = Self::text_update(&mut st, chat_id, user, text, reply_to);
        drop(st);
        self.shared.bump();
        message_id
    }

    fn text_update(
        st: &mut State,
        chat_id: i64,
        user: i64,
        text: &str,
        reply_to: Option<i64>,
    ) -> i64 {
        let message_id = Self::new_message_id(st, chat_id);
        let date = unix_now();
        let mut msg = json!({
            "message_id": message_id, "date": date, "chat": chat_json(chat_id), "from": user_json(user), "text": text,
        });
        if text.starts_with('/') {
            let len: usize = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .map(char::len_utf16)
                .sum();
            msg["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        if let Some(r) = reply_to {
            if let Some(orig) = st.message(chat_id, r).cloned() {
                msg["reply_to_message"] = message_json(&st.opts, &orig);
            }
        }
        let mut m = ChatMessage::from_user(chat_id, message_id, user, date);
        m.text = text.into();
        m.raw = text.into();
        m.reply_to = reply_to;
        st.chats.entry(chat_id).or_default().insert(message_id, m);
        Self::push_update(st, ("message", msg), (chat_id, user, message_id), None);
        message_id
    }

    /// Each of `users` sends `text`, all queued at once (one wake-up for the bot): in
    /// their own private chats, or all in group `group` (a negative id). Returns
    /// (chat, message id) per message. A user may appear many times.
    pub fn texts_from(
        &self,
        users: impl IntoIterator<Item = i64>,
        group: Option<i64>,
        text: &str,
    ) -> Vec<(i64, i64)> {
        let mut st = self.shared.lock();
        let sent = users
            .into_iter()
            .map(|user| {
                let chat = group.unwrap_or(user);
                (chat, Self::text_update(&mut st, chat, user, text, None))
            })
            .collect();
        drop(st);
        self.shared.bump();
        sent
    }

    /// Each of `users` presses a button with `data`, all queued at once: on one bot
    /// message in group `group`, or on one in each user's private chat (say, a card from
    /// before they left the allowlist). The messages are seeded with
    /// [`FakeTelegram::seed_bot_message`]. Returns the callback query ids.
    pub fn presses_from(
        &self,
        users: impl IntoIterator<Item = i64>,
        group: Option<i64>,
        data: &str,
    ) -> Vec<String> {
        let users: Vec<i64> = users.into_iter().collect();
        let mut seeded: BTreeMap<i64, i64> = BTreeMap::new();
        for &u in &users {
            let chat = group.unwrap_or(u);
            if let std::collections::btree_map::Entry::Vacant(e) = seeded.entry(chat) {
                e.insert(self.seed_bot_message(chat, "an old card", &[("Press", data)]));
            }
        }
        let mut st = self.shared.lock();
        let ids = users
            .iter()
            .map(|&u| {
                let chat = group.unwrap_or(u);
                Self::press_update(&mut st, u, chat, seeded[&chat], data)
            })
            .collect();
        drop(st);
        self.shared.bump();
        ids
    }

    /// Puts a message from the bot in `chat_id` as if the bot had sent it earlier, with
    /// inline buttons (text, callback_data). Returns its message id.
    pub fn seed_bot_message(&self, chat_id: i64, text: &str, buttons: &[(&str, &str)]) -> i64 {
        let mut st = self.shared.lock();
        let message_id = Self::new_message_id(&mut st, chat_id);
        let row: Vec<Value> = buttons
            .iter()
            .map(|(t, d)| json!({"text": t, "callback_data": d}))
            .collect();
        let m = ChatMessage {
            chat_id,
            message_id,
            from: st.opts.bot_id,
            from_bot: true,
            text: text.into(),
            raw: text.into(),
            parse_mode: None,
            reply_markup: (!row.is_empty()).then(|| json!({"inline_keyboard": [row]})),
            reply_to: None,
            voice_file_id: None,
            document: None,
            edits: 0,
            deleted: false,
            date: unix_now(),
            silent: false,
        };
        st.chats.entry(chat_id).or_default().insert(message_id, m);
        drop(st);
        self.shared.bump();
        message_id
    }

    /// Stores a file the bot can fetch with getFile; returns its file_id. `reported_size`
    /// overrides the size getFile reports (to simulate files over 20 MB cheaply).
    pub fn add_file(&self, bytes: Vec<u8>, reported_size: Option<usize>) -> String {
        let mut st = self.shared.lock();
        let n = st.files.len() + 1;
        let file_id = format!("AwACAgQAAxkBAAI{n:06}voice");
        let size = reported_size.unwrap_or(bytes.len());
        st.files.insert(
            file_id.clone(),
            StoredFile {
                path: format!("voice/file_{n}.oga"),
                bytes,
                size,
            },
        );
        file_id
    }

    /// A user sends a voice note (OGG/Opus bytes) in their private chat. Returns
    /// (message id, file id).
    pub fn send_voice(&self, user: i64, ogg: Vec<u8>, duration_s: u32) -> (i64, String) {
        self.send_voice_sized(user, ogg, duration_s, None)
    }

    /// Like [`FakeTelegram::send_voice`] with a size reported by getFile.
    pub fn send_voice_sized(
        &self,
        user: i64,
        ogg: Vec<u8>,
        duration_s: u32,
        reported: Option<usize>,
    ) -> (i64, String) {
        let size = reported.unwrap_or(ogg.len());
        let file_id = self.add_file(ogg, reported);
        let mut st = self.shared.lock();
        let message_id = Self::new_message_id(&mut st, user);
        let date = unix_now();
        let msg = json!({
            "message_id": message_id, "date": date, "chat": chat_json(user), "from": user_json(user),
            "voice": {"file_id": file_id, "file_unique_id": format!("u{file_id}"), "duration": duration_s,
                      "mime_type": "audio/ogg", "file_size": size},
        });
        let mut m = ChatMessage::from_user(user, message_id, user, date);
        m.voice_file_id = Some(file_id.clone());
        st.chats.entry(user).or_default().insert(message_id, m);
        Self::push_update(&mut st, ("message", msg), (user, user, message_id), None);
        drop(st);
        self.shared.bump();
        (message_id, file_id)
    }

    /// A user presses an inline button of a bot message. Returns the callback query id.
    /// Panics if the message has no button with that data (a test mistake).
    pub fn press_button(&self, user: i64, chat_id: i64, message_id: i64, data: &str) -> String {
        let mut st = self.shared.lock();
        let id = Self::press_update(&mut st, user, chat_id, message_id, data);
        drop(st);
        self.shared.bump();
        id
    }

    fn press_update(
        st: &mut State,
        user: i64,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> String {
        let msg = st
            .message(chat_id, message_id)
            .cloned()
            .unwrap_or_else(|| panic!("no message {message_id} in chat {chat_id}"));
        assert!(
            msg.button_data().iter().any(|d| d == data),
            "message {message_id} has no button {data:?}: {:?}",
            msg.buttons()
        );
        let id = format!("{}", 4_000_000_000_000u64 + st.next_query);
        st.next_query += 1;
        st.queries.insert(
            id.clone(),
            CallbackQueryState {
                chat_id,
                answered: false,
                answer: None,
            },
        );
        let q = json!({
            "id": id, "from": user_json(user), "message": message_json(&st.opts, &msg),
            "chat_instance": format!("ci{chat_id}"), "data": data,
        });
        Self::push_update(
            st,
            ("callback_query", q),
            (chat_id, user, message_id),
            Some(id.clone()),
        );
        id
    }

    /// Makes Telegram refuse the chat's requests with 429 for `secs` seconds. The first
    /// 429 tells the bot; a request after it and before `secs` counts as ignored.
    pub fn flood_chat(&self, chat_id: i64, secs: u64) {
        let mut st = self.shared.lock();
        st.blocked.insert(
            chat_id,
            Block {
                until: Instant::now() + Duration::from_secs(secs),
                told: false,
            },
        );
    }

    /// Installs a fault rule: calls picked by `select` are struck by `fault` as `when`
    /// says, counting from now. Rules are tried in the order installed; the first that
    /// strikes wins (every rule that picks a call counts it).
    ///
    /// `fake.fault(Method("sendMessage"), Nth(1), Fault::Status(502))`
    pub fn fault(&self, select: Select, when: When, fault: Fault) -> FaultId {
        let mut st = self.shared.lock();
        st.faults.push(FaultRule {
            select,
            when,
            fault,
            seen: 0,
            hits: 0,
            cleared: false,
        });
        FaultId(st.faults.len() - 1)
    }

    /// The next `n` getUpdates calls fail with `fault`.
    pub fn fail_get_updates(&self, n: u32, fault: Fault) -> FaultId {
        self.fault(Select::Method("getUpdates"), When::Next(n), fault)
    }

    /// How many calls the rule struck.
    pub fn fault_hits(&self, id: FaultId) -> u32 {
        self.with(|s| s.faults.get(id.0).map_or(0, |r| r.hits))
    }

    /// Stops every fault rule (their counts stay readable).
    pub fn clear_faults(&self) {
        let mut st = self.shared.lock();
        for r in &mut st.faults {
            r.cleared = true;
        }
    }

    /// Adds `latency` before every call is handled (downloads included); zero for none.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// The record of the update that carried message `message_id` of `chat_id`.
    pub fn message_update(&self, chat_id: i64, message_id: i64) -> Option<UpdateRecord> {
        self.with(|s| s.message_update(chat_id, message_id).cloned())
    }

    /// How long after message `message_id` of `chat_id` was offered to the bot the bot's
    /// first request to that chat arrived (None while either has not happened).
    pub fn reply_latency(&self, chat_id: i64, message_id: i64) -> Option<Duration> {
        self.with(|s| {
            let offered = s.message_update(chat_id, message_id)?.offered?;
            s.calls
                .iter()
                .filter(|c| c.chat_id() == Some(chat_id) && c.arrived >= offered)
                .map(|c| c.arrived.saturating_duration_since(offered))
                .min()
        })
    }

    /// Every callback query injected so far, with its timings.
    pub fn callback_records(&self) -> Vec<UpdateRecord> {
        self.with(|s| {
            s.update_log
                .iter()
                .filter(|u| u.kind == "callback_query")
                .cloned()
                .collect()
        })
    }
}

/// A stored message as Telegram's `Message` JSON.
fn message_json(opts: &FakeOptions, m: &ChatMessage) -> Value {
    let from = if m.from_bot {
        json!({"id": opts.bot_id, "is_bot": true, "first_name": "walkie", "username": opts.bot_username})
    } else {
        user_json(m.from)
    };
    let mut v = json!({"message_id": m.message_id, "date": m.date, "chat": chat_json(m.chat_id), "from": from});
    if let Some(f) = &m.voice_file_id {
        v["voice"] = json!({"file_id": f, "file_unique_id": format!("u{f}"), "duration": 1, "mime_type": "audio/ogg"});
    } else if let Some(d) = &m.document {
        v["document"] = json!({"file_id": d.file_id, "file_unique_id": format!("u{}", d.file_id), "file_size": d.bytes.len()});
        if let Some(n) = &d.file_name {
            v["document"]["file_name"] = json!(n);
        }
        if let Some(t) = &d.mime_type {
            v["document"]["mime_type"] = json!(t);
        }
        if !m.text.is_empty() {
            v["caption"] = json!(m.text);
        }
    } else {
        v["text"] = json!(m.text);
    }
    if let Some(k) = &m.reply_markup {
        v["reply_markup"] = k.clone();
    }
    if m.edits > 0 {
        v["edit_date"] = json!(unix_now());
    }
    v
}

fn envelope(r: &ApiResult) -> (u16, Value) {
    match r {
        Ok(v) => (200, json!({"ok": true, "result": v})),
        Err(e) => {
            let mut v = json!({"ok": false, "error_code": e.code, "description": e.description});
            if let Some(s) = e.retry_after {
                v["parameters"] = json!({"retry_after": s});
            }
            (e.code, v)
        }
    }
}

/// The body of the fake's answers: whole, or cut by a fault.
type AnswerBody = BoxBody<Bytes, std::io::Error>;
/// Handed to hyper to close a connection without an answer.
type Dropped = Box<dyn std::error::Error + Send + Sync>;

fn respond(status: u16, body: Vec<u8>, content_type: &str) -> Response<AnswerBody> {
    let body = Full::new(Bytes::from(body)).map_err(|never| match never {});
    with_head(Response::new(body.boxed()), status, content_type)
}

fn with_head(mut r: Response<AnswerBody>, status: u16, content_type: &str) -> Response<AnswerBody> {
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// An answer whose headers promise all of `body` but whose connection closes after half.
fn respond_cut(status: u16, body: Vec<u8>, content_type: &str) -> Response<AnswerBody> {
    let len = body.len();
    let half = Bytes::from(body).slice(..len / 2);
    let cut = HalfBody {
        half: Some(half),
        pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
    };
    let mut r = with_head(Response::new(cut.boxed()), status, content_type);
    r.headers_mut().insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(len),
    );
    r
}

/// Yields its half, waits a moment (so the half reaches the client), then fails: hyper
/// then closes the connection short of the promised length.
struct HalfBody {
    half: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for HalfBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if let Some(half) = this.half.take() {
            return Poll::Ready(Some(Ok(Frame::data(half))));
        }
        match this.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::other(
                "body cut by an injected fault",
            )))),
        }
    }
}

/// The fault that strikes a call of `method`, if any; counts the call for every rule.
fn pick_fault(st: &mut State, method: &str, params: &Value) -> Option<Fault> {
    let mut chosen = None;
    for r in st
        .faults
        .iter_mut()
        .filter(|r| !r.cleared && r.select.matches(method, params))
    {
        if r.picks() && chosen.is_none() {
            r.hits += 1;
            chosen = Some(r.fault.clone());
        }
    }
    chosen
}

/// The answer a fault gives in Telegram's place: (status, body, content type, as logged).
/// None when Telegram still handles the call (a drop after, a cut body, a delay).
fn fault_answer(
    st: &mut State,
    fault: &Fault,
    chat: Option<i64>,
) -> Option<(u16, Vec<u8>, &'static str, Value)> {
    let reason = |code: u16| {
        StatusCode::from_u16(code)
            .ok()
            .and_then(|c| c.canonical_reason())
            .unwrap_or("Error")
    };
    let api = |code: u16, description: &str, retry_after: Option<u64>| {
        let (status, v) = envelope(&Err(ApiErr {
            code,
            description: description.to_string(),
            retry_after,
        }));
        Some((status, v.to_string().into_bytes(), "application/json", v))
    };
    match fault {
        Fault::Drop | Fault::DropAfter | Fault::CutBody | Fault::Delay(_) => None,
        Fault::RetryAfter(_) | Fault::Status(429) => {
            let secs = match fault {
                Fault::RetryAfter(s) => (*s).max(1),
                _ => st.opts.min_retry_after.max(1),
            };
            st.flood.too_many_requests += 1;
            if let Some(chat) = chat {
                let until = Instant::now() + Duration::from_secs(secs);
                st.blocked.insert(chat, Block { until, told: true });
            }
            api(
                429,
                &format!("Too Many Requests: retry after {secs}"),
                Some(secs),
            )
        }
        Fault::Status(code) => api(*code, reason(*code), None),
        Fault::Api(code, description) => api(*code, description, None),
        Fault::Html(code) => {
            let title = format!("{code} {}", reason(*code));
            let page = format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            );
            Some((
                *code,
                page.clone().into_bytes(),
                "text/html",
                Value::String(page),
            ))
        }
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parameters from the query string and an urlencoded, JSON or multipart body (with the
/// files of a multipart one).
fn parse_params(
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
    files: &mut Vec<uploads::FilePart>,
) -> Result<Map<String, Value>, ApiErr> {
    let mut params = Map::new();
    let form = |s: &str, params: &mut Map<String, Value>| {
        for pair in s.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(&v.replace('+', " "));
            // Form values holding JSON (reply_markup, ...) are decoded like Telegram does.
            let value = if v.starts_with('{') || v.starts_with('[') {
                serde_json::from_str(&v).unwrap_or(Value::String(v))
            } else {
                Value::String(v)
            };
            params.insert(percent_decode(k), value);
        }
    };
    if let Some(q) = query {
        form(q, &mut params);
    }
    if body.is_empty() {
        return Ok(params);
    }
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => params.extend(m),
            _ => return Err(bad("Bad Request: can't parse JSON object")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        form(&String::from_utf8_lossy(body), &mut params);
    } else if content_type.starts_with("multipart/form-data") {
        *files = uploads::parse_multipart(content_type, body, &mut params)?;
    } else {
        return Err(bad(format!(
            "Bad Request: unsupported content type {content_type:?}"
        )));
    }
    Ok(params)
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<AnswerBody>, Dropped> {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let latency = shared.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = parts.uri.path().to_string();
    let token = shared.lock().opts.token.clone();
    let unauthorized = || {
        respond(
            401,
            br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.to_vec(),
            "application/json",
        )
    };
    let not_found = || {
        respond(
            404,
            br#"{"ok":false,"error_code":404,"description":"Not Found"}"#.to_vec(),
            "application/json",
        )
    };

    // File downloads: /file/bot<token>/<path>, path percent-encoded by the client.
    let mut files = Vec::new();
    let (method, params) = if let Some(rest) = path.strip_prefix("/file/bot") {
        let Some(file_path) = rest
            .strip_prefix(token.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Ok(unauthorized());
        };
        let mut p = Map::new();
        p.insert("file_path".into(), json!(percent_decode(file_path)));
        (DOWNLOAD.to_string(), Ok(p))
    } else {
        let Some(rest) = path.strip_prefix("/bot") else {
            return Ok(not_found());
        };
        let (tok, method) = rest.split_once('/').unwrap_or((rest, ""));
        if tok != token {
            return Ok(unauthorized());
        }
        let content_type = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        (
            canonical_method(method),
            parse_params(parts.uri.query(), content_type, &body, &mut files),
        )
    };
    let params_value = params
        .as_ref()
        .map(|p| Value::Object(p.clone()))
        .unwrap_or(Value::Null);

    let fault = pick_fault(&mut shared.lock(), &method, &params_value);
    if let Some(Fault::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let chat = params_value.get("chat_id").and_then(as_i64);
    let instead = fault
        .as_ref()
        .and_then(|f| fault_answer(&mut shared.lock(), f, chat));
    let (status, bytes, content_type, logged) = match instead {
        Some(answer) => answer,
        None if fault == Some(Fault::Drop) => (0, Vec::new(), "", Value::Null),
        None if method == DOWNLOAD => {
            let file_path = params_value["file_path"].as_str().unwrap_or("");
            let st = shared.lock();
            match st.files.values().find(|f| f.path == file_path) {
                Some(f) => (
                    200,
                    f.bytes.clone(),
                    "application/octet-stream",
                    json!({"bytes": f.bytes.len()}),
                ),
                None => {
                    let (status, v) = envelope(&Err(ApiErr {
                        code: 404,
                        description: "Not Found".into(),
                        retry_after: None,
                    }));
                    (status, v.to_string().into_bytes(), "application/json", v)
                }
            }
        }
        None => {
            let result = match params {
                Err(e) => Err(e),
                Ok(p) if method == "getUpdates" => get_updates(&shared, p).await,
                Ok(p) => {
                    let mut st = shared.lock();
                    match method.as_str() {
                        "sendDocument" => uploads::send_document(&mut st, &p, &files),
                        "editMessageMedia" => uploads::edit_media(&mut st, &p, &files),
                        _ => dispatch(&mut st, &method, &p),
                    }
                }
            };
            let (status, v) = envelope(&result);
            (status, v.to_string().into_bytes(), "application/json", v)
        }
    };
    {
        let mut st = shared.lock();
        let now = Instant::now();
        let delivered = !matches!(fault, Some(Fault::Drop | Fault::DropAfter | Fault::CutBody));
        if method == "getUpdates" && status == 200 && delivered {
            let ids: Vec<i64> = logged["result"]
                .as_array()
                .map(|a| a.iter().filter_map(|u| u["update_id"].as_i64()).collect())
                .unwrap_or_default();
            for id in ids {
                if let Some(u) = st.update_mut(id) {
                    u.offered.get_or_insert(now);
                }
            }
        }
        st.seq += 1;
        let seq = st.seq;
        st.calls.push(Call {
            seq,
            method: method.clone(),
            params: params_value,
            arrived,
            at: now,
            unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            status,
            response: logged,
            fault: fault.clone(),
        });
    }
    shared.bump();
    match fault {
        Some(Fault::Drop | Fault::DropAfter) => {
            Err("connection dropped by an injected fault".into())
        }
        Some(Fault::CutBody) => Ok(respond_cut(status, bytes, content_type)),
        _ => Ok(respond(status, bytes, content_type)),
    }
}

/// Telegram's spelling of a method, matched case-insensitively.
fn canonical_method(m: &str) -> String {
    const KNOWN: &[&str] = &[
        "getMe",
        "getUpdates",
        "deleteWebhook",
        "getWebhookInfo",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
        "editMessageMedia",
        "sendDocument",
        "deleteMessage",
        "answerCallbackQuery",
        "sendChatAction",
        "getFile",
        "close",
        "logOut",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(m))
        .map_or_else(|| m.to_string(), |k| k.to_string())
}

fn dispatch(st: &mut State, method: &str, p: &Map<String, Value>) -> ApiResult {
    match method {
        "getMe" => Ok(json!({
            "id": st.opts.bot_id, "is_bot": true, "first_name": "walkie", "username": st.opts.bot_username,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false,
        })),
        "deleteWebhook" | "close" | "logOut" => Ok(json!(true)),
        "getWebhookInfo" => Ok(
            json!({"url": "", "has_custom_certificate": false, "pending_update_count": st.updates.len()}),
        ),
        "setMyCommands" => set_my_commands(st, p),
        "getMyCommands" => Ok(json!(st
            .commands
            .iter()
            .map(|(c, d)| json!({"command": c, "description": d}))
            .collect::<Vec<_>>())),
        "deleteMyCommands" => {
            st.commands.clear();
            Ok(json!(true))
        }
        "sendMessage" => send_message(st, p),
        "editMessageText" => edit_message(st, p, true),
        "editMessageReplyMarkup" => edit_message(st, p, false),
        "editMessageCaption" => uploads::edit_caption(st, p),
        "deleteMessage" => delete_message(st, p),
        "answerCallbackQuery" => answer_callback(st, p),
        "sendChatAction" => {
            let chat = chat_of(st, p)?;
            let action = p
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            const ACTIONS: &[&str] = &[
                "typing",
                "upload_voice",
                "record_voice",
                "upload_document",
                "choose_sticker",
            ];
            if !ACTIONS.contains(&action.as_str()) {
                return Err(bad("Bad Request: wrong parameter action in request"));
            }
            st.chat_actions.push((chat, action));
            Ok(json!(true))
        }
        "getFile" => {
            let id = p.get("file_id").and_then(Value::as_str).unwrap_or("");
            let f = st
                .files
                .get(id)
                .ok_or_else(|| bad("Bad Request: wrong file id"))?;
            if f.size > MAX_DOWNLOAD {
                return Err(bad("Bad Request: file is too big"));
            }
            Ok(
                json!({"file_id": id, "file_unique_id": format!("u{id}"), "file_size": f.size, "file_path": f.path}),
            )
        }
        _ => Err(ApiErr {
            code: 404,
            description: "Not Found".into(),
            retry_after: None,
        }),
    }
}

fn chat_of(st: &State, p: &Map<String, Value>) -> Result<i64, ApiErr> {
    let chat = p
        .get("chat_id")
        .and_then(as_i64)
        .ok_or_else(|| bad("Bad Request: chat_id is empty"))?;
    // The bot can only write to chats where someone wrote to it.
    if !st.chats.contains_key(&chat) {
        return Err(bad("Bad Request: chat not found"));
    }
    Ok(chat)
}

fn set_my_commands(st: &mut State, p: &Map<String, Value>) -> ApiResult {
    let list = p
        .get("commands")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Bad Request: parameter \"commands\" is required"))?;
    let mut out = Vec::new();
    for c in list {
        let name = c.get("command").and_then(Value::as_str).unwrap_or("");
        let desc = c.get("description").and_then(Value::as_str).unwrap_or("");
        // Telegram takes names with or without the slash, 1-32 chars of [a-z0-9_].
        let bare = name.strip_prefix('/').unwrap_or(name);
        let valid = !bare.is_empty()
            && bare.len() <= 32
            && bare
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if !valid {
            return Err(bad("Bad Request: BOT_COMMAND_INVALID"));
        }
        if desc.trim().is_empty() || desc.chars().count() > 256 {
            return Err(bad("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"));
        }
        out.push((bare.to_string(), desc.to_string()));
    }
    if out.len() > 100 {
        return Err(bad("Bad Request: too many commands"));
    }
    st.commands = out;
    Ok(json!(true))
}

/// Checks a reply_markup; returns it normalised (None for absent).
fn check_markup(p: &Map<String, Value>) -> Result<Option<Value>, ApiErr> {
    let Some(m) = p.get("reply_markup") else {
        return Ok(None);
    };
    let m = match m {
        Value::String(s) => serde_json::from_str(s)
            .map_err(|_| bad("Bad Request: can't parse reply keyboard markup JSON object"))?,
        v => v.clone(),
    };
    if let Some(rows) = m.get("inline_keyboard") {
        let rows = rows
            .as_array()
            .ok_or_else(|| bad("Bad Request: field \"inline_keyboard\" must be an Array"))?;
        for row in rows {
            let row = row.as_array().ok_or_else(|| {
                bad("Bad Request: field \"inline_keyboard\" must be an Array of Arrays")
            })?;
            for b in row {
                let text = b.get("text").and_then(Value::as_str).unwrap_or("");
                if text.is_empty() {
                    return Err(bad(
                        "Bad Request: text buttons are unallowed in the inline keyboard",
                    ));
                }
                match b.get("callback_data") {
                    Some(Value::String(d)) if d.is_empty() || d.len() > MAX_CALLBACK_DATA => {
                        return Err(bad("Bad Request: BUTTON_DATA_INVALID"))
                    }
                    Some(Value::String(_)) => {}
                    Some(_) => return Err(bad("Bad Request: BUTTON_DATA_INVALID")),
                    None if b.get("url").is_some() => {}
                    None => {
                        return Err(bad(
                            "Bad Request: text buttons are unallowed in the inline keyboard",
                        ))
                    }
                }
            }
        }
        if rows.iter().all(|r| r.as_array().is_some_and(Vec::is_empty)) {
            return Ok(None);
        }
    }
    Ok(Some(m))
}

/// The visible text of `raw` under `parse_mode`, checked like Telegram does.
fn visible(raw: &str, parse_mode: Option<&str>) -> Result<String, ApiErr> {
    let text = match parse_mode {
        None | Some("") => raw.to_string(),
        Some(m) if m.eq_ignore_ascii_case("html") => {
            parse_html(raw).map_err(|e| bad(format!("Bad Request: can't parse entities: {e}")))?
        }
        Some(m) => return Err(bad(format!("Bad Request: unsupported parse_mode {m:?}"))),
    };
    // Telegram strips surrounding whitespace before checking.
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(bad("Bad Request: message text is empty"));
    }
    if text.chars().map(char::len_utf16).sum::<usize>() > MAX_TEXT_UTF16 {
        return Err(bad(TOO_LONG));
    }
    Ok(text)
}

/// Parses Telegram's HTML subset: the supported tags, the named entities `&lt; &gt;
/// &amp; &quot;` and numeric ones. Returns the visible text or the error Telegram gives.
pub fn parse_html(s: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let mut out = String::with_capacity(s.len());
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let Some(c) = rest.chars().next() else { break };
        match c {
            '<' => {
                let Some(end) = rest.find('>') else {
                    return Err(format!("Unclosed start tag at byte offset {i}"));
                };
                let inner = &rest[1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        None => return Err(format!("Unexpected end tag at byte offset {i}")),
                        Some(open) if open != name => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {i}, expected \"</{open}>\", found \"</{name}>\""
                            ))
                        }
                        Some(_) => {}
                    }
                } else {
                    let name = inner
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    stack.push(name);
                }
                i += end + 1;
            }
            '&' => {
                let semi = rest.find(';').filter(|&j| j <= 10);
                let decoded = semi.and_then(|j| {
                    let ent = &rest[1..j];
                    let ch = match ent {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                            u32::from_str_radix(&ent[2..], 16)
                                .ok()
                                .and_then(char::from_u32)
                        }
                        _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
                        _ => None,
                    };
                    ch.map(|ch| (ch, j))
                });
                match decoded {
                    Some((ch, j)) => {
                        out.push(ch);
                        i += j + 1;
                    }
                    None => {
                        // Telegram leaves an '&' that starts no entity as it is.
                        out.push('&');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(out)
}

/// Flood control for one request to `chat`: Ok, or the 429 to answer.
fn flood_check(st: &mut State, chat: i64) -> Result<(), ApiErr> {
    let now = Instant::now();
    let too_many = |secs: u64| ApiErr {
        code: 429,
        description: format!("Too Many Requests: retry after {secs}"),
        retry_after: Some(secs),
    };
    let secs_until =
        |t: Instant| (t.saturating_duration_since(now).as_secs_f64().ceil() as u64).max(1);
    let chat_block = st.blocked.get_mut(&chat).filter(|b| b.until > now);
    let global_block = st.global_blocked.as_mut().filter(|b| b.until > now);
    let active: Vec<&mut Block> = chat_block.into_iter().chain(global_block).collect();
    if !active.is_empty() {
        // A block the bot was told about (by a 429) and asks inside anyway: ignored.
        // `flood_chat` blocks silently until its first 429.
        let told = active.iter().any(|b| b.told);
        let until = active.iter().map(|b| b.until).max().unwrap_or(now);
        for b in active {
            b.told = true;
        }
        if told {
            st.flood.ignored_retry_after += 1;
        }
        st.flood.too_many_requests += 1;
        return Err(too_many(secs_until(until)));
    }
    let (burst, rate) = (st.opts.chat_burst, st.opts.chat_per_sec);
    let b = st.chat_buckets.entry(chat).or_insert(Bucket {
        tokens: burst,
        last: now,
    });
    b.tokens = (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate).min(burst);
    b.last = now;
    let mut chat_short = b.tokens < 1.0;
    let mut chat_wait = (1.0 - b.tokens) / rate;
    // Groups also have a per-minute budget (Telegram: about 20 messages a minute).
    if let (Some(per_min), true) = (st.opts.group_per_minute, chat < 0) {
        let rate = per_min / 60.0;
        let b = st.group_buckets.entry(chat).or_insert(Bucket {
            tokens: per_min,
            last: now,
        });
        b.tokens =
            (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate).min(per_min);
        b.last = now;
        if b.tokens < 1.0 {
            chat_short = true;
            chat_wait = chat_wait.max((1.0 - b.tokens) / rate);
        }
    }
    let (gburst, grate) = (st.opts.global_burst, st.opts.global_per_sec);
    let g = &mut st.global_bucket;
    g.tokens = (g.tokens + now.saturating_duration_since(g.last).as_secs_f64() * grate).min(gburst);
    g.last = now;
    let global_short = g.tokens < 1.0;
    let global_wait = (1.0 - g.tokens) / grate;
    if chat_short || global_short {
        let wait = if chat_short { chat_wait } else { global_wait };
        let secs = (wait.ceil() as u64).max(st.opts.min_retry_after).max(1);
        let block = Block {
            until: now + Duration::from_secs(secs),
            told: true,
        };
        if global_short {
            st.global_blocked = Some(block);
        } else {
            st.blocked.insert(chat, block);
        }
        st.flood.too_many_requests += 1;
        return Err(too_many(secs));
    }
    st.global_bucket.tokens -= 1.0;
    if let Some(b) = st.chat_buckets.get_mut(&chat) {
        b.tokens -= 1.0;
    }
    if let Some(b) = st.group_buckets.get_mut(&chat) {
        b.tokens -= 1.0;
    }
    Ok(())
}

/// The `text` and `parse_mode` parameters.
fn text_and_mode(p: &Map<String, Value>) -> (String, Option<String>) {
    let text = p.get("text").and_then(Value::as_str).unwrap_or("");
    let mode = p.get("parse_mode").and_then(Value::as_str);
    (text.to_string(), mode.map(str::to_string))
}

fn send_message(st: &mut State, p: &Map<String, Value>) -> ApiResult {
    let chat = chat_of(st, p)?;
    let (raw, parse_mode) = text_and_mode(p);
    let text = visible(&raw, parse_mode.as_deref())?;
    let markup = check_markup(p)?;
    let reply_to = p
        .get("reply_parameters")
        .and_then(|r| r.get("message_id"))
        .and_then(as_i64)
        .or_else(|| p.get("reply_to_message_id").and_then(as_i64));
    if let Some(r) = reply_to {
        if st.message(chat, r).is_none_or(|m| m.deleted) {
            return Err(bad("Bad Request: message to be replied not found"));
        }
    }
    flood_check(st, chat)?;
    let message_id = FakeTelegram::new_message_id(st, chat);
    let m = ChatMessage {
        chat_id: chat,
        message_id,
        from: st.opts.bot_id,
        from_bot: true,
        text,
        raw,
        parse_mode,
        reply_markup: markup,
        reply_to,
        voice_file_id: None,
        document: None,
        edits: 0,
        deleted: false,
        date: unix_now(),
        silent: p
            .get("disable_notification")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let v = message_json(&st.opts, &m);
    st.chats.entry(chat).or_default().insert(message_id, m);
    Ok(v)
}

fn edit_message(st: &mut State, p: &Map<String, Value>, text_edit: bool) -> ApiResult {
    if p.contains_key("inline_message_id") {
        return Err(bad("Bad Request: MESSAGE_ID_INVALID"));
    }
    let chat = chat_of(st, p)?;
    let id = p
        .get("message_id")
        .and_then(as_i64)
        .ok_or_else(|| bad("Bad Request: message identifier is not specified"))?;
    let (new_raw, parse_mode) = text_and_mode(p);
    let new_text = if text_edit {
        Some(visible(&new_raw, parse_mode.as_deref())?)
    } else {
        None
    };
    let markup = check_markup(p)?;
    let Some(old) = st.message(chat, id).filter(|m| !m.deleted).cloned() else {
        return Err(bad("Bad Request: message to edit not found"));
    };
    if !old.from_bot {
        return Err(bad("Bad Request: message can't be edited"));
    }
    if text_edit && old.document.is_some() {
        return Err(bad("Bad Request: there is no text in the message to edit"));
    }
    flood_check(st, chat)?;
    let same_text = new_text
        .as_ref()
        .is_none_or(|t| *t == old.text && new_raw == old.raw);
    if same_text && markup == old.reply_markup {
        return Err(bad(NOT_MODIFIED));
    }
    let opts = st.opts.clone();
    let Some(m) = st.chats.get_mut(&chat).and_then(|c| c.get_mut(&id)) else {
        return Err(bad("Bad Request: message to edit not found"));
    };
    if let Some(t) = new_text {
        m.text = t;
        m.raw = new_raw;
        m.parse_mode = parse_mode;
    }
    m.reply_markup = markup;
    m.edits += 1;
    Ok(message_json(&opts, m))
}

fn delete_message(st: &mut State, p: &Map<String, Value>) -> ApiResult {
    let chat = chat_of(st, p)?;
    let id = p
        .get("message_id")
        .and_then(as_i64)
        .ok_or_else(|| bad("Bad Request: message identifier is not specified"))?;
    match st.chats.get_mut(&chat).and_then(|c| c.get_mut(&id)) {
        Some(m) if !m.deleted => {
            m.deleted = true;
            Ok(json!(true))
        }
        _ => Err(bad("Bad Request: message to delete not found")),
    }
}

fn answer_callback(st: &mut State, p: &Map<String, Value>) -> ApiResult {
    let id = p
        .get("callback_query_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let text = p.get("text").and_then(Value::as_str).unwrap_or("");
    if text.chars().count() > 200 {
        return Err(bad("Bad Request: MESSAGE_TOO_LONG"));
    }
    let pressed = st.query_update(&id).map(|u| u.pushed);
    let expired = st
        .opts
        .callback_expiry
        .zip(pressed)
        .is_some_and(|(limit, at)| at.elapsed() > limit);
    match st.queries.get_mut(&id) {
        Some(q) if !q.answered && !expired => {
            q.answered = true;
            q.answer = Some(Value::Object(p.clone()));
            let now = Instant::now();
            if let Some(u) = st
                .update_log
                .iter_mut()
                .find(|u| u.query_id.as_deref() == Some(id.as_str()))
            {
                u.answered = Some(now);
            }
            st.callback_answers.insert(id, Value::Object(p.clone()));
            Ok(json!(true))
        }
        _ => Err(bad(QUERY_TOO_OLD)),
    }
}

async fn get_updates(shared: &Arc<Shared>, p: Map<String, Value>) -> ApiResult {
    let offset = p.get("offset").and_then(as_i64);
    let limit = p.get("limit").and_then(as_i64).unwrap_or(100).clamp(1, 100) as usize;
    let timeout = p.get("timeout").and_then(as_i64).unwrap_or(0).clamp(0, 50) as u64;
    if let Some(a) = p.get("allowed_updates") {
        if !a.is_array() {
            return Err(bad("Bad Request: can't parse allowed updates"));
        }
    }
    let mut rx = shared.changed.subscribe();
    let generation = {
        let mut st = shared.lock();
        st.poll_generation += 1;
        // Confirm: every update below the offset is forgotten for good.
        let mut confirmed = Vec::new();
        if let Some(o) = offset {
            if o < 0 {
                let keep = o.unsigned_abs() as usize;
                while st.updates.len() > keep {
                    confirmed.extend(st.updates.pop_front());
                }
            } else {
                while st
                    .updates
                    .front()
                    .is_some_and(|u| u["update_id"].as_i64().unwrap_or(0) < o)
                {
                    confirmed.extend(st.updates.pop_front());
                }
            }
        }
        let now = Instant::now();
        for u in confirmed {
            if let Some(r) = u["update_id"].as_i64().and_then(|id| st.update_mut(id)) {
                r.confirmed = Some(now);
            }
        }
        st.poll_generation
    };
    // Wake any older poll so it sees it was superseded.
    shared.bump();
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        rx.borrow_and_update();
        {
            let st = shared.lock();
            if st.poll_generation != generation {
                return Err(ApiErr {
                    code: 409,
                    description: CONFLICT.into(),
                    retry_after: None,
                });
            }
            if !st.updates.is_empty() {
                return Ok(Value::Array(
                    st.updates.iter().take(limit).cloned().collect(),
                ));
            }
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return Ok(json!([]));
        }
    }
}

#[cfg(test)]
mod tests {
    use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
    use teloxide::prelude::*;
    use teloxide::types::{
        InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ParseMode, UpdateKind,
    };
    use teloxide::{ApiError, RequestError};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const T: Duration = Duration::from_secs(20);

    /// Every test is bounded in time.
    async fn bounded<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(T, f).await.expect("test timed out")
    }

    fn bot(fake: &FakeTelegram) -> Bot {
        let url = fake.api_url().parse().expect("url");
        Bot::new(fake.token()).set_api_url(url)
    }

    /// A raw HTTP/1.1 request; returns (status, JSON body).
    async fn raw(fake: &FakeTelegram, path: &str, body: &str) -> (u16, Value) {
        let mut s = tokio::net::TcpStream::connect(fake.addr)
            .await
            .expect("connect");
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.expect("read");
        let resp = String::from_utf8_lossy(&resp).to_string();
        let status = resp[9..12].parse().expect("status");
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn api_err(e: RequestError) -> ApiError {
        match e {
            RequestError::Api(a) => a,
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn teloxide_talks_to_it_with_pascal_case_methods() {
        bounded(async {
            let fake = FakeTelegram::start().await;
            let bot = bot(&fake);
            let me = bot.get_me().await.expect("getMe parses strictly");
            assert_eq!(me.username(), "walkie_test_bot");
            // teloxide spells methods in PascalCase; the log uses Telegram's spelling.
            assert!(fake.calls().iter().any(|c| c.method == "getMe" && c.ok()));
            let (s, v) = raw(&fake, &format!("/bot{}/GETME", fake.token()), "{}").await;
            assert_eq!((s, v["ok"].clone()), (200, json!(true)));
            let (s, v) = raw(&fake, "/botWRONG/getMe", "{}").await;
            assert_eq!((s, v["description"].as_str()), (401, Some("Unauthorized")));
            let (s, v) = raw(&fake, &format!("/bot{}/noSuchMethod", fake.token()), "{}").await;
            assert_eq!((s, v["error_code"].as_i64()), (404, Some(404)));
        })
        .await;
    }

    #[tokio::test]
    async fn updates_parse_in_teloxide_and_offset_confirms_them() {
        bounded(async {
            let fake = FakeTelegram::start().await;
            let bot = bot(&fake);
            let text_id = fake.send_text(42, "/help");
            let sent =
                bot.send_message(ChatId(42), "pick")
                    .reply_markup(InlineKeyboardMarkup::new([[
                        InlineKeyboardButton::callback("Send", "t:1:send"),
                    ]]));
            let sent = sent.await.expect("send");
            fake.press_button(42, 42, i64::from(sent.id.0), "t:1:send");
            fake.send_voice(42, b"OggS fake".to_vec(), 3);
            let ups = bot.get_updates().await.expect("updates parse");
            assert_eq!(ups.len(), 3);
            match &ups[0].kind {
                UpdateKind::Message(m) => {
                    assert_eq!(m.id.0 as i64, text_id);
                    assert_eq!(m.text(), Some("/help"));
                }
                k => panic!("{k:?}"),
            }
            match &ups[1].kind {
                UpdateKind::CallbackQuery(q) => assert_eq!(q.data.as_deref(), Some("t:1:send")),
                k => panic!("{k:?}"),
            }
            match &ups[2].kind {
                UpdateKind::Message(m) => assert!(m.voice().is_some()),
                k => panic!("{k:?}"),
            }
            // Not confirmed yet: delivered again.
            assert_eq!(bot.get_updates().await.unwrap().len(), 3);
            let next = ups[2].id.0 as i32 + 1;
            assert!(bot.get_updates().offset(next).await.unwrap().is_empty());
            assert_eq!(fake.with(|s| s.pending_updates()), 0);
        })
        .await;
    }

    #[tokio::test]
    async fn long_poll_wakes_on_a_new_update_and_a_second_poller_conflicts() {
        bounded(async {
            let fake = Arc::new(FakeTelegram::start().await);
            let bot = bot(&fake);
            let started = Instant::now();
            let poll = tokio::spawn({
                let bot = bot.clone();
                async move { bot.get_updates().timeout(10).await }
            });
            fake.wait_until(T, "the poll to arrive", |s| {
                s.poll_generation.eq(&1).then_some(())
            })
            .await;
            fake.send_text(7, "hi");
            let ups = poll.await.unwrap().unwrap();
            assert_eq!(ups.len(), 1);
            assert!(started.elapsed() < Duration::from_secs(5));
            // Two pollers: the older one is told about the conflict.
            let ups_id = ups[0].id.0 as i32 + 1;
            let first = tokio::spawn({
                let bot = bot.clone();
                async move { bot.get_updates().offset(ups_id).timeout(10).await }
            });
            fake.wait_until(T, "first poll", |s| (s.poll_generation == 2).then_some(()))
                .await;
            let second = tokio::spawn({
                let bot = bot.clone();
                async move { bot.get_updates().offset(ups_id).timeout(1).await }
            });
            let e = first.await.unwrap().unwrap_err();
            assert!(matches!(api_err(e), ApiError::TerminatedByOtherGetUpdates));
            assert!(second.await.unwrap().unwrap().is_empty());
        })
        .await;
    }

    #[tokio::test]
    async fn message_limits_and_html_are_checked_like_telegram() {
        bounded(async {
            let fake = FakeTelegram::start().await;
            let bot = bot(&fake);
            fake.send_text(1, "hi");
            let too_long = "x".repeat(4097);
            let e = bot.send_message(ChatId(1), too_long).await.unwrap_err();
            assert!(matches!(api_err(e), ApiError::MessageIsTooLong));
            // 4096 visible characters are fine even when the HTML is much longer.
            let ok = format!("<pre>{}</pre>", "&lt;".repeat(4096));
            bot.send_message(ChatId(1), ok)
                .parse_mode(ParseMode::Html)
                .await
                .expect("4096 after parsing");
            // UTF-16: 2049 emoji are 4098 units.
            let e = bot
                .send_message(ChatId(1), "😀".repeat(2049))
                .await
                .unwrap_err();
            assert!(matches!(api_err(e), ApiError::MessageIsTooLong));
            let e = bot.send_message(ChatId(1), "  ").await.unwrap_err();
            assert!(matches!(api_err(e), ApiError::MessageTextIsEmpty));
            let e = bot
                .send_message(ChatId(1), "a <b>b")
                .parse_mode(ParseMode::Html)
                .await
                .unwrap_err();
            assert!(matches!(api_err(e), ApiError::CantParseEntities(_)));
            let e = bot
                .send_message(ChatId(1), "1 < 2")
                .parse_mode(ParseMode::Html)
                .await
                .unwrap_err();
            assert!(matches!(api_err(e), ApiError::CantParseEntities(_)));
            let e = bot.send_message(ChatId(999), "who?").await.unwrap_err();
            assert!(matches!(api_err(e), ApiError::ChatNotFound));
            let long_data = "d".repeat(65);
            let e = bot
                .send_message(ChatId(1), "buttons")
                .reply_markup(InlineKeyboardMarkup::new([[
                    InlineKeyboardButton::callback("x", long_data),
                ]]))
                .await
                .unwrap_err();
            assert!(matches!(api_err(e), ApiError::ButtonDataInvalid));
            assert_eq!(
                parse_html("<b>a &amp; &lt;b&gt;</b> &#x41;&#66; & x").unwrap(),
                "a & <b> AB & x"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn edits_delete_and_not_modified() {
        bounded(async {
            let fake = FakeTelegram::start().await;
            let bot = bot(&fake);
            fake.send_text(1, "hi");
            let m = bot
                .send_message(ChatId(1), "<pre>a</pre>")
                .parse_mode(ParseMode::Html)
                .await
                .unwrap();
            bot.edit_message_text(ChatId(1), m.id, "<pre>b</pre>")
                .parse_mode(ParseMode::Html)
                .await
                .unwrap();
            let e = bot
                .edit_message_text(ChatId(1), m.id, "<pre>b</pre>")
                .parse_mode(ParseMode::Html)
                .await
                .unwrap_err();
            assert!(matches!(api_err(e), ApiError::MessageNotModified));
            let shown = fake
                .with(|s| s.message(1, i64::from(m.id.0)).cloned())
                .unwrap();
            assert_eq!((shown.text.as_str(), shown.edits), ("b", 1));
            let e = bot
                .edit_message_text(ChatId(1), MessageId(1), "x")
                .await
                .unwrap_err();
            assert!(
                matches!(api_err(e), ApiError::MessageCantBeEdited),
                "the user's own message"
            );
            bot.delete_message(ChatId(1), m.id).await.unwrap();
            let e = bot.delete_message(ChatId(1), m.id).await.unwrap_err();
            assert!(matches!(api_err(e), ApiError::MessageToDeleteNotFound));
            let e = bot
                .edit_message_text(ChatId(1), m.id, "c")
                .await
                .unwrap_err();
            assert!(matches!(api_err(e), ApiError::MessageToEditNotFound));
            assert!(fake.with(|s| s.bot_messages(1).is_empty()));
        })
        .await;
    }

    #[tokio::test]
    async fn flood_control_counts_edits_and_catches_ignored_retry_after() {
        bounded(async {
            let fake = FakeTelegram::start().await;
            let bot = bot(&fake);
            fake.send_text(1, "hi");
            fake.send_text(2, "hi");
            let m = bot.send_message(ChatId(1), "0").await.unwrap();
            // Burst of 4: one send + three edits pass, the next edit is refused.
            for i in 1..=3 {
                bot.edit_message_text(ChatId(1), m.id, i.to_string())
                    .await
                    .unwrap();
            }
            let e = bot
                .edit_message_text(ChatId(1), m.id, "4")
                .await
                .unwrap_err();
            let RequestError::RetryAfter(secs) = e else {
                panic!("{e:?}")
            };
            assert!(secs.seconds() >= 1);
            // Another chat has its own budget.
            bot.send_message(ChatId(2), "fine").await.unwrap();
            assert_eq!(
                fake.flood_stats(),
                FloodStats {
                    too_many_requests: 1,
                    ignored_retry_after: 0
                }
            );
            // Asking again at once ignores retry_after, and that is counted.
            assert!(matches!(
                bot.send_message(ChatId(1), "x").await,
                Err(RequestError::RetryAfter(_))
            ));
            assert_eq!(fake.flood_stats().ignored_retry_after, 1);
            // After the wait, it goes through.
            tokio::time::sleep(secs.duration()).await;
            bot.send_message(ChatId(1), "later").await.unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn files_callbacks_and_commands() {
        bounded(async {
            let fake = FakeTelegram::start().await;
            let bot = bot(&fake);
            let (_, file_id) = fake.send_voice(5, b"OggS voice bytes".to_vec(), 2);
            let f = bot.get_file(file_id.into()).await.unwrap();
            let mut got = Vec::new();
            teloxide::net::Download::download_file(&bot, &f.path, &mut got)
                .await
                .unwrap();
            assert_eq!(got, b"OggS voice bytes");
            let big = fake.add_file(vec![0; 10], Some(MAX_DOWNLOAD + 1));
            let e = bot.get_file(big.into()).await.unwrap_err();
            assert!(format!("{e}").contains("file is too big"), "{e}");
            let e = bot.get_file("nope".to_string().into()).await.unwrap_err();
            assert!(matches!(api_err(e), ApiError::WrongFileId));

            let m = bot
                .send_message(ChatId(5), "card")
                .reply_markup(InlineKeyboardMarkup::new([[
                    InlineKeyboardButton::callback("Send", "s"),
                ]]))
                .await
                .unwrap();
            let q = fake.press_button(5, 5, i64::from(m.id.0), "s");
            bot.answer_callback_query(q.clone().into())
                .text("sent")
                .await
                .unwrap();
            // Telegram's text says "query ID"; teloxide's table has "query id", so match the text.
            let e = bot.answer_callback_query(q.into()).await.unwrap_err();
            assert!(format!("{e}").contains("query is too old"), "{e}");

            use teloxide::types::BotCommand;
            bot.set_my_commands([BotCommand::new("help", "what walkie can do")])
                .await
                .unwrap();
            assert_eq!(
                fake.with(|s| s.commands.clone()),
                vec![("help".into(), "what walkie can do".into())]
            );
            let e = bot
                .set_my_commands([BotCommand::new("Bad-Name", "x")])
                .await
                .unwrap_err();
            assert!(
                format!("{e}").contains("BOT_COMMAND_INVALID") || matches!(e, RequestError::Api(_))
            );
        })
        .await;
    }
}
