//! Durations as people type them: `30s`, `5m`, `2h`, `1h30m`, `1d`.

use crate::ParseError;

const UNITS: [(char, i64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// The longest duration accepted (a year): longer ones are typos, and it keeps sums far from
/// overflowing.
const MAX_SECS: i64 = 366 * 86_400;

/// Parses a duration into whole seconds (> 0). Units go from largest to smallest, each at most
/// once (`1h30m`, not `30m1h`).
pub(crate) fn parse(text: &str) -> Result<i64, ParseError> {
    let bad = || ParseError::Duration(text.to_string());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut last_unit = 0usize;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return Err(bad());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = rest[digits..].chars().next().ok_or_else(bad)?;
        let unit = unit.to_ascii_lowercase();
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if idx < last_unit || (idx == last_unit && total > 0) {
            return Err(bad());
        }
        last_unit = idx;
        total += number * UNITS[idx].1;
        if total > MAX_SECS {
            return Err(ParseError::DurationTooLong(text.to_string()));
        }
        rest = &rest[digits + 1..];
    }
    if total == 0 {
        return Err(ParseError::ZeroDuration(text.to_string()));
    }
    Ok(total)
}

/// Writes seconds back in the same syntax: 5400 → `1h30m`.
pub(crate) fn show(mut secs: i64) -> String {
    if secs <= 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_combination_parses() {
        assert_eq!(parse("30s"), Ok(30));
        assert_eq!(parse("5m"), Ok(300));
        assert_eq!(parse("2h"), Ok(7_200));
        assert_eq!(parse("1h30m"), Ok(5_400));
        assert_eq!(parse("1d"), Ok(86_400));
        assert_eq!(parse("1d2h3m4s"), Ok(93_784));
        assert_eq!(parse("90M"), Ok(5_400));
    }

    #[test]
    fn bad_durations_say_how_to_write_one() {
        for text in [
            "", "2", "h", "2x", "1.5h", "30m1h", "1h1h", "-5m", "2 h", "1234567s",
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "`{}` is not a duration: write a number and a unit, largest first: \
                     30s, 5m, 2h, 1h30m, 1d",
                    text.trim()
                ),
                "{text:?}"
            );
        }
        assert_eq!(
            parse("0m").unwrap_err().to_string(),
            "`0m` is no time at all: give a duration above zero, e.g. 5m"
        );
        assert_eq!(
            parse("400d").unwrap_err().to_string(),
            "`400d` is longer than the longest duration walkie takes (366d)"
        );
    }

    #[test]
    fn show_is_the_inverse_of_parse() {
        for secs in [1, 59, 60, 61, 3_600, 5_400, 86_400, 93_784] {
            assert_eq!(parse(&show(secs)), Ok(secs));
        }
        assert_eq!(show(5_400), "1h30m");
    }
}
