//! `walkie doctor`: what a session of each preset would find, before a prompt is lost to
//! "command not found" or "Not logged in".
//!
//! Sessions started from this terminal (`walkie new`) get this process's environment; sessions
//! started from the phone get the host's plus the environment file (`[host] env_file`). Both
//! are checked: the host's is read from `/proc/<pid>/environ`, its pid being the peer of the
//! host socket (same user only).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use walkie_config::Config;

/// Variables agents take their credentials (or their model endpoint) from. Only the names of
/// the ones set are shown, never a value.
const CREDENTIALS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "OPENAI_BASE_URL",
    "COPILOT_GITHUB_TOKEN",
    "COPILOT_PROVIDER_API_KEY",
    "COPILOT_PROVIDER_BASE_URL",
    "GH_TOKEN",
    "GITHUB_TOKEN",
];

pub(crate) fn run_doctor(cfg: &Config) -> anyhow::Result<ExitCode> {
    let here: BTreeMap<String, String> = std::env::vars().collect();
    let host = host_env(&cfg.socket_path());
    print!("{}", report(cfg, "walkie new (this terminal)", &here));
    match host {
        Ok(mut env) => {
            // Sessions from the phone also get the environment file.
            match walkie_console::workdir::phone_env(cfg) {
                Ok(file) => env.extend(file),
                Err(e) => println!("{e}"),
            }
            print!(
                "{}",
                report(cfg, "/new from the phone (the host + env file)", &env)
            )
        }
        Err(why) => println!("/new from the phone (the host): {why}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// One block of the report: per preset, whether its program resolves on the session PATH and
/// which credential variables the session would have (its base `env` plus the preset's).
fn report(cfg: &Config, title: &str, base: &BTreeMap<String, String>) -> String {
    let secrets = cfg.secret_env_names();
    let mut out = format!("{title}:\n");
    for (name, p) in &cfg.presets {
        let mut env = base.clone();
        env.retain(|k, _| !secrets.contains(k));
        env.extend(p.env.clone());
        let program = match p.command.first() {
            Some(c) => c.clone(),
            None => env
                .get("SHELL")
                .cloned()
                .unwrap_or_else(|| "/bin/sh".into()),
        };
        let found = match resolve(&program, env.get("PATH").map(String::as_str)) {
            Some(path) => format!("{program} -> {}", path.display()),
            None => format!("{program} NOT FOUND on the session PATH"),
        };
        let creds: Vec<&str> = CREDENTIALS
            .iter()
            .copied()
            .filter(|k| env.get(*k).is_some_and(|v| !v.is_empty()))
            .collect();
        let creds = if creds.is_empty() {
            "none".to_string()
        } else {
            creds.join(", ")
        };
        out.push_str(&format!(
            "  {name}: {found}; credential variables set: {creds}\n"
        ));
    }
    out
}

/// `program` as the shell would find it: a path if it has a '/', else the first executable
/// of that name in `path`.
fn resolve(program: &str, path: Option<&str>) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    path?
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| executable(p))
}

/// The running host's environment, through the pid at the other end of its socket.
fn host_env(socket: &Path) -> Result<BTreeMap<String, String>, String> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("no host running at {} ({e})", socket.display()))?;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 || cred.pid <= 0 {
        return Err("cannot tell which process the host is".into());
    }
    let raw = std::fs::read(format!("/proc/{}/environ", cred.pid))
        .map_err(|e| format!("cannot read the host's environment ({e})"))?;
    Ok(raw
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = OsString::from_vec(kv.to_vec()).into_string().ok()?;
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_resolution_and_credential_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("claude");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = Config::default();
        let env = BTreeMap::from([
            ("PATH".to_string(), dir.path().display().to_string()),
            (
                "ANTHROPIC_API_KEY".to_string(),
                "sk-ant-very-secret".to_string(),
            ),
            ("TELEGRAM_BOT_TOKEN".to_string(), "1:x".to_string()),
        ]);
        let r = report(&cfg, "t", &env);
        assert!(
            r.contains(&format!("claude: claude -> {}", bin.display())),
            "{r}"
        );
        assert!(r.contains("codex: codex NOT FOUND"), "{r}");
        assert!(
            r.contains("credential variables set: ANTHROPIC_API_KEY"),
            "{r}"
        );
        assert!(
            !r.contains("sk-ant-very-secret") && !r.contains("1:x"),
            "{r}"
        );
    }
}
