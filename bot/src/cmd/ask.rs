//! `walkie ask` and `walkie approve-hook`: the two ways a program inside a session asks the
//! phone for a decision, through the host's approval broker.
//!
//! Neither starts a host: when none answers, nobody is watching on the phone, so
//! `approve-hook` falls back to the agent's own prompt and `ask` says so and exits 2.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use walkie_config::Config;
use walkie_host_proto::ask::NoticeKind;
use walkie_host_proto::client::{Client, ClientError};
use walkie_host_proto::protocol::{ErrorKind, Request};

use walkie_approval::hook::{self, AskFailure, Decision};
use walkie_approval::Agent;
use walkie_host_proto::ask::AskPayload;

/// Arguments of `walkie approve-hook`.
#[derive(Debug, clap::Args)]
pub(crate) struct ApproveHookArgs {
    /// Which agent runs the hook (claude, codex or copilot); guessed from the payload when
    /// absent.
    #[arg(long)]
    pub agent: Option<String>,
    /// The hook event this command is configured for, for payloads that do not name it
    /// (Copilot's `agentStop`).
    #[arg(long)]
    pub event: Option<String>,
}

/// Arguments of `walkie ask`.
#[derive(Debug, clap::Args)]
pub(crate) struct AskArgs {
    /// The question shown on the phone.
    #[arg(required = true)]
    pub question: Vec<String>,
    /// Seconds to wait before answering no (default: approvals.timeout_s).
    #[arg(long)]
    pub timeout: Option<u64>,
}

fn session_name() -> String {
    std::env::var("WALKIE_SESSION").unwrap_or_default()
}

/// Hands `payload` to the host and waits for the decision.
fn ask_host(cfg: &Config, payload: AskPayload, timeout: Duration) -> Result<Decision, ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Spawn(e.to_string()))?;
    rt.block_on(async {
        let mut c = Client::connect(&cfg.socket_path()).await?;
        c.ask(&session_name(), payload, timeout).await
    })
}

/// `walkie approve-hook`: reads the hook JSON on stdin, prints the agent's answer.
pub(crate) fn run_approve_hook(cfg: &Config, args: ApproveHookArgs) -> anyhow::Result<ExitCode> {
    let agent = match args.agent.as_deref() {
        None => None,
        Some(a) => Some(
            Agent::from_label(a)
                .with_context(|| format!("unknown agent {a:?}: use claude, codex or copilot"))?,
        ),
    };
    let mut stdin = String::new();
    // A hook payload is a few KiB; cap what we read so a runaway writer cannot eat memory.
    std::io::stdin()
        .take(4 << 20)
        .read_to_string(&mut stdin)
        .context("reading the hook payload")?;
    // The agent's own session id, so that a host restart can resume the conversation.
    if let Some((agent, id)) = hook::agent_session(&stdin, agent) {
        report_agent_session(cfg, agent, &id);
    }
    // The `Stop` hook (Copilot's `agentStop`): the agent finished its turn. Tell the phone
    // (best effort, briefly: the agent waits for its hooks) and say nothing to the agent.
    if let Ok(hook::HookInput::Stop { .. }) =
        hook::parse_event(&stdin, agent, args.event.as_deref())
    {
        notify_stop(cfg);
        return Ok(ExitCode::SUCCESS);
    }
    // Codex's PreToolUse asks only where walkie's boundary replaced Codex's own sandbox; there
    // nothing else would ask, so a host it cannot reach is a deny, not "ask on screen".
    let mut only_walkie_asks = false;
    if let Ok(hook::HookInput::Approval(req)) =
        hook::parse_event(&stdin, agent, args.event.as_deref())
    {
        if req.agent == Agent::Codex && req.event == hook::HookEvent::PreToolUse {
            let sandbox = std::env::var(walkie_sandbox::trampoline::BOUNDARY_VAR).ok();
            if !hook::codex_asks_before_every_command(sandbox.as_deref()) {
                return Ok(ExitCode::SUCCESS);
            }
            only_walkie_asks = true;
        }
    }
    let timeout = Duration::from_secs(cfg.approvals.timeout_s);
    let out = hook::respond_to(&stdin, agent, args.event.as_deref(), |req| {
        let mut request = req.clone();
        if request.agent == Agent::Copilot && request.description.is_none() {
            request.description = copilot_description(&request);
        }
        let payload = AskPayload::Hook { request };
        match ask_host(cfg, payload, timeout) {
            Ok(d) => Ok(d),
            Err(ClientError::Host {
                kind: ErrorKind::Timeout,
                ..
            }) => Ok(Decision::Deny {
                reason: format!("no decision from the phone within {} s", timeout.as_secs()),
            }),
            Err(e @ (ClientError::NotRunning(_) | ClientError::Connect { .. }))
                if only_walkie_asks =>
            {
                Ok(Decision::Deny {
                    reason: format!("walkie could not ask the phone ({e}); denied to be safe"),
                })
            }
            Err(e @ (ClientError::NotRunning(_) | ClientError::Connect { .. })) => {
                Err(AskFailure::Unreachable(e.to_string()))
            }
            Err(e) => Err(AskFailure::Lost(e.to_string())),
        }
    });
    std::io::stdout().write_all(out.stdout.as_bytes())?;
    std::io::stderr().write_all(out.stderr.as_bytes())?;
    Ok(ExitCode::from(out.exit_code.clamp(0, 255) as u8))
}

/// The description Copilot's `permissionRequest` payload lacks, from the end of its event
/// log in `COPILOT_HOME` (else `~/.copilot`), read only. Copilot writes the log a moment
/// after it runs the hook at times, so it is looked at again for a short while; a card
/// without a description is better than a late one.
fn copilot_description(req: &walkie_approval::hook::ApprovalRequest) -> Option<String> {
    const WAIT: Duration = Duration::from_millis(1500);
    let home = std::env::var_os("COPILOT_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".copilot"))
        })?;
    let path = walkie_approval::copilot::events_log(&home, req.session_id.as_deref()?)?;
    let command = req.command.as_deref()?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let tail = read_tail(&path).unwrap_or_default();
        if let Some(d) = walkie_approval::copilot::description_from_events(&tail, command) {
            return Some(d);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last 256 KiB of a file: the event is among the last few written, and a long
/// session's log is not read whole.
fn read_tail(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::{Seek, SeekFrom};
    const TAIL: u64 = 256 << 10;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut tail = Vec::new();
    file.take(TAIL).read_to_end(&mut tail)?;
    Ok(String::from_utf8_lossy(&tail).into_owned())
}

/// Tells the host the agent's own session id.
fn report_agent_session(cfg: &Config, agent: Agent, id: &str) {
    let id = id.to_string();
    tell_host(
        cfg,
        Duration::from_secs(1),
        "record the agent's session id",
        |session| Request::AgentSession { session, agent, id },
    );
}

/// Sends a "finished its turn" notice for this session to whoever watches (the bot).
fn notify_stop(cfg: &Config) {
    tell_host(cfg, Duration::from_secs(2), "tell the phone", |session| {
        Request::Notice {
            session,
            kind: NoticeKind::TurnEnded,
            text: "finished its turn".into(),
        }
    });
}

/// Sends this session's `request` to the host, best effort and within `limit` (the agent
/// waits for its hooks); `what` names it should it fail.
fn tell_host(cfg: &Config, limit: Duration, what: &str, request: impl FnOnce(String) -> Request) {
    let session = session_name();
    if session.is_empty() {
        return;
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let socket = cfg.socket_path();
    let sent = rt.block_on(async {
        tokio::time::timeout(limit, async {
            let mut c = Client::connect(&socket).await?;
            c.call(request(session)).await.map(|_| ())
        })
        .await
    });
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("walkie: could not {what}: {e}"),
        Err(_) => eprintln!("walkie: the session host did not answer in time"),
    }
}

/// `walkie ask`: exit 0 on approve, 1 on deny or timeout, 2 when nobody can be asked.
pub(crate) fn run_ask(cfg: &Config, args: AskArgs) -> anyhow::Result<ExitCode> {
    let payload = AskPayload::Question {
        question: args.question.join(" "),
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    };
    let timeout = Duration::from_secs(args.timeout.unwrap_or(cfg.approvals.timeout_s).max(1));
    match ask_host(cfg, payload, timeout) {
        Ok(d) => match d {
            Decision::Allow | Decision::AllowNetwork { .. } => {
                eprintln!("walkie: approved");
                Ok(ExitCode::SUCCESS)
            }
            Decision::Deny { reason } => {
                eprintln!(
                    "walkie: denied{}",
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    }
                );
                Ok(ExitCode::from(1))
            }
            Decision::Fallback => {
                eprintln!("walkie: no usable answer; treating as no");
                Ok(ExitCode::from(1))
            }
        },
        Err(ClientError::Host {
            kind: ErrorKind::Timeout,
            ..
        }) => {
            eprintln!(
                "walkie: no decision within {} s; treating as no",
                timeout.as_secs()
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("walkie: cannot ask: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
