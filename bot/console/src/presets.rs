//! Presets: the one expansion of a configured preset into a session to start, agent hooks
//! included, used by `/new NAME PRESET` and `walkie new NAME --preset PRESET` alike.
//!
//! # Agents' hooks
//! A preset whose program is `claude` gets `--settings` with walkie's `PermissionRequest`
//! hook ([`hook::claude_args`]), which adds to the user's settings for that run without
//! touching them. Codex reads hooks only from `hooks.json` in its home directory, and the
//! user's files are not walkie's to change: a preset whose program is `codex` gets its own
//! `CODEX_HOME`, a folder in walkie's state dir linking every entry of the user's Codex home
//! and holding a `hooks.json` made of the user's hooks plus walkie's.

use std::path::PathBuf;
use std::time::Duration;

use walkie_approval::hook;
use walkie_approval::policy::PolicyRules;
use walkie_approval::Agent;
use walkie_config::Config;

/// A preset that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("no preset {name:?} in the config (presets: {known:?})")]
    Unknown { name: String, known: Vec<String> },
    #[error("{0}")]
    Rule(String),
}

/// What to start for a session: the expansion of a preset (or a plain command).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub command: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

/// Preset `preset` for session `session`: its command, cwd and env, plus the hook that
/// makes its agent ask walkie.
pub fn expand(cfg: &Config, preset: &str, session: &str) -> Result<Launch, PresetError> {
    let Some(p) = cfg.presets.get(preset) else {
        return Err(PresetError::Unknown {
            name: preset.to_string(),
            known: cfg.presets.keys().cloned().collect(),
        });
    };
    let mut command = p.command.clone();
    let mut env: Vec<(String, String)> =
        p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(program) = command.first().cloned() {
        command.extend(hook_args(&program, cfg));
        env.extend(hook_env(&program, cfg, session));
    }
    Ok(Launch {
        command,
        cwd: p.cwd.clone(),
        env,
    })
}

/// Checks the policy patterns in the config, so that a bad one stops `walkie up` at start.
pub fn check_rules(cfg: &Config) -> Result<(), PresetError> {
    PolicyRules::new(&cfg.approvals.auto_allow, &cfg.approvals.always_deny)
        .map_err(|e| PresetError::Rule(format!("approvals: {e}")))?;
    for (name, p) in &cfg.presets {
        PolicyRules::new(&p.auto_allow, &p.always_deny)
            .map_err(|e| PresetError::Rule(format!("presets.{name}: {e}")))?;
    }
    Ok(())
}

/// The extra arguments that make a preset's agent ask walkie through its hook, for the
/// program `program` (`claude`, or a path ending in it). Empty for anything else.
fn hook_args(program: &str, cfg: &Config) -> Vec<String> {
    let name = program.rsplit('/').next().unwrap_or(program);
    if name != "claude" {
        return Vec::new();
    }
    match std::env::current_exe() {
        Ok(exe) => hook::claude_args(
            &exe.display().to_string(),
            Duration::from_secs(cfg.approvals.timeout_s),
        ),
        Err(e) => {
            // Without the hook the agent still asks on its own screen.
            tracing::warn!(error = %e, "cannot find walkie's own path; no approval hook");
            Vec::new()
        }
    }
}

/// The environment that makes a preset's Codex ask walkie through its hook, for the program
/// `program` (`codex`, or a path ending in it) in session `session`. Empty for anything else.
///
/// Codex reads hooks only from `hooks.json` in its home, and the user's files are not
/// walkie's to change. So the session gets its own `CODEX_HOME`: a folder in walkie's state
/// dir that links every entry of the user's Codex home (config, auth, sessions...) and holds
/// a `hooks.json` made of the user's own hooks plus walkie's `PermissionRequest` hook.
fn hook_env(program: &str, cfg: &Config, session: &str) -> Vec<(String, String)> {
    let name = program.rsplit('/').next().unwrap_or(program);
    if name != "codex" {
        return Vec::new();
    }
    match codex_home(cfg, session) {
        Ok(dir) => vec![("CODEX_HOME".to_string(), dir.display().to_string())],
        Err(e) => {
            // Without the hook Codex still asks on its own screen.
            tracing::warn!(session, error = %e, "cannot prepare a Codex home; no approval hook");
            Vec::new()
        }
    }
}

fn codex_home(cfg: &Config, session: &str) -> std::io::Result<std::path::PathBuf> {
    use std::path::PathBuf;
    let user_home = std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".codex")));
    // A fresh folder per start: a running session of the same name keeps its own (a `/new`
    // refused as a duplicate must not pull the home from under it). They hold only links
    // and one small file.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let dir = cfg
        .state_dir()
        .join("codex-home")
        .join(format!("{session}.{stamp}"));
    std::fs::create_dir_all(&dir)?;
    let mut hooks = serde_json::json!({ "hooks": {} });
    if let Some(home) = user_home.filter(|h| h.is_dir()) {
        for entry in std::fs::read_dir(&home)?.flatten() {
            let name = entry.file_name();
            if name == "hooks.json" {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(v) if v.get("hooks").is_some_and(|h| h.is_object()) => hooks = v,
                    _ => {
                        tracing::warn!(path = %entry.path().display(), "ignoring an unreadable hooks.json")
                    }
                }
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), dir.join(&name))?;
        }
    }
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs(cfg.approvals.timeout_s) + hook::HOOK_TIMEOUT_MARGIN;
    let ours = serde_json::json!({
        "matcher": "Bash",
        "hooks": [{
            "type": "command",
            "command": hook::hook_command(&exe.display().to_string(), Agent::Codex),
            "timeout": timeout.as_secs(),
        }]
    });
    let list = hooks["hooks"].as_object_mut().map(|h| {
        h.entry("PermissionRequest")
            .or_insert_with(|| serde_json::json!([]))
    });
    match list.and_then(|l| l.as_array_mut()) {
        Some(a) => a.push(ours),
        None => hooks["hooks"]["PermissionRequest"] = serde_json::json!([ours]),
    }
    let path = dir.join("hooks.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&hooks).unwrap_or_default())?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(state: &std::path::Path) -> Config {
        let preset = |command: &[&str], env: &[(&str, &str)]| walkie_config::Preset {
            command: command.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let mut cfg = Config {
            state_dir: Some(state.to_path_buf()),
            ..Config::default()
        };
        cfg.presets
            .insert("claude".into(), preset(&["claude"], &[]));
        cfg.presets.insert(
            "codex".into(),
            preset(&["/usr/bin/codex", "--full-auto"], &[("A", "1")]),
        );
        cfg.presets.insert("bash".into(), preset(&["bash"], &[]));
        cfg
    }

    #[test]
    fn presets_get_their_agent_hook() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let claude = expand(&cfg, "claude", "api").unwrap();
        assert_eq!(claude.command[0], "claude");
        assert!(
            claude.command.iter().any(|a| a == "--settings"),
            "{claude:?}"
        );
        let codex = expand(&cfg, "codex", "api").unwrap();
        assert_eq!(codex.command, ["/usr/bin/codex", "--full-auto"]);
        let home = codex
            .env
            .iter()
            .find(|(k, _)| k == "CODEX_HOME")
            .map(|(_, v)| PathBuf::from(v))
            .expect("CODEX_HOME");
        assert!(home.starts_with(cfg.state_dir()), "{home:?}");
        assert!(home.join("hooks.json").is_file());
        assert!(codex.env.contains(&("A".into(), "1".into())));
        let shell = expand(&cfg, "bash", "api").unwrap();
        assert_eq!(shell.command, ["bash"]);
        assert!(shell.env.is_empty());
        assert!(matches!(
            expand(&cfg, "nope", "api"),
            Err(PresetError::Unknown { .. })
        ));
    }
}
