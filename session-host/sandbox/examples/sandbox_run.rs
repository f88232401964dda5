//! Runs one command in a sandbox by hand, with this terminal as its terminal:
//! `sandbox_run [--profile P] [--network off|allowlist|open] [--allow NAME[=IP]]... -- CMD ARGS`
//! (from the cwd, with $HOME; the agent dirs are Claude Code's and Codex's, $CODEX_HOME too).
//! For `allowlist` it serves the
//! proxy itself; `NAME=IP` also pins the name to IP (a local fake server). Names off the list
//! are denied and printed. The trampoline is the crate's `walkie-sandbox` next to this example
//! (`cargo build -p walkie-sandbox --examples --bins`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use walkie_sandbox::{
    preflight, AgentDirs, Decide, Decision, Mechanism, NetworkMode, Plan, Profile, Proxy,
    ProxyOptions, Resolver, SessionPaths,
};

fn usage() -> ! {
    eprintln!("usage: sandbox_run [--profile P] [--network off|allowlist|open] [--allow NAME[=IP]]... -- CMD ARGS");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut profile_name, mut network, mut allow, mut resolver) = (
        "workspace".to_string(),
        None,
        Vec::new(),
        Resolver::default(),
    );
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--profile" => profile_name = args.next().unwrap_or_else(|| usage()),
            "--network" => {
                network = Some(match args.next().as_deref() {
                    Some("off") => NetworkMode::Off,
                    Some("allowlist") => NetworkMode::Allowlist,
                    Some("open") => NetworkMode::Open,
                    _ => usage(),
                })
            }
            "--allow" => {
                let rule = args.next().unwrap_or_else(|| usage());
                let (name, ip) = rule
                    .split_once('=')
                    .map_or((rule.as_str(), None), |(n, ip)| (n, Some(ip)));
                if let Some(ip) = ip {
                    let ip: IpAddr = ip.parse().unwrap_or_else(|_| usage());
                    resolver = resolver.with_override(name, ip);
                }
                allow.push(name.to_string());
            }
            "--" => {
                command = args.by_ref().collect();
            }
            _ => usage(),
        }
    }
    if command.is_empty() {
        usage();
    }
    let mut profile = Profile::find(&profile_name, &[]).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    profile.network = network.or(profile.network);
    profile.allow_domains.extend(allow.iter().cloned());
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| usage()));
    let cwd = std::env::current_dir().unwrap_or_else(|_| usage());
    // Both agents' state, so either CLI can be tried.
    let mut agent = AgentDirs::claude(&home);
    let codex_home = std::env::var_os("CODEX_HOME").map(PathBuf::from);
    let codex = AgentDirs::codex(&home, codex_home.as_deref());
    agent.state.extend(codex.state);
    agent.protected.extend(codex.protected);
    agent.sandboxes_itself = command[0].ends_with("codex");
    let paths = SessionPaths {
        cwd,
        agent: agent.clone(),
        home,
    };
    let boundary = match profile.resolve(&paths) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    };
    let machine = tokio::task::spawn_blocking(|| preflight(Path::new("bwrap")))
        .await
        .unwrap_or_else(|_| usage());
    let mechanism = machine.mechanism_for(&boundary, &agent);
    eprintln!("sandbox_run: {mechanism:?}\n{}", machine.lines().join("\n"));

    let dir = tempfile::tempdir().unwrap_or_else(|_| usage());
    let socket = dir.path().join("proxy.sock");
    let decide: Decide = Arc::new(|req| {
        Box::pin(async move {
            eprintln!(
                "sandbox_run: denied {}:{} (not on the list)",
                req.host, req.port
            );
            Decision::Deny {
                reason: "denied by the user".into(),
            }
        })
    });
    let proxy = match boundary.network {
        NetworkMode::Allowlist if matches!(mechanism, Mechanism::Bwrap { .. }) => {
            let options = ProxyOptions {
                allow: boundary.allow_domains.clone(),
                resolver,
                ..ProxyOptions::default()
            };
            Some(
                Proxy::bind(&socket, options, decide)
                    .await
                    .unwrap_or_else(|e| {
                        eprintln!("{e}");
                        std::process::exit(1)
                    }),
            )
        }
        _ => None,
    };
    let trampoline = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("walkie-sandbox")))
        .unwrap_or_else(|| usage());
    let plan = Plan {
        mechanism,
        boundary,
        command,
        inner: vec![trampoline.to_string_lossy().into_owned(), "inner".into()],
        proxy_socket: proxy.as_ref().map(|p| p.socket().to_path_buf()),
        bwrap: "bwrap".into(),
        proxy_loopback: false,
        keep_visible: vec![],
    };
    let status = tokio::process::Command::new(&trampoline)
        .args(["exec", &plan.encode()])
        .status()
        .await;
    if let Some(proxy) = &proxy {
        for b in proxy.blocked() {
            eprintln!("sandbox_run: blocked {}:{}: {}", b.host, b.port, b.reason);
        }
    }
    match status {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("sandbox_run: cannot start {}: {e}", trampoline.display());
            std::process::exit(1)
        }
    }
}
