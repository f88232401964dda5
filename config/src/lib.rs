//! walkie's typed configuration, shared by every crate.
//!
//! Values are layered, later layers winning:
//! 1. built-in defaults (every field has one),
//! 2. the TOML file (`--config PATH`, else `$XDG_CONFIG_HOME/walkie/walkie.toml`, if present),
//! 3. a `.env` file in the working directory (loaded with dotenvy; never overrides the real environment),
//! 4. `WALKIE_*` environment variables (and `TELEGRAM_BOT_TOKEN`).
//!
//! [`Config::validate`] runs at start and names the field and the fix for each bad value.
//!
//! # Layout
//! - [`Config`] and its sections ([`HostConfig`], [`TelegramConfig`], [`TranscriptionConfig`],
//!   [`VoiceConfig`], [`Preset`]): the typed values with their defaults.
//! - [`Config::load`]: the layering described above.
//! - [`hosts`]: `[hosts.NAME]`, the boxes reached over ssh ([`RemoteHost`]).
//! - [`paths`]: where state, sockets and data live (XDG rules, overridable for tests).
//! - [`Secret`]: a string that never prints itself.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
pub use walkie_sandbox::{NetworkMode, SandboxConfig};

pub mod edit;
pub mod hosts;
pub mod paths;

pub use hosts::RemoteHost;

/// Errors while loading or validating configuration. Each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // `error`, not `source`: the reason is in the message, and a source would print it a
    // second time in anyhow's `{:#}` chain.
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {field}: {message}")]
    Invalid { field: String, message: String },
}

/// A secret string (bot token). `Debug` and `Display` print a placeholder so that it
/// cannot reach a log line by accident.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is sent to its one legitimate user.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// State directory (SQLite, logs). Default `$XDG_STATE_HOME/walkie`.
    pub state_dir: Option<PathBuf>,
    /// Data directory (whisper models). Default `$XDG_DATA_HOME/walkie`.
    pub data_dir: Option<PathBuf>,
    pub host: HostConfig,
    pub recording: RecordingConfig,
    pub telegram: TelegramConfig,
    pub transcription: TranscriptionConfig,
    pub voice: VoiceConfig,
    pub approvals: ApprovalsConfig,
    pub notify: NotifyConfig,
    pub schedule: ScheduleConfig,
    /// Named command lines for `/new NAME PRESET` and `walkie new --preset`. A table in the
    /// file changes only the fields it sets of the built-in preset of that name (`shell`,
    /// `claude`, `codex`); built-ins stay unless a table says `remove = true`.
    #[serde(deserialize_with = "presets_over_builtins")]
    pub presets: BTreeMap<String, Preset>,
    /// Where a relative directory given to `/new NAME PRESET DIR` is looked up.
    pub projects_dir: Option<PathBuf>,
    /// Extra environment variable names that must never reach a session's environment.
    pub secret_env: Vec<String>,
    /// Other boxes, by walkie's name for them (`api@cloud`).
    pub hosts: BTreeMap<String, RemoteHost>,
    /// Session boundaries: `required`, `default_profile`, `deny_read`, `ask_timeout_secs`,
    /// `bwrap`, custom `[sandbox.profiles.NAME]` (the table is `walkie-sandbox`'s own type).
    pub sandbox: SandboxConfig,
    /// XDG variables captured at load time; not read from the file.
    #[serde(skip)]
    pub env: EnvPaths,
    /// The file this configuration was read from, or the default path where it would be
    /// (walkie writes its own changes there: `walkie hosts add`, "always" on a network card).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// The session host daemon.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Unix socket path. Default `$XDG_RUNTIME_DIR/walkie/host.sock`, else `<state_dir>/host.sock`.
    pub socket: Option<PathBuf>,
    /// Scrollback kept per session, in bytes.
    pub scrollback_bytes: usize,
    /// Output chunks queued per subscriber before it is dropped (it then gets a repaint).
    pub subscriber_queue: usize,
    /// Milliseconds between SIGTERM and SIGKILL in `walkie kill`.
    pub kill_grace_ms: u64,
    /// Milliseconds between a text and its Enter in `walkie send` (bracketed paste needs a gap).
    pub enter_delay_ms: u64,
    /// Terminal size of new sessions before any client attaches.
    pub cols: u16,
    pub rows: u16,
    /// TERM given to sessions.
    pub term: String,
    /// Most bytes of input held for a paused session (more is refused until it resumes).
    pub paused_input_bytes: usize,
    /// Milliseconds a client (the CLI, the bot) waits for the host's answer before saying
    /// the host is not answering.
    pub client_timeout_ms: u64,
    /// `KEY=value` lines (systemd's EnvironmentFile format) that sessions started from the
    /// phone get on top of the host's environment; walkie-host.service loads the same file.
    /// Default `$XDG_CONFIG_HOME/walkie/agents.env`, used when it exists.
    pub env_file: Option<PathBuf>,
    /// What the host brings back by itself when it starts and finds sessions that were
    /// running when it last stopped: `agents` (resumed; shells and commands stay lost),
    /// `all` (those started again too), `none`.
    pub revive: Revive,
}

/// `host.revive`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Revive {
    #[default]
    Agents,
    All,
    None,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            socket: None,
            scrollback_bytes: 1 << 20,
            subscriber_queue: 256,
            kill_grace_ms: 3000,
            enter_delay_ms: 50,
            cols: 120,
            rows: 40,
            term: "xterm-256color".into(),
            paused_input_bytes: 1 << 20,
            client_timeout_ms: 5000,
            env_file: None,
            revive: Revive::Agents,
        }
    }
}

/// Session recordings (asciicast v2 files in `<state_dir>/recordings`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Record every session's output (a session can still opt out).
    pub enabled: bool,
    /// One session's recording; its oldest parts go first past this.
    pub session_bytes: u64,
    /// All recordings together; the oldest parts of any session go first past this.
    pub total_bytes: u64,
    /// A recording is cut into parts of about this size (rotation deletes whole parts).
    pub part_bytes: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: true,
            session_bytes: 64 << 20,
            total_bytes: 1 << 30,
            part_bytes: 16 << 20,
        }
    }
}

/// The Telegram bot.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    /// Bot token from @BotFather. Prefer `TELEGRAM_BOT_TOKEN` in `.env`.
    pub token: Secret,
    /// Telegram user ids allowed to act.
    pub allowed_users: Vec<i64>,
    /// Telegram user ids that may only look (screens, lists).
    pub viewers: Vec<i64>,
    /// Bot API base URL (a local Bot API server, or a fake one in tests).
    pub api_url: String,
    /// How the `/attach` answer reaches this machine, e.g. `me@box`.
    pub ssh_host: Option<String>,
    /// How long a `/watch` live picture runs before it stops by itself, in seconds.
    pub watch_s: u64,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            token: Secret::default(),
            allowed_users: Vec::new(),
            viewers: Vec::new(),
            api_url: "https://api.telegram.org".into(),
            ssh_host: None,
            watch_s: 900,
        }
    }
}

/// Local speech recognition.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TranscriptionConfig {
    /// Path of a ggml whisper model; default: the newest in `<data_dir>/models`.
    pub model: Option<PathBuf>,
    /// whisper.cpp threads per job.
    pub threads: u16,
    /// Longest voice note accepted, in seconds.
    pub max_duration_s: u32,
    /// Jobs run at once (they compete with the agents for CPU).
    pub concurrency: u16,
    /// Decoder beams: 5 (beam search, whisper.cpp's CLI default) or 1 (greedy, faster).
    pub beam_size: u8,
}

impl Default for TranscriptionConfig {
    fn default() -> Self {
        TranscriptionConfig {
            model: None,
            threads: 1,
            max_duration_s: 300,
            concurrency: 1,
            beam_size: 5,
        }
    }
}

/// Voice notes in the bot.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// Ask Send / Edit / Cancel before typing a transcript into a session.
    pub confirm: bool,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        VoiceConfig { confirm: true }
    }
}

/// Scheduled dispatch (`/schedule`, `walkie schedule`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The time zone a chat's jobs get until the chat picks its own (`/schedule zone`), an
    /// IANA name such as `Europe/Berlin`. Unset: the system's zone (`TZ`, `/etc/timezone`,
    /// `/etc/localtime`); never a silent UTC. Checked at start by the bot.
    pub zone: Option<String>,
}

/// Approval requests (agent hooks, `walkie ask`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// Seconds to wait for a decision before denying.
    pub timeout_s: u64,
    /// Commands approved without asking, in every session (patterns: see the bot's
    /// `approval::policy`; e.g. `"git status"`, `"npm run test*"`).
    pub auto_allow: Vec<String>,
    /// Commands always denied without asking, in every session.
    pub always_deny: Vec<String>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            timeout_s: 600,
            auto_allow: Vec::new(),
            always_deny: Vec::new(),
        }
    }
}

/// Notifications (new messages, which make the phone buzz) and live-screen timing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// What buzzes in a chat until it says `/notify`: "all", "approvals" or "none".
    pub default_level: String,
    /// A session quiet this many seconds after working "went quiet" (finished its turn).
    pub quiet_after_s: u64,
    /// Seconds of work before a quiet counts as a finished turn.
    pub min_work_s: u64,
    /// Stop editing a live screen after this many seconds without change.
    pub idle_stop_s: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            default_level: "all".into(),
            quiet_after_s: 20,
            min_work_s: 5,
            idle_stop_s: 600,
        }
    }
}

/// The notification levels a chat can choose (`/notify`, `notify.default_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyLevel {
    /// Approval requests, exits and finished turns all buzz.
    All,
    /// Only approval requests buzz.
    Approvals,
    /// Nothing buzzes.
    None,
}

impl NotifyLevel {
    /// The name typed after `/notify` and stored in the bot's state.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Approvals => "approvals",
            NotifyLevel::None => "none",
        }
    }
}

impl std::str::FromStr for NotifyLevel {
    type Err = String;

    /// Case-insensitive [`NotifyLevel::as_str`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(NotifyLevel::All),
            "approvals" => Ok(NotifyLevel::Approvals),
            "none" => Ok(NotifyLevel::None),
            _ => Err(format!(
                "{s:?} is not a level; use \"all\", \"approvals\" or \"none\""
            )),
        }
    }
}

impl NotifyConfig {
    /// [`NotifyConfig::default_level`] as a level (validated at load; `All` if it is not).
    pub fn level(&self) -> NotifyLevel {
        self.default_level.parse().unwrap_or(NotifyLevel::All)
    }
}

/// A named way to start a session.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Preset {
    /// Command and arguments.
    pub command: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    /// Approval rules for sessions started from this preset, added to `[approvals]`'s.
    pub auto_allow: Vec<String>,
    pub always_deny: Vec<String>,
    /// The command that resumes this preset's agent after a host restart, `{id}` standing
    /// for the agent's session id (walkie knows `claude --resume` and `codex resume`).
    pub resume: Option<Vec<String>>,
    /// The sandbox profile of its sessions (`off`, `workspace`, `readonly`, a custom one);
    /// `None` is `sandbox.default_profile`. The agent presets say `workspace`.
    pub sandbox: Option<String>,
    /// Overrides the profile's network mode for its sessions.
    pub network: Option<NetworkMode>,
}

/// The profile of the built-in agent presets (`claude`, `codex`, `copilot`): agents that run
/// for days get a boundary by default, with the `allowlist` network (their API hosts on it, as
/// the host adds them). What makes each work inside it:
/// - Claude Code gets a `CLAUDE_CONFIG_DIR` of walkie's own (`bot/console/src/claude_home.rs`):
///   it saves `.claude.json` there (through a lock directory and a temporary file, which the
///   read-only `$HOME` would refuse), seeded from the user's so no first-run dialog comes back.
/// - Codex runs with its own sandbox replaced by walkie's (`-c sandbox_mode="danger-full-access"`,
///   `session-host/src/server/boundary.rs`), where under `on-request` it would ask about no
///   command: walkie's `PreToolUse` hook asks the phone before each shell command instead.
/// - Copilot's home and plugin are walkie's (`bot/console/src/copilot_home.rs`).
///
/// `shell` stays [`SHELL_PROFILE`]: a shell is the user at work, not an agent.
const AGENT_PROFILE: &str = "workspace";

/// The profile of the built-in `shell` preset.
const SHELL_PROFILE: &str = "off";

/// The presets walkie knows without a config file.
fn builtin_presets() -> BTreeMap<String, Preset> {
    let preset = |command: &[&str], profile: &str| Preset {
        command: command.iter().map(|s| s.to_string()).collect(),
        sandbox: Some(profile.to_string()),
        ..Preset::default()
    };
    BTreeMap::from([
        ("shell".to_string(), preset(&[], SHELL_PROFILE)),
        ("claude".to_string(), preset(&["claude"], AGENT_PROFILE)),
        ("codex".to_string(), preset(&["codex"], AGENT_PROFILE)),
        ("copilot".to_string(), preset(&["copilot"], AGENT_PROFILE)),
    ])
}

/// A `[presets.NAME]` table as written: only the fields it sets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetTable {
    command: Option<Vec<String>>,
    cwd: Option<PathBuf>,
    env: Option<BTreeMap<String, String>>,
    auto_allow: Option<Vec<String>>,
    always_deny: Option<Vec<String>>,
    resume: Option<Vec<String>>,
    sandbox: Option<String>,
    network: Option<NetworkMode>,
    /// Drops the preset of this name (a built-in one) from the list.
    #[serde(default)]
    remove: bool,
}

/// The `presets` of a file applied field by field over [`builtin_presets`]: configuring the
/// env of `claude` must not leave `claude` without its command, nor make `codex` vanish.
fn presets_over_builtins<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Preset>, D::Error> {
    let tables = BTreeMap::<String, PresetTable>::deserialize(d)?;
    let mut presets = builtin_presets();
    for (name, t) in tables {
        if t.remove {
            presets.remove(&name);
            continue;
        }
        let p = presets.entry(name).or_default();
        if let Some(v) = t.command {
            p.command = v;
        }
        if let Some(v) = t.cwd {
            p.cwd = Some(v);
        }
        if let Some(v) = t.env {
            p.env = v;
        }
        if let Some(v) = t.auto_allow {
            p.auto_allow = v;
        }
        if let Some(v) = t.always_deny {
            p.always_deny = v;
        }
        if let Some(v) = t.resume {
            p.resume = Some(v);
        }
        if let Some(v) = t.sandbox {
            p.sandbox = Some(v);
        }
        if let Some(v) = t.network {
            p.network = Some(v);
        }
    }
    Ok(presets)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: None,
            data_dir: None,
            host: HostConfig::default(),
            recording: RecordingConfig::default(),
            telegram: TelegramConfig::default(),
            transcription: TranscriptionConfig::default(),
            voice: VoiceConfig::default(),
            approvals: ApprovalsConfig::default(),
            notify: NotifyConfig::default(),
            schedule: ScheduleConfig::default(),
            presets: builtin_presets(),
            projects_dir: None,
            secret_env: Vec::new(),
            hosts: BTreeMap::new(),
            sandbox: SandboxConfig::default(),
            env: EnvPaths::default(),
            file: None,
        }
    }
}

/// Environment variables that are always secrets, whatever the config says.
pub const BUILTIN_SECRET_ENV: &[&str] = &["TELEGRAM_BOT_TOKEN", "WALKIE_TELEGRAM_TOKEN"];

impl Config {
    /// Loads the layered configuration from the real environment.
    /// `file` is `--config`; when `None`, the default path is read only if it exists.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        // .env never overrides variables already set (dotenvy's rule), so an explicit
        // environment always wins. A missing .env is normal.
        let _ = dotenvy::dotenv();
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let default_path = paths::config_file_with(&get);
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => get("WALKIE_CONFIG")
                .map(PathBuf::from)
                .or_else(|| default_path.clone().filter(|p| p.exists())),
        };
        let mut cfg = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|error| ConfigError::Read {
                    path: p.clone(),
                    error,
                })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse {
                    path: p.clone(),
                    message,
                })?
            }
            None => Config::default(),
        };
        cfg.file = path.or(default_path);
        cfg.apply_env(&get)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a TOML document over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: fmt::Display,
        {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                field: field.into(),
                message: format!("{v:?}: {e}"),
            })
        }
        fn ids(field: &str, v: &str) -> Result<Vec<i64>, ConfigError> {
            v.split([',', ' '])
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse::<i64>(field, s))
                .collect()
        }
        if let Some(v) = get("WALKIE_STATE_DIR") {
            self.state_dir = Some(v.into());
        }
        if let Some(v) = get("WALKIE_DATA_DIR") {
            self.data_dir = Some(v.into());
        }
        if let Some(v) = get("WALKIE_SOCKET") {
            self.host.socket = Some(v.into());
        }
        if let Some(v) = get("WALKIE_SCROLLBACK_BYTES") {
            self.host.scrollback_bytes = parse("WALKIE_SCROLLBACK_BYTES", &v)?;
        }
        if let Some(v) = get("WALKIE_KILL_GRACE_MS") {
            self.host.kill_grace_ms = parse("WALKIE_KILL_GRACE_MS", &v)?;
        }
        if let Some(v) = get("WALKIE_PAUSED_INPUT_BYTES") {
            self.host.paused_input_bytes = parse("WALKIE_PAUSED_INPUT_BYTES", &v)?;
        }
        if let Some(v) = get("WALKIE_CLIENT_TIMEOUT_MS") {
            self.host.client_timeout_ms = parse("WALKIE_CLIENT_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("TELEGRAM_BOT_TOKEN").or_else(|| get("WALKIE_TELEGRAM_TOKEN")) {
            self.telegram.token = Secret::new(v.trim());
        }
        if let Some(v) = get("WALKIE_ALLOWED_USERS") {
            self.telegram.allowed_users = ids("WALKIE_ALLOWED_USERS", &v)?;
        }
        if let Some(v) = get("WALKIE_VIEWERS") {
            self.telegram.viewers = ids("WALKIE_VIEWERS", &v)?;
        }
        if let Some(v) = get("WALKIE_TELEGRAM_API_URL") {
            self.telegram.api_url = v;
        }
        if let Some(v) = get("WALKIE_SSH_HOST") {
            self.telegram.ssh_host = Some(v);
        }
        if let Some(v) = get("WALKIE_WATCH_S") {
            self.telegram.watch_s = parse("WALKIE_WATCH_S", &v)?;
        }
        if let Some(v) = get("WALKIE_MODEL") {
            self.transcription.model = Some(v.into());
        }
        if let Some(v) = get("WALKIE_APPROVAL_TIMEOUT_S") {
            self.approvals.timeout_s = parse("WALKIE_APPROVAL_TIMEOUT_S", &v)?;
        }
        if let Some(v) = get("WALKIE_QUIET_AFTER_S") {
            self.notify.quiet_after_s = parse("WALKIE_QUIET_AFTER_S", &v)?;
        }
        if let Some(v) = get("WALKIE_SCHEDULE_ZONE") {
            self.schedule.zone = Some(v);
        }
        if let Some(v) = get("WALKIE_THREADS") {
            self.transcription.threads = parse("WALKIE_THREADS", &v)?;
        }
        self.env = EnvPaths {
            xdg_state: get("XDG_STATE_HOME").map(PathBuf::from),
            xdg_data: get("XDG_DATA_HOME").map(PathBuf::from),
            xdg_runtime: get("XDG_RUNTIME_DIR").map(PathBuf::from),
            home: get("HOME").map(PathBuf::from),
        };
        Ok(())
    }

    /// Checks every value; the error names the field and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, message: String| {
            Err(ConfigError::Invalid {
                field: field.into(),
                message,
            })
        };
        for (name, h) in &self.hosts {
            if let Err(message) = hosts::check(name, h) {
                return bad(&format!("hosts.{name}"), message);
            }
        }
        let r = &self.recording;
        if r.part_bytes < 4096 || r.part_bytes > r.session_bytes || r.session_bytes > r.total_bytes
        {
            return bad(
                "recording",
                format!(
                    "part_bytes {} / session_bytes {} / total_bytes {}: need 4096 <= part_bytes <= session_bytes <= total_bytes (defaults 16 MiB, 64 MiB, 1 GiB)",
                    r.part_bytes, r.session_bytes, r.total_bytes
                ),
            );
        }
        let h = &self.host;
        if h.scrollback_bytes < 4096 || h.scrollback_bytes > (1 << 30) {
            return bad(
                "host.scrollback_bytes",
                format!(
                    "{} is out of range; use a byte count from 4096 to 1073741824 (default 1048576)",
                    h.scrollback_bytes
                ),
            );
        }
        if h.subscriber_queue == 0 || h.subscriber_queue > 65536 {
            return bad(
                "host.subscriber_queue",
                format!(
                    "{} is out of range; use 1 to 65536 (default 256)",
                    h.subscriber_queue
                ),
            );
        }
        if h.cols < 10 || h.rows < 2 || h.cols > 1000 || h.rows > 1000 {
            return bad(
                "host.cols/host.rows",
                format!(
                    "{}x{} is not a usable terminal size; use at least 10x2 (default 120x40)",
                    h.cols, h.rows
                ),
            );
        }
        if h.term.is_empty() {
            return bad("host.term", "is empty; use e.g. \"xterm-256color\"".into());
        }
        if let Some(s) = &h.socket {
            if s.as_os_str().len() > 100 {
                return bad(
                    "host.socket",
                    format!("{} is longer than a Unix socket path may be (about 100 bytes); choose a shorter path", s.display()),
                );
            }
        }
        let t = &self.transcription;
        if t.threads == 0 || t.threads > 64 {
            return bad(
                "transcription.threads",
                format!("{} is out of range; use 1 to 64", t.threads),
            );
        }
        if t.concurrency == 0 || t.concurrency > 16 {
            return bad(
                "transcription.concurrency",
                format!("{} is out of range; use 1 to 16", t.concurrency),
            );
        }
        if t.beam_size == 0 || t.beam_size > 16 {
            return bad(
                "transcription.beam_size",
                format!(
                    "{} is out of range; use 1 (greedy) to 16 (default 5, as whisper.cpp's CLI)",
                    t.beam_size
                ),
            );
        }
        if !(5..=4 * 3600).contains(&self.telegram.watch_s) {
            return bad(
                "telegram.watch_s",
                format!(
                    "{} is out of range; use 5 to 14400 seconds (default 900, a quarter of an hour)",
                    self.telegram.watch_s
                ),
            );
        }
        if t.max_duration_s == 0 {
            return bad(
                "transcription.max_duration_s",
                "must be at least 1 second (default 300)".into(),
            );
        }
        if self.approvals.timeout_s == 0 || self.approvals.timeout_s > 24 * 3600 {
            return bad(
                "approvals.timeout_s",
                format!(
                    "{} is out of range; use 1 to 86400 seconds (default 600)",
                    self.approvals.timeout_s
                ),
            );
        }
        if let Err(e) = self.notify.default_level.parse::<NotifyLevel>() {
            return bad("notify.default_level", e);
        }
        if self.notify.quiet_after_s == 0 || self.notify.idle_stop_s < self.notify.quiet_after_s {
            return bad(
                "notify.quiet_after_s/idle_stop_s",
                "quiet_after_s must be at least 1 and idle_stop_s at least quiet_after_s (defaults 20 and 600)".into(),
            );
        }
        let url = &self.telegram.api_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return bad(
                "telegram.api_url",
                format!("{url:?} is not an http(s) URL; use e.g. \"https://api.telegram.org\""),
            );
        }
        if let Some(u) = self
            .telegram
            .viewers
            .iter()
            .find(|u| self.telegram.allowed_users.contains(u))
        {
            return bad(
                "telegram.viewers",
                format!("user {u} is both allowed and a viewer; keep it in one list"),
            );
        }
        for (name, p) in &self.presets {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return bad(
                    &format!("presets.{name}"),
                    "preset names use letters, digits, '-' and '_'".into(),
                );
            }
            if p.command.iter().any(|a| a.is_empty()) && p.command.len() == 1 {
                return bad(
                    &format!("presets.{name}.command"),
                    "the command is an empty string".into(),
                );
            }
            if let Some(profile) = &p.sandbox {
                if let Err(message) = self.check_profile(profile) {
                    return bad(&format!("presets.{name}.sandbox"), message);
                }
            }
        }
        self.validate_sandbox()
    }

    /// `name` is a built-in or a `[sandbox.profiles.NAME]`.
    fn check_profile(&self, name: &str) -> Result<(), String> {
        self.sandbox.profile(name).map(|_| ()).map_err(|_| {
            let custom: Vec<&str> = self.sandbox.profiles.keys().map(String::as_str).collect();
            format!(
                "there is no sandbox profile {name:?}; use off, workspace, readonly{}{} or add a [sandbox.profiles.{name}] table",
                if custom.is_empty() { "" } else { ", " },
                custom.join(", ")
            )
        })
    }

    fn validate_sandbox(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, message: String| {
            Err(ConfigError::Invalid {
                field: field.into(),
                message,
            })
        };
        let s = &self.sandbox;
        if let Err(message) = self.check_profile(&s.default_profile) {
            return bad("sandbox.default_profile", message);
        }
        if s.ask_timeout_secs == 0 || s.ask_timeout_secs > 3600 {
            return bad(
                "sandbox.ask_timeout_secs",
                format!(
                    "{} is out of range; use 1 to 3600 seconds (default 120)",
                    s.ask_timeout_secs
                ),
            );
        }
        for (name, p) in &s.profiles {
            // A table named like a built-in extends it (the network card's "always" writes
            // `[sandbox.profiles.workspace] base = "workspace"`); it cannot change its base.
            let builtin = walkie_sandbox::Profile::builtin(name);
            if builtin.is_some_and(|b| b.base != p.base) {
                return bad(
                    &format!("sandbox.profiles.{name}"),
                    format!("{name} is a built-in profile: a table of that name extends it and needs `base = \"{name}\"`; give yours another name to start from another base"),
                );
            }
            if let Some(d) = p.allow_domains.iter().find(|d| {
                d.is_empty()
                    || d.contains(['/', ':', ' '])
                    || d.strip_prefix("*.").unwrap_or(d).contains('*')
            }) {
                return bad(
                    &format!("sandbox.profiles.{name}.allow_domains"),
                    format!("{d:?} is not a domain rule; write \"pypi.org\" or \"*.pythonhosted.org\" (no scheme, port or path)"),
                );
            }
        }
        Ok(())
    }

    /// Checks what `walkie up` needs on top of [`Config::validate`].
    pub fn validate_bot(&self) -> Result<(), ConfigError> {
        if self.telegram.token.is_empty() {
            return Err(ConfigError::Invalid {
                field: "TELEGRAM_BOT_TOKEN".into(),
                message: "is not set; put TELEGRAM_BOT_TOKEN=<token from @BotFather> in .env or the environment".into(),
            });
        }
        if self.telegram.allowed_users.is_empty() {
            return Err(ConfigError::Invalid {
                field: "WALKIE_ALLOWED_USERS".into(),
                message: "is empty; put WALKIE_ALLOWED_USERS=<your numeric Telegram user id> in .env (comma-separated for several)".into(),
            });
        }
        Ok(())
    }

    /// Names of environment variables that must not reach sessions.
    pub fn secret_env_names(&self) -> Vec<String> {
        BUILTIN_SECRET_ENV
            .iter()
            .map(|s| s.to_string())
            .chain(self.secret_env.iter().cloned())
            .collect()
    }

    /// The state directory (SQLite, logs).
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| paths::state_dir(&self.env))
    }

    /// walkie's Copilot plugin (its hooks), which every Copilot session reads: the host keeps
    /// it visible inside a sandbox. Here, not in the console, because the slim `walkie-host`
    /// binary needs the path without linking the console.
    pub fn copilot_plugin_dir(&self) -> PathBuf {
        self.state_dir().join("copilot-plugin")
    }

    /// walkie's own ssh files: its key and its known_hosts (0700; never `~/.ssh`).
    pub fn ssh_dir(&self) -> PathBuf {
        self.state_dir().join("ssh")
    }

    /// The data directory (models).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| paths::data_dir(&self.env))
    }

    /// The host socket path.
    pub fn socket_path(&self) -> PathBuf {
        self.host
            .socket
            .clone()
            .unwrap_or_else(|| paths::socket_path(&self.env, &self.state_dir()))
    }
}

/// The XDG variables seen at load time (kept so that path rules are testable).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvPaths {
    pub xdg_state: Option<PathBuf>,
    pub xdg_data: Option<PathBuf>,
    pub xdg_runtime: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_validate() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn hosts_tables_default_their_fields_and_are_validated() {
        let cfg = Config::from_toml(
            "[hosts.cloud]\nssh = \"me@box:2222\"\n[hosts.lab]\nssh = \"me@lab\"\nagent = true\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        let cloud = &cfg.hosts["cloud"];
        assert_eq!(cloud.bridge, hosts::DEFAULT_BRIDGE);
        assert_eq!((cloud.key.as_ref(), cloud.agent), (None, false));
        assert!(cfg.hosts["lab"].agent);

        let bad = Config::from_toml("[hosts.local]\nssh = \"me@box\"\n").unwrap();
        let e = bad.validate().unwrap_err().to_string();
        assert!(
            e.contains("hosts.local") && e.contains("this machine"),
            "{e}"
        );
        let e = Config::from_toml("[hosts.cloud]\nssh = \"me@box\"\nport = 22\n").unwrap_err();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn env_overrides_file_and_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("walkie.toml");
        std::fs::write(&f, "[host]\nscrollback_bytes = 65536\nkill_grace_ms = 10\n").unwrap();
        let cfg = Config::load_from(
            Some(&f),
            &env(&[
                ("WALKIE_KILL_GRACE_MS", "20"),
                ("WALKIE_ALLOWED_USERS", "1, 2"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.host.scrollback_bytes, 65536);
        assert_eq!(cfg.host.kill_grace_ms, 20);
        assert_eq!(cfg.telegram.allowed_users, vec![1, 2]);
        assert_eq!(cfg.host.cols, 120);
    }

    #[test]
    fn invalid_values_name_the_field() {
        let e = Config::load_from(None, &env(&[("WALKIE_SCROLLBACK_BYTES", "12")])).unwrap_err();
        assert!(e.to_string().contains("host.scrollback_bytes"), "{e}");
        let e = Config::load_from(None, &env(&[("WALKIE_ALLOWED_USERS", "me")])).unwrap_err();
        assert!(e.to_string().contains("WALKIE_ALLOWED_USERS"), "{e}");
        let e = Config::from_toml("[host]\ncolz = 3\n").unwrap_err();
        assert!(e.contains("colz"), "{e}");
        let cfg = Config::from_toml("[transcription]\nbeam_size = 0\n").unwrap();
        let e = cfg.validate().unwrap_err().to_string();
        assert!(
            e.contains("transcription.beam_size") && e.contains("1 (greedy)"),
            "{e}"
        );
        let cfg = Config::from_toml("[telegram]\nwatch_s = 2\n").unwrap();
        let e = cfg.validate().unwrap_err().to_string();
        assert!(
            e.contains("telegram.watch_s") && e.contains("5 to 14400"),
            "{e}"
        );
        let cfg = Config::load_from(None, &env(&[("WALKIE_WATCH_S", "60")])).unwrap();
        assert_eq!(cfg.telegram.watch_s, 60);
        assert_eq!(Config::default().telegram.watch_s, 900);
    }

    #[test]
    fn example_config_parses_and_validates() {
        let text = include_str!("../walkie.example.toml");
        let cfg = Config::from_toml(text).unwrap();
        cfg.validate().unwrap();
    }

    #[test]
    fn secret_never_prints() {
        let mut cfg = Config::default();
        cfg.telegram.token = Secret::new("123:ABC");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("123:ABC"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn bot_needs_token_and_allowlist() {
        let cfg = Config::default();
        let e = cfg.validate_bot().unwrap_err().to_string();
        assert!(
            e.contains("TELEGRAM_BOT_TOKEN") && e.contains(".env"),
            "{e}"
        );
    }

    #[test]
    fn paths_follow_xdg_and_overrides() {
        let cfg = Config::load_from(
            None,
            &env(&[
                ("XDG_STATE_HOME", "/s"),
                ("XDG_RUNTIME_DIR", "/r"),
                ("HOME", "/h"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.state_dir(), PathBuf::from("/s/walkie"));
        assert_eq!(cfg.socket_path(), PathBuf::from("/r/walkie/host.sock"));
        let cfg =
            Config::load_from(None, &env(&[("HOME", "/h"), ("WALKIE_STATE_DIR", "/x")])).unwrap();
        assert_eq!(cfg.state_dir(), PathBuf::from("/x"));
        assert_eq!(cfg.socket_path(), PathBuf::from("/x/host.sock"));
        assert_eq!(cfg.data_dir(), PathBuf::from("/h/.local/share/walkie"));
    }

    #[test]
    fn a_partial_preset_keeps_the_builtin_fields_and_the_other_presets() {
        let cfg =
            Config::from_toml("[presets.claude]\nenv = { ANTHROPIC_BASE_URL = \"http://x\" }\n")
                .unwrap();
        let claude = &cfg.presets["claude"];
        assert_eq!(claude.command, ["claude"]);
        assert_eq!(claude.env["ANTHROPIC_BASE_URL"], "http://x");
        assert_eq!(cfg.presets["codex"].command, ["codex"]);
        assert!(cfg.presets.contains_key("shell"));
    }

    #[test]
    fn presets_are_added_replaced_field_by_field_or_removed() {
        let cfg = Config::from_toml(
            "[presets.codex]\nremove = true\n\n[presets.api]\ncommand = [\"claude\", \"-c\"]\ncwd = \"/srv/api\"\n\n[presets.claude]\ncommand = [\"/opt/claude\"]\nauto_allow = [\"ls\"]\n",
        )
        .unwrap();
        assert!(!cfg.presets.contains_key("codex"));
        assert_eq!(cfg.presets["api"].command, ["claude", "-c"]);
        assert_eq!(
            cfg.presets["api"].cwd.as_deref(),
            Some(Path::new("/srv/api"))
        );
        assert_eq!(cfg.presets["claude"].command, ["/opt/claude"]);
        assert_eq!(cfg.presets["claude"].auto_allow, ["ls"]);
        assert_eq!(cfg.presets["shell"], builtin_presets()["shell"]);
        // No [presets] at all: the built-ins.
        assert_eq!(Config::from_toml("").unwrap().presets, builtin_presets());
        // A misspelt field is an error, not a silently ignored line.
        assert!(Config::from_toml("[presets.claude]\nenvs = {}\n").is_err());
    }
}
