//! Profiles: what a session may read, write and reach, and their resolution against one
//! session's paths into a [`Boundary`] (existing, canonical paths only, ready for bwrap and
//! Landlock).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// How the session reaches the network: the protocol's one definition (a client asks for it in
/// `NewSession`).
pub use walkie_host_proto::sandbox::NetworkMode;

/// The built-in file boundary a profile starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileBase {
    /// No sandbox at all.
    Off,
    /// Read everywhere but secrets; write the cwd, the agent's state and /tmp.
    Workspace,
    /// Read everywhere but secrets; write only the agent's state and /tmp.
    Readonly,
}

/// A profile as written in config (`[sandbox.profiles.NAME]`) or built in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub name: String,
    /// The built-in this profile extends.
    pub base: FileBase,
    /// Network mode; the base's default when absent.
    #[serde(default)]
    pub network: Option<NetworkMode>,
    /// Domains the proxy lets through without asking: `pypi.org` or `*.pythonhosted.org`.
    #[serde(default)]
    pub allow_domains: Vec<String>,
    /// More secrets to hide (`~/` is the session's home).
    #[serde(default)]
    pub deny_read: Vec<String>,
    /// More write areas (`~/` is the session's home).
    #[serde(default)]
    pub write: Vec<String>,
    /// More paths kept read-only inside the write areas (relative paths are taken inside the cwd).
    #[serde(default)]
    pub protect: Vec<String>,
}

/// The `[sandbox]` table of walkie.toml, for the config crate to embed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Refuse to start a session unsandboxed instead of falling back to no boundary.
    #[serde(default)]
    pub required: bool,
    /// The profile of sessions that name none and come from no preset that does (a plain
    /// command, the shell); the agent presets name `workspace` themselves.
    #[serde(default = "default_profile")]
    pub default_profile: String,
    /// Secrets hidden from every profile (`~/` is the session's home).
    #[serde(default)]
    pub deny_read: Vec<String>,
    /// How long a connection off the allowlist waits for the phone before it is denied.
    #[serde(default = "default_ask_timeout")]
    pub ask_timeout_secs: u64,
    /// The bwrap program; found in PATH when absent.
    #[serde(default)]
    pub bwrap: Option<PathBuf>,
    /// Custom profiles by name (`[sandbox.profiles.py]`).
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, Profile>,
    /// Fixed addresses for names the proxy connects to, like /etc/hosts (`"build.lan" =
    /// "10.0.0.5"`). A name that resolves only to loopback is otherwise refused; one pinned
    /// here to 127.0.0.1 is a deliberate choice (a local service under a name).
    #[serde(default)]
    pub resolve: std::collections::BTreeMap<String, std::net::IpAddr>,
}

fn default_profile() -> String {
    "off".to_string()
}

fn default_ask_timeout() -> u64 {
    120
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            required: false,
            default_profile: default_profile(),
            deny_read: Vec::new(),
            ask_timeout_secs: default_ask_timeout(),
            bwrap: None,
            profiles: Default::default(),
            resolve: Default::default(),
        }
    }
}

impl SandboxConfig {
    /// Profile `name` (custom first, then built-in) with the config-wide secrets added.
    pub fn profile(&self, name: &str) -> Result<Profile, Error> {
        let mut profile = match self.profiles.get(name) {
            Some(p) => Profile {
                name: name.to_string(),
                ..p.clone()
            },
            None => {
                Profile::builtin(name).ok_or_else(|| Error::UnknownProfile(name.to_string()))?
            }
        };
        profile.deny_read.extend(self.deny_read.iter().cloned());
        Ok(profile)
    }
}

/// Secrets hidden from every sandboxed session, relative to home.
const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gh",
    ".netrc",
    ".git-credentials",
    ".docker/config.json",
    ".kube",
    ".config/gcloud",
    ".azure",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials.toml",
];

/// Paths kept read-only inside every write area: they make code run later outside the
/// agent's control (hooks, shell start-up, MCP servers, agent commands).
const PROTECTED_IN_WRITE_AREAS: &[&str] = &[
    ".git/hooks",
    ".git/config",
    ".mcp.json",
    ".bashrc",
    ".bash_profile",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".envrc",
    ".claude/commands",
    ".claude/agents",
    ".claude/settings.json",
    ".codex/config.toml",
];

/// Directories the `.env` search does not enter: dependency trees and build output.
const ENV_SEARCH_SKIP: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "build",
];
const ENV_SEARCH_DEPTH: usize = 5;
const ENV_SEARCH_MAX_ENTRIES: usize = 20_000;

impl Profile {
    /// The built-in profile `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Profile> {
        let base = match name {
            "off" => FileBase::Off,
            "workspace" => FileBase::Workspace,
            "readonly" => FileBase::Readonly,
            _ => return None,
        };
        Some(Profile {
            name: name.to_string(),
            base,
            network: None,
            allow_domains: Vec::new(),
            deny_read: Vec::new(),
            write: Vec::new(),
            protect: Vec::new(),
        })
    }

    /// `name` among the custom profiles first, then the built-ins.
    pub fn find(name: &str, custom: &[Profile]) -> Result<Profile, Error> {
        custom
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .or_else(|| Profile::builtin(name))
            .ok_or_else(|| Error::UnknownProfile(name.to_string()))
    }

    pub fn network(&self) -> NetworkMode {
        self.network.unwrap_or(match self.base {
            FileBase::Off => NetworkMode::Open,
            FileBase::Workspace | FileBase::Readonly => NetworkMode::Allowlist,
        })
    }

    /// This profile for one session: the paths that exist, canonical, sorted into bwrap's
    /// categories.
    pub fn resolve(&self, paths: &SessionPaths) -> Result<Boundary, Error> {
        let cwd = canonical(&paths.cwd)?;
        let home = canonical(&paths.home)?;
        let mut boundary = Boundary {
            profile: self.name.clone(),
            files: self.base != FileBase::Off,
            cwd: cwd.clone(),
            write: Vec::new(),
            deny_dirs: Vec::new(),
            deny_files: Vec::new(),
            protected: Vec::new(),
            network: self.network(),
            allow_domains: self.allow_domains.clone(),
            notes: Vec::new(),
        };
        if !boundary.files {
            return Ok(boundary);
        }

        let mut write = Vec::new();
        if self.base == FileBase::Workspace {
            write.push(cwd.clone());
        }
        write.extend(paths.agent.state.iter().cloned());
        write.extend(self.write.iter().map(|p| expand(p, &home, &cwd)));
        for area in write {
            match existing(&area) {
                Some(area) => push_unique(&mut boundary.write, area),
                None => boundary.notes.push(format!(
                    "{} does not exist, so it is not writable in the sandbox",
                    area.display()
                )),
            }
        }

        let mut deny: Vec<PathBuf> = HOME_SECRETS.iter().map(|s| home.join(s)).collect();
        deny.extend(self.deny_read.iter().map(|p| expand(p, &home, &cwd)));
        deny.extend(env_files(&cwd));
        for path in deny {
            let Some(path) = existing(&path) else {
                continue;
            };
            if cwd.starts_with(&path) {
                return Err(Error::CwdDenied(cwd));
            }
            if path.is_dir() {
                push_unique(&mut boundary.deny_dirs, path);
            } else {
                push_unique(&mut boundary.deny_files, path);
            }
        }

        let mut protect: Vec<PathBuf> = Vec::new();
        for area in &boundary.write {
            protect.extend(PROTECTED_IN_WRITE_AREAS.iter().map(|p| area.join(p)));
        }
        protect.extend(paths.agent.protected.iter().cloned());
        protect.extend(self.protect.iter().map(|p| expand(p, &home, &cwd)));
        for path in protect {
            let Some(path) = existing(&path) else {
                continue;
            };
            // Only paths a write area would otherwise expose need a read-only bind.
            let writable = boundary.write.iter().any(|w| path.starts_with(w));
            if writable && !boundary.denied(&path) {
                push_unique(&mut boundary.protected, path);
            }
        }
        Ok(boundary)
    }
}

/// The paths of one session a profile is resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPaths {
    pub cwd: PathBuf,
    pub home: PathBuf,
    pub agent: AgentDirs,
}

/// An agent's own state (writable) and its command/agent/settings files (read-only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentDirs {
    pub state: Vec<PathBuf>,
    pub protected: Vec<PathBuf>,
    /// The agent runs its tools in a bubblewrap sandbox of its own (Codex). Landlock forbids
    /// mount(2) and the uid_map writes that needs, so such an agent gets bwrap without the
    /// Landlock layer ([`crate::Preflight::mechanism_for`]).
    pub sandboxes_itself: bool,
}

impl AgentDirs {
    /// `~/.claude` and Claude Code's `~/.claude.json` (a file it rewrites often).
    pub fn claude(home: &Path) -> AgentDirs {
        AgentDirs::claude_in(home, None)
    }

    /// As [`AgentDirs::claude`], for a Claude whose `CLAUDE_CONFIG_DIR` is `config_dir` (walkie's
    /// copy: its `.claude.json` inside, the user's `~/.claude` entries linked). That directory
    /// and the directories its links lead to (the user's `~/.claude`, where transcripts land)
    /// are its state; `~/.claude.json` is not (Claude keeps it in `config_dir` then), so it
    /// stays read-only. The command, agent and settings files stay protected where they lead.
    pub fn claude_in(home: &Path, config_dir: Option<&Path>) -> AgentDirs {
        let user = home.join(".claude");
        let protect = |dir: &Path| {
            ["commands", "agents", "settings.json"]
                .into_iter()
                .map(|n| dir.join(n))
                .collect::<Vec<_>>()
        };
        let Some(dir) = config_dir else {
            return AgentDirs {
                protected: protect(&user),
                state: vec![user, home.join(".claude.json")],
                sandboxes_itself: false,
            };
        };
        let mut state = vec![dir.to_path_buf()];
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let parent = dir.join(target).parent().map(Path::to_path_buf);
            if let Some(p) = parent.filter(|p| !state.contains(p)) {
                state.push(p);
            }
        }
        let mut protected = protect(dir);
        protected.extend(protect(&user));
        AgentDirs {
            protected,
            state,
            sandboxes_itself: false,
        }
    }

    /// `codex_home` is `$CODEX_HOME` when set. Its `sessions` and `auth.json` are Codex's own
    /// state wherever they lead: walkie's Codex home links them to the user's (rollouts for
    /// `codex resume`, token refreshes), and a write area is taken where its path resolves.
    pub fn codex(home: &Path, codex_home: Option<&Path>) -> AgentDirs {
        let state = codex_home.map_or_else(|| home.join(".codex"), Path::to_path_buf);
        let shared = ["sessions", "auth.json"]
            .into_iter()
            .map(|n| state.join(n))
            .filter(|p| p.symlink_metadata().is_ok());
        AgentDirs {
            protected: vec![state.join("config.toml"), state.join("prompts")],
            state: std::iter::once(state.clone()).chain(shared).collect(),
            sandboxes_itself: true,
        }
    }
}

/// A profile resolved for one session; what the boundary card shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    pub profile: String,
    /// False for `off`: no file boundary at all.
    pub files: bool,
    pub cwd: PathBuf,
    pub write: Vec<PathBuf>,
    /// Hidden behind an empty read-only tmpfs.
    pub deny_dirs: Vec<PathBuf>,
    /// Hidden behind /dev/null.
    pub deny_files: Vec<PathBuf>,
    /// Re-bound read-only inside the write areas.
    pub protected: Vec<PathBuf>,
    pub network: NetworkMode,
    pub allow_domains: Vec<String>,
    /// Plain-words remarks for the card (write areas that do not exist, ...).
    pub notes: Vec<String>,
}

impl Boundary {
    pub(crate) fn denied(&self, path: &Path) -> bool {
        self.deny_dirs.iter().any(|d| path.starts_with(d))
            || self.deny_files.iter().any(|f| f == path)
    }
}

fn canonical(path: &Path) -> Result<PathBuf, Error> {
    path.canonicalize().map_err(|source| Error::Path {
        path: path.to_path_buf(),
        source,
    })
}

fn existing(path: &Path) -> Option<PathBuf> {
    path.canonicalize().ok()
}

fn push_unique(list: &mut Vec<PathBuf>, path: PathBuf) {
    if !list.contains(&path) {
        list.push(path);
    }
}

/// `~/x` under home, relative paths under the cwd.
fn expand(path: &str, home: &Path, cwd: &Path) -> PathBuf {
    if path == "~" {
        home.to_path_buf()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.join(rest)
    } else {
        cwd.join(path)
    }
}

fn is_env_file(name: &str) -> bool {
    const TEMPLATES: &[&str] = &[".example", ".sample", ".template", ".dist"];
    name == ".env" || (name.starts_with(".env.") && !TEMPLATES.iter().any(|t| name.ends_with(t)))
}

/// `.env` files under `root`, bounded in depth and entries so a huge tree cannot stall a start.
fn env_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut seen = 0usize;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > ENV_SEARCH_MAX_ENTRIES {
                return found;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if depth + 1 < ENV_SEARCH_DEPTH && !ENV_SEARCH_SKIP.contains(&name.as_ref()) {
                    stack.push((entry.path(), depth + 1));
                }
            } else if is_env_file(&name) {
                found.push(entry.path());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(root: &Path) -> SessionPaths {
        let home = root.join("home");
        let cwd = home.join("src/api");
        std::fs::create_dir_all(cwd.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join(".claude/commands")).unwrap();
        std::fs::write(home.join(".bashrc"), "").unwrap();
        std::fs::write(home.join(".claude.json"), "{}").unwrap();
        std::fs::write(cwd.join(".env"), "TOKEN=1").unwrap();
        std::fs::write(cwd.join(".env.example"), "TOKEN=").unwrap();
        std::fs::create_dir_all(cwd.join("node_modules/x")).unwrap();
        std::fs::write(cwd.join("node_modules/x/.env"), "").unwrap();
        std::fs::create_dir_all(cwd.join("svc")).unwrap();
        std::fs::write(cwd.join("svc/.env.local"), "").unwrap();
        SessionPaths {
            cwd,
            home: home.clone(),
            agent: AgentDirs::claude(&home),
        }
    }

    #[test]
    fn workspace_sorts_paths_into_write_deny_and_protected() {
        let dir = tempfile::tempdir().unwrap();
        let paths = session(dir.path());
        let home = paths.home.canonicalize().unwrap();
        let cwd = paths.cwd.canonicalize().unwrap();
        let b = Profile::builtin("workspace")
            .unwrap()
            .resolve(&paths)
            .unwrap();
        assert_eq!(b.network, NetworkMode::Allowlist);
        assert_eq!(
            b.write,
            vec![cwd.clone(), home.join(".claude"), home.join(".claude.json")]
        );
        assert_eq!(b.deny_dirs, vec![home.join(".ssh")]);
        let mut files = b.deny_files.clone();
        files.sort();
        assert_eq!(files, vec![cwd.join(".env"), cwd.join("svc/.env.local")]);
        assert!(b.protected.contains(&cwd.join(".git/hooks")));
        assert!(b.protected.contains(&home.join(".claude/commands")));
        // ~/.bashrc is outside every write area: the read-only root covers it.
        assert!(!b.protected.contains(&home.join(".bashrc")));
        assert!(b.notes.is_empty(), "{:?}", b.notes);
    }

    #[test]
    fn readonly_writes_only_agent_state_and_off_has_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths = session(dir.path());
        let home = paths.home.canonicalize().unwrap();
        let b = Profile::builtin("readonly")
            .unwrap()
            .resolve(&paths)
            .unwrap();
        assert_eq!(
            b.write,
            vec![home.join(".claude"), home.join(".claude.json")]
        );
        let off = Profile::builtin("off").unwrap().resolve(&paths).unwrap();
        assert!(!off.files);
        assert_eq!(off.network, NetworkMode::Open);
    }

    #[test]
    fn custom_profile_from_config_adds_paths_and_domains() {
        let dir = tempfile::tempdir().unwrap();
        let paths = session(dir.path());
        std::fs::create_dir_all(paths.home.join("secrets")).unwrap();
        std::fs::create_dir_all(paths.home.join("cache")).unwrap();
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "name": "py",
            "base": "workspace",
            "network": "off",
            "allow_domains": ["pypi.org"],
            "deny_read": ["~/secrets"],
            "write": ["~/cache", "~/missing"],
        }))
        .unwrap();
        let found = Profile::find("py", &[profile]).unwrap();
        let b = found.resolve(&paths).unwrap();
        let home = paths.home.canonicalize().unwrap();
        assert_eq!(b.network, NetworkMode::Off);
        assert!(b.deny_dirs.contains(&home.join("secrets")));
        assert!(b.write.contains(&home.join("cache")));
        assert_eq!(b.notes.len(), 1, "{:?}", b.notes);
        assert!(matches!(
            Profile::find("nope", &[]),
            Err(Error::UnknownProfile(_))
        ));
    }

    #[test]
    fn the_sandbox_table_of_walkie_toml_parses_and_names_its_profiles() {
        let config: SandboxConfig = toml::from_str(
            r#"
            required = true
            deny_read = ["~/.config/walkie/.env"]
            [profiles.py]
            base = "workspace"
            network = "allowlist"
            allow_domains = ["pypi.org", "*.pythonhosted.org"]
            "#,
        )
        .unwrap();
        assert!(config.required);
        assert_eq!(config.default_profile, "off");
        assert_eq!(config.ask_timeout_secs, 120);
        let py = config.profile("py").unwrap();
        assert_eq!(py.name, "py");
        assert_eq!(py.deny_read, vec!["~/.config/walkie/.env".to_string()]);
        assert_eq!(config.profile("readonly").unwrap().deny_read.len(), 1);
        assert!(config.profile("nope").is_err());
        let typo = toml::from_str::<SandboxConfig>(
            "[profiles.x]\nbase = \"workspace\"\nnetwrok = \"off\"\n",
        );
        assert!(
            typo.is_err(),
            "an unknown key must be an error, not ignored"
        );
    }

    #[test]
    fn a_cwd_inside_a_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = session(dir.path());
        paths.cwd = paths.home.join(".ssh");
        let err = Profile::builtin("workspace")
            .unwrap()
            .resolve(&paths)
            .unwrap_err();
        assert!(matches!(err, Error::CwdDenied(_)), "{err}");
    }
}
