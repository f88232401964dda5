//! Session hosts on other boxes: a `[hosts.NAME]` table becomes an ssh [`Link`] (one
//! connection, its own thread, reconnected forever), and a channel of it a greeted host
//! [`Client`], the same protocol and version handshake as the local socket.
//!
//! The bridge channel (`walkie bridge --stdio` on the box) is the default because a key
//! restricted to that one command can do nothing else; `socket = ...` uses
//! direct-streamlocal to the host's socket where the key may forward.

use std::path::PathBuf;
use std::time::Duration;

use walkie_config::{Config, RemoteHost};
use walkie_host_proto::client::{Client, ClientError};
use walkie_ssh::{Auth, Channel, HostConfig, Link, LinkState};

/// What can stand between walkie and a remote host.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no host {0:?} in walkie.toml: add it with `walkie hosts add {0} user@box`")]
    UnknownHost(String),
    #[error("{host}: {source}")]
    Ssh {
        host: String,
        source: walkie_ssh::Error,
    },
    #[error("{host}: still connecting after {} s", after.as_secs())]
    Connecting { host: String, after: Duration },
    #[error("{host}: {source}")]
    Host { host: String, source: ClientError },
}

/// walkie's own key (made on first `walkie hosts add`), used unless a host names another.
pub fn key_path(cfg: &Config) -> PathBuf {
    cfg.ssh_dir().join("id_ed25519")
}

/// walkie's own known_hosts: the keys the user trusted through walkie. `~/.ssh/known_hosts`
/// is read too, never written.
pub fn known_hosts_path(cfg: &Config) -> PathBuf {
    cfg.ssh_dir().join("known_hosts")
}

/// The configured host `name`.
pub fn remote<'a>(cfg: &'a Config, name: &str) -> Result<&'a RemoteHost, RemoteError> {
    cfg.hosts
        .get(name)
        .ok_or_else(|| RemoteError::UnknownHost(name.to_string()))
}

/// The ssh side of `[hosts.NAME]`.
pub fn link_config(cfg: &Config, name: &str) -> Result<HostConfig, RemoteError> {
    let host = remote(cfg, name)?;
    let auth = if host.agent {
        Auth::Agent {
            socket: host.agent_socket.clone(),
        }
    } else {
        Auth::KeyFile(host.key.clone().unwrap_or_else(|| key_path(cfg)))
    };
    let mut link =
        HostConfig::new(name, &host.ssh, auth, known_hosts_path(cfg)).map_err(|source| {
            RemoteError::Ssh {
                host: name.to_string(),
                source,
            }
        })?;
    link.bridge_command = host.bridge.clone();
    Ok(link)
}

/// Starts the link to `name` (it connects in the background).
pub fn start(cfg: &Config, name: &str) -> Result<Link, RemoteError> {
    Link::start(link_config(cfg, name)?).map_err(|source| RemoteError::Ssh {
        host: name.to_string(),
        source,
    })
}

/// The link's state once it is no longer connecting, or `Connecting` after `within`.
pub async fn settle(link: &Link, within: Duration) -> LinkState {
    let mut state = link.state();
    let settled = tokio::time::timeout(within, async {
        state
            .wait_for(|s| !matches!(s, LinkState::Connecting))
            .await
            .map(|s| s.clone())
    })
    .await;
    match settled {
        Ok(Ok(s)) => s,
        _ => state.borrow().clone(),
    }
}

/// A greeted host client over a new channel of `link`: the bridge, or the host's socket
/// on the box when the host says `socket`. Waits up to `timeout` for the link to come up.
pub async fn client(
    cfg: &Config,
    name: &str,
    link: &Link,
    timeout: Duration,
) -> Result<Client<Channel>, RemoteError> {
    let host = remote(cfg, name)?;
    let ssh = |source| RemoteError::Ssh {
        host: name.to_string(),
        source,
    };
    match settle(link, timeout).await {
        LinkState::Up { .. } => {}
        LinkState::Down { why, .. } => return Err(ssh(why)),
        LinkState::Connecting => {
            return Err(RemoteError::Connecting {
                host: name.to_string(),
                after: timeout,
            })
        }
    }
    let channel = channel(host, link).await.map_err(ssh)?;
    Client::over_within(channel, timeout)
        .await
        .map_err(|source| RemoteError::Host {
            host: name.to_string(),
            source,
        })
}

/// A new channel of `link` to the host's protocol (the bridge, or the host's socket on the
/// box when the host says `socket`), not greeted: the relay passes the caller's own hello.
pub async fn channel(host: &RemoteHost, link: &Link) -> Result<Channel, walkie_ssh::Error> {
    match &host.socket {
        Some(path) => link.streamlocal(path).await,
        None => link.bridge().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_table_becomes_a_link_config() {
        let mut cfg = Config::from_toml(
            "state_dir = \"/st\"\n[hosts.cloud]\nssh = \"me@box:2222\"\n[hosts.lab]\nssh = \"me@lab\"\nagent = true\nagent_socket = \"/run/agent\"\nbridge = \"/opt/walkie bridge --stdio\"\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        let c = link_config(&cfg, "cloud").unwrap();
        assert_eq!(
            (c.user.as_str(), c.host.as_str(), c.port),
            ("me", "box", 2222)
        );
        assert!(matches!(&c.auth, Auth::KeyFile(k) if k == &PathBuf::from("/st/ssh/id_ed25519")));
        assert_eq!(c.own_known_hosts, PathBuf::from("/st/ssh/known_hosts"));
        assert_eq!(c.bridge_command, "walkie bridge --stdio");
        let l = link_config(&cfg, "lab").unwrap();
        assert!(
            matches!(&l.auth, Auth::Agent { socket: Some(s) } if s == &PathBuf::from("/run/agent"))
        );
        assert_eq!(l.bridge_command, "/opt/walkie bridge --stdio");
        cfg.hosts.clear();
        let e = link_config(&cfg, "cloud").unwrap_err().to_string();
        assert!(e.contains("walkie hosts add cloud"), "{e}");
    }
}
