//! The raw bytes of a delimited input, read a block at a time, and the csv crate's parse of
//! them for the stretches that the quote-free path cannot cut.

use std::io::{self, Read};

use csv::ByteRecord;

/// Bytes read from the input and not yet parsed, with the line they start on.
pub(super) struct ByteBuffer {
    stream: Box<dyn Read + Send>,
    bytes: Vec<u8>,
    /// Index in `bytes` of the first unparsed byte. Past the start of the input it follows a
    /// record terminator, which `bytes` keeps (see [`read_records`]).
    start: usize,
    /// 1-based line of `bytes[start]`.
    line: u64,
    /// Whether the stream has ended, so that `bytes` holds the rest of the input.
    eof: bool,
}

impl ByteBuffer {
    pub(super) fn new(stream: Box<dyn Read + Send>) -> Self {
        ByteBuffer {
            stream,
            bytes: Vec::new(),
            start: 0,
            line: 1,
            eof: false,
        }
    }

    pub(super) fn unparsed(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// 1-based line of the first unparsed byte.
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    /// Whether the unparsed bytes are the rest of the input.
    pub(super) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Reads until at least `want` bytes are unparsed or the input ends.
    pub(super) fn fill(&mut self, want: usize) -> io::Result<()> {
        let held = self.bytes.len() - self.start;
        if held >= want || self.eof {
            return Ok(());
        }
        // Keep the terminator before `start`: read_records may start on it.
        let parsed = self.start.saturating_sub(1);
        self.bytes.drain(..parsed);
        self.start -= parsed;

        let limit = u64::try_from(want - held).unwrap_or(u64::MAX);
        let read = self.stream.by_ref().take(limit).read_to_end(&mut self.bytes)?;
        if u64::try_from(read).map_or(true, |read| read < limit) {
            self.eof = true;
        }
        Ok(())
    }

    /// Marks the first `n_bytes` unparsed bytes, which hold `newlines` line feeds, as parsed.
    pub(super) fn consume(&mut self, n_bytes: usize, newlines: u64) {
        debug_assert!(n_bytes <= self.bytes.len() - self.start);
        self.start += n_bytes;
        self.line += newlines;
    }
}

/// Why [`read_records`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The visitor asked to stop.
    Visitor,
    /// The next record may go on past the unparsed bytes; fill the buffer and call again.
    NeedMore,
    /// Every byte of the input is parsed.
    End,
}

/// Parses the complete records among the unparsed bytes with the csv crate, as a streaming
/// csv reader over the whole input would, and hands each to `visit` with the line its first
/// byte is on. Each record is consumed before it is visited, so the record on which `visit`
/// returns `false` counts as read.
///
/// The csv crate skips empty lines and ends a record at `\r`, `\n` or `\r\n`; its own line count
/// is that of the previous record's end, so the line is counted here instead.
pub(super) fn read_records(
    buffer: &mut ByteBuffer,
    delimiter: u8,
    mut visit: impl FnMut(&ByteRecord, u64) -> bool,
) -> Result<Stop, csv::Error> {
    // A fresh csv reader strips a UTF-8 byte order mark from the start of what it reads. Past
    // the start of the input it starts on the terminator before the unparsed bytes instead,
    // which it skips like an empty line.
    let prefix = usize::from(buffer.start > 0);
    let bytes = &buffer.bytes[buffer.start - prefix..];
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut record = ByteRecord::new();
    // Offset in `bytes` of the first unconsumed byte, and line feeds before it.
    let mut consumed = prefix;
    let mut newlines = 0;

    let stop = loop {
        if !reader.read_byte_record(&mut record)? {
            if buffer.eof {
                newlines += count_newlines(&bytes[consumed..]);
                consumed = bytes.len();
                break Stop::End;
            }
            break Stop::NeedMore;
        }
        let end = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
        // A record that reaches the end of the bytes read so far may go on in the next ones.
        if end >= bytes.len() && !buffer.eof {
            break Stop::NeedMore;
        }
        let end = end.min(bytes.len());
        let first = consumed
            + bytes[consumed..end]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
        newlines += count_newlines(&bytes[consumed..first]);
        let line = buffer.line + newlines;
        newlines += count_newlines(&bytes[first..end]);
        consumed = end;
        if !visit(&record, line) {
            break Stop::Visitor;
        }
    };

    buffer.consume(consumed - prefix, newlines);
    Ok(stop)
}

pub(super) fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is the test's failure report"
)]
mod tests {
    use super::*;

    /// Every record with its line, reading `text` `block` bytes at a time.
    fn records(text: &[u8], block: usize) -> Vec<(Vec<String>, u64)> {
        let mut buffer = ByteBuffer::new(Box::new(io::Cursor::new(text.to_vec())));
        let mut out = Vec::new();
        let mut want = block;
        loop {
            buffer.fill(want).unwrap();
            let stop = read_records(&mut buffer, b',', |record, line| {
                let fields = record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                out.push((fields, line));
                true
            })
            .unwrap();
            match stop {
                Stop::End => return out,
                Stop::NeedMore => want = 2 * want.max(buffer.unparsed().len()),
                Stop::Visitor => unreachable!("the visitor never stops"),
            }
        }
    }

    #[test]
    fn lines_are_those_of_each_record_first_byte() {
        let text = b"\xEF\xBB\xBFa,b\r\n1,\"x\ny\"\r\n\n\n2,3\r4,5";
        let expected = [
            (vec!["a", "b"], 1),
            (vec!["1", "x\ny"], 2),
            (vec!["2", "3"], 6),
            (vec!["4", "5"], 6),
        ]
        .map(|(fields, line)| (fields.iter().map(|f| f.to_string()).collect(), line));

        for block in [1, 2, 3, 5, 64] {
            assert_eq!(records(text, block), expected, "block {block}");
        }
    }

    #[test]
    fn byte_order_mark_is_kept_past_the_start() {
        let text = "a\n\u{feff}b\n".as_bytes();
        assert_eq!(records(text, 2)[1].0, ["\u{feff}b"]);
        assert_eq!(records(text, 64)[1].0, ["\u{feff}b"]);
    }
}
