//! CSV and TSV sources, parsed from bytes with one reused record per row.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use csv::ByteRecord;

use super::detect::Peeked;
use super::value::{CellParser, KindVote};
use super::{
    DataError, DataErrorKind, Frame, Input, ReadOptions, RecordSource, Schema, build_schema,
    check_unique_names, chunk_capacity, mismatch_error,
};

/// Field bytes the read-ahead may hold before it stops early, so that very wide inputs infer
/// from fewer rows instead of exhausting memory.
const READ_AHEAD_BYTE_BUDGET: usize = 64 * 1024 * 1024;

/// A CSV or TSV input: read-ahead rows first, then the rest of the stream.
pub(crate) struct DelimitedSource {
    input: Input,
    schema: Arc<Schema>,
    reader: csv::Reader<Box<dyn Read + Send>>,
    has_header: bool,
    /// Rows read ahead for inference and not yet yielded.
    pending: VecDeque<ByteRecord>,
    record: ByteRecord,
    parser: CellParser,
    /// 1-based number of the next row to yield.
    next_row: u64,
    warned_utf8: bool,
    done: bool,
}

impl std::fmt::Debug for DelimitedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelimitedSource")
            .field("input", &self.input)
            .field("schema", &self.schema)
            .field("next_row", &self.next_row)
            .finish_non_exhaustive()
    }
}

impl DelimitedSource {
    pub(crate) fn open(
        input: Input,
        peeked: Peeked,
        delimiter: u8,
        options: &ReadOptions,
    ) -> Result<Self, DataError> {
        let stream: Box<dyn Read + Send> = Box::new(peeked);
        // Field counts are checked here, to report them with the row number.
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(stream);
        let mut source = DelimitedSource {
            input,
            schema: Arc::new(Schema::default()),
            reader,
            has_header: options.has_header,
            pending: VecDeque::new(),
            record: ByteRecord::new(),
            parser: CellParser::new(&options.extra_missing),
            next_row: 1,
            warned_utf8: false,
            done: false,
        };

        let names = source.read_names()?;
        check_unique_names(&source.input, &names)?;
        source.read_ahead(names.len(), options.infer_rows)?;

        let mut votes = vec![KindVote::default(); names.len()];
        for record in &source.pending {
            for (vote, cell) in votes.iter_mut().zip(record) {
                vote.observe_text(cell, &source.parser.missing);
            }
        }
        let kinds = votes.iter().map(KindVote::kind).collect();
        source.schema = build_schema(&source.input, names, kinds, options)?;
        source.warn_invalid_utf8();
        Ok(source)
    }

    /// Column names from the header, or `x0, x1, ...` from the first row's width (that row is
    /// kept as data).
    fn read_names(&mut self) -> Result<Vec<String>, DataError> {
        let mut first = ByteRecord::new();
        if !self.read_record(&mut first)? {
            let kind = if self.has_header {
                DataErrorKind::EmptyWithHeader
            } else {
                DataErrorKind::Empty
            };
            return Err(DataError::new(self.input.to_string(), kind));
        }
        if !self.has_header {
            let names = (0..first.len()).map(|i| format!("x{i}")).collect();
            self.pending.push_back(first);
            return Ok(names);
        }
        let names = first
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                let name = self.parser.decode(raw.trim_ascii());
                if name.is_empty() {
                    format!("column_{}", i + 1)
                } else {
                    name
                }
            })
            .collect();
        Ok(names)
    }

    /// Buffers rows until `infer_rows` are held, the byte budget is spent, or the input ends.
    fn read_ahead(&mut self, n_fields: usize, infer_rows: usize) -> Result<(), DataError> {
        let mut held_bytes: usize = self.pending.iter().map(|r| r.as_slice().len()).sum();
        while self.pending.len() < infer_rows {
            if held_bytes > READ_AHEAD_BYTE_BUDGET {
                tracing::debug!(
                    rows = self.pending.len(),
                    "read-ahead byte budget spent; inferring from fewer rows"
                );
                break;
            }
            let mut record = ByteRecord::new();
            if !self.read_record(&mut record)? {
                break;
            }
            let row = self.next_row + self.pending.len() as u64;
            self.check_width(&record, n_fields, row)?;
            held_bytes += record.as_slice().len();
            self.pending.push_back(record);
        }
        Ok(())
    }

    fn read_record(&mut self, record: &mut ByteRecord) -> Result<bool, DataError> {
        self.reader.read_byte_record(record).map_err(|e| {
            let line = e.position().map(|p| p.line());
            let io = match e.into_kind() {
                csv::ErrorKind::Io(io) => io,
                other => std::io::Error::other(format!("{other:?}")),
            };
            let err = DataError::new(self.input.to_string(), DataErrorKind::Read(io));
            DataError { line, ..err }
        })
    }

    fn check_width(&self, record: &ByteRecord, n_fields: usize, row: u64) -> Result<(), DataError> {
        if record.len() == n_fields {
            return Ok(());
        }
        let kind = if self.has_header {
            DataErrorKind::FieldCountVsHeader {
                found: record.len(),
                expected: n_fields,
            }
        } else {
            DataErrorKind::FieldCountVsFirstRow {
                found: record.len(),
                expected: n_fields,
            }
        };
        let line = record.position().map(|p| p.line());
        Err(DataError::new(self.input.to_string(), kind).at_row(row, line))
    }

    fn warn_invalid_utf8(&mut self) {
        if self.parser.saw_invalid_utf8 && !self.warned_utf8 {
            self.warned_utf8 = true;
            tracing::warn!(
                input = %self.input,
                "invalid UTF-8 replaced with U+FFFD in column names or category values"
            );
        }
    }

    /// Appends `record` as row `next_row` of `frame`.
    fn push_record(&mut self, frame: &mut Frame, record: &ByteRecord) -> Result<(), DataError> {
        for (index, (column, cell)) in frame.columns.iter_mut().zip(record).enumerate() {
            if let Err(mismatch) = self.parser.push_text(column, cell) {
                let line = record.position().map(|p| p.line());
                return Err(mismatch_error(&self.input, &self.schema, index, mismatch)
                    .at_row(self.next_row, line));
            }
        }
        Ok(())
    }

    /// Reads, checks and appends the next row of the stream; `false` at end of input.
    fn push_streamed(&mut self, frame: &mut Frame) -> Result<bool, DataError> {
        // The record buffer is reused across rows; take it out while `self` is borrowed.
        let mut record = std::mem::take(&mut self.record);
        let result = self.read_record(&mut record).and_then(|more| {
            if more {
                self.check_width(&record, self.schema.len(), self.next_row)?;
                self.push_record(frame, &record)?;
            }
            Ok(more)
        });
        self.record = record;
        result
    }

    fn fill(&mut self, frame: &mut Frame, max_rows: usize) -> Result<(), DataError> {
        let mut n_rows = 0;
        while n_rows < max_rows {
            if let Some(record) = self.pending.pop_front() {
                self.push_record(frame, &record)?;
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

impl RecordSource for DelimitedSource {
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

        let filled = self.fill(&mut frame, max_rows);
        self.warn_invalid_utf8();
        if let Err(err) = filled {
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

    fn options() -> ReadOptions {
        ReadOptions {
            format: Some(Format::Csv),
            ..ReadOptions::default()
        }
    }

    fn open_text(text: &str, options: &ReadOptions) -> Result<Box<dyn RecordSource>, DataError> {
        let bytes = text.as_bytes().to_vec();
        open_reader(
            Input::Path("t.csv".into()),
            Box::new(std::io::Cursor::new(bytes)),
            options,
        )
    }

    fn read_text(text: &str) -> Result<Frame, DataError> {
        drain(open_text(text, &options())?)
    }

    #[test]
    fn quoted_fields_crlf_and_bom_are_handled() {
        let frame = read_text("\u{feff}name,x\r\n\"a, \"\"quoted\"\"\",1\r\n\"multi\nline\",2\r\n")
            .unwrap();

        assert_eq!(frame.schema.names().collect::<Vec<_>>(), ["name", "x"]);
        let expected = ColumnData::Category(vec![
            Some("a, \"quoted\"".into()),
            Some("multi\nline".into()),
        ]);
        assert_eq!(frame.columns[0], expected);
        assert_eq!(frame.columns[1], ColumnData::Number(vec![1.0, 2.0]));
    }

    #[test]
    fn empty_header_names_are_numbered_and_duplicates_rejected() {
        let frame = read_text("a,,c\n1,2,3\n").unwrap();
        assert_eq!(
            frame.schema.names().collect::<Vec<_>>(),
            ["a", "column_2", "c"]
        );

        let err = read_text("a,b,a\n1,2,3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: column \"a\": duplicate column name (columns 1 and 3)"
        );
    }

    #[test]
    fn rows_without_header_name_columns_by_position() {
        let options = ReadOptions {
            has_header: false,
            ..options()
        };
        let frame = drain(open_text("1,a\n2,b\n", &options).unwrap()).unwrap();

        assert_eq!(frame.schema.names().collect::<Vec<_>>(), ["x0", "x1"]);
        assert_eq!(frame.columns[0], ColumnData::Number(vec![1.0, 2.0]));
    }

    #[test]
    fn ragged_row_after_read_ahead_is_located() {
        let options = ReadOptions {
            infer_rows: 2,
            ..options()
        };
        let mut source = open_text("a,b\n1,2\n3,4\n\"5\n\",6\n7\n", &options).unwrap();

        let err = source.next_chunk(10).unwrap_err();

        assert_eq!(
            err.to_string(),
            "t.csv: row 4 (line 6): found 1 fields, the header has 2"
        );
        assert!(source.next_chunk(10).unwrap().is_none());
    }

    #[test]
    fn ragged_row_without_header_compares_with_first_row() {
        let options = ReadOptions {
            has_header: false,
            ..options()
        };
        let err = open_text("1,2\n3\n", &options).err().expect("ragged");
        assert_eq!(
            err.to_string(),
            "t.csv: row 2 (line 2): found 1 fields, the first row has 2"
        );
    }

    #[test]
    fn bad_value_after_read_ahead_names_row_line_and_override() {
        let mut text = String::from("id,amount\n");
        for i in 1..=5 {
            text.push_str(&format!("{i},{i}.5\n"));
        }
        text.push_str("6,\"12,50\"\n");
        let options = ReadOptions {
            infer_rows: 3,
            ..options()
        };
        let mut source = open_text(&text, &options).unwrap();

        assert_eq!(source.schema().fields[1].kind, ColumnKind::Number);
        let first = source.next_chunk(4).unwrap().expect("four rows");
        let err = source.next_chunk(4).unwrap_err();

        assert_eq!(first.n_rows(), 4);
        assert_eq!(
            err.to_string(),
            "t.csv: row 6 (line 7), column \"amount\": expected a number, got \"12,50\" \
             (override the type with --type amount=category)"
        );
    }

    #[test]
    fn chunks_carry_their_first_row_number() {
        let mut source = open_text("x\n1\n2\n3\n4\n5\n", &options()).unwrap();
        let mut firsts = Vec::new();
        while let Some(frame) = source.next_chunk(2).unwrap() {
            firsts.push((frame.first_row, frame.n_rows()));
        }
        assert_eq!(firsts, [(1, 2), (3, 2), (5, 1)]);
    }

    #[test]
    fn custom_delimiter_is_used() {
        let options = ReadOptions {
            delimiter: Some(b';'),
            ..options()
        };
        let frame = drain(open_text("a;b\n1,5;x\n", &options).unwrap()).unwrap();
        assert_eq!(
            frame.columns[0],
            ColumnData::Category(vec![Some("1,5".into())])
        );
    }
}
