//! Presets: the one expansion of a configured preset into a session to start, agent hooks
//! included, used by `/new NAME PRESET` and `walkie new --preset PRESET` for this machine's
//! sessions, and by `walkie host` for a session another machine's walkie asks it to start
//! ([`for_host`]).
//!
//! # Where a preset is expanded
//! On the machine that runs the session: the hook command names *that* machine's walkie
//! (`std::env::current_exe`), and the Codex and Copilot homes are in *its* state dir. A
//! session on another box is asked for by preset name (`NewSession.expand`); that box's
//! `walkie host` expands it with its own walkie.toml (its presets win: it knows where its
//! agents live), its own `approvals.timeout_s` and its own state dir.
//!
//! # Agents' hooks
//! The agent of a preset is the first word of its command named `claude` or `codex` (so
//! `npx codex` and `env X=1 claude` count). Claude Code gets `--settings` with walkie's
//! `PermissionRequest` and `Stop` hooks ([`hook::claude_args`]), which adds to the user's
//! settings for that run without touching them, and its own `CLAUDE_CONFIG_DIR`
//! ([`crate::claude_home`]: walkie's copy of the user's state, the user's entries linked), so
//! that it can save its state inside a boundary. Codex gets the same two hooks and their
//! pre-computed trust as `-c` overrides ([`hook::codex_args`]), and its own `CODEX_HOME`: one
//! stable folder per preset in walkie's state dir (docs/AGENTS.md, "Recommended Codex home"),
//! so that whatever Codex writes (trust decisions, history, state) lands in walkie's copy and
//! never in the user's `~/.codex`, while credentials, the user's hooks and the sessions stay
//! shared through symlinks. Copilot CLI gets both hooks as a plugin and a home of walkie's
//! own the same way ([`copilot_home`]).
//!
//! # Layout
//! - `lib.rs`: [`expand`] (a preset to a [`Launch`]), [`for_host`] (a `NewSession` naming a
//!   preset to the session to start here), the phone's directories ([`session_dir`]), the
//!   policy check ([`check_rules`]), walkie's Codex home.
//! - `claude_home`: the Claude preset's walkie-owned `CLAUDE_CONFIG_DIR` (a copy of the user's
//!   `.claude.json`, the user's `~/.claude` entries linked).
//! - [`copilot_home`]: the Copilot preset's plugin (walkie's hooks) and walkie-owned home.

mod claude_home;
pub mod copilot_home;

use std::path::{Path, PathBuf};
use std::time::Duration;
use walkie_host_proto::protocol::NewSession;
use walkie_host_proto::sandbox::NetworkMode;

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
    #[error("{0}")]
    Dir(String),
}

/// What to start for a session: the expansion of a preset (or a plain command).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub command: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// The preset's name and its resume template, kept by the host for revival.
    pub preset: Option<String>,
    pub resume: Option<Vec<String>>,
    /// The preset's sandbox profile and network mode (`None`: the host's default).
    pub sandbox: Option<String>,
    pub network: Option<NetworkMode>,
}

/// Preset `preset` for session `session`: its command, cwd and env, plus the hook that
/// makes its agent ask walkie (this process's own executable: the console's `walkie`).
pub fn expand(cfg: &Config, preset: &str, session: &str) -> Result<Launch, PresetError> {
    expand_with(cfg, preset, session, walkie_exe().as_deref())
}

/// [`expand`] with the hooks running `walkie` (`None`: no hook, the agent asks on its own
/// screen).
fn expand_with(
    cfg: &Config,
    preset: &str,
    session: &str,
    walkie: Option<&str>,
) -> Result<Launch, PresetError> {
    let Some(p) = cfg.presets.get(preset) else {
        return Err(PresetError::Unknown {
            name: preset.to_string(),
            known: cfg.presets.keys().cloned().collect(),
        });
    };
    let mut command = p.command.clone();
    let mut env: Vec<(String, String)> =
        p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    match agent_of(&command) {
        Some(Agent::ClaudeCode) => {
            command.extend(claude_args(cfg, walkie));
            match crate::claude_home::prepare(&cfg.state_dir(), preset, &p.env) {
                Ok(dir) => {
                    env.retain(|(k, _)| k != "CLAUDE_CONFIG_DIR");
                    env.push(("CLAUDE_CONFIG_DIR".to_string(), dir.display().to_string()));
                }
                // Claude then runs with the user's directory: fine unsandboxed; inside a
                // boundary it cannot save its state (the card's files say so).
                Err(e) => tracing::warn!(
                    session, preset, error = %e,
                    "cannot prepare a Claude config directory; Claude uses the user's"
                ),
            }
        }
        Some(Agent::Codex) => {
            if let Some(args) = codex_args(cfg, walkie) {
                match codex_home(cfg, preset, &p.env) {
                    Ok(dir) => {
                        command.extend(args);
                        env.retain(|(k, _)| k != "CODEX_HOME");
                        env.push(("CODEX_HOME".to_string(), dir.display().to_string()));
                    }
                    // Without the hook Codex still asks on its own screen.
                    Err(e) => tracing::warn!(
                        session, preset, error = %e,
                        "cannot prepare a Codex home; no approval hook"
                    ),
                }
            }
        }
        Some(Agent::Copilot) => {
            let prepared = walkie.map(|exe| copilot_home::prepare(cfg, preset, &p.env, exe));
            match prepared {
                Some(Ok((args, home))) => {
                    command.extend(args);
                    env.retain(|(k, _)| k != "COPILOT_HOME");
                    env.push(("COPILOT_HOME".to_string(), home.display().to_string()));
                }
                Some(Err(e)) => tracing::warn!(
                    session, preset, error = %e,
                    "cannot prepare a Copilot home; no approval hook"
                ),
                None => {}
            }
        }
        None => {}
    }
    Ok(Launch {
        command,
        cwd: p.cwd.clone(),
        env,
        preset: Some(preset.to_string()),
        resume: p.resume.clone(),
        sandbox: p.sandbox.clone(),
        network: p.network,
    })
}

/// A session another machine's walkie asks this one to start by preset (`spec.expand`):
/// this machine's preset `spec.preset` expanded here ([`expand`], with `walkie` in the hooks —
/// the slim `walkie-host` daemon carries no `approve-hook`; `None`: no hook — and this state
/// dir for the agent's home), with the asker's choices on top: its `command` as
/// extra arguments after the preset's, its `cwd`, `sandbox` and `network` over the preset's,
/// its `env` under the preset's. The directory is this machine's ([`session_dir`], `~` under
/// `home`, a relative one under this config's `projects_dir`).
pub fn for_host(
    cfg: &Config,
    spec: NewSession,
    home: Option<&Path>,
    walkie: Option<&Path>,
) -> Result<NewSession, PresetError> {
    let Some(preset) = spec.preset.clone() else {
        return Err(PresetError::Unknown {
            name: String::new(),
            known: cfg.presets.keys().cloned().collect(),
        });
    };
    let walkie = walkie.map(|w| w.display().to_string());
    let launch = expand_with(cfg, &preset, &spec.name, walkie.as_deref())?;
    let mut command = launch.command;
    command.extend(spec.command);
    let cwd = match spec.cwd.or(launch.cwd) {
        Some(d) => Some(session_dir(cfg, &d.to_string_lossy(), home)?),
        None => None,
    };
    let mut env = spec.env;
    env.extend(launch.env);
    Ok(NewSession {
        command,
        cwd,
        env,
        preset: Some(preset),
        resume: launch.resume,
        sandbox: spec.sandbox.or(launch.sandbox),
        network: spec.network.or(launch.network),
        expand: false,
        ..spec
    })
}

/// The working directory a phone's `/new NAME PRESET DIR` names: `~` or `~/...` under `home`,
/// an absolute path as is, anything else under the configured `projects_dir`. It must be an
/// existing directory.
pub fn session_dir(cfg: &Config, arg: &str, home: Option<&Path>) -> Result<PathBuf, PresetError> {
    let bad = |why: String| Err(PresetError::Dir(why));
    let dir = if arg == "~" || arg.starts_with("~/") {
        let Some(dir) = under_home(Path::new(arg), home) else {
            return bad("no home directory to put ~ in".into());
        };
        dir
    } else if Path::new(arg).is_absolute() {
        PathBuf::from(arg)
    } else {
        let Some(projects) = projects_dir(cfg, home) else {
            return bad(format!(
                "{arg:?} is relative and no projects_dir is configured; give ~/{arg} or an absolute path"
            ));
        };
        if Path::new(arg)
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return bad(format!("{arg:?} leaves projects_dir"));
        }
        projects.join(arg)
    };
    if dir.is_dir() {
        Ok(dir)
    } else {
        bad(format!("{} is not a directory", dir.display()))
    }
}

/// `path` with a leading `~` (alone or `~/...`) put under `home`; `None` if it has one and
/// there is no home.
pub fn under_home(path: &Path, home: Option<&Path>) -> Option<PathBuf> {
    match path.strip_prefix("~") {
        Ok(rest) => home.map(|h| h.join(rest)),
        Err(_) => Some(path.to_path_buf()),
    }
}

/// The configured `projects_dir`, a leading `~` under `home`.
pub fn projects_dir(cfg: &Config, home: Option<&Path>) -> Option<PathBuf> {
    under_home(cfg.projects_dir.as_deref()?, home)
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

/// The agent a command starts: its first word whose file name is `claude`, `codex` or
/// `copilot`.
fn agent_of(command: &[String]) -> Option<Agent> {
    command
        .iter()
        .find_map(|w| match std::path::Path::new(w).file_name()?.to_str()? {
            "claude" => Some(Agent::ClaudeCode),
            "codex" => Some(Agent::Codex),
            "copilot" => Some(Agent::Copilot),
            _ => None,
        })
}

/// walkie's own path, for the hook command; `None` (logged) leaves the agent asking on its
/// own screen.
fn walkie_exe() -> Option<String> {
    match std::env::current_exe() {
        Ok(exe) => Some(exe.display().to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find walkie's own path; no approval hook");
            None
        }
    }
}

fn claude_args(cfg: &Config, walkie: Option<&str>) -> Vec<String> {
    walkie
        .map(|exe| hook::claude_args(exe, Duration::from_secs(cfg.approvals.timeout_s)))
        .unwrap_or_default()
}

fn codex_args(cfg: &Config, walkie: Option<&str>) -> Option<Vec<String>> {
    walkie.map(|exe| hook::codex_args(exe, Duration::from_secs(cfg.approvals.timeout_s)))
}

/// Entries of the user's Codex home that walkie's home links to: credentials (token refreshes
/// must reach the user's file), the user's hooks, the shared sessions (so `codex resume` works
/// from either home), and the user's instructions, prompts and rules.
const CODEX_SHARED: &[&str] = &[
    "auth.json",
    "hooks.json",
    "sessions",
    "AGENTS.md",
    "prompts",
    "rules",
];

/// The user's Codex home: `CODEX_HOME`, else `$HOME/.codex`, as the preset's environment or
/// else walkie's own gives them. Kept as given, not resolved: Codex keys hook trust by it.
fn user_codex_home(preset_env: &std::collections::BTreeMap<String, String>) -> Option<PathBuf> {
    let var = |k: &str| {
        preset_env
            .get(k)
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os(k))
    };
    var("CODEX_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".codex")))
}

/// (Re)builds walkie's Codex home for preset `preset`: `<state>/codex-home/<preset>/`, with a
/// real `config.toml` (the user's text, the user's hook trust re-keyed to this home, plus the
/// folder trust Codex saved here before) and symlinks to [`CODEX_SHARED`]. Stable across
/// starts: Codex would show "Hooks need review" for a home it has not seen.
fn codex_home(
    cfg: &Config,
    preset: &str,
    preset_env: &std::collections::BTreeMap<String, String>,
) -> std::io::Result<PathBuf> {
    let dir = cfg.state_dir().join("codex-home").join(preset);
    std::fs::create_dir_all(&dir)?;
    let user = user_codex_home(preset_env);
    let user_config = user
        .as_ref()
        .and_then(|u| std::fs::read_to_string(u.join("config.toml")).ok())
        .unwrap_or_default();
    let mut config = user_config.clone();
    if let Some(u) = &user {
        // The trust hash has no path in it: re-keying keeps the user's own hooks trusted.
        for file in ["hooks.json", "config.toml"] {
            config = config.replace(
                &format!("\"{}:", u.join(file).display()),
                &format!("\"{}:", dir.join(file).display()),
            );
        }
    }
    let old = std::fs::read_to_string(dir.join("config.toml")).unwrap_or_default();
    config.push_str(&saved_folder_trust(&user_config, &old));
    // Written aside and renamed: a running session of this preset may be reading it.
    let tmp = dir.join(".config.toml.new");
    std::fs::write(&tmp, &config)?;
    std::fs::rename(&tmp, dir.join("config.toml"))?;
    for name in CODEX_SHARED {
        let link = dir.join(name);
        let target = user.as_ref().map(|u| u.join(name)).filter(|t| t.exists());
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(&link)?,
            // Codex made its own (the user had none then): it stays walkie's.
            Ok(_) => continue,
            Err(_) => {}
        }
        if let Some(t) = target {
            std::os::unix::fs::symlink(t, &link)?;
        }
    }
    Ok(dir)
}

/// The `[projects."DIR"]` tables Codex saved in walkie's copy (the user answered its folder
/// trust dialog in a walkie session) that the user's own config lacks, as TOML text to append,
/// so that rebuilding the copy does not bring the dialog back. Empty if appending would not
/// give valid TOML (e.g. the user wrote `projects` as an inline table).
fn saved_folder_trust(user_config: &str, old_copy: &str) -> String {
    let parse = |s: &str| s.parse::<toml::Table>().ok();
    let (Some(user), Some(old)) = (parse(user_config), parse(old_copy)) else {
        return String::new();
    };
    let user_projects = user.get("projects").and_then(|p| p.as_table());
    let Some(old_projects) = old.get("projects").and_then(|p| p.as_table()) else {
        return String::new();
    };
    let mut out = String::new();
    for (dir, entry) in old_projects {
        if user_projects.is_some_and(|p| p.contains_key(dir)) {
            continue;
        }
        let Some(entry) = entry.as_table() else {
            continue;
        };
        let key = toml::Value::String(dir.clone());
        out.push_str(&format!("\n[projects.{key}]\n{entry}"));
    }
    if parse(&format!("{user_config}{out}")).is_some() {
        out
    } else {
        String::new()
    }
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
        assert_eq!(codex.command[..2], ["/usr/bin/codex", "--full-auto"]);
        assert!(
            codex.command.iter().any(|a| a.starts_with("hooks.state=")),
            "{codex:?}"
        );
        let home = codex
            .env
            .iter()
            .find(|(k, _)| k == "CODEX_HOME")
            .map(|(_, v)| PathBuf::from(v))
            .expect("CODEX_HOME");
        assert_eq!(home, cfg.state_dir().join("codex-home/codex"));
        assert!(codex.env.contains(&("A".into(), "1".into())));
        let shell = expand(&cfg, "bash", "api").unwrap();
        assert_eq!(shell.command, ["bash"]);
        assert!(shell.env.is_empty());
        assert!(matches!(
            expand(&cfg, "nope", "api"),
            Err(PresetError::Unknown { .. })
        ));
    }

    #[test]
    fn a_host_expands_a_preset_asked_for_by_name_with_its_own_config() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("src")).unwrap();
        let cfg = config(&dir.path().join("box-state"));
        let asked = |preset: &str| NewSession {
            name: "api".into(),
            command: vec!["--verbose".into()],
            cwd: Some("~/src".into()),
            env: vec![("A".into(), "asker".into()), ("B".into(), "2".into())],
            size: None,
            record: true,
            preset: Some(preset.into()),
            resume: None,
            sandbox: Some("readonly".into()),
            network: None,
            expand: true,
        };
        let s = for_host(
            &cfg,
            asked("codex"),
            Some(&home),
            Some(&std::env::current_exe().unwrap()),
        )
        .unwrap();
        assert!(!s.expand);
        assert_eq!(s.command[..2], ["/usr/bin/codex", "--full-auto"]);
        assert_eq!(s.command.last().map(String::as_str), Some("--verbose"));
        // The hook is the walkie given (here this process), the Codex home in this config's
        // state dir.
        let exe = std::env::current_exe().unwrap().display().to_string();
        assert!(s.command.iter().any(|a| a.contains(&exe)), "{s:?}");
        let last = |k: &str| {
            s.env
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            last("CODEX_HOME").map(PathBuf::from),
            Some(dir.path().join("box-state/codex-home/codex"))
        );
        // The preset's env over the asker's; the asker's directory and boundary over the
        // preset's, `~` this machine's home.
        assert_eq!(last("A").as_deref(), Some("1"));
        assert_eq!(last("B").as_deref(), Some("2"));
        assert_eq!(s.cwd, Some(home.join("src")));
        assert_eq!(s.sandbox.as_deref(), Some("readonly"));
        assert_eq!(s.preset.as_deref(), Some("codex"));
        // Unknown here, or a directory this machine lacks: errors, nothing started.
        assert!(matches!(
            for_host(
                &cfg,
                asked("nope"),
                Some(&home),
                Some(Path::new("/opt/walkie"))
            ),
            Err(PresetError::Unknown { .. })
        ));
        let mut bad = asked("bash");
        bad.cwd = Some("~/missing".into());
        assert!(matches!(
            for_host(&cfg, bad, Some(&home), Some(Path::new("/opt/walkie"))),
            Err(PresetError::Dir(_))
        ));
    }

    #[test]
    fn codex_home_is_stable_copies_the_config_and_links_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user-codex");
        std::fs::create_dir_all(user.join("sessions")).unwrap();
        std::fs::write(user.join("auth.json"), "{}").unwrap();
        std::fs::write(user.join("hooks.json"), "{\"hooks\": {}}").unwrap();
        let hooks = user.join("hooks.json");
        let user_config = format!(
            "model = \"m\"\n[hooks.state.\"{}:stop:0:0\"]\ntrusted_hash = \"sha256:ab\"\n",
            hooks.display()
        );
        std::fs::write(user.join("config.toml"), &user_config).unwrap();
        let mut cfg = config(&dir.path().join("state"));
        let p = cfg.presets.get_mut("codex").unwrap();
        p.env
            .insert("CODEX_HOME".into(), user.display().to_string());
        let launch = |cfg: &Config| {
            let l = expand(cfg, "codex", "api").unwrap();
            let homes: Vec<&(String, String)> =
                l.env.iter().filter(|(k, _)| k == "CODEX_HOME").collect();
            assert_eq!(homes.len(), 1, "{l:?}");
            PathBuf::from(&homes[0].1)
        };
        let home = launch(&cfg);
        let copy = std::fs::read_to_string(home.join("config.toml")).unwrap();
        assert!(
            copy.contains(&format!(
                "\"{}:stop:0:0\"",
                home.join("hooks.json").display()
            )),
            "{copy}"
        );
        assert!(!home.join("config.toml").is_symlink());
        for name in ["auth.json", "hooks.json", "sessions"] {
            assert_eq!(
                std::fs::read_link(home.join(name)).unwrap(),
                user.join(name)
            );
        }
        assert!(!home.join("rules").exists());
        // Folder trust Codex saved in walkie's copy survives the rebuild of the next start;
        // the user's file is not touched.
        let mut saved = copy.clone();
        saved.push_str("\n[projects.\"/srv/x\"]\ntrust_level = \"trusted\"\n");
        std::fs::write(home.join("config.toml"), saved).unwrap();
        assert_eq!(launch(&cfg), home);
        let copy = std::fs::read_to_string(home.join("config.toml")).unwrap();
        let t: toml::Table = copy.parse().unwrap();
        assert_eq!(
            t["projects"]["/srv/x"]["trust_level"].as_str(),
            Some("trusted")
        );
        assert_eq!(t["model"].as_str(), Some("m"));
        assert_eq!(
            std::fs::read_to_string(user.join("config.toml")).unwrap(),
            user_config
        );
    }

    #[test]
    fn the_agent_is_the_first_word_named_like_one() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(agent_of(&w(&["npx", "codex"])), Some(Agent::Codex));
        assert_eq!(
            agent_of(&w(&["env", "A=1", "/opt/claude"])),
            Some(Agent::ClaudeCode)
        );
        assert_eq!(agent_of(&w(&["bash", "-c", "codex-ish"])), None);
        assert_eq!(agent_of(&[]), None);
    }

    #[test]
    fn session_dirs_from_the_phone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home/src")).unwrap();
        std::fs::create_dir_all(dir.path().join("projects/api")).unwrap();
        let home = dir.path().join("home");
        let mut cfg = config(dir.path());
        assert_eq!(session_dir(&cfg, "~", Some(&home)).unwrap(), home);
        assert_eq!(
            session_dir(&cfg, "~/src", Some(&home)).unwrap(),
            home.join("src")
        );
        let abs = dir.path().join("projects/api");
        assert_eq!(session_dir(&cfg, abs.to_str().unwrap(), None).unwrap(), abs);
        assert!(matches!(
            session_dir(&cfg, "api", None),
            Err(PresetError::Dir(_))
        ));
        cfg.projects_dir = Some(dir.path().join("projects"));
        assert_eq!(session_dir(&cfg, "api", None).unwrap(), abs);
        std::fs::create_dir_all(home.join("projects/api")).unwrap();
        cfg.projects_dir = Some("~/projects".into());
        assert_eq!(
            session_dir(&cfg, "api", Some(&home)).unwrap(),
            home.join("projects/api")
        );
        cfg.projects_dir = Some(dir.path().join("projects"));
        assert!(session_dir(&cfg, "../home", None).is_err());
        assert!(session_dir(&cfg, "nope", None).is_err());
        assert!(session_dir(&cfg, "~", None).is_err());
    }
}
