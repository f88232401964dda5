//! What a chat message asks for: a slash command parsed into a console
//! [`Request`] (the console routes plain text and spoken notes).
//!
//! The [`Command`] enum is the menu registered with `setMyCommands`; its doc comments are
//! the help texts. teloxide's derive only splits the command from its argument string;
//! the typed parsing of arguments happens in [`parse`], so that every mistake gets a
//! one-line answer saying what would work.

use teloxide::utils::command::{BotCommands, ParseError};
use walkie_console::requests::schedule::ScheduleRequest;
pub(crate) use walkie_console::requests::text::route_voice;
use walkie_console::requests::{NewSpec, Request, SandboxChoice};
use walkie_console::session::{SessionRef, LOCAL_HOST};

/// The bot's commands, as shown in Telegram's command menu.
#[derive(BotCommands, Debug, Clone, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub(crate) enum Command {
    /// NAME [PRESET [DIR] | command...] [--sandbox P] [--network off|allowlist|open]: start a session (DIR: ~/x, /abs, or a project)
    New(String),
    /// [NAME]: what a session may read, write and reach, with buttons to widen it
    Boundary(String),
    /// list sessions
    Ls,
    /// NAME: make a session this chat's current one
    Use(String),
    /// [NAME]: show a session's screen
    Screen(String),
    /// [NAME]: the screen as a picture
    Shot(String),
    /// [NAME]: a live picture of the screen, with keys
    Watch(String),
    /// [NAME]: the session's recording as an asciicast file
    Replay(String),
    /// [NAME] [N]: last N lines of output
    Tail(String),
    /// [NAME] KEYS: press keys (Enter, Escape, C-c, Up, Tab...)
    Keys(String),
    /// [NAME]: pause a session
    Pause(String),
    /// [NAME]: resume a paused session
    Resume(String),
    /// [NAME]: end a session
    Kill(String),
    /// [NAME]: how to attach from a terminal
    Attach(String),
    /// [all | approvals | none]: what makes this chat buzz
    Notify(String),
    /// [add SCHEDULE TARGET: TEXT | zone [NAME]]: jobs on a timetable
    Schedule(String),
    /// what walkie can do
    Help,
}

/// A one-line answer for a command that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Usage(pub String);

/// Largest `/tail` line count.
pub(crate) const MAX_TAIL_LINES: usize = 500;

/// Is `name` a valid session address: a session name (`[a-z0-9][a-z0-9._-]{0,31}`, the
/// host's rule) alone or `name@host` (a session on `[hosts.host]`)?
pub(crate) fn is_session_name(name: &str) -> bool {
    // The host's own rule, so that the bot never refuses a name the host takes.
    walkie_host_proto::name::Address::parse(name).is_ok()
}

/// Is `s` a key name that `/keys` understands (so it is not taken for a session name)?
pub(crate) fn is_key_name(s: &str) -> bool {
    s.parse::<walkie_host_proto::keys::Key>().is_ok()
}

/// Parses a message that starts with `/`. `Ok(None)`: not a command of ours (e.g. a
/// command addressed to another bot). `presets` are the configured preset names.
pub(crate) fn parse(
    text: &str,
    bot_username: &str,
    presets: &[String],
) -> Result<Option<Request>, Usage> {
    if !text.starts_with('/') {
        return Ok(None);
    }
    let cmd = match Command::parse(text, bot_username) {
        Ok(c) => c,
        Err(ParseError::UnknownCommand(c)) => {
            return Err(Usage(format!(
                "unknown command {c}; /help lists what works"
            )));
        }
        Err(ParseError::WrongBotName(_)) => return Ok(None),
        Err(ParseError::TooManyArguments { .. }) => {
            let word = text.split_whitespace().next().unwrap_or(text);
            return Err(Usage(format!("{word} takes no arguments")));
        }
        Err(e) => {
            return Err(Usage(format!(
                "could not read that command ({e}); see /help"
            )))
        }
    };
    let req = match cmd {
        Command::New(args) => parse_new(&args, presets)?,
        Command::Boundary(args) => Request::Boundary {
            name: optional_name(&args, "/boundary [NAME]")?,
        },
        Command::Ls => Request::Ls,
        Command::Use(args) => match words(&args)?.as_slice() {
            [name] => Request::Use {
                name: session(name)?,
            },
            _ => return Err(Usage("usage: /use NAME (see /ls for names)".into())),
        },
        Command::Screen(args) => Request::Screen {
            name: optional_name(&args, "/screen [NAME]")?,
        },
        Command::Shot(args) => Request::Shot {
            name: optional_name(&args, "/shot [NAME]")?,
        },
        Command::Watch(args) => Request::Watch {
            name: optional_name(&args, "/watch [NAME]")?,
        },
        Command::Replay(args) => Request::Replay {
            name: optional_name(&args, "/replay [NAME]")?,
        },
        Command::Tail(args) => parse_tail(&args)?,
        Command::Keys(args) => parse_keys(&args)?,
        Command::Pause(args) => Request::Pause {
            name: optional_name(&args, "/pause [NAME]")?,
        },
        Command::Resume(args) => Request::Resume {
            name: optional_name(&args, "/resume [NAME]")?,
        },
        Command::Kill(args) => Request::Kill {
            name: optional_name(&args, "/kill [NAME]")?,
        },
        Command::Attach(args) => Request::Attach {
            name: optional_name(&args, "/attach [NAME]")?,
        },
        Command::Notify(args) => {
            if args.trim().is_empty() {
                Request::Notify { level: None }
            } else if let Ok(level) = args.parse() {
                Request::Notify { level: Some(level) }
            } else {
                return Err(Usage("Usage: /notify [all | approvals | none]".into()));
            }
        }
        Command::Schedule(args) => Request::Schedule(parse_schedule(&args)?),
        Command::Help => Request::Help,
    };
    Ok(Some(req))
}

/// `/schedule`, `/schedule add <schedule> <target>: <text>`, `/schedule zone [NAME]`.
fn parse_schedule(args: &str) -> Result<ScheduleRequest, Usage> {
    let args = args.trim();
    let (word, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let rest = rest.trim();
    Ok(match word {
        "" | "ls" | "list" if rest.is_empty() => ScheduleRequest::List,
        "add" if !rest.is_empty() => ScheduleRequest::Add { line: rest.into() },
        "zone" => ScheduleRequest::Zone {
            name: (!rest.is_empty()).then(|| rest.to_string()),
        },
        _ => {
            return Err(Usage(
                "usage: /schedule (the jobs), /schedule add <schedule> <target>: <text> \
                 (e.g. /schedule add 0 9 * * 1-5 backend: triage new issues, or \
                 /schedule add in 20m api: check the deploy), /schedule zone [NAME]"
                    .into(),
            ))
        }
    })
}

fn session(name: &str) -> Result<String, Usage> {
    if is_session_name(name) {
        Ok(name.to_string())
    } else {
        Err(Usage(format!(
            "{name:?} is not a session name; names are lowercase letters, digits, '.', '_' and '-', up to 32"
        )))
    }
}

fn optional_name(args: &str, usage: &str) -> Result<Option<String>, Usage> {
    match words(args)?.as_slice() {
        [] => Ok(None),
        [name] => session(name).map(Some),
        _ => Err(Usage(format!("usage: {usage}"))),
    }
}

/// `/new NAME [PRESET [DIR] | [--] command...]`: a known preset and one more word that is
/// not an option is PRESET DIR; `--` makes the rest a command even if it starts with a
/// preset's name (`/new x -- codex resume`). For `NAME@HOST` the preset is the box's, so one
/// word (and a DIR) is a preset whatever this machine's config has.
fn parse_new(args: &str, presets: &[String]) -> Result<Request, Usage> {
    const USAGE: &str =
        "usage: /new NAME [PRESET [DIR] | command...] [--sandbox PROFILE] [--network off|allowlist|open]";
    let (w, sandbox) = sandbox_flags(words(args)?)?;
    let Some((name, rest)) = w.split_first() else {
        let list = presets.join(", ");
        return Err(Usage(format!("{USAGE}; presets: {list}")));
    };
    let name = session(name)?;
    // Another box's presets are its own (it expands them): there any word may be one, and the
    // box answers one it lacks.
    let remote = SessionRef::address(&name).host != LOCAL_HOST;
    let is_preset = |p: &String| presets.contains(p) || (remote && !p.starts_with('-'));
    let (spec, dir) = match rest {
        [] => (NewSpec::Default, None),
        [one] if is_preset(one) => (NewSpec::Preset(one.clone()), None),
        [one, dir] if is_preset(one) && !dir.starts_with('-') => {
            (NewSpec::Preset(one.clone()), Some(dir.clone()))
        }
        [dashes, cmd @ ..] if dashes == "--" && !cmd.is_empty() => {
            (NewSpec::Command(cmd.to_vec()), None)
        }
        cmd => (NewSpec::Command(cmd.to_vec()), None),
    };
    Ok(Request::New {
        name,
        spec,
        dir,
        sandbox,
    })
}

/// Takes `--sandbox P` and `--network M` out of `/new`'s words, up to a `--` (after it the
/// words are the command's own).
fn sandbox_flags(words: Vec<String>) -> Result<(Vec<String>, SandboxChoice), Usage> {
    let mut rest = Vec::new();
    let mut choice = SandboxChoice::default();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "--" => {
                rest.push(w);
                rest.extend(it.by_ref());
            }
            "--sandbox" => match it.next() {
                Some(p) if !p.starts_with('-') => choice.profile = Some(p),
                _ => {
                    return Err(Usage(
                        "--sandbox needs a profile: off, workspace, readonly or one of [sandbox.profiles]".into(),
                    ))
                }
            },
            "--network" => match it.next().map(|m| m.parse()) {
                Some(Ok(m)) => choice.network = Some(m),
                Some(Err(e)) => return Err(Usage(e)),
                None => return Err(Usage("--network needs off, allowlist or open".into())),
            },
            _ => rest.push(w),
        }
    }
    Ok((rest, choice))
}

fn parse_tail(args: &str) -> Result<Request, Usage> {
    const USAGE: &str = "usage: /tail [NAME] [N]";
    let mut name = None;
    let mut lines = None;
    for w in words(args)? {
        if let Ok(n) = w.parse::<usize>() {
            if lines.is_some() || n == 0 || n > MAX_TAIL_LINES {
                return Err(Usage(format!("{USAGE} with N from 1 to {MAX_TAIL_LINES}")));
            }
            lines = Some(n);
        } else if name.is_none() && lines.is_none() {
            name = Some(session(&w)?);
        } else {
            return Err(Usage(USAGE.into()));
        }
    }
    Ok(Request::Tail { name, lines })
}

fn parse_keys(args: &str) -> Result<Request, Usage> {
    const USAGE: &str =
        "usage: /keys [NAME] KEYS, e.g. /keys Enter, /keys backend C-c, /keys Up Up Enter";
    let mut w = words(args)?;
    let name = match w.first() {
        Some(first) if !is_key_name(first) && w.len() > 1 => Some(session(first)?),
        _ => None,
    };
    if name.is_some() {
        w.remove(0);
    }
    if w.is_empty() {
        return Err(Usage(USAGE.into()));
    }
    if let Some(bad) = w.iter().find(|k| !is_key_name(k)) {
        return Err(Usage(format!("unknown key {bad:?}; {USAGE}")));
    }
    Ok(Request::Keys { name, keys: w })
}

/// Splits arguments like a shell does: whitespace separates, quotes group, backslash escapes.
pub(crate) fn words(s: &str) -> Result<Vec<String>, Usage> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(n) => cur.push(n),
                None => return Err(Usage("a trailing backslash escapes nothing".into())),
            },
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
        if quote.is_some() {
            in_word = true;
        }
    }
    if quote.is_some() {
        return Err(Usage("a quote is not closed".into()));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presets() -> Vec<String> {
        vec!["claude".into(), "codex".into(), "shell".into()]
    }

    fn p(text: &str) -> Result<Option<Request>, Usage> {
        parse(text, "walkie_bot", &presets())
    }

    fn new(name: &str, spec: NewSpec, dir: Option<&str>) -> Option<Request> {
        Some(Request::New {
            name: name.into(),
            spec,
            dir: dir.map(str::to_string),
            sandbox: SandboxChoice::default(),
        })
    }

    #[test]
    fn new_with_preset_command_or_nothing() {
        let preset = |p: &str| NewSpec::Preset(p.into());
        let cmd = |c: &[&str]| NewSpec::Command(c.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            p("/new backend claude").unwrap(),
            new("backend", preset("claude"), None)
        );
        assert_eq!(
            p("/new web npm run 'dev server'").unwrap(),
            new("web", cmd(&["npm", "run", "dev server"]), None)
        );
        assert_eq!(p("/new x").unwrap(), new("x", NewSpec::Default, None));
        // An unknown single word is a command, not a preset.
        assert_eq!(p("/new x htop").unwrap(), new("x", cmd(&["htop"]), None));
        // PRESET DIR; quoted, a DIR may have spaces.
        assert_eq!(
            p("/new cc claude ~/src/api").unwrap(),
            new("cc", preset("claude"), Some("~/src/api"))
        );
        assert_eq!(
            p("/new cc codex 'my project'").unwrap(),
            new("cc", preset("codex"), Some("my project"))
        );
        // An option after a preset, more words, or `--`: a command.
        assert_eq!(
            p("/new cc claude --resume").unwrap(),
            new("cc", cmd(&["claude", "--resume"]), None)
        );
        assert_eq!(
            p("/new cc codex resume abc").unwrap(),
            new("cc", cmd(&["codex", "resume", "abc"]), None)
        );
        assert_eq!(
            p("/new cc -- codex resume").unwrap(),
            new("cc", cmd(&["codex", "resume"]), None)
        );
        // On another box a word is the box's preset (it answers one it lacks); `--` or more
        // words make a command there too.
        assert_eq!(
            p("/new x@cloud aider ~/src").unwrap(),
            new("x@cloud", preset("aider"), Some("~/src"))
        );
        assert_eq!(
            p("/new x@cloud -- htop").unwrap(),
            new("x@cloud", cmd(&["htop"]), None)
        );
        assert_eq!(
            p("/new x@cloud ls -la").unwrap(),
            new("x@cloud", cmd(&["ls", "-la"]), None)
        );
    }

    #[test]
    fn bad_arguments_say_what_works() {
        let e = p("/new").unwrap_err().0;
        assert!(e.contains("/new NAME") && e.contains("claude"), "{e}");
        let e = p("/new Bad_Name").unwrap_err().0;
        assert!(e.contains("lowercase"), "{e}");
        let e = p("/use").unwrap_err().0;
        assert!(e.contains("/use NAME"), "{e}");
        let e = p("/frobnicate").unwrap_err().0;
        assert!(e.contains("/help"), "{e}");
        let e = p("/tail a b").unwrap_err().0;
        assert!(e.contains("/tail [NAME] [N]"), "{e}");
        let e = p("/tail 100000").unwrap_err().0;
        assert!(e.contains("500"), "{e}");
        let e = p("/keys backend Jump").unwrap_err().0;
        assert!(e.contains("unknown key") && e.contains("Jump"), "{e}");
        let e = p("/new x 'unclosed").unwrap_err().0;
        assert!(e.contains("quote"), "{e}");
    }

    #[test]
    fn optional_names_and_counts() {
        assert_eq!(p("/screen").unwrap(), Some(Request::Screen { name: None }));
        assert_eq!(
            p("/screen api").unwrap(),
            Some(Request::Screen {
                name: Some("api".into())
            })
        );
        assert_eq!(
            p("/tail 50").unwrap(),
            Some(Request::Tail {
                name: None,
                lines: Some(50)
            })
        );
        assert_eq!(
            p("/tail api 5").unwrap(),
            Some(Request::Tail {
                name: Some("api".into()),
                lines: Some(5)
            })
        );
        assert_eq!(
            p("/kill@walkie_bot api").unwrap(),
            Some(Request::Kill {
                name: Some("api".into())
            })
        );
        assert_eq!(p("/help").unwrap(), Some(Request::Help));
        assert_eq!(p("/ls").unwrap(), Some(Request::Ls));
    }

    #[test]
    fn keys_with_and_without_a_session() {
        assert_eq!(
            p("/keys Enter").unwrap(),
            Some(Request::Keys {
                name: None,
                keys: vec!["Enter".into()]
            })
        );
        assert_eq!(
            p("/keys backend C-c").unwrap(),
            Some(Request::Keys {
                name: Some("backend".into()),
                keys: vec!["C-c".into()]
            })
        );
        assert_eq!(
            p("/keys Up Up Enter").unwrap(),
            Some(Request::Keys {
                name: None,
                keys: vec!["Up".into(), "Up".into(), "Enter".into()]
            })
        );
        assert!(
            is_key_name("F5") && is_key_name("m-x") && !is_key_name("F13") && !is_key_name("jump")
        );
    }

    #[test]
    fn commands_for_other_bots_and_plain_text_are_not_ours() {
        assert_eq!(p("/help@other_bot").unwrap(), None);
        assert_eq!(p("hello").unwrap(), None);
    }

    #[test]
    fn menu_has_every_command_with_a_description() {
        let menu = Command::bot_commands();
        let names: Vec<_> = menu.iter().map(|c| c.command.as_str()).collect();
        for want in [
            "/new", "/ls", "/use", "/screen", "/tail", "/keys", "/pause", "/resume", "/kill",
            "/attach", "/help",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(menu
            .iter()
            .all(|c| !c.description.is_empty() && c.description.len() <= 256));
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            words(r#"a "b c" 'd e' f\ g"#).unwrap(),
            vec!["a", "b c", "d e", "f g"]
        );
        assert_eq!(words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(words("''").unwrap(), vec![""]);
    }

    #[test]
    fn new_takes_sandbox_and_network_flags_before_a_double_dash() {
        use walkie_host_proto::sandbox::NetworkMode;
        let r = p("/new api claude ~/src/api --sandbox workspace --network allowlist")
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            Request::New {
                name: "api".into(),
                spec: NewSpec::Preset("claude".into()),
                dir: Some("~/src/api".into()),
                sandbox: SandboxChoice {
                    profile: Some("workspace".into()),
                    network: Some(NetworkMode::Allowlist),
                },
            }
        );
        let r = p("/new x --network off -- grep --network y")
            .unwrap()
            .unwrap();
        let Request::New { spec, sandbox, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            spec,
            NewSpec::Command(vec!["grep".into(), "--network".into(), "y".into()])
        );
        assert_eq!(sandbox.network, Some(NetworkMode::Off));
        assert!(p("/new x claude --network wide")
            .unwrap_err()
            .0
            .contains("allowlist"));
        assert!(p("/new x claude --sandbox")
            .unwrap_err()
            .0
            .contains("profile"));
        assert_eq!(
            p("/boundary api").unwrap(),
            Some(Request::Boundary {
                name: Some("api".into())
            })
        );
    }

    #[test]
    fn schedule_commands_parse() {
        let sched = |r| Ok(Some(Request::Schedule(r)));
        assert_eq!(p("/schedule"), sched(ScheduleRequest::List));
        assert_eq!(
            p("/schedule add 0 9 * * 1-5 backend: triage new issues"),
            sched(ScheduleRequest::Add {
                line: "0 9 * * 1-5 backend: triage new issues".into()
            })
        );
        assert_eq!(
            p("/schedule zone"),
            sched(ScheduleRequest::Zone { name: None })
        );
        assert_eq!(
            p("/schedule zone Europe/Berlin"),
            sched(ScheduleRequest::Zone {
                name: Some("Europe/Berlin".into())
            })
        );
        for bad in [
            "/schedule add",
            "/schedule frobnicate",
            "/schedule ls extra",
        ] {
            let e = p(bad).unwrap_err().0;
            assert!(e.starts_with("usage: /schedule"), "{bad}: {e}");
        }
    }
}
