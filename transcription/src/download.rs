//! `walkie model download`: fetch a known ggml model, verify its checksum, and only then
//! move it into place. The bytes go to a hidden temp file in the models directory, which
//! is deleted on any failure, so an interrupted or corrupted download never leaves a file
//! under the model's name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::{known_model, Digests, Hasher, KnownModel, KNOWN_MODELS};

/// whisper.cpp's model host (the files its `download-ggml-model.sh` fetches).
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/// The model `walkie model download` fetches without a name.
pub const DEFAULT_MODEL: &str = "base.en";

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("unknown model {name:?}; known models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("{url}: HTTP {status}")]
    Http { url: String, status: u16 },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: the download stopped after {got} of {expected} bytes; nothing was installed")]
    Incomplete {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error("the downloaded {name} does not match its published checksum (got sha1 {sha1}); nothing was installed")]
    ChecksumMismatch {
        name: String,
        sha1: String,
        sha256: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a finished download did.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub path: PathBuf,
    pub bytes: u64,
    pub digests: Digests,
    /// The file was already there with the right checksum; nothing was fetched.
    pub already_present: bool,
}

/// Downloads `name` (`tiny.en`, `base.en`, ...) from `base_url` into `models_dir`.
/// `progress(done, total)` is called as bytes arrive.
pub fn download(
    name: &str,
    base_url: &str,
    models_dir: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Downloaded, DownloadError> {
    let model: &KnownModel = known_model(name).ok_or_else(|| DownloadError::UnknownModel {
        name: name.to_string(),
        known: KNOWN_MODELS
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DownloadError::Io { path, source }
    };
    std::fs::create_dir_all(models_dir).map_err(io(models_dir))?;
    remove_stale_parts(models_dir);
    let dest = models_dir.join(model.file_name());
    if dest.is_file() {
        if let Ok(d) = crate::model::digest_file(&dest) {
            if d.matches(model) {
                let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
                return Ok(Downloaded {
                    path: dest,
                    bytes,
                    digests: d,
                    already_present: true,
                });
            }
        }
    }

    let url = format!("{}/{}", base_url.trim_end_matches('/'), model.file_name());
    let net = |e: reqwest::Error| DownloadError::Network {
        url: url.clone(),
        message: error_chain(&e),
    };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        // In the blocking client this bounds each read, not the whole download: a stalled
        // connection fails after a minute, a slow one keeps going.
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("walkie/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(net)?;
    let mut resp = client.get(&url).send().map_err(net)?;
    if !resp.status().is_success() {
        return Err(DownloadError::Http {
            url,
            status: resp.status().as_u16(),
        });
    }
    let total = resp.content_length();
    let mut tmp = tempfile::Builder::new()
        .prefix(".download-")
        .suffix(".part")
        .tempfile_in(models_dir)
        .map_err(io(models_dir))?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got: u64 = 0;
    progress(0, total);
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match total {
                    Some(expected) => DownloadError::Incomplete { url, got, expected },
                    None => DownloadError::Network {
                        url,
                        message: e.to_string(),
                    },
                })
            }
        };
        tmp.write_all(&buf[..n]).map_err(io(tmp.path()))?;
        hasher.update(&buf[..n]);
        got += n as u64;
        progress(got, total);
    }
    if let Some(expected) = total {
        if got != expected {
            return Err(DownloadError::Incomplete { url, got, expected });
        }
    }
    let digests = hasher.finish();
    if !digests.matches(model) {
        return Err(DownloadError::ChecksumMismatch {
            name: model.name.to_string(),
            sha1: digests.sha1,
            sha256: digests.sha256,
        });
    }
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    tmp.persist(&dest).map_err(|e| DownloadError::Io {
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(Downloaded {
        path: dest,
        bytes: got,
        digests,
        already_present: false,
    })
}

/// Removes temp files of downloads that were killed (Ctrl-C, SIGKILL: no destructor ran).
/// A download in progress writes its file continuously, so only files untouched for 10
/// minutes are removed.
fn remove_stale_parts(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(".download-") && name.ends_with(".part")) {
            continue;
        }
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        if stale {
            tracing::info!(file = %e.path().display(), "removing the temp file of an interrupted download");
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
