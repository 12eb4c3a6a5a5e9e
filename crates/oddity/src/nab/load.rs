//! Readers for the files of an NAB checkout: windows, profiles, published
//! thresholds and per-point detector results.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use serde::Deserialize;

use super::{CorpusWindows, NabError, Profile, SeriesData, SeriesResult, Window};

/// Reads NAB's windows file (`labels/combined_windows.json`): an object
/// mapping each series path to a list of `[start, end]` timestamp pairs.
///
/// # Errors
///
/// An unreadable file, malformed JSON, an invalid timestamp, or windows
/// out of order (see [`CorpusWindows::new`]).
pub fn load_windows(path: impl AsRef<Path>) -> Result<CorpusWindows, NabError> {
    let path = path.as_ref();
    let raw: BTreeMap<String, Vec<(String, String)>> = read_json(path)?;

    let mut series = BTreeMap::new();
    for (name, pairs) in raw {
        let mut windows = Vec::with_capacity(pairs.len());
        for (window_idx, (start, end)) in pairs.iter().enumerate() {
            let parse = |text: &str| {
                parse_timestamp(text).ok_or_else(|| NabError::InvalidTimestamp {
                    context: format!("{}: {name} window {window_idx}", path.display()),
                    value: text.to_string(),
                })
            };
            windows.push(Window {
                start: parse(start)?,
                end: parse(end)?,
            });
        }
        series.insert(name, windows);
    }
    CorpusWindows::new(series)
}

#[derive(Deserialize)]
struct ProfileEntry {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrix,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CostMatrix {
    tp_weight: f64,
    fp_weight: f64,
    tn_weight: f64,
    fn_weight: f64,
}

/// Reads NAB's profiles file (`config/profiles.json`), sorted by name.
///
/// # Errors
///
/// An unreadable file, malformed JSON, or an invalid weight.
pub fn load_profiles(path: impl AsRef<Path>) -> Result<Vec<Profile>, NabError> {
    let raw: BTreeMap<String, ProfileEntry> = read_json(path.as_ref())?;
    raw.into_iter()
        .map(|(name, entry)| {
            let weights = entry.cost_matrix;
            Profile::new(
                name,
                weights.tp_weight,
                weights.fp_weight,
                weights.tn_weight,
                weights.fn_weight,
            )
        })
        .collect()
}

/// Published thresholds by detector and profile (NAB's
/// `config/thresholds.json`).
///
/// Only the thresholds are kept: the file's `score` fields are stale for
/// some detectors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thresholds {
    detectors: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Thresholds {
    /// The threshold of `detector` under the profile named `profile`.
    pub fn get(&self, detector: &str, profile: &str) -> Option<f64> {
        self.detectors.get(detector)?.get(profile).copied()
    }

    /// Detector names, sorted.
    pub fn detectors(&self) -> impl Iterator<Item = &str> {
        self.detectors.keys().map(String::as_str)
    }
}

#[derive(Deserialize)]
struct ThresholdEntry {
    threshold: f64,
}

/// Reads NAB's published thresholds (`config/thresholds.json`).
///
/// # Errors
///
/// An unreadable file or malformed JSON.
pub fn load_thresholds(path: impl AsRef<Path>) -> Result<Thresholds, NabError> {
    let raw: BTreeMap<String, BTreeMap<String, ThresholdEntry>> = read_json(path.as_ref())?;
    let detectors = raw
        .into_iter()
        .map(|(detector, profiles)| {
            let thresholds = profiles
                .into_iter()
                .map(|(profile, entry)| (profile, entry.threshold))
                .collect();
            (detector, thresholds)
        })
        .collect();
    Ok(Thresholds { detectors })
}

/// Reads one detector's per-point output: a CSV file with a header that has
/// at least `timestamp` and `anomaly_score` columns (NAB's results files
/// have more, which are ignored).
///
/// # Errors
///
/// An unreadable or malformed file, a missing column, or a cell that is
/// not a timestamp or a number; errors name the file and line.
pub fn load_series_result(path: impl AsRef<Path>) -> Result<SeriesResult, NabError> {
    let (timestamps, scores) = load_series_column(path.as_ref(), "anomaly_score")?;
    Ok(SeriesResult { timestamps, scores })
}

/// Reads one series of NAB's corpus: a CSV file with `timestamp` and
/// `value` columns, as under NAB's `data/` folder.
///
/// # Errors
///
/// As [`load_series_result`], for the `value` column.
pub fn load_series_data(path: impl AsRef<Path>) -> Result<SeriesData, NabError> {
    let (timestamps, values) = load_series_column(path.as_ref(), "value")?;
    Ok(SeriesData { timestamps, values })
}

/// Reads every series under NAB's `data/` folder
/// (`<data_dir>/<category>/<name>.csv`), keyed by series path
/// (`<category>/<name>.csv`, as in the windows file). Files not ending in
/// `.csv` are skipped.
///
/// # Errors
///
/// An unreadable folder or any [`load_series_data`] error.
pub fn load_corpus_data(
    data_dir: impl AsRef<Path>,
) -> Result<BTreeMap<String, SeriesData>, NabError> {
    let mut corpus = BTreeMap::new();
    for (category, file_name, file) in category_csv_files(data_dir.as_ref())? {
        corpus.insert(format!("{category}/{file_name}"), load_series_data(&file)?);
    }
    Ok(corpus)
}

/// The `.csv` files one level down in `dir`'s sub-folders (NAB's category
/// folders), as `(category, file name, path)`, sorted so that reading is
/// deterministic. Files directly in `dir` are skipped.
fn category_csv_files(dir: &Path) -> Result<Vec<(String, String, PathBuf)>, NabError> {
    let mut found = Vec::new();
    for category_dir in sorted_entries(dir)? {
        if !category_dir.is_dir() {
            continue;
        }
        let Some(category) = category_dir.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        for file in sorted_entries(&category_dir)? {
            let Some(file_name) = file.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            if file.is_file() && file_name.ends_with(".csv") {
                found.push((category.to_string(), file_name.to_string(), file.clone()));
            }
        }
    }
    Ok(found)
}

/// One detector's published NAB scores, normalised, per profile.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedScore {
    /// The detector's name as NAB's results folder spells it (`numenta`).
    pub detector: String,
    /// Scores on the standard, low-false-positive and low-false-negative
    /// profiles, in that order.
    pub scores: [f64; 3],
}

/// Reads a scoreboard CSV with a `detector` column and
/// `final_standard`, `final_reward_low_FP_rate` and
/// `final_reward_low_FN_rate` columns (as shipped beside NAB's results).
/// Rows without all three numbers (README-only entries) are skipped.
///
/// # Errors
///
/// An unreadable or malformed file, or a missing column.
pub fn load_scoreboard(path: impl AsRef<Path>) -> Result<Vec<PublishedScore>, NabError> {
    let path = path.as_ref();
    let csv_error = |error: csv::Error| csv_failure(path, &error);
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |column: &'static str| {
        headers
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| NabError::MissingColumn {
                path: path.to_path_buf(),
                column,
            })
    };
    let detector_idx = column("detector")?;
    let score_idx = [
        column("final_standard")?,
        column("final_reward_low_FP_rate")?,
        column("final_reward_low_FN_rate")?,
    ];
    let mut published = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let number = |idx: usize| {
            record
                .get(idx)
                .and_then(|cell| cell.trim().parse::<f64>().ok())
        };
        let [Some(standard), Some(low_fp), Some(low_fn)] = score_idx.map(number) else {
            continue;
        };
        published.push(PublishedScore {
            detector: record.get(detector_idx).unwrap_or_default().to_string(),
            scores: [standard, low_fp, low_fn],
        });
    }
    Ok(published)
}

/// The timestamps and one numeric column of a NAB CSV file.
fn load_series_column(
    path: &Path,
    value_column: &'static str,
) -> Result<(Vec<i64>, Vec<f64>), NabError> {
    let csv_error = |error: csv::Error| csv_failure(path, &error);
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let headers = reader.byte_headers().map_err(csv_error)?.clone();
    let column = |column: &'static str| {
        headers
            .iter()
            .position(|name| name == column.as_bytes())
            .ok_or_else(|| NabError::MissingColumn {
                path: path.to_path_buf(),
                column,
            })
    };
    let timestamp_idx = column("timestamp")?;
    let value_idx = column(value_column)?;

    let (mut timestamps, mut values) = (Vec::new(), Vec::new());
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |idx: usize| {
            let bytes = record.get(idx).unwrap_or_default();
            String::from_utf8_lossy(bytes).trim().to_string()
        };
        let timestamp = cell(timestamp_idx);
        let Some(timestamp) = parse_timestamp(&timestamp) else {
            return Err(NabError::InvalidTimestamp {
                context: format!("{}: line {line}", path.display()),
                value: timestamp,
            });
        };
        let value = cell(value_idx);
        let Ok(value) = value.parse::<f64>() else {
            return Err(NabError::Csv {
                path: path.to_path_buf(),
                line,
                message: format!("{value_column} {value:?} is not a number"),
            });
        };
        timestamps.push(timestamp);
        values.push(value);
    }
    Ok((timestamps, values))
}

/// Reads every per-point results file of `detector` in an NAB results
/// folder, laid out as `<results_dir>/<detector>/<category>/<detector>_<name>.csv`,
/// keyed by series path (`<category>/<name>.csv`, as in the windows file).
///
/// Files directly in the detector's folder (NAB's `*_scores.csv`
/// summaries) and files not ending in `.csv` are skipped. A detector
/// without per-point files yields an empty map.
///
/// # Errors
///
/// An unreadable folder, a `.csv` file not named `<detector>_...`, or any
/// [`load_series_result`] error.
#[tracing::instrument(level = "debug", skip(results_dir))]
pub fn load_corpus_results(
    results_dir: impl AsRef<Path>,
    detector: &str,
) -> Result<BTreeMap<String, SeriesResult>, NabError> {
    let detector_dir = results_dir.as_ref().join(detector);
    let prefix = format!("{detector}_");
    let mut results = BTreeMap::new();
    for (category, file_name, file) in category_csv_files(&detector_dir)? {
        let Some(series_file) = file_name.strip_prefix(&prefix) else {
            return Err(NabError::UnexpectedResultFile {
                path: file,
                detector: detector.to_string(),
            });
        };
        let series = format!("{category}/{series_file}");
        results.insert(series, load_series_result(&file)?);
    }
    tracing::debug!(n_series = results.len(), "read NAB results");
    Ok(results)
}

/// Paths in a folder, sorted so that reading is deterministic.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, NabError> {
    let io_error = |error: std::io::Error| NabError::Io {
        path: dir.to_path_buf(),
        message: error.to_string(),
    };
    let mut paths = fs::read_dir(dir)
        .map_err(io_error)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    paths.sort();
    Ok(paths)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, NabError> {
    let text = fs::read_to_string(path).map_err(|error| NabError::Io {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|error| NabError::Json {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

fn csv_failure(path: &Path, error: &csv::Error) -> NabError {
    match (error.kind(), error.position()) {
        (csv::ErrorKind::Io(io), _) => NabError::Io {
            path: path.to_path_buf(),
            message: io.to_string(),
        },
        (_, position) => NabError::Csv {
            path: path.to_path_buf(),
            line: position.map_or(0, csv::Position::line),
            message: error.to_string(),
        },
    }
}

/// Parses NAB's `YYYY-MM-DD HH:MM:SS` with an optional fraction (windows
/// carry `.%f`) to milliseconds since the Unix epoch, read as UTC. A `T`
/// may separate date and time. Digits past milliseconds are dropped.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b' ' | b'T')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &bytes[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits
            .iter()
            .try_fold(0u32, |acc, &digit| Some(acc * 10 + u32::from(digit - b'0')))
    };
    let millis = match &bytes[19..] {
        [] => 0,
        [b'.', fraction @ ..]
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) =>
        {
            // Pad or cut the fraction to exactly three digits.
            fraction
                .iter()
                .chain(std::iter::repeat(&b'0'))
                .take(3)
                .fold(0, |acc, &digit| acc * 10 + u32::from(digit - b'0'))
        }
        _ => return None,
    };

    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    let time = date.and_hms_milli_opt(number(11..13)?, number(14..16)?, number(17..19)?, millis)?;
    Some(time.and_utc().timestamp_millis())
}

/// Formats milliseconds since the epoch as NAB writes timestamps.
pub(crate) fn format_timestamp(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis).map_or_else(
        || format!("{millis} ms"),
        |time| time.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
    )
}
