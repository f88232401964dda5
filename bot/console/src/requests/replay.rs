//! `/replay [NAME]`: the session's recording (all its parts joined, as `walkie rec NAME
//! --out FILE` writes it) as one asciicast v2 document, which `asciinema play` reads; past
//! what the front end may upload ([`Frontend::max_file_bytes`]), where the parts are.
//!
//! The recording is read from the host's state directory on this machine, in
//! `spawn_blocking` (file I/O, up to tens of megabytes).

use std::path::{Path, PathBuf};

use walkie_host_proto::SessionName;
use walkie_recording::{cast_text, read_session, recordings_dir};

use super::shot::LocalTime;
use super::{Console, Document, Result, View};
use crate::front::{ChatId, Frontend};
use crate::host::Host;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
) -> Result<()> {
    let Some(name) = c.target(chat, name).await? else {
        return Ok(());
    };
    let Ok(valid) = SessionName::parse(&name) else {
        return c
            .say(chat, format!("{name:?} is not a session name."))
            .await;
    };
    let dir = recordings_dir(&c.cfg.state_dir()).join(valid.as_str());
    let limit = c.front.max_file_bytes();
    let read = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || read(&dir, limit)).await
    };
    let answer = match read {
        Ok(Read::File {
            bytes,
            events,
            seconds,
        }) => {
            let file = Document {
                file_name: format!("{name}-{}.cast", LocalTime::now().stamp()),
                caption: format!(
                    "📼 {name}: {} of recording, {events} events (asciicast v2: asciinema play FILE)",
                    duration(seconds)
                ),
                bytes,
            };
            let view = View::File {
                session: name.clone(),
                file,
            };
            return c.reply_for(chat, &name, view).await;
        }
        Ok(Read::TooLarge(size)) => format!(
            "The recording of {name} is {:.1} MB, over the {} MB a bot may send; it is in {} on this machine (`walkie rec {name} --out FILE.cast` joins it into one file).",
            size as f64 / 1e6,
            limit / (1024 * 1024),
            dir.display()
        ),
        Ok(Read::Missing) => format!(
            "No recording of {name} (it was started with recording off, or before recordings existed)."
        ),
        Ok(Read::Failed(why)) => format!("The recording of {name} cannot be read: {why}"),
        Err(e) => format!("The recording of {name} cannot be read: {e}"),
    };
    c.say(chat, answer).await
}

enum Read {
    File {
        bytes: Vec<u8>,
        events: usize,
        seconds: f64,
    },
    TooLarge(u64),
    Missing,
    Failed(String),
}

/// Blocking: the parts are measured first, so a huge recording is never read whole.
fn read(dir: &Path, limit: u64) -> Read {
    let parts: Vec<PathBuf> = walkie_recording::dir::parts(dir)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if parts.is_empty() {
        return Read::Missing;
    }
    let on_disk: u64 = parts
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if on_disk > limit {
        return Read::TooLarge(on_disk);
    }
    let cast = match read_session(dir) {
        Ok(c) => c,
        Err(walkie_recording::dir::ReadError::Missing(_)) => return Read::Missing,
        Err(e) => return Read::Failed(e.to_string()),
    };
    let text = match cast_text(&cast) {
        Ok(t) => t,
        Err(e) => return Read::Failed(e.to_string()),
    };
    // Joined, the times are rewritten: a little longer than the parts, rarely.
    if text.len() as u64 > limit {
        return Read::TooLarge(text.len() as u64);
    }
    Read::File {
        bytes: text.into_bytes(),
        events: cast.events.len(),
        seconds: cast.duration(),
    }
}

/// `42 s`, `12 min`, `3.5 h`.
fn duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}
