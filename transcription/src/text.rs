//! Transcript clean-up: whisper's annotations, known hallucinations, decoder loops, and the
//! word normalisation used to compare transcripts.

/// Removes bracketed annotations whisper emits for non-speech (`[BLANK_AUDIO]`, `(music)`,
/// `*laughs*`, `♪`), and collapses whitespace.
pub fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth_sq = 0usize;
    let mut depth_paren = 0usize;
    let mut in_star = false;
    for c in text.chars() {
        match c {
            '[' => depth_sq += 1,
            ']' => depth_sq = depth_sq.saturating_sub(1),
            '(' => depth_paren += 1,
            ')' => depth_paren = depth_paren.saturating_sub(1),
            '*' => in_star = !in_star,
            '♪' | '♫' => {}
            _ if depth_sq == 0 && depth_paren == 0 && !in_star => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Phrases whisper invents on silence and noise (its training data was full of subtitles).
/// A segment containing one of these is dropped whatever its probabilities.
pub const HALLUCINATIONS: &[&str] = &[
    "thank you for watching",
    "thanks for watching",
    "thank you so much for watching",
    "thank you very much for watching",
    "please subscribe",
    "subscribe to my channel",
    "like and subscribe",
    "subtitles by",
    "subtitled by",
    "captions by",
    "transcribed by",
    "translated by",
    "amara org",
    "see you in the next video",
    "see you next time",
];

/// Short phrases that are real words but also whisper's favourite noise output; dropped
/// only when the segment itself looks like non-speech.
pub const WEAK_HALLUCINATIONS: &[&str] = &[
    "you",
    "thank you",
    "thanks",
    "bye",
    "okay",
    "oh",
    "so",
    "the end",
];

/// Lower-cased words with punctuation removed (apostrophes kept inside words), digits kept.
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(|c| c.to_lowercase())
                .collect::<String>()
                .trim_matches('\'')
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether a segment's text is a known hallucination (`strong`), or a weak one.
pub fn hallucination(text: &str) -> Option<bool> {
    let joined = words(&text.replace('.', " ")).join(" ");
    if joined.is_empty() {
        return None;
    }
    if HALLUCINATIONS.iter().any(|h| joined.contains(h)) {
        return Some(true);
    }
    if WEAK_HALLUCINATIONS.contains(&joined.as_str()) {
        return Some(false);
    }
    None
}

/// Cuts a decoder loop: a phrase of 1-12 words repeated back to back more often than
/// speech does (3 times for phrases of 2+ words, 5 for single words) is kept once, and
/// everything after the loop is dropped (whisper never recovers inside one window).
/// Returns the text and whether a loop was found.
pub fn cut_repetition(text: &str) -> (String, bool) {
    let raw: Vec<&str> = text.split_whitespace().collect();
    let norm: Vec<String> = raw.iter().map(|w| words(w).join("")).collect();
    let n = raw.len();
    for start in 0..n {
        for len in 1..=12usize {
            let limit = if len == 1 { 5 } else { 3 };
            if start + len * limit > n {
                break;
            }
            let phrase = &norm[start..start + len];
            if phrase.iter().all(|w| w.is_empty()) {
                continue;
            }
            let mut reps = 1;
            while start + (reps + 1) * len <= n
                && norm[start + reps * len..start + (reps + 1) * len] == *phrase
            {
                reps += 1;
            }
            if reps >= limit {
                let kept = raw[..start + len].join(" ");
                return (kept, true);
            }
        }
    }
    (raw.join(" "), false)
}

/// Word error rate of `hyp` against `reference` (both normalised with [`words`]):
/// (substitutions + deletions + insertions) / reference words.
pub fn word_error_rate(reference: &str, hyp: &str) -> f64 {
    let r = words(reference);
    let h = words(hyp);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations() {
        assert_eq!(strip_annotations(" [BLANK_AUDIO]"), "");
        assert_eq!(
            strip_annotations("(music) Deploy it. *laughs*"),
            "Deploy it."
        );
    }

    #[test]
    fn hallucinations() {
        assert_eq!(hallucination(" Thank you for watching!"), Some(true));
        assert_eq!(
            hallucination("Subtitles by the Amara.org community"),
            Some(true)
        );
        assert_eq!(hallucination(" Thank you."), Some(false));
        assert_eq!(hallucination("Run the tests."), None);
    }

    #[test]
    fn loops() {
        let (t, cut) =
            cut_repetition("Run the tests. Run the tests. Run the tests. Run the tests.");
        assert!(cut);
        assert_eq!(t, "Run the tests.");
        let (t, cut) = cut_repetition("Open a PR and then the the tests");
        assert!(!cut);
        assert_eq!(t, "Open a PR and then the the tests");
        let (t, cut) = cut_repetition("so so so so so so so");
        assert!(cut);
        assert_eq!(t, "so");
    }

    #[test]
    fn wer() {
        assert_eq!(word_error_rate("Run the tests.", "run the tests"), 0.0);
        assert_eq!(word_error_rate("a b c d", "a x c"), 0.5);
    }
}
