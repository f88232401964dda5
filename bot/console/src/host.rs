//! The bot's link to the session host: one connection, reconnected (and the host started,
//! as the CLI does) when it breaks. Requests are serialised on it; each is small and local.

use std::path::PathBuf;

use tokio::sync::Mutex;
use walkie_host_proto::client::{Client, ClientError, SpawnHost};
use walkie_host_proto::protocol::{NewSession, SessionInfo};

/// A shared, self-healing connection to the session host.
pub struct HostLink {
    socket: PathBuf,
    spawn: Option<SpawnHost>,
    conn: Mutex<Option<Client>>,
}

/// Runs one client call on the link: connects first if needed, and drops a connection
/// that broke so the next call reconnects. A call is never retried: an input might
/// then be typed twice.
macro_rules! call {
    ($self:ident, |$c:ident| $body:expr) => {{
        let mut guard = $self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(Client::connect_or_spawn(&$self.socket, $self.spawn.as_ref()).await?);
        }
        let result = match guard.as_mut() {
            Some($c) => $body.await,
            None => Err(ClientError::Closed),
        };
        if matches!(
            result,
            Err(ClientError::Closed
                | ClientError::Frame(_)
                | ClientError::Connect { .. }
                | ClientError::NotAnswering { .. })
        ) {
            *guard = None;
        }
        result
    }};
}

impl HostLink {
    /// `spawn`: how to start a host if none answers (`None`: never start one).
    pub fn new(socket: PathBuf, spawn: Option<SpawnHost>) -> Self {
        HostLink {
            socket,
            spawn,
            conn: Mutex::new(None),
        }
    }

    /// Connects now (starting a host if needed), so that `walkie up` fails early.
    pub async fn connect(&self) -> Result<u32, ClientError> {
        let mut guard = self.conn.lock().await;
        let c = Client::connect_or_spawn(&self.socket, self.spawn.as_ref()).await?;
        let pid = c.host_pid;
        *guard = Some(c);
        Ok(pid)
    }

    pub async fn list(&self) -> Result<Vec<SessionInfo>, ClientError> {
        call!(self, |c| c.list())
    }

    /// The session's info, `None` if the host has no such session.
    pub async fn info(&self, name: &str) -> Result<Option<SessionInfo>, ClientError> {
        Ok(self.list().await?.into_iter().find(|s| s.name == name))
    }

    pub async fn new_session(&self, spec: NewSession) -> Result<String, ClientError> {
        call!(self, |c| c.new_session(spec))
    }

    /// Types `text`, then Enter as a separate write.
    pub async fn send_line(&self, name: &str, text: &str) -> Result<(), ClientError> {
        call!(self, |c| c.send_text(name, text, true))
    }

    /// Writes each chunk separately (keys).
    pub async fn input(&self, name: &str, chunks: Vec<Vec<u8>>) -> Result<(), ClientError> {
        call!(self, |c| c.input(name, chunks))
    }

    pub async fn screen(&self, name: &str) -> Result<String, ClientError> {
        call!(self, |c| c.screen(name, false))
    }

    pub async fn tail(&self, name: &str, lines: usize) -> Result<String, ClientError> {
        call!(self, |c| c.tail(name, lines))
    }

    pub async fn pause(&self, name: &str) -> Result<SessionInfo, ClientError> {
        call!(self, |c| c.pause(name))
    }

    pub async fn resume(&self, name: &str) -> Result<SessionInfo, ClientError> {
        call!(self, |c| c.resume(name))
    }

    pub async fn kill(&self, name: &str) -> Result<SessionInfo, ClientError> {
        call!(self, |c| c.kill(name, false))
    }
}
