//! Data ingest: reads tabular records from CSV, TSV, JSON Lines or Parquet (plain or gzip, from a
//! path or stdin) and yields fixed-schema columnar chunks, so that a caller streams an input of
//! any size in bounded memory.
//!
//! [`open`] detects the format, reads ahead up to [`ReadOptions::infer_rows`] rows to infer each
//! column's [`ColumnKind`] (overrides win), and returns a [`RecordSource`] that yields those rows
//! first and then the rest, [`Frame`] by frame. [`read_all`] drains a source into one frame.
//!
//! Invariants:
//! - **Every frame of a source has the source's schema**; the schema never changes mid-stream.
//! - **No byte input makes this module panic**; bad input is a [`DataError`] that names the input
//!   and, where known, the row, line and column.
//! - **Values are trimmed of ASCII whitespace** before missing-token checks and parsing; category
//!   text is kept trimmed.
//!
//! ```
//! use oddity::data::{open, ColumnKind, Input, ReadOptions};
//! # let dir = tempfile::tempdir().expect("temp dir");
//! # let path = dir.path().join("points.csv");
//! # std::fs::write(&path, "x,label\n1.5,a\n-inf,b\nNA,a\n").expect("write");
//! let mut source = open(&Input::Path(path), &ReadOptions::default())?;
//! assert_eq!(source.schema().fields[0].kind, ColumnKind::Number);
//! while let Some(frame) = source.next_chunk(10_000)? {
//!     assert_eq!(frame.n_rows(), 3);
//! }
//! # Ok::<(), oddity::data::DataError>(())
//! ```

mod delimited;
mod detect;
mod error;
mod frame;
mod json_lines;
#[cfg(feature = "parquet")]
mod parquet_file;
mod schema;
mod value;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

pub use self::error::{DataError, DataErrorKind};
pub use self::frame::{ColumnData, Frame};
pub use self::schema::{
    ColumnKind, Field, Schema, TypeOverrideError, UnknownColumnKind, parse_type_override,
};
pub use self::value::{BUILTIN_MISSING, format_timestamp};

use self::detect::Peeked;

/// Default number of rows read ahead to infer column kinds.
pub const DEFAULT_INFER_ROWS: usize = 10_000;

/// Rows a chunk reserves room for up front; larger chunks grow as they fill.
const CHUNK_CAPACITY_HINT: usize = 64 * 1024;

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Csv,
    Tsv,
    /// One JSON object per line.
    JsonLines,
    /// Needs the `parquet` cargo feature.
    Parquet,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::JsonLines => "jsonl",
            Format::Parquet => "parquet",
        })
    }
}

/// A word that names no [`Format`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}, expected one of csv, tsv, jsonl, ndjson, parquet")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Accepts `csv`, `tsv`, `jsonl`, `ndjson` and `parquet`, case-insensitive.
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "tsv" => Ok(Format::Tsv),
            "jsonl" | "ndjson" => Ok(Format::JsonLines),
            "parquet" => Ok(Format::Parquet),
            _ => Err(UnknownFormat(word.to_owned())),
        }
    }
}

/// Where records come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    /// Reads a command-line argument: `-` is stdin, anything else a path.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Input::Path(path) => Some(path),
            Input::Stdin => None,
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Path(path) => write!(f, "{}", path.display()),
            Input::Stdin => f.write_str("<stdin>"),
        }
    }
}

/// How to read an input; [`ReadOptions::default`] detects everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// `None` detects: by extension (`.csv .tsv .tab .jsonl .ndjson .json .parquet .pq`, each
    /// optionally followed by `.gz`), else by sniffing the first bytes. Gzip is always detected by
    /// its magic bytes, whatever the format.
    pub format: Option<Format>,
    /// CSV/TSV field separator; `None` is `,` for CSV and tab for TSV.
    pub delimiter: Option<u8>,
    /// Whether the first CSV/TSV row names the columns; without a header they are named `x0`,
    /// `x1`, ... Default `true`.
    pub has_header: bool,
    /// Kinds that replace inferred ones, by column name; naming an unknown column is an error.
    pub type_overrides: Vec<(String, ColumnKind)>,
    /// Kinds known in advance, by column name, as a saved model knows its columns'. Like
    /// `type_overrides` they replace inferred kinds, but a hint for a column the input lacks is
    /// ignored, and an override of the same column wins over its hint.
    pub schema_hints: Vec<(String, ColumnKind)>,
    /// Rows read ahead to infer kinds, at least 1. Default [`DEFAULT_INFER_ROWS`].
    pub infer_rows: usize,
    /// Missing-value tokens added to [`BUILTIN_MISSING`].
    pub extra_missing: Vec<String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            delimiter: None,
            has_header: true,
            type_overrides: Vec::new(),
            schema_hints: Vec::new(),
            infer_rows: DEFAULT_INFER_ROWS,
            extra_missing: Vec::new(),
        }
    }
}

/// A stream of fixed-schema chunks from one input.
pub trait RecordSource: Send {
    /// The columns every chunk has.
    fn schema(&self) -> &Arc<Schema>;

    /// Where the records come from.
    fn input(&self) -> &Input;

    /// Next chunk of at most `max_rows` rows (0 counts as 1); `Ok(None)` at end. A chunk is
    /// never empty. After an error the chunk's rows are dropped and the source is spent: later
    /// calls return `Ok(None)`.
    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Frame>, DataError>;
}

/// Opens `input` for streaming, detecting its format and inferring its schema.
///
/// Reads ahead up to `options.infer_rows` rows, so errors in those rows (ragged rows, bad JSON)
/// surface here rather than from [`RecordSource::next_chunk`].
pub fn open(input: &Input, options: &ReadOptions) -> Result<Box<dyn RecordSource>, DataError> {
    let _span = tracing::debug_span!("open", input = %input).entered();
    let reader: Box<dyn Read + Send> = match input {
        Input::Path(path) => Box::new(
            File::open(path)
                .map_err(|e| DataError::new(input.to_string(), DataErrorKind::Open(e)))?,
        ),
        Input::Stdin => Box::new(io::stdin()),
    };
    open_stream(input.clone(), reader, options, input.path())
}

/// Like [`open`], reading the bytes from `reader`; `input` names them in errors and, when it is a
/// path, its extension takes part in format detection. For uploads and tests.
pub fn open_reader(
    input: Input,
    reader: Box<dyn Read + Send>,
    options: &ReadOptions,
) -> Result<Box<dyn RecordSource>, DataError> {
    open_stream(input, reader, options, None)
}

/// Reads every row of `input` into one frame.
pub fn read_all(input: &Input, options: &ReadOptions) -> Result<Frame, DataError> {
    drain(open(input, options)?)
}

/// Reads every remaining row of `source` into one frame.
pub fn drain(mut source: Box<dyn RecordSource>) -> Result<Frame, DataError> {
    let mut all = Frame::empty(Arc::clone(source.schema()));
    let mut first = true;
    while let Some(chunk) = source.next_chunk(usize::MAX)? {
        if first {
            all = chunk;
            first = false;
        } else {
            all.append(&chunk);
        }
    }
    Ok(all)
}

/// `reopen` is the path to open directly as Parquet, sparing a spool to a temporary file.
fn open_stream(
    input: Input,
    reader: Box<dyn Read + Send>,
    options: &ReadOptions,
    reopen: Option<&Path>,
) -> Result<Box<dyn RecordSource>, DataError> {
    let name = input.to_string();
    if options.infer_rows == 0 {
        let kind = DataErrorKind::InvalidOption {
            name: "infer_rows",
            min: 1,
            value: 0,
        };
        return Err(DataError::new(name, kind));
    }
    let read_error = |e| DataError::new(input.to_string(), DataErrorKind::Read(e));

    let mut peeked = Peeked::new(reader).map_err(read_error)?;
    let gzipped = peeked.is_gzip();
    if gzipped {
        peeked = Peeked::new(Box::new(MultiGzDecoder::new(peeked))).map_err(read_error)?;
    }
    let format = options
        .format
        .or_else(|| input.path().and_then(detect::format_from_extension))
        .unwrap_or_else(|| detect::sniff_format(peeked.head()));
    tracing::debug!(%format, gzipped, "input format");

    match format {
        Format::Csv | Format::Tsv => {
            let default_delimiter = if format == Format::Tsv { b'\t' } else { b',' };
            let delimiter = options.delimiter.unwrap_or(default_delimiter);
            let source = delimited::DelimitedSource::open(input, peeked, delimiter, options)?;
            Ok(Box::new(source))
        }
        Format::JsonLines => Ok(Box::new(json_lines::JsonLinesSource::open(
            input, peeked, options,
        )?)),
        Format::Parquet => open_parquet(input, peeked, reopen.filter(|_| !gzipped), options),
    }
}

#[cfg(feature = "parquet")]
fn open_parquet(
    input: Input,
    peeked: Peeked,
    reopen: Option<&Path>,
    options: &ReadOptions,
) -> Result<Box<dyn RecordSource>, DataError> {
    let file = match reopen {
        Some(path) => {
            drop(peeked);
            File::open(path)
                .map_err(|e| DataError::new(input.to_string(), DataErrorKind::Open(e)))?
        }
        None => parquet_file::spool(&input, peeked)?,
    };
    Ok(Box::new(parquet_file::ParquetSource::open(
        input, file, options,
    )?))
}

#[cfg(not(feature = "parquet"))]
fn open_parquet(
    input: Input,
    _peeked: Peeked,
    _reopen: Option<&Path>,
    _options: &ReadOptions,
) -> Result<Box<dyn RecordSource>, DataError> {
    Err(DataError::new(
        input.to_string(),
        DataErrorKind::ParquetDisabled,
    ))
}

/// Fails on the first repeated name, naming both 1-based column positions.
fn check_unique_names(input: &Input, names: &[String]) -> Result<(), DataError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name, index) {
            let kind = DataErrorKind::DuplicateColumn {
                first: first + 1,
                second: index + 1,
            };
            return Err(DataError::new(input.to_string(), kind).in_column(name.clone()));
        }
    }
    Ok(())
}

/// Builds the schema from names and inferred kinds, applying the hints and then the overrides.
fn build_schema(
    input: &Input,
    names: Vec<String>,
    mut kinds: Vec<ColumnKind>,
    options: &ReadOptions,
) -> Result<Arc<Schema>, DataError> {
    for (name, kind) in &options.schema_hints {
        if let Some(index) = names.iter().position(|n| n == name) {
            kinds[index] = *kind;
        }
    }
    for (name, kind) in &options.type_overrides {
        let Some(index) = names.iter().position(|n| n == name) else {
            let kind = DataErrorKind::UnknownOverrideColumn {
                available: names.into_boxed_slice(),
            };
            return Err(DataError::new(input.to_string(), kind).in_column(name.clone()));
        };
        kinds[index] = *kind;
    }
    let fields: Vec<Field> = names
        .into_iter()
        .zip(kinds)
        .map(|(name, kind)| Field { name, kind })
        .collect();
    tracing::debug!(n_columns = fields.len(), "schema ready");
    for field in &fields {
        tracing::trace!(column = %field.name, kind = %field.kind, "column kind");
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Rows to reserve for a chunk of at most `max_rows`.
fn chunk_capacity(max_rows: usize) -> usize {
    max_rows.min(CHUNK_CAPACITY_HINT)
}

/// The error for a cell that does not fit its column.
fn mismatch_error(
    input: &Input,
    schema: &Schema,
    column: usize,
    mismatch: value::Mismatch,
) -> DataError {
    let kind = DataErrorKind::InvalidValue {
        expected: mismatch.expected,
        value: mismatch.value,
    };
    DataError::new(input.to_string(), kind).in_column(schema.fields[column].name.clone())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the test's failure report"
)]
mod tests;
