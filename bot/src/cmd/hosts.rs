//! `walkie hosts`: the boxes this walkie reaches over ssh (`[hosts.NAME]` in walkie.toml).
//!
//! - `walkie hosts` lists the local host and each remote one with its state and latency.
//! - `walkie hosts add NAME user@box[:port]` records the host, makes walkie's own key if
//!   needed, prints the restricted `authorized_keys` line for the box and tries the link.
//! - `walkie hosts trust NAME` shows the box's host key and trusts it in walkie's own
//!   known_hosts (never `~/.ssh/known_hosts`) after the user confirms its fingerprint.
//! - `walkie hosts rm NAME` forgets a host.
//!
//! Each command opens its own short-lived link; the running bot holds its own. While
//! `walkie up` runs, `walkie hosts` shows the bot's view instead (its status file).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use walkie_config::{Config, RemoteHost};
use walkie_console::remote;
use walkie_ssh::{HostKeyCheck, LinkState};

/// `walkie hosts ...`.
#[derive(Debug, clap::Args)]
pub(crate) struct HostsArgs {
    #[command(subcommand)]
    command: Option<HostsCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum HostsCommand {
    /// One line per host: name, address, state, latency, sessions.
    Ls,
    /// Record a box, make walkie's key if needed, print the authorized_keys line, try it.
    Add {
        /// walkie's name for the box (`api@NAME`).
        name: String,
        /// `user@box` or `user@box:port`.
        target: String,
        /// Use the ssh agent's identities instead of walkie's own key.
        #[arg(long, conflicts_with = "key")]
        agent: bool,
        /// Use this private key file instead of walkie's own key.
        #[arg(long)]
        key: Option<PathBuf>,
        /// What runs on the box (default `walkie bridge --stdio`; give the full path if
        /// walkie is not on the box's default PATH).
        #[arg(long)]
        bridge: Option<String>,
    },
    /// Trust the box's current host key (after you compare its fingerprint).
    Trust {
        name: String,
        /// The `SHA256:...` fingerprint you expect; without it you are asked.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Forget a box (its sessions stay on it).
    Rm { name: String },
}

/// How long a command waits for a link to come up or give a reason.
const SETTLE: Duration = Duration::from_secs(15);

/// Runs `walkie hosts ...`; `file` is the config file to edit (`--config` or the default).
pub(crate) fn run_hosts(cfg: Config, file: PathBuf, args: HostsArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match args.command.unwrap_or(HostsCommand::Ls) {
            HostsCommand::Ls => list(&cfg).await,
            HostsCommand::Add {
                name,
                target,
                agent,
                key,
                bridge,
            } => add(cfg, &file, &name, &target, agent, key, bridge).await,
            HostsCommand::Trust { name, fingerprint } => trust(&cfg, &name, fingerprint).await,
            HostsCommand::Rm { name } => rm(&cfg, &file, &name),
        }
    })
}

/// What a probe of one host found, as one line's worth.
struct Probe {
    state: String,
    ok: bool,
}

async fn probe(cfg: &Config, name: &str) -> Probe {
    let link = match remote::start(cfg, name) {
        Ok(l) => l,
        Err(e) => {
            return Probe {
                state: format!("down: {e}"),
                ok: false,
            }
        }
    };
    let started = Instant::now();
    match remote::client(cfg, name, &link, SETTLE).await {
        Ok(mut c) => {
            let sessions = c.list().await.map(|l| l.len());
            let ms = started.elapsed().as_millis();
            let latency = match &*link.state().borrow() {
                LinkState::Up { latency: Some(rtt) } => format!("{} ms", rtt.as_millis()),
                _ => format!("{ms} ms to connect"),
            };
            match sessions {
                Ok(n) => Probe {
                    state: format!("up  {latency}  {}", sessions_count(n)),
                    ok: true,
                },
                Err(e) => Probe {
                    state: format!("up  {latency}  but its host: {e}"),
                    ok: false,
                },
            }
        }
        Err(e) => Probe {
            state: format!("down: {}", strip_host(&e.to_string(), name)),
            ok: false,
        },
    }
}

/// "1 session", "3 sessions".
fn sessions_count(n: usize) -> String {
    format!("{n} session{}", if n == 1 { "" } else { "s" })
}

/// The errors say "cloud: ..." for logs; a table already has the name.
fn strip_host<'a>(text: &'a str, name: &str) -> &'a str {
    text.strip_prefix(name)
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(text)
}

async fn list(cfg: &Config) -> anyhow::Result<ExitCode> {
    let local = match super::client::connect(cfg, true).await {
        Ok(mut c) => match c.list().await {
            Ok(l) => format!("up  {}", sessions_count(l.len())),
            Err(e) => format!("down: {e}"),
        },
        Err(e) => format!("not running ({e})")
            .replace(" (start one with `walkie host`, or drop --no-spawn)", ""),
    };
    let mut rows = vec![(
        walkie_config::hosts::LOCAL_HOST.to_string(),
        "this machine".to_string(),
        local,
    )];
    // The running bot's view (its links, "down since" its first failure) when it writes
    // one; else a probe of our own, which knows only now.
    let bot = walkie_console::relay::Status::read_fresh(&walkie_console::relay::status_path(cfg));
    let source = match &bot {
        Some(s) => {
            for name in cfg.hosts.keys() {
                let state = s.hosts.iter().find(|h| h.name == *name).map_or(
                    "not driven by walkie up yet (restart it)".to_string(),
                    |h| h.state.clone(),
                );
                rows.push((name.clone(), cfg.hosts[name].ssh.clone(), state));
            }
            format!("as the running walkie up (pid {}) sees them", s.pid)
        }
        None => {
            let probes = cfg.hosts.keys().map(|name| async move {
                let p = probe(cfg, name).await;
                (name.clone(), p)
            });
            for (name, p) in futures::future::join_all(probes).await {
                rows.push((name.clone(), cfg.hosts[&name].ssh.clone(), p.state));
            }
            "walkie up is not running: probed just now".to_string()
        }
    };
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(7).max(7);
    println!("{:w0$}  {:w1$}  STATE", "HOST", "ADDRESS");
    for (name, addr, state) in rows {
        println!("{name:w0$}  {addr:w1$}  {state}");
    }
    if !cfg.hosts.is_empty() {
        println!("({source})");
    }
    Ok(ExitCode::SUCCESS)
}

async fn add(
    mut cfg: Config,
    file: &Path,
    name: &str,
    target: &str,
    agent: bool,
    key: Option<PathBuf>,
    bridge: Option<String>,
) -> anyhow::Result<ExitCode> {
    walkie_config::hosts::check_host_name(name).map_err(anyhow::Error::msg)?;
    walkie_ssh::parse_target(target)?;
    let mut host = RemoteHost::new(target);
    host.agent = agent;
    host.key = key;
    if let Some(b) = bridge {
        host.bridge = b;
    }
    cfg.hosts.insert(name.to_string(), host.clone());
    cfg.validate()?;
    write_host(file, name, Some(&host))?;
    println!("recorded host {name} ({target}) in {}", file.display());

    if !agent {
        let key = host.key.clone().unwrap_or_else(|| remote::key_path(&cfg));
        let comment = walkie_ssh::key_comment();
        let public = tokio::task::spawn_blocking(move || walkie_ssh::ensure_key(&key, &comment))
            .await
            .context("making walkie's key")??;
        let line = walkie_ssh::authorized_keys_line(&host.bridge, &public)?;
        println!("\nOn {target}, add this line to ~/.ssh/authorized_keys (it may run nothing but the bridge):\n\n{line}\n");
    } else {
        println!(
            "\nAuthenticating with the ssh agent's identities; the box must accept one of them."
        );
    }
    let p = probe(&cfg, name).await;
    println!("{name}: {}", p.state);
    Ok(ExitCode::SUCCESS)
}

/// Writes `[hosts.NAME]` (or removes it with `None`) in the config file, keeping the rest
/// of the file as the user wrote it.
fn write_host(file: &Path, name: &str, host: Option<&RemoteHost>) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    if !doc.contains_key("hosts") {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        doc.insert("hosts", toml_edit::Item::Table(t));
    }
    let hosts = doc["hosts"]
        .as_table_mut()
        .with_context(|| format!("`hosts` in {} is not a table", file.display()))?;
    match host {
        None => {
            hosts.remove(name);
        }
        Some(h) => {
            let mut t = toml_edit::Table::new();
            t["ssh"] = toml_edit::value(h.ssh.as_str());
            if let Some(k) = &h.key {
                t["key"] = toml_edit::value(k.display().to_string());
            }
            if h.agent {
                t["agent"] = toml_edit::value(true);
            }
            if h.bridge != walkie_config::hosts::DEFAULT_BRIDGE {
                t["bridge"] = toml_edit::value(h.bridge.as_str());
            }
            hosts.insert(name, toml_edit::Item::Table(t));
        }
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = file.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

fn rm(cfg: &Config, file: &Path, name: &str) -> anyhow::Result<ExitCode> {
    remote::remote(cfg, name)?;
    write_host(file, name, None)?;
    println!("forgot host {name}; its sessions keep running on the box");
    Ok(ExitCode::SUCCESS)
}

async fn trust(cfg: &Config, name: &str, expected: Option<String>) -> anyhow::Result<ExitCode> {
    let link = remote::start(cfg, name)?;
    let key = match remote::settle(&link, SETTLE).await {
        LinkState::Down { why, .. } => match why {
            walkie_ssh::Error::HostKey(check) => match *check {
                HostKeyCheck::Unknown(key) => {
                    println!(
                        "{name} ({}) offers an unknown {} host key:\n  {}",
                        cfg.hosts[name].ssh,
                        key.key_type,
                        key.fingerprint()
                    );
                    key
                }
                HostKeyCheck::Changed { key, old } => {
                    println!(
                        "WARNING: the host key of {name} ({}) CHANGED.\n  now:   {} {}\n  known: {}\nIf you did not reinstall the box, someone may be in the middle.",
                        cfg.hosts[name].ssh,
                        key.key_type,
                        key.fingerprint(),
                        old.join(", ")
                    );
                    key
                }
                HostKeyCheck::Trusted => {
                    println!("{name}'s host key is already trusted");
                    return Ok(ExitCode::SUCCESS);
                }
            },
            other => anyhow::bail!("{name}: {other}"),
        },
        LinkState::Up { .. } => {
            println!("{name}'s host key is already trusted");
            return Ok(ExitCode::SUCCESS);
        }
        LinkState::Connecting => {
            anyhow::bail!("{name}: still connecting after {} s", SETTLE.as_secs())
        }
    };
    let fingerprint = key.fingerprint();
    let confirmed = match expected {
        Some(f) => {
            if f.trim() != fingerprint {
                eprintln!("walkie: the fingerprint you gave is not the box's: nothing trusted");
                return Ok(ExitCode::from(1));
            }
            true
        }
        None => ask_yes(&format!("Trust {fingerprint} for {name}? [y/N] "))?,
    };
    if !confirmed {
        println!("not trusted");
        return Ok(ExitCode::from(1));
    }
    let file = remote::known_hosts_path(cfg);
    let written = key.clone();
    tokio::task::spawn_blocking(move || walkie_ssh::trust(&file, &written))
        .await
        .context("trusting the key")?
        .context("writing walkie's known_hosts")?;
    println!("trusted {} for {name}", fingerprint);
    drop(link);
    let p = probe(cfg, name).await;
    println!("{name}: {}", p.state);
    Ok(if p.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A yes from the terminal; anything else (or no terminal) is no.
fn ask_yes(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask on: pass --fingerprint SHA256:... to confirm the key");
    }
    print!("{question}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
