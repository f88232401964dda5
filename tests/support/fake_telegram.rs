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
//!   count), and a global budget; over it, 429 with `retry_after`. A request to a chat
//!   still inside its `retry_after` is counted as *ignored*, so tests can assert that
//!   every 429 was honoured;
//! - getUpdates long polling with `offset` confirmation, and 409 Conflict when a second
//!   poller takes over;
//! - getFile and the `/file/bot<token>/<path>` download (20 MB limit).
//!
//! The control side injects updates (text, voice notes with their OGG file, button
//! presses) and waits, event-driven and bounded, for what the bot did.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
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
    pub at: Instant,
    /// Wall-clock time of the request, in Unix seconds (for staleness measurements).
    pub unix_s: f64,
    pub status: u16,
    pub response: Value,
}

impl Call {
    pub fn ok(&self) -> bool {
        self.status == 200
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

#[derive(Debug)]
struct CallbackQueryState {
    chat_id: i64,
    answered: bool,
    answer: Option<Value>,
}

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
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: BTreeMap<i64, i64>,
    next_query: u64,
    queries: BTreeMap<String, CallbackQueryState>,
    files: BTreeMap<String, StoredFile>,
    chat_buckets: BTreeMap<i64, Bucket>,
    global_bucket: Bucket,
    blocked: BTreeMap<i64, Instant>,
    global_blocked: Option<Instant>,
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
            updates: VecDeque::new(),
            next_update_id: 500_000_001,
            next_message_id: BTreeMap::new(),
            next_query: 1,
            queries: BTreeMap::new(),
            files: BTreeMap::new(),
            chat_buckets: BTreeMap::new(),
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

    fn push_update(&self, st: &mut State, body: (&str, Value)) -> i64 {
        let id = st.next_update_id;
        st.next_update_id += 1;
        let mut u = Map::new();
        u.insert("update_id".into(), json!(id));
        u.insert(body.0.into(), body.1);
        st.updates.push_back(Value::Object(u));
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
        let message_id = Self::new_message_id(&mut st, chat_id);
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
        self.push_update(&mut st, ("message", msg));
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
        self.push_update(&mut st, ("message", msg));
        drop(st);
        self.shared.bump();
        (message_id, file_id)
    }

    /// A user presses an inline button of a bot message. Returns the callback query id.
    /// Panics if the message has no button with that data (a test mistake).
    pub fn press_button(&self, user: i64, chat_id: i64, message_id: i64, data: &str) -> String {
        let mut st = self.shared.lock();
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
        self.push_update(&mut st, ("callback_query", q));
        drop(st);
        self.shared.bump();
        id
    }

    /// Makes Telegram refuse the chat's next requests with 429 for `secs` seconds (those
    /// 429s are not counted as ignored unless the bot asks again before `secs`).
    pub fn flood_chat(&self, chat_id: i64, secs: u64) {
        let mut st = self.shared.lock();
        st.blocked
            .insert(chat_id, Instant::now() + Duration::from_secs(secs));
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

fn respond(status: u16, body: Vec<u8>, content_type: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
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

/// Parameters from the query string and an urlencoded or JSON body.
fn parse_params(
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
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
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let token = shared.lock().opts.token.clone();

    // File downloads: /file/bot<token>/<path>, path percent-encoded by the client.
    if let Some(rest) = path.strip_prefix("/file/bot") {
        let Some(file_path) = rest
            .strip_prefix(token.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Ok(respond(
                401,
                br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.to_vec(),
                "application/json",
            ));
        };
        let file_path = percent_decode(file_path);
        let st = shared.lock();
        return Ok(match st.files.values().find(|f| f.path == file_path) {
            Some(f) => respond(200, f.bytes.clone(), "application/octet-stream"),
            None => respond(
                404,
                br#"{"ok":false,"error_code":404,"description":"Not Found"}"#.to_vec(),
                "application/json",
            ),
        });
    }

    let Some(rest) = path.strip_prefix("/bot") else {
        return Ok(respond(
            404,
            br#"{"ok":false,"error_code":404,"description":"Not Found"}"#.to_vec(),
            "application/json",
        ));
    };
    let (tok, method) = rest.split_once('/').unwrap_or((rest, ""));
    if tok != token {
        return Ok(respond(
            401,
            br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.to_vec(),
            "application/json",
        ));
    }
    let method = canonical_method(method);
    let content_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let params = parse_params(parts.uri.query(), &content_type, &body);
    let params_value = params
        .as_ref()
        .map(|p| Value::Object(p.clone()))
        .unwrap_or(Value::Null);

    let result = match params {
        Err(e) => Err(e),
        Ok(p) if method == "getUpdates" => get_updates(&shared, p).await,
        Ok(p) => {
            let mut st = shared.lock();
            dispatch(&mut st, &method, &p)
        }
    };
    let (status, body) = envelope(&result);
    {
        let mut st = shared.lock();
        st.seq += 1;
        let seq = st.seq;
        st.calls.push(Call {
            seq,
            method: method.clone(),
            params: params_value,
            at: Instant::now(),
            unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            status,
            response: body.clone(),
        });
    }
    shared.bump();
    Ok(respond(
        status,
        body.to_string().into_bytes(),
        "application/json",
    ))
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
        return Err(bad("Bad Request: message is too long"));
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
    let blocked = [st.blocked.get(&chat).copied(), st.global_blocked]
        .into_iter()
        .flatten()
        .filter(|&t| t > now)
        .max();
    if let Some(until) = blocked {
        // Was this block one the bot had been told about? `flood_chat` blocks silently
        // until the first 429, so only count requests after a 429 was given.
        let told = st
            .calls
            .iter()
            .rev()
            .take_while(|c| c.at + Duration::from_secs(3600) > now)
            .any(|c| c.status == 429 && (c.chat_id() == Some(chat) || c.chat_id().is_none()));
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
    let chat_short = b.tokens < 1.0;
    let chat_wait = (1.0 - b.tokens) / rate;
    let (gburst, grate) = (st.opts.global_burst, st.opts.global_per_sec);
    let g = &mut st.global_bucket;
    g.tokens = (g.tokens + now.saturating_duration_since(g.last).as_secs_f64() * grate).min(gburst);
    g.last = now;
    let global_short = g.tokens < 1.0;
    let global_wait = (1.0 - g.tokens) / grate;
    if chat_short || global_short {
        let wait = if chat_short { chat_wait } else { global_wait };
        let secs = (wait.ceil() as u64).max(st.opts.min_retry_after).max(1);
        let until = now + Duration::from_secs(secs);
        if global_short {
            st.global_blocked = Some(until);
        } else {
            st.blocked.insert(chat, until);
        }
        st.flood.too_many_requests += 1;
        return Err(too_many(secs));
    }
    st.global_bucket.tokens -= 1.0;
    if let Some(b) = st.chat_buckets.get_mut(&chat) {
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
    match st.queries.get_mut(&id) {
        Some(q) if !q.answered => {
            q.answered = true;
            q.answer = Some(Value::Object(p.clone()));
            st.callback_answers.insert(id, Value::Object(p.clone()));
            Ok(json!(true))
        }
        _ => Err(bad(
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        )),
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
        if let Some(o) = offset {
            if o < 0 {
                let keep = o.unsigned_abs() as usize;
                while st.updates.len() > keep {
                    st.updates.pop_front();
                }
            } else {
                while st
                    .updates
                    .front()
                    .is_some_and(|u| u["update_id"].as_i64().unwrap_or(0) < o)
                {
                    st.updates.pop_front();
                }
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
