//! Which host a command's session address names, and a connection to it.
//!
//! `api@cloud` is the session `api` on `[hosts.cloud]`, reached through the running
//! `walkie up`'s ssh connection when it relays that host, else through its own ssh link
//! (held as long as the connection); `api@local` and a bare `api` with no hosts configured
//! are this machine's. A bare name with hosts configured is the local session if there is
//! one, else the one host that has it; two hosts having it is an error naming both.

use std::time::Duration;

use walkie_config::hosts::LOCAL_HOST;
use walkie_config::Config;
use walkie_console::remote;
use walkie_host_proto::client::{Client, ClientError, Stream};
use walkie_host_proto::name::Address;
use walkie_host_proto::SessionInfo;

/// A host connection of either kind.
pub(crate) type AnyClient = Client<Box<dyn Stream>>;

/// A connection to one host; for a remote one, its ssh link lives as long as this.
pub(crate) struct Target {
    pub(crate) client: AnyClient,
    /// `None`: this machine.
    pub(crate) host: Option<String>,
    /// This machine's host socket (a duplicate fd), over which `attach` hands the terminal
    /// to the host; `None` for a remote host (a terminal cannot cross ssh).
    pub(crate) socket: Option<std::os::fd::OwnedFd>,
    _link: Option<walkie_ssh::Link>,
}

/// How long a command waits for a remote link to come up.
const REMOTE_WITHIN: Duration = Duration::from_secs(15);

/// This machine's host (started unless `no_spawn`).
pub(crate) async fn local(cfg: &Config, no_spawn: bool) -> anyhow::Result<Target> {
    use std::os::fd::AsFd;
    let client = super::client::connect(cfg, no_spawn).await?;
    let socket = client.stream().as_fd().try_clone_to_owned().ok();
    Ok(Target {
        client: client.boxed(),
        host: None,
        socket,
        _link: None,
    })
}

/// How long the running bot's relay may take to answer a hello.
const RELAY_WITHIN: Duration = Duration::from_secs(10);

/// The configured host `name`: through the running `walkie up`'s own ssh connection when
/// it relays this host (walkie_console::relay), else through a new ssh link.
pub(crate) async fn remote(cfg: &Config, name: &str) -> anyhow::Result<Target> {
    remote::remote(cfg, name)?;
    let relay = walkie_console::relay::socket_path(cfg, name);
    match Client::connect_within(&relay, RELAY_WITHIN).await {
        Ok(client) => {
            tracing::debug!(host = name, "through walkie up's link");
            return Ok(Target {
                client: client.boxed(),
                host: Some(name.to_string()),
                socket: None,
                _link: None,
            });
        }
        // No bot running (or a stale socket): a link of our own.
        Err(ClientError::NotRunning(_)) => {}
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "{name} through walkie up's link ({})",
                relay.display()
            )))
        }
    }
    let link = remote::start(cfg, name)?;
    let client = remote::client(cfg, name, &link, REMOTE_WITHIN).await?;
    Ok(Target {
        client: client.boxed(),
        host: Some(name.to_string()),
        socket: None,
        _link: Some(link),
    })
}

/// The host `host` names: `None` and `local` are this machine.
pub(crate) async fn open(
    cfg: &Config,
    no_spawn: bool,
    host: Option<&str>,
) -> anyhow::Result<Target> {
    match host {
        None | Some(LOCAL_HOST) => local(cfg, no_spawn).await,
        Some(h) => remote(cfg, h).await,
    }
}

/// The host of the session `addr` names (see the module doc for bare names).
pub(crate) async fn for_session(
    cfg: &Config,
    no_spawn: bool,
    addr: &Address,
) -> anyhow::Result<Target> {
    if addr.host.is_some() || cfg.hosts.is_empty() {
        return open(cfg, no_spawn, addr.host.as_deref()).await;
    }
    // No local host (with --no-spawn) is not an error yet: the session may be remote.
    let mut here = local(cfg, no_spawn).await;
    if let Ok(t) = &mut here {
        if has(&mut t.client, addr.name.as_str()).await? {
            return here;
        }
    }
    let looks = cfg.hosts.keys().map(|h| async move {
        let t = remote(cfg, h).await;
        (h.clone(), t)
    });
    let mut found = Vec::new();
    for (h, t) in futures::future::join_all(looks).await {
        // A host that is down cannot be the one; `walkie hosts` says why.
        if let Ok(mut t) = t {
            if has(&mut t.client, addr.name.as_str())
                .await
                .unwrap_or(false)
            {
                found.push((h, t));
            }
        }
    }
    match found.len() {
        // Nowhere: the local host gives the usual "no such session" (or why it is absent).
        0 => here,
        1 => Ok(found.remove(0).1),
        _ => {
            let names: Vec<String> = found
                .iter()
                .map(|(h, _)| format!("{}@{h}", addr.name))
                .collect();
            anyhow::bail!(
                "{} is on several hosts: say {}",
                addr.name,
                names.join(" or ")
            )
        }
    }
}

async fn has(c: &mut AnyClient, name: &str) -> Result<bool, ClientError> {
    Ok(c.list().await?.iter().any(|s: &SessionInfo| s.name == name))
}

/// Every host's sessions for `walkie ls`: this machine's first, then each configured host
/// (in parallel); a host that cannot be reached gives its reason instead.
pub(crate) async fn list_all(
    cfg: &Config,
    no_spawn: bool,
) -> Vec<(String, anyhow::Result<Vec<SessionInfo>>)> {
    let mut out = Vec::new();
    let here = match local(cfg, no_spawn).await {
        Ok(mut t) => t.client.list().await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    out.push((LOCAL_HOST.to_string(), here));
    let looks = cfg.hosts.keys().map(|h| async move {
        let list = match remote(cfg, h).await {
            Ok(mut t) => t.client.list().await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        (h.clone(), list)
    });
    out.extend(futures::future::join_all(looks).await);
    out
}
