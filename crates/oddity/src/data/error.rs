//! The ingest error: what went wrong, and where in which input.

use std::fmt;
use std::io;

use super::schema::ColumnKind;

/// A failure to read an input, located as precisely as the format allows.
///
/// Displays as `<input>: row R (line L), column "C": <message>`, leaving out the parts that are
/// absent. Rows are 1-based data rows (the header is not a row); lines are 1-based physical lines.
#[derive(Debug)]
pub struct DataError {
    /// The input as displayed: its path, or `<stdin>`.
    pub input: String,
    pub row: Option<u64>,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub kind: DataErrorKind,
}

impl DataError {
    /// An error about the input as a whole.
    pub(crate) fn new(input: impl Into<String>, kind: DataErrorKind) -> Self {
        DataError {
            input: input.into(),
            row: None,
            line: None,
            column: None,
            kind,
        }
    }

    pub(crate) fn at_row(mut self, row: u64, line: Option<u64>) -> Self {
        self.row = Some(row);
        self.line = line;
        self
    }

    pub(crate) fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.input)?;
        let mut located = false;
        match (self.row, self.line) {
            (Some(row), Some(line)) => write!(f, "row {row} (line {line})")?,
            (Some(row), None) => write!(f, "row {row}")?,
            (None, Some(line)) => write!(f, "line {line}")?,
            (None, None) => {}
        }
        if self.row.is_some() || self.line.is_some() {
            located = true;
        }
        if let Some(column) = &self.column {
            if located {
                f.write_str(", ")?;
            }
            write!(f, "column {column:?}")?;
            located = true;
        }
        if located {
            f.write_str(": ")?;
        }
        write!(f, "{}", self.kind)?;
        if let (DataErrorKind::InvalidValue { .. }, Some(column)) = (&self.kind, &self.column) {
            write!(f, " (override the type with --type {column}=category)")?;
        }
        Ok(())
    }
}

// The message already contains the cause's text, so `source` stays `None`: error reporters that
// walk the chain would otherwise print it twice.
impl std::error::Error for DataError {}

/// What went wrong; the location lives in [`DataError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataErrorKind {
    #[error("cannot open: {0}")]
    Open(io::Error),
    #[error("cannot read: {0}")]
    Read(io::Error),
    #[error("empty input: no header and no data rows")]
    EmptyWithHeader,
    #[error("empty input: no data rows")]
    Empty,
    #[error("found {found} fields, the header has {expected}")]
    FieldCountVsHeader { found: usize, expected: usize },
    #[error("found {found} fields, the first row has {expected}")]
    FieldCountVsFirstRow { found: usize, expected: usize },
    /// Two columns share the name in [`DataError::column`]; positions are 1-based.
    #[error("duplicate column name (columns {first} and {second})")]
    DuplicateColumn { first: usize, second: usize },
    /// A type override names [`DataError::column`], which the input lacks.
    #[error(
        "no such column to override; the columns are {}",
        list_columns(available)
    )]
    UnknownOverrideColumn {
        /// Every column name of the input, in order.
        available: Box<[String]>,
    },
    /// [`DataError`]'s display adds how to override the column's kind.
    #[error("expected {}, got {value:?}", expected.with_article())]
    InvalidValue { expected: ColumnKind, value: String },
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("nested arrays and objects are not supported")]
    NestedValue,
    #[error("no columns found in the first {rows_read} rows")]
    NoColumns { rows_read: u64 },
    #[error("invalid parquet file: {0}")]
    Parquet(String),
    #[error("nested or repeated parquet columns are not supported")]
    NestedParquetColumn,
    #[error("parquet input needs the `parquet` cargo feature, which this build lacks")]
    ParquetDisabled,
    #[error("{name} must be at least {min}, got {value}")]
    InvalidOption {
        name: &'static str,
        min: usize,
        value: usize,
    },
}

/// Joins up to a screenful of column names for a message, counting the rest.
fn list_columns(names: &[String]) -> String {
    // Enough to spot a typo without flooding the terminal for 10,000-column inputs.
    const SHOWN: usize = 20;
    let total = names.len();
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if total > SHOWN {
        text.push_str(&format!(" and {} more", total - SHOWN));
    }
    text
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the test's failure report"
)]
mod tests {
    use super::*;

    #[test]
    fn display_has_the_documented_location_shape() {
        let err = DataError::new(
            "transactions.csv",
            DataErrorKind::InvalidValue {
                expected: ColumnKind::Number,
                value: "12,50".into(),
            },
        )
        .at_row(10234, Some(10235))
        .in_column("amount");

        assert_eq!(
            err.to_string(),
            "transactions.csv: row 10234 (line 10235), column \"amount\": expected a number, \
             got \"12,50\" (override the type with --type amount=category)"
        );
    }

    #[test]
    fn display_leaves_out_absent_parts() {
        let whole = DataError::new("<stdin>", DataErrorKind::Empty);
        let column_only = DataError::new("a.jsonl", DataErrorKind::NestedValue).in_column("x");

        assert_eq!(whole.to_string(), "<stdin>: empty input: no data rows");
        assert_eq!(
            column_only.to_string(),
            "a.jsonl: column \"x\": nested arrays and objects are not supported"
        );
    }

    #[test]
    fn error_stays_small_enough_to_return_by_value() {
        // clippy's result_large_err fires at 128 bytes, in this module and in every caller.
        assert!(std::mem::size_of::<DataError>() < 128);
    }

    #[test]
    fn long_column_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        let text = list_columns(&names);
        assert!(text.starts_with("\"c0\", \"c1\""));
        assert!(text.ends_with("\"c19\" and 5 more"), "{text}");
    }
}
