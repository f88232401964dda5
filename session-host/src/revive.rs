//! Bringing a session back after its host went away (reboot, crash, `systemctl stop`).
//!
//! A PTY cannot outlive its host, but an agent's conversation can: Claude Code and Codex keep
//! transcripts and resume them by id. So for every session the host keeps what it takes to
//! start it again ([`Revival`], stored with the record): the launch argv without a one-shot
//! prompt, the preset, a preset's own resume template, the agent and the agent's own session
//! id (Claude Code's and Copilot CLI's are chosen here and given as `--session-id`, so they are known before the
//! first hook; Codex's arrives with its hooks, `Request::AgentSession`).
//!
//! [`plan`] decides, from the record alone and the files the agent keeps, what a revive does:
//!
//! | agent | resume command | valid when |
//! | --- | --- | --- |
//! | Claude Code | `<launch> --resume <id>` | `~/.claude/projects/<cwd, non-alphanumerics as ->/<id>.jsonl` (`$CLAUDE_CONFIG_DIR/projects/…` when set) has a `"type":"user"` line |
//! | Codex | `<launch> resume <id>` | `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*-<id>.jsonl` exists (`~/.codex` without `CODEX_HOME`) |
//! | Copilot CLI | `<launch> --resume=<id>` | `$COPILOT_HOME/session-state/<id>/events.jsonl` exists (`~/.copilot` without `COPILOT_HOME`; walkie's preset sets its own) |
//! | a preset with `resume = [...]` | the template, `{id}` replaced | the id is known if the template uses it |
//!
//! In every case the cwd must still exist and the id be a UUID. What cannot be resumed comes
//! back as a shell in its cwd (in HOME when the cwd is gone) with a line on its screen saying
//! why. `HOME`, `CODEX_HOME` and `CLAUDE_CONFIG_DIR` are the session's: its `env K=V` words,
//! then the env it was given, then the host's.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use walkie_host_proto::ask::Agent;
use walkie_host_proto::revival::{is_agent_id, RevivePlan};

/// What `host.revive` brings back when the host starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReviveMode {
    /// Agents are resumed; shells and plain commands stay lost for `walkie revive`.
    #[default]
    Agents,
    /// Agents are resumed, everything else is started again in its cwd.
    All,
    /// Everything stays lost.
    None,
}

/// What it takes to bring a session back, beyond its command, cwd, env and size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revival {
    /// The argv a resume is built from: the command as first given, without a one-shot
    /// prompt or an earlier `--resume`.
    pub launch: Vec<String>,
    pub preset: Option<String>,
    /// A preset's resume template (`{id}`: the agent's session id).
    pub resume: Option<Vec<String>>,
    pub agent: Option<Agent>,
    /// The agent's own session id, the latest it reported.
    pub agent_id: Option<String>,
    /// The sandbox it was started in: a revived session gets the same boundary.
    pub sandbox: Option<String>,
    pub network: Option<walkie_host_proto::sandbox::NetworkMode>,
}

impl Revival {
    /// Whether the session counts as an agent for `host.revive = "agents"`.
    pub fn is_agent(&self) -> bool {
        self.agent.is_some() || self.resume.is_some()
    }

    /// `claude`, `codex`, `shell`, or the program's name: how the phone names it.
    pub fn kind(&self) -> String {
        if let Some(a) = self.agent {
            return a.label().to_string();
        }
        match self.launch.first() {
            None => "shell".into(),
            Some(p) => Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.clone()),
        }
    }
}

/// Programs that run the rest of their argv (so `env K=V claude`, `npx codex` and
/// `nsenter --net=… -- claude` are agents).
const LAUNCHERS: &[&str] = &[
    "env", "nsenter", "npx", "nice", "nohup", "setsid", "stdbuf", "exec", "command",
];

/// The agent `command` runs and the index of its word: the first word named `claude` or
/// `codex` in command position (only launchers, their options and `K=V` before it).
pub fn agent_of(command: &[String]) -> Option<(Agent, usize)> {
    for (i, w) in command.iter().enumerate() {
        // A launcher's option or an `env` assignment.
        if w.starts_with('-') || (w.contains('=') && !w.starts_with('=')) {
            continue;
        }
        match Path::new(w).file_name().and_then(|b| b.to_str()) {
            Some("claude") => return Some((Agent::ClaudeCode, i)),
            Some("codex") => return Some((Agent::Codex, i)),
            Some("copilot") => return Some((Agent::Copilot, i)),
            Some(b) if LAUNCHERS.contains(&b) => {}
            _ => return None,
        }
    }
    None
}

/// How many values an option takes (as commander and clap parse them).
#[derive(Clone, Copy, PartialEq)]
enum Arity {
    Flag,
    One,
    /// `<x...>`: every following word up to the next option.
    Many,
    /// `[x]`: the next word unless it is an option.
    Optional,
}

/// Claude Code 2.1's options that take values (`claude --help`); any other is a flag.
const CLAUDE_OPTIONS: &[(&[&str], Arity)] = &[
    (
        &[
            "--agent",
            "--agents",
            "--append-system-prompt",
            "--autocompact",
            "--debug-file",
            "--effort",
            "--environment",
            "--fallback-model",
            "--input-format",
            "--json-schema",
            "--max-budget-usd",
            "--model",
            "-n",
            "--name",
            "--output-format",
            "--permission-mode",
            "--permission-prompts",
            "--plugin-dir",
            "--plugin-url",
            "--remote-control-session-name-prefix",
            "--session-id",
            "--setting-sources",
            "--settings",
            "--system-prompt",
            "--system-prompt-snapshot",
        ],
        Arity::One,
    ),
    (
        &[
            "--add-dir",
            "--allowedTools",
            "--allowed-tools",
            "--betas",
            "--disallowedTools",
            "--disallowed-tools",
            "--file",
            "--mcp-config",
            "--tools",
        ],
        Arity::Many,
    ),
    (
        &[
            "--cloud",
            "-d",
            "--debug",
            "--from-pr",
            "--prompt-suggestions",
            "--remote-control",
            "-r",
            "--resume",
            "--teleport",
            "-w",
            "--worktree",
        ],
        Arity::Optional,
    ),
];

/// Claude options after which the session is not an interactive conversation.
const CLAUDE_ONE_SHOT: &[&str] = &[
    "-p",
    "--print",
    "-h",
    "--help",
    "-v",
    "--version",
    "--bg",
    "--background",
];

/// Claude options a resume replaces.
const CLAUDE_SESSION_OPTIONS: &[&str] = &[
    "--session-id",
    "-r",
    "--resume",
    "-c",
    "--continue",
    "--fork-session",
];

const CLAUDE_COMMANDS: &[&str] = &[
    "agents",
    "attach",
    "auth",
    "auto-mode",
    "doctor",
    "gateway",
    "import",
    "install",
    "logs",
    "mcp",
    "plugin",
    "plugins",
    "purge",
    "respawn",
    "rm",
    "setup-token",
    "stop",
    "kill",
    "ultrareview",
    "update",
    "upgrade",
];

/// GitHub Copilot CLI 1.0.102's options that take values (`copilot --help`); any other is a
/// flag.
const COPILOT_OPTIONS: &[(&[&str], Arity)] = &[
    (
        &[
            "--model",
            "--plugin-dir",
            "--add-dir",
            "--agent",
            "--allow-tool",
            "--deny-tool",
            "--log-dir",
            "--log-level",
            "--config-dir",
            "--additional-mcp-config",
            "--session-id",
            "--allow-url",
            "--deny-url",
        ],
        Arity::One,
    ),
    (&["--resume"], Arity::Optional),
];

/// Copilot options after which the session is not an interactive conversation.
const COPILOT_ONE_SHOT: &[&str] = &["-p", "--prompt", "-h", "--help", "-v", "--version"];

/// Copilot options a resume replaces.
const COPILOT_SESSION_OPTIONS: &[&str] = &["--session-id", "--resume", "--continue"];

const COPILOT_COMMANDS: &[&str] = &[
    "help", "version", "update", "login", "logout", "plugin", "mcp", "init",
];

/// Codex CLI 0.169's options that take values (`codex --help`); any other is a flag.
const CODEX_OPTIONS: &[(&[&str], Arity)] = &[
    (
        &[
            "-c",
            "--config",
            "--enable",
            "--disable",
            "--remote",
            "--remote-auth-token-env",
            "-m",
            "--model",
            "--local-provider",
            "-p",
            "--profile",
            "-s",
            "--sandbox",
            "-C",
            "--cd",
            "--add-dir",
            "-a",
            "--ask-for-approval",
        ],
        Arity::One,
    ),
    (&["-i", "--image"], Arity::Many),
];

const CODEX_ONE_SHOT: &[&str] = &["-h", "--help", "-V", "--version"];

/// Codex subcommands that are not an interactive session (`resume` is handled apart).
const CODEX_COMMANDS: &[&str] = &[
    "agents",
    "exec",
    "e",
    "review",
    "login",
    "logout",
    "mcp",
    "plugin",
    "app-server",
    "remote-control",
    "completion",
    "update",
    "doctor",
    "sandbox",
    "debug",
    "apply",
    "a",
    "queue",
    "archive",
    "delete",
    "migrate-rollouts",
    "migrate-nfs-db",
    "unarchive",
    "fork",
    "cloud",
    "exec-server",
    "features",
    "help",
];

/// An agent's argv after its program word, sorted.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    /// Options kept for a resume, values included, in order.
    kept: Vec<String>,
    /// The session id the argv names (`--session-id X`, `--resume X`, `resume X`).
    id: Option<String>,
    /// Whether it already says which conversation to have (`--continue`, a resume).
    names_session: bool,
}

fn arity(table: &[(&[&str], Arity)], opt: &str) -> Arity {
    table
        .iter()
        .find(|(names, _)| names.contains(&opt))
        .map_or(Arity::Flag, |(_, a)| *a)
}

/// Parses an agent's arguments; `None` when they do not start an interactive conversation.
fn parse(agent: Agent, args: &[String]) -> Option<Parsed> {
    let (table, one_shot, commands) = match agent {
        Agent::ClaudeCode => (CLAUDE_OPTIONS, CLAUDE_ONE_SHOT, CLAUDE_COMMANDS),
        Agent::Codex => (CODEX_OPTIONS, CODEX_ONE_SHOT, CODEX_COMMANDS),
        Agent::Copilot => (COPILOT_OPTIONS, COPILOT_ONE_SHOT, COPILOT_COMMANDS),
    };
    let session_options = match agent {
        Agent::ClaudeCode => CLAUDE_SESSION_OPTIONS,
        Agent::Copilot => COPILOT_SESSION_OPTIONS,
        Agent::Codex => &[],
    };
    let mut out = Parsed::default();
    let mut i = 0;
    let mut positional_seen = false;
    while i < args.len() {
        let w = &args[i];
        i += 1;
        if w == "--" {
            // Everything after is positional: a prompt.
            break;
        }
        if !w.starts_with('-') || w == "-" {
            if !positional_seen && commands.contains(&w.as_str()) {
                return None;
            }
            if !positional_seen && agent == Agent::Codex && w == "resume" {
                // `codex … resume [ID] [PROMPT]`: the old session; its arguments go.
                out.names_session = true;
                out.id = args[i..]
                    .iter()
                    .find(|a| !a.starts_with('-'))
                    .filter(|a| is_agent_id(a))
                    .cloned();
                break;
            }
            // The one-shot prompt (commander and clap both take the first positional).
            positional_seen = true;
            continue;
        }
        let (opt, inline) = match w.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v.to_string())),
            _ => (w.as_str(), None),
        };
        if one_shot.contains(&opt) {
            return None;
        }
        let mut values: Vec<String> = inline.into_iter().collect();
        if values.is_empty() {
            match arity(table, opt) {
                Arity::Flag => {}
                Arity::One => {
                    if let Some(v) = args.get(i) {
                        values.push(v.clone());
                        i += 1;
                    }
                }
                Arity::Optional => {
                    if let Some(v) = args.get(i).filter(|v| !v.starts_with('-')) {
                        values.push(v.clone());
                        i += 1;
                    }
                }
                Arity::Many => {
                    while let Some(v) = args.get(i).filter(|v| !v.starts_with('-')) {
                        values.push(v.clone());
                        i += 1;
                    }
                }
            }
        }
        if session_options.contains(&opt) {
            if opt != "--fork-session" {
                out.names_session = true;
            }
            if matches!(opt, "--session-id" | "-r" | "--resume") {
                // Copilot also takes an id prefix or a name: only a whole id is kept.
                out.id = values.first().filter(|v| is_agent_id(v)).cloned();
            }
            continue;
        }
        if inline_form(w) {
            out.kept.push(w.clone());
        } else {
            out.kept.push(w.clone());
            out.kept.extend(values);
        }
    }
    Some(out)
}

fn inline_form(w: &str) -> bool {
    w.starts_with("--") && w.contains('=')
}

/// A session about to start: its agent, the argv to run (Claude Code with a `--session-id`
/// walkie chose, unless the argv names a conversation already), and what to keep for reviving
/// it.
pub fn launch(
    command: &[String],
    preset: Option<String>,
    resume: Option<Vec<String>>,
) -> (Vec<String>, Revival) {
    let mut rev = Revival {
        launch: command.to_vec(),
        preset,
        resume,
        agent: None,
        agent_id: None,
        sandbox: None,
        network: None,
    };
    let Some((agent, at)) = agent_of(command) else {
        return (command.to_vec(), rev);
    };
    let Some(parsed) = parse(agent, &command[at + 1..]) else {
        return (command.to_vec(), rev);
    };
    rev.agent = Some(agent);
    rev.agent_id = parsed.id.clone();
    let mut base = command[..=at].to_vec();
    base.extend(parsed.kept.iter().cloned());
    rev.launch = base;
    let mut run = command.to_vec();
    if matches!(agent, Agent::ClaudeCode | Agent::Copilot) && !parsed.names_session {
        match new_uuid() {
            Ok(id) => {
                run.splice(at + 1..at + 1, ["--session-id".to_string(), id.clone()]);
                rev.agent_id = Some(id);
            }
            Err(e) => tracing::warn!(
                "no session id for {} (it reports its own): {e}",
                agent.label()
            ),
        }
    }
    (run, rev)
}

/// A random (version 4) UUID from the kernel's generator.
fn new_uuid() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The command that resumes the agent, or why there is none.
pub fn resume_argv(rev: &Revival) -> Result<Vec<String>, String> {
    let id = rev.agent_id.as_deref();
    if let Some(id) = id.filter(|i| !is_agent_id(i)) {
        return Err(format!("its session id {id:?} is not well formed"));
    }
    if let Some(tpl) = &rev.resume {
        if tpl.iter().any(|w| w.contains("{id}")) && id.is_none() {
            return Err("the agent never reported its session id".into());
        }
        return Ok(tpl
            .iter()
            .map(|w| w.replace("{id}", id.unwrap_or_default()))
            .collect());
    }
    let Some(agent) = rev.agent else {
        return Err("it is not an agent".into());
    };
    let Some(id) = id else {
        return Err(format!(
            "{} never reported its session id (no turn finished)",
            agent.label()
        ));
    };
    let mut argv = rev.launch.clone();
    match agent {
        Agent::ClaudeCode => argv.extend(["--resume".to_string(), id.to_string()]),
        Agent::Codex => argv.extend(["resume".to_string(), id.to_string()]),
        Agent::Copilot => argv.push(format!("--resume={id}")),
    }
    Ok(argv)
}

/// A variable as the session sees it: its `env K=V` words, then the env it was given, then
/// the host's.
fn session_var(name: &str, launch: &[String], env: &[(String, String)]) -> Option<String> {
    let prefix = format!("{name}=");
    let from_argv = match agent_of(launch) {
        Some((_, at)) => launch[..at]
            .iter()
            .rev()
            .find_map(|w| w.strip_prefix(&prefix).map(str::to_string)),
        None => None,
    };
    from_argv
        .or_else(|| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .or_else(|| std::env::var(name).ok())
        .filter(|v| !v.is_empty())
}

/// Claude Code's project folder name for `cwd`: every non-alphanumeric character as `-`.
pub fn claude_project_dir(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Claude's transcript of session `id` begun in `cwd`.
fn claude_transcript(
    cwd: &Path,
    id: &str,
    launch: &[String],
    env: &[(String, String)],
) -> Option<PathBuf> {
    let root = match session_var("CLAUDE_CONFIG_DIR", launch, env) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(session_var("HOME", launch, env)?).join(".claude"),
    };
    Some(
        root.join("projects")
            .join(claude_project_dir(cwd))
            .join(format!("{id}.jsonl")),
    )
}

/// Whether a Claude transcript holds a user message: Claude writes it in batches, and one
/// killed before its first batch cannot be resumed ("No conversation found").
fn has_user_line(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    // Bounded: a transcript can be large, the first user line comes early.
    BufReader::new(f.take(64 << 20))
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("\"user\""))
        .any(|l| {
            serde_json::from_str::<serde_json::Value>(&l)
                .is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("user"))
        })
}

/// Codex's rollout of session `id`: `sessions/YYYY/MM/DD/rollout-*-<id>.jsonl` in its home.
fn codex_rollout(id: &str, launch: &[String], env: &[(String, String)]) -> Option<PathBuf> {
    let home = match session_var("CODEX_HOME", launch, env) {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(session_var("HOME", launch, env)?).join(".codex"),
    };
    let suffix = format!("-{id}.jsonl");
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    for y in dirs(&home.join("sessions")) {
        for m in dirs(&y) {
            for d in dirs(&m) {
                for f in dirs(&d) {
                    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    if name.starts_with("rollout-") && name.ends_with(&suffix) {
                        return Some(f);
                    }
                }
            }
        }
    }
    None
}

/// Why the agent's transcript does not allow a resume, if it does not.
fn transcript_problem(rev: &Revival, cwd: &Path, env: &[(String, String)]) -> Option<String> {
    let (agent, id) = (rev.agent?, rev.agent_id.as_deref()?);
    // A preset's own template is trusted to know its agent.
    if rev.resume.is_some() {
        return None;
    }
    match agent {
        Agent::ClaudeCode => {
            let Some(path) = claude_transcript(cwd, id, &rev.launch, env) else {
                return Some("no HOME to find Claude's transcript in".into());
            };
            if !path.is_file() {
                return Some(format!("no transcript at {}", path.display()));
            }
            if !has_user_line(&path) {
                return Some(format!(
                    "its transcript {} has no conversation yet",
                    path.display()
                ));
            }
            None
        }
        Agent::Codex => match codex_rollout(id, &rev.launch, env) {
            Some(_) => None,
            None => Some(format!("no Codex rollout for session {id}")),
        },
        Agent::Copilot => {
            let home = match session_var("COPILOT_HOME", &rev.launch, env) {
                Some(h) => PathBuf::from(h),
                None => PathBuf::from(session_var("HOME", &rev.launch, env)?).join(".copilot"),
            };
            let events = home.join("session-state").join(id).join("events.jsonl");
            (!events.is_file()).then(|| format!("no Copilot session at {}", events.display()))
        }
    }
}

/// What reviving a session would do, checked against the disk (blocking: reads files).
pub fn plan(rev: &Revival, cwd: &Path, env: &[(String, String)]) -> RevivePlan {
    if !cwd.is_dir() {
        return RevivePlan::Shell {
            why: format!("its working directory {} is gone", cwd.display()),
        };
    }
    if !rev.is_agent() {
        return RevivePlan::Restart;
    }
    match resume_argv(rev) {
        Err(why) => RevivePlan::Shell { why },
        Ok(command) => match transcript_problem(rev, cwd, env) {
            Some(why) => RevivePlan::Shell { why },
            None => RevivePlan::Resume { command },
        },
    }
}

/// The cwd a shell revival starts in: the session's, else the session's HOME, else `/`.
pub fn shell_cwd(cwd: &Path, launch: &[String], env: &[(String, String)]) -> PathBuf {
    if cwd.is_dir() {
        return cwd.to_path_buf();
    }
    session_var("HOME", launch, env)
        .map(PathBuf::from)
        .filter(|h| h.is_dir())
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const ID: &str = "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
    const CODEX_ID: &str = "01a23126-5f5e-7b90-baf7-7c06f24e974b";

    #[test]
    fn agents_are_found_in_command_position_only() {
        assert_eq!(agent_of(&w(&["claude"])), Some((Agent::ClaudeCode, 0)));
        assert_eq!(
            agent_of(&w(&[
                "nsenter",
                "--net=/proc/1/ns/net",
                "--",
                "env",
                "A=1",
                "/x/codex"
            ])),
            Some((Agent::Codex, 5))
        );
        assert_eq!(
            agent_of(&w(&["npx", "@openai/codex"])),
            Some((Agent::Codex, 1))
        );
        assert_eq!(agent_of(&w(&["bash", "-c", "claude"])), None);
        assert_eq!(agent_of(&w(&["vim", "claude"])), None);
        assert_eq!(agent_of(&w(&["env", "--settings=/x/claude", "vim"])), None);
        assert_eq!(agent_of(&[]), None);
    }

    #[test]
    fn claude_gets_a_session_id_and_loses_its_prompt_on_resume() {
        let cmd = w(&[
            "env",
            "HOME=/h",
            "claude",
            "--permission-mode",
            "default",
            "--add-dir",
            "a",
            "b",
            "fix the tests",
        ]);
        let (run, rev) = launch(&cmd, Some("claude".into()), None);
        let id = rev.agent_id.clone().expect("an id chosen");
        assert!(is_agent_id(&id), "{id}");
        assert_eq!(
            run[..5],
            w(&["env", "HOME=/h", "claude", "--session-id", &id])[..]
        );
        assert_eq!(run[5..], cmd[3..]);
        assert_eq!(rev.agent, Some(Agent::ClaudeCode));
        // The prompt was a one-shot: the resume keeps the flags, not the prompt. (`--add-dir`
        // is variadic: commander would take "fix the tests" as a directory too.)
        let resume = resume_argv(&rev).unwrap();
        assert_eq!(
            resume[..4],
            w(&["env", "HOME=/h", "claude", "--permission-mode"])[..]
        );
        assert_eq!(resume[resume.len() - 2..], w(&["--resume", &id])[..]);

        let (run, rev) = launch(&w(&["claude", "--model", "opus", "do it"]), None, None);
        assert_eq!(run.len(), 6);
        assert_eq!(
            resume_argv(&rev).unwrap(),
            w(&[
                "claude",
                "--model",
                "opus",
                "--resume",
                rev.agent_id.as_deref().unwrap()
            ])
        );
    }

    #[test]
    fn an_argv_that_names_its_conversation_keeps_it() {
        let (run, rev) = launch(&w(&["claude", "--resume", ID, "-d"]), None, None);
        assert_eq!(run, w(&["claude", "--resume", ID, "-d"]), "no second id");
        assert_eq!(rev.agent_id.as_deref(), Some(ID));
        assert_eq!(rev.launch, w(&["claude", "-d"]));
        assert_eq!(
            resume_argv(&rev).unwrap(),
            w(&["claude", "-d", "--resume", ID])
        );
        let (run, rev) = launch(&w(&["claude", "--session-id", ID]), None, None);
        assert_eq!(run, w(&["claude", "--session-id", ID]));
        assert_eq!(rev.agent_id.as_deref(), Some(ID));
        let (_, rev) = launch(&w(&["claude", "--continue"]), None, None);
        assert_eq!(rev.agent_id, None, "known only from its hooks");
        assert!(resume_argv(&rev).is_err());
    }

    #[test]
    fn one_shot_and_subcommand_runs_are_not_agent_sessions() {
        for cmd in [
            &["claude", "-p", "hi"][..],
            &["claude", "mcp", "list"],
            &["claude", "--version"],
            &["codex", "exec", "hi"],
            &["codex", "login"],
        ] {
            let (run, rev) = launch(&w(cmd), None, None);
            assert_eq!(run, w(cmd));
            assert_eq!(rev.agent, None, "{cmd:?}");
        }
    }

    #[test]
    fn codex_resumes_with_its_flags_and_no_prompt() {
        let cmd = w(&[
            "codex",
            "--no-daemon",
            "-c",
            "hooks.Stop=[]",
            "-m",
            "o3",
            "write a poem",
        ]);
        let (run, mut rev) = launch(&cmd, None, None);
        assert_eq!(run, cmd, "codex chooses its own id");
        assert_eq!(rev.agent, Some(Agent::Codex));
        assert!(resume_argv(&rev).unwrap_err().contains("never reported"));
        rev.agent_id = Some(CODEX_ID.into());
        assert_eq!(
            resume_argv(&rev).unwrap(),
            w(&[
                "codex",
                "--no-daemon",
                "-c",
                "hooks.Stop=[]",
                "-m",
                "o3",
                "resume",
                CODEX_ID
            ])
        );
        // A resumed session resumes again from its base.
        let (_, rev) = launch(
            &w(&["codex", "--no-daemon", "resume", CODEX_ID]),
            None,
            None,
        );
        assert_eq!(rev.agent_id.as_deref(), Some(CODEX_ID));
        assert_eq!(
            resume_argv(&rev).unwrap(),
            w(&["codex", "--no-daemon", "resume", CODEX_ID])
        );
    }

    #[test]
    fn copilot_gets_a_session_id_and_resumes_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("cp-home");
        let cmd = w(&[
            "nsenter",
            "--net=/proc/1/ns/net",
            "--",
            "/opt/copilot",
            "--no-auto-update",
            "--plugin-dir",
            "/s/plugin",
        ]);
        let (run, rev) = launch(&cmd, Some("copilot".into()), None);
        assert_eq!(rev.agent, Some(Agent::Copilot));
        let id = rev.agent_id.clone().expect("an id chosen at start");
        assert!(is_agent_id(&id));
        assert_eq!(run[4..6], w(&["--session-id", &id])[..]);
        let resume = resume_argv(&rev).unwrap();
        assert_eq!(resume[..cmd.len()], cmd[..]);
        assert_eq!(resume[cmd.len()..], [format!("--resume={id}")]);
        // Valid once Copilot logged the session in its home (the session's COPILOT_HOME).
        let env = vec![("COPILOT_HOME".to_string(), home.display().to_string())];
        assert!(matches!(
            plan(&rev, dir.path(), &env),
            RevivePlan::Shell { .. }
        ));
        let state = home.join("session-state").join(&id);
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("events.jsonl"), "{}\n").unwrap();
        assert_eq!(
            plan(&rev, dir.path(), &env),
            RevivePlan::Resume { command: resume }
        );
        // A resumed one keeps its id; a one-shot prompt is no conversation.
        let (run, rev) = launch(&w(&["copilot", &format!("--resume={ID}")]), None, None);
        assert_eq!(run, w(&["copilot", &format!("--resume={ID}")]));
        assert_eq!(rev.agent_id.as_deref(), Some(ID));
        assert_eq!(rev.launch, w(&["copilot"]));
        let (_, rev) = launch(&w(&["copilot", "-p", "fix it"]), None, None);
        assert_eq!(rev.agent, None);
    }

    #[test]
    fn a_preset_template_wins_and_needs_its_id() {
        let (_, mut rev) = launch(
            &w(&["my-agent"]),
            Some("mine".into()),
            Some(w(&["my-agent", "--resume={id}"])),
        );
        assert!(rev.is_agent());
        assert!(resume_argv(&rev).is_err());
        rev.agent_id = Some(ID.into());
        assert_eq!(
            resume_argv(&rev).unwrap(),
            w(&["my-agent", &format!("--resume={ID}")])
        );
        rev.agent_id = Some("../x".into());
        assert!(resume_argv(&rev).unwrap_err().contains("not well formed"));
        let (_, rev) = launch(
            &w(&["aider"]),
            None,
            Some(w(&["aider", "--restore-chat-history"])),
        );
        assert_eq!(
            resume_argv(&rev).unwrap(),
            w(&["aider", "--restore-chat-history"])
        );
    }

    #[test]
    fn plans_check_the_cwd_and_the_transcripts() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let cwd = dir.path().join("my.repo_x");
        std::fs::create_dir_all(&cwd).unwrap();
        let env = vec![("HOME".to_string(), home.display().to_string())];
        let rev = Revival {
            launch: w(&["claude"]),
            agent: Some(Agent::ClaudeCode),
            agent_id: Some(ID.into()),
            ..Revival::default()
        };
        let shell_why = |p: RevivePlan| match p {
            RevivePlan::Shell { why } => why,
            other => panic!("{other:?}"),
        };
        assert!(shell_why(plan(&rev, &cwd, &env)).contains("no transcript"));
        let project = home.join(".claude/projects").join(claude_project_dir(&cwd));
        assert!(project.ends_with(claude_project_dir(&cwd)));
        assert!(claude_project_dir(&cwd).ends_with("-my-repo-x"));
        std::fs::create_dir_all(&project).unwrap();
        let transcript = project.join(format!("{ID}.jsonl"));
        std::fs::write(
            &transcript,
            "{\"type\":\"mode\"}\n{\"type\":\"permission-mode\"}\n",
        )
        .unwrap();
        assert!(shell_why(plan(&rev, &cwd, &env)).contains("no conversation yet"));
        std::fs::write(
            &transcript,
            "{\"type\":\"mode\"}\n{\"type\": \"user\", \"message\": {}}\n",
        )
        .unwrap();
        assert_eq!(
            plan(&rev, &cwd, &env),
            RevivePlan::Resume {
                command: w(&["claude", "--resume", ID])
            }
        );
        // HOME from the argv's `env` beats the given env.
        let elsewhere = Revival {
            launch: w(&["env", "HOME=/nonexistent", "claude"]),
            ..rev.clone()
        };
        assert!(shell_why(plan(&elsewhere, &cwd, &env)).contains("/nonexistent"));
        // A cwd that vanished: a shell in HOME.
        let gone = dir.path().join("gone");
        assert!(shell_why(plan(&rev, &gone, &env)).contains("is gone"));
        std::fs::create_dir_all(&home).unwrap();
        assert_eq!(shell_cwd(&gone, &rev.launch, &env), home);
        assert_eq!(shell_cwd(&cwd, &rev.launch, &env), cwd);

        // Codex: the rollout in its home's dated folders (here through a symlinked
        // sessions/, as walkie's per-preset home has it).
        let codex_home = dir.path().join("walkie-codex-home");
        let user_sessions = dir.path().join("user-codex/sessions/2026/12/01");
        std::fs::create_dir_all(&user_sessions).unwrap();
        std::fs::create_dir_all(&codex_home).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("user-codex/sessions"),
            codex_home.join("sessions"),
        )
        .unwrap();
        let codex = Revival {
            launch: w(&["codex", "--no-daemon"]),
            agent: Some(Agent::Codex),
            agent_id: Some(CODEX_ID.into()),
            ..Revival::default()
        };
        let env = vec![("CODEX_HOME".to_string(), codex_home.display().to_string())];
        assert!(shell_why(plan(&codex, &cwd, &env)).contains("no Codex rollout"));
        std::fs::write(
            user_sessions.join(format!("rollout-2026-12-01T10-28-48-{CODEX_ID}.jsonl")),
            "{}\n",
        )
        .unwrap();
        assert_eq!(
            plan(&codex, &cwd, &env),
            RevivePlan::Resume {
                command: w(&["codex", "--no-daemon", "resume", CODEX_ID])
            }
        );
        // Not an agent: started again.
        assert_eq!(plan(&Revival::default(), &cwd, &env), RevivePlan::Restart);
    }
}
