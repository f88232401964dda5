//! A job queue in front of one warm [`Transcriber`]: `concurrency` worker threads (1 by
//! default: whisper competes with the agents for the CPU) take jobs in order.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Result, TranscribeError};
use crate::transcriber::{Options, Transcriber, Transcript};

/// What to transcribe.
#[derive(Debug, Clone)]
pub enum Input {
    File(PathBuf),
    Bytes(Vec<u8>),
}

type Reply = Box<dyn FnOnce(Result<Transcript>) + Send>;

struct Job {
    input: Input,
    opts: Options,
    reply: Reply,
}

/// The queue. Dropping it lets queued jobs finish, then joins the workers.
pub struct Queue {
    tx: Option<mpsc::Sender<Job>>,
    waiting: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<()>>,
    transcriber: Arc<Transcriber>,
}

/// A submitted job's result, to wait for.
pub struct Ticket {
    rx: mpsc::Receiver<Result<Transcript>>,
    /// Jobs ahead of this one when it was submitted (0: it starts at once if a worker is free).
    pub ahead: usize,
}

impl Ticket {
    /// Blocks until the job is done.
    pub fn wait(self) -> Result<Transcript> {
        self.rx.recv().unwrap_or(Err(TranscribeError::QueueClosed))
    }

    /// Waits at most `d`; `None` if the job is not done yet.
    pub fn wait_timeout(&self, d: Duration) -> Option<Result<Transcript>> {
        match self.rx.recv_timeout(d) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(TranscribeError::QueueClosed)),
        }
    }
}

impl Queue {
    /// Starts `concurrency` (at least 1) worker threads sharing `transcriber`.
    pub fn new(transcriber: Arc<Transcriber>, concurrency: usize) -> Queue {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let waiting = Arc::new(AtomicUsize::new(0));
        let workers = (0..concurrency.max(1))
            .map(|i| {
                let rx = Arc::clone(&rx);
                let t = Arc::clone(&transcriber);
                let waiting = Arc::clone(&waiting);
                std::thread::Builder::new()
                    .name(format!("transcribe-{i}"))
                    .spawn(move || worker(&t, &rx, &waiting))
                    .expect("spawning a transcription worker thread")
            })
            .collect();
        Queue {
            tx: Some(tx),
            waiting,
            workers,
            transcriber,
        }
    }

    pub fn transcriber(&self) -> &Arc<Transcriber> {
        &self.transcriber
    }

    /// Jobs queued and not started yet.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Queues a job; `reply` is called on a worker thread with the result (for async
    /// callers: send it through a oneshot channel). Returns the number of jobs ahead.
    pub fn submit_with(
        &self,
        input: Input,
        opts: Options,
        reply: impl FnOnce(Result<Transcript>) + Send + 'static,
    ) -> usize {
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let job = Job {
            input,
            opts,
            reply: Box::new(reply),
        };
        let sent = match &self.tx {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        };
        if let Err(job) = sent {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            (job.reply)(Err(TranscribeError::QueueClosed));
        }
        ahead
    }

    /// Queues a job and returns a ticket to wait on.
    pub fn submit(&self, input: Input, opts: Options) -> Ticket {
        let (tx, rx) = mpsc::channel();
        let ahead = self.submit_with(input, opts, move |r| {
            let _ = tx.send(r);
        });
        Ticket { rx, ahead }
    }
}

fn worker(t: &Transcriber, rx: &Mutex<mpsc::Receiver<Job>>, waiting: &AtomicUsize) {
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return, // queue dropped
            }
        };
        waiting.fetch_sub(1, Ordering::SeqCst);
        // A panic in one job (a bug) must not take the worker, or the bot, down.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| match &job.input {
            Input::File(p) => t.transcribe_file(p, &job.opts),
            Input::Bytes(b) => t.transcribe_bytes(b, &job.opts),
        }))
        .unwrap_or_else(|_| {
            Err(TranscribeError::Whisper(
                "internal error (panic) in the transcription job".into(),
            ))
        });
        (job.reply)(result);
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.tx = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
