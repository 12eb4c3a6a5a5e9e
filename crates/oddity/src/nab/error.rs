//! What can go wrong reading NAB files or scoring a detector's output.

use std::path::PathBuf;

/// A failure to read NAB inputs or to line results up with windows.
///
/// Messages name the file and line, or the series and point, where the
/// problem is. They already contain the cause's text, so no variant chains
/// a `source`: reporters that walk the chain would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    /// A file or folder could not be read.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// A JSON file is malformed or not shaped as NAB writes it.
    #[error("{}: {message}", path.display())]
    Json { path: PathBuf, message: String },
    /// A CSV file is malformed; `line` is 1-based and counts the header.
    #[error("{}: line {line}: {message}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A results CSV lacks a column the scorer needs.
    #[error("{}: no {column:?} column in the header", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
    /// A timestamp is not `YYYY-MM-DD HH:MM:SS[.fraction]`.
    #[error("{context}: invalid timestamp {value:?}, expected YYYY-MM-DD HH:MM:SS[.fraction]")]
    InvalidTimestamp { context: String, value: String },
    /// A profile weight is out of range.
    #[error("profile {profile:?}: {weight} weight must be finite and {limit}, got {value}")]
    InvalidProfile {
        profile: String,
        weight: &'static str,
        limit: &'static str,
        value: f64,
    },
    /// The probationary share is not a number from 0 to 1.
    #[error("probationary_percent must be between 0 and 1, got {value}")]
    InvalidProbationaryPercent { value: f64 },
    /// A series' windows are malformed or out of order.
    #[error("{series}: window {window_idx} {problem}")]
    InvalidWindows {
        series: String,
        window_idx: usize,
        problem: &'static str,
    },
    /// A series has different numbers of timestamps and scores.
    #[error("{series}: {n_timestamps} timestamps but {n_scores} scores")]
    LengthMismatch {
        series: String,
        n_timestamps: usize,
        n_scores: usize,
    },
    /// An anomaly score is NaN or infinite.
    #[error("{series}: anomaly score of point {point_idx} must be finite, got {value}")]
    NonFiniteScore {
        series: String,
        point_idx: usize,
        value: f64,
    },
    /// A window boundary is not the timestamp of any point of its series.
    #[error("{series}: window {window_idx} {edge} {timestamp} is not a timestamp of the series")]
    WindowNotInSeries {
        series: String,
        window_idx: usize,
        edge: &'static str,
        timestamp: String,
    },
    /// Results were given for a series the windows do not cover.
    #[error("{series}: results for a series that has no entry in the windows")]
    UnknownSeries { series: String },
    /// A series with windows has no results.
    #[error("{series}: no results for a series of the corpus")]
    MissingSeries { series: String },
    /// The corpus has no windows, so scores cannot be normalised.
    #[error("the corpus has no anomaly windows to normalise against")]
    NoWindows,
    /// A results file is not named `<detector>_<series file name>`.
    #[error("{}: results file name does not start with \"{detector}_\"", path.display())]
    UnexpectedResultFile { path: PathBuf, detector: String },
}
