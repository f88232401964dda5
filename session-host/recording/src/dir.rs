//! The recordings folder: one folder per session, numbered parts, a total cap over all
//! sessions (oldest parts first), and exporting a session's parts as one file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::cast::{Cast, Code, Event, ParseError};

const EXT: &str = "cast";

/// The file of part `n` of a session's folder.
pub(crate) fn part_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:06}.{EXT}"))
}

/// The session's parts, oldest first.
pub fn parts(dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut list: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let p = e.path();
            if p.extension()? != EXT {
                return None;
            }
            let n = p.file_stem()?.to_str()?.parse().ok()?;
            Some((n, p))
        })
        .collect();
    list.sort();
    list
}

/// Deletes the oldest parts of all sessions under `root` until they use at most `total`
/// bytes; the files in `open` (parts being written) are never deleted. Returns the bytes
/// in use afterwards.
pub fn enforce_total(root: &Path, total: u64, open: &[PathBuf]) -> io::Result<u64> {
    let mut all = Vec::new();
    for session in fs::read_dir(root)? {
        let session = session?.path();
        if !session.is_dir() {
            continue;
        }
        for (_, p) in parts(&session) {
            let meta = fs::metadata(&p)?;
            let mtime = meta.modified()?;
            all.push((mtime, p, meta.len()));
        }
    }
    all.sort();
    let mut used: u64 = all.iter().map(|(_, _, s)| s).sum();
    for (_, path, size) in all {
        if used <= total {
            break;
        }
        if open.contains(&path) {
            continue;
        }
        fs::remove_file(&path)?;
        used = used.saturating_sub(size);
    }
    Ok(used)
}

/// Reading a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no recording in {0}")]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
}

/// All of a session's parts stitched into one recording: times run on across parts
/// (each part's times continue from the previous part's last event), and a part whose
/// size differs from the running one starts with a resize event.
pub fn read_session(dir: &Path) -> Result<Cast, ReadError> {
    let list = parts(dir);
    if list.is_empty() {
        return Err(ReadError::Missing(dir.to_path_buf()));
    }
    let mut out: Option<Cast> = None;
    let mut offset = 0.0;
    let mut size = (0u16, 0u16);
    for (_, path) in list {
        let text = fs::read_to_string(&path).map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?;
        let cast = Cast::parse(&text).map_err(|source| ReadError::Parse {
            path: path.clone(),
            source,
        })?;
        let part_size = (cast.header.width, cast.header.height);
        let stitched = out.get_or_insert_with(|| {
            size = part_size;
            Cast {
                header: cast.header.clone(),
                events: Vec::new(),
            }
        });
        if part_size != size {
            stitched.events.push(Event {
                time: offset,
                code: Code::Resize,
                data: format!("{}x{}", part_size.0, part_size.1),
            });
        }
        let mut last = offset;
        for mut e in cast.events {
            if let Some(s) = e.size() {
                size = s;
            }
            // Never backwards, whatever the file says.
            e.time = (offset + e.time).max(last);
            last = e.time;
            stitched.events.push(e);
        }
        offset = last;
        size = if size == (0, 0) { part_size } else { size };
    }
    out.ok_or_else(|| ReadError::Missing(dir.to_path_buf()))
}

/// The folder of all recordings under a host's state directory; a session's parts are in
/// its subfolder named after the session.
pub fn recordings_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("recordings")
}

/// `cast` as the text of one asciicast v2 file (header line, then one event a line).
pub fn cast_text(cast: &Cast) -> io::Result<String> {
    let mut text = serde_json::to_string(&cast.header).map_err(io::Error::other)?;
    text.push('\n');
    for e in &cast.events {
        text.push_str(&e.to_line());
        text.push('\n');
    }
    Ok(text)
}

/// Writes `cast` as one asciicast v2 file.
pub fn write_cast(cast: &Cast, out: &Path) -> io::Result<()> {
    fs::write(out, cast_text(cast)?)
}
