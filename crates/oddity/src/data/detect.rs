//! Looking at an input before reading it: file extension, gzip magic and the first bytes.

use std::io::{self, Read};
use std::path::Path;

use super::Format;

/// Bytes read ahead for sniffing; enough to see the first line of most inputs.
const SNIFF_BYTES: usize = 8 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
const UTF8_BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// A reader whose first bytes were read ahead and are replayed before the rest.
pub(crate) struct Peeked {
    head: Vec<u8>,
    pos: usize,
    inner: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Peeked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peeked")
            .field("head_len", &self.head.len())
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl Peeked {
    /// Reads up to [`SNIFF_BYTES`] from `inner`, fewer only at end of input.
    pub(crate) fn new(mut inner: Box<dyn Read + Send>) -> io::Result<Self> {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let limit = u64::try_from(SNIFF_BYTES).expect("the sniff size fits in u64");
        inner.by_ref().take(limit).read_to_end(&mut head)?;
        Ok(Peeked {
            head,
            pos: 0,
            inner,
        })
    }

    /// The bytes read ahead.
    pub(crate) fn head(&self) -> &[u8] {
        &self.head
    }

    pub(crate) fn is_gzip(&self) -> bool {
        self.head.starts_with(&GZIP_MAGIC)
    }
}

impl Read for Peeked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.head.len() {
                // The head is spent; free it for long streams.
                self.head = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// The format named by a path's extension, looking through a trailing `.gz`.
pub(crate) fn format_from_extension(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let (_, extension) = name.rsplit_once('.')?;
    match extension {
        "csv" => Some(Format::Csv),
        "tsv" | "tab" => Some(Format::Tsv),
        "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
        "parquet" | "pq" => Some(Format::Parquet),
        _ => None,
    }
}

/// Guesses the format from the first (already decompressed) bytes: `PAR1` is Parquet, a `{`
/// is JSON Lines, otherwise the first line's tabs against commas decide TSV or CSV.
pub(crate) fn sniff_format(head: &[u8]) -> Format {
    if head.starts_with(PARQUET_MAGIC) {
        return Format::Parquet;
    }
    let text = head
        .strip_prefix(UTF8_BOM)
        .unwrap_or(head)
        .trim_ascii_start();
    if text.starts_with(b"{") {
        return Format::JsonLines;
    }
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let tabs = first_line.iter().filter(|&&b| b == b'\t').count();
    let commas = first_line.iter().filter(|&&b| b == b',').count();
    if tabs > commas {
        Format::Tsv
    } else {
        Format::Csv
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
    fn extensions_name_formats_through_gz() {
        let format = |name: &str| format_from_extension(Path::new(name));
        assert_eq!(format("a/b.CSV"), Some(Format::Csv));
        assert_eq!(format("b.tab.gz"), Some(Format::Tsv));
        assert_eq!(format("b.ndjson"), Some(Format::JsonLines));
        assert_eq!(format("b.json.gz"), Some(Format::JsonLines));
        assert_eq!(format("b.pq"), Some(Format::Parquet));
        assert_eq!(format("b.gz"), None);
        assert_eq!(format("csv"), None);
        assert_eq!(format("b.txt"), None);
    }

    #[test]
    fn sniffing_reads_magic_braces_and_separators() {
        assert_eq!(sniff_format(b"PAR1\0\0"), Format::Parquet);
        assert_eq!(sniff_format(b"\xEF\xBB\xBF \n{\"a\":1}"), Format::JsonLines);
        assert_eq!(sniff_format(b"a\tb\tc\n1,2\t3\t4"), Format::Tsv);
        assert_eq!(sniff_format(b"a,b\tc\n"), Format::Csv);
        assert_eq!(sniff_format(b""), Format::Csv);
    }

    #[test]
    fn peeked_reader_replays_head_then_rest() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut peeked = Peeked::new(Box::new(io::Cursor::new(data.clone()))).unwrap();
        assert_eq!(peeked.head().len(), SNIFF_BYTES);

        let mut all = Vec::new();
        peeked.read_to_end(&mut all).unwrap();

        assert_eq!(all, data);
    }
}
