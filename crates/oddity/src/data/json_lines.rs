//! JSON Lines sources: one object per line, columns in order of first appearance.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::detect::Peeked;
use super::value::{CellParser, KindVote, Value};
use super::{
    DataError, DataErrorKind, Frame, Input, ReadOptions, RecordSource, Schema, build_schema,
    chunk_capacity, mismatch_error,
};

/// Read buffer size; lines longer than this still work, they just take more reads.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// One JSON value as a cell: a scalar, or a nested array or object, which is an error.
enum JsonCell {
    Scalar(Value),
    Nested,
}

impl<'de> Deserialize<'de> for JsonCell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CellVisitor)
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = JsonCell;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonCell, E> {
        Ok(JsonCell::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonCell, E> {
        // Integers beyond 2^53 lose precision, as they do in most JSON readers.
        Ok(JsonCell::Scalar(Value::Number(v as f64)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonCell, E> {
        Ok(JsonCell::Scalar(Value::Number(v as f64)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonCell, E> {
        Ok(JsonCell::Scalar(Value::Number(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonCell, E> {
        Ok(JsonCell::Scalar(Value::Text(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<JsonCell, E> {
        Ok(JsonCell::Scalar(Value::Text(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonCell, E> {
        Ok(JsonCell::Scalar(Value::Missing))
    }

    fn visit_none<E: de::Error>(self) -> Result<JsonCell, E> {
        Ok(JsonCell::Scalar(Value::Missing))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonCell, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonCell::Nested)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonCell, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonCell::Nested)
    }
}

/// One line's object with its keys in written order (serde_json's map would sort them).
struct JsonRow(Vec<(String, JsonCell)>);

impl<'de> Deserialize<'de> for JsonRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = JsonRow;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRow, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(entry) = map.next_entry::<String, JsonCell>()? {
            entries.push(entry);
        }
        Ok(JsonRow(entries))
    }
}

/// A read-ahead row: its line and its cells by column index (shorter when later rows added
/// columns).
struct PendingRow {
    line: u64,
    cells: Vec<Value>,
}

/// A JSON Lines input: read-ahead rows first, then the rest of the stream.
pub(crate) struct JsonLinesSource {
    input: Input,
    schema: Arc<Schema>,
    reader: BufReader<Peeked>,
    line_buf: Vec<u8>,
    /// Physical lines read so far.
    line: u64,
    /// Rows (non-blank lines) parsed so far.
    rows_read: u64,
    /// 1-based number of the next row to yield.
    next_row: u64,
    pending: VecDeque<PendingRow>,
    column_index: HashMap<String, usize>,
    warned_keys: HashSet<String>,
    /// Cells of the row being converted, reused across rows.
    slots: Vec<Value>,
    parser: CellParser,
    done: bool,
}

impl fmt::Debug for JsonLinesSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesSource")
            .field("input", &self.input)
            .field("schema", &self.schema)
            .field("next_row", &self.next_row)
            .finish_non_exhaustive()
    }
}

impl JsonLinesSource {
    pub(crate) fn open(
        input: Input,
        peeked: Peeked,
        options: &ReadOptions,
    ) -> Result<Self, DataError> {
        let mut source = JsonLinesSource {
            input,
            schema: Arc::new(Schema::default()),
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, peeked),
            line_buf: Vec::new(),
            line: 0,
            rows_read: 0,
            next_row: 1,
            pending: VecDeque::new(),
            column_index: HashMap::new(),
            warned_keys: HashSet::new(),
            slots: Vec::new(),
            parser: CellParser::new(&options.extra_missing),
            done: false,
        };

        let mut names: Vec<String> = Vec::new();
        while source.pending.len() < options.infer_rows {
            let Some(row) = source.read_row()? else { break };
            let mut cells = Vec::with_capacity(names.len());
            for (key, cell) in row.0 {
                let JsonCell::Scalar(value) = cell else {
                    return Err(source.nested_error(source.rows_read, key));
                };
                let index = *source.column_index.entry(key).or_insert_with_key(|key| {
                    names.push(key.clone());
                    names.len() - 1
                });
                if cells.len() <= index {
                    cells.resize(index + 1, Value::Missing);
                }
                cells[index] = value;
            }
            source.pending.push_back(PendingRow {
                line: source.line,
                cells,
            });
        }
        if source.pending.is_empty() {
            return Err(DataError::new(
                source.input.to_string(),
                DataErrorKind::Empty,
            ));
        }
        if names.is_empty() {
            let kind = DataErrorKind::NoColumns {
                rows_read: source.rows_read,
            };
            return Err(DataError::new(source.input.to_string(), kind));
        }

        let mut votes = vec![KindVote::default(); names.len()];
        for row in &source.pending {
            for (vote, cell) in votes.iter_mut().zip(&row.cells) {
                vote.observe_value(cell, &source.parser.missing);
            }
        }
        let kinds = votes.iter().map(KindVote::kind).collect();
        source.slots = vec![Value::Missing; names.len()];
        source.schema = build_schema(&source.input, names, kinds, options)?;
        Ok(source)
    }

    fn nested_error(&self, row: u64, key: String) -> DataError {
        DataError::new(self.input.to_string(), DataErrorKind::NestedValue)
            .at_row(row, Some(self.line))
            .in_column(key)
    }

    /// Parses the next non-blank line; `None` at end of input.
    fn read_row(&mut self) -> Result<Option<JsonRow>, DataError> {
        loop {
            self.line_buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line_buf)
                .map_err(|e| DataError {
                    line: Some(self.line + 1),
                    ..DataError::new(self.input.to_string(), DataErrorKind::Read(e))
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let mut text = self.line_buf.as_slice();
            if self.line == 1 {
                text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
            }
            let text = text.trim_ascii();
            if text.is_empty() {
                continue;
            }
            self.rows_read += 1;
            return match serde_json::from_slice::<JsonRow>(text) {
                Ok(row) => Ok(Some(row)),
                Err(e) => {
                    let message = e.to_string();
                    // serde_json places errors at "line 1 column C" of the one-line text; keep
                    // the column and let the location carry the file's line.
                    let message = match message.rfind(" at line ") {
                        Some(cut) if e.classify() == serde_json::error::Category::Data => {
                            message[..cut].to_owned()
                        }
                        Some(cut) => format!("{} at column {}", &message[..cut], e.column()),
                        None => message,
                    };
                    let kind = DataErrorKind::Json(message);
                    Err(DataError::new(self.input.to_string(), kind)
                        .at_row(self.rows_read, Some(self.line)))
                }
            };
        }
    }

    fn push_cells(
        &mut self,
        frame: &mut Frame,
        cells: impl Iterator<Item = Value>,
        line: u64,
    ) -> Result<(), DataError> {
        let mut cells = cells.fuse();
        for (index, column) in frame.columns.iter_mut().enumerate() {
            let value = cells.next().unwrap_or(Value::Missing);
            if let Err(mismatch) = self.parser.push_value(column, value) {
                return Err(mismatch_error(&self.input, &self.schema, index, mismatch)
                    .at_row(self.next_row, Some(line)));
            }
        }
        Ok(())
    }

    /// Reads and converts one streamed row; `false` at end of input.
    fn push_streamed(&mut self, frame: &mut Frame) -> Result<bool, DataError> {
        let Some(row) = self.read_row()? else {
            return Ok(false);
        };
        for (key, cell) in row.0 {
            match self.column_index.get(&key) {
                Some(&index) => match cell {
                    JsonCell::Scalar(value) => self.slots[index] = value,
                    JsonCell::Nested => return Err(self.nested_error(self.rows_read, key)),
                },
                None => {
                    if self.warned_keys.len() < MAX_WARNED_KEYS && !self.warned_keys.contains(&key)
                    {
                        tracing::warn!(
                            input = %self.input, row = self.rows_read, key = %key,
                            "ignoring a key that the first rows did not have"
                        );
                        self.warned_keys.insert(key);
                    }
                }
            }
        }
        // Take the slots out while `self` is borrowed; emptying them readies the next row.
        let mut slots = std::mem::take(&mut self.slots);
        let cells = slots
            .iter_mut()
            .map(|slot| std::mem::replace(slot, Value::Missing));
        let result = self.push_cells(frame, cells, self.line);
        self.slots = slots;
        result.map(|()| true)
    }

    fn fill(&mut self, frame: &mut Frame, max_rows: usize) -> Result<(), DataError> {
        let mut n_rows = 0;
        while n_rows < max_rows {
            if let Some(row) = self.pending.pop_front() {
                self.push_cells(frame, row.cells.into_iter(), row.line)?;
            } else if !self.push_streamed(frame)? {
                self.done = true;
                break;
            }
            self.next_row += 1;
            n_rows += 1;
        }
        Ok(())
    }
}

/// Distinct unknown keys warned about per source; past this, further ones go unmentioned so that
/// a stream of ever-new keys cannot grow memory or flood the log.
const MAX_WARNED_KEYS: usize = 1000;

impl RecordSource for JsonLinesSource {
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
    use super::super::{ColumnData, ColumnKind, Format, drain, open_reader};
    use super::*;

    fn open_text(text: &str, infer_rows: usize) -> Result<Box<dyn RecordSource>, DataError> {
        let options = ReadOptions {
            format: Some(Format::JsonLines),
            infer_rows,
            ..ReadOptions::default()
        };
        let bytes = text.as_bytes().to_vec();
        open_reader(
            Input::Path("t.jsonl".into()),
            Box::new(std::io::Cursor::new(bytes)),
            &options,
        )
    }

    fn read_text(text: &str) -> Result<Frame, DataError> {
        drain(open_text(text, 100)?)
    }

    #[test]
    fn columns_follow_first_appearance_and_absent_keys_are_missing() {
        let frame = read_text("{\"b\":1,\"a\":\"x\"}\n\n{\"c\":true,\"b\":null}\r\n").unwrap();

        assert_eq!(frame.schema.names().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(frame.columns[0].as_numbers().map(|v| v[0]), Some(1.0));
        assert!(frame.columns[0].is_missing(1));
        assert_eq!(
            frame.columns[1],
            ColumnData::Category(vec![Some("x".into()), None])
        );
        assert_eq!(
            frame.columns[2],
            ColumnData::Boolean(vec![None, Some(true)])
        );
    }

    #[test]
    fn strings_are_inferred_like_csv_text() {
        let frame = read_text(
            "{\"n\":\"1.5\",\"t\":\"2024-01-01\",\"m\":\"NA\"}\n{\"n\":2,\"t\":null,\"m\":3}\n",
        )
        .unwrap();

        let kinds: Vec<_> = frame.schema.kinds().collect();
        assert_eq!(
            kinds,
            [
                ColumnKind::Number,
                ColumnKind::Timestamp,
                ColumnKind::Number
            ]
        );
        assert_eq!(frame.columns[0], ColumnData::Number(vec![1.5, 2.0]));
    }

    #[test]
    fn nested_values_name_row_and_field() {
        let err = read_text("{\"a\":1}\n\n{\"a\":2,\"b\":[1,2]}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.jsonl: row 2 (line 3), column \"b\": nested arrays and objects are not supported"
        );

        let mut source = open_text("{\"a\":1}\n{\"a\":{\"x\":1}}\n", 1).unwrap();
        let err = drain_error(&mut source);
        assert_eq!(err.row, Some(2));
        assert_eq!(err.column.as_deref(), Some("a"));
    }

    fn drain_error(source: &mut Box<dyn RecordSource>) -> DataError {
        loop {
            match source.next_chunk(1) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("expected an error"),
                Err(err) => return err,
            }
        }
    }

    #[test]
    fn lines_that_are_not_objects_are_errors_with_row() {
        let err = read_text("{\"a\":1}\n[1,2]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.jsonl: row 2 (line 2): invalid JSON: invalid type: sequence, expected a JSON \
             object"
        );

        let err = read_text("{\"a\":1}\n\n{\"a\" 1}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.jsonl: row 2 (line 3): invalid JSON: expected `:` at column 6"
        );
    }

    #[test]
    fn keys_after_read_ahead_are_ignored() {
        let source = open_text("{\"a\":1}\n{\"a\":2,\"late\":3}\n{\"late\":4}\n", 1).unwrap();

        let frame = drain(source).unwrap();

        assert_eq!(frame.schema.names().collect::<Vec<_>>(), ["a"]);
        assert_eq!(frame.columns[0].as_numbers().map(<[f64]>::len), Some(3));
        assert!(frame.columns[0].is_missing(2));
    }

    #[test]
    fn json_type_that_does_not_fit_the_column_is_an_error() {
        let mut source = open_text("{\"a\":true}\n{\"a\":1}\n", 1).unwrap();
        let err = drain_error(&mut source);
        assert_eq!(
            err.to_string(),
            "t.jsonl: row 2 (line 2), column \"a\": expected a boolean, got \"1\" \
             (override the type with --type a=category)"
        );
    }

    #[test]
    fn only_blank_lines_or_empty_objects_are_errors() {
        let err = read_text("\n  \n").unwrap_err();
        assert!(matches!(err.kind, DataErrorKind::Empty), "{err}");
        let err = read_text("{}\n{}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.jsonl: no columns found in the first 2 rows"
        );
    }
}
