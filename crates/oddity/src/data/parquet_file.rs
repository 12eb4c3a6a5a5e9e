//! Parquet sources, read row by row through the parquet crate's record API.
//!
//! Declared column types decide kinds where they are definite (booleans, numbers, dates and
//! timestamps); string and binary columns are inferred from their text like CSV cells.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::record::reader::RowIter;
use parquet::record::{Field as ParquetField, Row};
use parquet::schema::types::Type as ParquetType;

use super::detect::Peeked;
use super::value::{CellParser, KindVote, Value};
use super::{
    ColumnKind, DataError, DataErrorKind, Frame, Input, ReadOptions, RecordSource, Schema,
    build_schema, check_unique_names, chunk_capacity, mismatch_error,
};

const MS_PER_DAY: i64 = 86_400_000;

/// Copies a non-seekable input (stdin, or decompressed gzip) into an anonymous temporary file,
/// since Parquet's footer sits at the end.
pub(crate) fn spool(input: &Input, mut peeked: Peeked) -> Result<File, DataError> {
    let read_error = |e| DataError::new(input.to_string(), DataErrorKind::Read(e));
    let mut file = tempfile::tempfile().map_err(read_error)?;
    let bytes = io::copy(&mut peeked, &mut file).map_err(read_error)?;
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    tracing::debug!(bytes, "spooled parquet input to a temporary file");
    Ok(file)
}

/// Runs a parquet call that may panic on malformed files, turning a panic into an error.
///
/// The parquet crate panics (rather than erring) on some inconsistent files, e.g. a converted
/// type that does not fit the physical type; this module promises not to panic on any bytes.
fn guarded<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(call)).map_err(|payload| {
        let detail = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        format!("the reader failed on a malformed file: {detail}")
    })
}

/// How a column's parquet values become cells.
#[derive(Debug, Clone, Copy)]
struct ColumnPlan {
    /// The kind the declared type fixes; `None` infers from text.
    declared: Option<ColumnKind>,
    /// INT64 nanosecond timestamps, which the record API passes on as plain integers.
    nanos: bool,
}

fn plan_column(field: &ParquetType) -> ColumnPlan {
    let info = field.get_basic_info();
    let converted = info.converted_type();
    let logical = info.logical_type_ref();
    let nanos = matches!(logical, Some(LogicalType::Timestamp(t)) if t.unit == TimeUnit::NANOS)
        && converted == ConvertedType::NONE;
    let declared = match field.get_physical_type() {
        PhysicalType::BOOLEAN => Some(ColumnKind::Boolean),
        PhysicalType::INT32 if converted == ConvertedType::DATE => Some(ColumnKind::Timestamp),
        PhysicalType::INT64
            if nanos
                || matches!(
                    converted,
                    ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS
                ) =>
        {
            Some(ColumnKind::Timestamp)
        }
        PhysicalType::INT96 => Some(ColumnKind::Timestamp),
        PhysicalType::INT32 | PhysicalType::INT64 | PhysicalType::FLOAT | PhysicalType::DOUBLE => {
            Some(ColumnKind::Number)
        }
        PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY => {
            let float16 = matches!(logical, Some(LogicalType::Float16));
            (converted == ConvertedType::DECIMAL || float16).then_some(ColumnKind::Number)
        }
    };
    ColumnPlan { declared, nanos }
}

/// A big-endian two's-complement unscaled decimal as a float.
fn decimal_to_f64(bytes: &[u8], scale: i32) -> f64 {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let unscaled = if bytes.len() <= 16 {
        let mut value: i128 = if negative { -1 } else { 0 };
        for &byte in bytes {
            value = (value << 8) | i128::from(byte);
        }
        value as f64
    } else {
        // Wider than i128: accumulate in floating point, close enough for a detector. A negative
        // value is minus (its bitwise inverse plus one).
        let flip = if negative { 0xFF } else { 0 };
        let magnitude = bytes
            .iter()
            .fold(0.0, |acc, &b| acc * 256.0 + f64::from(b ^ flip));
        if negative {
            -(magnitude + 1.0)
        } else {
            magnitude
        }
    };
    unscaled / 10f64.powi(scale)
}

/// One parquet value as a cell; `None` for nested values.
fn field_value(field: ParquetField, plan: ColumnPlan) -> Option<Value> {
    Some(match field {
        ParquetField::Null => Value::Missing,
        ParquetField::Bool(b) => Value::Bool(b),
        ParquetField::Byte(v) => Value::Number(f64::from(v)),
        ParquetField::Short(v) => Value::Number(f64::from(v)),
        ParquetField::Int(v) => Value::Number(f64::from(v)),
        ParquetField::Long(v) if plan.nanos => Value::Timestamp(v.div_euclid(1_000_000)),
        ParquetField::Long(v) => Value::Number(v as f64),
        ParquetField::UByte(v) => Value::Number(f64::from(v)),
        ParquetField::UShort(v) => Value::Number(f64::from(v)),
        ParquetField::UInt(v) => Value::Number(f64::from(v)),
        ParquetField::ULong(v) => Value::Number(v as f64),
        ParquetField::Float16(v) => Value::Number(v.to_f64()),
        ParquetField::Float(v) => Value::Number(f64::from(v)),
        ParquetField::Double(v) => Value::Number(v),
        ParquetField::Decimal(d) => Value::Number(decimal_to_f64(d.data(), d.scale())),
        ParquetField::Str(s) => Value::Text(s),
        ParquetField::Bytes(b) => Value::Text(String::from_utf8_lossy(b.data()).into_owned()),
        ParquetField::Date(days) => Value::Timestamp(i64::from(days) * MS_PER_DAY),
        ParquetField::TimeMillis(ms) => Value::Number(f64::from(ms)),
        ParquetField::TimeMicros(us) => Value::Number(us as f64 / 1000.0),
        ParquetField::TimestampMillis(ms) => Value::Timestamp(ms),
        ParquetField::TimestampMicros(us) => Value::Timestamp(us.div_euclid(1000)),
        ParquetField::Group(_) | ParquetField::ListInternal(_) | ParquetField::MapInternal(_) => {
            return None;
        }
    })
}

/// A Parquet input: read-ahead rows first, then the rest of the file.
pub(crate) struct ParquetSource {
    input: Input,
    schema: Arc<Schema>,
    rows: RowIter<'static>,
    plans: Vec<ColumnPlan>,
    pending: VecDeque<Vec<Value>>,
    parser: CellParser,
    /// Rows taken from the file so far.
    rows_read: u64,
    /// 1-based number of the next row to yield.
    next_row: u64,
    done: bool,
}

impl std::fmt::Debug for ParquetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSource")
            .field("input", &self.input)
            .field("schema", &self.schema)
            .field("next_row", &self.next_row)
            .finish_non_exhaustive()
    }
}

impl ParquetSource {
    pub(crate) fn open(input: Input, file: File, options: &ReadOptions) -> Result<Self, DataError> {
        let parquet_error =
            |message: String| DataError::new(input.to_string(), DataErrorKind::Parquet(message));
        let reader = guarded(|| SerializedFileReader::new(file))
            .map_err(parquet_error)?
            .map_err(|e| parquet_error(e.to_string()))?;

        let root = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema_ptr();
        let mut names = Vec::new();
        let mut plans = Vec::new();
        for field in root.get_fields() {
            let info = field.get_basic_info();
            if field.is_group()
                || (info.has_repetition() && info.repetition() == Repetition::REPEATED)
            {
                return Err(
                    DataError::new(input.to_string(), DataErrorKind::NestedParquetColumn)
                        .in_column(field.name()),
                );
            }
            names.push(field.name().to_owned());
            plans.push(plan_column(field));
        }
        check_unique_names(&input, &names)?;
        if names.is_empty() {
            let kind = DataErrorKind::NoColumns { rows_read: 0 };
            return Err(DataError::new(input.to_string(), kind));
        }

        let mut source = ParquetSource {
            input,
            schema: Arc::new(Schema::default()),
            rows: RowIter::from_file_into(Box::new(reader)),
            plans,
            pending: VecDeque::new(),
            parser: CellParser::new(&options.extra_missing),
            rows_read: 0,
            next_row: 1,
            done: false,
        };
        while source.pending.len() < options.infer_rows {
            let Some(cells) = source.read_row()? else {
                break;
            };
            source.pending.push_back(cells);
        }

        let mut votes = vec![KindVote::default(); names.len()];
        for row in &source.pending {
            for (vote, cell) in votes.iter_mut().zip(row) {
                vote.observe_value(cell, &source.parser.missing);
            }
        }
        let kinds = source
            .plans
            .iter()
            .zip(&votes)
            .map(|(plan, vote)| plan.declared.unwrap_or_else(|| vote.kind()))
            .collect();
        source.schema = build_schema(&source.input, names, kinds, options)?;
        Ok(source)
    }

    /// The next row's cells; `None` at end of file.
    fn read_row(&mut self) -> Result<Option<Vec<Value>>, DataError> {
        let row = self.rows_read + 1;
        let parquet_error = |message: String| {
            DataError::new(self.input.to_string(), DataErrorKind::Parquet(message))
                .at_row(row, None)
        };
        let next = guarded(|| self.rows.next()).map_err(parquet_error)?;
        let Some(next) = next else { return Ok(None) };
        let record: Row = next.map_err(|e| parquet_error(e.to_string()))?;
        self.rows_read = row;

        let mut cells = Vec::with_capacity(self.plans.len());
        for ((name, field), plan) in record.into_columns().into_iter().zip(&self.plans) {
            let Some(value) = field_value(field, *plan) else {
                return Err(
                    DataError::new(self.input.to_string(), DataErrorKind::NestedValue)
                        .at_row(row, None)
                        .in_column(name),
                );
            };
            cells.push(value);
        }
        Ok(Some(cells))
    }

    fn fill(&mut self, frame: &mut Frame, max_rows: usize) -> Result<(), DataError> {
        let mut n_rows = 0;
        while n_rows < max_rows {
            let cells = match self.pending.pop_front() {
                Some(cells) => cells,
                None => match self.read_row()? {
                    Some(cells) => cells,
                    None => {
                        self.done = true;
                        break;
                    }
                },
            };
            let mut cells = cells.into_iter();
            for (index, column) in frame.columns.iter_mut().enumerate() {
                let value = cells.next().unwrap_or(Value::Missing);
                if let Err(mismatch) = self.parser.push_value(column, value) {
                    return Err(mismatch_error(&self.input, &self.schema, index, mismatch)
                        .at_row(self.next_row, None));
                }
            }
            self.next_row += 1;
            n_rows += 1;
        }
        Ok(())
    }
}

impl RecordSource for ParquetSource {
    fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn input(&self) -> &Input {
        &self.input
    }

    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Frame>, DataError> {
        if self.done {
            return Ok(None);
        }
        let max_rows = max_rows.max(1);
        let mut frame = Frame::with_capacity(Arc::clone(&self.schema), chunk_capacity(max_rows));
        frame.first_row = self.next_row;
        if let Err(err) = self.fill(&mut frame, max_rows) {
            self.done = true;
            self.pending.clear();
            return Err(err);
        }
        Ok((frame.n_rows() > 0).then_some(frame))
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the test's failure report"
)]
mod tests {
    use super::*;

    #[test]
    fn decimals_convert_with_sign_and_scale() {
        assert_eq!(decimal_to_f64(&[0x04, 0xD2], 2), 12.34);
        assert_eq!(decimal_to_f64(&[0xFB, 0x2E], 2), -12.34);
        assert_eq!(decimal_to_f64(&[0xFF; 20], 0), -1.0);
        let mut wide = [0u8; 20];
        wide[19] = 0x7B;
        assert_eq!(decimal_to_f64(&wide, 1), 12.3);
        assert_eq!(decimal_to_f64(&[], 0), 0.0);
    }
}
