//! Approval prompts on a terminal screen: is a program waiting for a yes/no right now, what
//! does it ask about, and which keys answer it.
//!
//! Two layers:
//! - [`detect`] / [`detect_text`] look at one screen (the emulator's text, rows top to
//!   bottom) and recognise Claude Code's, Codex CLI's and Copilot CLI's permission dialogs and generic
//!   shell-style prompts (`[y/N]`, `(yes/no)`, `Continue?`, `Press enter to confirm`);
//!
//! The agent patterns require the whole dialog (question, options and footer, and for Claude
//! Code the top border), so a partly drawn or partly erased dialog is not a prompt. The
//! generic patterns only count on the cursor's row (a shell prompt waits where the cursor is):
//! a `[y/N]` that scrolled by in a log, or one already answered, is not a prompt.

use serde::{Deserialize, Serialize};

use walkie_host_proto::keys::{Key, KeyCode};

use super::Agent;

/// Which pattern recognised a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptKind {
    /// A coding agent's own permission dialog.
    Agent(Agent),
    /// `[y/N]`, `[Y/n]`, `(y/n)`: answered with `y`/`n` and Enter.
    YesNo,
    /// `(yes/no)` (ssh host keys and the like): answered with the whole word and Enter.
    YesNoWord,
    /// A line ending in `Continue?`: answered with `y`/`n` and Enter.
    Continue,
    /// `Press enter to confirm` / `to continue`: Enter approves, Ctrl-C refuses.
    PressEnter,
}

/// One thing to type into the PTY. Each is written separately, so that an Enter is never
/// glued to text (agents with bracketed paste would swallow it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// Literal text.
    Text(String),
    /// A key of the host's key table, stored by its name (`Enter`, `Escape`, `C-c`).
    Key(#[serde(with = "key_name")] Key),
}

/// The keys prompts are answered with.
const ENTER: Key = Key::new(KeyCode::Enter);
const ESCAPE: Key = Key::new(KeyCode::Escape);
const CTRL_C: Key = Key::new(KeyCode::Ctrl(3));

/// A [`Key`] as its canonical name, which parses back to the same key.
mod key_name {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use walkie_host_proto::keys::Key;

    pub(super) fn serialize<S: Serializer>(k: &Key, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(k)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(D::Error::custom)
    }
}

impl Input {
    fn text(t: &str) -> Input {
        Input::Text(t.to_string())
    }

    /// The bytes a terminal sends for this input.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Input::Text(t) => t.as_bytes().to_vec(),
            Input::Key(k) => k.bytes(),
        }
    }
}

/// The chunks to pass to the host's `Input` request: one write per [`Input`].
pub fn input_chunks(inputs: &[Input]) -> Vec<Vec<u8>> {
    inputs.iter().map(|i| i.bytes()).collect()
}

/// A prompt waiting on the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub kind: PromptKind,
    /// The question as shown (`Do you want to proceed?`, `Overwrite file? [y/N]`).
    pub question: String,
    /// The shell command asked about, when the screen shows one.
    pub command: Option<String>,
    /// The agent's explanation (Claude Code's description line, Codex's `Reason:`).
    pub reason: Option<String>,
    /// What to type to approve.
    pub approve: Vec<Input>,
    /// What to type to deny.
    pub deny: Vec<Input>,
}

/// A screen as text: its rows top to bottom and the cursor's row, if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenText {
    pub rows: Vec<String>,
    pub cursor_row: Option<usize>,
    /// A full-screen program owns the terminal (alternate screen). Generic shell prompts are
    /// not looked for there: in an agent's TUI the cursor sits in its input box, where a
    /// person may well type "Continue?".
    pub alternate: bool,
}

impl ScreenText {
    /// The visible rows and cursor of an emulator screen.
    pub fn from_screen(screen: &vt100::Screen) -> ScreenText {
        let (_, cols) = screen.size();
        ScreenText {
            rows: screen.rows(0, cols.get()).collect(),
            cursor_row: Some(screen.cursor_position().0 as usize),
            alternate: screen.alternate_screen(),
        }
    }

    /// Plain text (e.g. `walkie screen` output). Without a cursor, the last non-blank row
    /// stands in for the cursor's row.
    pub fn from_text(text: &str) -> ScreenText {
        ScreenText {
            rows: text.lines().map(str::to_string).collect(),
            cursor_row: None,
            alternate: false,
        }
    }

    fn prompt_row(&self) -> Option<usize> {
        match self.cursor_row {
            Some(r) if r < self.rows.len() => Some(r),
            Some(_) => None,
            None => self.rows.iter().rposition(|r| !r.trim().is_empty()),
        }
    }
}

/// The prompt on this screen, if any.
pub fn detect(screen: &vt100::Screen) -> Option<Prompt> {
    detect_text(&ScreenText::from_screen(screen))
}

/// The prompt on a screen given as text, if any. Agent dialogs win over generic patterns
/// (Codex's footer says "Press enter to confirm" too).
pub fn detect_text(screen: &ScreenText) -> Option<Prompt> {
    crate::copilot::detect(&screen.rows)
        .or_else(|| claude_code(&screen.rows))
        .or_else(|| codex(&screen.rows))
        .or_else(|| generic(screen))
}

/// Text of a row without the box and selection decoration agents put around it.
fn clean(row: &str) -> &str {
    row.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}')
}

/// A row that is a horizontal rule made of `ch` (Claude Code draws its dialog border and
/// command box this way).
fn is_rule(row: &str, ch: char) -> bool {
    let t = clean(row);
    t.chars().count() >= 10 && t.chars().all(|c| c == ch)
}

/// `1. Yes`, optionally behind a selection marker (`❯`, `›`, `>`).
fn option(row: &str) -> Option<(u32, &str)> {
    let t = clean(row)
        .trim_start_matches(['❯', '›', '>', '\u{a0}'])
        .trim_start();
    let dot = t.find(". ")?;
    let n: u32 = t[..dot].parse().ok()?;
    Some((n, t[dot + 2..].trim()))
}

/// Claude Code's permission dialog:
///
/// ```text
/// ────────────────────────────          (top border)
///  Bash command                          (title)
///  Create marker file                    (description)
/// ╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌
///  touch /tmp/agent-approved-demo        (the command)
/// ╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌
///  Do you want to proceed?
///  ❯ 1. Yes
///    ...
///    4. No
///
///  Esc to cancel · Tab to amend
/// ```
///
/// Claude Code erases a dialog top to bottom and draws it top to bottom, so requiring the
/// border above and the footer below means a half-drawn or half-erased dialog never counts.
fn claude_code(rows: &[String]) -> Option<Prompt> {
    // Bottom up: the dialog is at the bottom, and the same words may appear higher up in the
    // conversation.
    (0..rows.len()).rev().find_map(|q| {
        let t = clean(&rows[q]);
        (t.starts_with("Do you want to") && t.ends_with('?'))
            .then(|| claude_code_at(rows, q))
            .flatten()
    })
}

/// Claude Code's dialog with its question on row `q`.
fn claude_code_at(rows: &[String], q: usize) -> Option<Prompt> {
    // Options right below the question, then the footer.
    let mut yes = false;
    let mut no = false;
    let mut footer = false;
    for r in rows.iter().skip(q + 1).take(12) {
        if let Some((_, text)) = option(r) {
            yes |= text.starts_with("Yes");
            no |= text.starts_with("No");
        } else if clean(r).starts_with("Esc to cancel") {
            footer = true;
            break;
        }
    }
    if !(yes && no && footer) {
        return None;
    }
    let border = (0..q).rev().find(|&i| is_rule(&rows[i], '─'))?;
    let body = &rows[border + 1..q];
    // The command sits between the two dashed rules, the description above them.
    let dashed: Vec<usize> = body
        .iter()
        .enumerate()
        .filter(|(_, r)| is_rule(r, '╌'))
        .map(|(i, _)| i)
        .collect();
    let (command, head) = match dashed.as_slice() {
        [a, b, ..] => (join_block(&body[a + 1..*b]), &body[..*a]),
        _ => (None, body),
    };
    // head: title, optional tip, description.
    let reason = head
        .iter()
        .skip(1)
        .map(|r| clean(r))
        .filter(|t| !t.is_empty() && !t.starts_with("Tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    Some(Prompt {
        kind: PromptKind::Agent(Agent::ClaudeCode),
        question: clean(&rows[q]).to_string(),
        command,
        reason: (!reason.is_empty()).then_some(reason),
        // "1. Yes" is the first option whatever else is offered; Escape is "Esc to cancel",
        // which works however many options the dialog has.
        approve: vec![Input::text("1")],
        deny: vec![Input::Key(ESCAPE)],
    })
}

/// Rows of a block, trimmed, joined by newlines; `None` when empty.
fn join_block(rows: &[String]) -> Option<String> {
    let lines: Vec<&str> = rows
        .iter()
        .map(|r| clean(r))
        .filter(|t| !t.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Codex CLI's approval dialog:
///
/// ```text
///   Would you like to run the following command?
///
///   Reason: Create marker file
///
///   $ touch /tmp/agent-approved-demo
///
/// › 1. Yes, proceed (y)
///   2. Yes, and don't ask again for commands that start with `...` (p)
///   3. No, and tell Codex what to do differently (esc)
///
///   Press enter to confirm or esc to cancel
/// ```
fn codex(rows: &[String]) -> Option<Prompt> {
    (0..rows.len()).rev().find_map(|q| {
        let t = clean(&rows[q]);
        (t.starts_with("Would you like to") && t.ends_with('?'))
            .then(|| codex_at(rows, q))
            .flatten()
    })
}

/// Codex's dialog with its question on row `q`.
fn codex_at(rows: &[String], q: usize) -> Option<Prompt> {
    let mut first_option = None;
    let mut no = false;
    let mut footer = false;
    for (i, r) in rows.iter().enumerate().skip(q + 1).take(30) {
        if let Some((_, text)) = option(r) {
            if text.starts_with("Yes") && first_option.is_none() {
                first_option = Some(i);
            }
            no |= text.starts_with("No");
        } else if clean(r).starts_with("Press enter to confirm") {
            footer = true;
            break;
        }
    }
    let first_option = first_option?;
    if !(no && footer) {
        return None;
    }
    let body = &rows[q + 1..first_option];
    let mut command = None;
    let mut reason = None;
    let mut i = 0;
    while i < body.len() {
        let t = clean(&body[i]);
        if let Some(c) = t.strip_prefix("$ ") {
            // A long command continues on the following rows up to a blank one.
            let mut lines = vec![c.trim().to_string()];
            while i + 1 < body.len() && !clean(&body[i + 1]).is_empty() {
                i += 1;
                lines.push(clean(&body[i]).to_string());
            }
            command = Some(lines.join("\n"));
        } else if let Some(r) = t.strip_prefix("Reason:") {
            reason = Some(r.trim().to_string());
        }
        i += 1;
    }
    Some(Prompt {
        kind: PromptKind::Agent(Agent::Codex),
        question: clean(&rows[q]).to_string(),
        command,
        reason,
        approve: vec![Input::text("y")],
        deny: vec![Input::Key(ESCAPE)],
    })
}

/// Shell-style prompts, on the cursor's row only, and only outside full-screen programs.
fn generic(screen: &ScreenText) -> Option<Prompt> {
    if screen.alternate {
        return None;
    }
    let row = screen.prompt_row()?;
    let question = clean(&screen.rows[row]);
    if question.is_empty() {
        return None;
    }
    let lower = question.to_lowercase();
    // The row must end with the prompt (allowing trailing `?`/`:`): anything after it means
    // the answer was already typed, or the text was just output.
    let tail = lower.trim_end_matches(['?', ':', ' ']);
    let (kind, approve, deny): (PromptKind, Vec<Input>, Vec<Input>) = if tail.ends_with("[y/n]")
        || tail.ends_with("(y/n)")
    {
        (
            PromptKind::YesNo,
            vec![Input::text("y"), Input::Key(ENTER)],
            vec![Input::text("n"), Input::Key(ENTER)],
        )
    } else if ends_with_yes_no_word(tail) {
        (
            PromptKind::YesNoWord,
            vec![Input::text("yes"), Input::Key(ENTER)],
            vec![Input::text("no"), Input::Key(ENTER)],
        )
    } else if lower.ends_with("continue?") {
        (
            PromptKind::Continue,
            vec![Input::text("y"), Input::Key(ENTER)],
            vec![Input::text("n"), Input::Key(ENTER)],
        )
    } else if lower.contains("press enter to confirm") || lower.contains("press enter to continue")
    {
        // There is no "no" key for these; Ctrl-C is how a person at the terminal refuses.
        (
            PromptKind::PressEnter,
            vec![Input::Key(ENTER)],
            vec![Input::Key(CTRL_C)],
        )
    } else {
        return None;
    };
    Some(Prompt {
        kind,
        question: question.to_string(),
        command: None,
        reason: None,
        approve,
        deny,
    })
}

/// `(yes/no)` or `(yes/no/[fingerprint])` at the end of the row.
fn ends_with_yes_no_word(tail: &str) -> bool {
    let Some(open) = tail.rfind("(yes/no") else {
        return false;
    };
    let rest = &tail[open..];
    rest.ends_with(')') && !rest[1..rest.len() - 1].contains(['(', ')'])
}
#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use super::*;
    use crate::fixture;

    const COMMAND: &str = "touch /tmp/agent-approved-demo";

    fn text(name: &str) -> ScreenText {
        ScreenText::from_text(&String::from_utf8(fixture(name)).unwrap())
    }

    #[test]
    fn claude_code_approval_screen() {
        let p = detect_text(&text("claude-approval.txt")).expect("prompt");
        assert_eq!(p.kind, PromptKind::Agent(Agent::ClaudeCode));
        assert_eq!(p.question, "Do you want to proceed?");
        assert_eq!(p.command.as_deref(), Some(COMMAND));
        assert_eq!(p.reason.as_deref(), Some("Create marker file"));
        assert_eq!(input_chunks(&p.approve), vec![b"1".to_vec()]);
        assert_eq!(input_chunks(&p.deny), vec![b"\x1b".to_vec()]);
    }

    #[test]
    fn codex_approval_screen() {
        let p = detect_text(&text("codex-approval.txt")).expect("prompt");
        assert_eq!(p.kind, PromptKind::Agent(Agent::Codex));
        assert_eq!(p.question, "Would you like to run the following command?");
        assert_eq!(p.command.as_deref(), Some(COMMAND));
        assert_eq!(p.reason.as_deref(), Some("Create marker file"));
        assert_eq!(input_chunks(&p.approve), vec![b"y".to_vec()]);
        assert_eq!(input_chunks(&p.deny), vec![b"\x1b".to_vec()]);
    }

    #[test]
    fn the_question_quoted_in_the_conversation_does_not_hide_the_dialog() {
        for (f, quote) in [
            ("claude-approval.txt", "  Do you want to proceed?"),
            (
                "codex-approval.txt",
                "  Would you like to run the following command?",
            ),
        ] {
            let mut s = text(f);
            // Put the question into the conversation above the dialog.
            s.rows[5] = quote.to_string();
            let p = detect_text(&s).expect(f);
            assert_eq!(p.command.as_deref(), Some(COMMAND), "{f}");
        }
    }

    #[test]
    fn after_screens_show_no_prompt() {
        for f in [
            "claude-after-approve.txt",
            "claude-after-deny.txt",
            "codex-after-approve.txt",
            "codex-after-deny.txt",
        ] {
            assert_eq!(detect_text(&text(f)), None, "{f}");
        }
    }

    /// Every fixture's `.ansi` approval screen, replayed, is detected the same way.
    #[test]
    fn ansi_screens_replay_to_the_same_prompt() {
        for (f, agent) in [
            ("claude-approval.ansi", Agent::ClaudeCode),
            ("codex-approval.ansi", Agent::Codex),
        ] {
            let mut p = vt100::Parser::new(
                NonZeroU16::new(40).unwrap(),
                NonZeroU16::new(120).unwrap(),
                0,
            );
            // The .ansi files end lines with a bare LF; a terminal needs CR LF.
            let ansi = String::from_utf8(fixture(f)).unwrap().replace('\n', "\r\n");
            p.process(ansi.as_bytes());
            let got = detect(p.screen()).expect(f);
            assert_eq!(got.kind, PromptKind::Agent(agent));
            assert_eq!(got.command.as_deref(), Some(COMMAND));
        }
    }

    fn shell(lines: &[&str]) -> ScreenText {
        ScreenText::from_text(&lines.join("\n"))
    }

    #[test]
    fn generic_prompts_on_the_cursor_row() {
        let p = detect_text(&shell(&[
            "$ apt install foo",
            "Do you want to continue? [Y/n] ",
        ]))
        .unwrap();
        assert_eq!(p.kind, PromptKind::YesNo);
        assert_eq!(p.question, "Do you want to continue? [Y/n]");
        assert_eq!(
            input_chunks(&p.approve),
            vec![b"y".to_vec(), b"\r".to_vec()]
        );
        assert_eq!(input_chunks(&p.deny), vec![b"n".to_vec(), b"\r".to_vec()]);

        let p = detect_text(&shell(&["rm: remove file? (y/n):"])).unwrap();
        assert_eq!(p.kind, PromptKind::YesNo);

        let p = detect_text(&shell(&[
            "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
        ]))
        .unwrap();
        assert_eq!(p.kind, PromptKind::YesNoWord);
        assert_eq!(
            input_chunks(&p.approve),
            vec![b"yes".to_vec(), b"\r".to_vec()]
        );
        assert_eq!(input_chunks(&p.deny), vec![b"no".to_vec(), b"\r".to_vec()]);

        let p = detect_text(&shell(&["3 files will be deleted. Continue?"])).unwrap();
        assert_eq!(p.kind, PromptKind::Continue);

        let p = detect_text(&shell(&["Press Enter to confirm, Ctrl-C to abort"])).unwrap();
        assert_eq!(p.kind, PromptKind::PressEnter);
        assert_eq!(input_chunks(&p.approve), vec![b"\r".to_vec()]);
        assert_eq!(input_chunks(&p.deny), vec![vec![3u8]]);
    }

    #[test]
    fn ordinary_output_is_not_a_prompt() {
        for lines in [
            // Answered: the answer follows the prompt, and the shell moved on.
            &["Overwrite? [y/N] y", "done", "$ "][..],
            &["Overwrite? [y/N] n"][..],
            // A prompt's text in output, with the shell prompt after it.
            &[
                "$ cat notes.txt",
                "Remember to answer [y/N] prompts",
                "Continue? [y/N]",
                "$ ",
            ][..],
            &[
                "$ grep -r 'Do you want to proceed?' .",
                "src/a.rs: \"Do you want to proceed?\"",
                "$ ",
            ][..],
            &["$ ls", "Cargo.toml  src", "$ "][..],
            &["compiling... (yes/no) handled", "$ "][..],
            &[
                "Would you like to run the following command?",
                "$ touch x",
                "$ ",
            ][..],
            &[][..],
            &["", "   ", ""][..],
        ] {
            assert_eq!(detect_text(&shell(lines)), None, "{lines:?}");
        }
    }

    #[test]
    fn words_typed_into_an_agent_input_box_are_not_a_prompt() {
        // Claude Code's screen (alternate screen, cursor in its input box) with "Continue?"
        // typed into the box: not a shell prompt.
        let nz = |n| NonZeroU16::new(n).unwrap();
        let mut p = vt100::Parser::new(nz(40), nz(120), 0);
        p.process(&fixture("claude-approve-session.raw"));
        assert!(p.screen().alternate_screen());
        p.process(b"\x1b[38;3HContinue? [y/N]");
        assert_eq!(
            p.screen().cursor_position().0,
            37,
            "cursor in the input box row"
        );
        assert_eq!(detect(p.screen()), None);
        // The same text at a shell prompt in the main screen is one.
        let mut p = vt100::Parser::new(nz(40), nz(120), 0);
        p.process(b"Continue? [y/N]");
        assert!(detect(p.screen()).is_some());
    }

    #[test]
    fn generic_prompt_only_counts_where_the_cursor_is() {
        let mut s = shell(&["Overwrite? [y/N]", ""]);
        s.cursor_row = Some(1);
        assert_eq!(detect_text(&s), None);
        s.cursor_row = Some(0);
        assert!(detect_text(&s).is_some());
        s.cursor_row = Some(99);
        assert_eq!(detect_text(&s), None);
    }

    #[test]
    fn answer_keys_are_stored_by_their_names() {
        // Approvals are kept as JSON: the names must stay what earlier builds wrote.
        for (key, json, bytes) in [
            (ENTER, r#"{"key":"Enter"}"#, &b"\r"[..]),
            (ESCAPE, r#"{"key":"Escape"}"#, b"\x1b"),
            (CTRL_C, r#"{"key":"C-c"}"#, b"\x03"),
        ] {
            let input = Input::Key(key);
            assert_eq!(serde_json::to_string(&input).unwrap(), json);
            assert_eq!(serde_json::from_str::<Input>(json).unwrap(), input);
            assert_eq!(input.bytes(), bytes);
        }
        assert!(serde_json::from_str::<Input>(r#"{"key":"Nope"}"#).is_err());
    }
}
