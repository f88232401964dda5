//! Session names in a transcript, matched after transcription instead of prompted.
//!
//! Giving whisper the session names as an initial prompt costs the short encoder window
//! (a prompt changes words there, so a prompted job runs the full 30 s window:
//! docs/PERFORMANCE.md). Without a prompt whisper writes a name as it hears it: "Back
//! end," for `backend`, "A.P.I." for `api`, "Web two:" for `web2`. [`address`] maps those
//! spellings back to the name.
//!
//! The rule is route_spoken's, made tolerant of spelling and no looser: a note is
//! addressed to a session only when its **leading** words spell the session's name and are
//! followed by a pause mark (`,` `:` `;` `.` `!` or a dash). Words later in the note, and
//! leading words without a pause after them, are ordinary speech and never route: "test the
//! API" goes nowhere even with sessions `test` and `api`, while "Test, run it" goes to
//! `test`. Two words spell a name when, lower-cased and with punctuation dropped, their
//! letters and digits joined are the name's letters and digits joined (`Back-end` =
//! `back end` = `backend`; `api server` = `api-server`), with number words read as digits
//! (`web two` = `web 2` = `web2`). A name of 6 or more letters also matches one letter off
//! (`backed` for `backend`), but only when no other name is as close.

/// The longest a spoken name may be, in transcript words ("web server two" is 3).
const MAX_NAME_WORDS: usize = 4;

/// Names at least this long (letters and digits) match with one letter changed, added or
/// dropped; shorter names (`api`, `web`, `db`) must match exactly.
const FUZZY_MIN_LEN: usize = 6;

/// A session name matched at the start of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    /// The session's name as given (`backend`).
    pub session: String,
    /// The rest of the note after the name and its pause mark.
    pub rest: String,
}

impl Addressed {
    /// `name: rest`, the form the bot's routing of typed and spoken notes takes as is.
    pub fn routable(&self) -> String {
        format!("{}: {}", self.session, self.rest)
    }
}

/// The session `transcript` is addressed to, if its leading words are one of `sessions`
/// followed by a pause mark (module docs); `None` when no name leads or nothing follows it.
pub fn address(transcript: &str, sessions: &[String]) -> Option<Addressed> {
    let keys: Vec<(&String, String)> = sessions
        .iter()
        .map(|s| (s, key(s)))
        .filter(|(_, k)| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return None;
    }
    let words = leading_words(transcript);
    // The name ends at the first pause mark: "Back, end, ..." is not "backend".
    let n = words.iter().position(|w| w.pause_after)? + 1;
    let heard: String = words[..n].iter().map(|w| w.key.as_str()).collect();
    if heard.is_empty() {
        return None;
    }
    let mut close: Vec<(&String, usize)> = keys
        .iter()
        .filter_map(|(s, k)| {
            let allowed = usize::from(k.len() >= FUZZY_MIN_LEN);
            let d = distance(&heard, k);
            (d <= allowed).then_some((*s, d))
        })
        .collect();
    close.sort_by_key(|(_, d)| *d);
    let session = match close.as_slice() {
        [(s, _)] => *s,
        [(s, 0), (_, d), ..] if *d > 0 => *s,
        // No name, or two as close (`backend` and `backends` for "backendz"): neither.
        _ => return None,
    };
    let rest = transcript[words[n - 1].end..]
        .trim_start_matches([',', ':', ';', '.', '!', '-', '–', '—', ' '])
        .trim();
    (!rest.is_empty()).then(|| Addressed {
        session: session.clone(),
        rest: rest.to_string(),
    })
}

/// A name's letters and digits, lower-cased, with number words read as digits.
fn key(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .map(word_key)
        .collect()
}

/// One spoken word's key: a number word is its digits ("two" → "2").
fn word_key(w: &str) -> String {
    let lower: String = w
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    match walkie_words::number(&lower) {
        Some(n) => n.to_string(),
        None => lower,
    }
}

struct Word {
    /// Letters and digits of the word, number words as digits.
    key: String,
    /// A pause mark follows the word (inside it at its end, or a lone dash after it).
    pause_after: bool,
    /// Byte offset just past the word and its pause mark.
    end: usize,
}

/// The first [`MAX_NAME_WORDS`] words of `text`, split at spaces and hyphens.
fn leading_words(text: &str) -> Vec<Word> {
    let mut out: Vec<Word> = Vec::new();
    let mut pos = 0;
    for raw in text.split_inclusive(char::is_whitespace) {
        let start = pos;
        pos += raw.len();
        let w = raw.trim_end();
        if w.is_empty() {
            continue;
        }
        if matches!(w, "-" | "–" | "—") {
            // "backend - run the tests": the dash is the pause after the previous word.
            if let Some(last) = out.last_mut() {
                last.pause_after = true;
                last.end = start + w.len();
            }
            break;
        }
        if out.last().is_some_and(|l| l.pause_after) || out.len() >= MAX_NAME_WORDS {
            break;
        }
        let pause = pause_mark(w);
        // "Back-end" is two spoken words; "A.P.I." is one (its dots are not pauses).
        let parts: Vec<&str> = w.split(['-', '_']).collect();
        let n = parts.len();
        for (j, p) in parts.into_iter().enumerate() {
            out.push(Word {
                key: word_key(p),
                pause_after: pause && j + 1 == n,
                end: start + w.len(),
            });
        }
    }
    out.truncate(MAX_NAME_WORDS);
    out
}

/// Whether a transcript word ends with a pause mark. A final `.` is a pause unless the
/// word is dotted letters (`A.P.I.`, `e.g.`): those dots belong to the word.
fn pause_mark(w: &str) -> bool {
    let w = w.trim_end_matches(['"', '\'', ')', '”', '’']);
    if w.ends_with([',', ':', ';', '!', '?']) {
        return true;
    }
    match w.strip_suffix('.') {
        Some(body) => !body.contains('.'),
        None => false,
    }
}

/// Levenshtein distance over characters, stopping early above 1 (only 0 and 1 matter).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return 2;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Vec<String> {
        [
            "backend",
            "api",
            "api-server",
            "web2",
            "test",
            "frontend",
            "db",
        ]
        .map(String::from)
        .to_vec()
    }

    fn to(t: &str) -> Option<(String, String)> {
        address(t, &sessions()).map(|a| (a.session, a.rest))
    }

    fn routes(t: &str, session: &str, rest: &str) {
        assert_eq!(
            to(t),
            Some((session.to_string(), rest.to_string())),
            "{t:?}"
        );
    }

    #[test]
    fn whisper_spellings_of_a_name() {
        routes("Back end, run the tests.", "backend", "run the tests.");
        routes("Back-end, run the tests.", "backend", "run the tests.");
        routes("backend, run the tests.", "backend", "run the tests.");
        routes("BACKEND: run the tests", "backend", "run the tests");
        routes(" Backend. Run the tests.", "backend", "Run the tests.");
        routes("Back end - run the tests", "backend", "run the tests");
        routes("Backend; status", "backend", "status");
        routes("Back end! Stop.", "backend", "Stop.");
        routes("Front end, reload", "frontend", "reload");
        routes("Front-End: reload", "frontend", "reload");
    }

    #[test]
    fn acronyms_and_joined_words() {
        routes("API, status", "api", "status");
        routes("A.P.I., status", "api", "status");
        routes("a p i: status", "api", "status");
        routes("API server: restart it", "api-server", "restart it");
        routes("API-server, restart it", "api-server", "restart it");
        routes("apiserver, restart it", "api-server", "restart it");
        routes("DB: vacuum", "db", "vacuum");
        // The dots of dotted letters are not a pause.
        assert_eq!(to("D.B. vacuum"), None);
    }

    #[test]
    fn numbers_spoken_as_words() {
        routes("Web two: deploy", "web2", "deploy");
        routes("Web 2, deploy", "web2", "deploy");
        routes("web2: deploy", "web2", "deploy");
        routes("Web-2. Deploy.", "web2", "Deploy.");
        routes("Web Two, deploy", "web2", "deploy");
    }

    #[test]
    fn one_letter_off_only_for_long_names() {
        routes("Backed, run the tests", "backend", "run the tests");
        routes("Back ends, run the tests", "backend", "run the tests");
        // Short names must be exact.
        assert_eq!(to("Ape, status"), None);
        assert_eq!(to("Web, deploy"), None);
        assert_eq!(to("Web three: deploy"), None);
        assert_eq!(to("Tests, run them"), None);
    }

    #[test]
    fn ordinary_speech_does_not_route() {
        // Not the leading words.
        assert_eq!(to("Test the API, then deploy"), None);
        assert_eq!(to("Run the tests on backend, please"), None);
        assert_eq!(to("Please, backend, run the tests"), None);
        // Leading name without a pause: a sentence about it.
        assert_eq!(to("test the API"), None);
        assert_eq!(to("backend tests are failing"), None);
        assert_eq!(to("Back end tests are failing."), None);
        assert_eq!(to("API server is down"), None);
        // A name and nothing after it.
        assert_eq!(to("Backend."), None);
        assert_eq!(to("Back end,"), None);
        // A pause inside the name.
        assert_eq!(to("Back, end, run the tests"), None);
        // Nothing like a name.
        assert_eq!(to("Run the tests."), None);
        assert_eq!(to(""), None);
        assert_eq!(to("   "), None);
        assert_eq!(to(",,, ::"), None);
        assert_eq!(address("Backend, go", &[]), None);
        assert_eq!(address("Backend, go", &["".into(), "--".into()]), None);
    }

    #[test]
    fn a_common_word_routes_only_when_it_leads_with_a_pause() {
        // Session `test` exists: "Test, ..." is addressed to it, "Test the ..." is not.
        routes("Test, run it again", "test", "run it again");
        assert_eq!(to("Test it again."), None);
        assert_eq!(to("Let's test, shall we"), None);
    }

    #[test]
    fn the_name_ends_at_the_first_pause_and_ties_route_nowhere() {
        routes("API server, restart it", "api-server", "restart it");
        routes("API, server restart", "api", "server restart");
        let close = ["backend".to_string(), "backends".to_string()];
        assert_eq!(
            address("Backend, go", &close).map(|a| a.session),
            Some("backend".into())
        );
        // "backendz" is one off both: ambiguous.
        assert_eq!(address("Backendz, go", &close), None);
        // Two names with the same key (`api-server`, `api_server`): ambiguous too.
        let twins = ["api-server".to_string(), "api_server".to_string()];
        assert_eq!(address("API server, go", &twins), None);
    }

    #[test]
    fn routable_form_and_odd_input() {
        let a = address("Back end, run the tests.", &sessions()).unwrap();
        assert_eq!(a.routable(), "backend: run the tests.");
        // Non-ASCII, quotes and long words never panic or slice inside a character.
        assert_eq!(to("Бэкенд, запусти тесты"), None);
        routes("\"Backend,\" run it", "backend", "run it");
        assert_eq!(to(&"é".repeat(1000)), None);
        routes("Back end,   run   it", "backend", "run   it");
        assert_eq!(
            to("Back\u{a0}end, run it").map(|a| a.0),
            Some("backend".into())
        );
    }
}
