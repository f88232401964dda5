//! Test support: the real agent CLIs (Claude Code, Codex, Copilot CLI) run offline against the
//! scripted fake model `fake_llm.py` from `../shared/tools/agents` (see its README.md and
//! docs/AGENTS.md).
//!
//! - [`Agent`] finds an installed CLI: `WALKIE_TEST_CLAUDE` / `WALKIE_TEST_CODEX` /
//!   `WALKIE_TEST_COPILOT`, else `target/agents/node_modules/.bin/<name>` (installed by
//!   `.ci/agents`).
//! - [`FakeLlm`] runs `fake_llm.py` on 127.0.0.1 (port 0, read back), stopped on drop. When the
//!   machine allows it (`unshare -n` and `ip`), the fake lives in a private network namespace with
//!   only loopback, and [`FakeLlm::netns_prefix`] gives the `nsenter` argv that puts an agent in
//!   the same namespace: the agent can then reach nothing but the fake.
//! - [`AgentHome`] is a scratch HOME for one agent with the environment from the README (base URL,
//!   fake credentials, no telemetry or auto-update) and the first-run dialogs a real new user meets
//!   left configurable ([`Setup`]), since walkie has to turn those dialogs into cards.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::host::{wait_for, TestHost};

/// The workspace root (this package is `bot/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bot/ has a parent")
        .to_path_buf()
}

/// `../shared/tools/agents` (read-only in CI): `fake_llm.py`, hooks, the pinned package files.
/// `WALKIE_AGENTS_SRC` overrides it, as for `.ci/agents`.
pub fn agents_src() -> PathBuf {
    std::env::var_os("WALKIE_AGENTS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/tools/agents"))
}

/// Where `.ci/agents` installs the CLIs.
pub fn agents_install_dir() -> PathBuf {
    workspace_root().join("target/agents")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    Claude,
    Codex,
    Copilot,
}

impl Agent {
    pub const ALL: [Agent; 3] = [Agent::Claude, Agent::Codex, Agent::Copilot];

    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Copilot => "copilot",
        }
    }

    fn env_override(self) -> &'static str {
        match self {
            Agent::Claude => "WALKIE_TEST_CLAUDE",
            Agent::Codex => "WALKIE_TEST_CODEX",
            Agent::Copilot => "WALKIE_TEST_COPILOT",
        }
    }

    /// The installed CLI; panics with how to install it when it is missing.
    pub fn bin(self) -> PathBuf {
        let path = std::env::var_os(self.env_override())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                agents_install_dir()
                    .join("node_modules/.bin")
                    .join(self.name())
            });
        assert!(
            path.exists(),
            "{} CLI not found at {} (install the pinned agents with `bash .ci/agents`, or set {})",
            self.name(),
            path.display(),
            self.env_override()
        );
        path
    }

    /// Whether `screen` shows the agent's input box ready for a prompt (no dialog in front).
    /// Claude and Codex draw `? for shortcuts` under an empty input box; Copilot shows its
    /// permission mode `Manual Approval` in the status line. None of them shows these while a
    /// first-run dialog is up (see docs/AGENTS.md).
    pub fn input_ready(self, screen: &str) -> bool {
        match self {
            Agent::Claude | Agent::Codex => screen.contains("? for shortcuts"),
            Agent::Copilot => screen.contains("Manual Approval"),
        }
    }
}

/// `fake_llm.py` on 127.0.0.1, stopped on drop.
pub struct FakeLlm {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    isolated: bool,
}

impl FakeLlm {
    /// Starts the fake with `scenario` (the JSON the fake's README describes) and waits for its
    /// port. The network namespace is used when available unless `WALKIE_TEST_NO_NETNS` is set.
    pub fn start(scenario: &Value) -> FakeLlm {
        Self::start_in(scenario, netns_available())
    }

    /// The fake for agents in walkie's sandbox (the agent presets' default `workspace`): it
    /// listens on the host's loopback, never in a namespace of its own, because the agent's
    /// isolation is then the sandbox's own network namespace and the only way out is walkie's
    /// allowlist proxy, which runs in the host's namespace and must reach the fake (an
    /// `nsenter` into the fake's namespace cannot work from inside the sandbox either: no
    /// capabilities, and another pid namespace).
    pub fn start_for_sandbox(scenario: &Value) -> FakeLlm {
        Self::start_in(scenario, false)
    }

    fn start_in(scenario: &Value, isolated: bool) -> FakeLlm {
        let dir = tempfile::Builder::new()
            .prefix("fake-llm")
            .tempdir()
            .expect("tempdir");
        let fake = agents_src().join("fake_llm.py");
        assert!(fake.exists(), "{} is missing", fake.display());
        let file = |name: &str| path_string(&dir.path().join(name));
        write_scenario(dir.path(), scenario);
        let args = [
            path_string(&fake),
            "--scenario".into(),
            file("scenario.json"),
            "--port".into(),
            "0".into(),
            "--port-file".into(),
            file("port"),
            "--log".into(),
            file("requests.jsonl"),
            "--log-bodies".into(),
        ];
        let mut cmd = if isolated {
            // unshare and sh exec in place, so the child's pid is the fake's and its
            // /proc/<pid>/ns/net names the namespace for `nsenter`.
            let mut c = Command::new("unshare");
            c.args([
                "-n",
                "sh",
                "-c",
                "ip link set lo up && exec python3 \"$@\"",
                "sh",
            ]);
            c.args(&args);
            c
        } else {
            let mut c = Command::new("python3");
            c.args(&args);
            c
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(
            std::fs::File::create(dir.path().join("stderr"))
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        );
        let child = cmd.spawn().expect("spawn fake_llm.py");
        let port_file = dir.path().join("port");
        let mut this = FakeLlm {
            child,
            port: 0,
            dir,
            isolated,
        };
        this.port = wait_for("fake_llm.py to bind", Duration::from_secs(20), || {
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
        });
        this
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The base URL without `/v1` (Claude Code adds `/v1/messages` itself).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the scenario; the fake re-reads it on every request.
    pub fn set_scenario(&self, scenario: &Value) {
        write_scenario(self.dir.path(), scenario);
    }

    /// Whether agents started with [`Self::netns_prefix`] can reach only this fake.
    pub fn isolated(&self) -> bool {
        self.isolated
    }

    /// The argv prefix that runs a command in the fake's network namespace (empty when the fake
    /// is not isolated).
    pub fn netns_prefix(&self) -> Vec<String> {
        if !self.isolated {
            return Vec::new();
        }
        vec![
            "nsenter".into(),
            format!("--net=/proc/{}/ns/net", self.child.id()),
            "--".into(),
        ]
    }

    /// Every request logged so far, one JSON object each (`method`, `path`, `note`, `body`...).
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The bodies of the agent-loop requests (not title or other side requests) whose body
    /// contains every one of `texts`.
    pub fn main_requests_with(&self, texts: &[&str]) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["note"].as_str().is_some_and(|n| n.contains("main=True")))
            .map(|r| r["body"].clone())
            .filter(|body| {
                let text = body.to_string();
                texts.iter().all(|t| text.contains(t))
            })
            .collect()
    }

    /// Waits until an agent-loop request carries every one of `texts` (a prompt reached the
    /// model; with an earlier prompt too, a resumed agent sent the old conversation).
    pub fn wait_request_with(&self, texts: &[&str], timeout: Duration) -> Value {
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for("a model request with the prompt", timeout, || {
                self.main_requests_with(texts).into_iter().next()
            })
        }));
        found.unwrap_or_else(|_| {
            let seen: Vec<String> = self
                .requests()
                .iter()
                .map(|r| format!("{} {}", r["path"], r["note"]))
                .collect();
            panic!(
                "no model request with {texts:?} within {timeout:?}; requests seen: {seen:#?}; fake stderr: {}",
                std::fs::read_to_string(self.path("stderr")).unwrap_or_default()
            )
        })
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `dir/scenario.json` whole (rename), so the fake never reads half a file.
fn write_scenario(dir: &Path, scenario: &Value) {
    let tmp = dir.join("scenario.json.tmp");
    std::fs::write(&tmp, scenario.to_string()).expect("write scenario");
    std::fs::rename(&tmp, dir.join("scenario.json")).expect("rename scenario");
}

/// Whether a private network namespace with a working loopback can be made here.
fn netns_available() -> bool {
    if std::env::var_os("WALKIE_TEST_NO_NETNS").is_some() {
        return false;
    }
    Command::new("unshare")
        .args(["-n", "ip", "link", "set", "lo", "up"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first-run state of a scratch home. The default is a user who has onboarded but has not
/// trusted the working directory yet.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Pre-accept the folder-trust dialog for the work dir (Claude's `Quick safety check`,
    /// Codex's `Folder access`, Copilot's `Confirm folder trust`).
    pub trust_folder: bool,
    /// Claude only: give the key as `ANTHROPIC_API_KEY` (which brings the `Detected a custom API
    /// key` dialog, default No) instead of `ANTHROPIC_AUTH_TOKEN` (no dialog).
    pub claude_api_key: bool,
}

/// A scratch HOME (and git work dir) for one agent, removed on drop.
pub struct AgentHome {
    pub agent: Agent,
    dir: tempfile::TempDir,
    pub home: PathBuf,
    /// A fresh git repository to run the agent in.
    pub work: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
    netns: Vec<String>,
}

/// The fake key Claude's API-key dialog shows the tail of.
pub const CLAUDE_FAKE_API_KEY: &str = "sk-ant-api03-walkie-test-key-0123456789abcdef";

impl AgentHome {
    pub fn new(agent: Agent, fake: &FakeLlm, setup: &Setup) -> AgentHome {
        // Under /var/tmp: Codex refuses to create its helper links under /tmp.
        let dir = tempfile::Builder::new()
            .prefix("walkie-agent")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let home = dir.path().join("home");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&home).expect("home");
        git_repo(&work);
        let work_s = work.to_str().expect("utf-8 path").to_string();
        let mut env = vec![("HOME".to_string(), path_string(&home))];
        let mut add = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
        let args: Vec<String> = match agent {
            Agent::Claude => {
                let mut projects = serde_json::Map::new();
                if setup.trust_folder {
                    projects.insert(work_s.clone(), json!({"hasTrustDialogAccepted": true}));
                }
                write(
                    &home.join(".claude.json"),
                    &json!({
                        "hasCompletedOnboarding": true,
                        "hasSeenAutoDefaultNudge": true,
                        "hasSeenAutoDefaultNotice": true,
                        "lastReleaseNotesSeen": "2.1.330",
                        "projects": projects,
                    })
                    .to_string(),
                );
                write(
                    &home.join(".claude/settings.json"),
                    &json!({"permissions": {"defaultMode": "default"}}).to_string(),
                );
                // As for anyone who has used Claude: walkie's config directory of a preset links
                // it, so transcripts land in the user's ~/.claude/projects.
                std::fs::create_dir_all(home.join(".claude/projects")).expect("projects");
                add("ANTHROPIC_BASE_URL", &fake.url());
                if setup.claude_api_key {
                    add("ANTHROPIC_API_KEY", CLAUDE_FAKE_API_KEY);
                } else {
                    add("ANTHROPIC_AUTH_TOKEN", "sk-ant-fake-walkie-test");
                }
                add("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
                add("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1");
                add("DISABLE_AUTOUPDATER", "1");
                add("DISABLE_TELEMETRY", "1");
                add("DISABLE_ERROR_REPORTING", "1");
                vec!["--permission-mode".into(), "default".into()]
            }
            Agent::Codex => {
                let codex_home = home.join(".codex");
                let mut config = codex_config(fake.port);
                if setup.trust_folder {
                    config.push_str(&format!(
                        "\n[projects.{}]\ntrust_level = \"trusted\"\n",
                        toml_string(&work_s)
                    ));
                }
                write(&codex_home.join("config.toml"), &config);
                add("CODEX_HOME", &path_string(&codex_home));
                add("FAKE_LLM_API_KEY", "sk-fake-walkie-test");
                // Without it Codex starts a background app-server that outlives the TUI.
                vec!["--no-daemon".into()]
            }
            Agent::Copilot => {
                let copilot_home = home.join(".copilot");
                let trusted: Vec<&str> = if setup.trust_folder {
                    vec![&work_s]
                } else {
                    Vec::new()
                };
                write(
                    &copilot_home.join("config.json"),
                    &json!({
                        "firstLaunchAt": "2026-01-01T00:00:00.000Z",
                        "appTipShown": true,
                        "trustedFolders": trusted,
                    })
                    .to_string(),
                );
                write(
                    &copilot_home.join("settings.json"),
                    &json!({"banner": "never", "showTipsOnStartup": false}).to_string(),
                );
                add("COPILOT_OFFLINE", "true");
                add("COPILOT_AUTO_UPDATE", "false");
                add("COPILOT_PROVIDER_BASE_URL", &format!("{}/v1", fake.url()));
                add("COPILOT_PROVIDER_API_KEY", "sk-fake-walkie-test");
                add("COPILOT_MODEL", "gpt-5.4");
                // Copilot unpacks itself (~3 s) into $XDG_CACHE_HOME/copilot on first start;
                // one cache for every test home keeps that to the first test.
                let cache = agents_install_dir().join("cache");
                std::fs::create_dir_all(&cache).expect("copilot cache dir");
                add("XDG_CACHE_HOME", &path_string(&cache));
                vec![
                    "--no-auto-update".into(),
                    "--disable-client-telemetry".into(),
                ]
            }
        };
        AgentHome {
            agent,
            dir,
            home,
            work,
            env,
            args,
            netns: fake.netns_prefix(),
        }
    }

    /// The variables the agent needs, on top of an ordinary environment (PATH for node and
    /// python3).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The full argv that starts the agent with `extra` arguments (e.g. `--resume ID`): the
    /// fake's network namespace, `env K=V...`, the CLI and its offline flags. Suitable for
    /// `walkie new NAME --cwd WORK -- ARGV...`.
    pub fn argv(&self, extra: &[&str]) -> Vec<String> {
        self.argv_with_env(&[], extra)
    }

    /// [`Self::argv`] with `env` set on top of (and winning over) the home's own variables,
    /// e.g. another `CODEX_HOME`.
    pub fn argv_with_env(&self, env: &[(&str, &str)], extra: &[&str]) -> Vec<String> {
        let mut v = self.netns.clone();
        v.push("env".into());
        v.extend(self.env.iter().map(|(k, val)| format!("{k}={val}")));
        v.extend(env.iter().map(|(k, val)| format!("{k}={val}")));
        v.push(path_string(&self.agent.bin()));
        v.extend(self.args.iter().cloned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    /// sha256 of every file under `dir` (relative path, digest), for asserting that a user's
    /// files are unchanged.
    pub fn checksums(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() {
                    let digest = Command::new("sha256sum")
                        .arg(&p)
                        .output()
                        .map(|o| {
                            String::from_utf8_lossy(&o.stdout)
                                .split(' ')
                                .next()
                                .unwrap_or("")
                                .to_string()
                        })
                        .unwrap_or_default();
                    let rel = p
                        .strip_prefix(dir)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned();
                    out.push((rel, digest));
                }
            }
        }
        out.sort();
        out
    }

    /// The scratch dir holding `home` and `work`.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Codex's config.toml for the fake (from the agents README): a model slug Codex knows, the
/// fake as provider, and every network feature and first-run notice turned off.
fn codex_config(port: u16) -> String {
    format!(
        r#"model = "gpt-5.5"
model_provider = "fake"
approval_policy = "on-request"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.fake]
name = "Fake LLM"
base_url = "http://127.0.0.1:{port}/v1"
env_key = "FAKE_LLM_API_KEY"
wire_api = "responses"

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
daemon_auto_start = false
in_app_updates = false

[tui]
screen_reader_detection_done = true
show_tooltips = false
animations = false

[tui.model_availability_nux]
"gpt-6.1-sol" = 1

[notice.model_migrations]
"gpt-5.5" = "gpt-6-sol"
"#
    )
}

fn toml_string(s: &str) -> String {
    // A JSON string is a valid TOML basic string for the paths used here.
    Value::String(s.to_string()).to_string()
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn path_string(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// A git repository with one commit (Codex asks for folder trust only in git repositories).
fn git_repo(dir: &Path) {
    write(&dir.join("README.md"), "scratch repo for agent tests\n");
    let git = |args: &[&str]| {
        let st = Command::new("git")
            .args([
                "-c",
                "user.email=t@example.invalid",
                "-c",
                "user.name=walkie-test",
            ])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run git");
        assert!(st.success(), "git {args:?} failed");
    };
    git(&["init", "-q"]);
    git(&["add", "README.md"]);
    git(&["commit", "-qm", "init"]);
}

/// Codex 0.169's trust hash of one command hook: sha256 of the compact, key-sorted JSON
/// `{"event_name","hooks":[{"async","command","timeout","type"}],"matcher"}` (docs/AGENTS.md).
/// `event` is snake case (`permission_request`); `timeout` is 600 when the hook sets none.
pub fn codex_trust_hash(event: &str, matcher: Option<&str>, timeout: u64, command: &str) -> String {
    let q = |s: &str| Value::String(s.to_string()).to_string();
    let matcher = matcher
        .map(|m| format!(",\"matcher\":{}", q(m)))
        .unwrap_or_default();
    let identity = format!(
        "{{\"event_name\":{},\"hooks\":[{{\"async\":false,\"command\":{},\"timeout\":{timeout},\"type\":\"command\"}}]{matcher}}}",
        q(event),
        q(command)
    );
    let out = super::host::run_with_stdin(
        Command::new("sha256sum"),
        identity.as_bytes(),
        Duration::from_secs(10),
    );
    let hex = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", hex.split(' ').next().unwrap_or_default())
}

/// `../shared/tools/agents/hooks/record_hook.py` as a hook command that appends its payload to
/// `log` and answers `decision` (none, allow, deny, block).
pub fn record_hook_command(log: &Path, decision: &str) -> String {
    format!(
        "HOOK_LOG={} HOOK_DECISION={decision} python3 {}",
        path_string(log),
        path_string(&agents_src().join("hooks/record_hook.py"))
    )
}

/// The payloads `record_hook.py` logged (the `stdin` of each line).
pub fn hook_log(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["stdin"].clone())
        .collect()
}

// --- driving an agent's session through `walkie` (shared by the host-level agent tests) ---

/// An agent's cold start on a loaded 2-core machine.
pub const AGENT_START: Duration = Duration::from_secs(90);
/// How long a key may take to show on screen before it counts as dropped and is sent again.
/// Long, because a key that was only slow would be applied twice, and Claude's lists wrap.
pub const KEY_RETRY: Duration = Duration::from_secs(10);
/// Output silence after which a freshly drawn input box takes keys.
pub const QUIET: Duration = Duration::from_millis(500);

/// Polls `walkie screen NAME` (which may fail while the session starts) until `pred` holds;
/// panics with the last screen after `timeout`.
pub fn wait_screen(
    h: &TestHost,
    name: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let mut last = String::new();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(what, timeout, || {
            let out = h.run(&["screen", name]);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            (out.status.success() && pred(&last)).then(|| last.clone())
        })
    }));
    found.unwrap_or_else(|_| {
        panic!("timed out after {timeout:?} waiting for {what}; screen of {name}:\n{last}")
    })
}

/// Waits until the session has printed nothing for [`QUIET`]. Claude draws its trust dialog,
/// then about 0.2 s later resets it to the default choice with an identical-looking screen, so
/// a key sent at first paint is undone; the screen alone cannot tell the two drawings apart.
pub fn wait_quiet(h: &TestHost, name: &str) {
    wait_for("the session to go quiet", AGENT_START, || {
        let out = h.run(&["ls", "--json"]);
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        let idle = list.as_array()?.iter().find(|s| s["name"] == name)?["idle_ms"].as_u64()?;
        (idle >= QUIET.as_millis() as u64).then_some(())
    });
}

/// Sends `keys` until `pred` holds on screen, waiting [`KEY_RETRY`] after each send. An agent
/// can drop keys that arrive just after it drew a screen (Claude's trust dialog did, under
/// load), so one send is not enough; a dropped key shows as an unchanged screen.
pub fn press_until(
    h: &TestHost,
    name: &str,
    keys: &[&str],
    what: &str,
    pred: impl Fn(&str) -> bool,
) {
    let mut last = String::new();
    let deadline = std::time::Instant::now() + AGENT_START;
    while std::time::Instant::now() < deadline {
        h.ok(&[&["send", name][..], keys].concat());
        let retry = std::time::Instant::now() + KEY_RETRY;
        while std::time::Instant::now() < retry {
            let out = h.run(&["screen", name]);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if pred(&last) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("timed out after {AGENT_START:?} sending {keys:?} for {what}; screen:\n{last}");
}

/// Types `text` into the input box once the session is quiet, until the box shows it, then
/// presses Enter: an agent that gets text and Enter in one burst may take the Enter as part
/// of a paste.
pub fn type_prompt(h: &TestHost, name: &str, text: &str) {
    wait_quiet(h, name);
    press_until(h, name, &["--no-enter", text], "the typed prompt", |s| {
        s.contains(text)
    });
    h.ok(&["send", name, "--keys", "Enter"]);
}
