//! The wire protocol between `walkie` clients and the host.
//!
//! Every frame is `[u32 big-endian length][u8 kind][payload]`, where `length` counts the kind
//! byte and the payload and may not exceed [`MAX_FRAME`]. Kinds:
//! - `1` [`Frame::Request`]: a client's [`Request`] as JSON,
//! - `2` [`Frame::Reply`]: the host's [`Reply`] as JSON,
//! - `3` [`Frame::Data`]: raw terminal bytes (output to an attached client, input from it).
//!
//! Control messages (resize, pause, kill) never share a frame with terminal bytes, so a
//! stream of output can never be mistaken for a command. [`encode`] and [`decode`] are the
//! only functions that turn frames into bytes and back; [`FrameCodec`] wraps them for tokio.
//!
//! A connection starts with [`Request::Hello`]; the host answers [`Reply::Hello`] or, when the
//! versions differ, [`Reply::Error`] with [`ErrorKind::Version`] and closes.
//!
//! No reply is ever dropped for its size. Terminal bytes go as several [`Frame::Data`] of at
//! most [`MAX_DATA`]; a [`Reply::Text`] or [`Reply::Sessions`] too long for one frame goes in
//! parts ([`Reply::TextPart`], [`Reply::SessionsPart`], then the final reply with the rest),
//! cut by [`split_reply`] and joined by the client; any other reply that cannot fit becomes
//! [`ErrorKind::TooLarge`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::ask::{Agent, AskPayload, Decision, NoticeKind};
use crate::revival::{AgentSession, RevivePlan, Revived};
use crate::sandbox::{BoundaryInfo, NetworkMode, Widen};
use crate::snapshot::Snapshot;

/// Bumped on any incompatible change to [`Request`] or [`Reply`], including the approval
/// types of [`crate::ask`] and the screen model of [`crate::snapshot`] they carry.
/// 4: [`Request::Snapshot`] / [`Reply::Snapshot`].
/// 5: `Input` answered with [`Reply::Typed`] (the recording time); `NewSession.record`.
/// 6: revival: [`Request::AgentSession`], [`Reply::Revived`], `NewSession.preset`/`resume`,
/// `SessionInfo.agent`/`preset`/`revive`.
/// 7: `Agent::Copilot`.
/// 8: sandboxes: `NewSession.sandbox`/`network`, [`Request::Boundary`] / [`Reply::Boundary`],
/// [`Request::Widen`]; `Input.dispatch` (an outbox item's id, typed once by the host).
/// 9: the network card: `AskPayload::Network`, `Decision::AllowNetwork` (`NetworkScope`); screens
/// pushed: [`Request::WatchScreens`] / [`Reply::ScreenChanged`].
/// 10: presets expanded where the session runs: `NewSession.expand`, [`ErrorKind::NoPreset`].
/// 11: the terminal handed to the host: `Request::Attach.terminal`, `Reply::Attached.terminal`.
pub const PROTOCOL_VERSION: u32 = 11;

/// The least time between two [`Reply::ScreenChanged`] of one session: a flood of output
/// costs a watcher at most this many events a second, and one read of the screen each.
pub const SCREEN_CHANGE_GAP_MS: u64 = 200;

/// Largest frame accepted or produced (kind byte + payload).
pub const MAX_FRAME: usize = 1 << 20;

/// Largest terminal-bytes payload sent in one [`Frame::Data`].
pub const MAX_DATA: usize = 64 * 1024;

const KIND_REQUEST: u8 = 1;
const KIND_REPLY: u8 = 2;
const KIND_DATA: u8 = 3;

/// A byte stream the protocol runs over: a Unix socket, an ssh channel, an in-memory pipe.
#[cfg(feature = "io")]
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
#[cfg(feature = "io")]
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for S {}

/// One frame on the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Request(Request),
    Reply(Reply),
    Data(Bytes),
}

/// How to start a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSession {
    pub name: String,
    /// Program and arguments; empty means the user's shell.
    pub command: Vec<String>,
    /// Working directory; `None` means the client's.
    pub cwd: Option<PathBuf>,
    /// Extra environment for the session (on top of the host's, minus secrets).
    pub env: Vec<(String, String)>,
    /// Initial size; `None` uses the host's configured default.
    pub size: Option<(u16, u16)>,
    /// Record the session's output (when the host records at all).
    #[serde(default = "yes")]
    pub record: bool,
    /// The preset it was started from, kept for `walkie ls` and revival.
    #[serde(default)]
    pub preset: Option<String>,
    /// The preset's own resume command, `{id}` standing for the agent's session id; it
    /// replaces walkie's built-in one (`claude --resume`, `codex resume`).
    #[serde(default)]
    pub resume: Option<Vec<String>>,
    /// The sandbox profile (`off`, `workspace`, `readonly`, a custom one); `None` means the
    /// host's `sandbox.default_profile`.
    #[serde(default)]
    pub sandbox: Option<String>,
    /// Overrides the profile's network mode.
    #[serde(default)]
    pub network: Option<NetworkMode>,
    /// The host expands `preset` itself, with its own walkie.toml, its own walkie for the
    /// agent's hooks and its own state dir for the agent's home (a session on another box:
    /// the asking machine's paths mean nothing there). `command` is then extra arguments
    /// after the preset's command, `env` goes under the preset's, and `cwd`, `sandbox` and
    /// `network` override the preset's. An unknown preset is [`ErrorKind::NoPreset`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expand: bool,
}

fn yes() -> bool {
    true
}

/// A client's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// First message of every connection.
    Hello {
        version: u32,
    },
    New(NewSession),
    List,
    /// Writes each chunk to the session's terminal as a separate write, with the host's
    /// enter delay between chunks (so an Enter is never glued to pasted text).
    /// Answered with [`Reply::Typed`].
    Input {
        name: String,
        chunks: Vec<Vec<u8>>,
        /// Who sent it ("cli", "telegram user 1001", "approval by 1001"), recorded with the
        /// input.
        #[serde(default)]
        source: Option<String>,
        /// A dispatch from the home bot's outbox: the host types each id once, so a
        /// delivery repeated after a reconnect mid-way does not type twice (the repeat is
        /// answered `Typed` without typing).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dispatch: Option<String>,
    },
    Screen {
        name: String,
        ansi: bool,
    },
    Tail {
        name: String,
        lines: usize,
    },
    /// The session's screen cell by cell, colours and attributes included (for pictures);
    /// answered with [`Reply::Snapshot`], secrets masked as in [`Request::Screen`].
    Snapshot {
        name: String,
    },
    /// Switches this connection to attach mode: then [`Frame::Data`] flows both ways, or,
    /// with `terminal` and a host that takes it (it says so in [`Reply::Attached`]), the
    /// client passes its terminal's fd (one byte `T` with `SCM_RIGHTS`) and the host reads
    /// and writes that terminal itself, as tmux's server does: no client in the keystroke's
    /// path. Resize and detach still come as requests on this connection.
    Attach {
        name: String,
        cols: u16,
        rows: u16,
        #[serde(default)]
        terminal: bool,
    },
    /// In attach mode: this client's terminal size changed.
    Resize {
        cols: u16,
        rows: u16,
    },
    /// In attach mode: leave; the host answers [`Reply::Detached`].
    Detach,
    Pause {
        name: String,
    },
    Resume {
        name: String,
    },
    Kill {
        name: String,
        force: bool,
    },
    Rm {
        name: String,
    },
    Revive {
        name: String,
    },
    /// Waits until the session has exited (bounded by `timeout_ms`), then answers its info.
    Wait {
        name: String,
        timeout_ms: u64,
    },
    /// Asks whoever watches (the bot) to decide on `payload` (passed through by the host);
    /// answered with [`Reply::Decided`], or a `Timeout` error after `timeout_ms`.
    Ask {
        session: String,
        payload: AskPayload,
        timeout_ms: u64,
    },
    /// Turns this connection into a stream of asks: [`Reply::Asked`] for each pending and new
    /// ask, [`Reply::AskClosed`] when one is decided, expires or its asker goes away.
    WatchAsks,
    /// Tells whoever watches asks that something happened in a session (e.g. an agent's
    /// `Stop` hook: it finished its turn). Not stored: a notice with no watcher is dropped.
    Notice {
        session: String,
        kind: NoticeKind,
        text: String,
    },
    /// Decides a pending ask; the first decision wins, later ones get `AlreadyDecided`.
    Decide {
        id: u64,
        decision: Decision,
    },
    /// From an agent's hook in `session`: the agent's own session id now (it changes on
    /// `/clear` or a compaction); kept to resume the agent after a host restart.
    AgentSession {
        session: String,
        agent: Agent,
        id: String,
    },
    /// The session's boundary as enforced now; answered with [`Reply::Boundary`].
    Boundary {
        name: String,
    },
    /// Widens a running session's network rules live; answered with [`Reply::Boundary`] (the
    /// boundary after the change).
    Widen {
        name: String,
        change: Widen,
        /// Who decided ("telegram user 1001", "cli"), for the host's log.
        #[serde(default)]
        by: Option<String>,
    },
    /// Turns this connection into a stream of [`Reply::ScreenChanged`] for the sessions
    /// `names` (answered [`Reply::Ok`] first): one at once for each, then one whenever a
    /// session's screen changed, at most every [`SCREEN_CHANGE_GAP_MS`] per session, so the
    /// bot reads a screen only when it changed instead of polling. Sent again on the same
    /// connection, it replaces the set (no `Ok`; the added names get their first event).
    WatchScreens {
        names: Vec<String>,
    },
}

/// Lifecycle state of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    Running,
    Paused,
    Exited {
        code: Option<u32>,
        signal: Option<String>,
    },
    /// It was running when the host went away; `walkie revive` starts it again.
    Lost,
}

impl SessionState {
    pub fn label(&self) -> String {
        match self {
            SessionState::Running => "running".into(),
            SessionState::Paused => "paused".into(),
            SessionState::Exited {
                signal: Some(s), ..
            } => format!("exited ({s})"),
            SessionState::Exited { code, .. } => {
                format!(
                    "exited ({})",
                    code.map(|c| c.to_string()).unwrap_or_else(|| "?".into())
                )
            }
            SessionState::Lost => "lost".into(),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, SessionState::Running | SessionState::Paused)
    }
}

/// What `ls` shows about a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub name: String,
    #[serde(flatten)]
    pub state: SessionState,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub pid: Option<u32>,
    /// Unix time in milliseconds.
    pub created_ms: u64,
    /// Milliseconds since the session last printed anything (or since it started).
    pub idle_ms: Option<u64>,
    pub cols: u16,
    pub rows: u16,
    /// Clients attached right now.
    pub clients: usize,
    /// The agent it runs, and the agent's own session id once known.
    #[serde(default)]
    pub agent: Option<AgentSession>,
    #[serde(default)]
    pub preset: Option<String>,
    /// For a lost session: what `walkie revive` would do.
    #[serde(default)]
    pub revive: Option<RevivePlan>,
}

/// Errors a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Protocol versions differ: client and host are different walkie builds.
    Version,
    /// The frame or request was not understood.
    BadRequest,
    NoSuchSession,
    NameTaken,
    BadName,
    /// The session is not running (exited or lost) and cannot take this request.
    NotRunning,
    /// The session is still running and cannot take this request (e.g. `rm`).
    StillRunning,
    /// The command could not be started.
    Spawn,
    /// The peer's uid is not the host's, or the peer runs inside one of the host's sessions
    /// and asked to see or decide asks (only the deciders outside may).
    PermissionDenied,
    Timeout,
    /// The reply would not fit in a frame even in parts.
    TooLarge,
    /// The session is paused and the input held for it is at its cap: nothing was typed.
    InputQueueFull,
    /// The ask was decided already, expired, or its asker went away.
    AlreadyDecided,
    /// `NewSession.expand` names a preset this host's walkie.toml does not have (or one it
    /// cannot expand: a bad directory).
    NoPreset,
    /// Anything else inside the host (disk full, database error).
    Internal,
}

/// An ask waiting for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingAsk {
    /// Unique across host restarts (it starts from the host's start time), so that a stale
    /// button can never decide a newer ask.
    pub id: u64,
    pub session: String,
    pub payload: AskPayload,
    /// Unix times in milliseconds.
    pub created_ms: u64,
    pub deadline_ms: u64,
}

/// The host's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        version: u32,
        pid: u32,
    },
    Ok,
    Created {
        name: String,
    },
    Sessions {
        sessions: Vec<SessionInfo>,
    },
    Text {
        text: String,
    },
    /// The answer to [`Request::Snapshot`]. Never split: one that cannot fit in a frame
    /// becomes [`ErrorKind::TooLarge`] (a 1000x1000 screen of distinct styles could).
    Snapshot {
        snapshot: Snapshot,
    },
    /// The first parts of a long [`Reply::Text`]: the client joins them with the final one.
    TextPart {
        text: String,
    },
    /// The first parts of a long [`Reply::Sessions`], joined as [`Reply::TextPart`] is.
    SessionsPart {
        sessions: Vec<SessionInfo>,
    },
    Info {
        session: SessionInfo,
    },
    /// Attach mode started; a repaint of the current screen follows as [`Frame::Data`], or
    /// with `terminal`, the host waits for the client's terminal and paints it there.
    Attached {
        session: SessionInfo,
        #[serde(default)]
        terminal: bool,
    },
    /// In attach mode: the session ended.
    Exited {
        state: SessionState,
    },
    Detached,
    /// To a watcher: an ask waits for a decision.
    Asked {
        ask: PendingAsk,
    },
    /// To a watcher: an ask is over; `decision` is `None` when it expired or its asker left.
    AskClosed {
        id: u64,
        decision: Option<Decision>,
    },
    /// To a watcher: a [`Request::Notice`].
    Notice {
        session: String,
        kind: NoticeKind,
        text: String,
    },
    /// To the asker: the decision.
    Decided {
        id: u64,
        decision: Decision,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
    /// The input was typed (or held for a paused session); `at` is its time in the
    /// session's recording, in seconds, when it is recorded.
    Typed {
        at: Option<f64>,
    },
    /// To a watcher, once per host start: the sessions that were running when the host last
    /// stopped, and what became of each.
    Revived {
        sessions: Vec<Revived>,
    },
    /// The answer to [`Request::Boundary`].
    Boundary {
        boundary: Box<BoundaryInfo>,
    },
    /// To a screen watcher ([`Request::WatchScreens`]): `name`'s screen changed. `seq`
    /// grows with every change seen (the watcher reads the screen when it differs from the
    /// last it read); `state` is `None` when the host has no such session, and a final event
    /// carries an exit.
    ScreenChanged {
        name: String,
        seq: u64,
        state: Option<SessionState>,
    },
}

/// Most bytes of JSON in one reply part: half a frame, so that a part never nears the cap.
const PART_BUDGET: usize = MAX_FRAME / 2;

/// The bytes `c` takes inside a JSON string (control characters are escaped as `\u00XX`).
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

fn encoded_len(r: &Reply) -> usize {
    serde_json::to_vec(r).map(|v| v.len()).unwrap_or(usize::MAX)
}

/// Cuts `reply` into replies that each fit in a frame, to be sent in order: a long text or
/// session list becomes parts followed by its final reply; any other reply over the cap
/// becomes a [`ErrorKind::TooLarge`] error, so that it is refused in words, never dropped.
pub fn split_reply(reply: Reply) -> Vec<Reply> {
    // Room for the kind byte and the reply's own fields around the parts.
    let fits = |r: &Reply| encoded_len(r) < MAX_FRAME - 64;
    if fits(&reply) {
        return vec![reply];
    }
    match reply {
        Reply::Text { text } => {
            let mut parts: Vec<String> = pack(text.chars().map(|c| (c, json_len(c))));
            let last = parts.pop().unwrap_or_default();
            let mut out: Vec<Reply> = parts
                .into_iter()
                .map(|text| Reply::TextPart { text })
                .collect();
            out.push(Reply::Text { text: last });
            out
        }
        Reply::Sessions { sessions } => {
            let sized: Vec<(SessionInfo, usize)> = sessions
                .into_iter()
                .map(|s| {
                    let n = serde_json::to_vec(&s).map_or(usize::MAX, |v| v.len() + 1);
                    (s, n)
                })
                .collect();
            if let Some((s, _)) = sized.iter().find(|(_, n)| *n >= MAX_FRAME - 128) {
                return vec![too_large(format!(
                    "the information on session {} is over the {MAX_FRAME}-byte frame limit",
                    s.name
                ))];
            }
            let mut parts: Vec<Vec<SessionInfo>> = pack(sized);
            let last = parts.pop().unwrap_or_default();
            let mut out: Vec<Reply> = parts
                .into_iter()
                .map(|sessions| Reply::SessionsPart { sessions })
                .collect();
            out.push(Reply::Sessions { sessions: last });
            out
        }
        Reply::Snapshot { snapshot } => vec![too_large(format!(
            "the snapshot of a {}x{} screen is over the {MAX_FRAME}-byte frame limit",
            snapshot.cols, snapshot.rows
        ))],
        other => {
            let what = format!("{other:?}");
            let what = what.split([' ', '{', '(']).next().unwrap_or("reply");
            vec![too_large(format!(
                "the host's {what} reply is over the {MAX_FRAME}-byte frame limit"
            ))]
        }
    }
}

/// Packs items, each with its size, into parts of at most [`PART_BUDGET`] bytes (an item
/// larger than that gets a part of its own). Always at least one part.
fn pack<T, C: Default + Extend<T>>(items: impl IntoIterator<Item = (T, usize)>) -> Vec<C> {
    let mut parts = vec![C::default()];
    let mut size = 0;
    for (item, n) in items {
        if size + n > PART_BUDGET && size > 0 {
            parts.push(C::default());
            size = 0;
        }
        if let Some(part) = parts.last_mut() {
            part.extend(std::iter::once(item));
        }
        size += n;
    }
    parts
}

fn too_large(message: String) -> Reply {
    Reply::Error {
        kind: ErrorKind::TooLarge,
        message,
    }
}

/// Failures to read a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("empty frame")]
    Empty,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Appends one frame to `dst`.
pub fn encode(frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
    let (kind, payload): (u8, Bytes) = match frame {
        Frame::Request(r) => (
            KIND_REQUEST,
            serde_json::to_vec(r)
                .map_err(|e| FrameError::Malformed(e.to_string()))?
                .into(),
        ),
        Frame::Reply(r) => (
            KIND_REPLY,
            serde_json::to_vec(r)
                .map_err(|e| FrameError::Malformed(e.to_string()))?
                .into(),
        ),
        Frame::Data(b) => (KIND_DATA, b.clone()),
    };
    let len = payload.len() + 1;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    dst.reserve(4 + len);
    dst.put_u32(len as u32);
    dst.put_u8(kind);
    dst.extend_from_slice(&payload);
    Ok(())
}

/// Takes one whole frame off the front of `src`, or `Ok(None)` if more bytes are needed.
/// An oversized length is rejected before its payload is read.
pub fn decode(src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if src.len() < 4 + len {
        src.reserve(4 + len - src.len());
        return Ok(None);
    }
    src.advance(4);
    let kind = src.get_u8();
    let payload = src.split_to(len - 1).freeze();
    let frame = match kind {
        KIND_REQUEST => Frame::Request(
            serde_json::from_slice(&payload).map_err(|e| FrameError::Malformed(e.to_string()))?,
        ),
        KIND_REPLY => Frame::Reply(
            serde_json::from_slice(&payload).map_err(|e| FrameError::Malformed(e.to_string()))?,
        ),
        KIND_DATA => Frame::Data(payload),
        other => return Err(FrameError::UnknownKind(other)),
    };
    Ok(Some(frame))
}

/// tokio codec over [`encode`] / [`decode`].
#[cfg(feature = "io")]
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameCodec;

#[cfg(feature = "io")]
impl tokio_util::codec::Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        decode(src)
    }
}

#[cfg(feature = "io")]
impl tokio_util::codec::Encoder<Frame> for FrameCodec {
    type Error = FrameError;
    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode(&item, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ask::{ApprovalRequest, HookEvent, NetworkScope};
    use crate::revival::ReviveOutcome;

    /// Encodes, then decodes byte by byte: a partial frame never decodes, the whole one is
    /// equal to what was sent.
    fn round_trip(frame: Frame) {
        let mut buf = BytesMut::new();
        encode(&frame, &mut buf).unwrap();
        let bytes = buf.clone();
        let mut partial = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            partial.put_u8(*b);
            let got = decode(&mut partial).unwrap();
            if i + 1 < bytes.len() {
                assert!(got.is_none());
            } else {
                assert_eq!(got, Some(frame.clone()));
            }
        }
        assert!(partial.is_empty());
    }

    fn info() -> SessionInfo {
        SessionInfo {
            name: "backend".into(),
            state: SessionState::Exited {
                code: Some(3),
                signal: None,
            },
            command: vec!["bash".into(), "-l".into()],
            cwd: "/tmp".into(),
            pid: Some(42),
            created_ms: 1,
            idle_ms: Some(2),
            cols: 80,
            rows: 24,
            clients: 1,
            agent: None,
            preset: None,
            revive: None,
        }
    }

    fn hook_payload() -> AskPayload {
        AskPayload::Hook {
            request: ApprovalRequest {
                agent: Agent::Codex,
                event: HookEvent::PreToolUse,
                tool: "Bash".into(),
                command: Some("rm -rf build".into()),
                file_path: None,
                cwd: Some("/src".into()),
                description: Some("clean".into()),
                session_id: Some("abc".into()),
            },
        }
    }

    /// A snapshot with a style per character, wide characters and blank lines.
    fn snapshot(rows: u16, cols: u16, lines: &[&str]) -> Snapshot {
        use crate::snapshot::{Builder, Color, Cursor, Style};
        let mut b = Builder::new(rows);
        for (i, line) in lines.iter().enumerate() {
            for (j, c) in line.chars().enumerate() {
                let style = Style {
                    fg: Color::Indexed(((i * 7 + j) % 256) as u8),
                    bg: Color::Rgb(j as u8, 2, 3),
                    bold: j % 2 == 0,
                    ..Style::default()
                };
                b.cell(c.encode_utf8(&mut [0; 4]), style, c == '中');
            }
            b.end_line();
        }
        b.finish(
            rows,
            cols,
            Cursor {
                row: 1,
                col: 2,
                visible: true,
            },
        )
    }

    /// Which variant a request is; exhaustive, so a new variant cannot miss its test.
    fn request_variant(r: &Request) -> usize {
        match r {
            Request::Hello { .. } => 0,
            Request::New(_) => 1,
            Request::List => 2,
            Request::Input { .. } => 3,
            Request::Screen { .. } => 4,
            Request::Tail { .. } => 5,
            Request::Attach { .. } => 6,
            Request::Resize { .. } => 7,
            Request::Detach => 8,
            Request::Pause { .. } => 9,
            Request::Resume { .. } => 10,
            Request::Kill { .. } => 11,
            Request::Rm { .. } => 12,
            Request::Revive { .. } => 13,
            Request::Wait { .. } => 14,
            Request::Ask { .. } => 15,
            Request::WatchAsks => 16,
            Request::Notice { .. } => 17,
            Request::Decide { .. } => 18,
            Request::Snapshot { .. } => 19,
            Request::AgentSession { .. } => 20,
            Request::Boundary { .. } => 21,
            Request::Widen { .. } => 22,
            Request::WatchScreens { .. } => 23,
        }
    }
    const REQUEST_VARIANTS: usize = 24;

    fn reply_variant(r: &Reply) -> usize {
        match r {
            Reply::Hello { .. } => 0,
            Reply::Ok => 1,
            Reply::Created { .. } => 2,
            Reply::Sessions { .. } => 3,
            Reply::Text { .. } => 4,
            Reply::Info { .. } => 5,
            Reply::Attached { .. } => 6,
            Reply::Exited { .. } => 7,
            Reply::Detached => 8,
            Reply::Asked { .. } => 9,
            Reply::AskClosed { .. } => 10,
            Reply::Notice { .. } => 11,
            Reply::Decided { .. } => 12,
            Reply::Error { .. } => 13,
            Reply::TextPart { .. } => 14,
            Reply::SessionsPart { .. } => 15,
            Reply::Snapshot { .. } => 16,
            Reply::Typed { .. } => 17,
            Reply::Revived { .. } => 18,
            Reply::Boundary { .. } => 19,
            Reply::ScreenChanged { .. } => 20,
        }
    }
    const REPLY_VARIANTS: usize = 21;

    #[test]
    fn every_request_round_trips() {
        let n = || "s1".to_string();
        let all = [
            Request::Hello { version: 1 },
            Request::New(NewSession {
                name: n(),
                command: vec!["bash".into()],
                cwd: Some("/tmp".into()),
                env: vec![("A".into(), "b".into())],
                size: Some((80, 24)),
                record: false,
                preset: Some("api".into()),
                resume: Some(vec!["aider".into(), "--restore-chat-history".into()]),
                sandbox: Some("workspace".into()),
                network: Some(NetworkMode::Allowlist),
                expand: false,
            }),
            Request::New(NewSession {
                name: n(),
                command: vec!["--model".into(), "m".into()],
                cwd: Some("~/src/api".into()),
                env: vec![],
                size: None,
                record: true,
                preset: Some("claude".into()),
                resume: None,
                sandbox: None,
                network: None,
                expand: true,
            }),
            Request::Boundary { name: n() },
            Request::Widen {
                name: n(),
                change: Widen::AllowDomain {
                    domain: "*.pythonhosted.org".into(),
                },
                by: Some("telegram user 1001".into()),
            },
            Request::Widen {
                name: n(),
                change: Widen::OpenNetwork,
                by: None,
            },
            Request::List,
            Request::AgentSession {
                session: n(),
                agent: Agent::Codex,
                id: "01a23126-5f5e-7b90-baf7-7c06f24e974b".into(),
            },
            Request::Input {
                name: n(),
                chunks: vec![b"hi".to_vec(), b"\r".to_vec()],
                source: Some("cli".into()),
                dispatch: None,
            },
            Request::Input {
                name: n(),
                chunks: vec![b"x".to_vec()],
                source: None,
                dispatch: None,
            },
            Request::Input {
                name: n(),
                chunks: vec![b"run the tests".to_vec(), b"\r".to_vec()],
                source: Some("telegram user 1001".into()),
                dispatch: Some("0f1e2d3c-outbox-17".into()),
            },
            Request::Screen {
                name: n(),
                ansi: true,
            },
            Request::Tail {
                name: n(),
                lines: 5,
            },
            Request::Snapshot { name: n() },
            Request::Attach {
                name: n(),
                cols: 80,
                rows: 24,
                terminal: true,
            },
            Request::Resize {
                cols: 100,
                rows: 30,
            },
            Request::Detach,
            Request::Pause { name: n() },
            Request::Resume { name: n() },
            Request::Kill {
                name: n(),
                force: true,
            },
            Request::Rm { name: n() },
            Request::Revive { name: n() },
            Request::Wait {
                name: n(),
                timeout_ms: 10,
            },
            Request::Ask {
                session: n(),
                payload: hook_payload(),
                timeout_ms: 5,
            },
            Request::Ask {
                session: n(),
                payload: AskPayload::Question {
                    question: "deploy?".into(),
                    cwd: "/src".into(),
                },
                timeout_ms: 5,
            },
            Request::WatchAsks,
            Request::WatchScreens {
                names: vec![n(), "api@cloud".into()],
            },
            Request::WatchScreens { names: vec![] },
            Request::Notice {
                session: n(),
                kind: NoticeKind::TurnEnded,
                text: "done".into(),
            },
            Request::Decide {
                id: 7,
                decision: Decision::Allow,
            },
            Request::Decide {
                id: 7,
                decision: Decision::Deny {
                    reason: "not now".into(),
                },
            },
            Request::Decide {
                id: 7,
                decision: Decision::Fallback,
            },
            Request::Ask {
                session: n(),
                payload: AskPayload::Network {
                    host: "pypi.org".into(),
                    port: 443,
                    profile: "workspace".into(),
                    cwd: "/src".into(),
                },
                timeout_ms: 5,
            },
            Request::Decide {
                id: 7,
                decision: Decision::AllowNetwork {
                    scope: NetworkScope::Session,
                },
            },
            Request::Decide {
                id: 7,
                decision: Decision::AllowNetwork {
                    scope: NetworkScope::Always,
                },
            },
        ];
        let mut seen = [false; REQUEST_VARIANTS];
        for r in all {
            seen[request_variant(&r)] = true;
            round_trip(Frame::Request(r));
        }
        assert!(
            seen.iter().all(|s| *s),
            "untested request variants: {seen:?}"
        );
    }

    #[test]
    fn older_clients_fields_default() {
        // A request without `record` or `source` (a client that does not know them).
        let new: Request = serde_json::from_str(
            r#"{"type":"new","name":"a","command":[],"cwd":null,"env":[],"size":null}"#,
        )
        .unwrap();
        assert!(matches!(
            new,
            Request::New(NewSession {
                record: true,
                preset: None,
                resume: None,
                sandbox: None,
                network: None,
                expand: false,
                ..
            })
        ));
        let input: Request =
            serde_json::from_str(r#"{"type":"input","name":"a","chunks":[[104]]}"#).unwrap();
        assert!(matches!(input, Request::Input { source: None, .. }));
    }

    #[test]
    fn every_reply_round_trips() {
        let all = [
            Reply::Hello { version: 1, pid: 7 },
            Reply::Ok,
            Reply::Boundary {
                boundary: Box::new(BoundaryInfo {
                    session: "api".into(),
                    profile: "workspace".into(),
                    mechanism: "bubblewrap + seccomp + Landlock".into(),
                    enforced: true,
                    write: vec!["/home/u/src/api".into()],
                    deny_read: vec!["/home/u/.ssh".into()],
                    protected: vec!["/home/u/src/api/.git/hooks".into()],
                    network: NetworkMode::Allowlist,
                    allow_domains: vec!["api.anthropic.com".into()],
                    credentials: vec!["ANTHROPIC_API_KEY".into()],
                    agent_mode: Some("default".into()),
                    blocked: vec![crate::sandbox::BlockedAttempt {
                        at_ms: 5,
                        host: "pypi.org".into(),
                        port: 443,
                        reason: "denied from the phone".into(),
                    }],
                    waiting: 1,
                    notes: vec!["bwrap 0.8.0".into()],
                }),
            },
            Reply::Typed { at: Some(12.5) },
            Reply::Typed { at: None },
            Reply::Created { name: "a".into() },
            Reply::Sessions {
                sessions: vec![
                    info(),
                    SessionInfo {
                        state: SessionState::Lost,
                        ..info()
                    },
                    SessionInfo {
                        state: SessionState::Running,
                        ..info()
                    },
                    SessionInfo {
                        state: SessionState::Paused,
                        ..info()
                    },
                    SessionInfo {
                        state: SessionState::Lost,
                        agent: Some(AgentSession {
                            agent: Agent::ClaudeCode,
                            id: Some("3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b".into()),
                        }),
                        preset: Some("claude".into()),
                        revive: Some(RevivePlan::Resume {
                            command: vec!["claude".into(), "--resume".into()],
                        }),
                        ..info()
                    },
                    SessionInfo {
                        state: SessionState::Lost,
                        revive: Some(RevivePlan::Shell {
                            why: "its cwd is gone".into(),
                        }),
                        ..info()
                    },
                    SessionInfo {
                        revive: Some(RevivePlan::Restart),
                        ..info()
                    },
                ],
            },
            Reply::Revived {
                sessions: vec![
                    Revived {
                        name: "api".into(),
                        kind: "claude".into(),
                        outcome: ReviveOutcome::Resumed,
                    },
                    Revived {
                        name: "web".into(),
                        kind: "codex".into(),
                        outcome: ReviveOutcome::Shell {
                            why: "no transcript".into(),
                        },
                    },
                    Revived {
                        name: "logs".into(),
                        kind: "shell".into(),
                        outcome: ReviveOutcome::Restarted,
                    },
                    Revived {
                        name: "x".into(),
                        kind: "make".into(),
                        outcome: ReviveOutcome::Left,
                    },
                    Revived {
                        name: "y".into(),
                        kind: "make".into(),
                        outcome: ReviveOutcome::Failed {
                            why: "ENOENT".into(),
                        },
                    },
                ],
            },
            Reply::Text {
                text: "x\ny".into(),
            },
            Reply::Info { session: info() },
            Reply::Attached {
                session: info(),
                terminal: true,
            },
            Reply::Exited {
                state: SessionState::Exited {
                    code: None,
                    signal: Some("Killed".into()),
                },
            },
            Reply::Detached,
            Reply::Asked {
                ask: PendingAsk {
                    id: 1,
                    session: "s".into(),
                    payload: hook_payload(),
                    created_ms: 2,
                    deadline_ms: 3,
                },
            },
            Reply::AskClosed {
                id: 1,
                decision: None,
            },
            Reply::AskClosed {
                id: 1,
                decision: Some(Decision::Deny { reason: "".into() }),
            },
            Reply::Notice {
                session: "s".into(),
                kind: NoticeKind::TurnEnded,
                text: "done".into(),
            },
            Reply::Decided {
                id: 1,
                decision: Decision::Allow,
            },
            Reply::Error {
                kind: ErrorKind::NoSuchSession,
                message: "no session x".into(),
            },
            Reply::Error {
                kind: ErrorKind::TooLarge,
                message: "too big".into(),
            },
            Reply::Error {
                kind: ErrorKind::InputQueueFull,
                message: "paused, queue full".into(),
            },
            Reply::Error {
                kind: ErrorKind::NoPreset,
                message: "no preset \"x\" in this box's walkie.toml".into(),
            },
            Reply::TextPart {
                text: "\x1b[0mpart".into(),
            },
            Reply::SessionsPart {
                sessions: vec![info()],
            },
            Reply::Snapshot {
                snapshot: snapshot(3, 12, &["\x1b ok 中", "", "é"]),
            },
            Reply::ScreenChanged {
                name: "s1".into(),
                seq: u64::MAX,
                state: Some(SessionState::Running),
            },
            Reply::ScreenChanged {
                name: "s1".into(),
                seq: 3,
                state: Some(SessionState::Exited {
                    code: Some(0),
                    signal: None,
                }),
            },
            Reply::ScreenChanged {
                name: "gone".into(),
                seq: 0,
                state: None,
            },
        ];
        let mut seen = [false; REPLY_VARIANTS];
        for r in all {
            seen[reply_variant(&r)] = true;
            round_trip(Frame::Reply(r));
        }
        assert!(seen.iter().all(|s| *s), "untested reply variants: {seen:?}");
    }

    /// Every reply `split_reply` makes fits in a frame, and the parts join to the original.
    fn split_and_join(reply: Reply) -> Vec<Reply> {
        let parts = split_reply(reply);
        for p in &parts {
            encode(&Frame::Reply(p.clone()), &mut BytesMut::new()).expect("a part fits");
        }
        parts
    }

    #[test]
    fn long_replies_are_split_into_parts_that_fit() {
        // Escapes cost six bytes each in JSON: a screen of colours is far longer on the wire.
        let text: String = (0..200_000)
            .map(|i| format!("\x1b[38;2;{};0;0m▀", i % 256))
            .collect();
        assert!(text.len() > MAX_FRAME);
        let parts = split_and_join(Reply::Text { text: text.clone() });
        assert!(parts.len() > 2, "{}", parts.len());
        let mut joined = String::new();
        for (i, p) in parts.iter().enumerate() {
            match p {
                Reply::TextPart { text } if i + 1 < parts.len() => joined.push_str(text),
                Reply::Text { text } if i + 1 == parts.len() => joined.push_str(text),
                other => panic!("part {i}: {other:?}"),
            }
        }
        assert_eq!(joined, text);

        let sessions: Vec<SessionInfo> = (0..40)
            .map(|i| SessionInfo {
                name: format!("s{i}"),
                command: vec!["sh".into(), "x".repeat(40_000)],
                ..info()
            })
            .collect();
        let parts = split_and_join(Reply::Sessions {
            sessions: sessions.clone(),
        });
        assert!(parts.len() > 1);
        let mut joined = Vec::new();
        for (i, p) in parts.into_iter().enumerate() {
            match p {
                Reply::SessionsPart { sessions } => joined.extend(sessions),
                Reply::Sessions { sessions } => joined.extend(sessions),
                other => panic!("part {i}: {other:?}"),
            }
        }
        assert_eq!(joined, sessions);

        // Short replies stay whole; a long reply of any other kind is refused in words.
        assert_eq!(split_reply(Reply::Ok), vec![Reply::Ok]);
        let huge = Reply::Info {
            session: SessionInfo {
                command: vec!["y".repeat(MAX_FRAME)],
                ..info()
            },
        };
        match &split_and_join(huge)[..] {
            [Reply::Error {
                kind: ErrorKind::TooLarge,
                message,
            }] => assert!(message.contains("Info"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_snapshot_too_large_for_a_frame_is_refused_in_words() {
        // A 200x200 screen whose every cell differs from its neighbours: megabytes of JSON.
        let line: String = "x".repeat(200);
        let lines: Vec<&str> = (0..200).map(|_| line.as_str()).collect();
        let big = Reply::Snapshot {
            snapshot: snapshot(200, 200, &lines),
        };
        match &split_and_join(big)[..] {
            [Reply::Error {
                kind: ErrorKind::TooLarge,
                message,
            }] => assert!(message.contains("200x200 screen"), "{message}"),
            other => panic!("{other:?}"),
        }
        // An ordinary screen stays one reply.
        let small = Reply::Snapshot {
            snapshot: snapshot(40, 120, &["hello"; 40]),
        };
        assert_eq!(split_and_join(small.clone()), vec![small]);
    }

    #[test]
    fn data_round_trips_binary() {
        round_trip(Frame::Data(Bytes::from_static(b"\x1b[2J\x00\xff")));
        round_trip(Frame::Data(Bytes::new()));
    }

    fn request_frame(json: &str) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u32(json.len() as u32 + 1);
        b.put_u8(KIND_REQUEST);
        b.extend_from_slice(json.as_bytes());
        b
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        let mut b = BytesMut::new();
        b.put_u32((MAX_FRAME + 1) as u32);
        assert!(matches!(decode(&mut b), Err(FrameError::TooLarge(_))));
        assert!(matches!(
            decode(&mut request_frame("{x")),
            Err(FrameError::Malformed(_))
        ));
        let mut b = BytesMut::new();
        b.put_u32(1);
        b.put_u8(9);
        assert!(matches!(decode(&mut b), Err(FrameError::UnknownKind(9))));
        let mut b = BytesMut::new();
        b.put_u32(0);
        assert!(matches!(decode(&mut b), Err(FrameError::Empty)));
        let big = Frame::Data(Bytes::from(vec![0u8; MAX_FRAME]));
        assert!(matches!(
            encode(&big, &mut BytesMut::new()),
            Err(FrameError::TooLarge(_))
        ));
        // The largest frame allowed still goes through.
        round_trip(Frame::Data(Bytes::from(vec![7u8; MAX_FRAME - 1])));
    }

    #[test]
    fn unknown_and_untyped_messages_are_refused() {
        for json in [
            // A request type this build does not have.
            r#"{"type":"teleport","name":"a"}"#,
            // A notice kind this build does not have.
            r#"{"type":"notice","session":"a","kind":"reboot","text":""}"#,
            // An ask payload that is not one of ours (untyped JSON is no longer carried).
            r#"{"type":"ask","session":"a","payload":{"command":"rm"},"timeout_ms":5}"#,
            // A decision that is not one of ours.
            r#"{"type":"decide","id":1,"decision":"maybe"}"#,
            r#"{"type":"decide","id":1,"decision":{"Deny":{}}}"#,
        ] {
            assert!(
                matches!(
                    decode(&mut request_frame(json)),
                    Err(FrameError::Malformed(_))
                ),
                "{json}"
            );
        }
        // The decision's wire shape is what `walkie approve-hook` has always read.
        let d: Decision = serde_json::from_str(r#"{"Deny":{"reason":"no"}}"#).unwrap();
        assert_eq!(
            d,
            Decision::Deny {
                reason: "no".into()
            }
        );
        assert_eq!(
            serde_json::to_string(&Decision::Allow).unwrap(),
            r#""Allow""#
        );
    }

    #[test]
    fn one_bad_frame_does_not_eat_the_next() {
        // A malformed frame is consumed whole; what follows decodes on its own.
        let mut b = request_frame("{x");
        encode(&Frame::Request(Request::List), &mut b).unwrap();
        assert!(matches!(decode(&mut b), Err(FrameError::Malformed(_))));
        assert_eq!(decode(&mut b).unwrap(), Some(Frame::Request(Request::List)));
    }
}
