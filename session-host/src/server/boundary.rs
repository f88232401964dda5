//! Sessions' boundaries (issue 17), following `walkie-sandbox`'s "Wiring": the machine's
//! preflight (once, at host start), each session's profile resolved into a [`Boundary`] and a
//! [`Mechanism`], the trampoline argv the PTY runs, one allowlist [`Proxy`] per session whose
//! off-list connections become asks for the phone, and the boundary as reported for the card.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use walkie_host_proto::ask::{Agent, AskPayload, Decision, NetworkScope};
use walkie_host_proto::sandbox::{BlockedAttempt, BoundaryInfo, NetworkMode, Widen};
use walkie_sandbox::{
    AgentDirs, Boundary, FileBase, Mechanism, Plan, Preflight, Proxy, ProxyOptions, SandboxConfig,
    SessionPaths, Unasked,
};

use super::broker::{AskEnd, Broker};
use crate::session::Spawn;

/// How the host confines sessions: `[sandbox]` of the configuration and walkie's binary (the
/// trampoline `walkie sandbox-exec` / `sandbox-inner`).
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    pub config: SandboxConfig,
    /// walkie's binary; `None` is this process's (the `walkie host` that runs).
    pub exe: Option<PathBuf>,
    /// walkie's own files a session reads, kept visible (read-only) even where the boundary
    /// hides them (the Copilot plugin with walkie's hooks, when the state dir is under /tmp).
    pub visible: Vec<PathBuf>,
    /// Saves an "always" answer of the network card in walkie's own configuration (the
    /// binary writes walkie.toml; this crate knows no config file).
    pub save_always: Option<SaveAlways>,
}

/// Adds domain `.1` to profile `.0` in walkie's configuration; the answer names the file
/// changed, the error says why nothing was. Blocking: called off the runtime.
#[derive(Clone)]
pub struct SaveAlways(pub Arc<SaveFn>);

/// `(profile, domain)` → the file changed, or why nothing was.
pub type SaveFn = dyn Fn(&str, &str) -> Result<PathBuf, String> + Send + Sync;

impl std::fmt::Debug for SaveAlways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaveAlways")
    }
}

/// Variable names that carry credentials, shown on the card by name (never by value).
const CREDENTIAL_MARKERS: &[&str] = &["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH"];

/// One running session's boundary.
struct Live {
    boundary: Boundary,
    mechanism: Mechanism,
    /// Kept as long as the session; dropping it removes its socket.
    proxy: Option<Proxy>,
    credentials: Vec<String>,
    agent_mode: Option<String>,
    notes: Vec<String>,
}

pub(super) struct Sandboxes {
    config: SandboxConfig,
    preflight: Preflight,
    exe: Option<PathBuf>,
    /// Where the per-session proxy sockets live (the host socket's 0700 directory).
    proxy_dir: PathBuf,
    /// The host's socket, kept visible inside (agents' approval hooks connect to it).
    socket: PathBuf,
    /// [`SandboxOptions::visible`].
    visible: Vec<PathBuf>,
    broker: Arc<Broker>,
    live: Mutex<HashMap<String, Live>>,
    /// Domains answered "always" since the host started, by profile: new sessions of the
    /// profile get them at once (the file keeps them for the next start of the host).
    always: Arc<Mutex<HashMap<String, Vec<String>>>>,
    save_always: Option<SaveAlways>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Single inserts and removes: a panic elsewhere cannot leave the map half-changed.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandboxes {
    /// Runs the preflight off the runtime (it starts bwrap once) and logs what it found.
    pub async fn start(options: SandboxOptions, socket: PathBuf, broker: Arc<Broker>) -> Self {
        let proxy_dir = socket
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let bwrap = options
            .config
            .bwrap
            .clone()
            .unwrap_or_else(|| PathBuf::from("bwrap"));
        let preflight = tokio::task::spawn_blocking(move || walkie_sandbox::preflight(&bwrap))
            .await
            .unwrap_or_else(|e| {
                tracing::error!("the sandbox preflight failed: {e}");
                walkie_sandbox::preflight(Path::new("/nonexistent/bwrap"))
            });
        let mechanism = preflight.mechanism();
        for line in preflight.lines() {
            tracing::info!(?mechanism, "sandbox preflight: {line}");
        }
        // Taken now: after an upgrade replaces the binary, this process's own link reads
        // "walkie (deleted)", while the path still names a walkie.
        let exe = options.exe.or_else(|| std::env::current_exe().ok());
        Sandboxes {
            config: options.config,
            preflight,
            exe,
            proxy_dir,
            socket,
            visible: options.visible,
            broker,
            live: Mutex::new(HashMap::new()),
            always: Arc::default(),
            save_always: options.save_always,
        }
    }

    /// Sandboxes for the unit tests: profile `off` unless a test names one, no bwrap.
    #[cfg(test)]
    pub fn for_tests(dir: &Path) -> Sandboxes {
        Sandboxes {
            config: SandboxConfig::default(),
            preflight: walkie_sandbox::preflight(Path::new("/nonexistent/bwrap")),
            exe: None,
            proxy_dir: dir.to_path_buf(),
            socket: dir.join("host.sock"),
            visible: vec![],
            broker: Arc::new(Broker::new(1)),
            live: Mutex::new(HashMap::new()),
            always: Arc::default(),
            save_always: None,
        }
    }

    /// What the PTY runs for `spawn`: `None` to run its command as is (profile `off` with an
    /// open network), else the trampoline argv. An error is the reason the session may not
    /// start (an unknown profile, `sandbox.required` on a machine that cannot enforce it).
    pub async fn prepare(&self, spawn: &Spawn) -> Result<Option<Vec<String>>, String> {
        let name = spawn.name.to_string();
        let profile_name = spawn
            .revival
            .sandbox
            .clone()
            .unwrap_or_else(|| self.config.default_profile.clone());
        let mut profile = self.config.profile(&profile_name).map_err(|_| {
            format!(
                "there is no sandbox profile {profile_name:?}; use off, workspace, readonly or one of [sandbox.profiles]"
            )
        })?;
        if let Some(network) = spawn.revival.network {
            profile.network = Some(network);
        }
        if let Some(extra) = lock(&self.always).get(&profile_name) {
            for d in extra {
                if !profile.allow_domains.contains(d) {
                    profile.allow_domains.push(d.clone());
                }
            }
        }
        let home = env_of(spawn, "HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let mut agent = agent_dirs(spawn, &home);
        // Codex keeps its API endpoints in its home's config.toml (read for the allowlist).
        let codex_home = agent.sandboxes_itself;
        // An agent that sandboxes itself (Codex's bwrap) cannot do so inside walkie's boundary
        // (no CAP_SETFCAP for its uid map as root; Landlock forbids its mounts as anyone):
        // walkie's boundary replaces its own, so the Landlock layer stays on.
        let replace_own = agent.sandboxes_itself
            && !(profile.base == FileBase::Off && profile.network() == NetworkMode::Open)
            && codex_at(&spawn.command).is_some();
        if replace_own {
            agent.sandboxes_itself = false;
        }
        let mut notes = Vec::new();
        notes.extend(claude_state_note(spawn));
        if profile.base == FileBase::Off && profile.network() == NetworkMode::Open {
            self.remember(
                &name,
                spawn,
                unconfined(&profile_name, &spawn.cwd),
                Mechanism::Off,
                None,
                notes,
            );
            return Ok(None);
        }
        // The API endpoints the session is configured with are its agent's API hosts: on the
        // allowlist. One on the host's loopback is reached through the proxy, as the
        // sandbox's own loopback is another one.
        let loopback_api = api_hosts(spawn, &agent, codex_home, &mut profile.allow_domains);
        for d in agent_api_domains(agent_of(spawn)) {
            if !profile.allow_domains.iter().any(|a| a == d) {
                profile.allow_domains.push(d.to_string());
            }
        }
        let paths = SessionPaths {
            cwd: spawn.cwd.clone(),
            home,
            agent: agent.clone(),
        };
        let boundary = tokio::task::spawn_blocking(move || profile.resolve(&paths))
            .await
            .map_err(|e| format!("resolving the sandbox failed: {e}"))?
            .map_err(|e| format!("the sandbox cannot be set up: {e}"))?;
        let mechanism = self.preflight.mechanism_for(&boundary, &agent);
        if self.config.required {
            let cannot = match mechanism {
                Mechanism::Off => true,
                // bwrap is missing or broken although user namespaces work: that is fixable,
                // not the Landlock-only case of a machine that blocks user namespaces.
                Mechanism::LandlockOnly => self.preflight.user_namespaces.ok,
                Mechanism::Bwrap { .. } => false,
            };
            if cannot {
                return Err(format!(
                    "sandbox.required is set and this machine cannot enforce the {} boundary, so the session was not started:\n{}",
                    boundary.profile,
                    self.preflight.lines().join("\n")
                ));
            }
        }
        match mechanism {
            Mechanism::Off => {
                notes.push("not enforced: this machine has neither a usable bwrap nor Landlock (set sandbox.required = true to refuse such starts)".into());
                notes.extend(self.preflight.lines());
                tracing::warn!(
                    session = name,
                    "starting unsandboxed: no mechanism available"
                );
                self.remember(&name, spawn, boundary, mechanism, None, notes);
                return Ok(None);
            }
            Mechanism::LandlockOnly => {
                notes.push("Landlock only (bwrap cannot run here):".into());
                notes.extend(walkie_sandbox::landlock_layer::Limits::landlock_only(
                    &boundary,
                ));
                notes.extend(self.preflight.lines());
            }
            Mechanism::Bwrap { landlock, .. } => {
                if !landlock {
                    notes.push(if agent.sandboxes_itself {
                        "no Landlock layer: the agent runs its own bwrap sandbox, which Landlock would break".into()
                    } else {
                        "no Landlock layer: this kernel has none".into()
                    });
                }
            }
        }
        let proxy = match (mechanism, boundary.network) {
            (Mechanism::Bwrap { .. }, NetworkMode::Allowlist) => {
                let unasked = agent_unasked_domains(agent_of(spawn), &boundary.allow_domains);
                for u in &unasked {
                    notes.push(format!(
                        "network: {} is denied without asking ({}); Allow domain lets it through",
                        u.rule, u.why
                    ));
                }
                Some(self.proxy(&name, &spawn.cwd, &boundary, unasked).await?)
            }
            _ => None,
        };
        let exe = match &self.exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe()
                .map_err(|e| format!("cannot find walkie's own binary for the sandbox: {e}"))?,
        };
        let exe = exe.to_string_lossy().into_owned();
        let mut command = if spawn.command.is_empty() {
            vec![std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())]
        } else {
            spawn.command.clone()
        };
        if replace_own {
            if let Some(at) = codex_at(&command) {
                // A command-line override: the user's ~/.codex is never written.
                command.splice(
                    at + 1..at + 1,
                    CODEX_NO_OWN_SANDBOX.iter().map(|a| a.to_string()),
                );
                notes.push(format!(
                    "agent's own sandbox: replaced by walkie's (codex {})",
                    CODEX_NO_OWN_SANDBOX.join(" ")
                ));
                // Codex 0.169.0 has no policy that asks before every command ("untrusted" is
                // gone); under on-request with no sandbox of its own it would ask about none.
                notes.push("agent's own permission mode: Codex runs commands without asking inside walkie's boundary, so walkie's PreToolUse hook asks the phone before each shell command (a preset's hooks; a plain `codex` command has none)".into());
            }
        }
        let plan = Plan {
            mechanism,
            boundary: boundary.clone(),
            command,
            inner: vec![exe.clone(), "sandbox-inner".into()],
            proxy_socket: proxy.as_ref().map(|p| p.socket().to_path_buf()),
            bwrap: self.preflight.bwrap_path.clone(),
            proxy_loopback: loopback_api,
            keep_visible: [self.socket.clone()]
                .into_iter()
                .chain(self.visible.iter().cloned())
                .collect(),
        };
        tracing::info!(session = name, profile = boundary.profile, ?mechanism, network = %boundary.network, "sandboxed");
        self.remember(&name, spawn, boundary, mechanism, proxy, notes);
        Ok(Some(vec![exe, "sandbox-exec".into(), plan.encode()]))
    }

    async fn proxy(
        &self,
        name: &str,
        cwd: &Path,
        boundary: &Boundary,
        unasked: Vec<Unasked>,
    ) -> Result<Proxy, String> {
        let socket = self.proxy_dir.join(format!("proxy-{name}.sock"));
        if socket.as_os_str().len() > 100 {
            return Err(format!(
                "the proxy socket {} is too long for a Unix socket; choose a shorter host.socket",
                socket.display()
            ));
        }
        let broker = self.broker.clone();
        let session = name.to_string();
        let cwd = cwd.display().to_string();
        let profile = boundary.profile.clone();
        let always = self.always.clone();
        let save = self.save_always.clone();
        let timeout_ms = self.config.ask_timeout_secs.saturating_mul(1000);
        let decide: walkie_sandbox::Decide = Arc::new(move |req| {
            let (broker, session, cwd, profile) = (
                broker.clone(),
                session.clone(),
                cwd.clone(),
                profile.clone(),
            );
            let (always, save) = (always.clone(), save.clone());
            Box::pin(async move {
                let payload = AskPayload::Network {
                    host: req.host.clone(),
                    port: req.port,
                    profile: profile.clone(),
                    cwd,
                };
                let ticket = broker.open(&session, payload, timeout_ms);
                let (host, port) = (req.host.as_str(), req.port);
                match broker.wait(ticket, std::future::pending()).await {
                    AskEnd::Decided(Decision::Allow) => {
                        tracing::info!(session, host, port, "network: allowed once");
                        walkie_sandbox::Decision::AllowOnce
                    }
                    AskEnd::Decided(Decision::AllowNetwork {
                        scope: NetworkScope::Session,
                    }) => {
                        tracing::info!(session, host, port, "network: allowed for the session");
                        walkie_sandbox::Decision::AllowSession
                    }
                    AskEnd::Decided(Decision::AllowNetwork {
                        scope: NetworkScope::Always,
                    }) => {
                        {
                            let mut always = lock(&always);
                            let list = always.entry(profile.clone()).or_default();
                            if !list.iter().any(|d| d == host) {
                                list.push(host.to_string());
                            }
                        }
                        // The file is written off the runtime; the connection goes through
                        // whatever happens to it (the live rules have it already).
                        let saved = match save {
                            Some(SaveAlways(f)) => {
                                let (p, h) = (profile.clone(), host.to_string());
                                tokio::task::spawn_blocking(move || f(&p, &h))
                                    .await
                                    .unwrap_or_else(|e| Err(e.to_string()))
                                    .map(|p| p.display().to_string())
                            }
                            None => Err("no configuration file to save it in".into()),
                        };
                        match saved {
                            Ok(file) => tracing::info!(
                                session,
                                host,
                                port,
                                profile,
                                file,
                                "network: always allowed, added to the profile"
                            ),
                            Err(e) => tracing::warn!(
                                session,
                                host,
                                port,
                                profile,
                                "network: always allowed for this host's run, but not saved: {e}"
                            ),
                        }
                        walkie_sandbox::Decision::Always
                    }
                    AskEnd::Timeout => {
                        tracing::info!(session, host, port, "network: no answer in time, denied");
                        walkie_sandbox::Decision::NoAnswer
                    }
                    AskEnd::Decided(Decision::Deny { reason }) => {
                        tracing::info!(session, host, port, reason, "network: denied");
                        walkie_sandbox::Decision::Deny { reason }
                    }
                    end => {
                        tracing::info!(session, host, port, ?end, "network: denied");
                        walkie_sandbox::Decision::Deny {
                            reason: "denied (the ask ended without an answer)".into(),
                        }
                    }
                }
            })
        });
        let resolver = self
            .config
            .resolve
            .iter()
            .fold(walkie_sandbox::Resolver::default(), |r, (name, ip)| {
                r.with_override(name, *ip)
            });
        let options = ProxyOptions {
            allow: boundary.allow_domains.clone(),
            unasked,
            ask_timeout: std::time::Duration::from_millis(timeout_ms),
            resolver,
            ..ProxyOptions::default()
        };
        Proxy::bind(&socket, options, decide)
            .await
            .map_err(|e| format!("cannot start the session's network proxy: {e}"))
    }

    fn remember(
        &self,
        name: &str,
        spawn: &Spawn,
        boundary: Boundary,
        mechanism: Mechanism,
        proxy: Option<Proxy>,
        notes: Vec<String>,
    ) {
        let mut credentials: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .chain(spawn.env.iter().map(|(k, _)| k.clone()))
            .filter(|k| {
                CREDENTIAL_MARKERS
                    .iter()
                    .any(|m| k.to_ascii_uppercase().contains(m))
            })
            .collect();
        credentials.sort();
        credentials.dedup();
        let live = Live {
            boundary,
            mechanism,
            proxy,
            credentials,
            agent_mode: agent_mode(&spawn.command),
            notes,
        };
        lock(&self.live).insert(name.to_string(), live);
    }

    /// Widens a running session's network rules live; the error says why nothing changed.
    pub fn widen(&self, name: &str, change: &Widen, by: &str) -> Result<(), String> {
        let mut live = lock(&self.live);
        let Some(l) = live.get_mut(name) else {
            return Err(format!("session {name} is not running"));
        };
        let Some(proxy) = &l.proxy else {
            return Err(match l.boundary.network {
                NetworkMode::Open => format!("{name}'s network is open already"),
                NetworkMode::Off => format!(
                    "{name} has no network (off); start it again with --network allowlist or open"
                ),
                NetworkMode::Allowlist => format!(
                    "{name} has no proxy (not sandboxed by bwrap), so there is nothing to widen"
                ),
            });
        };
        let rule = match change {
            Widen::AllowDomain { domain } => domain.trim().to_ascii_lowercase(),
            Widen::OpenNetwork => "*".to_string(),
        };
        if rule.is_empty() || rule.contains(['/', ' ', ':']) {
            return Err(format!(
                "{rule:?} is not a domain; write e.g. pypi.org or *.pythonhosted.org"
            ));
        }
        proxy.allow_domain(&rule);
        tracing::info!(session = name, rule, by, "network widened");
        l.notes.push(match change {
            Widen::OpenNetwork => format!("every domain let through the proxy (by {by})"),
            Widen::AllowDomain { .. } => format!("{rule} allowed (by {by})"),
        });
        Ok(())
    }

    /// The session's proxy and boundary go with it.
    pub fn ended(&self, name: &str) {
        lock(&self.live).remove(name);
    }

    /// The boundary card's content, `None` for a session this host did not start.
    pub fn info(&self, name: &str, credentials_removed: &[String]) -> Option<BoundaryInfo> {
        let live = lock(&self.live);
        let l = live.get(name)?;
        let b = &l.boundary;
        let mut deny_read = b.deny_dirs.clone();
        deny_read.extend(b.deny_files.iter().cloned());
        let (allow_domains, blocked, waiting) = match &l.proxy {
            Some(p) => (
                p.allowed(),
                p.blocked()
                    .into_iter()
                    .map(|x| BlockedAttempt {
                        at_ms: x
                            .at
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_millis() as u64)
                            .unwrap_or(0),
                        host: x.host,
                        port: x.port,
                        reason: x.reason,
                    })
                    .collect(),
                p.waiting(),
            ),
            None => (b.allow_domains.clone(), Vec::new(), 0),
        };
        let mut notes = l.notes.clone();
        notes.extend(b.notes.iter().cloned());
        Some(BoundaryInfo {
            session: name.to_string(),
            profile: b.profile.clone(),
            mechanism: mechanism_label(l.mechanism).into(),
            enforced: l.mechanism != Mechanism::Off && (b.files || b.network != NetworkMode::Open),
            write: b.write.clone(),
            deny_read,
            protected: b.protected.clone(),
            network: b.network,
            allow_domains,
            credentials: l
                .credentials
                .iter()
                .filter(|c| !credentials_removed.contains(c))
                .cloned()
                .collect(),
            agent_mode: l.agent_mode.clone(),
            blocked,
            waiting,
            notes,
        })
    }
}

fn mechanism_label(m: Mechanism) -> &'static str {
    match m {
        Mechanism::Off => "none",
        Mechanism::Bwrap { landlock: true, .. } => "bubblewrap + seccomp + Landlock",
        Mechanism::Bwrap {
            landlock: false, ..
        } => "bubblewrap + seccomp",
        Mechanism::LandlockOnly => "Landlock + seccomp only",
    }
}

/// The boundary of an unconfined session, for its card.
fn unconfined(profile: &str, cwd: &Path) -> Boundary {
    Boundary {
        profile: profile.to_string(),
        files: false,
        cwd: cwd.to_path_buf(),
        write: Vec::new(),
        deny_dirs: Vec::new(),
        deny_files: Vec::new(),
        protected: Vec::new(),
        network: NetworkMode::Open,
        allow_domains: Vec::new(),
        notes: Vec::new(),
    }
}

/// Codex's own sandbox off, for a Codex inside walkie's boundary (which takes its place).
const CODEX_NO_OWN_SANDBOX: &[&str] = &["-c", "sandbox_mode=\"danger-full-access\""];

/// Where Codex's program is in `command`: its first word named `codex` (`npx codex`,
/// `env X=1 codex` count, as for the presets).
fn codex_at(command: &[String]) -> Option<usize> {
    command
        .iter()
        .position(|w| Path::new(w).file_name().and_then(|n| n.to_str()) == Some("codex"))
}

fn env_of<'a>(spawn: &'a Spawn, key: &str) -> Option<&'a str> {
    spawn
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The agent a session runs: the one its hooks reported, else its program's name.
fn agent_of(spawn: &Spawn) -> Option<Agent> {
    let program = spawn
        .revival
        .launch
        .first()
        .or(spawn.command.first())
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    match (spawn.revival.agent, program.as_str()) {
        (Some(a), _) => Some(a),
        (_, "claude") => Some(Agent::ClaudeCode),
        (_, "codex") => Some(Agent::Codex),
        (_, "copilot") => Some(Agent::Copilot),
        _ => None,
    }
}

/// The hosts each agent's own service answers on (model API, login refresh), on the
/// allowlist of its sessions like the hosts of its `*_BASE_URL` variables: an agent preset's
/// default boundary must not ask the phone before the agent's first request.
fn agent_api_domains(agent: Option<Agent>) -> &'static [&'static str] {
    match agent {
        Some(Agent::ClaudeCode) => &["api.anthropic.com", "console.anthropic.com"],
        Some(Agent::Codex) => &["api.openai.com", "chatgpt.com", "auth.openai.com"],
        Some(Agent::Copilot) => &[
            "api.githubcopilot.com",
            "*.githubcopilot.com",
            "api.github.com",
        ],
        None => &[],
    }
}

/// What the agent fetches by itself and does without, denied without asking so that no card
/// comes at every start: Codex 0.169 fetches its announcement tip from GitHub at each start
/// (no setting stops it, shared/tools/agents/README.md "Network"). A profile that allows the
/// domain (or `*`) keeps it allowed.
fn agent_unasked_domains(agent: Option<Agent>, allow: &[String]) -> Vec<Unasked> {
    let list: &[(&str, &str)] = match agent {
        Some(Agent::Codex) => &[(
            "raw.githubusercontent.com",
            "Codex fetches its announcement tip there at every start",
        )],
        _ => &[],
    };
    list.iter()
        .filter(|(rule, _)| {
            !allow
                .iter()
                .any(|a| walkie_sandbox::proxy::domain_matches(a, rule))
        })
        .map(|(rule, why)| Unasked {
            rule: rule.to_string(),
            why: why.to_string(),
        })
        .collect()
}

/// The agent's own state and protected files, by the agent the command runs.
fn agent_dirs(spawn: &Spawn, home: &Path) -> AgentDirs {
    match agent_of(spawn) {
        Some(Agent::ClaudeCode) => {
            AgentDirs::claude_in(home, env_of(spawn, "CLAUDE_CONFIG_DIR").map(Path::new))
        }
        Some(Agent::Codex) => AgentDirs::codex(home, env_of(spawn, "CODEX_HOME").map(Path::new)),
        Some(Agent::Copilot) => {
            let state = env_of(spawn, "COPILOT_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".copilot"));
            // Copilot unpacks its bundled package into its cache on start; the directory is
            // made here (empty, Copilot's own) because only existing paths can be bound.
            let cache = env_of(spawn, "XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".cache"))
                .join("copilot");
            if let Err(e) = std::fs::create_dir_all(&cache) {
                tracing::warn!(cache = %cache.display(), "cannot make Copilot's cache: {e}");
            }
            AgentDirs {
                protected: vec![state.join("hooks"), state.join("agents")],
                state: vec![state, cache],
                sandboxes_itself: false,
            }
        }
        _ => AgentDirs::default(),
    }
}

/// The card's word on where a Claude session keeps its state, when that is walkie's copy of
/// `~/.claude` (`CLAUDE_CONFIG_DIR` under the bot's `claude-home`): Claude saves its state
/// there, since the user's `~/.claude.json` is read-only inside a boundary.
fn claude_state_note(spawn: &Spawn) -> Option<String> {
    let dir = Path::new(env_of(spawn, "CLAUDE_CONFIG_DIR")?);
    let parent = dir.parent()?.file_name()?;
    (parent == walkie_host_proto::sandbox::CLAUDE_HOME_DIR).then(|| {
        format!(
            "agent state: walkie's copy of ~/.claude ({}): its .claude.json seeded from yours at each start, your entries (settings, credentials, projects, agents, commands) linked",
            dir.display()
        )
    })
}

/// Adds the agent's API hosts to `allow`: those of the session's `*_BASE_URL` variables and
/// the `base_url`s of a Codex home's `config.toml` (its model providers). True when one of
/// them is on loopback (reached through the proxy, since the sandbox's loopback is its own).
fn api_hosts(spawn: &Spawn, agent: &AgentDirs, codex_home: bool, allow: &mut Vec<String>) -> bool {
    let mut urls: Vec<String> = spawn
        .env
        .iter()
        .filter(|(k, _)| k.ends_with("BASE_URL"))
        .map(|(_, v)| v.clone())
        .collect();
    if codex_home {
        // Codex: the state dir is its home; a line scan of `base_url = "..."` is enough (the
        // value is one TOML string on one line in every config Codex writes or documents).
        for dir in &agent.state {
            let Ok(text) = std::fs::read_to_string(dir.join("config.toml")) else {
                continue;
            };
            for line in text.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                if key.trim().ends_with("base_url") {
                    urls.push(value.trim().trim_matches(['"', '\'']).to_string());
                }
            }
        }
    }
    let mut loopback = false;
    for url in &urls {
        let Some(host) = url_host(url) else {
            continue;
        };
        if host == "127.0.0.1" || host == "localhost" || host == "::1" {
            loopback = true;
        }
        if !allow.iter().any(|a| a == host) {
            allow.push(host.to_string());
        }
    }
    loopback
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.split(':').next().unwrap_or(authority)).filter(|h| !h.is_empty())
}

/// The agent's own permission mode as its command line sets it.
fn agent_mode(command: &[String]) -> Option<String> {
    let mut it = command.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dangerously-skip-permissions"
            | "--dangerously-bypass-approvals-and-sandbox"
            | "--yolo" => return Some(a.trim_start_matches('-').to_string()),
            "--permission-mode" | "--ask-for-approval" | "-a" | "--sandbox" | "-s" => {
                return it.next().map(|v| format!("{a} {v}"))
            }
            _ => {}
        }
    }
    let program = command.first().map(|p| {
        Path::new(p)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    });
    matches!(program.as_deref(), Some("claude" | "codex" | "copilot"))
        .then(|| "default".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_and_agent_modes() {
        assert_eq!(url_host("http://127.0.0.1:8080/v1"), Some("127.0.0.1"));
        assert_eq!(
            url_host("https://u:p@api.example.com"),
            Some("api.example.com")
        );
        assert_eq!(url_host("http://[::1]:5/x"), Some("::1"));
        assert_eq!(url_host("nonsense"), None);
        let w = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            agent_mode(&w(&["claude", "--permission-mode", "plan"])).as_deref(),
            Some("--permission-mode plan")
        );
        assert_eq!(agent_mode(&w(&["codex"])).as_deref(), Some("default"));
        assert_eq!(agent_mode(&w(&["bash"])), None);
    }
}
