//! Spoken numbers as whisper writes them ("web two", "nine forty-five").
//!
//! One vocabulary for everything that reads transcripts: session names after transcription
//! (walkie-transcription) and spoken schedules (walkie-schedule). It lives in its own crate
//! so the schedule core can use it without linking whisper.cpp.
//!
//! # Layout
//! - `ONES`, `TENS`: the words, a word's position (or pair) is its value.
//! - [`number`]: one word ("seven", "twenty-one", "45") to its value.

/// "zero" to "nineteen"; a word's index is its value.
pub const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];

/// The tens a clock or a count needs, with their values.
pub const TENS: [(&str, u32); 4] = [("twenty", 20), ("thirty", 30), ("forty", 40), ("fifty", 50)];

/// The value of one lower-case word: digits, "zero".."nineteen", a ten, or a hyphenated
/// "twenty-one".."fifty-nine".
pub fn number(word: &str) -> Option<u32> {
    if let Ok(n) = word.parse::<u32>() {
        return Some(n);
    }
    if let Some(i) = ONES.iter().position(|w| *w == word) {
        return Some(i as u32);
    }
    if let Some(&(_, t)) = TENS.iter().find(|(w, _)| *w == word) {
        return Some(t);
    }
    let (tens, ones) = word.split_once('-')?;
    Some(ten(tens)? + digit(ones)?)
}

/// The value of a ten word ("thirty" → 30).
pub fn ten(word: &str) -> Option<u32> {
    TENS.iter().find(|(w, _)| *w == word).map(|&(_, t)| t)
}

/// The value of "one".."nine".
pub fn digit(word: &str) -> Option<u32> {
    ONES[1..10]
        .iter()
        .position(|w| *w == word)
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_digits() {
        assert_eq!(number("zero"), Some(0));
        assert_eq!(number("nineteen"), Some(19));
        assert_eq!(number("twenty"), Some(20));
        assert_eq!(number("twenty-three"), Some(23));
        assert_eq!(number("fifty-nine"), Some(59));
        assert_eq!(number("45"), Some(45));
        assert_eq!(number("twenty-ten"), None);
        assert_eq!(number("sixty"), None);
        assert_eq!(number("web"), None);
        assert_eq!(digit("zero"), None);
        assert_eq!(ten("forty"), Some(40));
    }
}
