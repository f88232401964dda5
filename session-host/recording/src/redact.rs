//! Masking secrets in a byte stream that arrives in chunks.
//!
//! A secret may be split across two reads of the PTY, so the redactor holds back the
//! shortest tail that could still become a secret and emits it with the next chunk (or at
//! [`Redactor::flush`]). Nothing else is delayed.

/// What a secret is replaced with in a recording.
pub const MASK: &[u8] = b"********";

/// Secrets shorter than this are not masked: masking "a" everywhere would destroy the
/// recording and protect nothing (config validation should refuse such secrets).
pub const MIN_SECRET_LEN: usize = 4;

/// Replaces every occurrence of any secret with [`MASK`], across chunk boundaries.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<Vec<u8>>,
    /// `first[b]`: some secret starts with byte `b` (a fast skip for everything else).
    first: Vec<bool>,
    /// The distinct first bytes, for memchr when there are at most three.
    starts: Vec<u8>,
    pending: Vec<u8>,
}

impl Redactor {
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut list: Vec<Vec<u8>> = secrets
            .into_iter()
            .map(|s| s.as_ref().to_vec())
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so that a secret containing another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        list.dedup();
        let mut first = vec![false; 256];
        let mut starts = Vec::new();
        for s in &list {
            if !first[usize::from(s[0])] {
                starts.push(s[0]);
            }
            first[usize::from(s[0])] = true;
        }
        Redactor {
            secrets: list,
            first,
            starts,
            pending: Vec::new(),
        }
    }

    /// Offset of the next byte in `b` that some secret starts with.
    fn next_candidate(&self, b: &[u8]) -> Option<usize> {
        match self.starts.as_slice() {
            [a] => memchr::memchr(*a, b),
            [a, c] => memchr::memchr2(*a, *c, b),
            [a, c, d] => memchr::memchr3(*a, *c, *d, b),
            _ => b.iter().position(|&x| self.first[usize::from(x)]),
        }
    }

    /// Whether there is anything to mask at all.
    pub fn is_active(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Whether [`Redactor::push`] would pass `input` through as it is: nothing held back,
    /// no secret in it, and no possible start of one at its end. The writer then escapes
    /// `input` itself instead of a copy (a flood's hot path with a secret configured).
    pub fn passes(&self, input: &[u8]) -> bool {
        if !self.pending.is_empty() {
            return false;
        }
        if !self.is_active() {
            return true;
        }
        let mut i = 0;
        while let Some(k) = self.next_candidate(&input[i..]) {
            i += k;
            let rest = &input[i..];
            if self
                .secrets
                .iter()
                .any(|s| rest.starts_with(s) || (s.len() > rest.len() && s.starts_with(rest)))
            {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Appends to `out` the bytes of `input` (after what was held back) that are safe to
    /// write now, secrets masked.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if !self.is_active() {
            out.extend_from_slice(input);
            return;
        }
        let owned;
        let buf: &[u8] = if self.pending.is_empty() {
            input
        } else {
            let mut b = std::mem::take(&mut self.pending);
            b.extend_from_slice(input);
            owned = b;
            &owned
        };
        let mut i = 0;
        let mut plain_from = 0;
        while i < buf.len() {
            if !self.first[usize::from(buf[i])] {
                // Jump to the next byte a secret starts with.
                match self.next_candidate(&buf[i..]) {
                    Some(k) => i += k,
                    None => break,
                }
                continue;
            }
            let rest = &buf[i..];
            if let Some(s) = self.secrets.iter().find(|s| rest.starts_with(s)) {
                out.extend_from_slice(&buf[plain_from..i]);
                out.extend_from_slice(MASK);
                i += s.len();
                plain_from = i;
                continue;
            }
            if self
                .secrets
                .iter()
                .any(|s| s.len() > rest.len() && s.starts_with(rest))
            {
                // Could still become a secret with the next chunk.
                out.extend_from_slice(&buf[plain_from..i]);
                self.pending = rest.to_vec();
                return;
            }
            i += 1;
        }
        out.extend_from_slice(&buf[plain_from..]);
    }

    /// Appends what is held back (the stream ended, or a writer wants everything out).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.pending);
    }

    /// Masks a whole string at once (input typed through walkie, markers).
    pub fn mask_str(&self, s: &str) -> String {
        let mut r = self.clone();
        r.pending.clear();
        let mut out = Vec::with_capacity(s.len());
        r.push(s.as_bytes(), &mut out);
        r.flush(&mut out);
        // Masks and the bytes between them are whole UTF-8 sequences of `s`.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(r: &mut Redactor, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            r.push(c, &mut out);
        }
        r.flush(&mut out);
        out
    }

    #[test]
    fn masks_a_secret_in_one_chunk() {
        let mut r = Redactor::new(["123456:ABCDEF"]);
        assert_eq!(
            run(&mut r, &[b"token=123456:ABCDEF done"]),
            b"token=******** done".to_vec()
        );
    }

    #[test]
    fn masks_a_secret_split_at_every_position() {
        let secret = b"s3cr3t-value";
        let text = b"a s3cr3t-value b s3cr3t-value";
        for cut in 0..=text.len() {
            let mut r = Redactor::new([secret]);
            let out = run(&mut r, &[&text[..cut], &text[cut..]]);
            assert_eq!(out, b"a ******** b ********".to_vec(), "cut at {cut}");
        }
    }

    #[test]
    fn holds_back_only_a_possible_prefix() {
        let mut r = Redactor::new(["secret"]);
        let mut out = Vec::new();
        r.push(b"hello sec", &mut out);
        assert_eq!(out, b"hello ".to_vec());
        r.push(b"ond", &mut out);
        assert_eq!(out, b"hello second".to_vec());
    }

    #[test]
    fn a_near_miss_is_not_masked() {
        let mut r = Redactor::new(["abcdef"]);
        assert_eq!(run(&mut r, &[b"abcdeX abcde"]), b"abcdeX abcde".to_vec());
    }

    #[test]
    fn overlapping_secrets_mask_the_longest() {
        let mut r = Redactor::new(["abcd", "abcdefgh"]);
        assert_eq!(
            run(&mut r, &[b"xabcdefghy abcdz"]),
            b"x********y ********z".to_vec()
        );
    }

    #[test]
    fn short_secrets_are_ignored() {
        let r = Redactor::new(["ab", ""]);
        assert!(!r.is_active());
        assert_eq!(r.mask_str("abab"), "abab");
    }

    #[test]
    fn many_distinct_first_bytes_are_all_found() {
        let mut r = Redactor::new(["aaaa1", "bbbb2", "cccc3", "dddd4"]);
        assert_eq!(
            run(&mut r, &[b"x dddd4 y aaaa1 cccc3bbbb2"]),
            b"x ******** y ******** ****************".to_vec()
        );
    }

    #[test]
    fn no_secrets_passes_everything_through() {
        let mut r = Redactor::new(Vec::<String>::new());
        assert_eq!(
            run(&mut r, &[b"any", b" bytes \xff"]),
            b"any bytes \xff".to_vec()
        );
    }

    proptest::proptest! {
        /// `passes` says yes exactly when `push` would give the input back unchanged and
        /// hold nothing: the writer's shortcut never skips a mask.
        #[test]
        fn passes_agrees_with_push(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-z0-9 :]{0,30}".prop_map(String::into_bytes),
                    proptest::sample::select(vec![&b"12345:tok"[..], b"1234", b"123", b"12345:to", b"hunter2", b"hunt"])
                        .prop_map(<[u8]>::to_vec),
                ],
                0..10,
            ),
            held in proptest::bool::ANY,
        ) {
            let mut r = Redactor::new(["12345:tok", "hunter2"]);
            if held {
                let mut sink = Vec::new();
                r.push(b"x 1234", &mut sink);
            }
            let input = parts.concat();
            let passes = r.passes(&input);
            let mut out = Vec::new();
            r.push(&input, &mut out);
            let unchanged = out == input && r.pending.is_empty();
            prop_assert_eq!(passes, unchanged);
        }
    }

    #[test]
    fn nothing_configured_passes_everything() {
        let r = Redactor::new(Vec::<String>::new());
        assert!(r.passes(b"anything 12345"));
    }

    #[test]
    fn mask_str_masks_input() {
        let r = Redactor::new(["hunter22"]);
        assert_eq!(r.mask_str("pw hunter22\r"), "pw ********\r");
    }
}
