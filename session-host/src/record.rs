//! Recording sessions: every session's output in asciicast v2 under
//! `<state_dir>/recordings/<session>/`, written by walkie-recording's [`Recorder`] on one
//! recorder thread for the whole host (`walkie-rec`), fed by the sessions' pump tasks
//! through a queue bounded in bytes.
//!
//! Why a thread of its own: escaping a flood into JSON and writing it is as much work as
//! feeding the emulator, and a stuck disk must not stall any session. The pump hands over
//! the batch it already owns (a `Bytes`, no copy) and never waits: when the queue is full
//! (the recorder is stuck or slow) the output is not recorded, the log says so once, and as
//! soon as there is room the recording gets a marker (`gap: N bytes of output not recorded`)
//! and a repaint of the screen, so that it still replays to the right screen.
//!
//! A recording error (disk full) is logged once and ends that recording; the session goes
//! on. The values of the secret environment variables the host strips from sessions (read
//! from the host's own environment at start) and the configured secrets are masked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;
use walkie_recording::{enforce_total, Limits, RecordError, Recorder, Redactor, Start};

/// Bytes of output waiting for the recorder, all sessions together, past which output is
/// dropped to a marked gap rather than queued. Some 20 ms of a flood: enough to ride out
/// the recorder thread not being scheduled for a few time slices, small enough that a
/// rotation asked for by the recorder comes within about this many bytes of the part's cap.
const QUEUE_BYTES: usize = 2 << 20;

/// After the recorder has emptied its queue it sleeps this long before it looks again,
/// rather than being woken by every batch: under a flood one wake-up handles many batches
/// (a wake-up per batch cost more CPU than the escaping and writing together), and about
/// 4 ms of a flood fits in the queue many times over.
const LINGER: Duration = Duration::from_millis(4);

/// How long the recorder waits for more before it writes its buffers out (so the files
/// on disk are current while a session is idle, without a write per batch under a flood).
const SYNC_AFTER: Duration = Duration::from_millis(20);

/// How the host records sessions, built by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct RecordingOptions {
    pub enabled: bool,
    pub limits: Limits,
    /// All sessions' recordings together; the oldest parts go first past this.
    pub total_bytes: u64,
}

impl Default for RecordingOptions {
    fn default() -> Self {
        RecordingOptions {
            enabled: true,
            limits: Limits::default(),
            total_bytes: 1 << 30,
        }
    }
}

/// The folder of all recordings under a host's state directory (defined by the recording
/// crate, so the bot's `/replay` finds it without depending on the host).
pub use walkie_recording::recordings_dir;

/// What all recordings of a host share: the way to the recorder thread.
#[derive(Debug)]
pub(crate) struct Recordings {
    tx: mpsc::Sender<Msg>,
    /// Bytes in messages sent and not yet handled by the recorder.
    queued: Arc<AtomicUsize>,
    next_id: AtomicU64,
}

/// What the recorder thread needs to know.
struct Config {
    root: PathBuf,
    limits: Limits,
    total_bytes: u64,
    secrets: Vec<String>,
}

/// Between one session's pump and the recorder.
#[derive(Debug, Default)]
struct Flags {
    /// The current part is full: the pump sends a repaint for the next part.
    rotate: AtomicBool,
    /// The recording ended (write error): the pump stops sending.
    stopped: AtomicBool,
}

/// A message to the recorder thread; `at` is when the session produced it.
#[derive(Debug)]
enum Msg {
    Start {
        id: u64,
        session: String,
        start: Start,
        begin: Begin,
        flags: Arc<Flags>,
        at: Instant,
    },
    Output {
        id: u64,
        bytes: Bytes,
        size: (u16, u16),
        at: Instant,
    },
    /// Next part, starting with this repaint of the screen.
    Rotate {
        id: u64,
        repaint: Vec<u8>,
        at: Instant,
    },
    /// Output the pump could not queue, and the screen after it.
    Gap {
        id: u64,
        bytes: u64,
        events: u64,
        repaint: Vec<u8>,
        at: Instant,
    },
    Input {
        id: u64,
        text: String,
        who: String,
        at: Instant,
        reply: oneshot::Sender<f64>,
    },
    Exit {
        id: u64,
        how: String,
        at: Instant,
        done: oneshot::Sender<()>,
    },
    Close {
        id: u64,
    },
    /// Everything written out; `done` goes then.
    Flush {
        done: oneshot::Sender<()>,
    },
}

impl Msg {
    /// What the message holds in memory, counted against [`QUEUE_BYTES`].
    fn cost(&self) -> usize {
        64 + match self {
            Msg::Output { bytes, .. } => bytes.len(),
            Msg::Rotate { repaint, .. } | Msg::Gap { repaint, .. } => repaint.len(),
            Msg::Input { text, who, .. } => text.len() + who.len(),
            Msg::Start { .. } | Msg::Exit { .. } | Msg::Close { .. } | Msg::Flush { .. } => 0,
        }
    }
}

impl Recordings {
    /// `None` when recording is off (or its thread cannot start, logged). `secrets`: the
    /// values to mask (read once at start, see [`crate::server::run`]).
    pub fn new(
        opts: &RecordingOptions,
        state_dir: &Path,
        secrets: Vec<String>,
    ) -> Option<Arc<Recordings>> {
        if !opts.enabled {
            return None;
        }
        let cfg = Config {
            root: recordings_dir(state_dir),
            limits: opts.limits,
            total_bytes: opts.total_bytes,
            secrets,
        };
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        let spawned = std::thread::Builder::new()
            .name("walkie-rec".into())
            // It holds no deep stack: escapes, writes, and a repaint handed to it.
            .stack_size(256 << 10)
            .spawn(move || recorder(cfg, rx, q));
        if let Err(e) = spawned {
            tracing::error!("cannot start the recorder thread, sessions are not recorded: {e}");
            return None;
        }
        Some(Arc::new(Recordings {
            tx,
            queued,
            next_id: AtomicU64::new(1),
        }))
    }

    /// Sends `msg` if the queue has room (or when it must go whatever the queue holds);
    /// false when it was not sent.
    fn send(&self, msg: Msg, must: bool) -> bool {
        let cost = msg.cost();
        let before = self.queued.fetch_add(cost, Ordering::AcqRel);
        // An empty queue takes any one message, however big.
        if !must && before > 0 && before + cost > QUEUE_BYTES {
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        if self.tx.send(msg).is_err() {
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Waits (bounded) until the recorder has written out everything sent before: the host
    /// is stopping.
    pub async fn flush(&self, within: Duration) {
        let (done, rx) = oneshot::channel();
        if self.send(Msg::Flush { done }, true) {
            let _ = tokio::time::timeout(within, rx).await;
        }
    }
}

/// How a session's recording begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Begin {
    New,
    /// A revived session: its recording continues, after a marker.
    Resume,
}

/// One session's recording as its pump task sees it: the sending end.
pub(crate) struct Recording {
    shared: Arc<Recordings>,
    id: u64,
    session: String,
    flags: Arc<Flags>,
    /// Output not queued since the last gap marker (the recorder was behind).
    lost_bytes: u64,
    lost_events: u64,
}

impl Recording {
    /// Starts (or continues) the recording of `session`; the recorder opens its file.
    pub fn start(
        shared: Arc<Recordings>,
        session: &str,
        start: Start,
        begin: Begin,
    ) -> Option<Recording> {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let flags = Arc::new(Flags::default());
        let msg = Msg::Start {
            id,
            session: session.to_string(),
            start,
            begin,
            flags: flags.clone(),
            at: Instant::now(),
        };
        if !shared.send(msg, true) {
            tracing::warn!(
                session,
                "cannot record the session: the recorder has stopped"
            );
            return None;
        }
        Some(Recording {
            shared,
            id,
            session: session.to_string(),
            flags,
            lost_bytes: 0,
            lost_events: 0,
        })
    }

    /// Whether the recording ended (a write error, logged by the recorder).
    pub fn stopped(&self) -> bool {
        self.flags.stopped.load(Ordering::Acquire)
    }

    /// Output as the PTY produced it, with the terminal's size now. `repaint` gives the
    /// current screen (this output included): for the next part when this one is full, and
    /// after a gap. Never waits.
    pub fn output(&mut self, bytes: &Bytes, size: (u16, u16), repaint: impl Fn() -> Vec<u8>) {
        let at = Instant::now();
        if self.lost_bytes > 0 || self.lost_events > 0 {
            // The gap's repaint shows the screen after this output too.
            if !self.end_gap(&repaint, bytes.len() as u64, at) {
                return;
            }
        } else {
            let msg = Msg::Output {
                id: self.id,
                bytes: bytes.clone(),
                size,
                at,
            };
            if !self.shared.send(msg, false) {
                self.lose(bytes.len() as u64, 0);
                return;
            }
        }
        if self.flags.rotate.swap(false, Ordering::AcqRel) {
            let msg = Msg::Rotate {
                id: self.id,
                repaint: repaint(),
                at,
            };
            if !self.shared.send(msg, false) {
                // Asked again with the next output.
                self.flags.rotate.store(true, Ordering::Release);
            }
        }
    }

    /// Counts what could not be queued; the first loss of a gap is logged.
    fn lose(&mut self, bytes: u64, events: u64) {
        if self.lost_bytes == 0 && self.lost_events == 0 {
            tracing::warn!(
                session = %self.session,
                "the recorder is behind: output is not recorded until it catches up (the session goes on)"
            );
        }
        self.lost_bytes += bytes;
        self.lost_events += events;
    }

    /// Sends the gap marker with the current screen; false when there is still no room (then
    /// `more` bytes are counted in the gap).
    fn end_gap(&mut self, repaint: &dyn Fn() -> Vec<u8>, more: u64, at: Instant) -> bool {
        let msg = Msg::Gap {
            id: self.id,
            bytes: self.lost_bytes + more,
            events: self.lost_events,
            repaint: repaint(),
            at,
        };
        if !self.shared.send(msg, false) {
            self.lost_bytes += more;
            return false;
        }
        tracing::info!(
            session = %self.session,
            bytes = self.lost_bytes + more,
            "the recorder caught up; the gap is marked in the recording"
        );
        self.lost_bytes = 0;
        self.lost_events = 0;
        true
    }

    /// What walkie typed and who sent it; the receiver gets the recording time of the input
    /// (nothing when it fell in a gap).
    pub fn input(
        &mut self,
        text: String,
        who: &str,
        reply: oneshot::Sender<f64>,
        repaint: impl Fn() -> Vec<u8>,
    ) {
        let at = Instant::now();
        if (self.lost_bytes > 0 || self.lost_events > 0) && !self.end_gap(&repaint, 0, at) {
            self.lost_events += 1;
            return;
        }
        let msg = Msg::Input {
            id: self.id,
            text,
            who: format!("input from {who}"),
            at,
            reply,
        };
        // Input is rare (one per request) and must come before its echo: never dropped.
        self.shared.send(msg, true);
    }

    /// The session ended: `done` goes once the recording is closed.
    pub fn exit(&mut self, how: String, done: oneshot::Sender<()>, repaint: impl Fn() -> Vec<u8>) {
        let at = Instant::now();
        if self.lost_bytes > 0 || self.lost_events > 0 {
            let _ = self.end_gap(&repaint, 0, at);
        }
        let msg = Msg::Exit {
            id: self.id,
            how,
            at,
            done,
        };
        self.shared.send(msg, true);
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.shared.send(Msg::Close { id: self.id }, true);
    }
}

/// One open recording on the recorder thread.
struct Active {
    session: String,
    rec: Recorder,
    size: (u16, u16),
    flags: Arc<Flags>,
    /// A rotation was asked for and its repaint has not come yet.
    asked: bool,
}

/// The recorder thread: handles messages in order, writes buffers out when the queue has
/// been empty for [`SYNC_AFTER`], and ends when the host drops its [`Recordings`].
fn recorder(cfg: Config, rx: mpsc::Receiver<Msg>, queued: Arc<AtomicUsize>) {
    let mut open: HashMap<u64, Active> = HashMap::new();
    // The part each recording writes now: never deleted by the total cap.
    let mut parts: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut dirty: HashSet<u64> = HashSet::new();
    loop {
        let msg = if dirty.is_empty() {
            rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(SYNC_AFTER)
        };
        let msg = match msg {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                for id in dirty.drain() {
                    if let Some(a) = open.get_mut(&id) {
                        let r = a.rec.sync();
                        check(&mut open, &mut parts, id, r);
                    }
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let cost = msg.cost();
        handle(&cfg, msg, &mut open, &mut parts, &mut dirty);
        queued.fetch_sub(cost, Ordering::AcqRel);
        while let Ok(msg) = rx.try_recv() {
            let cost = msg.cost();
            handle(&cfg, msg, &mut open, &mut parts, &mut dirty);
            queued.fetch_sub(cost, Ordering::AcqRel);
        }
        // Come back in a moment rather than be woken by the next batch: what arrives
        // meanwhile is queued without a wake-up. (Exits, flushes and input times waiting
        // for the recorder were answered above.)
        std::thread::sleep(LINGER);
    }
    for (_, mut a) in open.drain() {
        let _ = a.rec.flush();
    }
}

fn handle(
    cfg: &Config,
    msg: Msg,
    open: &mut HashMap<u64, Active>,
    parts: &mut BTreeMap<u64, PathBuf>,
    dirty: &mut HashSet<u64>,
) {
    match msg {
        Msg::Start {
            id,
            session,
            mut start,
            begin,
            flags,
            at,
        } => {
            let dir = cfg.root.join(&session);
            start.command = start
                .command
                .map(|c| Redactor::new(&cfg.secrets).mask_str(&c));
            let size = (start.cols, start.rows);
            let made = match begin {
                Begin::New => Recorder::create(&dir, start, &cfg.secrets, cfg.limits),
                Begin::Resume => Recorder::resume(
                    &dir,
                    start,
                    &cfg.secrets,
                    cfg.limits,
                    "revived: the session was started again",
                ),
            };
            match made {
                Ok(mut rec) => {
                    rec.set_time(at);
                    parts.insert(id, rec.current_part());
                    enforce(cfg, parts);
                    open.insert(
                        id,
                        Active {
                            session,
                            rec,
                            size,
                            flags,
                            asked: false,
                        },
                    );
                    dirty.insert(id);
                }
                Err(e) => {
                    tracing::warn!(session, error = %e, "cannot record the session");
                    flags.stopped.store(true, Ordering::Release);
                }
            }
        }
        Msg::Output {
            id,
            bytes,
            size,
            at,
        } => {
            let Some(a) = open.get_mut(&id) else { return };
            a.rec.set_time(at);
            let mut r = Ok(());
            if size != a.size {
                a.size = size;
                r = a.rec.resize(size.0, size.1);
            }
            let r = r.and_then(|()| a.rec.output(&bytes));
            if r.is_ok() && !a.asked && a.rec.needs_rotation() {
                a.asked = true;
                a.flags.rotate.store(true, Ordering::Release);
            }
            dirty.insert(id);
            check(open, parts, id, r);
        }
        Msg::Rotate { id, repaint, at } => {
            let Some(a) = open.get_mut(&id) else { return };
            a.rec.set_time(at);
            a.asked = false;
            let r = a.rec.rotate(&repaint);
            if r.is_ok() {
                parts.insert(id, a.rec.current_part());
                enforce(cfg, parts);
            }
            dirty.insert(id);
            check(open, parts, id, r);
        }
        Msg::Gap {
            id,
            bytes,
            events,
            repaint,
            at,
        } => {
            let Some(a) = open.get_mut(&id) else { return };
            a.rec.set_time(at);
            let label = if events > 0 {
                format!("gap: {bytes} bytes of output and {events} inputs not recorded (the recorder was behind)")
            } else {
                format!("gap: {bytes} bytes of output not recorded (the recorder was behind)")
            };
            let r = a.rec.marker(&label).and_then(|()| a.rec.output(&repaint));
            dirty.insert(id);
            check(open, parts, id, r);
        }
        Msg::Input {
            id,
            text,
            who,
            at,
            reply,
        } => {
            let Some(a) = open.get_mut(&id) else { return };
            a.rec.set_time(at);
            let t = a.rec.now();
            let r = a.rec.input(&text, &who);
            if r.is_ok() {
                let _ = reply.send(t);
            }
            dirty.insert(id);
            check(open, parts, id, r);
        }
        Msg::Exit { id, how, at, done } => {
            if let Some(mut a) = open.remove(&id) {
                a.rec.set_time(at);
                if let Err(e) = a.rec.exit(&how) {
                    tracing::warn!(session = a.session, error = %e, "recording stopped");
                }
                // Anything a leftover grandchild prints after the exit is not recorded.
                a.flags.stopped.store(true, Ordering::Release);
                parts.remove(&id);
            }
            dirty.remove(&id);
            drop(done);
        }
        Msg::Close { id } => {
            if let Some(mut a) = open.remove(&id) {
                let _ = a.rec.flush();
            }
            parts.remove(&id);
            dirty.remove(&id);
        }
        Msg::Flush { done } => {
            for (id, a) in open.iter_mut() {
                if let Err(e) = a.rec.sync() {
                    tracing::warn!(session = a.session, recording = id, error = %e, "cannot write the recording out");
                }
            }
            dirty.clear();
            drop(done);
        }
    }
}

/// On an error, logs it once and ends the recording (never the session).
fn check(
    open: &mut HashMap<u64, Active>,
    parts: &mut BTreeMap<u64, PathBuf>,
    id: u64,
    r: Result<(), RecordError>,
) {
    if let Err(e) = r {
        if let Some(a) = open.remove(&id) {
            tracing::warn!(session = a.session, error = %e, "recording stopped");
            a.flags.stopped.store(true, Ordering::Release);
        }
        parts.remove(&id);
    }
}

fn enforce(cfg: &Config, parts: &BTreeMap<u64, PathBuf>) {
    let open: Vec<PathBuf> = parts.values().cloned().collect();
    if let Err(e) = enforce_total(&cfg.root, cfg.total_bytes, &open) {
        tracing::warn!(error = %e, "cannot enforce the recordings' total cap");
    }
}
