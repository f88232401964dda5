//! In-memory stand-ins for a chat front end and a session host, for the console's tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use walkie_approval::card::{Block, Card, Span};
use walkie_approval::hook::Decision;
use walkie_host_proto::client::{AskEvent, ClientError};
use walkie_host_proto::protocol::{ErrorKind, NewSession, SessionInfo};

use crate::front::{ChatId, FrontError, Frontend, MessageRef, PressRef, UserId};
use crate::host::{AskStream, Host};

/// What the in-memory front end was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sent {
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
}

/// A front end whose private chats are numbered 100 + the user, and groups below 0; it
/// records everything it is asked to send.
#[derive(Clone, Default)]
pub(crate) struct InMemory {
    pub(crate) sent: Arc<Mutex<Vec<Sent>>>,
}

impl InMemory {
    pub(crate) fn sent(&self) -> Vec<Sent> {
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
pub(crate) fn text(c: &Card) -> String {
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
}

/// The state of an in-memory host.
#[derive(Default)]
pub(crate) struct HostState {
    pub(crate) sessions: Vec<SessionInfo>,
    pub(crate) screens: HashMap<String, String>,
    /// Keys typed, per session.
    pub(crate) typed: Vec<(String, Vec<Vec<u8>>)>,
    /// Decisions the host took, in order; an ask is decided once.
    pub(crate) decided: Vec<(u64, Decision)>,
    /// Asks the host still holds (a decision for any other is `AlreadyDecided`).
    pub(crate) open: Vec<u64>,
    /// The watch a `watch_asks` hands out next (its sender is the test's).
    pub(crate) watches: Vec<mpsc::Receiver<AskEvent>>,
    /// What typing does to the screens, as a program would (none: nothing).
    pub(crate) react: Option<React>,
}

/// A program's answer to input: it may redraw the session's screen.
pub(crate) type React = Arc<dyn Fn(&mut HashMap<String, String>, &str, &[u8]) + Send + Sync>;

/// A session host in memory.
#[derive(Clone, Default)]
pub(crate) struct MemHost {
    pub(crate) state: Arc<Mutex<HostState>>,
    pub(crate) pid: u32,
}

impl MemHost {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    fn no_session(name: &str) -> ClientError {
        ClientError::Host {
            kind: ErrorKind::NoSuchSession,
            message: format!("no session {name}"),
        }
    }
}

pub(crate) struct MemAsks(mpsc::Receiver<AskEvent>);

impl AskStream for MemAsks {
    async fn next_ask(&mut self) -> Option<Result<AskEvent, ClientError>> {
        self.0.recv().await.map(Ok)
    }
}

impl Host for MemHost {
    type Asks = MemAsks;

    async fn list(&self) -> Result<Vec<SessionInfo>, ClientError> {
        Ok(self.with(|s| s.sessions.clone()))
    }

    async fn new_session(&self, spec: NewSession) -> Result<String, ClientError> {
        Ok(spec.name)
    }

    async fn send_line(&self, name: &str, text: &str) -> Result<(), ClientError> {
        let mut line = text.as_bytes().to_vec();
        line.push(b'\r');
        self.input(name, vec![line]).await
    }

    async fn input(&self, name: &str, chunks: Vec<Vec<u8>>) -> Result<(), ClientError> {
        self.with(|s| {
            if !s.sessions.iter().any(|i| i.name == name) {
                return Err(Self::no_session(name));
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

    async fn tail(&self, name: &str, _lines: usize) -> Result<String, ClientError> {
        self.screen(name).await
    }

    async fn pause(&self, name: &str) -> Result<SessionInfo, ClientError> {
        self.info(name).await?.ok_or_else(|| Self::no_session(name))
    }

    async fn resume(&self, name: &str) -> Result<SessionInfo, ClientError> {
        self.info(name).await?.ok_or_else(|| Self::no_session(name))
    }

    async fn kill(&self, name: &str) -> Result<SessionInfo, ClientError> {
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
