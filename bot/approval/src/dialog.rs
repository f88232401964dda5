//! Agents' dialogs that block input (folder trust, "Detected a custom API key", "Hooks need
//! review"), and whether an agent's input box is ready for text.
//!
//! One table ([`DIALOGS`]) says, per known dialog: the texts that must all be on the screen,
//! its title for a card, and its real choices, each a list of [`Step`]s. A step is one key
//! and what the screen shows once it took effect, so the caller can check every key (agents
//! redraw a fresh dialog with its default selected, undoing a key sent too early; see
//! docs/AGENTS.md). The texts and keys are those observed with the pinned CLIs
//! (`tests/fixtures/agents/`).

use walkie_host_proto::keys::{Key, KeyCode};

/// The agent programs walkie knows dialogs of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cli {
    Claude,
    Codex,
    Copilot,
}

impl Cli {
    /// As shown on cards.
    pub fn label(self) -> &'static str {
        match self {
            Cli::Claude => "Claude Code",
            Cli::Codex => "Codex",
            Cli::Copilot => "Copilot",
        }
    }
}

/// What the screen shows once a step's key took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// This text is on the screen (a selection moved). Already shown: the key is skipped.
    Shows(&'static str),
    /// The dialog left the screen (it was answered).
    Gone,
}

/// One key of a choice, and how to tell it worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub key: Key,
    pub verify: Verify,
}

/// One answer a dialog offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// As the agent shows it.
    pub label: &'static str,
    pub steps: &'static [Step],
}

/// A dialog an agent may draw over its input box.
#[derive(Debug, PartialEq, Eq)]
pub struct DialogKind {
    /// Stable name (`claude-folder-trust`), for logs and tests.
    pub id: &'static str,
    pub agent: Cli,
    /// The question, for a card.
    pub title: &'static str,
    /// Texts that must all be on the screen.
    pub markers: &'static [&'static str],
    /// The row after this one (the first non-blank) is worth showing on the card: the folder.
    pub detail_after: Option<&'static str>,
    pub choices: &'static [Choice],
}

/// A dialog on a screen: which one, and the detail shown with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub kind: &'static DialogKind,
    /// The folder asked about, when the dialog names one.
    pub detail: Option<String>,
}

const fn key(code: KeyCode) -> Key {
    Key::new(code)
}

const ENTER: Key = key(KeyCode::Enter);
const ESCAPE: Key = key(KeyCode::Escape);

const fn step(key: Key, verify: Verify) -> Step {
    Step { key, verify }
}

/// Every dialog walkie answers from the phone.
pub static DIALOGS: &[DialogKind] = &[
    DialogKind {
        id: "claude-folder-trust",
        agent: Cli::Claude,
        title: "Trust this folder?",
        markers: &[
            "Accessing workspace:",
            "Yes, I trust this folder",
            "Enter to confirm · Esc to cancel",
        ],
        detail_after: Some("Accessing workspace:"),
        choices: &[
            Choice {
                label: "Yes, I trust this folder",
                steps: &[
                    step(
                        key(KeyCode::Down),
                        Verify::Shows("❯ Yes, I trust this folder"),
                    ),
                    step(ENTER, Verify::Gone),
                ],
            },
            // Escape is No whatever is highlighted (Claude then exits).
            Choice {
                label: "No, exit",
                steps: &[step(ESCAPE, Verify::Gone)],
            },
        ],
    },
    DialogKind {
        id: "claude-api-key",
        agent: Cli::Claude,
        title: "Use the API key found in the environment (ANTHROPIC_API_KEY)?",
        markers: &[
            "Detected a custom API key in your environment",
            "Do you want to use this API key?",
            "Enter to confirm · Esc to cancel",
        ],
        // The key's tail stays off the card.
        detail_after: None,
        choices: &[
            Choice {
                label: "Yes",
                steps: &[
                    step(key(KeyCode::Up), Verify::Shows("❯ Yes")),
                    step(ENTER, Verify::Gone),
                ],
            },
            Choice {
                label: "No (recommended)",
                steps: &[step(ESCAPE, Verify::Gone)],
            },
        ],
    },
    DialogKind {
        id: "codex-hooks-review",
        agent: Cli::Codex,
        title: "Hooks need review: trust them?",
        markers: &[
            "Hooks need review",
            "Trust all and continue",
            "enter confirm · esc skip",
        ],
        detail_after: Some("Hooks need review"),
        choices: &[
            Choice {
                label: "Trust all and continue",
                steps: &[
                    step(key(KeyCode::Char('2')), Verify::Shows("› 2. Trust all")),
                    step(ENTER, Verify::Gone),
                ],
            },
            Choice {
                label: "Continue without trusting (hooks won't run)",
                steps: &[
                    step(
                        key(KeyCode::Char('3')),
                        Verify::Shows("› 3. Continue without"),
                    ),
                    step(ENTER, Verify::Gone),
                ],
            },
        ],
    },
    DialogKind {
        id: "codex-folder-trust",
        agent: Cli::Codex,
        title: "Trust this folder?",
        markers: &[
            "Folder access",
            "Trust and continue",
            "enter continue · esc back",
        ],
        detail_after: Some("Folder access"),
        choices: &[
            Choice {
                label: "Trust and continue",
                steps: &[
                    step(
                        key(KeyCode::Char('1')),
                        Verify::Shows("› 1. Trust and continue"),
                    ),
                    step(ENTER, Verify::Gone),
                ],
            },
            Choice {
                label: "Back to Agent Command Center",
                steps: &[step(ESCAPE, Verify::Gone)],
            },
        ],
    },
    DialogKind {
        id: "copilot-folder-trust",
        agent: Cli::Copilot,
        title: "Trust the files in this folder?",
        markers: &[
            "Confirm folder trust",
            "Do you trust the files in this folder?",
            "enter to select",
        ],
        detail_after: Some("Confirm folder trust"),
        // Digits choose at once.
        choices: &[
            Choice {
                label: "Yes",
                steps: &[step(key(KeyCode::Char('1')), Verify::Gone)],
            },
            Choice {
                label: "Yes, and remember this folder",
                steps: &[step(key(KeyCode::Char('2')), Verify::Gone)],
            },
            Choice {
                label: "No (exit)",
                steps: &[step(ESCAPE, Verify::Gone)],
            },
        ],
    },
];

/// Text of a row without the box and selection decoration agents draw around it.
fn clean(row: &str) -> &str {
    row.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}' || c == '│')
}

impl DialogKind {
    /// Whether `screen` shows this dialog.
    pub fn on(&self, screen: &str) -> bool {
        self.markers.iter().all(|m| screen.contains(m))
    }

    /// The first non-blank row after the row holding `detail_after`, without decoration.
    fn detail(&self, screen: &str) -> Option<String> {
        let after = self.detail_after?;
        let rows = screen.lines().skip_while(|r| !r.contains(after)).skip(1);
        rows.map(|r| clean(r).trim_matches(['╭', '╮', '╰', '╯', '─', '│', ' ']))
            .find(|r| !r.is_empty())
            .map(str::to_string)
    }
}

/// The known dialog on `screen` (the host's plain screen text), if any.
pub fn detect(screen: &str) -> Option<Dialog> {
    DIALOGS.iter().find(|k| k.on(screen)).map(|kind| Dialog {
        kind,
        detail: kind.detail(screen),
    })
}

/// Whether `verify` holds on `screen` for a dialog of `kind`.
pub fn verified(kind: &DialogKind, verify: Verify, screen: &str) -> bool {
    match verify {
        Verify::Shows(t) => screen.contains(t),
        Verify::Gone => !kind.on(screen),
    }
}

/// The agent a session runs, from its command line: the first argument named like a known
/// agent's program (a wrapper such as `nsenter … -- claude` counts).
pub fn agent_of(argv: &[String]) -> Option<Cli> {
    argv.iter()
        .find_map(|a| match a.rsplit('/').next().unwrap_or(a) {
            "claude" => Some(Cli::Claude),
            "codex" => Some(Cli::Codex),
            "copilot" => Some(Cli::Copilot),
            _ => None,
        })
}

/// Whether `agent`'s input box is on `screen`, ready for typed text.
pub fn input_ready(agent: Cli, screen: &str) -> bool {
    let pattern = match agent {
        Cli::Claude | Cli::Codex => "? for shortcuts",
        Cli::Copilot => "Manual Approval",
    };
    screen.contains(pattern) && detect(screen).is_none()
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/agents/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        String::from_utf8_lossy(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}")),
        )
        .into_owned()
    }

    /// The screen a `.raw` capture leaves in a 120x40 terminal, as the host's plain text.
    fn replay(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/agents/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
        let nz = |n| NonZeroU16::new(n).unwrap();
        let mut p = vt100::Parser::new(nz(40), nz(120), 0);
        p.process(&raw);
        p.screen().contents()
    }

    #[test]
    fn every_dialog_fixture_is_its_dialog_and_not_ready() {
        for (file, id, agent, detail) in [
            (
                "claude-folder-trust",
                "claude-folder-trust",
                Cli::Claude,
                Some("/var/tmp/agx/c1/repo"),
            ),
            ("claude-api-key", "claude-api-key", Cli::Claude, None),
            (
                "codex-folder-trust",
                "codex-folder-trust",
                Cli::Codex,
                Some("/var/tmp/agx/x4/repo"),
            ),
            (
                "codex-hooks-review",
                "codex-hooks-review",
                Cli::Codex,
                Some("2 hooks are new or changed."),
            ),
            (
                "copilot-folder-trust",
                "copilot-folder-trust",
                Cli::Copilot,
                Some("/var/tmp/agx/p1/repo"),
            ),
        ] {
            for screen in [
                fixture(&format!("{file}.txt")),
                replay(&format!("{file}.raw")),
            ] {
                let d = detect(&screen).unwrap_or_else(|| panic!("{file}: no dialog"));
                assert_eq!(d.kind.id, id, "{file}");
                assert_eq!(d.kind.agent, agent, "{file}");
                assert_eq!(d.detail.as_deref(), detail, "{file}");
                assert!(!input_ready(agent, &screen), "{file}: box taken as ready");
                assert!(d.kind.choices.len() >= 2, "{file}");
            }
        }
        let home = detect(&fixture("claude-folder-trust-home.txt")).expect("home dialog");
        assert_eq!(home.kind.id, "claude-folder-trust");
        assert_eq!(home.detail.as_deref(), Some("/var/tmp/agx/c4/home"));
    }

    #[test]
    fn the_api_key_tail_stays_off_the_card() {
        let d = detect(&fixture("claude-api-key.txt")).expect("dialog");
        assert!(d.detail.is_none());
        assert!(!d.kind.title.contains("sk-ant"));
    }

    #[test]
    fn ready_screens_show_no_dialog_and_a_ready_box() {
        for (file, agent) in [
            ("claude-ready.txt", Cli::Claude),
            ("codex-ready.txt", Cli::Codex),
            ("copilot-ready.txt", Cli::Copilot),
        ] {
            let screen = fixture(file);
            assert_eq!(detect(&screen), None, "{file}");
            assert!(input_ready(agent, &screen), "{file}");
        }
        // Claude's ready pattern is not Copilot's.
        assert!(!input_ready(Cli::Copilot, &fixture("claude-ready.txt")));
    }

    #[test]
    fn approval_prompts_are_not_dialogs() {
        for f in [
            "claude-approval.txt",
            "codex-approval.txt",
            "copilot-approval.txt",
        ] {
            let screen = String::from_utf8(crate::fixture(f)).unwrap();
            assert_eq!(detect(&screen), None, "{f}");
        }
    }

    /// The selection a key moves to is what its step verifies: the default screen does not
    /// show it yet, so the key is needed, and the key is not skipped by mistake.
    #[test]
    fn selection_steps_verify_a_text_the_default_screen_lacks() {
        for (file, id) in [
            ("claude-folder-trust.txt", "claude-folder-trust"),
            ("claude-api-key.txt", "claude-api-key"),
            ("codex-hooks-review.txt", "codex-hooks-review"),
        ] {
            let screen = fixture(file);
            let d = detect(&screen).unwrap();
            assert_eq!(d.kind.id, id);
            let first = d.kind.choices[0].steps[0];
            assert!(matches!(first.verify, Verify::Shows(_)), "{file}");
            assert!(!verified(d.kind, first.verify, &screen), "{file}");
            // Every choice ends with the dialog gone.
            for c in d.kind.choices {
                assert_eq!(
                    c.steps.last().map(|s| s.verify),
                    Some(Verify::Gone),
                    "{file}"
                );
            }
        }
        // Codex's folder trust has its first option selected already: the step is skipped.
        let screen = fixture("codex-folder-trust.txt");
        let d = detect(&screen).unwrap();
        assert!(verified(d.kind, d.kind.choices[0].steps[0].verify, &screen));
        // The trust dialog moved to Yes, as Claude draws it after Down.
        let moved = fixture("claude-folder-trust.txt")
            .replace("❯ No, exit", "  No, exit")
            .replace("  Yes, I trust this folder", "❯ Yes, I trust this folder");
        let d = detect(&moved).unwrap();
        assert!(verified(d.kind, d.kind.choices[0].steps[0].verify, &moved));
        assert!(!verified(d.kind, Verify::Gone, &moved));
        assert!(verified(d.kind, Verify::Gone, &fixture("claude-ready.txt")));
    }

    #[test]
    fn agents_are_known_by_their_program_anywhere_on_the_command_line() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            agent_of(&argv(&["claude", "--settings", "x"])),
            Some(Cli::Claude)
        );
        assert_eq!(
            agent_of(&argv(&[
                "nsenter",
                "--net=/proc/1/ns/net",
                "--",
                "/opt/bin/codex"
            ])),
            Some(Cli::Codex)
        );
        assert_eq!(agent_of(&argv(&["/usr/bin/copilot"])), Some(Cli::Copilot));
        assert_eq!(agent_of(&argv(&["bash", "-l"])), None);
        assert_eq!(agent_of(&argv(&["claude-wrapper"])), None);
    }
}
