//! Requests from a chat, chat-neutral: what a front end's user asks for (a command with
//! typed arguments, or text for a session), handled against the store and a [`Host`], and
//! answered with [`View`]s the front end renders (into HTML and keyboards for Telegram).
//!
//! One handler per file, as pueue does it: each takes the shared [`Console`], the chat (and
//! for typing, the user) and the request's own arguments. The front end has already let
//! the request through the gate ([`Request::action`]) and audited commands; handlers audit
//! what they type into sessions.
//!
//! # Layout
//! - [`mod@text`]: text for a session: `name: text`, a reply to a session's message, else
//!   the chat's current session; [`text::dispatch`] types it (also used for voice notes).
//! - [`mod@new`]: `/new NAME [PRESET [DIR] | command...]`.
//! - [`mod@ls`], [`mod@pick`] (`/use`), [`mod@screen`], [`mod@tail`], [`mod@keys`],
//!   [`mod@state`] (`/pause`, `/resume`, `/kill`), [`mod@notify`], [`mod@attach`].
//! - [`mod@shot`]: `/shot`, the screen as a PNG ([`shot::shoot`], [`shot::draw`] also for `/watch`);
//!   [`mod@watch`]: `/watch`, a live picture kept by the front end; [`mod@replay`]:
//!   `/replay`, the session's recording as an asciicast file.
//! - [`mod@schedule`]: `/schedule` (list, add with a confirmation card, zone) and its
//!   buttons; the timer itself is [`crate::schedule`].

pub mod attach;
pub mod boundary;
pub mod keys;
pub mod ls;
pub mod new;
pub mod notify;
pub mod pick;
pub mod replay;
pub mod schedule;
pub mod screen;
pub mod shot;
pub mod state;
pub mod tail;
pub mod text;
pub mod watch;

use std::sync::Arc;

use walkie_config::{Config, NotifyLevel};
use walkie_host_proto::client::ClientError;
use walkie_host_proto::protocol::{ErrorKind, SessionInfo};

use crate::front::{ChatId, FrontError, Frontend, MessageRef, UserId};
use crate::gate::Action;
use crate::host::Host;
use crate::session::SessionRef;
use crate::store::{Store, StoreError};

/// How `/new` starts the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewSpec {
    /// Nothing given: the default (the user's shell).
    Default,
    /// A preset from the config.
    Preset(String),
    /// An explicit command line.
    Command(Vec<String>),
}

/// The boundary asked for on `/new` (`None`: the preset's, else the host's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxChoice {
    pub profile: Option<String>,
    pub network: Option<walkie_host_proto::sandbox::NetworkMode>,
}

/// A request with typed, checked arguments. `None` names mean "the chat's current session".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    New {
        name: String,
        spec: NewSpec,
        /// Where it runs, as written (`~/x`, absolute, or a folder of `projects_dir`).
        dir: Option<String>,
        /// `--sandbox PROFILE` / `--network MODE`, over the preset's.
        sandbox: SandboxChoice,
    },
    /// `/boundary [NAME]`: the session's boundary card.
    Boundary {
        name: Option<String>,
    },
    /// A widen button of the boundary card: the network rules changed live.
    Widen {
        name: String,
        change: walkie_host_proto::sandbox::Widen,
    },
    Ls,
    Use {
        name: String,
    },
    Screen {
        name: Option<String>,
    },
    /// The screen as a picture.
    Shot {
        name: Option<String>,
    },
    /// A live picture of the screen.
    Watch {
        name: Option<String>,
    },
    /// The session's recording as a file.
    Replay {
        name: Option<String>,
    },
    Tail {
        name: Option<String>,
        lines: Option<usize>,
    },
    Keys {
        name: Option<String>,
        keys: Vec<String>,
    },
    Pause {
        name: Option<String>,
    },
    Resume {
        name: Option<String>,
    },
    Kill {
        name: Option<String>,
    },
    Attach {
        name: Option<String>,
    },
    /// `None`: show the current level.
    Notify {
        level: Option<NotifyLevel>,
    },
    Help,
    /// `/schedule ...` and its buttons.
    Schedule(schedule::ScheduleRequest),
    /// Text for a session (not a command). `reply_to`: the message it answers, if any.
    Text {
        text: String,
        reply_to: Option<MessageRef>,
    },
}

impl Request {
    /// Which requests only read (allowed to viewers).
    pub fn is_read_only(&self) -> bool {
        if let Request::Schedule(s) = self {
            return s.is_read_only();
        }
        matches!(
            self,
            Request::Ls
                | Request::Screen { .. }
                | Request::Shot { .. }
                | Request::Watch { .. }
                | Request::Replay { .. }
                | Request::Tail { .. }
                | Request::Attach { .. }
                | Request::Notify { .. }
                | Request::Help
                | Request::Use { .. }
                | Request::Boundary { .. }
        )
    }

    /// What the gate is asked before the request runs.
    pub fn action(&self) -> Action {
        if self.is_read_only() {
            Action::Read
        } else {
            Action::Act
        }
    }
}

/// An answer for the front end to render; plain data, no markup.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// A line of plain text.
    Text(String),
    /// What the bot can do: the front end's own command list, and how text is routed.
    Help,
    /// A session's screen, titled with its name.
    Screen { session: String, screen: String },
    /// A file of `session`'s (its screen as a picture, its recording), sent as a document.
    File { session: String, file: Document },
    /// The last lines of a session's output (empty: nothing yet).
    Tail { session: String, text: String },
    /// The sessions, the chat's current one marked; each can be picked (`/use`). With
    /// `hosts` (remote hosts as `(name, state)`), grouped by host: this machine's first,
    /// then each remote host's (`api@cloud`) under its state line.
    Sessions {
        sessions: Vec<SessionInfo>,
        current: Option<String>,
        hosts: Vec<(String, String)>,
    },
    /// How to attach to a session from a terminal (`ssh_host`: the configured ssh line).
    Attach {
        session: String,
        ssh_host: Option<String>,
    },
    /// A remote host presents a host key walkie does not trust. `old` empty: unknown (first
    /// contact), the chat may Trust or Reject it; else it changed from the `old`
    /// fingerprints: a hard stop until `walkie hosts trust HOST` at a terminal.
    HostKey {
        host: String,
        /// `user@box[:port]` as configured.
        address: String,
        key_type: String,
        fingerprint: String,
        old: Vec<String>,
    },
    /// Something sent to a session on a host that is down, in the outbox as item `id`
    /// (`line`: "⏳ queued for cloud (down since 12:03 UTC) ..."); it can be cancelled.
    Queued { id: i64, line: String },
    /// Where should `/new session preset` run: one button per directory (`labels`, short),
    /// pressed as [`crate::workdir::DirChoice`] `choice`, index in `labels`.
    Dirs {
        session: String,
        preset: String,
        choice: i64,
        labels: Vec<String>,
    },
    /// A session's boundary card ([`crate::boundary`]: lines and widen buttons).
    Boundary(Box<walkie_host_proto::sandbox::BoundaryInfo>),
    /// The jobs, each with Pause/Resume, Run now and Delete.
    Schedules {
        zone: String,
        jobs: Vec<schedule::JobLine>,
    },
    /// A proposed job's confirmation card (Create / Cancel).
    ScheduleDraft(schedule::DraftCard),
    /// The zone question before a chat's first job ("Times in Europe/Paris?").
    ScheduleZone(schedule::ZoneQuestion),
}

/// A file to send whole, byte for byte.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    /// What the file is called on the phone (`api-2026-12-01-1552.png`).
    pub file_name: String,
    /// A short line under it.
    pub caption: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Document {
    // Not the bytes: a picture is a megabyte of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("file_name", &self.file_name)
            .field("caption", &self.caption)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A request the console could not finish (the user has not been answered).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("front end: {0}")]
    Front(#[from] FrontError),
}

pub type Result<T, E = RequestError> = std::result::Result<T, E>;

/// The context requests are handled in: one front end, one host, the bot's state.
pub struct Console<F, H> {
    pub cfg: Config,
    pub store: Store,
    pub host: Arc<H>,
    pub front: F,
    /// Shared with the desk, which types held texts ([`crate::dialogs`]).
    pub dialogs: Arc<crate::dialogs::Dialogs>,
    /// Wakes the schedule timer after a change of the jobs made here.
    pub schedules: crate::schedule::Wake,
}

/// A failed request to the host, as a one-line answer.
pub fn host_answer(e: &ClientError, session: Option<&str>) -> String {
    match e {
        ClientError::Host {
            kind: ErrorKind::NoSuchSession,
            ..
        } => match session {
            Some(s) => format!("No session {s}; /ls lists them, /new {s} starts one."),
            None => "No such session; /ls lists them.".into(),
        },
        ClientError::Host { message, .. } => message.clone(),
        other => format!("The session host did not answer ({other}); is `walkie host` running?"),
    }
}

impl<F: Frontend, H: Host> Console<F, H> {
    /// Handles one request from `user` in `chat` (already through the gate).
    pub async fn handle(&self, user: UserId, chat: ChatId, req: Request) -> Result<()> {
        match req {
            Request::Help => self.reply(chat, View::Help).await,
            Request::Ls => ls::handle(self, chat).await,
            Request::Use { name } => pick::handle(self, chat, &name).await,
            Request::New {
                name,
                spec,
                dir,
                sandbox,
            } => new::handle(self, user, chat, name, spec, dir, sandbox).await,
            Request::Boundary { name } => boundary::handle(self, chat, name).await,
            Request::Widen { name, change } => {
                boundary::widen(self, user, chat, name, change).await
            }
            Request::Screen { name } => screen::handle(self, chat, name).await,
            Request::Shot { name } => shot::handle(self, chat, name).await,
            Request::Watch { name } => watch::handle(self, chat, name).await,
            Request::Replay { name } => replay::handle(self, chat, name).await,
            Request::Tail { name, lines } => tail::handle(self, chat, name, lines).await,
            Request::Keys { name, keys } => keys::handle(self, chat, name, &keys).await,
            Request::Pause { name } => state::handle(self, chat, name, state::Change::Pause).await,
            Request::Resume { name } => {
                state::handle(self, chat, name, state::Change::Resume).await
            }
            Request::Kill { name } => state::handle(self, chat, name, state::Change::Kill).await,
            Request::Notify { level } => notify::handle(self, chat, level).await,
            Request::Attach { name } => attach::handle(self, chat, name).await,
            Request::Schedule(r) => schedule::handle(self, user, chat, r).await,
            Request::Text { text, reply_to } => {
                text::handle(self, user, chat, &text, reply_to).await
            }
        }
    }

    /// Shows `view` in `chat`.
    pub(crate) async fn reply(&self, chat: ChatId, view: View) -> Result<()> {
        self.front.show(chat, &view).await?;
        Ok(())
    }

    pub(crate) async fn say(&self, chat: ChatId, text: impl Into<String>) -> Result<()> {
        self.reply(chat, View::Text(text.into())).await
    }

    /// Shows `view` as a message of `session`, so that replying to it goes there.
    pub(crate) async fn reply_for(&self, chat: ChatId, session: &str, view: View) -> Result<()> {
        let m = self.front.show(chat, &view).await?;
        self.store
            .remember_message(chat, m, &SessionRef::address(session))
            .await?;
        Ok(())
    }

    /// The session a command is about: the named one, else the chat's current one (`None`:
    /// there is none, and the chat has been told).
    pub(crate) async fn target(
        &self,
        chat: ChatId,
        name: Option<String>,
    ) -> Result<Option<String>> {
        if name.is_some() {
            return Ok(name);
        }
        let current = self
            .store
            .current_session(chat)
            .await?
            .map(|s| s.to_string());
        if current.is_none() {
            self.say(
                chat,
                "No current session: name one, or /use NAME first (/ls lists them).",
            )
            .await?;
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests;
