//! Live-screen rendering: a session's emulator screen as one Telegram HTML message.
//!
//! Telegram measures the 4096-character limit in UTF-16 code units of the text *after*
//! entity parsing, so tags do not count and `&lt;` counts as one. We measure the same
//! way and, when a screen does not fit, keep its bottom: that is where an agent's prompt
//! and latest output are.

/// Telegram's limit on a message's text, in UTF-16 code units after entity parsing.
pub(crate) const MAX_MESSAGE_UTF16: usize = 4096;

/// Marks that lines were cut from the top of a screen to fit the limit.
const CUT_MARK: &str = "…\n";

/// Shown instead of an empty `<pre>` (Telegram rejects empty messages).
const EMPTY_SCREEN: &str = "(empty screen)";

/// Length of `s` as Telegram counts it: UTF-16 code units.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Escapes the three characters Telegram's HTML parse mode requires escaped.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// Trailing spaces removed from every line, blank lines removed from the top and bottom.
/// Blank lines inside the screen stay: they are part of its layout.
pub(crate) fn trim_screen(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    match (first, last) {
        (Some(a), Some(b)) => lines[a..=b].join("\n"),
        _ => String::new(),
    }
}

/// Renders a live-screen message: an optional header line (already HTML) above the
/// screen in `<pre>`. `header_plain_len` is the header's visible length in UTF-16 units
/// (what remains after Telegram strips its tags). The result never exceeds
/// [`MAX_MESSAGE_UTF16`] visible characters; when the screen must be cut, its top lines go.
pub(crate) fn render_live(
    header_html: Option<&str>,
    header_plain_len: usize,
    screen: &str,
) -> String {
    let header_cost = header_html.map_or(0, |_| header_plain_len + 1); // + the newline
    let budget = MAX_MESSAGE_UTF16.saturating_sub(header_cost);
    let body = fit_bottom(&trim_screen(screen), budget);
    let body = if body.is_empty() {
        EMPTY_SCREEN.to_string()
    } else {
        body
    };
    let pre = format!("<pre>{}</pre>", escape_html(&body));
    match header_html {
        Some(h) => format!("{h}\n{pre}"),
        None => pre,
    }
}

/// The bottom of `text` that fits in `budget` UTF-16 units. Whole lines are dropped from
/// the top first, with [`CUT_MARK`] in their place; a single line too long even alone is
/// cut at a character boundary, keeping its end.
pub(crate) fn fit_bottom(text: &str, budget: usize) -> String {
    if utf16_len(text) <= budget {
        return text.to_string();
    }
    let mark = utf16_len(CUT_MARK);
    if budget <= mark {
        return keep_tail_chars(text, budget);
    }
    let room = budget - mark;
    // Walk lines from the bottom while they fit (each costs its length + a newline).
    let mut used = 0usize;
    let mut start_byte = text.len();
    for (idx, line) in rsplit_lines_with_offsets(text) {
        let cost = utf16_len(line) + usize::from(idx + line.len() < text.len());
        if used + cost > room {
            break;
        }
        used += cost;
        start_byte = idx;
    }
    if start_byte == text.len() {
        // Not even the last line fits: keep its tail.
        return format!("{CUT_MARK}{}", keep_tail_chars(text, room));
    }
    format!("{CUT_MARK}{}", &text[start_byte..])
}

/// Lines of `text` from the last to the first, each with its byte offset.
fn rsplit_lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offsets = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            offsets.push((start, &text[start..i]));
            start = i + 1;
        }
    }
    offsets.push((start, &text[start..]));
    offsets.into_iter().rev()
}

/// The last characters of `text` whose UTF-16 length is at most `budget`.
fn keep_tail_chars(text: &str, budget: usize) -> String {
    let mut used = 0;
    let mut start = text.len();
    for (i, c) in text.char_indices().rev() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        start = i;
    }
    text[start..].to_string()
}

/// The visible text of a rendered message, as Telegram would show it: tags removed and
/// the four entities we emit decoded. Used by tests to check the limit the way Telegram does.
#[cfg(test)]
fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            match rest.find('>') {
                Some(j) => rest = &rest[j + 1..],
                None => {
                    out.push_str(rest);
                    return out;
                }
            }
        } else {
            let (entity, ch) = [
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&amp;", '&'),
                ("&quot;", '"'),
            ]
            .into_iter()
            .find(|(e, _)| rest.starts_with(e))
            .unwrap_or(("&", '&'));
            out.push(ch);
            rest = &rest[entity.len()..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_blank_lines_and_trailing_spaces_only_at_the_edges() {
        let screen = "\n   \n$ ls   \n\nfoo  bar\n\n\n   \n";
        assert_eq!(trim_screen(screen), "$ ls\n\nfoo  bar");
        assert_eq!(trim_screen("  \n \n"), "");
    }

    #[test]
    fn escapes_html_inside_pre() {
        let html = render_live(None, 0, "if a < b && c > d { }");
        assert_eq!(html, "<pre>if a &lt; b &amp;&amp; c &gt; d { }</pre>");
        assert_eq!(visible_text(&html), "if a < b && c > d { }");
    }

    #[test]
    fn empty_screen_is_never_an_empty_message() {
        assert_eq!(
            visible_text(&render_live(None, 0, "\n\n  \n")),
            EMPTY_SCREEN
        );
    }

    #[test]
    fn counts_utf16_units_like_telegram() {
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2); // astral plane: a surrogate pair
    }

    #[test]
    fn long_screen_keeps_its_bottom_and_fits() {
        let screen: String = (0..10_000).map(|i| format!("line {i} <&>\n")).collect();
        let html = render_live(None, 0, &screen);
        let visible = visible_text(&html);
        assert!(
            utf16_len(&visible) <= MAX_MESSAGE_UTF16,
            "{}",
            utf16_len(&visible)
        );
        assert!(visible.starts_with(CUT_MARK));
        assert!(
            visible.ends_with("line 9999 <&>"),
            "{}",
            &visible[visible.len() - 40..]
        );
        // Whole lines only: the first kept line is complete.
        let first_kept = visible.lines().nth(1).unwrap_or_default();
        assert!(first_kept.starts_with("line "), "{first_kept}");
        // Close to the limit, not wastefully short.
        assert!(utf16_len(&visible) > MAX_MESSAGE_UTF16 - 20);
    }

    #[test]
    fn escaping_does_not_count_against_the_limit() {
        // 4000 '<' become 16000 bytes of "&lt;" but only 4000 visible characters.
        let screen = "<".repeat(4000);
        let html = render_live(None, 0, &screen);
        assert_eq!(visible_text(&html), screen);
    }

    #[test]
    fn astral_characters_are_counted_double_and_never_split() {
        let screen = "😀".repeat(3000); // 6000 UTF-16 units on one line
        let visible = visible_text(&render_live(None, 0, &screen));
        assert!(utf16_len(&visible) <= MAX_MESSAGE_UTF16);
        assert!(visible
            .trim_start_matches(CUT_MARK)
            .chars()
            .all(|c| c == '😀'));
    }

    #[test]
    fn header_is_counted_in_the_budget() {
        let screen = "x".repeat(5000);
        let header = "<b>backend</b> · running";
        let html = render_live(Some(header), utf16_len("backend · running"), &screen);
        assert!(html.starts_with(header));
        assert!(utf16_len(&visible_text(&html)) <= MAX_MESSAGE_UTF16);
    }

    #[test]
    fn tiny_budgets_still_fit() {
        assert_eq!(fit_bottom("abcdef", 1), "f");
        assert_eq!(fit_bottom("abc\ndef", 4), "…\nef");
    }
}
