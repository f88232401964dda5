//! Whisper model files: the table of known models, verification before loading, and
//! where to find one.
//!
//! whisper.cpp loads some corrupt files without complaint (a valid header with junk after it)
//! and then aborts the whole process during inference. So no file reaches whisper.cpp before
//! [`verify`] has passed it: a known file must match a published checksum; any other file
//! must have a sane ggml header and a tensor table that accounts for every byte of the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use sha1::Digest as _;

use crate::error::{Result, TranscribeError};

/// A checksum a model file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-1 as published in whisper.cpp's `models/README.md` for the files on its model host.
    Sha1(&'static str),
    /// SHA-256, for files we checked ourselves.
    Sha256(&'static str),
}

/// A model walkie knows by name.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    /// Short name (`tiny.en`); the file is `ggml-<name>.bin`.
    pub name: &'static str,
    /// Approximate size, for messages.
    pub size_mib: u32,
    /// Any one of these matching means the file is good.
    pub checksums: &'static [Checksum],
}

impl KnownModel {
    pub fn file_name(&self) -> String {
        format!("ggml-{}.bin", self.name)
    }
}

use Checksum::{Sha1, Sha256};

/// Models walkie can download and verify. SHA-1 sums: whisper.cpp's models/README.md and its
/// model host's model card. SHA-256 sums: the tiny.en conversions in the project's shared
/// test data (same format and size as the published files, not byte-identical).
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "tiny",
        size_mib: 75,
        checksums: &[Sha1("bd577a113a864445d4c299885e0cb97d4ba92b5f")],
    },
    KnownModel {
        name: "tiny-q5_1",
        size_mib: 31,
        checksums: &[Sha1("2827a03e495b1ed3048ef28a6a4620537db4ee51")],
    },
    KnownModel {
        name: "tiny-q8_0",
        size_mib: 42,
        checksums: &[Sha1("19e8118f6652a650569f5a949d962154e01571d9")],
    },
    KnownModel {
        name: "tiny.en",
        size_mib: 75,
        checksums: &[
            Sha1("c78c86eb1a8faa21b369bcd33207cc90d64ae9df"),
            Sha256("5cca2e9b6791dff29da5435eb6df415228cd7997359e8863ff55b2de147f4baf"),
        ],
    },
    KnownModel {
        name: "tiny.en-q5_1",
        size_mib: 31,
        checksums: &[Sha1("3fb92ec865cbbc769f08137f22470d6b66e071b6")],
    },
    KnownModel {
        name: "tiny.en-q8_0",
        size_mib: 42,
        checksums: &[
            Sha1("802d6668e7d411123e672abe4cb6c18f12306abb"),
            Sha256("61e9a0e72b4561f999906d79ed8f98e1e724c86130bb429a4f9fd9cb562d0b78"),
        ],
    },
    KnownModel {
        name: "base",
        size_mib: 142,
        checksums: &[Sha1("465707469ff3a37a2b9b8d8f89f2f99de7299dac")],
    },
    KnownModel {
        name: "base-q5_1",
        size_mib: 57,
        checksums: &[Sha1("a3733eda680ef76256db5fc5dd9de8629e62c5e7")],
    },
    KnownModel {
        name: "base-q8_0",
        size_mib: 78,
        checksums: &[Sha1("7bb89bb49ed6955013b166f1b6a6c04584a20fbe")],
    },
    KnownModel {
        name: "base.en",
        size_mib: 142,
        checksums: &[Sha1("137c40403d78fd54d454da0f9bd998f78703390c")],
    },
    KnownModel {
        name: "base.en-q5_1",
        size_mib: 57,
        checksums: &[Sha1("d26d7ce5a1b6e57bea5d0431b9c20ae49423c94a")],
    },
    KnownModel {
        name: "base.en-q8_0",
        size_mib: 78,
        checksums: &[Sha1("bb1574182e9b924452bf0cd1510ac034d323e948")],
    },
    KnownModel {
        name: "small",
        size_mib: 466,
        checksums: &[Sha1("55356645c2b361a969dfd0ef2c5a50d530afd8d5")],
    },
    KnownModel {
        name: "small-q5_1",
        size_mib: 181,
        checksums: &[Sha1("6fe57ddcfdd1c6b07cdcc73aaf620810ce5fc771")],
    },
    KnownModel {
        name: "small-q8_0",
        size_mib: 252,
        checksums: &[Sha1("bcad8a2083f4e53d648d586b7dbc0cd673d8afad")],
    },
    KnownModel {
        name: "small.en",
        size_mib: 466,
        checksums: &[Sha1("db8a495a91d927739e50b3fc1cc4c6b8f6c2d022")],
    },
    KnownModel {
        name: "small.en-q5_1",
        size_mib: 181,
        checksums: &[Sha1("20f54878d608f94e4a8ee3ae56016571d47cba34")],
    },
    KnownModel {
        name: "small.en-q8_0",
        size_mib: 252,
        checksums: &[Sha1("9d75ff4ccfa0a8217870d7405cf8cef0a5579852")],
    },
    KnownModel {
        name: "medium",
        size_mib: 1533,
        checksums: &[Sha1("fd9727b6e1217c2f614f9b698455c4ffd82463b4")],
    },
    KnownModel {
        name: "medium-q5_0",
        size_mib: 514,
        checksums: &[Sha1("7718d4c1ec62ca96998f058114db98236937490e")],
    },
    KnownModel {
        name: "medium-q8_0",
        size_mib: 785,
        checksums: &[Sha1("e66645948aff4bebbec71b3485c576f3d63af5d6")],
    },
    KnownModel {
        name: "medium.en",
        size_mib: 1533,
        checksums: &[Sha1("8c30f0e44ce9560643ebd10bbe50cd20eafd3723")],
    },
    KnownModel {
        name: "medium.en-q5_0",
        size_mib: 514,
        checksums: &[Sha1("bb3b5281bddd61605d6fc76bc5b92d8f20284c3b")],
    },
    KnownModel {
        name: "medium.en-q8_0",
        size_mib: 785,
        checksums: &[Sha1("b1cf48c12c807e14881f634fb7b6c6ca867f6b38")],
    },
    KnownModel {
        name: "large-v3-turbo",
        size_mib: 1536,
        checksums: &[Sha1("4af2b29d7ec73d781377bfd1758ca957a807e941")],
    },
    KnownModel {
        name: "large-v3-turbo-q5_0",
        size_mib: 547,
        checksums: &[Sha1("e050f7970618a659205450ad97eb95a18d69c9ee")],
    },
    KnownModel {
        name: "large-v3-turbo-q8_0",
        size_mib: 834,
        checksums: &[Sha1("01bf15bedffe9f39d65c1b6ff9b687ea91f59e0e")],
    },
];

/// The known model with this short name (`tiny.en`) or file name (`ggml-tiny.en.bin`).
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    let short = name
        .strip_prefix("ggml-")
        .and_then(|n| n.strip_suffix(".bin"))
        .unwrap_or(name);
    KNOWN_MODELS.iter().find(|m| m.name == short)
}

/// Both digests of a file, computed in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub sha1: String,
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Streaming hasher for both digests (used by the download too).
#[derive(Default)]
pub struct Hasher {
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.sha1.update(data);
        self.sha256.update(data);
    }
    pub fn finish(self) -> Digests {
        Digests {
            sha1: hex(&self.sha1.finalize()),
            sha256: hex(&self.sha256.finalize()),
        }
    }
}

impl Digests {
    /// Whether these digests match one of `model`'s checksums.
    pub fn matches(&self, model: &KnownModel) -> bool {
        model.checksums.iter().any(|c| match c {
            Sha1(h) => self.sha1 == *h,
            Sha256(h) => self.sha256 == *h,
        })
    }
}

/// Hashes a file.
pub fn digest_file(path: &Path) -> std::io::Result<Digests> {
    let mut f = File::open(path)?;
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// What [`verify`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The file matches the published checksum of this known model.
    Checksum(&'static str),
    /// Unknown file (or a known name with other bytes): header and tensor table are sound.
    Structure,
}

/// The ggml hyper-parameters at the start of a whisper model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

/// A file's identity for the verification cache: path, length, modification time.
type FileKey = (PathBuf, u64, Option<SystemTime>);

/// Verified files, so a process checks each file once.
fn cache() -> &'static Mutex<HashMap<FileKey, Verified>> {
    static C: OnceLock<Mutex<HashMap<FileKey, Verified>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// Checks a model file before it may be loaded: a known file name must carry one of its
/// published checksums, or else (and for any other name) the ggml structure must be sound.
/// Results are cached per process by path, size and modification time.
pub fn verify(path: &Path) -> Result<Verified> {
    let io = |source| TranscribeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TranscribeError::ModelMissing {
                looked: format!("{} does not exist", path.display()),
            })
        }
        Err(e) => return Err(io(e)),
    };
    if !meta.is_file() {
        return Err(corrupt(path, "not a regular file"));
    }
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(v) = cache()
        .lock()
        .map_err(|_| corrupt(path, "verification cache poisoned"))?
        .get(&key)
    {
        return Ok(v.clone());
    }
    // The structure check is cheap (it seeks over the tensor data), so it always runs: a file
    // that fails it is corrupt whatever its name.
    check_structure(path, meta.len())?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let verified = match known_model(file_name) {
        Some(model) => {
            let digests = digest_file(path).map_err(io)?;
            if digests.matches(model) {
                Verified::Checksum(model.name)
            } else {
                tracing::warn!(
                    path = %path.display(),
                    sha1 = %digests.sha1,
                    "model file does not match the published checksum of {}; its structure is sound, so it is used",
                    model.name
                );
                Verified::Structure
            }
        }
        None => Verified::Structure,
    };
    if let Ok(mut c) = cache().lock() {
        c.insert(key, verified.clone());
    }
    Ok(verified)
}

fn corrupt(path: &Path, reason: impl Into<String>) -> TranscribeError {
    TranscribeError::ModelCorrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Bytes per block and elements per block of the ggml tensor types whisper files use.
fn ggml_type_size(t: i32) -> Option<(u64, u64)> {
    Some(match t {
        0 => (4, 1),      // f32
        1 => (2, 1),      // f16
        2 => (18, 32),    // q4_0
        3 => (20, 32),    // q4_1
        6 => (22, 32),    // q5_0
        7 => (24, 32),    // q5_1
        8 => (34, 32),    // q8_0
        10 => (84, 256),  // q2_K
        11 => (110, 256), // q3_K
        12 => (144, 256), // q4_K
        13 => (176, 256), // q5_K
        14 => (210, 256), // q6_K
        30 => (2, 1),     // bf16
        _ => return None,
    })
}

/// Reads the header and walks the tensor table of a legacy ggml whisper file (the format
/// whisper.cpp's `whisper_model_load` reads), checking every count against sane bounds and
/// that the tensors end exactly at the end of the file.
pub fn check_structure(path: &Path, file_len: u64) -> Result<Hparams> {
    let f = File::open(path).map_err(|source| TranscribeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut r = BufReader::with_capacity(1 << 16, f);
    let bad = |reason: String| corrupt(path, reason);
    let eof = |what: &str| {
        corrupt(
            path,
            format!("the file ends inside the {what} (truncated download?)"),
        )
    };

    fn read_i32<R: Read>(r: &mut R) -> std::io::Result<i32> {
        let mut b = [0u8; 4];
        r.read_exact(&mut b)?;
        Ok(i32::from_le_bytes(b))
    }

    let magic = read_i32(&mut r).map_err(|_| eof("header"))? as u32;
    if magic != 0x6767_6d6c {
        let hint = if magic == 0x4655_4747 {
            " (this is a GGUF file; whisper.cpp needs the ggml whisper format)"
        } else {
            ""
        };
        return Err(bad(format!(
            "not a ggml whisper model: bad magic {magic:#010x}{hint}"
        )));
    }
    let mut hp = [0i32; 11];
    for v in hp.iter_mut() {
        *v = read_i32(&mut r).map_err(|_| eof("header"))?;
    }
    let h = Hparams {
        n_vocab: hp[0],
        n_audio_ctx: hp[1],
        n_audio_state: hp[2],
        n_audio_head: hp[3],
        n_audio_layer: hp[4],
        n_text_ctx: hp[5],
        n_text_state: hp[6],
        n_text_head: hp[7],
        n_text_layer: hp[8],
        n_mels: hp[9],
        ftype: hp[10],
    };
    let in_range = |v: i32, lo: i32, hi: i32| v >= lo && v <= hi;
    if !(in_range(h.n_vocab, 1000, 60_000)
        && in_range(h.n_audio_ctx, 1, 1500)
        && in_range(h.n_audio_state, 64, 4096)
        && in_range(h.n_audio_head, 1, 64)
        && in_range(h.n_audio_layer, 1, 64)
        && in_range(h.n_text_ctx, 1, 448)
        && in_range(h.n_text_state, 64, 4096)
        && in_range(h.n_text_head, 1, 64)
        && in_range(h.n_text_layer, 1, 64)
        && in_range(h.n_mels, 64, 256)
        && in_range(h.ftype % 1000, 0, 40))
    {
        return Err(bad(format!("implausible hyper-parameters {h:?}")));
    }
    // Mel filters: n_mel, n_fft, then n_mel * n_fft floats.
    let n_mel = read_i32(&mut r).map_err(|_| eof("mel filters"))?;
    let n_fft = read_i32(&mut r).map_err(|_| eof("mel filters"))?;
    if !in_range(n_mel, 1, 256) || !in_range(n_fft, 1, 1024) {
        return Err(bad(format!("implausible mel filter size {n_mel}x{n_fft}")));
    }
    r.seek_relative(n_mel as i64 * n_fft as i64 * 4)
        .map_err(|_| eof("mel filters"))?;
    // Vocabulary: count, then (u32 length, bytes) per token.
    let n_vocab = read_i32(&mut r).map_err(|_| eof("vocabulary"))?;
    if !in_range(n_vocab, 1, 60_000) {
        return Err(bad(format!("implausible vocabulary size {n_vocab}")));
    }
    for _ in 0..n_vocab {
        let len = read_i32(&mut r).map_err(|_| eof("vocabulary"))?;
        if !in_range(len, 0, 256) {
            return Err(bad(format!("implausible token length {len}")));
        }
        r.seek_relative(len as i64).map_err(|_| eof("vocabulary"))?;
    }
    // Tensors: n_dims, name length, type, dims, name, data; until the end of the file.
    let mut pos = r.stream_position().map_err(|_| eof("vocabulary"))?;
    let mut tensors = 0u32;
    while pos < file_len {
        let mut head = [0i32; 3];
        for v in head.iter_mut() {
            *v = read_i32(&mut r).map_err(|_| eof("tensor table"))?;
        }
        let [n_dims, name_len, ttype] = head;
        if !in_range(n_dims, 1, 4) || !in_range(name_len, 1, 255) {
            return Err(bad(format!(
                "tensor {tensors}: bad header (dims {n_dims}, name length {name_len}); the file is damaged after byte {pos}"
            )));
        }
        let (block_bytes, block_elems) = ggml_type_size(ttype)
            .ok_or_else(|| bad(format!("tensor {tensors}: unknown tensor type {ttype}")))?;
        let mut elems: u64 = 1;
        let mut ne0 = 0;
        for d in 0..n_dims {
            let n = read_i32(&mut r).map_err(|_| eof("tensor table"))?;
            if !in_range(n, 1, 1 << 20) {
                return Err(bad(format!("tensor {tensors}: implausible dimension {n}")));
            }
            if d == 0 {
                ne0 = n as u64;
            }
            elems = elems.saturating_mul(n as u64);
        }
        if ne0 % block_elems != 0 {
            return Err(bad(format!(
                "tensor {tensors}: row length {ne0} is not a multiple of its block size"
            )));
        }
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name).map_err(|_| eof("tensor table"))?;
        if !name.iter().all(|b| b.is_ascii_graphic()) {
            return Err(bad(format!(
                "tensor {tensors}: the name is not text; the file is damaged after byte {pos}"
            )));
        }
        let data = elems / block_elems * block_bytes;
        let data_start = r.stream_position().map_err(|_| eof("tensor table"))?;
        if data_start + data > file_len {
            return Err(eof(&format!("tensor {}", String::from_utf8_lossy(&name))));
        }
        r.seek_relative(data as i64)
            .map_err(|_| eof("tensor data"))?;
        pos = data_start + data;
        tensors += 1;
    }
    // whisper has at least: 5 encoder stem tensors, 3 decoder stem tensors, layer norms.
    if tensors < 10 {
        return Err(bad(format!("only {tensors} tensors")));
    }
    Ok(h)
}

/// Where a model was found, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Flag,
    Config,
    DataDir,
}

/// Resolves the model path. Order: `explicit` (`--model`), then `configured`
/// (`WALKIE_MODEL`, else the config file's `transcription.model`, merged by walkie-config),
/// then the newest `*.bin` in `models_dir` (`<data_dir>/models`).
pub fn find_model(
    explicit: Option<&Path>,
    configured: Option<&Path>,
    models_dir: &Path,
) -> Result<(PathBuf, ModelSource)> {
    if let Some(p) = explicit {
        return if p.exists() {
            Ok((p.to_path_buf(), ModelSource::Flag))
        } else {
            Err(TranscribeError::ModelMissing {
                looked: format!("--model {} does not exist", p.display()),
            })
        };
    }
    if let Some(p) = configured {
        return if p.exists() {
            Ok((p.to_path_buf(), ModelSource::Config))
        } else {
            Err(TranscribeError::ModelMissing {
                looked: format!(
                    "the configured model {} (WALKIE_MODEL or transcription.model) does not exist",
                    p.display()
                ),
            })
        };
    }
    match installed_models(models_dir).into_iter().next() {
        Some(m) => Ok((m.path, ModelSource::DataDir)),
        None => Err(TranscribeError::ModelMissing {
            looked: format!(
                "no --model, no WALKIE_MODEL, no transcription.model in the config, and no *.bin in {}",
                models_dir.display()
            ),
        }),
    }
}

/// A model file in the models directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub path: PathBuf,
    pub bytes: u64,
    pub modified: Option<SystemTime>,
    /// The known model of this file name, if any.
    pub known: Option<&'static str>,
}

/// `*.bin` files in `dir` (temp files of downloads in progress are hidden), newest first.
pub fn installed_models(dir: &Path) -> Vec<Installed> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".bin") {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(Installed {
            known: known_model(&name).map(|m| m.name),
            path,
            bytes: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    out.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.path.cmp(&b.path)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names() {
        assert_eq!(known_model("tiny.en").unwrap().name, "tiny.en");
        assert_eq!(known_model("ggml-base.en.bin").unwrap().name, "base.en");
        assert!(known_model("huge").is_none());
    }

    #[test]
    fn junk_files_are_corrupt_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(
            verify(&p),
            Err(TranscribeError::ModelCorrupt { .. })
        ));
        std::fs::write(&p, b"lmgg\x01\x02").unwrap();
        assert!(matches!(
            verify(&p),
            Err(TranscribeError::ModelCorrupt { .. })
        ));
        std::fs::write(&p, vec![7u8; 10_000]).unwrap();
        assert!(matches!(
            verify(&p),
            Err(TranscribeError::ModelCorrupt { .. })
        ));
        assert!(matches!(
            verify(&dir.path().join("absent.bin")),
            Err(TranscribeError::ModelMissing { .. })
        ));
    }

    #[test]
    fn find_model_order() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        assert!(matches!(
            find_model(None, None, &models),
            Err(TranscribeError::ModelMissing { .. })
        ));
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join("ggml-tiny.en.bin"), b"x").unwrap();
        std::fs::write(models.join(".download-x.part"), b"x").unwrap();
        let (p, src) = find_model(None, None, &models).unwrap();
        assert_eq!(
            (p, src),
            (models.join("ggml-tiny.en.bin"), ModelSource::DataDir)
        );
        let other = dir.path().join("other.bin");
        assert!(find_model(None, Some(&other), &models).is_err());
        std::fs::write(&other, b"x").unwrap();
        assert_eq!(
            find_model(None, Some(&other), &models).unwrap().1,
            ModelSource::Config
        );
        assert_eq!(
            find_model(Some(&other), None, &models).unwrap().1,
            ModelSource::Flag
        );
    }
}
