//! Approval prompts on a terminal screen: is a program waiting for a yes/no right now, what
//! does it ask about, and which keys answer it.
//!
//! Two layers:
//! - [`detect`] / [`detect_text`] look at one screen (the emulator's text, rows top to
//!   bottom) and recognise Claude Code's and Codex CLI's permission dialogs and generic
//!   shell-style prompts (`[y/N]`, `(yes/no)`, `Continue?`, `Press enter to confirm`);
//! - [`PromptWatcher`] is fed a session's raw output and reports a prompt appearing, changing
//!   or going away, judged only on *completed* frames: at the end of a synchronized-output
//!   block (`CSI ?2026l`) or when the caller says output went quiet. Both agents redraw in
//!   pieces, and a screen read mid-redraw can show half a dialog. It also reports Codex's
//!   `OSC 7501` state announcements (`state=blocked:...:kind=permission`).
//!
//! The agent patterns require the whole dialog (question, options and footer, and for Claude
//! Code the top border), so a partly drawn or partly erased dialog is not a prompt. The
//! generic patterns only count on the cursor's row (a shell prompt waits where the cursor is):
//! a `[y/N]` that scrolled by in a log, or one already answered, is not a prompt.

use std::num::NonZeroU16;

use serde::{Deserialize, Serialize};

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
    /// A named key.
    Key(Key),
}

/// The keys prompts are answered with, named as `walkie send --keys` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Key {
    Enter,
    Escape,
    #[serde(rename = "C-c")]
    CtrlC,
}

impl Key {
    /// The name `walkie send --keys` and the host's key table use.
    pub fn name(self) -> &'static str {
        match self {
            Key::Enter => "Enter",
            Key::Escape => "Escape",
            Key::CtrlC => "C-c",
        }
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
            // Spelled out rather than looked up in the host's key table, so that producing
            // keys can never fail on a daemon path (a test checks they agree).
            Input::Key(Key::Enter) => b"\r".to_vec(),
            Input::Key(Key::Escape) => b"\x1b".to_vec(),
            Input::Key(Key::CtrlC) => vec![3],
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
    claude_code(&screen.rows)
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
        deny: vec![Input::Key(Key::Escape)],
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
        deny: vec![Input::Key(Key::Escape)],
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
            vec![Input::text("y"), Input::Key(Key::Enter)],
            vec![Input::text("n"), Input::Key(Key::Enter)],
        )
    } else if ends_with_yes_no_word(tail) {
        (
            PromptKind::YesNoWord,
            vec![Input::text("yes"), Input::Key(Key::Enter)],
            vec![Input::text("no"), Input::Key(Key::Enter)],
        )
    } else if lower.ends_with("continue?") {
        (
            PromptKind::Continue,
            vec![Input::text("y"), Input::Key(Key::Enter)],
            vec![Input::text("n"), Input::Key(Key::Enter)],
        )
    } else if lower.contains("press enter to confirm") || lower.contains("press enter to continue")
    {
        // There is no "no" key for these; Ctrl-C is how a person at the terminal refuses.
        (
            PromptKind::PressEnter,
            vec![Input::Key(Key::Enter)],
            vec![Input::Key(Key::CtrlC)],
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

/// A coding agent's announcement of its own state (Codex CLI's `OSC 7501`), e.g.
/// `state=blocked:app=codex:kind=permission`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSignal {
    /// `working`, `blocked`, `done`, `idle`, ...
    pub state: String,
    /// `codex`.
    pub app: Option<String>,
    /// For `blocked`: what it waits for (`permission`).
    pub kind: Option<String>,
}

impl AgentSignal {
    /// Parses the text after `7501;`. `None` for queries (`?`) and anything without a state.
    pub fn parse(text: &str) -> Option<AgentSignal> {
        let mut state = None;
        let mut app = None;
        let mut kind = None;
        for field in text.split(':') {
            match field.split_once('=') {
                Some(("state", v)) => state = Some(v.to_string()),
                Some(("app", v)) => app = Some(v.to_string()),
                Some(("kind", v)) => kind = Some(v.to_string()),
                _ => {}
            }
        }
        Some(AgentSignal {
            state: state.filter(|s| !s.is_empty())?,
            app,
            kind,
        })
    }

    /// The agent is waiting for a permission decision.
    pub fn is_permission_wait(&self) -> bool {
        self.state == "blocked" && self.kind.as_deref() == Some("permission")
    }
}

/// What a [`PromptWatcher`] noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A prompt is now on screen (a different one than before, if any: a [`WatchEvent::Gone`]
    /// for the old one comes first).
    Appeared(Prompt),
    /// The prompt that was up is no longer on screen: it was answered (at the terminal, or by
    /// the keys we sent) or cancelled.
    Gone(Prompt),
    /// The agent announced its state (Codex's `OSC 7501`).
    Signal(AgentSignal),
}

/// Frame boundaries and OSC announcements, collected while the emulator parses.
#[derive(Debug, Default)]
struct Hooks {
    /// In order: a completed frame's detection result, or an agent signal.
    found: Vec<Found>,
    /// Inside `CSI ?2026h` ... `CSI ?2026l`.
    in_sync: bool,
}

#[derive(Debug)]
enum Found {
    Frame(Option<Prompt>),
    Signal(AgentSignal),
}

impl vt100::Callbacks for Hooks {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        // vt100 does not know mode 2026, so both ends of a synchronized update land here,
        // with the screen exactly as the frame left it.
        if i1 != Some(b'?') || i2.is_some() || !params.iter().any(|p| p.first() == Some(&2026)) {
            return;
        }
        match c {
            'h' => self.in_sync = true,
            'l' => {
                self.in_sync = false;
                self.found.push(Found::Frame(detect(screen)));
            }
            _ => {}
        }
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        if let [b"7501", rest @ ..] = params {
            let text: Vec<String> = rest
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            if let Some(sig) = AgentSignal::parse(&text.join(";")) {
                self.found.push(Found::Signal(sig));
            }
        }
    }
}

/// How long output should pause before [`PromptWatcher::quiet`] is called. Short, because
/// an agent waiting for permission keeps redrawing small things (Claude Code blinks a dot
/// next to the pending tool call): a longer pause might never come while its dialog is up.
pub const QUIET_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

/// Follows one session's output and reports prompts as they appear and go.
///
/// Feed it every byte the session prints ([`PromptWatcher::feed`]) and call
/// [`PromptWatcher::quiet`] when the output has paused for [`QUIET_AFTER`]: programs that do
/// not use synchronized output (Claude Code 2.1.330 does not) are judged only then.
pub struct PromptWatcher {
    parser: vt100::Parser<Hooks>,
    current: Option<Prompt>,
}

impl PromptWatcher {
    /// A watcher for a terminal of this size (the session's; a prompt wraps differently in
    /// another size).
    pub fn new(rows: u16, cols: u16) -> PromptWatcher {
        let nz = |n: u16| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN);
        PromptWatcher {
            parser: vt100::Parser::new_with_callbacks(nz(rows), nz(cols), 0, Hooks::default()),
            current: None,
        }
    }

    /// The session was resized.
    pub fn set_size(&mut self, rows: u16, cols: u16) {
        let nz = |n: u16| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN);
        self.parser.screen_mut().set_size(nz(rows), nz(cols));
    }

    /// Parses output; reports what completed frames in it show.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<WatchEvent> {
        self.parser.process(bytes);
        let found = std::mem::take(&mut self.parser.callbacks_mut().found);
        let mut events = Vec::new();
        for f in found {
            match f {
                Found::Frame(p) => self.settle(p, &mut events),
                Found::Signal(s) => events.push(WatchEvent::Signal(s)),
            }
        }
        events
    }

    /// Output went quiet: whatever is on screen now is a finished frame, unless a
    /// synchronized update is still open (the program said the frame is not finished; it
    /// ends it with `?2026l`, which [`PromptWatcher::feed`] judges).
    pub fn quiet(&mut self) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        if self.in_sync() {
            return events;
        }
        let p = detect(self.parser.screen());
        self.settle(p, &mut events);
        events
    }

    /// The prompt on screen as of the last completed frame.
    pub fn current(&self) -> Option<&Prompt> {
        self.current.as_ref()
    }

    /// The emulator's screen (possibly mid-frame).
    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// True between `CSI ?2026h` and `CSI ?2026l`.
    pub fn in_sync(&self) -> bool {
        self.parser.callbacks().in_sync
    }

    fn settle(&mut self, now: Option<Prompt>, events: &mut Vec<WatchEvent>) {
        if now == self.current {
            return;
        }
        if let Some(old) = self.current.take() {
            events.push(WatchEvent::Gone(old));
        }
        if let Some(new) = now {
            events.push(WatchEvent::Appeared(new.clone()));
            self.current = Some(new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::fixture;

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

    /// Replays a capture in chunks of `chunk` bytes; `quiet_every_chunk` also declares
    /// quiet after every chunk (the harshest case: a "quiet" in the middle of a redraw).
    fn replay(
        name: &str,
        chunk: usize,
        quiet_every_chunk: bool,
    ) -> (Vec<WatchEvent>, PromptWatcher) {
        let raw = fixture(name);
        let mut w = PromptWatcher::new(40, 120);
        let mut events = Vec::new();
        for c in raw.chunks(chunk) {
            events.extend(w.feed(c));
            if quiet_every_chunk {
                events.extend(w.quiet());
            }
        }
        events.extend(w.quiet());
        (events, w)
    }

    fn prompts(events: &[WatchEvent]) -> Vec<&Prompt> {
        events
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Appeared(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn gone(events: &[WatchEvent]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, WatchEvent::Gone(_)))
            .count()
    }

    #[test]
    fn raw_captures_show_one_prompt_then_clear() {
        let cases = [
            (
                "claude-approve-session.raw",
                Agent::ClaudeCode,
                "claude-after-approve.txt",
            ),
            (
                "claude-deny-session.raw",
                Agent::ClaudeCode,
                "claude-after-deny.txt",
            ),
            (
                "codex-approve-session.raw",
                Agent::Codex,
                "codex-after-approve.txt",
            ),
            (
                "codex-deny-session.raw",
                Agent::Codex,
                "codex-after-deny.txt",
            ),
        ];
        for (raw, agent, after) in cases {
            for chunk in [1, 2, 7, 64, 333, 4096, usize::MAX] {
                for quiet_every_chunk in [true, false] {
                    let ctx = format!("{raw} chunk {chunk} quiet {quiet_every_chunk}");
                    let (events, w) = replay(raw, chunk, quiet_every_chunk);
                    // Whatever the chunking: prompts and "gone"s alternate, every prompt is
                    // the agent's with the full command (never a half-drawn one), and the
                    // replay ends on the after-screen with no prompt.
                    let mut up = false;
                    for e in &events {
                        match e {
                            WatchEvent::Appeared(p) => {
                                assert!(!up, "{ctx}: two prompts without a gone");
                                assert_eq!(p.kind, PromptKind::Agent(agent), "{ctx}");
                                assert_eq!(p.command.as_deref(), Some(COMMAND), "{ctx}");
                                assert_eq!(
                                    p.reason.as_deref(),
                                    Some("Create marker file"),
                                    "{ctx}"
                                );
                                up = true;
                            }
                            WatchEvent::Gone(_) => {
                                assert!(up, "{ctx}: gone without a prompt");
                                up = false;
                            }
                            WatchEvent::Signal(_) => {}
                        }
                    }
                    assert!(!up, "{ctx}: still up at the end");
                    assert_eq!(w.current(), None, "{ctx}");
                    let want = String::from_utf8(fixture(after)).unwrap();
                    // The captures' temporary checkout (`/tmp/agent-repo.XXXXXX`) was
                    // renamed in the text fixtures.
                    let lines = |s: &str| -> Vec<String> {
                        s.trim_end()
                            .lines()
                            .map(|l| match l.find("/tmp/agent-repo.") {
                                Some(i) => {
                                    let end = l[i..].find(' ').map_or(l.len(), |e| i + e);
                                    format!("{}/srv/demo/agent-repo-1{}", &l[..i], &l[end..])
                                }
                                None => l.to_string(),
                            })
                            .map(|l| l.trim_end().to_string())
                            .collect()
                    };
                    assert_eq!(
                        lines(&w.screen().contents()),
                        lines(&want),
                        "{ctx}: replay ends on the after-screen"
                    );
                    let n = prompts(&events).len();
                    match agent {
                        // Codex ends every frame with `?2026l`: its prompt is seen once
                        // however the bytes are cut.
                        Agent::Codex => assert_eq!(n, 1, "{ctx}"),
                        // Claude Code is judged only on quiet: seen once when a quiet falls
                        // while its dialog is up (small chunks), and without quiets only the
                        // final screen is judged.
                        Agent::ClaudeCode if quiet_every_chunk && chunk <= 64 => {
                            assert_eq!(n, 1, "{ctx}")
                        }
                        Agent::ClaudeCode if !quiet_every_chunk => assert_eq!(n, 0, "{ctx}"),
                        Agent::ClaudeCode => assert!(n <= 1, "{ctx}"),
                    }
                }
            }
        }
    }

    #[test]
    fn codex_announces_the_permission_wait() {
        let (events, _) = replay("codex-approve-session.raw", 100, false);
        let states: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Signal(s) => Some(s.state.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(states, ["idle", "working", "blocked", "working", "done"]);
        let blocked = events
            .iter()
            .find_map(|e| match e {
                WatchEvent::Signal(s) if s.state == "blocked" => Some(s.clone()),
                _ => None,
            })
            .unwrap();
        assert!(blocked.is_permission_wait());
        assert_eq!(blocked.app.as_deref(), Some("codex"));
        assert_eq!(AgentSignal::parse("?"), None);
        assert!(!AgentSignal::parse("state=working:app=codex")
            .unwrap()
            .is_permission_wait());
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
        let mut w = PromptWatcher::new(40, 120);
        let raw = fixture("claude-approve-session.raw");
        w.feed(&raw);
        assert!(w.screen().alternate_screen());
        w.feed(b"\x1b[38;3HContinue? [y/N]");
        assert_eq!(
            w.screen().cursor_position().0,
            37,
            "cursor in the input box row"
        );
        assert!(w.quiet().is_empty());
        // The same text at a shell prompt in the main screen is one.
        let mut w = PromptWatcher::new(40, 120);
        w.feed(b"Continue? [y/N]");
        assert_eq!(prompts(&w.quiet()).len(), 1);
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
    fn shell_session_through_the_watcher() {
        let mut w = PromptWatcher::new(24, 80);
        let mut ev = w.feed(b"$ ./install.sh\r\nInstalling...\r\nProceed? [y/N] ");
        ev.extend(w.quiet());
        let ps = prompts(&ev);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].kind, PromptKind::YesNo);
        // Quiet again, same prompt: nothing new.
        assert!(w.quiet().is_empty());
        // The answer is echoed and the program moves on: gone.
        let mut ev = w.feed(b"y\r\nok\r\n$ ");
        ev.extend(w.quiet());
        assert_eq!(gone(&ev), 1);
        assert!(prompts(&ev).is_empty());
        assert_eq!(w.current(), None);
    }

    #[test]
    fn a_different_prompt_replaces_the_old_one() {
        let mut w = PromptWatcher::new(24, 80);
        w.feed(b"Delete a? [y/N] ");
        let first = w.quiet();
        assert_eq!(prompts(&first).len(), 1);
        w.feed(b"y\r\nDelete b? [y/N] ");
        let ev = w.quiet();
        assert!(
            matches!(&ev[..], [WatchEvent::Gone(a), WatchEvent::Appeared(b)]
            if a.question == "Delete a? [y/N]" && b.question == "Delete b? [y/N]")
        );
    }

    #[test]
    fn nothing_is_judged_inside_a_synchronized_update() {
        let mut w = PromptWatcher::new(24, 80);
        // The frame is not finished: no verdict even though the text is there.
        assert!(w.feed(b"\x1b[?2026hProceed? [y/N] ").is_empty());
        assert!(w.in_sync());
        let ev = w.feed(b"\x1b[?2026l");
        assert!(!w.in_sync());
        assert_eq!(prompts(&ev).len(), 1);
        // Split escape sequences are fine.
        let ev = w.feed(b"\x1b[?20");
        assert!(ev.is_empty());
        let mut ev = w.feed(b"26h\x1b[2J\x1b[H$ ");
        assert!(ev.is_empty());
        ev.extend(w.feed(b"\x1b[?2026"));
        ev.extend(w.feed(b"l"));
        assert_eq!(gone(&ev), 1);
    }

    #[test]
    fn input_names_are_the_host_key_names() {
        for key in [Key::Enter, Key::Escape, Key::CtrlC] {
            assert_eq!(
                Input::Key(key).bytes(),
                key.name()
                    .parse::<walkie_host_proto::keys::Key>()
                    .unwrap()
                    .bytes(),
                "{key:?}"
            );
        }
    }
}
