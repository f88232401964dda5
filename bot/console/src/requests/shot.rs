//! `/shot [NAME]`: the session's screen as a PNG, sent as a document (Telegram keeps a
//! document byte for byte; a photo it would recompress: docs/PERFORMANCE.md).
//!
//! The host answers a cell snapshot with secrets already masked; it is drawn here with
//! `walkie-screenshot` in `spawn_blocking` (a few to tens of milliseconds of CPU: never on
//! the runtime's workers), with one renderer per blocking thread so its glyph cache is
//! kept. [`shoot`] and [`draw`] are also what a front end's live picture (`/watch`) uses.

use std::cell::RefCell;

use walkie_host_proto::client::ClientError;
use walkie_host_proto::snapshot::Snapshot;
use walkie_screenshot::{RenderError, RenderOptions, Renderer, Title, PHONE_FONT_PX};

use super::{host_answer, Console, Document, Result, View};
use crate::front::{ChatId, Frontend};
use crate::host::Host;
use crate::session::LOCAL_HOST;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
) -> Result<()> {
    let Some(name) = c.target(chat, name).await? else {
        return Ok(());
    };
    match shoot(&*c.host, &name).await {
        Ok(file) => {
            let view = View::File {
                session: name.clone(),
                file,
            };
            c.reply_for(chat, &name, view).await
        }
        Err(e) => c.say(chat, e.answer(&name)).await,
    }
}

/// Why there is no picture.
#[derive(Debug, thiserror::Error)]
pub enum ShotError {
    #[error(transparent)]
    Host(#[from] ClientError),
    #[error("the screen could not be drawn: {0}")]
    Render(#[from] RenderError),
    #[error("the drawing task failed: {0}")]
    Task(String),
}

impl ShotError {
    /// A one-line answer for the chat.
    pub fn answer(&self, session: &str) -> String {
        match self {
            ShotError::Host(e) => host_answer(e, Some(session)),
            other => format!("No picture of {session}: {other}."),
        }
    }
}

/// The session's screen now, drawn.
pub async fn shoot<H: Host>(host: &H, session: &str) -> Result<Document, ShotError> {
    let snapshot = host.snapshot(session).await?;
    draw(snapshot, session).await
}

/// Draws `snapshot` of `session` as a PNG document named after the session and the time.
pub async fn draw(snapshot: Snapshot, session: &str) -> Result<Document, ShotError> {
    let now = LocalTime::now();
    let title = Title {
        session: session.to_string(),
        host: LOCAL_HOST.to_string(),
        time: now.title(),
    };
    let (cols, rows) = (snapshot.cols, snapshot.rows);
    let bytes = tokio::task::spawn_blocking(move || render(&snapshot, title))
        .await
        .map_err(|e| ShotError::Task(e.to_string()))??;
    Ok(Document {
        file_name: format!("{session}-{}.png", now.stamp()),
        caption: format!("🖼 {session} · {cols}x{rows} · {}", now.title()),
        bytes,
    })
}

thread_local! {
    /// One renderer per blocking thread: the font is parsed once and the glyph cache kept.
    static RENDERER: RefCell<Option<Renderer>> = const { RefCell::new(None) };
}

/// Blocking: CPU only.
fn render(snapshot: &Snapshot, title: Title) -> Result<Vec<u8>, RenderError> {
    RENDERER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let r = match slot.as_mut() {
            Some(r) => r,
            None => slot.insert(Renderer::new(PHONE_FONT_PX)?),
        };
        let options = RenderOptions {
            title,
            ..RenderOptions::default()
        };
        r.render_png(snapshot, &options)
    })
}

/// The local time, for a picture's title and a file's name.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalTime {
    year: i32,
    month: i32,
    day: i32,
    hour: i32,
    minute: i32,
}

impl LocalTime {
    pub(crate) fn now() -> LocalTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let now = libc::time_t::try_from(secs).unwrap_or(0);
        // SAFETY: localtime_r writes only into `tm`, which outlives the call.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
            return LocalTime::default();
        }
        LocalTime {
            year: tm.tm_year + 1900,
            month: tm.tm_mon + 1,
            day: tm.tm_mday,
            hour: tm.tm_hour,
            minute: tm.tm_min,
        }
    }

    /// `2026-12-01 15:52`
    pub(crate) fn title(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }

    /// `2026-12-01-1552`, for file names.
    pub(crate) fn stamp(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}-{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}
