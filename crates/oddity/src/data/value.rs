//! Turning raw cells into typed values: missing tokens, parsers, kind inference and column
//! appends shared by every format.

use chrono::{DateTime, NaiveDate, SecondsFormat};

use super::frame::ColumnData;
use super::schema::ColumnKind;

/// Cell texts that mean "no value", compared after trimming ASCII whitespace.
pub const BUILTIN_MISSING: [&str; 13] = [
    "", "NA", "N/A", "na", "n/a", "NaN", "nan", "NAN", "null", "NULL", "Null", "None", "none",
];

/// Longest value shown in an error message, in characters.
const MAX_SHOWN_VALUE_CHARS: usize = 80;

/// The set of missing tokens, with a cheap pre-filter so that numeric cells, which rarely
/// start like a token, skip the comparisons.
#[derive(Debug, Clone)]
pub(crate) struct MissingTokens {
    tokens: Vec<Vec<u8>>,
    first_bytes: [bool; 256],
    max_len: usize,
}

impl MissingTokens {
    pub(crate) fn new(extra: &[String]) -> Self {
        let mut tokens: Vec<Vec<u8>> = BUILTIN_MISSING
            .iter()
            .map(|token| token.as_bytes().to_vec())
            .collect();
        tokens.extend(
            extra
                .iter()
                .map(|token| token.trim_ascii().as_bytes().to_vec()),
        );
        let mut first_bytes = [false; 256];
        for token in &tokens {
            if let Some(&first) = token.first() {
                first_bytes[usize::from(first)] = true;
            }
        }
        let max_len = tokens.iter().map(Vec::len).max().unwrap_or(0);
        MissingTokens {
            tokens,
            first_bytes,
            max_len,
        }
    }

    /// Whether an already trimmed cell is missing.
    #[inline]
    pub(crate) fn contains(&self, trimmed: &[u8]) -> bool {
        match trimmed.first() {
            None => true,
            Some(&first) => {
                trimmed.len() <= self.max_len
                    && self.first_bytes[usize::from(first)]
                    && self.tokens.iter().any(|token| token == trimmed)
            }
        }
    }
}

/// Parses a trimmed cell as a float: optional sign, decimals, exponent, `inf`, `infinity`.
#[inline]
pub(crate) fn parse_number(trimmed: &[u8]) -> Option<f64> {
    std::str::from_utf8(trimmed).ok()?.parse::<f64>().ok()
}

/// Parses `true` or `false` in any letter case.
#[inline]
pub(crate) fn parse_bool(trimmed: &[u8]) -> Option<bool> {
    if trimmed.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if trimmed.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

fn digits(bytes: Option<&[u8]>) -> Option<u32> {
    let bytes = bytes?;
    let mut value = 0u32;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(byte - b'0');
    }
    Some(value)
}

const MS_PER_DAY: i64 = 86_400_000;

/// Parses a timestamp to milliseconds since the Unix epoch, UTC.
///
/// Accepts `YYYY-MM-DD`, and `YYYY-MM-DD` followed by `T`, `t` or a space, `HH:MM`, optional
/// `:SS`, optional fraction (cut to milliseconds) and an optional zone (`Z` or `±HH:MM`, as in
/// RFC 3339). No zone means UTC. A four-digit year is required, so integers never parse.
pub(crate) fn parse_timestamp(trimmed: &[u8]) -> Option<i64> {
    if trimmed.len() < 10 || trimmed[4] != b'-' || trimmed[7] != b'-' {
        return None;
    }
    let year = digits(trimmed.get(0..4))?;
    let month = digits(trimmed.get(5..7))?;
    let day = digits(trimmed.get(8..10))?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a valid date");
    let days_ms = date.signed_duration_since(epoch).num_days() * MS_PER_DAY;

    let rest = &trimmed[10..];
    let Some((&separator, time)) = rest.split_first() else {
        return Some(days_ms);
    };
    if !matches!(separator, b'T' | b't' | b' ') || time.get(2) != Some(&b':') {
        return None;
    }
    let hour = digits(time.get(0..2))?;
    let minute = digits(time.get(3..5))?;
    let mut end = 5;
    let mut second = 0;
    let mut millis = 0;
    if time.get(5) == Some(&b':') {
        second = digits(time.get(6..8))?;
        end = 8;
        if time.get(8) == Some(&b'.') {
            let fraction_len = time[9..].iter().take_while(|b| b.is_ascii_digit()).count();
            if fraction_len == 0 {
                return None;
            }
            let shown = &time[9..9 + fraction_len.min(3)];
            millis = digits(Some(shown))? * 10u32.pow(3 - shown.len() as u32);
            end = 9 + fraction_len;
        }
    }
    // Second 60 is a leap second, which RFC 3339 allows.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let time_ms = i64::from(((hour * 60 + minute) * 60 + second) * 1000 + millis);

    let offset_ms = match &time[end..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(Some(&[*h1, *h2]))?;
            let minutes = digits(Some(&[*m1, *m2]))?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = i64::from((hours * 60 + minutes) * 60_000);
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    Some(days_ms + time_ms - offset_ms)
}

/// Formats milliseconds since the epoch as RFC 3339 with milliseconds (as category text and
/// outputs show timestamps).
pub fn format_timestamp(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A cell that a format has already typed (JSON and Parquet), or text to parse.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Missing,
    Text(String),
    Number(f64),
    Bool(bool),
    #[cfg_attr(
        not(feature = "parquet"),
        allow(dead_code, reason = "only Parquet yields typed timestamps")
    )]
    Timestamp(i64),
}

/// Which kinds a column's values seen so far all fit; decides the inferred kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindVote {
    seen_value: bool,
    boolean: bool,
    number: bool,
    timestamp: bool,
}

impl Default for KindVote {
    fn default() -> Self {
        KindVote {
            seen_value: false,
            boolean: true,
            number: true,
            timestamp: true,
        }
    }
}

impl KindVote {
    pub(crate) fn observe_text(&mut self, raw: &[u8], missing: &MissingTokens) {
        let trimmed = raw.trim_ascii();
        if missing.contains(trimmed) {
            return;
        }
        self.seen_value = true;
        self.boolean = self.boolean && parse_bool(trimmed).is_some();
        self.number = self.number && parse_number(trimmed).is_some();
        self.timestamp = self.timestamp && parse_timestamp(trimmed).is_some();
    }

    pub(crate) fn observe_value(&mut self, value: &Value, missing: &MissingTokens) {
        let (boolean, number, timestamp) = match value {
            Value::Missing => return,
            Value::Text(text) => return self.observe_text(text.as_bytes(), missing),
            Value::Bool(_) => (true, false, false),
            Value::Number(_) => (false, true, false),
            Value::Timestamp(_) => (false, false, true),
        };
        self.seen_value = true;
        self.boolean &= boolean;
        self.number &= number;
        self.timestamp &= timestamp;
    }

    /// Boolean, else number, else timestamp, else category; number when nothing was seen.
    pub(crate) fn kind(&self) -> ColumnKind {
        if !self.seen_value {
            ColumnKind::Number
        } else if self.boolean {
            ColumnKind::Boolean
        } else if self.number {
            ColumnKind::Number
        } else if self.timestamp {
            ColumnKind::Timestamp
        } else {
            ColumnKind::Category
        }
    }
}

/// A value that does not fit its column's kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mismatch {
    pub(crate) expected: ColumnKind,
    /// The offending value as text, shortened for messages.
    pub(crate) value: String,
}

impl Mismatch {
    fn new(expected: ColumnKind, value: &str) -> Self {
        let value = if value.chars().count() > MAX_SHOWN_VALUE_CHARS {
            let mut cut: String = value.chars().take(MAX_SHOWN_VALUE_CHARS).collect();
            cut.push('…');
            cut
        } else {
            value.to_owned()
        };
        Mismatch { expected, value }
    }
}

/// Appends cells to typed columns; remembers whether any text needed lossy UTF-8 decoding so
/// that the caller can warn once per source.
#[derive(Debug, Clone)]
pub(crate) struct CellParser {
    pub(crate) missing: MissingTokens,
    pub(crate) saw_invalid_utf8: bool,
}

impl CellParser {
    pub(crate) fn new(extra_missing: &[String]) -> Self {
        CellParser {
            missing: MissingTokens::new(extra_missing),
            saw_invalid_utf8: false,
        }
    }

    /// Decodes text, replacing invalid UTF-8 with U+FFFD.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> String {
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                self.saw_invalid_utf8 = true;
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }

    /// Parses one text cell into `column`.
    #[inline]
    pub(crate) fn push_text(
        &mut self,
        column: &mut ColumnData,
        raw: &[u8],
    ) -> Result<(), Mismatch> {
        self.push_trimmed(column, raw.trim_ascii(), None)
    }

    /// `text` is `trimmed` as a string when the caller knows it to be UTF-8.
    #[inline]
    fn push_trimmed(
        &mut self,
        column: &mut ColumnData,
        trimmed: &[u8],
        text: Option<&str>,
    ) -> Result<(), Mismatch> {
        if self.missing.contains(trimmed) {
            column.push_missing();
            return Ok(());
        }
        let fits = match column {
            ColumnData::Number(values) => {
                let number = match text {
                    Some(text) => text.parse::<f64>().ok(),
                    None => parse_number(trimmed),
                };
                number.map(|x| values.push(x))
            }
            ColumnData::Boolean(values) => parse_bool(trimmed).map(|b| values.push(Some(b))),
            ColumnData::Timestamp(values) => parse_timestamp(trimmed).map(|t| values.push(Some(t))),
            ColumnData::Category(values) => {
                let text = match text {
                    Some(text) => text.to_owned(),
                    None => self.decode(trimmed),
                };
                values.push(Some(text));
                Some(())
            }
        };
        fits.ok_or_else(|| Mismatch::new(column.kind(), &String::from_utf8_lossy(trimmed)))
    }

    /// Appends one typed value into `column`; text goes through [`CellParser::push_text`].
    pub(crate) fn push_value(
        &mut self,
        column: &mut ColumnData,
        value: Value,
    ) -> Result<(), Mismatch> {
        match (column, value) {
            (column, Value::Missing) => column.push_missing(),
            (column, Value::Text(text)) => {
                if let ColumnData::Category(values) = column {
                    // Skip the copy that push_text would make of an owned string.
                    let trimmed = text.trim_ascii();
                    if self.missing.contains(trimmed.as_bytes()) {
                        values.push(None);
                    } else if trimmed.len() == text.len() {
                        values.push(Some(text));
                    } else {
                        values.push(Some(trimmed.to_owned()));
                    }
                } else {
                    return self.push_text(column, text.as_bytes());
                }
            }
            (ColumnData::Number(values), Value::Number(x)) => values.push(x),
            (ColumnData::Boolean(values), Value::Bool(b)) => values.push(Some(b)),
            (ColumnData::Timestamp(values), Value::Timestamp(t)) => values.push(Some(t)),
            (ColumnData::Category(values), value) => values.push(Some(value_text(&value))),
            (column, value) => return Err(Mismatch::new(column.kind(), &value_text(&value))),
        }
        Ok(())
    }
}

/// A typed value written as category text.
fn value_text(value: &Value) -> String {
    match value {
        Value::Missing => String::new(),
        Value::Text(text) => text.clone(),
        Value::Number(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Timestamp(ms) => format_timestamp(*ms),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the test's failure report"
)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Option<i64> {
        parse_timestamp(text.as_bytes())
    }

    #[test]
    fn builtin_and_extra_missing_tokens_match_after_trim() {
        let missing = MissingTokens::new(&["-999".to_owned(), " ? ".to_owned()]);
        for token in BUILTIN_MISSING.iter().chain(&["-999", "?"]) {
            assert!(missing.contains(token.as_bytes()), "{token:?}");
        }
        assert!(!missing.contains(b"-9990"));
        assert!(!missing.contains(b"nil"));
        assert!(!missing.contains(b"0"));
    }

    #[test]
    fn numbers_accept_sign_exponent_and_infinities() {
        assert_eq!(parse_number(b"+1.5e3"), Some(1500.0));
        assert_eq!(parse_number(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_number(b"Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_number(b"12,50"), None);
        assert_eq!(parse_number(b"0x10"), None);
        assert_eq!(parse_number(b"\xff1"), None);
    }

    #[test]
    fn booleans_are_words_not_digits() {
        assert_eq!(parse_bool(b"TRUE"), Some(true));
        assert_eq!(parse_bool(b"False"), Some(false));
        assert_eq!(parse_bool(b"1"), None);
    }

    #[test]
    fn timestamps_in_every_accepted_shape() {
        assert_eq!(ts("1970-01-02"), Some(MS_PER_DAY));
        assert_eq!(ts("1970-01-01T00:00:01.5"), Some(1500));
        assert_eq!(ts("1970-01-01 00:01:00.123456"), Some(60_123));
        assert_eq!(ts("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(ts("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(ts("2024-02-29T12:30:00Z"), Some(1_709_209_800_000));
        assert_eq!(ts("2024-02-29 12:30"), Some(1_709_209_800_000));
    }

    #[test]
    fn integers_and_bad_dates_are_not_timestamps() {
        for text in [
            "20240101",
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T24:00:00",
            "2024-01-01T10:00:00+0100",
            "2024-01-01T10:00:00.",
            "2024-01-01X",
            "12345-01-01",
        ] {
            assert_eq!(ts(text), None, "{text}");
        }
    }

    #[test]
    fn timestamps_format_back_as_rfc3339() {
        assert_eq!(format_timestamp(1500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn votes_prefer_boolean_then_number_then_timestamp() {
        let missing = MissingTokens::new(&[]);
        let vote = |cells: &[&str]| {
            let mut vote = KindVote::default();
            for cell in cells {
                vote.observe_text(cell.as_bytes(), &missing);
            }
            vote.kind()
        };
        assert_eq!(vote(&["true", "NA", "FALSE"]), ColumnKind::Boolean);
        assert_eq!(vote(&["1", "0"]), ColumnKind::Number);
        assert_eq!(vote(&["2024-01-01", ""]), ColumnKind::Timestamp);
        assert_eq!(vote(&["1", "x"]), ColumnKind::Category);
        assert_eq!(vote(&["NA", ""]), ColumnKind::Number);
    }

    #[test]
    fn typed_values_vote_for_their_own_kind_only() {
        let missing = MissingTokens::new(&[]);
        let mut vote = KindVote::default();
        vote.observe_value(&Value::Number(1.0), &missing);
        vote.observe_value(&Value::Text("2".into()), &missing);
        assert_eq!(vote.kind(), ColumnKind::Number);
        vote.observe_value(&Value::Bool(true), &missing);
        assert_eq!(vote.kind(), ColumnKind::Category);
    }

    #[test]
    fn mismatch_names_kind_and_value() {
        let mut parser = CellParser::new(&[]);
        let mut column = ColumnData::new(ColumnKind::Number);

        parser.push_text(&mut column, b" 2 ").unwrap();
        let err = parser.push_text(&mut column, b"12,50").unwrap_err();

        assert_eq!(err.expected, ColumnKind::Number);
        assert_eq!(err.value, "12,50");
        assert_eq!(column, ColumnData::Number(vec![2.0]));
    }

    #[test]
    fn category_columns_take_any_value_as_text() {
        let mut parser = CellParser::new(&[]);
        let mut column = ColumnData::new(ColumnKind::Category);

        for value in [
            Value::Number(1.5),
            Value::Bool(true),
            Value::Text(" NA ".into()),
        ] {
            parser.push_value(&mut column, value).unwrap();
        }
        parser.push_text(&mut column, b"caf\xe9").unwrap();

        let expected = [Some("1.5"), Some("true"), None, Some("caf\u{fffd}")];
        assert_eq!(
            column,
            ColumnData::Category(expected.map(|v| v.map(String::from)).to_vec())
        );
        assert!(parser.saw_invalid_utf8);
    }

    #[test]
    fn long_values_are_shortened_in_mismatches() {
        let mut parser = CellParser::new(&[]);
        let mut column = ColumnData::new(ColumnKind::Boolean);
        let err = parser
            .push_text(&mut column, "y".repeat(200).as_bytes())
            .unwrap_err();
        assert_eq!(err.value.chars().count(), MAX_SHOWN_VALUE_CHARS + 1);
    }
}
