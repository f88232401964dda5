//! A session's boundary as a neutral card: labelled lines and widen buttons with typed
//! actions, shared by the phone (`walkie-telegram` renders HTML and a keyboard) and the
//! terminal (`walkie boundary NAME` prints the lines).

use std::path::Path;

use walkie_host_proto::sandbox::{BoundaryInfo, NetworkMode};

/// What a widen button does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Widen {
    /// Adds the domain to the session's allowlist (live).
    AllowDomain(String),
    /// Network `open` for the session (live for the proxy: every domain allowed).
    OpenNetwork,
    /// Start the session again with another file boundary (a restart).
    EditBoundary,
}

/// One line of the card: a label and its value.
pub type Line = (&'static str, String);

/// A session of profile `off` with the open network: the host records it explicitly (so its
/// card can say what it may reach), but there is no boundary to describe.
pub fn is_none(b: &BoundaryInfo) -> bool {
    b.profile == "off" && !b.enforced && b.network == NetworkMode::Open
}

/// What the card says of a session without a boundary.
pub const NO_BOUNDARY: &str =
    "none (profile off): it runs as you, with your files and the open network; start it again with --sandbox workspace for one";

/// The lines of the card, in order.
pub fn lines(b: &BoundaryInfo) -> Vec<Line> {
    let list = |paths: &[std::path::PathBuf]| -> String {
        if paths.is_empty() {
            "none".into()
        } else {
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let enforced = if b.enforced {
        "enforced"
    } else {
        "NOT enforced"
    };
    if is_none(b) {
        let mut out: Vec<Line> = vec![("boundary", NO_BOUNDARY.to_string())];
        if !b.credentials.is_empty() {
            out.push(("credentials passed in", b.credentials.join(", ")));
        }
        if let Some(mode) = &b.agent_mode {
            out.push(("agent permission mode", mode.clone()));
        }
        out.extend(b.notes.iter().map(|n| ("note", n.clone())));
        return out;
    }
    let mut out: Vec<Line> = vec![
        ("profile", b.profile.clone()),
        ("mechanism", format!("{} ({enforced})", b.mechanism)),
    ];
    if b.enforced && !b.write.is_empty() || b.profile != "off" {
        out.push(("write", list(&b.write)));
        out.push(("read denied", list(&b.deny_read)));
        out.push(("protected", list(&b.protected)));
    }
    let network = match b.network {
        NetworkMode::Allowlist if b.allow_domains.is_empty() => {
            "allowlist (no domain yet: every connection asks)".to_string()
        }
        NetworkMode::Allowlist => format!("allowlist: {}", b.allow_domains.join(", ")),
        NetworkMode::Off => "off (loopback only)".to_string(),
        NetworkMode::Open => "open".to_string(),
    };
    out.push(("network", network));
    out.push((
        "credentials passed in",
        if b.credentials.is_empty() {
            "none".into()
        } else {
            b.credentials.join(", ")
        },
    ));
    if let Some(mode) = &b.agent_mode {
        out.push(("agent permission mode", mode.clone()));
    }
    if b.waiting > 0 {
        out.push(("waiting for a decision", b.waiting.to_string()));
    }
    for x in b.blocked.iter().rev().take(5) {
        out.push(("blocked", format!("{}:{} ({})", x.host, x.port, x.reason)));
    }
    for n in &b.notes {
        out.push(("note", n.clone()));
    }
    out
}

/// The widen buttons: the last blocked domains, open network, edit boundary (none for a
/// session without a boundary: there is nothing to widen).
pub fn buttons(b: &BoundaryInfo) -> Vec<(String, Widen)> {
    let mut out = Vec::new();
    if is_none(b) {
        return out;
    }
    if b.network == NetworkMode::Allowlist {
        let mut seen: Vec<&str> = Vec::new();
        for x in b.blocked.iter().rev() {
            if seen.len() == 3 || seen.contains(&x.host.as_str()) {
                continue;
            }
            if b.allow_domains.iter().any(|d| d == &x.host) {
                continue;
            }
            seen.push(&x.host);
            out.push((
                format!("Allow {}", x.host),
                Widen::AllowDomain(x.host.clone()),
            ));
        }
    }
    if b.network != NetworkMode::Open {
        out.push(("Open network".into(), Widen::OpenNetwork));
    }
    out.push(("Edit boundary → restart".into(), Widen::EditBoundary));
    out
}

/// The card as plain text (the terminal's `walkie boundary NAME`).
pub fn text(b: &BoundaryInfo) -> String {
    let mut s = if is_none(b) {
        format!("{}: no boundary\n", b.session)
    } else {
        format!("{}: boundary\n", b.session)
    };
    for (label, value) in lines(b) {
        s.push_str(&format!("  {label}: {value}\n"));
    }
    s
}

/// Shortens a path under `home` to `~/...` for a phone's narrow screen.
pub fn short(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".into(),
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkie_host_proto::sandbox::BlockedAttempt;

    fn info() -> BoundaryInfo {
        BoundaryInfo {
            session: "api".into(),
            profile: "workspace".into(),
            mechanism: "bubblewrap + seccomp + Landlock".into(),
            enforced: true,
            write: vec!["/h/src/api".into()],
            deny_read: vec!["/h/.ssh".into()],
            protected: vec!["/h/src/api/.git/hooks".into()],
            network: NetworkMode::Allowlist,
            allow_domains: vec!["api.anthropic.com".into()],
            credentials: vec!["ANTHROPIC_API_KEY".into()],
            agent_mode: Some("default".into()),
            blocked: vec![
                BlockedAttempt {
                    at_ms: 1,
                    host: "pypi.org".into(),
                    port: 443,
                    reason: "denied".into(),
                },
                BlockedAttempt {
                    at_ms: 2,
                    host: "pypi.org".into(),
                    port: 443,
                    reason: "denied".into(),
                },
            ],
            waiting: 0,
            notes: vec![],
        }
    }

    #[test]
    fn the_card_names_every_part_and_offers_the_blocked_domain_once() {
        let t = text(&info());
        for part in [
            "bubblewrap + seccomp + Landlock (enforced)",
            "write: /h/src/api",
            "read denied: /h/.ssh",
            "protected: /h/src/api/.git/hooks",
            "allowlist: api.anthropic.com",
            "credentials passed in: ANTHROPIC_API_KEY",
            "agent permission mode: default",
            "blocked: pypi.org:443",
        ] {
            assert!(t.contains(part), "{part} missing in\n{t}");
        }
        let b = buttons(&info());
        assert_eq!(
            b.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
            vec![
                Widen::AllowDomain("pypi.org".into()),
                Widen::OpenNetwork,
                Widen::EditBoundary
            ]
        );
        assert_eq!(short(Path::new("/h/src"), Some(Path::new("/h"))), "~/src");
    }

    #[test]
    fn an_off_session_says_no_boundary_and_offers_nothing_to_widen() {
        let off = BoundaryInfo {
            profile: "off".into(),
            mechanism: "none".into(),
            enforced: false,
            write: vec![],
            deny_read: vec![],
            protected: vec![],
            network: NetworkMode::Open,
            allow_domains: vec![],
            blocked: vec![],
            ..info()
        };
        let t = text(&off);
        assert!(t.starts_with("api: no boundary\n"), "{t}");
        assert!(t.contains("boundary: none (profile off)"), "{t}");
        assert!(!t.contains("mechanism"), "{t}");
        assert!(buttons(&off).is_empty());
    }
}
