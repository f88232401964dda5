//! The Copilot CLI preset: walkie's hooks as a plugin given on the command line, and a
//! `COPILOT_HOME` of walkie's own per preset, so that nothing Copilot writes lands in the
//! user's `~/.copilot`.
//!
//! Copilot writes into whichever home it runs with: `config.json` (folder trust, first-run
//! flags; it rewrote it on a plain run), `session-state/`, `session-store.db`, `logs/`,
//! command history. walkie's home, `<state>/copilot-home/<preset>/`, is rebuilt at every
//! session start:
//!
//! | entry | kind | why |
//! | --- | --- | --- |
//! | `config.json` | real file: the user's, plus the `trustedFolders` Copilot saved in walkie's copy before | Copilot rewrites it; its login (when stored in plain text) and settings come along |
//! | `settings.json` | real file: a copy of the user's | the user's settings, without Copilot's writes reaching them |
//! | `hooks/`, `mcp-config.json`, `agents/`, `skills/`, `copilot-instructions.md`, `keybindings.json` | symlinks to the user's, if there | the user's own hooks, MCP servers, agents and instructions keep working |
//! | everything else (`session-state/`, `logs/`, ...) | Copilot's, in walkie's home | its state stays walkie's; a session is resumed from this home (`COPILOT_HOME=<it> copilot --resume=<id>`) |
//!
//! walkie's own hooks are not in any home: `--plugin-dir <state>/copilot-plugin` (docs/AGENTS.md:
//! both hooks fire, no dialog, nothing written to `installed-plugins/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use walkie_approval::copilot;
use walkie_config::Config;

/// Entries of the user's Copilot home walkie's links to: what the user wrote, which Copilot
/// reads but does not rewrite on its own.
const SHARED: &[&str] = &[
    "hooks",
    "mcp-config.json",
    "agents",
    "skills",
    "copilot-instructions.md",
    "keybindings.json",
];

/// The arguments to add to a Copilot command and its `COPILOT_HOME`, for preset `preset`.
pub(crate) fn prepare(
    cfg: &Config,
    preset: &str,
    preset_env: &BTreeMap<String, String>,
    walkie_exe: &str,
) -> std::io::Result<(Vec<String>, PathBuf)> {
    let plugin = write_plugin(
        &cfg.copilot_plugin_dir(),
        walkie_exe,
        Duration::from_secs(cfg.approvals.timeout_s),
    )?;
    let home = build_home(
        &cfg.state_dir().join("copilot-home").join(preset),
        user_home(preset_env).as_deref(),
    )?;
    Ok((
        vec!["--plugin-dir".to_string(), plugin.display().to_string()],
        home,
    ))
}

/// The user's Copilot home: `COPILOT_HOME`, else `$HOME/.copilot`, from the preset's
/// environment or else walkie's own.
fn user_home(preset_env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let var = |k: &str| {
        preset_env
            .get(k)
            .map(PathBuf::from)
            .or_else(|| std::env::var_os(k).map(PathBuf::from))
    };
    var("COPILOT_HOME").or_else(|| var("HOME").map(|h| h.join(".copilot")))
}

/// Writes `name` in `dir` aside and renames it into place: a running session may read it.
fn write_atomic(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.new"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// walkie's plugin: `plugin.json` and `hooks.json` ([`copilot::plugin_files`]).
fn write_plugin(dir: &Path, walkie_exe: &str, timeout: Duration) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in copilot::plugin_files(walkie_exe, timeout) {
        write_atomic(dir, name, &text)?;
    }
    Ok(dir.to_path_buf())
}

/// (Re)builds walkie's Copilot home `dir` from the user's home `user` (see the module docs).
fn build_home(dir: &Path, user: Option<&Path>) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let read = |p: PathBuf| std::fs::read_to_string(p).ok();
    let user_config = user.and_then(|u| read(u.join("config.json")));
    let old = read(dir.join("config.json"));
    if let Some(config) = merged_config(user_config.as_deref(), old.as_deref()) {
        write_atomic(dir, "config.json", &config)?;
    }
    match user.and_then(|u| read(u.join("settings.json"))) {
        Some(settings) => write_atomic(dir, "settings.json", &settings)?,
        None => remove_if_file(&dir.join("settings.json"))?,
    }
    for name in SHARED {
        let link = dir.join(name);
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(&link)?,
            // Copilot made its own (the user had none then): it stays walkie's.
            Ok(_) => continue,
            Err(_) => {}
        }
        if let Some(target) = user.map(|u| u.join(name)).filter(|t| t.exists()) {
            std::os::unix::fs::symlink(target, &link)?;
        }
    }
    Ok(dir.to_path_buf())
}

fn remove_if_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// walkie's `config.json`: the user's, with the folders trusted in walkie's copy before
/// added to its `trustedFolders` (the user answered Copilot's trust dialog in a walkie
/// session). `None`: nothing to write (the user has no config). A user config that
/// is not a JSON object is copied as is, for Copilot to complain about.
fn merged_config(user: Option<&str>, old: Option<&str>) -> Option<String> {
    let saved: Vec<Value> = old
        .and_then(|o| serde_json::from_str::<Value>(o).ok())
        .and_then(|v| v.get("trustedFolders")?.as_array().cloned())
        .unwrap_or_default();
    // No config of the user's: walkie's copy is Copilot's own, left as it is.
    let user = user?;
    let Ok(Value::Object(mut config)) = serde_json::from_str::<Value>(user) else {
        return Some(user.to_string());
    };
    let trusted = config
        .entry("trustedFolders")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = trusted {
        for f in saved {
            if !list.contains(&f) {
                list.push(f);
            }
        }
    }
    Some(Value::Object(config).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_copies_the_config_links_the_rest_and_keeps_saved_trust() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user/.copilot");
        std::fs::create_dir_all(user.join("hooks")).unwrap();
        std::fs::write(user.join("hooks/mine.json"), "{}").unwrap();
        let user_config = r#"{"trustedFolders":["/srv/a"],"banner":"never"}"#;
        std::fs::write(user.join("config.json"), user_config).unwrap();
        std::fs::write(user.join("settings.json"), r#"{"model":"m"}"#).unwrap();
        let home = dir.path().join("state/copilot-home/copilot");
        build_home(&home, Some(&user)).unwrap();
        assert!(!home.join("config.json").is_symlink());
        assert!(!home.join("settings.json").is_symlink());
        assert_eq!(
            std::fs::read_link(home.join("hooks")).unwrap(),
            user.join("hooks")
        );
        assert!(!home.join("mcp-config.json").exists());
        // Copilot trusts a folder in walkie's copy; the next start keeps it, and the user's
        // file is never written.
        let mut c: Value =
            serde_json::from_str(&std::fs::read_to_string(home.join("config.json")).unwrap())
                .unwrap();
        c["trustedFolders"]
            .as_array_mut()
            .unwrap()
            .push("/srv/b".into());
        std::fs::write(home.join("config.json"), c.to_string()).unwrap();
        build_home(&home, Some(&user)).unwrap();
        let c: Value =
            serde_json::from_str(&std::fs::read_to_string(home.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(c["trustedFolders"], serde_json::json!(["/srv/a", "/srv/b"]));
        assert_eq!(c["banner"], "never");
        assert_eq!(
            std::fs::read_to_string(user.join("config.json")).unwrap(),
            user_config
        );
    }

    #[test]
    fn configs_merge_without_losing_anything() {
        assert_eq!(merged_config(None, None), None);
        assert_eq!(
            merged_config(Some("not json"), None).as_deref(),
            Some("not json")
        );
        assert_eq!(
            merged_config(None, Some(r#"{"trustedFolders":["/x"]}"#)),
            None
        );
        let m: Value =
            serde_json::from_str(&merged_config(Some(r#"{"a":1}"#), Some("garbage")).unwrap())
                .unwrap();
        assert_eq!(m, serde_json::json!({"a": 1, "trustedFolders": []}));
    }

    #[test]
    fn prepare_gives_the_plugin_and_the_home() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        };
        let env = BTreeMap::from([(
            "COPILOT_HOME".to_string(),
            dir.path().join("none").display().to_string(),
        )]);
        let (args, home) = prepare(&cfg, "cp", &env, "/usr/bin/walkie").unwrap();
        let plugin = dir.path().join("copilot-plugin");
        assert_eq!(args, ["--plugin-dir", plugin.to_str().unwrap()]);
        assert_eq!(home, dir.path().join("copilot-home/cp"));
        let hooks = std::fs::read_to_string(plugin.join("hooks.json")).unwrap();
        assert!(hooks.contains("approve-hook --agent copilot"), "{hooks}");
        assert!(plugin.join("plugin.json").is_file());
    }
}
