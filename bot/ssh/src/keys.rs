//! walkie's dedicated key and the restricted `authorized_keys` line for it.
//!
//! The key is made by the system's `ssh-keygen` rather than an in-process crate: it is
//! installed wherever ssh is (openssh-client), it writes OpenSSH's own private-key format
//! (which libssh2 reads) with mode 0600 itself, and it keeps a crypto stack of key
//! generation crates out of the build.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Error;

fn key_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Key {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

fn pub_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// The comment walkie's key carries, `walkie@<this machine>`, so the box's authorized_keys
/// says whose key it is.
pub fn key_comment() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "home".into());
    format!("walkie@{host}")
}

/// Makes an ed25519 key at `path` (no passphrase, comment `comment`, e.g. `walkie@home`)
/// unless one is there, keeps it 0600, and returns its public line. Blocking (runs
/// `ssh-keygen`): call it from a thread, not the async runtime.
pub fn ensure_key(path: &Path, comment: &str) -> Result<String, Error> {
    if !path.exists() {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| key_error(path, e))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| key_error(path, e))?;
            }
        }
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                key_error(
                    path,
                    format!("cannot run ssh-keygen (install openssh-client): {e}"),
                )
            })?;
        if !out.status.success() {
            return Err(key_error(
                path,
                format!(
                    "ssh-keygen failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| key_error(path, e))?;
    public_key_line(path)
}

/// The public line (`ssh-ed25519 AAAA... comment`) of the key at `path`, from `path.pub`
/// or, if that is missing, derived by `ssh-keygen -y`.
pub fn public_key_line(path: &Path) -> Result<String, Error> {
    let text = match std::fs::read_to_string(pub_path(path)) {
        Ok(t) => t,
        Err(_) => {
            let out = Command::new("ssh-keygen")
                .arg("-y")
                .arg("-f")
                .arg(path)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| key_error(path, format!("cannot run ssh-keygen: {e}")))?;
            if !out.status.success() {
                return Err(key_error(path, String::from_utf8_lossy(&out.stderr).trim()));
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.split_whitespace().count() < 2 {
        return Err(key_error(path, "no public key in the .pub file"));
    }
    Ok(line)
}

/// The command a restricted key runs on the box: `<walkie> bridge --stdio`.
pub fn bridge_command(walkie: &str) -> String {
    format!("{walkie} bridge --stdio")
}

/// `restrict,command="<command>" <type> <base64> <comment>`: the least-privilege line for
/// `~/.ssh/authorized_keys` on the box (no forwarding, no pty, only `command`).
pub fn authorized_keys_line(command: &str, public_key: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Key {
        path: "(public key)".into(),
        why: why.to_string(),
    };
    if command.contains(['\n', '\r']) {
        return Err(bad("the command has a line break"));
    }
    let mut fields = public_key.split_whitespace();
    let (Some(kind), Some(b64)) = (fields.next(), fields.next()) else {
        return Err(bad("expected `<type> <base64> [comment]`"));
    };
    let comment: Vec<&str> = fields.collect();
    // authorized_keys allows only `\"` as an escape inside an option's quotes.
    let command = command.replace('"', "\\\"");
    let mut line = format!("restrict,command=\"{command}\" {kind} {b64}");
    if !comment.is_empty() {
        line.push(' ');
        line.push_str(&comment.join(" "));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_line() {
        assert_eq!(
            authorized_keys_line(
                &bridge_command("/usr/bin/walkie"),
                "ssh-ed25519 AAAA walkie@home\n"
            )
            .unwrap(),
            "restrict,command=\"/usr/bin/walkie bridge --stdio\" ssh-ed25519 AAAA walkie@home"
        );
        assert_eq!(
            authorized_keys_line("echo \"x\"", "ssh-ed25519 AAAA").unwrap(),
            "restrict,command=\"echo \\\"x\\\"\" ssh-ed25519 AAAA"
        );
        assert!(authorized_keys_line("a\nb", "ssh-ed25519 AAAA").is_err());
        assert!(authorized_keys_line("cat", "garbage").is_err());
    }

    #[test]
    fn made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("keys").join("walkie_ed25519");
        let line = ensure_key(&key, "walkie@test").unwrap();
        assert!(
            line.starts_with("ssh-ed25519 ") && line.ends_with(" walkie@test"),
            "{line}"
        );
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            ensure_key(&key, "other").unwrap(),
            line,
            "an existing key is kept"
        );
        std::fs::remove_file(pub_path(&key)).unwrap();
        assert_eq!(
            public_key_line(&key).unwrap().split_whitespace().nth(1),
            line.split_whitespace().nth(1)
        );
    }
}
