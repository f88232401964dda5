//! The voice queue: local transcription of voice notes.
//!
//! The whisper model is loaded on the first voice note (verifying and loading it takes a
//! moment, and a bot that is only typed to never needs it).

use std::sync::Arc;

use tokio::sync::OnceCell;
use walkie_config::Config;
use walkie_transcription::{model, Input, Options, Queue, Settings, TranscribeError, Transcriber};

/// The transcription side of the bot.
pub struct Voice {
    cfg: Config,
    queue: OnceCell<Arc<Queue>>,
}

impl Voice {
    pub fn new(cfg: Config) -> Self {
        Voice {
            cfg,
            queue: OnceCell::new(),
        }
    }

    /// Loads the model on first use (a failed load is retried on the next note).
    async fn queue(&self) -> Result<Arc<Queue>, TranscribeError> {
        self.queue
            .get_or_try_init(|| async {
                let t = &self.cfg.transcription;
                let models = self.cfg.data_dir().join("models");
                let (path, _) = model::find_model(None, t.model.as_deref(), &models)?;
                let settings = Settings {
                    threads: usize::from(t.threads),
                    max_duration_s: t.max_duration_s,
                    beam_size: u32::from(t.beam_size),
                };
                let concurrency = usize::from(t.concurrency);
                tokio::task::spawn_blocking(move || {
                    let tr = Transcriber::load(&path, settings)?;
                    tracing::info!(model = %path.display(), load = ?tr.load_time(), "whisper model loaded");
                    Ok(Arc::new(Queue::new(Arc::new(tr), concurrency)))
                })
                .await
                .unwrap_or_else(|e| Err(TranscribeError::Whisper(format!("model loading panicked: {e}"))))
            })
            .await
            .cloned()
    }

    /// Transcribes an in-memory voice note; a note whose leading words name one of
    /// `vocabulary` (the session names) comes back as `name: rest`, matched after
    /// transcription so no prompt costs the short encoder window.
    pub async fn transcribe(
        &self,
        bytes: Vec<u8>,
        vocabulary: Vec<String>,
    ) -> Result<String, TranscribeError> {
        let queue = self.queue().await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let opts = Options {
            names: vocabulary,
            ..Options::default()
        };
        queue.submit_with(Input::Bytes(bytes), opts, move |r| {
            let _ = tx.send(r);
        });
        let t = rx.await.unwrap_or(Err(TranscribeError::QueueClosed))?;
        Ok(t.text.trim().to_string())
    }
}
