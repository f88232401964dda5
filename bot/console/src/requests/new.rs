//! `/new NAME [PRESET | command...]`: starts a session (a preset through the one
//! expansion, [`crate::presets::expand`], agent hooks included) and makes it the chat's
//! current one.

use walkie_host_proto::protocol::NewSession;

use super::{host_answer, Console, NewSpec, Result};
use crate::front::{ChatId, Frontend};
use crate::host::Host;
use crate::presets::{self, Launch};
use crate::session::SessionRef;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: String,
    spec: NewSpec,
) -> Result<()> {
    // What the answer names: the preset's own command, without the hook arguments.
    let (launch, program) = match &spec {
        NewSpec::Default => (Launch::default(), Vec::new()),
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
    let Launch {
        command,
        cwd,
        env,
        preset,
        resume,
    } = launch;
    let spec = NewSession {
        name: name.clone(),
        command,
        cwd,
        env,
        size: None,
        record: true,
        preset,
        resume,
    };
    match c.host.new_session(spec).await {
        Ok(created) => {
            let current = SessionRef::local(created.as_str());
            c.store.set_current_session(chat, Some(&current)).await?;
            c.say(
                chat,
                format!("Started {created} ({shown}); plain text now goes to it."),
            )
            .await?;
            c.front.watch(chat, &created);
            Ok(())
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
