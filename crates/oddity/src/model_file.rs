//! The model file container: a versioned, self-describing, checksummed frame
//! around a fitted model.
//!
//! This module only frames bytes. The caller chooses the payload encoding
//! (oddity writes postcard bytes) and the header contents (a JSON object of
//! human-readable metadata such as the detector name and its parameters).
//!
//! # Layout
//!
//! All integers are little-endian. `H` is the header length, `P` the payload
//! length.
//!
//! | offset     | size | field          | contents                                     |
//! |------------|------|----------------|----------------------------------------------|
//! | 0          | 8    | magic          | [`MAGIC`]: `89 4F 44 44 49 54 59 0A`         |
//! | 8          | 4    | format version | `u32`, [`FORMAT_VERSION`] when written       |
//! | 12         | 4    | header length  | `u32` `H`, at most [`MAX_HEADER_LEN`]        |
//! | 16         | `H`  | header         | UTF-8 JSON object                            |
//! | 16 + H     | 8    | payload length | `u64` `P`                                    |
//! | 24 + H     | `P`  | payload        | opaque bytes                                 |
//! | 24 + H + P | 4    | checksum       | `u32` CRC-32 (IEEE) of bytes `0..24 + H + P` |
//!
//! A file is exactly `28 + H + P` bytes long; trailing bytes are an error.
//!
//! # Versioning
//!
//! The format version covers this framing only. A reader accepts versions
//! `1..=FORMAT_VERSION` and refuses newer ones with an "upgrade oddity"
//! message, because a newer layout cannot be parsed safely. How the payload
//! encoding evolves is signalled by the caller inside the header.
//!
//! # Reading untrusted files
//!
//! Decoding never panics and never allocates more than the file holds: every
//! length is checked against the file length (and the header against
//! [`MAX_HEADER_LEN`]) before a buffer is reserved. The checksum is verified
//! before the header JSON is parsed, so a corrupted file reports corruption
//! rather than a JSON syntax error.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The first 8 bytes of every model file.
///
/// The leading `0x89` is not ASCII, so no text file starts this way and a
/// transfer that strips the high bit is caught; `ODDITY` is readable in a hex
/// dump; the final `\n` is changed by newline translation, which is caught too.
pub const MAGIC: [u8; 8] = *b"\x89ODDITY\n";

/// The framing version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The largest header accepted, in bytes (64 MiB).
///
/// Headers are small metadata; the limit keeps a corrupted header length from
/// reserving gigabytes.
pub const MAX_HEADER_LEN: u32 = 64 * 1024 * 1024;

/// Magic, format version and header length.
const PREAMBLE_LEN: u64 = 16;
/// Size of the payload length field.
const PAYLOAD_LEN_SIZE: u64 = 8;
/// Size of the checksum field.
const CHECKSUM_SIZE: u64 = 4;
/// How many leading bytes of a foreign file are read to describe it.
const SNIFF_LEN: u64 = 64;
/// How many characters of a foreign text file are quoted in the error.
const QUOTE_CHARS: usize = 32;

/// A verified model file without its payload, as returned by
/// [`read_header_only`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFileSummary {
    /// The format version the file was written with.
    pub format_version: u32,
    /// The metadata header; always a JSON object.
    pub header: Value,
    /// The payload size in bytes.
    pub payload_len: u64,
}

/// A section of the layout, named in truncation errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Magic,
    FormatVersion,
    HeaderLength,
    Header,
    PayloadLength,
    Payload,
    Checksum,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Magic => "magic number",
            Section::FormatVersion => "format version",
            Section::HeaderLength => "header length",
            Section::Header => "header",
            Section::PayloadLength => "payload length",
            Section::Payload => "payload",
            Section::Checksum => "checksum",
        })
    }
}

/// Why a model file could not be written or read.
///
/// Every variant carries the file path when there is one (`None` for
/// [`encode`] and [`decode`], which work on bytes); the message starts with
/// it. Messages are complete on their own: underlying I/O and JSON errors are
/// part of the message and kept in a field, not chained as `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelFileError {
    /// The file does not start with [`MAGIC`]; `found` describes what it
    /// seems to be instead.
    #[error("{}not an oddity model file: {found}", at(.path))]
    NotModelFile {
        path: Option<PathBuf>,
        found: String,
    },

    /// The format version is newer than [`FORMAT_VERSION`].
    #[error(
        "{}written by a newer oddity (format {version}, this build reads up to \
         {FORMAT_VERSION}); upgrade oddity",
        at(.path)
    )]
    NewerVersion { path: Option<PathBuf>, version: u32 },

    /// The format version is 0, which was never written.
    #[error(
        "{}file is corrupted: format version {version} does not exist (versions start at 1)",
        at(.path)
    )]
    InvalidVersion { path: Option<PathBuf>, version: u32 },

    /// The file ends inside `section`; `expected_len` is where that section
    /// ends, `actual_len` the bytes available.
    #[error(
        "{}file is truncated in the {section}: expected at least {expected_len} bytes, \
         found {actual_len}",
        at(.path)
    )]
    Truncated {
        path: Option<PathBuf>,
        section: Section,
        expected_len: u64,
        actual_len: u64,
    },

    /// The file continues past the checksum.
    #[error(
        "{}file is corrupted: it is {actual_len} bytes long but its section lengths add up \
         to {expected_len} bytes",
        at(.path)
    )]
    TrailingBytes {
        path: Option<PathBuf>,
        expected_len: u64,
        actual_len: u64,
    },

    /// The stored CRC-32 differs from the one computed over the file.
    #[error(
        "{}file is corrupted: checksum {computed:08x} does not match the stored checksum \
         {stored:08x}",
        at(.path)
    )]
    ChecksumMismatch {
        path: Option<PathBuf>,
        stored: u32,
        computed: u32,
    },

    /// The header is over [`MAX_HEADER_LEN`], when encoding or as stored.
    #[error(
        "{}header length {header_len} bytes exceeds the limit of {MAX_HEADER_LEN} bytes (64 MiB)",
        at(.path)
    )]
    HeaderTooLarge {
        path: Option<PathBuf>,
        header_len: u64,
    },

    /// The stored payload length is larger than the whole file.
    #[error(
        "{}file is truncated or corrupted: payload length {payload_len} bytes is larger than \
         the whole file ({file_len} bytes)",
        at(.path)
    )]
    PayloadLengthExceedsFile {
        path: Option<PathBuf>,
        payload_len: u64,
        file_len: u64,
    },

    /// The header of an intact file is not JSON.
    #[error("{}header is not valid JSON: {error}", at(.path))]
    HeaderNotJson {
        path: Option<PathBuf>,
        error: serde_json::Error,
    },

    /// The header is JSON but not an object.
    #[error("{}header must be a JSON object, got {found}", at(.path))]
    HeaderNotObject {
        path: Option<PathBuf>,
        found: &'static str,
    },

    /// Opening, reading, writing, syncing or renaming failed; `path` is the
    /// file or directory acted on.
    #[error("{}cannot {action}: {error}", at(.path))]
    Io {
        path: Option<PathBuf>,
        action: &'static str,
        error: io::Error,
    },
}

impl ModelFileError {
    /// The file the error is about, if the error came from a file function.
    pub fn path(&self) -> Option<&Path> {
        let path = match self {
            Self::NotModelFile { path, .. }
            | Self::NewerVersion { path, .. }
            | Self::InvalidVersion { path, .. }
            | Self::Truncated { path, .. }
            | Self::TrailingBytes { path, .. }
            | Self::ChecksumMismatch { path, .. }
            | Self::HeaderTooLarge { path, .. }
            | Self::PayloadLengthExceedsFile { path, .. }
            | Self::HeaderNotJson { path, .. }
            | Self::HeaderNotObject { path, .. }
            | Self::Io { path, .. } => path,
        };
        path.as_deref()
    }

    fn with_path(mut self, new_path: &Path) -> Self {
        match &mut self {
            Self::NotModelFile { path, .. }
            | Self::NewerVersion { path, .. }
            | Self::InvalidVersion { path, .. }
            | Self::Truncated { path, .. }
            | Self::TrailingBytes { path, .. }
            | Self::ChecksumMismatch { path, .. }
            | Self::HeaderTooLarge { path, .. }
            | Self::PayloadLengthExceedsFile { path, .. }
            | Self::HeaderNotJson { path, .. }
            | Self::HeaderNotObject { path, .. }
            | Self::Io { path, .. } => *path = Some(new_path.to_path_buf()),
        }
        self
    }

    fn io(path: &Path, action: &'static str, error: io::Error) -> Self {
        Self::Io {
            path: Some(path.to_path_buf()),
            action,
            error,
        }
    }
}

/// Renders the "path: " prefix of an error message, or nothing.
fn at(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => format!("{}: ", path.display()),
        None => String::new(),
    }
}

/// Frames `header` and `payload` as a model file.
///
/// Fails if `header` is not a JSON object or serializes to more than
/// [`MAX_HEADER_LEN`] bytes. The result is `28 + header + payload` bytes.
pub fn encode(header: &Value, payload: &[u8]) -> Result<Vec<u8>, ModelFileError> {
    let header_bytes = encode_header(header)?;

    let total = framed_len(header_bytes.len(), payload.len());
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    write_sections(&mut out, &header_bytes, payload).expect("writing to a Vec cannot fail");
    Ok(out)
}

/// Parses a model file held in memory, verifies its checksum and returns
/// its header (a JSON object) and payload.
pub fn decode(bytes: &[u8]) -> Result<(Value, Vec<u8>), ModelFileError> {
    let parsed = parse(bytes, bytes.len() as u64, PayloadMode::Keep)?;
    Ok((parsed.header, parsed.payload.unwrap_or_default()))
}

/// Reads and verifies the model file at `path` and returns its header (a
/// JSON object) and payload.
///
/// Memory use is the payload size plus small buffers; the file is not held
/// in memory twice.
pub fn read(path: &Path) -> Result<(Value, Vec<u8>), ModelFileError> {
    let (file, file_len) = open(path)?;
    let parsed =
        parse(BufReader::new(file), file_len, PayloadMode::Keep).map_err(|e| e.with_path(path))?;

    tracing::debug!(path = %path.display(), file_len, "read model file");
    Ok((parsed.header, parsed.payload.unwrap_or_default()))
}

/// Reads the header of the model file at `path` without keeping the payload.
///
/// The whole file is still read, streaming, so that the checksum is verified:
/// a summary is only returned for an intact file.
pub fn read_header_only(path: &Path) -> Result<ModelFileSummary, ModelFileError> {
    let (file, file_len) = open(path)?;
    let parsed =
        parse(BufReader::new(file), file_len, PayloadMode::Skip).map_err(|e| e.with_path(path))?;

    Ok(ModelFileSummary {
        format_version: parsed.format_version,
        header: parsed.header,
        payload_len: parsed.payload_len,
    })
}

/// Encodes `header` and `payload` and writes them to `path` atomically.
///
/// The header is validated before anything touches the file system, and the
/// file is streamed to disk without building the whole file in memory. See
/// [`write_atomic`] for the guarantees.
pub fn write(path: &Path, header: &Value, payload: &[u8]) -> Result<(), ModelFileError> {
    let header_bytes = encode_header(header).map_err(|e| e.with_path(path))?;

    write_atomic_with(path, |file| {
        let mut out = BufWriter::new(file);
        write_sections(&mut out, &header_bytes, payload)?;
        out.flush()
    })?;
    tracing::debug!(
        path = %path.display(),
        file_len = framed_len(header_bytes.len(), payload.len()),
        "wrote model file"
    );
    Ok(())
}

/// Replaces the file at `path` with `bytes` so that readers see either the
/// old contents or the new, never a mix.
///
/// The bytes go to a temporary file in the same directory, which is flushed,
/// synced and renamed over `path`; on unix the directory is then synced so the
/// rename survives a power loss. If any step up to the rename fails, `path` is
/// untouched and the temporary file is removed. If only the final directory
/// sync fails, the new file is already in place and the error says so.
///
/// On unix an existing file's permissions are kept; a new file gets `0o666`
/// minus the umask, as `File::create` would. If `path` is a symbolic link,
/// the link itself is replaced by a regular file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelFileError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), ModelFileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    // A recognisable name lets a person clean up after a crash mid-write.
    let prefix = format!(".{file_name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_file() => metadata.permissions(),
            _ => std::fs::Permissions::from_mode(0o666),
        };
        builder.permissions(permissions);
    }

    let mut temp = builder
        .tempfile_in(dir)
        .map_err(|e| ModelFileError::io(dir, "create a temporary file in this directory", e))?;
    // Dropping `temp` on an early return deletes the temporary file. Errors
    // name `path`: the temporary name means nothing to the user.
    let file = temp.as_file_mut();
    fill(file).map_err(|e| ModelFileError::io(path, "write file", e))?;
    file.flush()
        .map_err(|e| ModelFileError::io(path, "write file", e))?;
    file.sync_all()
        .map_err(|e| ModelFileError::io(path, "sync file to disk", e))?;
    temp.persist(path)
        .map_err(|e| ModelFileError::io(path, "replace file", e.error))?;

    sync_dir(dir).map_err(|e| {
        ModelFileError::io(
            dir,
            "sync directory (the new file is in place but may not survive a crash)",
            e,
        )
    })
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(dir: &Path) -> io::Result<()> {
    // Other platforms may not open directories as files; the rename has
    // already happened, so a failed sync here only weakens durability.
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

fn open(path: &Path) -> Result<(File, u64), ModelFileError> {
    let file = File::open(path).map_err(|e| ModelFileError::io(path, "open model file", e))?;
    let metadata = file
        .metadata()
        .map_err(|e| ModelFileError::io(path, "read model file", e))?;
    Ok((file, metadata.len()))
}

/// Serializes and validates the header, so that nothing is written that
/// [`decode`] would reject.
fn encode_header(header: &Value) -> Result<Vec<u8>, ModelFileError> {
    if !header.is_object() {
        return Err(ModelFileError::HeaderNotObject {
            path: None,
            found: json_kind(header),
        });
    }
    let bytes = serde_json::to_vec(header)
        .map_err(|error| ModelFileError::HeaderNotJson { path: None, error })?;
    if bytes.len() as u64 > u64::from(MAX_HEADER_LEN) {
        return Err(ModelFileError::HeaderTooLarge {
            path: None,
            header_len: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

fn framed_len(header_len: usize, payload_len: usize) -> u64 {
    PREAMBLE_LEN + header_len as u64 + PAYLOAD_LEN_SIZE + payload_len as u64 + CHECKSUM_SIZE
}

fn write_sections(out: &mut impl Write, header: &[u8], payload: &[u8]) -> io::Result<()> {
    let header_len =
        u32::try_from(header.len()).expect("encode_header bounds the header by MAX_HEADER_LEN");
    // usize is at most 64 bits on every target Rust supports.
    let payload_len = payload.len() as u64;

    let mut hasher = crc32fast::Hasher::new();
    for part in [
        &MAGIC[..],
        &FORMAT_VERSION.to_le_bytes(),
        &header_len.to_le_bytes(),
        header,
        &payload_len.to_le_bytes(),
        payload,
    ] {
        hasher.update(part);
        out.write_all(part)?;
    }
    out.write_all(&hasher.finalize().to_le_bytes())
}

/// Whether [`parse`] keeps the payload or only checksums it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayloadMode {
    Keep,
    Skip,
}

#[derive(Debug)]
struct Parsed {
    format_version: u32,
    header: Value,
    payload_len: u64,
    /// `Some` exactly when the payload was kept.
    payload: Option<Vec<u8>>,
}

/// A reader that checksums and counts every byte it passes on.
struct ChecksumReader<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    offset: u64,
}

impl<R: Read> Read for ChecksumReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf
            .get(..n)
            .ok_or_else(|| io::Error::other("reader reported too many bytes"))?;
        self.hasher.update(read);
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R: Read> ChecksumReader<R> {
    /// Reads a fixed-size field; running out of bytes is a truncation.
    fn read_field<const N: usize>(&mut self, section: Section) -> Result<[u8; N], ModelFileError> {
        let start = self.offset;
        let mut field = [0; N];
        self.read_exact(&mut field)
            .map_err(|e| self.read_error(e, section, start + N as u64))?;
        Ok(field)
    }

    /// Reads `len` bytes into a new buffer; `len` must already be checked
    /// against the file length.
    fn read_vec(&mut self, len: u64, section: Section) -> Result<Vec<u8>, ModelFileError> {
        let expected_len = self.offset + len;
        let capacity = usize::try_from(len).map_err(|_| self.out_of_memory(section))?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(capacity)
            .map_err(|_| self.out_of_memory(section))?;

        self.by_ref()
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|e| self.read_error(e, section, expected_len))?;
        if self.offset < expected_len {
            return Err(self.truncated(section, expected_len));
        }
        Ok(buf)
    }

    /// Checksums `len` bytes without keeping them.
    fn skip(&mut self, len: u64, section: Section) -> Result<(), ModelFileError> {
        let expected_len = self.offset + len;
        io::copy(&mut self.by_ref().take(len), &mut io::sink())
            .map_err(|e| self.read_error(e, section, expected_len))?;
        if self.offset < expected_len {
            return Err(self.truncated(section, expected_len));
        }
        Ok(())
    }

    /// Appends up to `len` more bytes to `buf`, stopping early at the end.
    fn read_up_to(&mut self, len: u64, buf: &mut Vec<u8>) -> Result<(), ModelFileError> {
        self.by_ref()
            .take(len)
            .read_to_end(buf)
            .map_err(|error| ModelFileError::Io {
                path: None,
                action: "read model file",
                error,
            })?;
        Ok(())
    }

    fn read_error(&self, error: io::Error, section: Section, expected_len: u64) -> ModelFileError {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            self.truncated(section, expected_len)
        } else {
            ModelFileError::Io {
                path: None,
                action: "read model file",
                error,
            }
        }
    }

    fn truncated(&self, section: Section, expected_len: u64) -> ModelFileError {
        ModelFileError::Truncated {
            path: None,
            section,
            expected_len,
            actual_len: self.offset,
        }
    }

    fn out_of_memory(&self, section: Section) -> ModelFileError {
        let error = io::Error::new(io::ErrorKind::OutOfMemory, format!("{section} too large"));
        ModelFileError::Io {
            path: None,
            action: "allocate memory for the model file",
            error,
        }
    }
}

/// Parses and verifies a model file of `file_len` bytes from `reader`.
///
/// Structural checks use `file_len` before any section is read, so a bad
/// length is reported without reading or allocating; the checksum is checked
/// before the header JSON is parsed.
fn parse(reader: impl Read, file_len: u64, mode: PayloadMode) -> Result<Parsed, ModelFileError> {
    let mut reader = ChecksumReader {
        inner: reader,
        hasher: crc32fast::Hasher::new(),
        offset: 0,
    };

    let mut start = Vec::new();
    reader.read_up_to(MAGIC.len() as u64, &mut start)?;
    if start != MAGIC {
        if !start.is_empty() && MAGIC.starts_with(&start) {
            return Err(reader.truncated(Section::Magic, MAGIC.len() as u64));
        }
        reader.read_up_to(SNIFF_LEN - start.len() as u64, &mut start)?;
        return Err(ModelFileError::NotModelFile {
            path: None,
            found: describe_foreign(&start),
        });
    }

    let format_version = u32::from_le_bytes(reader.read_field(Section::FormatVersion)?);
    if format_version == 0 {
        return Err(ModelFileError::InvalidVersion {
            path: None,
            version: format_version,
        });
    }
    if format_version > FORMAT_VERSION {
        return Err(ModelFileError::NewerVersion {
            path: None,
            version: format_version,
        });
    }

    let header_len = u64::from(u32::from_le_bytes(
        reader.read_field(Section::HeaderLength)?,
    ));
    if header_len > u64::from(MAX_HEADER_LEN) {
        return Err(ModelFileError::HeaderTooLarge {
            path: None,
            header_len,
        });
    }
    let header_end = PREAMBLE_LEN + header_len;
    if header_end > file_len {
        return Err(ModelFileError::Truncated {
            path: None,
            section: Section::Header,
            expected_len: header_end,
            actual_len: file_len,
        });
    }
    let header_bytes = reader.read_vec(header_len, Section::Header)?;

    let payload_len = u64::from_le_bytes(reader.read_field(Section::PayloadLength)?);
    check_payload_len(header_end + PAYLOAD_LEN_SIZE, payload_len, file_len)?;
    let payload = match mode {
        PayloadMode::Keep => Some(reader.read_vec(payload_len, Section::Payload)?),
        PayloadMode::Skip => {
            reader.skip(payload_len, Section::Payload)?;
            None
        }
    };

    let computed = reader.hasher.clone().finalize();
    let stored = u32::from_le_bytes(reader.read_field(Section::Checksum)?);
    if computed != stored {
        return Err(ModelFileError::ChecksumMismatch {
            path: None,
            stored,
            computed,
        });
    }

    let header: Value = serde_json::from_slice(&header_bytes)
        .map_err(|error| ModelFileError::HeaderNotJson { path: None, error })?;
    if !header.is_object() {
        return Err(ModelFileError::HeaderNotObject {
            path: None,
            found: json_kind(&header),
        });
    }
    Ok(Parsed {
        format_version,
        header,
        payload_len,
        payload,
    })
}

/// Checks that a payload of `payload_len` bytes starting at `payload_start`,
/// followed by the checksum, ends exactly at `file_len`.
fn check_payload_len(
    payload_start: u64,
    payload_len: u64,
    file_len: u64,
) -> Result<(), ModelFileError> {
    let exceeds = || ModelFileError::PayloadLengthExceedsFile {
        path: None,
        payload_len,
        file_len,
    };
    if payload_len > file_len {
        return Err(exceeds());
    }
    let payload_end = payload_start.checked_add(payload_len).ok_or_else(exceeds)?;
    let expected_len = payload_end.checked_add(CHECKSUM_SIZE).ok_or_else(exceeds)?;

    let truncated = |section, expected_len| ModelFileError::Truncated {
        path: None,
        section,
        expected_len,
        actual_len: file_len,
    };
    if payload_end > file_len {
        return Err(truncated(Section::Payload, payload_end));
    }
    if expected_len > file_len {
        return Err(truncated(Section::Checksum, expected_len));
    }
    if expected_len < file_len {
        return Err(ModelFileError::TrailingBytes {
            path: None,
            expected_len,
            actual_len: file_len,
        });
    }
    Ok(())
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Describes what a file that lacks the magic number seems to be.
fn describe_foreign(start: &[u8]) -> String {
    const SIGNATURES: [(&[u8], &str); 4] = [
        (b"PAR1", "a Parquet file"),
        (b"\x1f\x8b", "a gzip file"),
        (b"PK\x03\x04", "a zip archive"),
        (b"ARROW1", "an Arrow IPC file"),
    ];

    if start.is_empty() {
        return "the file is empty".to_string();
    }
    if let Some((_, kind)) = SIGNATURES
        .iter()
        .find(|(magic, _)| start.starts_with(magic))
    {
        return format!("it looks like {kind}");
    }
    let Some(text) = printable_prefix(start) else {
        let shown = start.iter().take(8).map(|byte| format!("{byte:02x}"));
        return format!(
            "it starts with bytes {}",
            shown.collect::<Vec<_>>().join(" ")
        );
    };

    let text = text.trim_start_matches('\u{feff}');
    let first_line = text.lines().next().unwrap_or_default();
    let kind = if text.trim_start().starts_with(['{', '[']) {
        "a JSON file"
    } else if first_line.contains([',', ';', '\t']) {
        "a CSV file"
    } else {
        "a text file"
    };
    let quoted: String = first_line.chars().take(QUOTE_CHARS).collect();
    format!("it looks like {kind} (starts with {quoted:?})")
}

/// `start` as text, if it is UTF-8 (possibly cut mid-character at the end)
/// without control characters other than whitespace.
fn printable_prefix(start: &[u8]) -> Option<&str> {
    let text = match std::str::from_utf8(start) {
        Ok(text) => text,
        // The sniffed prefix may end inside a multi-byte character.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&start[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    printable.then_some(text)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure"
)]
mod tests {
    use super::*;

    use std::fs;

    use proptest::prelude::*;
    use serde_json::json;

    /// A small file written by format version 1; it must keep decoding and
    /// `encode` must keep producing it byte for byte.
    const FORMAT_V1_FIXTURE: &[u8] = include_bytes!("../tests/data/model_file/format_v1.bin");

    fn sample_header() -> Value {
        json!({"detector": "isolation_forest", "n_trees": 100, "features": ["cpu", "mem"]})
    }

    fn sample_payload() -> Vec<u8> {
        (0..=255u8).chain(0..40).collect()
    }

    fn sample_file() -> Vec<u8> {
        encode(&sample_header(), &sample_payload()).expect("sample header is an object")
    }

    fn temp_dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn round_trip_keeps_header_and_payload() {
        let bytes = sample_file();

        let (header, payload) = decode(&bytes).unwrap();

        assert_eq!(header, sample_header());
        assert_eq!(payload, sample_payload());
    }

    #[test]
    fn round_trip_with_empty_header_and_payload() {
        let bytes = encode(&json!({}), &[]).unwrap();

        let (header, payload) = decode(&bytes).unwrap();

        assert_eq!(bytes.len(), 28 + 2);
        assert_eq!(header, json!({}));
        assert!(payload.is_empty());
    }

    #[test]
    fn layout_matches_the_documented_table() {
        let bytes = encode(&json!({"a": 1}), b"xyz").unwrap();

        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        assert_eq!(&bytes[12..16], &7u32.to_le_bytes());
        assert_eq!(&bytes[16..23], br#"{"a":1}"#);
        assert_eq!(&bytes[23..31], &3u64.to_le_bytes());
        assert_eq!(&bytes[31..34], b"xyz");
        assert_eq!(&bytes[34..], &crc32fast::hash(&bytes[..34]).to_le_bytes());
    }

    #[test]
    fn format_v1_fixture_still_decodes_and_encodes_identically() {
        let header = json!({"detector": "fixture", "version": "0.1.0"});
        let payload = b"postcard bytes go here";

        let decoded = decode(FORMAT_V1_FIXTURE).unwrap();
        let summary = parse(FORMAT_V1_FIXTURE, 90, PayloadMode::Skip).unwrap();

        assert_eq!(decoded, (header.clone(), payload.to_vec()));
        assert_eq!(summary.format_version, 1);
        assert_eq!(encode(&header, payload).unwrap(), FORMAT_V1_FIXTURE);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample_file();

        for len in 0..bytes.len() {
            let result = decode(&bytes[..len]);
            assert!(result.is_err(), "prefix of {len} bytes decoded");
        }
    }

    #[test]
    fn truncation_names_section_and_lengths() {
        let bytes = sample_file();
        let cut = bytes.len() - 2;

        let err = decode(&bytes[..cut]).unwrap_err();

        assert!(matches!(
            err,
            ModelFileError::Truncated { section: Section::Checksum, expected_len, actual_len, .. }
                if expected_len == bytes.len() as u64 && actual_len == cut as u64
        ));
        let message = err.to_string();
        assert!(message.contains("truncated in the checksum"), "{message}");
        assert!(
            message.contains(&format!("expected at least {}", bytes.len())),
            "{message}"
        );
    }

    #[test]
    fn truncated_inside_header_reports_header_section() {
        let bytes = sample_file();

        let err = decode(&bytes[..20]).unwrap_err();

        assert!(matches!(
            err,
            ModelFileError::Truncated {
                section: Section::Header,
                ..
            }
        ));
    }

    #[test]
    fn flipping_any_byte_is_an_error() {
        let bytes = sample_file();

        for idx in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut corrupted = bytes.clone();
                corrupted[idx] ^= mask;
                let result = decode(&corrupted);
                assert!(result.is_err(), "flip {mask:#04x} at byte {idx} decoded");
            }
        }
    }

    #[test]
    fn flipped_payload_byte_is_a_checksum_mismatch() {
        let mut bytes = sample_file();
        let last_payload_idx = bytes.len() - 5;
        bytes[last_payload_idx] ^= 0x10;

        let err = decode(&bytes).unwrap_err();

        assert!(matches!(err, ModelFileError::ChecksumMismatch { .. }));
        assert!(
            err.to_string().starts_with("file is corrupted: checksum"),
            "{err}"
        );
    }

    #[test]
    fn newer_version_asks_for_an_upgrade() {
        let mut bytes = sample_file();
        bytes[8..12].copy_from_slice(&7u32.to_le_bytes());

        let err = decode(&bytes).unwrap_err();

        assert_eq!(
            err.to_string(),
            "written by a newer oddity (format 7, this build reads up to 1); upgrade oddity"
        );
    }

    #[test]
    fn version_zero_is_corruption() {
        let mut bytes = sample_file();
        bytes[8..12].copy_from_slice(&0u32.to_le_bytes());

        let err = decode(&bytes).unwrap_err();

        assert!(matches!(
            err,
            ModelFileError::InvalidVersion { version: 0, .. }
        ));
    }

    #[test]
    fn csv_bytes_are_recognised_as_csv() {
        let csv = b"timestamp,cpu,mem\n2024-01-01T00:00:00Z,0.5,0.25\n";

        let err = decode(csv).unwrap_err();

        assert_eq!(
            err.to_string(),
            "not an oddity model file: it looks like a CSV file (starts with \"timestamp,cpu,mem\")"
        );
    }

    #[test]
    fn foreign_files_are_described() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "the file is empty"),
            (b"PAR1\x15\x04", "it looks like a Parquet file"),
            (b"\x1f\x8b\x08\x00", "it looks like a gzip file"),
            (
                b"  {\"a\": 1}",
                "it looks like a JSON file (starts with \"  {\\\"a\\\": 1}\")",
            ),
            (
                b"hello world\n",
                "it looks like a text file (starts with \"hello world\")",
            ),
            (
                b"\x00\x01\x02\x03\xff",
                "it starts with bytes 00 01 02 03 ff",
            ),
        ];

        for (bytes, expected) in cases {
            let err = decode(bytes).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("not an oddity model file: {expected}")
            );
        }
    }

    #[test]
    fn partial_magic_is_truncation() {
        let err = decode(&MAGIC[..5]).unwrap_err();

        assert!(matches!(
            err,
            ModelFileError::Truncated {
                section: Section::Magic,
                expected_len: 8,
                actual_len: 5,
                ..
            }
        ));
    }

    #[test]
    fn huge_header_length_is_rejected_before_allocating() {
        let mut bytes = sample_file();
        bytes[12..16].copy_from_slice(&u32::MAX.to_le_bytes());

        let err = decode(&bytes).unwrap_err();

        assert!(
            matches!(err, ModelFileError::HeaderTooLarge { header_len, .. }
            if header_len == u64::from(u32::MAX))
        );
    }

    #[test]
    fn huge_payload_length_is_rejected_before_allocating() {
        let mut bytes = sample_file();
        let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let field = 16 + header_len;
        bytes[field..field + 8].copy_from_slice(&u64::MAX.to_le_bytes());

        let err = decode(&bytes).unwrap_err();

        assert!(matches!(
            err,
            ModelFileError::PayloadLengthExceedsFile { .. }
        ));
        assert!(
            err.to_string().contains("larger than the whole file"),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = sample_file();
        bytes.extend_from_slice(b"junk");

        let err = decode(&bytes).unwrap_err();

        assert!(matches!(err, ModelFileError::TrailingBytes { .. }));
        assert!(err.to_string().contains("lengths add up to"), "{err}");
    }

    /// Builds a file with a valid checksum around an arbitrary header.
    fn frame_raw_header(header: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        write_sections(&mut bytes, header, b"p").unwrap();
        bytes
    }

    #[test]
    fn intact_file_with_invalid_json_header_is_rejected() {
        let err = decode(&frame_raw_header(b"{not json")).unwrap_err();

        assert!(matches!(err, ModelFileError::HeaderNotJson { .. }));
        assert!(
            err.to_string().starts_with("header is not valid JSON: "),
            "{err}"
        );
    }

    #[test]
    fn intact_file_with_non_object_header_is_rejected() {
        let err = decode(&frame_raw_header(b"[1, 2]")).unwrap_err();

        assert_eq!(
            err.to_string(),
            "header must be a JSON object, got an array"
        );
    }

    #[test]
    fn encode_rejects_non_object_header() {
        let err = encode(&json!("detector"), b"").unwrap_err();

        assert_eq!(
            err.to_string(),
            "header must be a JSON object, got a string"
        );
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.oddity");

        write(&path, &sample_header(), &sample_payload()).unwrap();
        let (header, payload) = read(&path).unwrap();
        let summary = read_header_only(&path).unwrap();

        assert_eq!(fs::read(&path).unwrap(), sample_file());
        assert_eq!(header, sample_header());
        assert_eq!(payload, sample_payload());
        assert_eq!(summary.format_version, FORMAT_VERSION);
        assert_eq!(summary.header, sample_header());
        assert_eq!(summary.payload_len, sample_payload().len() as u64);
        assert_eq!(temp_dir_entries(dir.path()), ["model.oddity"]);
    }

    #[test]
    fn write_atomic_replaces_existing_file_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.oddity");
        fs::write(&path, b"old contents").unwrap();

        write_atomic(&path, b"new contents").unwrap();

        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(temp_dir_entries(dir.path()), ["model.oddity"]);
    }

    #[test]
    fn failed_encode_leaves_existing_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.oddity");
        fs::write(&path, b"old contents").unwrap();

        let err = write(&path, &json!([1, 2, 3]), b"payload").unwrap_err();

        assert_eq!(err.path(), Some(path.as_path()));
        assert!(
            err.to_string()
                .ends_with("header must be a JSON object, got an array")
        );
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        assert_eq!(temp_dir_entries(dir.path()), ["model.oddity"]);
    }

    #[test]
    fn failed_rename_removes_temp_file_and_keeps_target() {
        // Renaming a file over a non-empty directory fails, even as root.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.oddity");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"kept").unwrap();

        let err = write_atomic(&target, b"new contents").unwrap_err();

        assert!(
            matches!(
                err,
                ModelFileError::Io {
                    action: "replace file",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.path(), Some(target.as_path()));
        assert_eq!(fs::read(target.join("keep")).unwrap(), b"kept");
        assert_eq!(temp_dir_entries(dir.path()), ["model.oddity"]);
    }

    #[test]
    fn write_into_missing_directory_names_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");

        let err = write_atomic(&missing.join("model.oddity"), b"bytes").unwrap_err();

        assert_eq!(err.path(), Some(missing.as_path()));
        assert!(!missing.exists());
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_keeps_permissions_of_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.oddity");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();

        write_atomic(&path, b"new").unwrap();

        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn read_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("points.csv");
        fs::write(&csv_path, b"a,b\n1,2\n").unwrap();
        let missing = dir.path().join("missing.oddity");

        let not_model = read(&csv_path).unwrap_err();
        let not_found = read_header_only(&missing).unwrap_err();

        assert_eq!(
            not_model.to_string(),
            format!(
                "{}: not an oddity model file: it looks like a CSV file (starts with \"a,b\")",
                csv_path.display()
            )
        );
        assert!(
            not_found
                .to_string()
                .starts_with(&format!("{}: cannot open model file: ", missing.display()))
        );
    }

    #[test]
    fn read_header_only_verifies_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.oddity");
        let mut bytes = sample_file();
        let last_payload_idx = bytes.len() - 5;
        bytes[last_payload_idx] ^= 0x01;
        fs::write(&path, &bytes).unwrap();

        let err = read_header_only(&path).unwrap_err();

        assert!(
            matches!(err, ModelFileError::ChecksumMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn file_readers_agree_with_decode_on_every_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.oddity");
        let bytes = sample_file();

        for len in [0, 5, 8, 10, 14, 16, 40, bytes.len() - 100, bytes.len() - 1] {
            fs::write(&path, &bytes[..len]).unwrap();
            let expected = decode(&bytes[..len]).unwrap_err().to_string();
            let prefix = format!("{}: ", path.display());
            assert_eq!(
                read(&path).unwrap_err().to_string(),
                format!("{prefix}{expected}")
            );
            assert_eq!(
                read_header_only(&path).unwrap_err().to_string(),
                format!("{prefix}{expected}")
            );
        }
    }

    proptest! {
        // Fixed seed so a failure reproduces; no regression files in the source tree.
        #![proptest_config(ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0dd1_7e57),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn decode_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_arbitrary_bytes_after_the_magic(
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&tail);
            let _ = decode(&bytes);
        }

        #[test]
        fn corrupted_file_never_decodes_to_different_content(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let original = sample_file();
            let mut bytes = original.clone();
            for (idx, value) in edits {
                let idx = idx % bytes.len();
                bytes[idx] = value;
            }
            if let Ok((_, payload)) = decode(&bytes) {
                prop_assert_eq!(bytes, original);
                prop_assert_eq!(payload, sample_payload());
            }
        }

        #[test]
        fn any_payload_round_trips(
            payload in proptest::collection::vec(any::<u8>(), 0..1024),
            name in ".{0,20}",
        ) {
            let header = json!({"name": name});

            let decoded = decode(&encode(&header, &payload).unwrap()).unwrap();

            prop_assert_eq!(decoded, (header, payload));
        }
    }
}
