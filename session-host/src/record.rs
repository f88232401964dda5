//! Recording sessions: every session's output in asciicast v2 under
//! `<state_dir>/recordings/<session>/`, written by walkie-recording's [`Recorder`] from the
//! session's pump task, on the PTY pool (file I/O never runs on the host's runtime, which
//! serves the socket; buffered writes to a local file, as the emulator thread did before).
//!
//! A recording error (disk full) is logged once and ends that recording; the session goes
//! on. The values of the secret environment variables the host strips from sessions (read
//! from the host's own environment at start) and the configured secrets are masked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use walkie_recording::{enforce_total, Limits, RecordError, Recorder, Redactor, Start};

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

/// What all recordings of a host share.
#[derive(Debug)]
pub(crate) struct Recordings {
    root: PathBuf,
    limits: Limits,
    total_bytes: u64,
    secrets: Vec<String>,
    /// The part each recording writes now: never deleted by the total cap.
    open: Mutex<BTreeMap<String, PathBuf>>,
}

/// The folder of all recordings under a host's state directory (defined by the recording
/// crate, so the bot's `/replay` finds it without depending on the host).
pub use walkie_recording::recordings_dir;

impl Recordings {
    /// `None` when recording is off. `secrets`: the values to mask (read once at start,
    /// see [`crate::server::run`]).
    pub fn new(
        opts: &RecordingOptions,
        state_dir: &Path,
        secrets: Vec<String>,
    ) -> Option<Arc<Recordings>> {
        if !opts.enabled {
            return None;
        }
        Some(Arc::new(Recordings {
            root: recordings_dir(state_dir),
            limits: opts.limits,
            total_bytes: opts.total_bytes,
            secrets,
            open: Mutex::new(BTreeMap::new()),
        }))
    }

    fn open(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PathBuf>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enforce_total(&self) {
        let open: Vec<PathBuf> = self.open().values().cloned().collect();
        if let Err(e) = enforce_total(&self.root, self.total_bytes, &open) {
            tracing::warn!(error = %e, "cannot enforce the recordings' total cap");
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

/// One session's recording, owned by its pump task.
pub(crate) struct Recording {
    shared: Arc<Recordings>,
    session: String,
    rec: Recorder,
    size: (u16, u16),
}

impl Recording {
    /// Starts (or continues) the recording of `session`; `None`, logged, when it cannot.
    pub fn start(
        shared: Arc<Recordings>,
        session: &str,
        mut start: Start,
        begin: Begin,
    ) -> Option<Recording> {
        let dir = shared.root.join(session);
        start.command = start
            .command
            .map(|c| Redactor::new(&shared.secrets).mask_str(&c));
        let size = (start.cols, start.rows);
        let made = match begin {
            Begin::New => Recorder::create(&dir, start, &shared.secrets, shared.limits),
            Begin::Resume => Recorder::resume(
                &dir,
                start,
                &shared.secrets,
                shared.limits,
                "revived: the session was started again",
            ),
        };
        let rec = match made {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(session, error = %e, "cannot record the session");
                return None;
            }
        };
        shared
            .open()
            .insert(session.to_string(), rec.current_part());
        shared.enforce_total();
        Some(Recording {
            shared,
            session: session.to_string(),
            rec,
            size,
        })
    }

    /// Output as the PTY produced it, with the terminal's size now; `repaint` gives the
    /// current screen for the next part when this one is full.
    pub fn output(
        &mut self,
        bytes: &[u8],
        size: (u16, u16),
        repaint: impl FnOnce() -> Vec<u8>,
    ) -> Result<(), RecordError> {
        if size != self.size {
            self.size = size;
            self.rec.resize(size.0, size.1)?;
        }
        self.rec.output(bytes)?;
        if self.rec.needs_rotation() {
            self.rec.rotate(&repaint())?;
            self.shared
                .open()
                .insert(self.session.clone(), self.rec.current_part());
            self.shared.enforce_total();
        }
        Ok(())
    }

    /// What walkie typed and who sent it; answers the recording time of the input.
    pub fn input(&mut self, text: &str, who: &str) -> Result<f64, RecordError> {
        let at = self.rec.now();
        self.rec.input(text, &format!("input from {who}"))?;
        Ok(at)
    }

    pub fn sync(&mut self) -> Result<(), RecordError> {
        self.rec.sync()
    }

    pub fn exit(&mut self, how: &str) -> Result<(), RecordError> {
        self.rec.exit(how)
    }

    pub fn session(&self) -> &str {
        &self.session
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = self.rec.flush();
        self.shared.open().remove(&self.session);
    }
}

/// Runs `f` on the recording; on an error, logs it once and ends the recording (never the
/// session).
pub(crate) fn step<T>(
    rec: &mut Option<Recording>,
    f: impl FnOnce(&mut Recording) -> Result<T, RecordError>,
) -> Option<T> {
    let r = rec.as_mut()?;
    match f(r) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(session = r.session(), error = %e, "recording stopped");
            *rec = None;
            None
        }
    }
}
