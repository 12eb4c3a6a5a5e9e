//! CSV and TSV sources, parsed from bytes with one reused record per row.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use csv::ByteRecord;
use rayon::prelude::*;

use super::detect::Peeked;
use super::value::{CellParser, KindVote};
use super::{
    DataError, DataErrorKind, Frame, Input, ReadOptions, RecordSource, Schema, build_schema,
    check_unique_names, chunk_capacity, mismatch_error,
};

/// Field bytes the read-ahead may hold before it stops early, so that very wide inputs infer
/// from fewer rows instead of exhausting memory.
const READ_AHEAD_BYTE_BUDGET: usize = 64 * 1024 * 1024;

/// Rows read before their cells are parsed, in parallel when there are
/// enough of them: splitting records is sequential, but turning text into
/// numbers, most of the work, is not.
const BATCH_ROWS: usize = 16 * 1024;

/// Rows one parallel parsing task turns into a frame of its own; a batch
/// of fewer than two tasks' rows is parsed on the calling thread.
const TASK_ROWS: usize = 2048;

/// A CSV or TSV input: read-ahead rows first, then the rest of the stream.
pub(crate) struct DelimitedSource {
    input: Input,
    schema: Arc<Schema>,
    records: RecordReader,
    /// Records of the batch being parsed, and of the one read meanwhile;
    /// reused, so that their buffers are allocated once.
    batches: [Vec<ByteRecord>; 2],
    parser: CellParser,
    /// 1-based number of the next row to yield.
    next_row: u64,
    warned_utf8: bool,
}

/// The sequential half of a source: splits the stream into records.
struct RecordReader {
    reader: csv::Reader<Box<dyn Read + Send>>,
    has_header: bool,
    /// Rows read ahead for inference and not yet yielded.
    pending: VecDeque<ByteRecord>,
    /// Set at the end of input, and after an error.
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
            records: RecordReader {
                reader,
                has_header: options.has_header,
                pending: VecDeque::new(),
                done: false,
            },
            batches: [Vec::new(), Vec::new()],
            parser: CellParser::new(&options.extra_missing),
            next_row: 1,
            warned_utf8: false,
        };

        let names = source.read_names()?;
        check_unique_names(&source.input, &names)?;
        source.read_ahead(names.len(), options.infer_rows)?;

        let mut votes = vec![KindVote::default(); names.len()];
        for record in &source.records.pending {
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
        if !self.records.read_record(&self.input, &mut first)? {
            let kind = if self.records.has_header {
                DataErrorKind::EmptyWithHeader
            } else {
                DataErrorKind::Empty
            };
            return Err(DataError::new(self.input.to_string(), kind));
        }
        if !self.records.has_header {
            let names = (0..first.len()).map(|i| format!("x{i}")).collect();
            self.records.pending.push_back(first);
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
        let records = &mut self.records;
        let mut held_bytes: usize = records.pending.iter().map(|r| r.as_slice().len()).sum();
        while records.pending.len() < infer_rows {
            if held_bytes > READ_AHEAD_BYTE_BUDGET {
                tracing::debug!(
                    rows = records.pending.len(),
                    "read-ahead byte budget spent; inferring from fewer rows"
                );
                break;
            }
            let mut record = ByteRecord::new();
            if !records.read_record(&self.input, &mut record)? {
                break;
            }
            let row = self.next_row + records.pending.len() as u64;
            records.check_width(&self.input, &record, n_fields, row)?;
            held_bytes += record.as_slice().len();
            records.pending.push_back(record);
        }
        Ok(())
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

    /// Appends up to `max_rows` rows to `frame`, in batches of at most
    /// [`BATCH_ROWS`]. While a batch large enough to parse in parallel is
    /// parsed, the next one is read: splitting records then overlaps
    /// parsing instead of waiting for it.
    ///
    /// The error is the first one a row-by-row reader would meet: a bad
    /// cell in row then column order, else the read error (I/O, a ragged
    /// row) that stopped the batch holding it.
    fn fill(&mut self, frame: &mut Frame, max_rows: usize) -> Result<(), DataError> {
        let n_fields = self.schema.len();
        let Self {
            input,
            schema,
            records,
            batches: [current, next],
            parser,
            next_row,
            ..
        } = self;
        let mut wanted = max_rows;
        let first_batch = wanted.min(BATCH_ROWS);
        let (mut n_read, mut stopped) =
            records.read_batch(input, n_fields, current, *next_row, first_batch);
        wanted -= n_read;
        loop {
            let read_next = stopped.is_none() && !records.done && wanted > 0;
            let batch = &current[..n_read];
            let mut parse_current =
                || parse_records(parser, input, schema, batch, *next_row, frame);
            let following_row = *next_row + n_read as u64;
            let n_following = wanted.min(BATCH_ROWS);
            let mut read_following =
                || records.read_batch(input, n_fields, next, following_row, n_following);
            let (parsed, next_read) = if !read_next {
                (parse_current(), (0, None))
            } else if n_read >= 2 * TASK_ROWS {
                rayon::join(parse_current, read_following)
            } else {
                let parsed = parse_current();
                // After a bad cell the source stops: nothing more to read.
                let next_read = match parsed {
                    Ok(_) => read_following(),
                    Err(_) => (0, None),
                };
                (parsed, next_read)
            };
            match parsed {
                Ok(saw_invalid_utf8) => parser.saw_invalid_utf8 |= saw_invalid_utf8,
                Err(err) => return Err(err),
            }
            *next_row += n_read as u64;
            if let Some(err) = stopped {
                return Err(err);
            }
            if !read_next {
                return Ok(());
            }
            std::mem::swap(current, next);
            (n_read, stopped) = next_read;
            wanted -= n_read;
        }
    }
}

impl RecordReader {
    fn read_record(&mut self, input: &Input, record: &mut ByteRecord) -> Result<bool, DataError> {
        self.reader.read_byte_record(record).map_err(|e| {
            let line = e.position().map(|p| p.line());
            let io = match e.into_kind() {
                csv::ErrorKind::Io(io) => io,
                other => std::io::Error::other(format!("{other:?}")),
            };
            let err = DataError::new(input.to_string(), DataErrorKind::Read(io));
            DataError { line, ..err }
        })
    }

    fn check_width(
        &self,
        input: &Input,
        record: &ByteRecord,
        n_fields: usize,
        row: u64,
    ) -> Result<(), DataError> {
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
        Err(DataError::new(input.to_string(), kind).at_row(row, line))
    }

    /// Reads up to `max_rows` records, rows `first_row` onwards, into the
    /// front of `batch`, read-ahead rows first, checking each one's width.
    /// Returns how many were read and the error that stopped reading
    /// early, if any; marks the reader done at the end of input or an
    /// error.
    fn read_batch(
        &mut self,
        input: &Input,
        n_fields: usize,
        batch: &mut Vec<ByteRecord>,
        first_row: u64,
        max_rows: usize,
    ) -> (usize, Option<DataError>) {
        let mut n_read = 0;
        while n_read < max_rows {
            if batch.len() == n_read {
                batch.push(ByteRecord::new());
            }
            let record = &mut batch[n_read];
            if let Some(pending) = self.pending.pop_front() {
                *record = pending;
            } else {
                let row = first_row + n_read as u64;
                let read = self.read_record(input, record).and_then(|more| {
                    if more {
                        self.check_width(input, record, n_fields, row)?;
                    }
                    Ok(more)
                });
                match read {
                    Ok(true) => {}
                    Ok(false) => {
                        self.done = true;
                        break;
                    }
                    Err(err) => {
                        self.done = true;
                        return (n_read, Some(err));
                    }
                }
            }
            n_read += 1;
        }
        (n_read, None)
    }
}

/// Appends `records`, rows `first_row` onwards, to `frame`: in parallel
/// tasks of [`TASK_ROWS`] rows, each into a frame of its own, when there
/// are at least two tasks' worth. Returns whether any text needed lossy
/// UTF-8 decoding, or the first cell, in row then column order, that does
/// not fit its column.
fn parse_records(
    parser: &CellParser,
    input: &Input,
    schema: &Arc<Schema>,
    records: &[ByteRecord],
    first_row: u64,
    frame: &mut Frame,
) -> Result<bool, DataError> {
    let parse_block = |block: &[ByteRecord], block_first_row: u64, part: &mut Frame| {
        let mut parser = parser.clone();
        let parsed = block.iter().enumerate().try_for_each(|(offset, record)| {
            let row = block_first_row + offset as u64;
            push_record(&mut parser, input, schema, part, record, row)
        });
        parsed.map(|()| parser.saw_invalid_utf8)
    };
    if records.len() < 2 * TASK_ROWS || rayon::current_num_threads() == 1 {
        return parse_block(records, first_row, frame);
    }
    let parts: Vec<(Frame, Result<bool, DataError>)> = records
        .par_chunks(TASK_ROWS)
        .enumerate()
        .map(|(task, block)| {
            let mut part = Frame::with_capacity(Arc::clone(schema), block.len());
            let parsed = parse_block(block, first_row + (task * TASK_ROWS) as u64, &mut part);
            (part, parsed)
        })
        .collect();
    let mut saw_invalid_utf8 = false;
    for (part, parsed) in parts {
        // Parts are in row order, so the first error is the earliest.
        saw_invalid_utf8 |= parsed?;
        frame.append_moved(part);
    }
    Ok(saw_invalid_utf8)
}

/// Appends `record` as row `row` of `frame`; a cell that does not fit its
/// column is an error naming the row, line and column.
fn push_record(
    parser: &mut CellParser,
    input: &Input,
    schema: &Schema,
    frame: &mut Frame,
    record: &ByteRecord,
    row: u64,
) -> Result<(), DataError> {
    for (index, (column, cell)) in frame.columns.iter_mut().zip(record).enumerate() {
        if let Err(mismatch) = parser.push_text(column, cell) {
            let line = record.position().map(|p| p.line());
            return Err(mismatch_error(input, schema, index, mismatch).at_row(row, line));
        }
    }
    Ok(())
}

impl RecordSource for DelimitedSource {
    fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn input(&self) -> &Input {
        &self.input
    }

    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Frame>, DataError> {
        if self.records.done {
            return Ok(None);
        }
        let max_rows = max_rows.max(1);
        let mut frame = Frame::with_capacity(Arc::clone(&self.schema), chunk_capacity(max_rows));
        frame.first_row = self.next_row;

        let filled = self.fill(&mut frame, max_rows);
        self.warn_invalid_utf8();
        if let Err(err) = filled {
            self.records.done = true;
            self.records.pending.clear();
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

    /// `n_rows` rows of `id,amount,kind`, enough for parallel batches.
    fn long_text(n_rows: usize) -> String {
        let mut text = String::from("id,amount,kind\n");
        for i in 1..=n_rows {
            text.push_str(&format!("{i},{}.25,k{}\n", i % 97, i % 5));
        }
        text
    }

    #[test]
    fn parallel_batches_keep_every_row_in_order() {
        let n_rows = 3 * BATCH_ROWS + 123;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let frame = pool.install(|| read_text(&long_text(n_rows))).unwrap();

        assert_eq!(frame.n_rows(), n_rows);
        let ids: Vec<f64> = (1..=n_rows).map(|i| i as f64).collect();
        assert_eq!(frame.columns[0], ColumnData::Number(ids));
        let amounts: Vec<f64> = (1..=n_rows).map(|i| (i % 97) as f64 + 0.25).collect();
        assert_eq!(frame.columns[1], ColumnData::Number(amounts));
        let kinds = (1..=n_rows).map(|i| Some(format!("k{}", i % 5))).collect();
        assert_eq!(frame.columns[2], ColumnData::Category(kinds));
    }

    #[test]
    fn parallel_batches_report_the_earliest_bad_cell() {
        let mut lines: Vec<String> = long_text(BATCH_ROWS).lines().map(String::from).collect();
        // Rows are lines minus the header; the later bad cell is in an
        // earlier column, and a ragged row follows both.
        lines[3 * TASK_ROWS + 7] = "x,1.0,k1".to_string();
        lines[TASK_ROWS + 5] = "9,oops,k1".to_string();
        lines[4 * TASK_ROWS] = "1,2".to_string();
        let text = lines.join("\n") + "\n";
        // Inferring from a few rows leaves the rest to the batches.
        let options = ReadOptions {
            infer_rows: 10,
            ..options()
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();

        let err = pool
            .install(|| drain(open_text(&text, &options).unwrap()))
            .unwrap_err();

        let row = TASK_ROWS + 5;
        assert_eq!(
            err.to_string(),
            format!(
                "t.csv: row {row} (line {}), column \"amount\": expected a number, got \"oops\" \
                 (override the type with --type amount=category)",
                row + 1
            )
        );
    }

    #[test]
    fn a_bad_cell_comes_before_a_ragged_row_read_meanwhile() {
        let mut lines: Vec<String> = long_text(3 * BATCH_ROWS)
            .lines()
            .map(String::from)
            .collect();
        // The second batch, with the ragged row, is read while the first,
        // with the bad cell, is parsed.
        let bad = BATCH_ROWS - 3;
        lines[bad] = "1,oops,k1".to_string();
        lines[BATCH_ROWS + 5] = "1,2".to_string();
        // Only in the third batch: numbered from where the others stop.
        let later = 2 * BATCH_ROWS + 17;
        let options = ReadOptions {
            infer_rows: 10,
            ..options()
        };
        let read = |lines: &[String]| {
            let text = lines.join("\n") + "\n";
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            pool.install(|| drain(open_text(&text, &options).unwrap()))
                .unwrap_err()
                .to_string()
        };

        let both = read(&lines);
        lines[bad] = "1,2.5,k1".to_string();
        lines[BATCH_ROWS + 5] = "1,2.5,k1".to_string();
        lines[later] = "1,2.5,k1,extra".to_string();
        let third = read(&lines);

        assert!(
            both.starts_with(&format!(
                "t.csv: row {bad} (line {}), column \"amount\"",
                bad + 1
            )),
            "{both}"
        );
        assert!(
            third.starts_with(&format!(
                "t.csv: row {later} (line {}): found 4 fields",
                later + 1
            )),
            "{third}"
        );
    }

    #[test]
    fn a_ragged_row_is_reported_after_the_good_rows_before_it() {
        let mut lines: Vec<String> = long_text(BATCH_ROWS).lines().map(String::from).collect();
        let row = 3 * TASK_ROWS;
        lines[row] = "1,2".to_string();
        let text = lines.join("\n") + "\n";
        let options = ReadOptions {
            infer_rows: 10,
            ..options()
        };
        let mut source = open_text(&text, &options).unwrap();

        let first = source
            .next_chunk(row - 1)
            .unwrap()
            .expect("the rows before");
        let err = source.next_chunk(BATCH_ROWS).unwrap_err();

        assert_eq!(first.n_rows(), row - 1);
        assert!(
            err.to_string()
                .starts_with(&format!("t.csv: row {row} (line {})", row + 1)),
            "{err}"
        );
        assert!(source.next_chunk(10).unwrap().is_none());
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
