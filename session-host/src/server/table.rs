//! The session table: every session this host knows, live or remembered, and the requests
//! that act on them (new, list, input, screen, tail, pause, resume, kill, wait, rm, revive).
//!
//! Each handler answers a [`Reply`], errors included, so that [`super::conn`] only sends it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use walkie_host_proto::ask::Agent;
use walkie_host_proto::name::SessionName;
use walkie_host_proto::protocol::{ErrorKind, NewSession, Reply, SessionInfo, SessionState};
use walkie_host_proto::revival::{is_agent_id, ReviveOutcome, RevivePlan, Revived};

use super::boundary::Sandboxes;
use super::{err, now_ms, HostOptions};
use crate::record::{Begin, Recordings};
use crate::revive::{self, Revival, ReviveMode};
use crate::screen::Secrets;
use crate::session::{InputError, Session, SessionSettings, Spawn};
use crate::store::{Record, Store, StoreError};

/// What the table needs of the host's options.
#[derive(Debug, Clone)]
pub(super) struct TableOptions {
    pub default_cols: u16,
    pub default_rows: u16,
    pub kill_grace: Duration,
    pub session: SessionSettings,
    /// Masked in every view of a screen.
    pub secrets: Secrets,
    /// `None` when the host records nothing.
    pub recordings: Option<Arc<Recordings>>,
    /// What comes back by itself when the host starts.
    pub revive: ReviveMode,
    /// Expands sessions asked for by preset.
    pub presets: Option<super::Presets>,
}

impl TableOptions {
    /// `secrets`: the values masked on every text view of a screen.
    pub fn new(
        o: HostOptions,
        secrets: Secrets,
        recordings: Option<Arc<Recordings>>,
    ) -> TableOptions {
        tracing::info!(secrets = secrets.len(), "secret values masked on screens");
        TableOptions {
            default_cols: o.default_cols,
            default_rows: o.default_rows,
            kill_grace: o.kill_grace,
            session: o.session,
            secrets,
            recordings,
            revive: o.revive,
            presets: o.presets,
        }
    }
}

/// A session's exit, sent from its waiter thread to be recorded on the runtime; the waiter
/// waits (bounded) on `done` so the record is written before anyone can see the exit.
pub(super) struct Exit {
    name: String,
    pid: u32,
    state: SessionState,
    done: std_mpsc::Sender<()>,
}

/// A lost session's index in a listing, and what its plan is made from.
type LostCheck = (usize, Revival, PathBuf, Vec<(String, String)>);

enum Entry {
    Live(Arc<Session>),
    /// Exited before this host started, or lost with the previous host.
    Record(Box<Record>),
}

pub(super) struct Table {
    opts: TableOptions,
    sandboxes: Sandboxes,
    entries: Mutex<BTreeMap<String, Entry>>,
    store: Store,
    exits: mpsc::UnboundedSender<Exit>,
    /// The outbox dispatch ids typed lately (oldest first), so that a repeated delivery
    /// types nothing. In memory: a delivery is repeated only within one reconnect.
    dispatched: Mutex<std::collections::VecDeque<String>>,
}

/// How many dispatch ids a host remembers.
const DISPATCHED_KEPT: usize = 4096;

impl Table {
    /// The table of what `store` remembers (running sessions of the previous host become
    /// lost), and the exits to feed back to [`Table::record_exit`].
    pub async fn open(
        opts: TableOptions,
        store: Store,
        sandboxes: Sandboxes,
    ) -> Result<(Table, mpsc::UnboundedReceiver<Exit>), StoreError> {
        let mut entries = BTreeMap::new();
        for r in store.recover().await? {
            entries.insert(r.name.clone(), Entry::Record(Box::new(r)));
        }
        let (exits, exits_rx) = mpsc::unbounded_channel();
        let table = Table {
            opts,
            sandboxes,
            entries: Mutex::new(entries),
            store,
            exits,
            dispatched: Mutex::new(std::collections::VecDeque::new()),
        };
        Ok((table, exits_rx))
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live session `name`, or the reply saying why there is none.
    // The error is the reply sent as is; it is built once per failed request, not hot.
    #[allow(clippy::result_large_err)]
    pub fn live(&self, name: &str) -> Result<Arc<Session>, Reply> {
        let found = match self.entries().get(name) {
            Some(Entry::Live(s)) => Ok(s.clone()),
            Some(Entry::Record(r)) => Err(Some(r.state.label())),
            None => Err(None),
        };
        // The entries lock is released here: no_such takes it again.
        found.map_err(|label| match label {
            Some(label) => err(
                ErrorKind::NotRunning,
                format!("session {name} is {label}; `walkie revive {name}` starts it again"),
            ),
            None => self.no_such(name),
        })
    }

    /// `name`'s state now; `None` when the table has no such session.
    pub fn state_of(&self, name: &str) -> Option<SessionState> {
        match self.entries().get(name)? {
            Entry::Live(s) => Some(s.state()),
            Entry::Record(r) => Some(r.state.clone()),
        }
    }

    fn no_such(&self, name: &str) -> Reply {
        let names: Vec<String> = self.entries().keys().cloned().collect();
        let hint = if names.is_empty() {
            "there are no sessions; create one with `walkie new NAME`".to_string()
        } else {
            format!("sessions: {}", names.join(", "))
        };
        err(
            ErrorKind::NoSuchSession,
            format!("no session named {name:?} ({hint})"),
        )
    }

    pub async fn record_exit(&self, exit: Exit) {
        let Exit {
            name,
            pid,
            state,
            done,
        } = exit;
        tracing::info!(session = name, pid, state = %state.label(), "session exited");
        self.sandboxes.ended(&name);
        if let Err(e) = self.store.set_exit(&name, pid, &state).await {
            tracing::error!(session = name, "cannot record exit: {e}");
        }
        let _ = done.send(());
    }

    /// Every session; a lost one with what `walkie revive` would do (checked against the
    /// agent's files, off the runtime).
    pub async fn list(&self) -> Reply {
        let (mut sessions, lost): (Vec<SessionInfo>, Vec<LostCheck>) = {
            let entries = self.entries();
            let mut lost = Vec::new();
            let sessions = entries
                .values()
                .enumerate()
                .map(|(i, e)| match e {
                    Entry::Live(s) => s.info(),
                    Entry::Record(r) => {
                        if r.state == SessionState::Lost {
                            lost.push((i, r.revival.clone(), r.cwd.clone(), r.env.clone()));
                        }
                        r.info()
                    }
                })
                .collect();
            (sessions, lost)
        };
        if !lost.is_empty() {
            let plans = tokio::task::spawn_blocking(move || {
                lost.into_iter()
                    .map(|(i, rev, cwd, env)| (i, revive::plan(&rev, &cwd, &env)))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for (i, plan) in plans {
                if let Some(s) = sessions.get_mut(i) {
                    s.revive = Some(plan);
                }
            }
        }
        Reply::Sessions { sessions }
    }

    /// An agent's hook reports the agent's own session id for `name`.
    pub async fn agent_session(&self, name: &str, agent: Agent, id: &str) -> Reply {
        if !is_agent_id(id) {
            return err(
                ErrorKind::BadRequest,
                format!("{id:?} is not an agent session id (a UUID)"),
            );
        }
        let s = match self.live(name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        if s.spawn.revival.agent != Some(agent) {
            // A hook of another agent inside the session (a nested one): not this session's.
            tracing::debug!(
                session = name,
                agent = agent.label(),
                "agent id of another agent ignored"
            );
            return Reply::Ok;
        }
        if s.agent_id().as_deref() != Some(id) {
            tracing::info!(
                session = name,
                agent = agent.label(),
                id,
                "agent session id"
            );
            s.set_agent_id(id.to_string());
            if let Err(e) = self.store.set_agent_id(name, s.pid, id).await {
                tracing::error!(session = name, "cannot store the agent id: {e}");
            }
        }
        Reply::Ok
    }

    /// Types `chunks`, recorded with `source` as their sender; answers the input's
    /// recording time when the session is recorded.
    /// Types `chunks` into `name`; an outbox `dispatch` id already typed is answered
    /// `Typed` without typing again.
    pub async fn input(
        &self,
        name: &str,
        chunks: Vec<Vec<u8>>,
        source: Option<String>,
        dispatch: Option<String>,
    ) -> Reply {
        let Some(id) = dispatch else {
            return self.input_now(name, chunks, source).await;
        };
        {
            let mut seen = self.dispatched.lock().unwrap_or_else(|p| p.into_inner());
            if seen.contains(&id) {
                tracing::info!(session = name, dispatch = %id, "dispatch already typed");
                return Reply::Typed { at: None };
            }
            // Remembered before typing: a repeat arriving meanwhile types nothing.
            if seen.len() >= DISPATCHED_KEPT {
                seen.pop_front();
            }
            seen.push_back(id.clone());
        }
        let reply = self.input_now(name, chunks, source).await;
        if matches!(reply, Reply::Error { .. }) {
            // Nothing was typed: a later delivery may type it.
            let mut seen = self.dispatched.lock().unwrap_or_else(|p| p.into_inner());
            seen.retain(|d| *d != id);
        }
        reply
    }

    async fn input_now(&self, name: &str, chunks: Vec<Vec<u8>>, source: Option<String>) -> Reply {
        let s = match self.live(name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let who = source.unwrap_or_else(|| "a client that did not say".into());
        match s.input(chunks, Some(who)) {
            Ok(recorded) => {
                let at = match recorded {
                    // Bounded: the emulator thread may be behind a flood.
                    Some(rx) => tokio::time::timeout(Duration::from_secs(2), rx)
                        .await
                        .ok()
                        .and_then(Result::ok),
                    None => None,
                };
                Reply::Typed { at }
            }
            Err(InputError::NotRunning(state)) => err(
                ErrorKind::NotRunning,
                format!("session {name} has {}; nothing was typed", state.label()),
            ),
            Err(InputError::QueueFull { held, cap }) => {
                tracing::warn!(
                    session = name,
                    held,
                    cap,
                    "paused session's input queue is full"
                );
                err(
                    ErrorKind::InputQueueFull,
                    format!("session {name} is paused and its input queue is full ({held} of {cap} bytes held); nothing was typed: `walkie resume {name}` first"),
                )
            }
        }
    }

    pub fn screen(&self, name: &str, ansi: bool) -> Reply {
        match self.live(name) {
            Ok(s) => Reply::Text {
                text: s.screen(ansi, &self.opts.secrets),
            },
            Err(r) => r,
        }
    }

    pub fn snapshot(&self, name: &str) -> Reply {
        match self.live(name) {
            Ok(s) => Reply::Snapshot {
                snapshot: s.snapshot(&self.opts.secrets),
            },
            Err(r) => r,
        }
    }

    pub fn tail(&self, name: &str, lines: usize) -> Reply {
        match self.live(name) {
            Ok(s) => Reply::Text {
                text: s.tail(lines, &self.opts.secrets),
            },
            Err(r) => r,
        }
    }

    /// Waits until the session has exited, at most `timeout_ms` (capped at an hour).
    pub async fn wait(&self, name: &str, timeout_ms: u64) -> Reply {
        let s = match self.live(name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let mut w = s.exit_watch();
        let t = Duration::from_millis(timeout_ms.min(3_600_000));
        if tokio::time::timeout(t, w.wait_for(|v| v.is_some()))
            .await
            .is_ok()
        {
            Reply::Info { session: s.info() }
        } else {
            err(
                ErrorKind::Timeout,
                format!("session {name} is still running"),
            )
        }
    }

    /// The session's boundary for the card.
    pub fn boundary(&self, name: &str) -> Reply {
        if !self.entries().contains_key(name) {
            return err(ErrorKind::NoSuchSession, format!("no session named {name}"));
        }
        match self.sandboxes.info(name, &self.opts.session.secret_env) {
            Some(boundary) => Reply::Boundary {
                boundary: Box::new(boundary),
            },
            None => err(
                ErrorKind::NotRunning,
                format!("session {name} is not running, so it has no boundary now"),
            ),
        }
    }

    /// Widens the session's network rules live, then answers its boundary.
    pub fn widen(
        &self,
        name: &str,
        change: &walkie_host_proto::sandbox::Widen,
        by: Option<&str>,
    ) -> Reply {
        match self.sandboxes.widen(name, change, by.unwrap_or("someone")) {
            Ok(()) => self.boundary(name),
            Err(message) => err(ErrorKind::NotRunning, message),
        }
    }

    pub async fn create(&self, spec: NewSession) -> Reply {
        let spec = if spec.expand {
            match self.expand(spec).await {
                Ok(s) => s,
                Err(r) => return r,
            }
        } else {
            spec
        };
        let name = match SessionName::parse(&spec.name) {
            Ok(n) => n,
            Err(e) => return err(ErrorKind::BadName, e.to_string()),
        };
        let home = std::env::var_os("HOME").map(PathBuf::from);
        // `~` and `~/DIR` are this box's home: a home walkie starting a session here over
        // ssh cannot know it.
        let cwd = match spec.cwd.clone() {
            Some(d) if d == std::path::Path::new("~") => home.clone(),
            Some(d) => match (d.strip_prefix("~"), &home) {
                (Ok(rest), Some(h)) => Some(h.join(rest)),
                _ => Some(d),
            },
            None => home,
        }
        .unwrap_or_else(|| PathBuf::from("/"));
        let (cols, rows) = spec
            .size
            .unwrap_or((self.opts.default_cols, self.opts.default_rows));
        let (command, mut revival) = revive::launch(&spec.command, spec.preset, spec.resume);
        revival.sandbox = spec.sandbox;
        revival.network = spec.network;
        let spawn = Spawn {
            name,
            command,
            revival,
            cwd,
            env: spec
                .env
                .into_iter()
                .filter(|(k, _)| !self.opts.session.secret_env.contains(k))
                .collect(),
            cols: cols.clamp(2, 1000),
            rows: rows.clamp(1, 1000),
            record: spec.record,
            exec: None,
        };
        self.start(spawn, false).await
    }

    /// A session asked for by preset, expanded with this machine's own configuration, walkie
    /// and state dir.
    // The error is the reply sent as is.
    #[allow(clippy::result_large_err)]
    async fn expand(&self, spec: NewSession) -> Result<NewSession, Reply> {
        let Some(super::Presets(f)) = self.opts.presets.clone() else {
            return Err(err(
                ErrorKind::NoPreset,
                "this host expands no presets; give the command instead",
            ));
        };
        match tokio::task::spawn_blocking(move || f(spec)).await {
            Ok(Ok(spec)) => Ok(NewSession {
                expand: false,
                ..spec
            }),
            Ok(Err(message)) => Err(err(ErrorKind::NoPreset, message)),
            Err(e) => Err(err(
                ErrorKind::Internal,
                format!("expanding the preset failed: {e}"),
            )),
        }
    }

    /// Starts a session; `replace` allows replacing an exited or lost record (revive).
    async fn start(&self, spawn: Spawn, replace: bool) -> Reply {
        self.start_session(spawn, replace).await.map_or_else(
            |r| r,
            |s| Reply::Created {
                name: s.name.to_string(),
            },
        )
    }

    // The error is the reply sent as is.
    #[allow(clippy::result_large_err)]
    async fn start_session(&self, spawn: Spawn, replace: bool) -> Result<Arc<Session>, Reply> {
        let name = spawn.name.to_string();
        {
            let entries = self.entries();
            match entries.get(&name) {
                None => {}
                Some(Entry::Live(s)) if s.state().is_live() || !replace => {
                    return Err(err(
                        ErrorKind::NameTaken,
                        format!("a session named {name} exists already; pick another name or `walkie rm {name}` it first"),
                    ))
                }
                Some(_) if !replace => {
                    return Err(err(
                        ErrorKind::NameTaken,
                        format!("a session named {name} exists already (not running); `walkie revive {name}` or `walkie rm {name}` it first"),
                    ))
                }
                Some(_) => {}
            }
        }
        let mut spawn = spawn;
        spawn.exec = match self.sandboxes.prepare(&spawn).await {
            Ok(exec) => exec,
            Err(message) => return Err(err(ErrorKind::Spawn, message)),
        };
        let exits = self.exits.clone();
        let exit_name = name.clone();
        let session = match Session::start(
            spawn.clone(),
            self.opts.session.clone(),
            self.opts.recordings.clone().map(|r| {
                let begin = if replace { Begin::Resume } else { Begin::New };
                (r, begin)
            }),
            move |pid, state| {
                let (done, done_rx) = std_mpsc::channel();
                let exit = Exit {
                    name: exit_name,
                    pid,
                    state,
                    done,
                };
                if exits.send(exit).is_ok() {
                    // Bounded: a stuck database must not keep the waiter thread forever.
                    let _ = done_rx.recv_timeout(Duration::from_secs(2));
                }
            },
        ) {
            Ok(s) => s,
            Err(e) => {
                self.sandboxes.ended(&name);
                return Err(err(ErrorKind::Spawn, e.to_string()));
            }
        };
        let record = Record {
            name: name.clone(),
            command: spawn.command.clone(),
            cwd: spawn.cwd.clone(),
            env: spawn.env.clone(),
            cols: spawn.cols,
            rows: spawn.rows,
            created_ms: now_ms(),
            state: SessionState::Running,
            pid: Some(session.pid),
            record: spawn.record,
            revival: spawn.revival.clone(),
        };
        {
            let mut entries = self.entries();
            // Two clients racing for one name: the first insert wins.
            if let Some(Entry::Live(s)) = entries.get(&name) {
                if s.state().is_live() {
                    session.terminate(true);
                    return Err(err(
                        ErrorKind::NameTaken,
                        format!("a session named {name} exists already"),
                    ));
                }
            }
            entries.insert(name.clone(), Entry::Live(session.clone()));
        }
        if let Err(e) = self.store.put(&record).await {
            // The session runs; only its record for after a host restart is missing.
            tracing::error!(session = %name, "cannot store session record: {e}");
        }
        // A command that exits at once may have ended before its record was written.
        let state = session.state();
        if !state.is_live() {
            let _ = self.store.set_exit(&name, session.pid, &state).await;
        }
        tracing::info!(session = %name, pid = session.pid, command = ?spawn.command, "session started");
        Ok(session)
    }

    pub async fn pause_resume(&self, name: &str, pause: bool) -> Reply {
        let s = match self.live(name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let res = if pause { s.pause().await } else { s.resume() };
        match res {
            Ok(()) => {
                let _ = self.store.set_state(name, &s.state()).await;
                Reply::Info { session: s.info() }
            }
            Err(state) => err(
                ErrorKind::NotRunning,
                format!("session {name} has {}", state.label()),
            ),
        }
    }

    /// Starts ending the session and answers at once (the exit is recorded when it comes):
    /// SIGHUP and SIGTERM, then SIGKILL from a task of its own if the session is still there
    /// after the grace period; SIGKILL now when `force`. Nobody's connection waits on it.
    pub fn kill(&self, name: &str, force: bool) -> Reply {
        let s = match self.live(name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        if !s.state().is_live() {
            return Reply::Info { session: s.info() };
        }
        s.terminate(force);
        if !force {
            let grace = self.opts.kill_grace;
            let session = s.clone();
            tokio::spawn(async move {
                let mut w = session.exit_watch();
                if tokio::time::timeout(grace, w.wait_for(|v| v.is_some()))
                    .await
                    .is_err()
                {
                    tracing::info!(
                        session = %session.name,
                        "still running after the grace period: SIGKILL"
                    );
                    session.terminate(true);
                }
            });
        }
        Reply::Info { session: s.info() }
    }

    pub async fn rm(&self, name: &str) -> Reply {
        {
            let mut entries = self.entries();
            match entries.get(name) {
                None => {
                    drop(entries);
                    return self.no_such(name);
                }
                Some(Entry::Live(s)) if s.state().is_live() => {
                    return err(
                        ErrorKind::StillRunning,
                        format!("session {name} is still running; `walkie kill {name}` first"),
                    )
                }
                Some(_) => {
                    entries.remove(name);
                }
            }
        }
        match self.store.remove(name).await {
            Ok(()) => Reply::Ok,
            Err(e) => err(ErrorKind::Internal, e.to_string()),
        }
    }

    /// `walkie revive NAME`: the agent resumed, a shell if it cannot be, any other command
    /// started again.
    pub async fn revive(&self, name: &str) -> Reply {
        // Taken from the start-up revival, should it not have come to this one yet.
        let _ = self.store.claim(name).await;
        self.bring_back(name, None).await.0
    }

    /// What the session `name` (not running) was, to start it again.
    // The error is the reply sent as is.
    #[allow(clippy::result_large_err)]
    fn remembered(&self, name: &str) -> Result<Spawn, Reply> {
        let entries = self.entries();
        match entries.get(name) {
            None => {
                drop(entries);
                Err(self.no_such(name))
            }
            Some(Entry::Live(s)) if s.state().is_live() => Err(err(
                ErrorKind::StillRunning,
                format!("session {name} is running"),
            )),
            Some(Entry::Live(s)) => Ok(Spawn {
                revival: s.revival(),
                ..s.spawn.clone()
            }),
            Some(Entry::Record(r)) => match SessionName::parse(&r.name) {
                Ok(n) => Ok(Spawn {
                    name: n,
                    command: r.command.clone(),
                    cwd: r.cwd.clone(),
                    env: r.env.clone(),
                    cols: r.cols,
                    rows: r.rows,
                    record: r.record,
                    revival: r.revival.clone(),
                    exec: None,
                }),
                Err(e) => Err(err(ErrorKind::BadName, e.to_string())),
            },
        }
    }

    /// Brings `name` back as its plan says; `auto` is the start-up revival's mode (which may
    /// leave it lost), `None` a revive by hand. Answers the reply and, for the report, what
    /// became of it.
    async fn bring_back(&self, name: &str, auto: Option<ReviveMode>) -> (Reply, Option<Revived>) {
        let old = match self.remembered(name) {
            Ok(s) => s,
            Err(r) => return (r, None),
        };
        let kind = old.revival.kind();
        let report = |outcome| Revived {
            name: name.to_string(),
            kind: kind.clone(),
            outcome,
        };
        let left = match auto {
            Some(ReviveMode::None) => true,
            Some(ReviveMode::Agents) => !old.revival.is_agent(),
            Some(ReviveMode::All) | None => false,
        };
        if left {
            return (Reply::Ok, Some(report(ReviveOutcome::Left)));
        }
        let (rev, cwd, env) = (old.revival.clone(), old.cwd.clone(), old.env.clone());
        let plan = tokio::task::spawn_blocking(move || revive::plan(&rev, &cwd, &env))
            .await
            .unwrap_or_else(|e| RevivePlan::Shell {
                why: format!("the check failed: {e}"),
            });
        let (spawn, outcome) = match plan {
            RevivePlan::Resume { command } => (
                Spawn {
                    command,
                    ..old.clone()
                },
                ReviveOutcome::Resumed,
            ),
            RevivePlan::Restart => (old.clone(), ReviveOutcome::Restarted),
            RevivePlan::Shell { why } => (
                Spawn {
                    command: Vec::new(),
                    cwd: revive::shell_cwd(&old.cwd, &old.revival.launch, &old.env),
                    revival: Revival {
                        sandbox: old.revival.sandbox.clone(),
                        network: old.revival.network,
                        ..Revival::default()
                    },
                    ..old.clone()
                },
                ReviveOutcome::Shell { why },
            ),
        };
        tracing::info!(session = name, outcome = ?outcome, command = ?spawn.command, "reviving");
        match self.start_session(spawn, true).await {
            Ok(s) => {
                if let ReviveOutcome::Shell { why } = &outcome {
                    s.announce(&format!(
                        "{name} ({kind}) could not be resumed: {why}; this is a shell in {}",
                        s.spawn.cwd.display()
                    ));
                }
                (
                    Reply::Created {
                        name: name.to_string(),
                    },
                    Some(report(outcome)),
                )
            }
            Err(reply) => {
                let why = match &reply {
                    Reply::Error { message, .. } => message.clone(),
                    other => format!("{other:?}"),
                };
                tracing::warn!(session = name, "revival failed: {why}");
                (reply, Some(report(ReviveOutcome::Failed { why })))
            }
        }
    }

    /// At host start: every session that was running when the host last stopped, brought
    /// back (or left lost) as `host.revive` says, each record once. Answers the report.
    pub async fn revive_pending(&self) -> Vec<Revived> {
        let names = match self.store.pending().await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("cannot read the sessions to revive: {e}");
                return Vec::new();
            }
        };
        let mut report = Vec::new();
        for name in names {
            match self.store.claim(&name).await {
                Ok(true) => {}
                // Someone revived it by hand meanwhile.
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(session = name, "cannot claim a revival: {e}");
                    continue;
                }
            }
            if let (_, Some(r)) = self.bring_back(&name, Some(self.opts.revive)).await {
                report.push(r);
            }
        }
        report
    }

    /// At host shutdown: SIGHUP to every live session, recorded as lost (so it can be
    /// revived), then SIGKILL to what is left after the grace period.
    pub async fn end_all(&self) {
        let live: Vec<Arc<Session>> = self
            .entries()
            .values()
            .filter_map(|e| match e {
                Entry::Live(s) if s.state().is_live() => Some(s.clone()),
                _ => None,
            })
            .collect();
        for s in &live {
            s.terminate(false);
            let _ = self.store.set_lost_pending(s.name.as_str()).await;
        }
        let deadline = tokio::time::Instant::now() + self.opts.kill_grace;
        for s in &live {
            let mut w = s.exit_watch();
            let _ = tokio::time::timeout_at(deadline, w.wait_for(|v| v.is_some())).await;
            s.terminate(true);
        }
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::server) fn options(dir: &std::path::Path) -> TableOptions {
        TableOptions {
            default_cols: 80,
            default_rows: 24,
            kill_grace: Duration::from_secs(2),
            session: SessionSettings {
                scrollback_bytes: 1 << 16,
                subscriber_queue: 64,
                enter_delay: Duration::from_millis(1),
                term: "xterm-256color".into(),
                secret_env: vec!["SECRET_TOKEN".into()],
                socket: dir.join("host.sock"),
                paused_input_bytes: 64,
            },
            secrets: Secrets::new([TEST_SECRET.to_string()]),
            recordings: None,
            revive: ReviveMode::Agents,
            presets: None,
        }
    }

    /// Masked on the test table's screens.
    pub(in crate::server) const TEST_SECRET: &str = "sekrit-token-42";

    /// A table on the store in `dir`, and its exits.
    pub(in crate::server) async fn open(
        dir: &std::path::Path,
    ) -> (Table, mpsc::UnboundedReceiver<Exit>) {
        let store = Store::open(&dir.join("host.db")).await.unwrap();
        Table::open(options(dir), store, Sandboxes::for_tests(dir))
            .await
            .unwrap()
    }

    /// A table on the store in `dir`, its exits recorded as the host's loop does.
    async fn table(dir: &std::path::Path) -> Arc<Table> {
        let (table, mut exits) = open(dir).await;
        let table = Arc::new(table);
        let t = table.clone();
        tokio::spawn(async move {
            while let Some(exit) = exits.recv().await {
                t.record_exit(exit).await;
            }
        });
        table
    }

    fn spec(name: &str, command: &[&str]) -> NewSession {
        NewSession {
            name: name.into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            cwd: Some("/".into()),
            env: vec![("SECRET_TOKEN".into(), "x".into())],
            size: None,
            record: true,
            preset: None,
            resume: None,
            sandbox: None,
            network: None,
            expand: false,
        }
    }

    fn kind(r: &Reply) -> Option<ErrorKind> {
        match r {
            Reply::Error { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    async fn bounded<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("test timed out")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_taken_or_bad_name_is_refused() {
        bounded(async {
            let dir = tempfile::tempdir().unwrap();
            let t = table(dir.path()).await;
            let r = t.create(spec("work", &["sleep", "30"])).await;
            assert_eq!(
                r,
                Reply::Created {
                    name: "work".into()
                }
            );
            let again = t.create(spec("work", &["true"])).await;
            assert_eq!(kind(&again), Some(ErrorKind::NameTaken), "{again:?}");
            let bad = t.create(spec("Work!", &["true"])).await;
            assert_eq!(kind(&bad), Some(ErrorKind::BadName), "{bad:?}");
            // A secret given at creation never reaches the session or its record.
            assert!(t.live("work").unwrap().spawn.env.is_empty());
            t.end_all().await;
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rm_of_a_running_session_is_refused() {
        bounded(async {
            let dir = tempfile::tempdir().unwrap();
            let t = table(dir.path()).await;
            t.create(spec("job", &["sleep", "30"])).await;
            let r = t.rm("job").await;
            assert_eq!(kind(&r), Some(ErrorKind::StillRunning), "{r:?}");
            assert!(matches!(t.kill("job", false), Reply::Info { .. }));
            match t.wait("job", 20_000).await {
                Reply::Info { session } => assert!(!session.state.is_live(), "{session:?}"),
                other => panic!("{other:?}"),
            }
            // An exited session takes no input, and can now go.
            let r = t.input("job", vec![b"x".to_vec()], None, None).await;
            assert_eq!(kind(&r), Some(ErrorKind::NotRunning), "{r:?}");
            assert_eq!(t.rm("job").await, Reply::Ok);
            assert_eq!(t.list().await, Reply::Sessions { sessions: vec![] });
            let r = t.rm("job").await;
            assert_eq!(kind(&r), Some(ErrorKind::NoSuchSession), "{r:?}");
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_session_is_revived_from_its_record() {
        bounded(async {
            let dir = tempfile::tempdir().unwrap();
            {
                // What a host that died left behind: a record still marked running.
                let store = Store::open(&dir.path().join("host.db")).await.unwrap();
                store
                    .put(&Record {
                        name: "old".into(),
                        command: vec!["sleep".into(), "30".into()],
                        cwd: "/".into(),
                        env: vec![],
                        cols: 90,
                        rows: 30,
                        created_ms: 1,
                        state: SessionState::Running,
                        pid: Some(1),
                        record: true,
                        revival: Revival::default(),
                    })
                    .await
                    .unwrap();
                store.close().await;
            }
            let t = table(dir.path()).await;
            let r = t.screen("old", false);
            assert_eq!(kind(&r), Some(ErrorKind::NotRunning), "{r:?}");
            assert_eq!(t.revive("old").await, Reply::Created { name: "old".into() });
            let s = t.live("old").unwrap();
            assert_eq!(s.size(), (90, 30));
            let r = t.revive("old").await;
            assert_eq!(kind(&r), Some(ErrorKind::StillRunning), "{r:?}");
            t.end_all().await;
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_up_revival_follows_the_mode_and_takes_each_record_once() {
        bounded(async {
            for mode in [ReviveMode::Agents, ReviveMode::All, ReviveMode::None] {
                let dir = tempfile::tempdir().unwrap();
                {
                    let store = Store::open(&dir.path().join("host.db")).await.unwrap();
                    let rec = |name: &str, cwd: &str| Record {
                        name: name.into(),
                        command: vec!["sleep".into(), "30".into()],
                        cwd: cwd.into(),
                        env: vec![],
                        cols: 80,
                        rows: 24,
                        created_ms: 1,
                        state: SessionState::Running,
                        pid: Some(1),
                        record: true,
                        revival: Revival {
                            launch: vec!["sleep".into(), "30".into()],
                            ..Revival::default()
                        },
                    };
                    store.put(&rec("job", "/")).await.unwrap();
                    store.put(&rec("gone", "/nonexistent/walkie")).await.unwrap();
                    store.close().await;
                }
                let store = Store::open(&dir.path().join("host.db")).await.unwrap();
                let mut opts = options(dir.path());
                opts.revive = mode;
                let (t, _exits) = Table::open(opts, store, Sandboxes::for_tests(dir.path()))
                    .await
                    .unwrap();
                let report = t.revive_pending().await;
                let of = |name: &str| {
                    report
                        .iter()
                        .find(|r| r.name == name)
                        .map(|r| r.outcome.clone())
                };
                match mode {
                    ReviveMode::All => {
                        assert_eq!(of("job"), Some(ReviveOutcome::Restarted));
                        assert!(
                            matches!(of("gone"), Some(ReviveOutcome::Shell { why }) if why.contains("is gone")),
                            "{report:?}"
                        );
                        assert!(t.live("job").is_ok() && t.live("gone").is_ok());
                    }
                    _ => {
                        // Not agents: left lost by both "agents" and "none".
                        assert_eq!(of("job"), Some(ReviveOutcome::Left), "{mode:?}");
                        assert_eq!(of("gone"), Some(ReviveOutcome::Left), "{mode:?}");
                        assert!(t.live("job").is_err());
                    }
                }
                assert_eq!(report.len(), 2);
                assert!(t.revive_pending().await.is_empty(), "never twice");
                t.end_all().await;
            }
        })
        .await
    }

    #[tokio::test]
    async fn a_session_asked_for_by_preset_is_expanded_by_this_hosts_presets() {
        bounded(async {
            let dir = tempfile::tempdir().unwrap();
            let asked = |preset: &str| NewSession {
                preset: Some(preset.into()),
                expand: true,
                ..spec("p", &["extra"])
            };
            // Without presets the host refuses, naming why.
            let t = table(dir.path()).await;
            let r = t.create(asked("cat")).await;
            assert_eq!(kind(&r), Some(ErrorKind::NoPreset), "{r:?}");
            t.end_all().await;
            drop(t);
            let store = Store::open(&dir.path().join("host2.db")).await.unwrap();
            let mut o = options(dir.path());
            o.presets = Some(super::super::Presets(Arc::new(|mut s: NewSession| {
                if s.preset.as_deref() != Some("cat") {
                    return Err("no preset here".to_string());
                }
                // The preset's command instead of the asker's extra argument.
                s.command = vec!["cat".into()];
                Ok(s)
            })));
            let (t, mut exits) = Table::open(o, store, Sandboxes::for_tests(dir.path()))
                .await
                .unwrap();
            let t = Arc::new(t);
            let t2 = t.clone();
            tokio::spawn(async move {
                while let Some(exit) = exits.recv().await {
                    t2.record_exit(exit).await;
                }
            });
            assert_eq!(
                t.create(asked("cat")).await,
                Reply::Created { name: "p".into() }
            );
            let Reply::Sessions { sessions } = t.list().await else {
                panic!("no list");
            };
            assert_eq!(sessions[0].command, ["cat"]);
            assert_eq!(sessions[0].preset.as_deref(), Some("cat"));
            let r = t.create(asked("nope")).await;
            assert_eq!(kind(&r), Some(ErrorKind::NoPreset));
            match r {
                Reply::Error { message, .. } => assert_eq!(message, "no preset here"),
                other => panic!("{other:?}"),
            }
            t.end_all().await;
        })
        .await
    }

    #[tokio::test]
    async fn an_outbox_dispatch_is_typed_once() {
        bounded(async {
            let dir = tempfile::tempdir().unwrap();
            let t = table(dir.path()).await;
            t.create(spec("d", &["cat"])).await;
            let once = || vec![b"once".to_vec(), b"\r".to_vec()];
            let id = || Some("outbox-1".to_string());
            assert_eq!(
                t.input("d", once(), None, id()).await,
                Reply::Typed { at: None }
            );
            // The delivery repeated after a reconnect: answered, not typed.
            assert_eq!(
                t.input("d", once(), None, id()).await,
                Reply::Typed { at: None }
            );
            // A dispatch that typed nothing (no such session) is not remembered.
            let gone = t.input("nope", once(), None, Some("outbox-2".into())).await;
            assert_eq!(kind(&gone), Some(ErrorKind::NoSuchSession));
            assert!(!t
                .dispatched
                .lock()
                .unwrap()
                .contains(&"outbox-2".to_string()));
            t.input("d", vec![b"end".to_vec(), b"\r".to_vec()], None, None)
                .await;
            // cat's echo and its output: each line typed shows twice.
            let screen = || match t.screen("d", false) {
                Reply::Text { text } => text,
                other => panic!("{other:?}"),
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while screen().matches("end").count() < 2 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let shown = screen();
            assert_eq!(shown.matches("end").count(), 2, "{shown}");
            assert_eq!(shown.matches("once").count(), 2, "typed once: {shown}");
            t.end_all().await;
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pause_stops_and_resume_continues() {
        bounded(async {
            let dir = tempfile::tempdir().unwrap();
            let t = table(dir.path()).await;
            t.create(spec("p", &["sleep", "30"])).await;
            let pid = t.live("p").unwrap().pid;
            let state = || {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
                stat[stat.rfind(')').unwrap() + 2..].chars().next()
            };
            match t.pause_resume("p", true).await {
                Reply::Info { session } => assert_eq!(session.state, SessionState::Paused),
                other => panic!("{other:?}"),
            }
            // SIGSTOP is delivered asynchronously: a bounded wait for the kernel to say so.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while state() != Some('T') && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(state(), Some('T'));
            // Held while paused, up to the cap (64 bytes here): more is refused whole.
            assert_eq!(
                t.input("p", vec![vec![b'a'; 40]], None, None).await,
                Reply::Typed { at: None }
            );
            let full = t
                .input("p", vec![vec![b'b'; 20], vec![b'c'; 20]], None, None)
                .await;
            assert_eq!(kind(&full), Some(ErrorKind::InputQueueFull), "{full:?}");
            assert_eq!(
                t.input("p", vec![vec![b'd'; 24]], None, None).await,
                Reply::Typed { at: None }
            );
            match t.pause_resume("p", false).await {
                Reply::Info { session } => assert_eq!(session.state, SessionState::Running),
                other => panic!("{other:?}"),
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while state() == Some('T') && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_ne!(state(), Some('T'));
            // Resumed: the queue is empty again, and input goes straight through.
            assert_eq!(
                t.input("p", vec![vec![b'e'; 100]], None, None).await,
                Reply::Typed { at: None }
            );
            t.end_all().await;
        })
        .await
    }
}
