//! `/new NAME [PRESET [DIR] | command...]`: starts a session (a preset through the one
//! expansion, [`crate::presets::expand`], agent hooks included) and makes it the chat's
//! current one. Where it runs and its environment file: [`crate::workdir`].

use walkie_host_proto::protocol::NewSession;

use super::{host_answer, Console, NewSpec, Result, SandboxChoice, View};
use crate::front::{ChatId, Frontend, UserId};
use crate::host::Host;
use crate::presets::{self, Launch};
use crate::session::SessionRef;
use crate::store::{AuditAction, AuditEntry};
use crate::workdir::{self, DirChoice, Place, WorkdirError};

/// Longest directory shown on a button.
const LABEL_CHARS: usize = 40;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    user: UserId,
    chat: ChatId,
    name: String,
    spec: NewSpec,
    dir: Option<String>,
    choice: SandboxChoice,
) -> Result<()> {
    // A session on another box: its preset, profiles and paths are that box's, so it is asked
    // for by name and expanded there (`NewSession.expand`, walkie-presets on the box).
    let remote = crate::session::SessionRef::address(&name).host != crate::session::LOCAL_HOST;
    if let Some(p) = choice.profile.as_ref().filter(|_| !remote) {
        if c.cfg.sandbox.profile(p).is_err() {
            let mut known = vec!["off", "workspace", "readonly"];
            known.extend(c.cfg.sandbox.profiles.keys().map(String::as_str));
            return c
                .say(
                    chat,
                    format!("No sandbox profile {p}; use {}.", known.join(", ")),
                )
                .await;
        }
    }
    // What the answer names: the preset's own command, without the hook arguments.
    let (launch, program) = match &spec {
        NewSpec::Default => (Launch::default(), Vec::new()),
        NewSpec::Preset(p) if remote => (
            Launch {
                preset: Some(p.clone()),
                ..Launch::default()
            },
            vec![p.clone()],
        ),
        NewSpec::Preset(p) => match presets::expand(&c.cfg, p, &name) {
            Ok(l) => {
                let program = c.cfg.presets.get(p).map(|p| p.command.clone());
                (l, program.unwrap_or_default())
            }
            Err(_) => return c.say(chat, format!("No preset {p}.")).await,
        },
        NewSpec::Command(cmd) => (
            Launch {
                command: cmd.clone(),
                ..Launch::default()
            },
            cmd.clone(),
        ),
    };
    let shown = if program.is_empty() {
        "your shell".to_string()
    } else {
        program.join(" ")
    };
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from);
    let preset = match &spec {
        NewSpec::Preset(p) => Some(p.as_str()),
        _ => None,
    };
    // A session on another box: its DIR is that box's (`~` its home), taken as written and
    // checked there; no DIR is the box's home (this machine's recent dirs mean nothing there).
    let place = if remote {
        Ok(dir.as_ref().map_or(Place::Home, |d| Place::Dir(d.into())))
    } else {
        workdir::place(&c.cfg, &c.store, preset, dir.as_deref(), home.as_deref()).await
    };
    let cwd = match place {
        Ok(Place::Dir(d)) => Some(d),
        Ok(Place::Home) => None,
        Ok(Place::Choose(dirs)) => {
            let preset = preset.unwrap_or_default().to_string();
            let labels = dirs
                .iter()
                .map(|d| workdir::short_dir(d, home.as_deref(), LABEL_CHARS))
                .collect();
            let choice = DirChoice {
                chat,
                name: name.clone(),
                preset: preset.clone(),
                dirs,
                boundary: choice.clone(),
            };
            let choice = c.store.save_dir_choice(&choice).await?;
            let view = View::Dirs {
                session: name,
                preset,
                choice,
                labels,
            };
            return c.reply(chat, view).await;
        }
        Err(WorkdirError::Refused(why)) => return c.say(chat, why).await,
        Err(WorkdirError::Store(e)) => return Err(e.into()),
    };
    // The environment file, then the preset's env (which wins).
    let mut env = match workdir::phone_env(&c.cfg) {
        Ok(e) => e,
        Err(e) => return c.say(chat, e.to_string()).await,
    };
    let Launch {
        command,
        env: preset_env,
        preset: launched_preset,
        resume,
        sandbox,
        network,
        ..
    } = launch;
    env.extend(preset_env);
    let place = match &cwd {
        Some(d) => format!(" in {}", d.display()),
        None => String::new(),
    };
    let sandbox = choice.profile.clone().or(sandbox);
    let network = choice.network.or(network);
    let expand = remote && matches!(spec, NewSpec::Preset(_));
    let spec = NewSession {
        name: name.clone(),
        command,
        cwd: cwd.clone(),
        env,
        size: None,
        record: true,
        preset: launched_preset,
        resume,
        sandbox,
        network,
        expand,
    };
    // Its host is down: into the outbox like text, started once when the host is back. It
    // is the chat's current session from now, so text sent meanwhile queues behind it.
    if let Some(since) = c.host.queue_for(&name).filter(|_| remote) {
        let current = SessionRef::address(&name);
        c.store.set_current_session(chat, Some(&current)).await?;
        let who = format!("telegram user {} (command)", user.0);
        let payload = crate::outbox::Payload::New(Box::new(spec));
        return crate::outbox::queue(
            &c.store,
            &c.front,
            Some(user),
            chat,
            &name,
            payload,
            &who,
            since,
        )
        .await;
    }
    match c.host.new_session(spec).await {
        Ok(created) => {
            let current = SessionRef::address(created.as_str());
            c.store.set_current_session(chat, Some(&current)).await?;
            if let Some(d) = cwd.as_ref().filter(|_| !remote) {
                c.store.remember_dir(d).await?;
            }
            c.say(
                chat,
                format!("Started {created} ({shown}){place}; plain text now goes to it."),
            )
            .await?;
            if choice != SandboxChoice::default() {
                let entry = AuditEntry {
                    user_id: Some(user),
                    chat_id: Some(chat),
                    session: Some(current.clone()),
                    action: AuditAction::Boundary,
                    source: Some("command".into()),
                    text: Some(format!(
                        "--sandbox {} --network {}",
                        choice.profile.as_deref().unwrap_or("(preset's)"),
                        choice.network.map_or("(profile's)", |n| n.as_str())
                    )),
                    detail: None,
                };
                c.store.audit(&entry).await?;
            }
            // The boundary card, so the phone sees what the agent may do from the start.
            match c.host.boundary(created.as_str()).await {
                Ok(b) if b.profile != "off" || b.enforced => {
                    c.reply(chat, View::Boundary(Box::new(b))).await?
                }
                _ => {}
            }
            c.front.watch(chat, &created);
            Ok(())
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
