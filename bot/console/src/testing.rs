//! In-memory stand-ins for a chat front end and a session host, for the console's tests
//! and (with the `test-util` feature) a front end's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use walkie_approval::card::{Block, Card, Span};
use walkie_approval::hook::Decision;
use walkie_host_proto::client::{AskEvent, ClientError};
use walkie_host_proto::protocol::{ErrorKind, NewSession, SessionInfo, SessionState};

use crate::front::{ChatId, FrontError, Frontend, MessageRef, PressRef, UserId};
use crate::host::{AskStream, Host};
use crate::requests::View;

/// What the in-memory front end was asked to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    Card {
        chat: ChatId,
        message: MessageRef,
        text: String,
        buttons: usize,
        silent: bool,
    },
    Edit {
        chat: ChatId,
        message: MessageRef,
        text: String,
        buttons: usize,
    },
    Toast {
        press: PressRef,
        text: Option<String>,
    },
    Notice {
        chat: ChatId,
        session: String,
        text: String,
        silent: bool,
    },
    Screen {
        chat: ChatId,
        session: String,
    },
    Revived {
        chat: ChatId,
        text: String,
        buttons: usize,
    },
    /// A request's answer.
    View {
        chat: ChatId,
        message: MessageRef,
        view: View,
    },
    /// A short plain message (a scheduled run's).
    Note {
        chat: ChatId,
        text: String,
        silent: bool,
    },
    /// A live screen started or refreshed.
    Watch {
        chat: ChatId,
        session: String,
    },
    /// A live picture (`/watch`) started.
    WatchPicture {
        chat: ChatId,
        session: String,
    },
}

/// A front end whose private chats are numbered 100 + the user, and groups below 0; it
/// records everything it is asked to send.
#[derive(Clone, Default)]
pub struct InMemory {
    pub sent: Arc<Mutex<Vec<Sent>>>,
    /// Chats whose posts fail for good (the bot was blocked there).
    pub refused: Arc<Mutex<Vec<ChatId>>>,
}

impl InMemory {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn push(&self, s: Sent) {
        if let Ok(mut v) = self.sent.lock() {
            v.push(s);
        }
    }

    /// Message numbers are unique across front ends, as a chat's are across restarts.
    fn next(&self) -> MessageRef {
        use std::sync::atomic::{AtomicI64, Ordering};
        static NEXT: AtomicI64 = AtomicI64::new(1);
        MessageRef(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A card as plain text.
pub fn text(c: &Card) -> String {
    c.blocks
        .iter()
        .map(|b| match b {
            Block::Pre(t) => t.clone(),
            Block::Line(spans) => spans
                .iter()
                .map(|s| match s {
                    Span::Plain(t) | Span::Strong(t) | Span::Code(t) => t.as_str(),
                })
                .collect(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn buttons(c: &Card) -> usize {
    c.buttons.iter().map(Vec::len).sum()
}

impl Frontend for InMemory {
    fn private_chat(&self, user: UserId) -> ChatId {
        ChatId(100 + user.0)
    }

    fn private_user(&self, chat: ChatId) -> Option<UserId> {
        (chat.0 >= 100).then(|| UserId(chat.0 - 100))
    }

    async fn post_card(
        &self,
        chat: ChatId,
        card: &Card,
        silent: bool,
    ) -> Result<MessageRef, FrontError> {
        if self.refused.lock().is_ok_and(|r| r.contains(&chat)) {
            return Err(FrontError("Forbidden: bot was blocked by the user".into()));
        }
        let message = self.next();
        self.push(Sent::Card {
            chat,
            message,
            text: text(card),
            buttons: buttons(card),
            silent,
        });
        Ok(message)
    }

    async fn edit_card(
        &self,
        chat: ChatId,
        message: MessageRef,
        card: &Card,
    ) -> Result<(), FrontError> {
        self.push(Sent::Edit {
            chat,
            message,
            text: text(card),
            buttons: buttons(card),
        });
        Ok(())
    }

    async fn answer_press(&self, press: &PressRef, toast: Option<&str>) -> Result<(), FrontError> {
        self.push(Sent::Toast {
            press: press.clone(),
            text: toast.map(str::to_string),
        });
        Ok(())
    }

    async fn notice(
        &self,
        chat: ChatId,
        session: &str,
        text: &str,
        silent: bool,
    ) -> Result<(), FrontError> {
        self.push(Sent::Notice {
            chat,
            session: session.into(),
            text: text.into(),
            silent,
        });
        Ok(())
    }

    async fn note(&self, chat: ChatId, text: &str, silent: bool) -> Result<MessageRef, FrontError> {
        self.push(Sent::Note {
            chat,
            text: text.into(),
            silent,
        });
        Ok(self.next())
    }

    async fn revived(
        &self,
        chat: ChatId,
        note: &crate::revival::RevivalNote,
        buttons: bool,
    ) -> Result<(), FrontError> {
        self.push(Sent::Revived {
            chat,
            text: note.lines.join("\n"),
            buttons: if buttons { note.sessions.len() * 2 } else { 0 },
        });
        Ok(())
    }

    async fn show_screen(
        &self,
        chat: ChatId,
        session: &str,
        _screen: &str,
    ) -> Result<MessageRef, FrontError> {
        self.push(Sent::Screen {
            chat,
            session: session.into(),
        });
        Ok(self.next())
    }

    fn turn_over(&self, _session: &str) {}

    async fn show(&self, chat: ChatId, view: &View) -> Result<MessageRef, FrontError> {
        let message = self.next();
        self.push(Sent::View {
            chat,
            message,
            view: view.clone(),
        });
        Ok(message)
    }

    async fn edit_view(
        &self,
        chat: ChatId,
        message: MessageRef,
        view: &View,
    ) -> Result<(), FrontError> {
        self.push(Sent::View {
            chat,
            message,
            view: view.clone(),
        });
        Ok(())
    }

    fn watch(&self, chat: ChatId, session: &str) {
        self.push(Sent::Watch {
            chat,
            session: session.into(),
        });
    }

    fn watch_picture(&self, chat: ChatId, session: &str) {
        self.push(Sent::WatchPicture {
            chat,
            session: session.into(),
        });
    }

    fn max_file_bytes(&self) -> u64 {
        50 * 1024 * 1024
    }
}

/// The state of an in-memory host.
#[derive(Default)]
pub struct HostState {
    pub sessions: Vec<SessionInfo>,
    pub screens: HashMap<String, String>,
    /// Keys typed, per session.
    pub typed: Vec<(String, Vec<Vec<u8>>)>,
    /// Decisions the host took, in order; an ask is decided once.
    pub decided: Vec<(u64, Decision)>,
    /// Asks the host still holds (a decision for any other is `AlreadyDecided`).
    pub open: Vec<u64>,
    /// The watch a `watch_asks` hands out next (its sender is the test's).
    pub watches: Vec<mpsc::Receiver<AskEvent>>,
    /// Sessions started, in order.
    pub started: Vec<NewSession>,
    /// Sessions killed, in order.
    pub killed: Vec<String>,
    /// What typing does to the screens, as a program would (none: nothing).
    pub react: Option<React>,
    /// Remote hosts that are down: `queue_for` a `name@HOST` session says so, and calls to
    /// such a session fail as to an unreachable host.
    pub down: Vec<String>,
}

/// A session as the host lists it.
pub fn session(name: &str, state: SessionState) -> SessionInfo {
    SessionInfo {
        name: name.into(),
        state,
        command: Vec::new(),
        cwd: "/".into(),
        pid: Some(7),
        created_ms: 1,
        idle_ms: None,
        cols: 80,
        rows: 24,
        clients: 0,
        agent: None,
        preset: None,
        revive: None,
    }
}

/// A program's answer to input: it may redraw the session's screen.
pub type React = Arc<dyn Fn(&mut HashMap<String, String>, &str, &[u8]) + Send + Sync>;

/// A session host in memory.
#[derive(Clone, Default)]
pub struct MemHost {
    pub state: Arc<Mutex<HostState>>,
    pub pid: u32,
}

impl MemHost {
    pub fn with<R>(&self, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    /// Adds a session in `state`.
    pub fn add(&self, name: &str, state: SessionState) {
        self.with(|s| s.sessions.push(session(name, state)));
    }

    fn set_state(&self, name: &str, state: SessionState) -> Result<SessionInfo, ClientError> {
        self.with(|s| {
            let i = s
                .sessions
                .iter_mut()
                .find(|i| i.name == name)
                .ok_or_else(|| Self::no_session(name))?;
            i.state = state;
            Ok(i.clone())
        })
    }

    fn no_session(name: &str) -> ClientError {
        ClientError::Host {
            kind: ErrorKind::NoSuchSession,
            message: format!("no session {name}"),
        }
    }
}

pub struct MemAsks(mpsc::Receiver<AskEvent>);

impl AskStream for MemAsks {
    async fn next_ask(&mut self) -> Option<Result<AskEvent, ClientError>> {
        self.0.recv().await.map(Ok)
    }
}

impl Host for MemHost {
    type Asks = MemAsks;

    fn queue_for(&self, session: &str) -> Option<Option<std::time::SystemTime>> {
        let (_, host) = session.split_once('@')?;
        self.with(|s| s.down.iter().any(|d| d == host))
            .then_some(None)
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, ClientError> {
        Ok(self.with(|s| s.sessions.clone()))
    }

    async fn new_session(&self, spec: NewSession) -> Result<String, ClientError> {
        self.with(|s| {
            if s.sessions.iter().any(|i| i.name == spec.name) {
                return Err(ClientError::Host {
                    kind: ErrorKind::NameTaken,
                    message: format!("a session named {} exists", spec.name),
                });
            }
            s.sessions.push(session(&spec.name, SessionState::Running));
            s.started.push(spec.clone());
            Ok(spec.name)
        })
    }

    async fn send_line(
        &self,
        name: &str,
        text: &str,
        _source: &str,
    ) -> Result<Option<f64>, ClientError> {
        let mut line = text.as_bytes().to_vec();
        line.push(b'\r');
        self.input(name, vec![line]).await.map(|_| None)
    }

    async fn input(&self, name: &str, chunks: Vec<Vec<u8>>) -> Result<(), ClientError> {
        self.with(|s| {
            match s.sessions.iter().find(|i| i.name == name) {
                None => return Err(Self::no_session(name)),
                Some(i) if !i.state.is_live() => {
                    return Err(ClientError::Host {
                        kind: ErrorKind::NotRunning,
                        message: format!("{name} is not running ({})", i.state.label()),
                    })
                }
                Some(_) => {}
            }
            if let Some(react) = s.react.clone() {
                for c in &chunks {
                    react(&mut s.screens, name, c);
                }
            }
            s.typed.push((name.into(), chunks));
            Ok(())
        })
    }

    async fn screen(&self, name: &str) -> Result<String, ClientError> {
        self.with(|s| s.screens.get(name).cloned())
            .ok_or_else(|| Self::no_session(name))
    }

    /// The text screen as a snapshot in the default style, 80x24.
    async fn snapshot(
        &self,
        name: &str,
    ) -> Result<walkie_host_proto::snapshot::Snapshot, ClientError> {
        use walkie_host_proto::snapshot::{Builder, Cursor, Style};
        let text = self.screen(name).await?;
        let mut b = Builder::new(24);
        for line in text.lines().take(24) {
            for ch in line.chars().take(80) {
                b.cell(ch.encode_utf8(&mut [0; 4]), Style::default(), false);
            }
            b.end_line();
        }
        Ok(b.finish(24, 80, Cursor::default()))
    }

    async fn tail(&self, name: &str, _lines: usize) -> Result<String, ClientError> {
        self.screen(name).await
    }

    async fn pause(&self, name: &str) -> Result<SessionInfo, ClientError> {
        self.set_state(name, SessionState::Paused)
    }

    async fn resume(&self, name: &str) -> Result<SessionInfo, ClientError> {
        self.set_state(name, SessionState::Running)
    }

    /// Answers at once, still running, as the real host does (the exit follows).
    async fn kill(&self, name: &str) -> Result<SessionInfo, ClientError> {
        self.with(|s| s.killed.push(name.into()));
        self.info(name).await?.ok_or_else(|| Self::no_session(name))
    }

    async fn decide(&self, id: u64, decision: Decision) -> Result<(), ClientError> {
        self.with(|s| {
            if !s.open.contains(&id) {
                return Err(ClientError::Host {
                    kind: ErrorKind::AlreadyDecided,
                    message: format!("ask {id} is not waiting"),
                });
            }
            s.open.retain(|o| *o != id);
            s.decided.push((id, decision));
            Ok(())
        })
    }

    async fn watch_asks(&self) -> Result<(u32, MemAsks), ClientError> {
        match self.with(|s| s.watches.pop()) {
            Some(rx) => Ok((self.pid, MemAsks(rx))),
            None => Err(ClientError::Closed),
        }
    }
}
