//! One live session: a command in a real PTY.
//!
//! No thread is a session's own: three tasks per session run on the PTY pool ([`crate::pty`],
//! a fixed number of threads for every session), over the PTY master made non-blocking:
//! - the **pump** reads what the PTY has (a flood's queued output as one batch) and feeds it
//!   to the terminal emulator, the byte-capped scrollback and the session's recording (input
//!   markers and the exit too), and offers it to every subscriber's bounded queue with
//!   `try_send`: a subscriber whose queue is full is dropped (it resubscribes and gets a
//!   repaint), so no consumer can ever block the agent's output; while the pump parses, the
//!   program writes on into the kernel's PTY buffer, and when that is full it waits, as on a
//!   real terminal;
//! - the **waiter** (on the host's runtime, not the pool) waits for the child's pidfd and
//!   records how it exited;
//! - the **writer** writes queued input when the PTY takes it, so a program that stops
//!   reading input can never block the host; input sent while paused is held (up to a cap)
//!   and delivered on resume. A keystroke with nothing queued before it is written at once by
//!   the caller (no hand-off), when the PTY takes it whole.

use std::num::NonZeroU16;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use portable_pty::{CommandBuilder, MasterPty, PtySize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::fastforward::FastForward;
use crate::pty::{self, Master};
use crate::record::{Begin, Recording, Recordings};
use crate::revive::Revival;
use crate::screen::{from_vt100, Secrets};
use crate::scrollback::Scrollback;
use walkie_host_proto::name::SessionName;
use walkie_host_proto::protocol::{SessionInfo, SessionState};
use walkie_host_proto::revival::AgentSession;
use walkie_host_proto::snapshot::Snapshot;

/// Most bytes of output fed to the emulator and subscribers at once (a batch may pass it by
/// one read, at most 64 KiB).
const BATCH: usize = 64 * 1024;

/// How long a pause waits for the session's leader to stop before stopping its job.
const PAUSE_WAIT: Duration = Duration::from_millis(500);

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Event {
    Output(Bytes),
    Exited(SessionState),
}

/// Settings every session gets from the host.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub scrollback_bytes: usize,
    pub subscriber_queue: usize,
    pub enter_delay: Duration,
    pub term: String,
    /// Environment variable names removed from the session's environment.
    pub secret_env: Vec<String>,
    /// The host socket, exported as `WALKIE_SOCKET`.
    pub socket: PathBuf,
    /// Most bytes of input held for a paused session; more is refused, not queued.
    pub paused_input_bytes: usize,
}

/// Why input was not typed.
#[derive(Debug, Clone, PartialEq)]
pub enum InputError {
    /// The session has exited or is lost.
    NotRunning(SessionState),
    /// Paused, and this input would take the held input past `cap` bytes.
    QueueFull { held: usize, cap: usize },
}

/// A fully specified session start.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub name: SessionName,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub cols: u16,
    pub rows: u16,
    /// Whether this session is recorded (when the host records at all).
    pub record: bool,
    /// What it takes to bring it back after a host restart (its agent id as at start).
    pub revival: Revival,
    /// What is executed instead of `command` (the sandbox trampoline around it); `command`
    /// stays what `ls` shows and revival starts from.
    pub exec: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot open a pseudo-terminal: {0}")]
    Pty(String),
    #[error("cannot start {command:?} in {cwd}: {message}")]
    Command {
        command: Vec<String>,
        cwd: String,
        message: String,
    },
}

/// What the pump is told besides the PTY's output.
enum Mark {
    /// walkie's own line, shown as if the program had printed it.
    Announce(Vec<u8>),
    Input {
        text: String,
        who: String,
        at: oneshot::Sender<f64>,
    },
    /// `done` goes when the recording is closed.
    Exit {
        how: String,
        done: oneshot::Sender<()>,
    },
}

enum WriterOp {
    Write(Vec<u8>),
    Gap(Duration),
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Event>,
    /// Attached terminals answer terminal queries themselves; watchers do not.
    terminal: bool,
}

struct Shared {
    /// Made at the first output: an idle session holds no grid (vt100 allocates every
    /// cell of the screen up front, 32 bytes each).
    parser: Option<vt100::Parser>,
    fast_forward: FastForward,
    scrollback: Scrollback,
    subscribers: Vec<Subscriber>,
    last_output: Instant,
    paused: bool,
    pending_input: Vec<WriterOp>,
    /// Bytes in `pending_input`.
    pending_bytes: usize,
    state: SessionState,
    cols: u16,
    rows: u16,
}

impl Shared {
    /// Runs `f` on the current screen; a blank one of the session's size before any output.
    fn with_screen<R>(&self, f: impl FnOnce(&vt100::Screen) -> R) -> R {
        match &self.parser {
            Some(p) => f(p.screen()),
            None => f(vt100::Parser::new(nz(self.rows), nz(self.cols), 0).screen()),
        }
    }
}

/// A running (or finished but not yet removed) session.
pub struct Session {
    pub name: SessionName,
    pub spawn: Spawn,
    pub pid: u32,
    created_ms: u64,
    settings: SessionSettings,
    master: Mutex<Box<dyn MasterPty + Send>>,
    /// The master, non-blocking, for the keystroke fast path.
    pty: Master,
    writer_tx: mpsc::UnboundedSender<WriterOp>,
    /// Writer operations sent and not yet done: the fast path writes only when it is 0,
    /// so input is never reordered.
    queued: Arc<AtomicUsize>,
    marks_tx: mpsc::UnboundedSender<Mark>,
    recorded: bool,
    shared: Mutex<Shared>,
    exit_rx: watch::Receiver<Option<SessionState>>,
    next_sub: AtomicU64,
    /// The agent's own session id, the latest it reported.
    agent_id: Mutex<Option<String>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn nz(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v.max(1)).unwrap_or(NonZeroU16::MIN)
}

impl Session {
    /// Starts the command in a new PTY and the session's threads.
    /// `on_exit` runs on the waiter thread once the child has exited, before the exit watch
    /// fires; it may block briefly (the host waits there for its database write).
    pub(crate) fn start(
        spawn: Spawn,
        settings: SessionSettings,
        recording: Option<(Arc<Recordings>, Begin)>,
        on_exit: impl FnOnce(u32, SessionState) + Send + 'static,
    ) -> Result<Arc<Session>, SpawnError> {
        let pty = portable_pty::native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: spawn.rows,
                cols: spawn.cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| SpawnError::Pty(e.to_string()))?;
        let argv = spawn.exec.as_ref().unwrap_or(&spawn.command);
        let mut cmd = if argv.is_empty() {
            CommandBuilder::new_default_prog()
        } else {
            let mut c = CommandBuilder::new(&argv[0]);
            c.args(&argv[1..]);
            c
        };
        cmd.cwd(&spawn.cwd);
        for k in &settings.secret_env {
            cmd.env_remove(k);
        }
        // Host-internal variables that make no sense inside a session.
        cmd.env_remove("RUST_LOG");
        cmd.env("TERM", &settings.term);
        for (k, v) in &spawn.env {
            if !settings.secret_env.iter().any(|s| s == k) {
                cmd.env(k, v);
            }
        }
        cmd.env("WALKIE_SESSION", spawn.name.as_str());
        cmd.env("WALKIE_SOCKET", &settings.socket);
        let cwd_err = |message: String| SpawnError::Command {
            command: spawn.command.clone(),
            cwd: spawn.cwd.display().to_string(),
            message,
        };
        if !spawn.cwd.is_dir() {
            return Err(cwd_err("the working directory does not exist".into()));
        }
        // The leader is registered before the host's reaper can see it, so the reaper never
        // takes the exit status the waiter thread waits for.
        let spawning = crate::lineage::spawning();
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| cwd_err(format!("{e:#}")))?;
        let pid = child.process_id().unwrap_or(0);
        spawning.register(pid);
        // Keeping the slave open here would hide the child's exit: EOF only comes once every
        // slave fd is closed.
        drop(pair.slave);
        let Some(raw) = pair.master.as_raw_fd() else {
            return Err(SpawnError::Pty(
                "the PTY master has no file descriptor".into(),
            ));
        };
        let pool = pty::handle();
        let master_fd = {
            // Registered with the pool's reactor, where its tasks poll it.
            let _pool = pool.enter();
            pty::master(raw).map_err(|e| SpawnError::Pty(e.to_string()))?
        };

        let (exit_tx, exit_rx) = watch::channel(None);
        let (writer_tx, writer_rx) = mpsc::unbounded_channel::<WriterOp>();
        // Marks are few (one per request) and come from the runtime, which must not block:
        // unbounded.
        let (marks_tx, marks_rx) = mpsc::unbounded_channel::<Mark>();
        let recording = recording.filter(|_| spawn.record);
        let start = walkie_recording::Start {
            cols: spawn.cols,
            rows: spawn.rows,
            title: Some(spawn.name.to_string()),
            command: Some(if spawn.command.is_empty() {
                "$SHELL".to_string()
            } else {
                spawn.command.join(" ")
            }),
            term: Some(settings.term.clone()),
        };
        let queued = Arc::new(AtomicUsize::new(0));
        let session = Arc::new(Session {
            name: spawn.name.clone(),
            pid,
            created_ms: now_ms(),
            master: Mutex::new(pair.master),
            pty: master_fd.clone(),
            writer_tx,
            queued: queued.clone(),
            marks_tx,
            recorded: recording.is_some(),
            shared: Mutex::new(Shared {
                parser: None,
                fast_forward: FastForward::default(),
                scrollback: Scrollback::new(settings.scrollback_bytes),
                subscribers: Vec::new(),
                last_output: Instant::now(),
                paused: false,
                pending_input: Vec::new(),
                pending_bytes: 0,
                state: SessionState::Running,
                cols: spawn.cols,
                rows: spawn.rows,
            }),
            settings,
            exit_rx,
            next_sub: AtomicU64::new(1),
            agent_id: Mutex::new(spawn.revival.agent_id.clone()),
            spawn,
        });

        pool.spawn(write_input(master_fd.clone(), writer_rx, queued));
        // Dropped by the pump when the PTY is closed, so that the waiter can let the last
        // output through before announcing the exit.
        let (reader_done_tx, reader_done_rx) = oneshot::channel::<()>();
        let weak = Arc::downgrade(&session);
        let rec_name = session.name.to_string();
        pool.spawn(async move {
            let recording = recording
                .and_then(|(shared, begin)| Recording::start(shared, &rec_name, start, begin));
            pump(&weak, &master_fd, marks_rx, recording, reader_done_tx).await;
        });

        let weak = Arc::downgrade(&session);
        // The waiter runs on the caller's runtime (the host's): a pool stuck on a recording's
        // disk must not hide an exit (the exit mark's wait is bounded).
        let runtime = tokio::runtime::Handle::try_current().unwrap_or(pool);
        runtime.spawn(async move {
            let waited = pty::wait(pid, child).await;
            crate::lineage::forget(pid);
            let state = match waited {
                Ok(st) => SessionState::Exited {
                    code: if st.signal().is_some() {
                        None
                    } else {
                        Some(st.exit_code())
                    },
                    signal: st.signal().map(str::to_string),
                },
                Err(e) => SessionState::Exited {
                    code: None,
                    signal: Some(format!("wait failed: {e}")),
                },
            };
            // A background grandchild may hold the PTY open forever: bound the wait.
            let _ = tokio::time::timeout(Duration::from_millis(500), reader_done_rx).await;
            if let Some(s) = weak.upgrade() {
                s.on_exit(state.clone()).await;
            }
            // The host records the exit before anyone waiting on it is told, so a host
            // crash right after `walkie kill` or `wait` cannot lose the exit status. It
            // waits there (bounded) for its database: off the pool.
            let st = state.clone();
            let _ = tokio::task::spawn_blocking(move || on_exit(pid, st)).await;
            let _ = exit_tx.send(Some(state));
        });
        Ok(session)
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock would poison it; the data (a screen and a byte ring)
        // is still usable, and the host must keep serving.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds output to the emulator, the scrollback and subscribers; answers the size the
    /// terminal has now.
    fn on_output(&self, bytes: Bytes) -> (u16, u16) {
        let data: &[u8] = &bytes;
        let mut guard = self.lock();
        let sh = &mut *guard;
        let (rows, cols) = (sh.rows, sh.cols);
        // Subscribers first: an attached client's task sends the echo while this thread
        // parses. Under the lock as the parse, so a subscribe's repaint and stream still
        // meet exactly.
        let mut any_terminal = false;
        sh.subscribers.retain(|sub| {
            // Full: the subscriber is too slow; drop it rather than wait. Its receiver sees
            // the channel close and repaints from the emulator.
            let keep = sub.tx.try_send(Event::Output(bytes.clone())).is_ok();
            any_terminal |= keep && sub.terminal;
            keep
        });
        let parser = sh
            .parser
            .get_or_insert_with(|| vt100::Parser::new(nz(rows), nz(cols), 0));
        match sh.fast_forward.plan(data, rows) {
            Some((from, to)) => {
                parser.process(&data[..from]);
                parser.process(&data[to..]);
            }
            None => parser.process(data),
        }
        sh.scrollback.push(data);
        sh.last_output = Instant::now();
        if !any_terminal {
            // No real terminal is attached to answer queries; programs that ask for the cursor
            // position (many TUIs do at start) would otherwise wait forever.
            let answers = sh.with_screen(|screen| terminal_answers(data, screen));
            if !answers.is_empty() && !sh.paused {
                self.send_op(WriterOp::Write(answers));
            }
        }
        (sh.cols, sh.rows)
    }

    /// Queues a writer operation; the caller holds the shared lock (so that the fast path
    /// in [`Session::input`] sees every queued operation).
    fn send_op(&self, op: WriterOp) {
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.writer_tx.send(op).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Bytes that repaint the current screen on a real terminal.
    fn repaint(&self) -> Vec<u8> {
        self.lock().with_screen(repaint)
    }

    /// Hands a recording mark to the pump (never blocks); false when not recorded.
    fn mark(&self, mark: Mark) -> bool {
        self.recorded && self.marks_tx.send(mark).is_ok()
    }

    async fn on_exit(&self, state: SessionState) {
        let (done, closed) = oneshot::channel();
        if self.mark(Mark::Exit {
            how: state.label(),
            done,
        }) {
            // Closed before anyone hears of the exit, so that a revive right after continues
            // a complete file. Bounded: a stuck disk must not hold the exit.
            let _ = tokio::time::timeout(Duration::from_secs(2), closed).await;
        }
        let mut sh = self.lock();
        sh.state = state.clone();
        sh.paused = false;
        sh.pending_input.clear();
        sh.pending_bytes = 0;
        for sub in sh.subscribers.drain(..) {
            let _ = sub.tx.try_send(Event::Exited(state.clone()));
        }
    }

    /// Current state.
    pub fn state(&self) -> SessionState {
        self.lock().state.clone()
    }

    /// A watch that turns `Some` when the child has exited.
    pub fn exit_watch(&self) -> watch::Receiver<Option<SessionState>> {
        self.exit_rx.clone()
    }

    pub fn info(&self) -> SessionInfo {
        let sh = self.lock();
        let clients = sh.subscribers.iter().filter(|s| s.terminal).count();
        SessionInfo {
            name: self.name.to_string(),
            state: sh.state.clone(),
            command: self.spawn.command.clone(),
            cwd: self.spawn.cwd.clone(),
            pid: Some(self.pid),
            created_ms: self.created_ms,
            idle_ms: Some(sh.last_output.elapsed().as_millis() as u64),
            cols: sh.cols,
            rows: sh.rows,
            clients,
            agent: self.spawn.revival.agent.map(|agent| AgentSession {
                agent,
                id: self.agent_id(),
            }),
            preset: self.spawn.revival.preset.clone(),
            revive: None,
        }
    }

    pub fn agent_id(&self) -> Option<String> {
        self.agent_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_agent_id(&self, id: String) {
        *self.agent_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
    }

    /// What it takes to bring the session back now (its latest agent id).
    pub fn revival(&self) -> Revival {
        Revival {
            agent_id: self.agent_id(),
            ..self.spawn.revival.clone()
        }
    }

    /// Shows `line` on the session's screen (and in its recording) as if it had printed it:
    /// walkie's own note, e.g. why a revived agent came back as a shell.
    pub fn announce(&self, line: &str) {
        let text = format!("\x1b[1m[walkie] {line}\x1b[0m\r\n");
        let _ = self.marks_tx.send(Mark::Announce(text.into_bytes()));
    }

    /// The screen as plain text (`ansi = false`) or with attributes, `secrets` masked.
    pub fn screen(&self, ansi: bool, secrets: &Secrets) -> String {
        self.lock().with_screen(|screen| {
            let masked = secrets.mask(screen);
            let screen = masked.as_ref().map_or(screen, |m| m.screen());
            if ansi {
                screen.contents_formatted()
            } else {
                screen.contents()
            }
        })
    }

    /// The screen cell by cell, `secrets` masked.
    pub fn snapshot(&self, secrets: &Secrets) -> Snapshot {
        self.lock()
            .with_screen(|screen| match secrets.mask(screen) {
                Some(masked) => from_vt100(masked.screen()),
                None => from_vt100(screen),
            })
    }

    pub fn tail(&self, lines: usize, secrets: &Secrets) -> String {
        let sh = self.lock();
        sh.scrollback.tail_text(lines, sh.cols, secrets)
    }

    /// Registers a subscriber and returns, atomically with it, the bytes that repaint the
    /// current screen on a real terminal (so no output falls between repaint and stream).
    pub fn subscribe(&self, terminal: bool) -> (Bytes, SessionState, mpsc::Receiver<Event>, u64) {
        let (tx, rx) = mpsc::channel(self.settings.subscriber_queue);
        let id = self.next_sub.fetch_add(1, Ordering::Relaxed);
        let mut sh = self.lock();
        let repaint = sh.with_screen(repaint);
        let state = sh.state.clone();
        if state.is_live() {
            sh.subscribers.push(Subscriber { id, tx, terminal });
        }
        (Bytes::from(repaint), state, rx, id)
    }

    pub fn unsubscribe(&self, id: u64) {
        self.lock().subscribers.retain(|s| s.id != id);
    }

    /// Types `chunks` into the terminal, each a separate write with the enter delay between.
    /// While paused, the input is held and delivered on resume, up to the cap: input that
    /// would pass it is refused whole (never cut), so what was typed stays what was sent.
    /// With `who`, the input is recorded after a marker naming its sender; the receiver
    /// then gets its recording time (nothing when the session is not recorded).
    pub fn input(
        &self,
        chunks: Vec<Vec<u8>>,
        who: Option<String>,
    ) -> Result<Option<oneshot::Receiver<f64>>, InputError> {
        let mut sh = self.lock();
        if !sh.state.is_live() {
            return Err(InputError::NotRunning(sh.state.clone()));
        }
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        let cap = self.settings.paused_input_bytes;
        if sh.paused && sh.pending_bytes + bytes > cap {
            return Err(InputError::QueueFull {
                held: sh.pending_bytes,
                cap,
            });
        }
        let mut recorded = None;
        if let Some(who) = who {
            let text: Vec<u8> = chunks.concat();
            let (at, at_rx) = oneshot::channel();
            let mark = Mark::Input {
                text: String::from_utf8_lossy(&text).into_owned(),
                who,
                at,
            };
            // Marked before it is written, so the marker comes before the echo.
            if self.mark(mark) {
                recorded = Some(at_rx);
            }
        }
        let n = chunks.len();
        let mut ops = Vec::with_capacity(n * 2);
        for (i, c) in chunks.into_iter().enumerate() {
            ops.push(WriterOp::Write(c));
            if i + 1 < n {
                ops.push(WriterOp::Gap(self.settings.enter_delay));
            }
        }
        if sh.paused {
            sh.pending_input.extend(ops);
            sh.pending_bytes += bytes;
            return Ok(recorded);
        }
        // The key path: with nothing queued before it, a single write goes to the PTY here
        // and now, no task between; what the PTY does not take at once goes to the writer.
        if ops.len() == 1 && self.queued.load(Ordering::Acquire) == 0 {
            if let Some(WriterOp::Write(b)) = ops.pop() {
                let done = pty::try_write(&self.pty, &b);
                if done < b.len() {
                    self.send_op(WriterOp::Write(b[done..].to_vec()));
                }
            }
        }
        for op in ops {
            self.send_op(op);
        }
        Ok(recorded)
    }

    /// Resizes the PTY (the program gets SIGWINCH) and the emulator.
    pub fn resize(&self, cols: u16, rows: u16) {
        let (cols, rows) = (cols.clamp(2, 1000), rows.clamp(1, 1000));
        let mut sh = self.lock();
        if (sh.cols, sh.rows) == (cols, rows) {
            return;
        }
        sh.cols = cols;
        sh.rows = rows;
        if let Some(p) = sh.parser.as_mut() {
            p.screen_mut().set_size(nz(rows), nz(cols));
        }
        drop(sh);
        let master = self.master.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = master.resize(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        }) {
            tracing::warn!(session = %self.name, "resize failed: {e}");
        }
    }

    pub fn size(&self) -> (u16, u16) {
        let sh = self.lock();
        (sh.cols, sh.rows)
    }

    /// Process groups to signal: the session leader's and the terminal's foreground group
    /// (a shell runs each job in its own group).
    fn groups(&self) -> Vec<Pid> {
        let mut v = vec![Pid::from_raw(self.pid as i32)];
        let master = self.master.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(fg) = master.process_group_leader() {
            if fg > 0 && fg != self.pid as i32 {
                v.push(Pid::from_raw(fg));
            }
        }
        v
    }

    fn signal(&self, sig: Signal) {
        let mut groups = self.groups();
        if sig == Signal::SIGCONT {
            // Continue the job before its shell: a job-control shell that wakes while its job
            // is still stopped reports "Stopped" and takes the terminal back.
            groups.reverse();
        }
        for g in groups {
            if let Err(e) = killpg(g, sig) {
                tracing::debug!(session = %self.name, "killpg({g}, {sig}) failed: {e}");
            }
        }
    }

    pub async fn pause(self: &Arc<Self>) -> Result<(), SessionState> {
        {
            let mut sh = self.lock();
            match sh.state {
                SessionState::Running => {}
                SessionState::Paused => return Ok(()),
                ref other => return Err(other.clone()),
            }
            sh.paused = true;
            sh.state = SessionState::Paused;
        }
        // Stop the leader (a shell) first and make sure it is stopped before its job is: a
        // shell that sees its job stop reports "Stopped" and takes the terminal back.
        let groups = self.groups();
        let leader = groups[0];
        let _ = killpg(leader, Signal::SIGSTOP);
        if groups.len() > 1 {
            // Watching the leader stop polls /proc: a blocking wait, kept off the runtime.
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let deadline = Instant::now() + PAUSE_WAIT;
                while proc_state(me.pid) != Some('T') && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                // A resume while we waited wins: its job must not be stopped after it.
                if me.lock().paused {
                    for g in &groups[1..] {
                        let _ = killpg(*g, Signal::SIGSTOP);
                    }
                }
            })
            .await;
        }
        Ok(())
    }

    pub fn resume(&self) -> Result<(), SessionState> {
        let mut sh = self.lock();
        match sh.state {
            SessionState::Paused => {}
            SessionState::Running => return Ok(()),
            ref other => return Err(other.clone()),
        }
        sh.paused = false;
        sh.state = SessionState::Running;
        let pending = std::mem::take(&mut sh.pending_input);
        sh.pending_bytes = 0;
        // Counted before the lock goes, so that no keystroke takes the fast path ahead of
        // the held input.
        self.queued.fetch_add(pending.len(), Ordering::AcqRel);
        drop(sh);
        self.signal(Signal::SIGCONT);
        for op in pending {
            if self.writer_tx.send(op).is_err() {
                self.queued.fetch_sub(1, Ordering::AcqRel);
            }
        }
        Ok(())
    }

    /// Asks the session to end: SIGHUP and SIGTERM (interactive shells ignore SIGTERM but
    /// leave on SIGHUP, as when a terminal closes), or SIGKILL when `force`.
    pub fn terminate(&self, force: bool) {
        if !self.state().is_live() {
            return;
        }
        if force {
            self.signal(Signal::SIGKILL);
            return;
        }
        self.signal(Signal::SIGHUP);
        self.signal(Signal::SIGTERM);
        // A stopped process cannot act on SIGTERM until continued.
        self.signal(Signal::SIGCONT);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.lock().state.is_live() {
            self.signal(Signal::SIGKILL);
        }
    }
}

/// The writer task: writes queued input in order, waiting while the PTY's input is full.
async fn write_input(
    pty: Master,
    mut rx: mpsc::UnboundedReceiver<WriterOp>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(op) = rx.recv().await {
        let ok = match op {
            WriterOp::Write(b) => pty::write_all(&pty, &b).await.is_ok(),
            WriterOp::Gap(d) => {
                tokio::time::sleep(d).await;
                true
            }
        };
        queued.fetch_sub(1, Ordering::AcqRel);
        if !ok {
            break;
        }
    }
}

/// The pump: feeds the PTY's output to the emulator (through the session) and hands it,
/// with the marks, to the recorder thread (never waiting for it).
async fn pump(
    weak: &std::sync::Weak<Session>,
    pty: &Master,
    mut marks_rx: mpsc::UnboundedReceiver<Mark>,
    mut recording: Option<Recording>,
    reader_done: oneshot::Sender<()>,
) {
    let mut marks_open = true;
    loop {
        let first = tokio::select! {
            // Marks first: an input's marker goes before its echo.
            biased;
            m = marks_rx.recv(), if marks_open => {
                match m {
                    Some(Mark::Announce(text)) => text,
                    Some(m) => {
                        record_mark(m, &mut recording, weak);
                        continue;
                    }
                    None => {
                        marks_open = false;
                        continue;
                    }
                }
            }
            r = pty::read(pty) => match r {
                Some(chunk) => chunk,
                None => break,
            },
        };
        let mut chunk = record_marks(&mut marks_rx, &mut recording, weak);
        if chunk.is_empty() {
            chunk = first;
        } else {
            chunk.extend_from_slice(&first);
        }
        // Behind a flood: take what is queued as one batch, so the emulator can fast-forward
        // through lines that scroll away within it. Bounded: each batch goes whole to every
        // subscriber's queue, and a stuck client's queue holds up to `subscriber_queue` of
        // them.
        while chunk.len() < BATCH && pty::try_read(pty, &mut chunk) {}
        if chunk.capacity() > chunk.len() + chunk.len() / 4 {
            chunk.shrink_to_fit();
        }
        let Some(s) = weak.upgrade() else { break };
        let bytes = Bytes::from(chunk);
        let size = s.on_output(bytes.clone());
        drop(s);
        // An attach served on the pool was just woken on this thread, and a woken task runs
        // only once this one yields (tokio's LIFO slot is not stolen by the other thread):
        // so the echo goes out first, before the recorder is woken (a futex wake), and
        // behind a flood this loop does not read batch after batch while the client waits
        // (until the coalescing backlog forced repaints).
        tokio::task::yield_now().await;
        if let Some(r) = recording.as_mut() {
            let Some(s) = weak.upgrade() else { break };
            // Still before the next batch is read, so the recording keeps the order the
            // emulator saw (marks included).
            r.output(&bytes, size, || s.repaint());
            if r.stopped() {
                recording = None;
            }
        }
    }
    // The waiter announces the exit once the last output is through.
    drop(reader_done);
    while recording.is_some() {
        match tokio::time::timeout(Duration::from_secs(5), marks_rx.recv()).await {
            Ok(Some(m)) => record_mark(m, &mut recording, weak),
            _ => break,
        }
    }
}

/// Records the marks waiting; answers the announcements among them, to be shown first.
fn record_marks(
    marks_rx: &mut mpsc::UnboundedReceiver<Mark>,
    recording: &mut Option<Recording>,
    weak: &std::sync::Weak<Session>,
) -> Vec<u8> {
    let mut announced = Vec::new();
    while let Ok(m) = marks_rx.try_recv() {
        match m {
            Mark::Announce(text) => announced.extend_from_slice(&text),
            m => record_mark(m, recording, weak),
        }
    }
    announced
}

fn record_mark(mark: Mark, recording: &mut Option<Recording>, weak: &std::sync::Weak<Session>) {
    let Some(r) = recording.as_mut() else { return };
    // The screen now, should the recording need it after a gap.
    let repaint = || weak.upgrade().map(|s| s.repaint()).unwrap_or_default();
    match mark {
        Mark::Announce(_) => {}
        Mark::Input { text, who, at } => r.input(text, &who, at, repaint),
        Mark::Exit { how, done } => {
            r.exit(how, done, repaint);
            // Anything a leftover grandchild prints after the exit is not recorded.
            *recording = None;
        }
    }
}

/// Bytes that repaint `screen` on a real terminal.
fn repaint(screen: &vt100::Screen) -> Vec<u8> {
    let mut out = b"\x1b[0m\x1b[H\x1b[2J".to_vec();
    out.extend_from_slice(screen.state_formatted().as_bytes());
    out
}

/// The state letter of a process (R, S, T, Z...) from /proc.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 2..)?.chars().next()
}

/// Answers to terminal queries found in `data`: cursor position (`CSI 6 n`), status
/// (`CSI 5 n`) and primary device attributes (`CSI c`), as a VT220-class terminal would.
fn terminal_answers(data: &[u8], screen: &vt100::Screen) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < data.len() + 1 {
        if data[i] == 0x1b && data.get(i + 1) == Some(&b'[') {
            let rest = &data[i + 2..];
            if rest.starts_with(b"6n") {
                let (r, c) = screen.cursor_position();
                out.extend_from_slice(format!("\x1b[{};{}R", r + 1, c + 1).as_bytes());
            } else if rest.starts_with(b"5n") {
                out.extend_from_slice(b"\x1b[0n");
            } else if rest.starts_with(b"c") || rest.starts_with(b"0c") {
                out.extend_from_slice(b"\x1b[?62;22c");
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_queries() {
        let p = vt100::Parser::new(nz(24), nz(80), 0);
        assert_eq!(terminal_answers(b"ab\x1b[6n", p.screen()), b"\x1b[1;1R");
        assert_eq!(terminal_answers(b"\x1b[c", p.screen()), b"\x1b[?62;22c");
        assert!(terminal_answers(b"\x1b[31mred", p.screen()).is_empty());
    }
}
