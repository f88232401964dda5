//! Host keys: fingerprints, checking against known_hosts files, the host-key algorithm
//! order, and trusting a key (walkie's own file only; the user's files are never written).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// A host key a box presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub host: String,
    pub port: u16,
    /// The ssh name of the key type, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// The key in ssh wire format (what known_hosts holds in base64).
    pub blob: Vec<u8>,
}

impl HostKey {
    /// Reads the key type from the blob itself (its first ssh string), so the type is the
    /// one the file format uses, whatever libssh2 calls it.
    pub(crate) fn from_blob(host: &str, port: u16, blob: &[u8]) -> Option<HostKey> {
        let key_type = blob_key_type(blob)?;
        Some(HostKey {
            host: host.to_string(),
            port,
            key_type,
            blob: blob.to_vec(),
        })
    }

    /// OpenSSH's `SHA256:...` fingerprint (as `ssh-keygen -lf` prints it).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }

    /// The known_hosts line trusting this key.
    pub fn known_hosts_line(&self) -> String {
        format!(
            "{} {} {}",
            host_pattern(&self.host, self.port),
            self.key_type,
            STANDARD.encode(&self.blob)
        )
    }
}

/// What checking a presented host key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    Trusted,
    /// No known_hosts file holds a key for this host.
    Unknown(HostKey),
    /// known_hosts holds other keys for this host: a hard stop until the user trusts the
    /// new one. Also when the held keys are of other types than the presented one (the
    /// algorithm order makes a genuine server present a held type), so a man in the middle
    /// cannot turn "changed" into the milder "unknown" by offering another type.
    Changed {
        key: HostKey,
        old: Vec<String>,
    },
}

impl std::fmt::Display for HostKeyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostKeyCheck::Trusted => write!(f, "the host key is trusted"),
            HostKeyCheck::Unknown(k) => write!(
                f,
                "unknown host key for {}: {} {} (not trusted yet; nothing was sent)",
                host_pattern(&k.host, k.port),
                k.key_type,
                k.fingerprint()
            ),
            HostKeyCheck::Changed { key, old } => write!(
                f,
                "the host key of {} CHANGED: now {} {}, known {} (nothing was sent)",
                host_pattern(&key.host, key.port),
                key.key_type,
                key.fingerprint(),
                old.join(", ")
            ),
        }
    }
}

/// `SHA256:` and the unpadded base64 of the blob's SHA-256, OpenSSH's format.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// known_hosts writes a host on port 22 bare and any other port as `[host]:port`.
fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn blob_key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    let name = std::str::from_utf8(name).ok()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// A key a known_hosts file holds for the host being checked.
#[derive(Debug, Clone)]
pub(crate) struct KnownKey {
    key_type: String,
    blob: Vec<u8>,
}

/// The keys `files` hold for `host:port`, in file order. Host matching (patterns,
/// `[host]:port`, hashed `|1|` names) is libssh2's: each line goes alone into a fresh
/// libssh2 list and is checked with its own key, which tells whether the line names this
/// host without needing the presented key (so the algorithm order can be set before the
/// handshake). Unreadable files and lines are skipped: they trust nothing.
pub(crate) fn known_keys(
    sess: &ssh2::Session,
    files: &[PathBuf],
    host: &str,
    port: u16,
) -> Vec<KnownKey> {
    let mut keys = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let line = line.trim();
            // Markers (@cert-authority, @revoked) are not handled: such lines trust nothing.
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(_hosts), Some(key_type), Some(b64)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(blob) = STANDARD.decode(b64) else {
                continue;
            };
            let Ok(mut one) = sess.known_hosts() else {
                continue;
            };
            if one
                .read_str(line, ssh2::KnownHostFileKind::OpenSSH)
                .is_err()
            {
                continue;
            }
            if matches!(one.check_port(host, port, &blob), ssh2::CheckResult::Match) {
                keys.push(KnownKey {
                    key_type: key_type.to_string(),
                    blob,
                });
            }
        }
    }
    keys
}

/// Checks the presented key against the known keys for its host.
pub(crate) fn check(known: &[KnownKey], key: &HostKey) -> HostKeyCheck {
    if known.is_empty() {
        return HostKeyCheck::Unknown(key.clone());
    }
    if known.iter().any(|k| k.blob == key.blob) {
        return HostKeyCheck::Trusted;
    }
    let mut old: Vec<String> = known.iter().map(|k| fingerprint(&k.blob)).collect();
    old.dedup();
    HostKeyCheck::Changed {
        key: key.clone(),
        old,
    }
}

/// The host-key algorithms to offer: those of the held keys first (libssh2 otherwise
/// negotiates its own favourite, which the file may not hold), then the rest of what
/// libssh2 supports, so a first contact still works.
pub(crate) fn host_key_prefs(known: &[KnownKey], supported: &[&str]) -> String {
    let mut order: Vec<&str> = Vec::new();
    for k in known {
        let algs: &[&str] = match k.key_type.as_str() {
            // An RSA key is one key type but three signature algorithms.
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => &[other][..],
        };
        for alg in algs {
            if let Some(s) = supported.iter().find(|s| *s == alg) {
                if !order.contains(s) {
                    order.push(s);
                }
            }
        }
    }
    for s in supported {
        if !order.contains(s) {
            order.push(s);
        }
    }
    order.join(",")
}

/// Trusts `key` for its host: rewrites walkie's own known_hosts (`file`, 0600) without the
/// lines it held for exactly that host pattern, plus the new line. Never called on the
/// user's `~/.ssh/known_hosts`: callers pass walkie's file.
pub fn trust(file: &Path, key: &HostKey) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let pattern = host_pattern(&key.host, key.port);
    let old = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut text: String = old
        .lines()
        .filter(|l| l.split_whitespace().next() != Some(pattern.as_str()))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&key.known_hosts_line());
    text.push('\n');
    let tmp = file.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn key_type_comes_from_the_blob() {
        let k = HostKey::from_blob("h", 22, &blob("ssh-ed25519", b"xyz")).unwrap();
        assert_eq!(k.key_type, "ssh-ed25519");
        assert!(HostKey::from_blob("h", 22, &[0, 0, 0, 9, b'a']).is_none());
        assert!(HostKey::from_blob("h", 22, &[]).is_none());
        assert!(k.known_hosts_line().starts_with("h ssh-ed25519 "));
        let k = HostKey { port: 2222, ..k };
        assert!(k.known_hosts_line().starts_with("[h]:2222 ssh-ed25519 "));
    }

    #[test]
    fn check_results() {
        let a = KnownKey {
            key_type: "ssh-ed25519".into(),
            blob: blob("ssh-ed25519", b"a"),
        };
        let key = |b: &[u8]| HostKey::from_blob("h", 22, &blob("ssh-ed25519", b)).unwrap();
        assert_eq!(check(&[], &key(b"a")), HostKeyCheck::Unknown(key(b"a")));
        assert_eq!(
            check(std::slice::from_ref(&a), &key(b"a")),
            HostKeyCheck::Trusted
        );
        match check(std::slice::from_ref(&a), &key(b"b")) {
            HostKeyCheck::Changed { old, .. } => assert_eq!(old, vec![fingerprint(&a.blob)]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn held_types_go_first() {
        let k = |t: &str| KnownKey {
            key_type: t.into(),
            blob: vec![],
        };
        let supported = [
            "ecdsa-sha2-nistp256",
            "ssh-ed25519",
            "rsa-sha2-512",
            "rsa-sha2-256",
            "ssh-rsa",
        ];
        assert_eq!(
            host_key_prefs(&[k("ssh-rsa")], &supported),
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ecdsa-sha2-nistp256,ssh-ed25519"
        );
        assert_eq!(
            host_key_prefs(&[k("ssh-ed25519"), k("sk-unknown")], &supported),
            "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa"
        );
        assert_eq!(host_key_prefs(&[], &supported), supported.join(","));
    }

    #[test]
    fn trust_replaces_only_its_own_host_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub").join("known_hosts");
        let k1 = HostKey::from_blob("h", 2222, &blob("ssh-ed25519", b"1")).unwrap();
        let k2 = HostKey::from_blob("h", 2222, &blob("ssh-ed25519", b"2")).unwrap();
        let other = HostKey::from_blob("o", 22, &blob("ssh-ed25519", b"3")).unwrap();
        trust(&file, &other).unwrap();
        trust(&file, &k1).unwrap();
        trust(&file, &k2).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("{}\n{}\n", other.known_hosts_line(), k2.known_hosts_line())
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
