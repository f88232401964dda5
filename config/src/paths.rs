//! Where walkie keeps things, following the XDG base directory rules.
//! Every path can be overridden (`WALKIE_STATE_DIR`, `WALKIE_SOCKET`, `WALKIE_DATA_DIR`) so that
//! tests and several users never collide.

use std::path::PathBuf;

use crate::EnvPaths;

fn home(env: &EnvPaths) -> PathBuf {
    env.home.clone().unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// `$XDG_STATE_HOME/walkie`, else `~/.local/state/walkie`.
pub fn state_dir(env: &EnvPaths) -> PathBuf {
    env.xdg_state
        .clone()
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home(env).join(".local/state"))
        .join("walkie")
}

/// `$XDG_DATA_HOME/walkie`, else `~/.local/share/walkie`.
pub fn data_dir(env: &EnvPaths) -> PathBuf {
    env.xdg_data
        .clone()
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home(env).join(".local/share"))
        .join("walkie")
}

/// `$XDG_RUNTIME_DIR/walkie/host.sock`, else `<state_dir>/host.sock`.
pub fn socket_path(env: &EnvPaths, state_dir: &std::path::Path) -> PathBuf {
    match env.xdg_runtime.clone().filter(|p| p.is_absolute()) {
        Some(rt) => rt.join("walkie").join("host.sock"),
        None => state_dir.join("host.sock"),
    }
}

/// `$XDG_CONFIG_HOME/walkie/walkie.toml`, else `~/.config/walkie/walkie.toml`.
pub fn config_file_with(get: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| get("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("walkie").join("walkie.toml"))
}
