//! Sliding windows of a series as feature vectors for batch detectors.
//!
//! A collective anomaly (a flat-lined sensor, a stretch with the wrong
//! rhythm) is a run of points each of which looks normal alone. Seen as one
//! vector of `width` consecutive points, the run is an ordinary point
//! anomaly, so every batch detector can find it. This module:
//!
//! 1. arranges the rows of a frame as series ([`SeriesLayout`]): sorted by
//!    an optional time column, and split by an optional entity column so
//!    that no window spans two entities;
//! 2. cuts each series into windows of `width` rows every `stride` rows
//!    ([`Windows`]); the last window of a series is aligned to its end, so
//!    every row lies in at least one window;
//! 3. turns each window into a feature vector ([`WindowRepresentation`]):
//!    the raw values, their first differences, or each window z-scored per
//!    feature;
//! 4. maps window scores back to points (a point's score is the largest
//!    score of the windows that contain it, and that window is reported
//!    with it) and window attributions back to `(feature, lag)` names such
//!    as `cpu[t-3]`, where `t` is the window's last row.
//!
//! The cost is `O(n * width * d)` for `n` rows of `d` prepared features
//! with stride 1; detectors then see `width * d` features per window.
//!
//! ```
//! use ndarray::array;
//! use oddity::series::window::{SeriesLayout, WindowParams, WindowRepresentation, Windows};
//!
//! let params = WindowParams {
//!     width: 3,
//!     stride: 1,
//!     representation: WindowRepresentation::Raw,
//! };
//! let layout = SeriesLayout::in_order(5);
//! let windows = Windows::new(&layout, &params)?;
//! assert_eq!(windows.len(), 3);
//! let series = array![[1.0], [2.0], [3.0], [4.0], [5.0]];
//! let features = windows.features(&layout, series.view(), WindowRepresentation::Raw);
//! assert_eq!(features.row(1).to_vec(), vec![2.0, 3.0, 4.0]);
//! // Every point gets the largest score of the windows that hold it.
//! let points = windows.point_scores(&layout, &[0.1, 0.9, 0.2], 5);
//! assert_eq!(points.score, vec![0.1, 0.9, 0.9, 0.9, 0.2]);
//! # Ok::<(), oddity::series::window::WindowError>(())
//! ```

use std::collections::HashMap;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::data::{ColumnData, ColumnKind, Frame};
use crate::detector::ParamError;

/// Widest window accepted: detectors see `width` times the prepared
/// features per window, and beyond a few thousand dimensions neighbour
/// searches degrade to brute force while forests mostly split on noise.
pub const MAX_WIDTH: usize = 4096;

/// A window whose standard deviation within a feature is below this
/// (relative to the magnitude of its mean, at least 1) counts as flat in
/// the `normalised` representation: its values become 0 rather than
/// rounding noise blown up to unit variance.
const FLAT_RELATIVE_STD: f64 = 1e-9;

/// How a window becomes a feature vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowRepresentation {
    /// The `width * d` prepared values as they are: level and shape. Finds
    /// flat lines, changed shapes, spikes and level shifts alike; the
    /// default, as it scored best of the three on NAB (see the window
    /// section of `docs/benchmarks.md`).
    #[default]
    Raw,
    /// The `(width - 1) * d` first differences: shape and rate of change
    /// without the level, so a series that drifts slowly does not make
    /// every late window look new; a lasting level shift shows only in the
    /// windows that contain the step.
    Diff,
    /// Each feature z-scored within the window: shape only, blind to level
    /// and amplitude. A flat window (no spread) becomes all zeros.
    Normalised,
}

impl WindowRepresentation {
    /// Every representation, in the order of their names.
    pub const ALL: [WindowRepresentation; 3] = [
        WindowRepresentation::Raw,
        WindowRepresentation::Diff,
        WindowRepresentation::Normalised,
    ];

    /// The name used on the command line and in model headers.
    pub fn name(self) -> &'static str {
        match self {
            WindowRepresentation::Raw => "raw",
            WindowRepresentation::Diff => "diff",
            WindowRepresentation::Normalised => "normalised",
        }
    }

    /// The representation called `name`.
    pub fn from_name(name: &str) -> Option<WindowRepresentation> {
        Self::ALL
            .into_iter()
            .find(|representation| representation.name() == name)
    }

    /// Positions (lags) per feature in a window of `width` rows.
    pub fn n_positions(self, width: usize) -> usize {
        match self {
            WindowRepresentation::Diff => width.saturating_sub(1),
            WindowRepresentation::Raw | WindowRepresentation::Normalised => width,
        }
    }
}

impl std::fmt::Display for WindowRepresentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a series is cut into windows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowParams {
    /// Rows per window, 2 to [`MAX_WIDTH`]. Default 32.
    pub width: usize,
    /// Rows between the starts of consecutive windows, 1 to `width`
    /// (larger would leave rows in no window). Default 1.
    pub stride: usize,
    /// Default [`WindowRepresentation::Raw`].
    pub representation: WindowRepresentation,
}

impl Default for WindowParams {
    fn default() -> Self {
        WindowParams {
            width: 32,
            stride: 1,
            representation: WindowRepresentation::default(),
        }
    }
}

impl WindowParams {
    /// Checks the width and the stride.
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(2..=MAX_WIDTH).contains(&self.width) {
            return Err(ParamError::new(
                "window",
                format!("must be from 2 to {MAX_WIDTH} rows"),
                self.width,
            ));
        }
        if !(1..=self.width).contains(&self.stride) {
            return Err(ParamError::new(
                "stride",
                format!(
                    "must be from 1 to the window width ({}) so that every row lies in a window",
                    self.width
                ),
                self.stride,
            ));
        }
        Ok(())
    }

    /// Windows in a series of `n_rows` rows: 0 when it is shorter than the
    /// width, else one every `stride` rows plus one aligned to the end when
    /// the stride does not land there.
    pub fn n_windows(&self, n_rows: usize) -> usize {
        window_starts(n_rows, self.width, self.stride).len()
    }
}

/// Why rows could not be windowed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WindowError {
    /// A window parameter is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A series has fewer rows than one window.
    #[error("{series} has {n_rows} rows, fewer than the window width {width}")]
    TooShort {
        /// `the input`, or `entity "x"`.
        series: String,
        n_rows: usize,
        width: usize,
    },
    /// The time or entity column is not in the input.
    #[error("the {role} column \"{name}\" is not in the input; the columns are: {available}")]
    UnknownColumn {
        role: &'static str,
        name: String,
        available: String,
    },
    /// The time column cannot order rows.
    #[error("the time column \"{name}\" is a {kind} column; it must hold numbers or timestamps")]
    TimeKind { name: String, kind: ColumnKind },
}

/// One series: the rows of one entity, in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// The entity's value as text; `None` without an entity column.
    pub entity: Option<String>,
    /// Row indices into the frame, in time order.
    pub rows: Vec<usize>,
}

/// The rows of a frame arranged as series, one per entity.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesLayout {
    pub segments: Vec<Segment>,
}

impl SeriesLayout {
    /// One series of `n_rows` rows in the order given.
    pub fn in_order(n_rows: usize) -> SeriesLayout {
        SeriesLayout {
            segments: vec![Segment {
                entity: None,
                rows: (0..n_rows).collect(),
            }],
        }
    }

    /// Arranges the rows of `frame`: one series per value of the `entity`
    /// column (in order of first appearance; a missing value is its own
    /// entity, the empty text), each sorted by the `time` column when there
    /// is one (a stable sort, so equal times keep the input order; missing
    /// times go last) and in input order otherwise.
    pub fn from_frame(
        frame: &Frame,
        time: Option<&str>,
        entity: Option<&str>,
    ) -> Result<SeriesLayout, WindowError> {
        let find = |role: &'static str, name: &str| {
            frame
                .column(name)
                .ok_or_else(|| WindowError::UnknownColumn {
                    role,
                    name: name.to_string(),
                    available: frame.schema.names().collect::<Vec<_>>().join(", "),
                })
        };
        let mut segments = match entity {
            None => SeriesLayout::in_order(frame.n_rows()).segments,
            Some(name) => {
                let column = find("entity", name)?;
                let mut index: HashMap<String, usize> = HashMap::new();
                let mut segments: Vec<Segment> = Vec::new();
                for row in 0..frame.n_rows() {
                    let key = crate::pipeline::cell_text(column, row);
                    let slot = *index.entry(key.clone()).or_insert_with(|| {
                        segments.push(Segment {
                            entity: Some(key),
                            rows: Vec::new(),
                        });
                        segments.len() - 1
                    });
                    segments[slot].rows.push(row);
                }
                segments
            }
        };
        if let Some(name) = time {
            let column = find("time", name)?;
            for segment in &mut segments {
                match column {
                    ColumnData::Number(values) => segment.rows.sort_by(|&a, &b| {
                        // NaN (missing) sorts after every number.
                        let key = |row: usize| (values[row].is_nan(), values[row]);
                        let (missing_a, value_a) = key(a);
                        let (missing_b, value_b) = key(b);
                        missing_a
                            .cmp(&missing_b)
                            .then_with(|| value_a.total_cmp(&value_b))
                    }),
                    ColumnData::Timestamp(values) => segment
                        .rows
                        .sort_by_key(|&row| (values[row].is_none(), values[row])),
                    other => {
                        return Err(WindowError::TimeKind {
                            name: name.to_string(),
                            kind: other.kind(),
                        });
                    }
                }
            }
        }
        Ok(SeriesLayout { segments })
    }

    /// Rows over all series.
    pub fn n_rows(&self) -> usize {
        self.segments.iter().map(|segment| segment.rows.len()).sum()
    }
}

/// Where one window lies: its series and its first position in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowPosition {
    /// Index into [`SeriesLayout::segments`].
    pub segment: usize,
    /// Position of the window's first row within the segment.
    pub start: usize,
}

/// The windows of a [`SeriesLayout`], in series order then time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows {
    width: usize,
    positions: Vec<WindowPosition>,
}

/// Per point: the largest score of the windows that contain it and the
/// index of that window (the earliest among equal scores).
#[derive(Clone, Debug, PartialEq)]
pub struct PointScores {
    /// Indexed by frame row.
    pub score: Vec<f64>,
    /// Indexed by frame row: the window the score came from.
    pub window: Vec<usize>,
}

impl Windows {
    /// Cuts every series of `layout` into windows; a series shorter than
    /// one window is an error that names it and both lengths.
    pub fn new(layout: &SeriesLayout, params: &WindowParams) -> Result<Windows, WindowError> {
        params.validate()?;
        let mut positions = Vec::new();
        for (index, segment) in layout.segments.iter().enumerate() {
            if segment.rows.len() < params.width {
                return Err(WindowError::TooShort {
                    series: match &segment.entity {
                        None => "the input".to_string(),
                        Some(entity) => format!("entity \"{entity}\""),
                    },
                    n_rows: segment.rows.len(),
                    width: params.width,
                });
            }
            positions.extend(
                window_starts(segment.rows.len(), params.width, params.stride)
                    .into_iter()
                    .map(|start| WindowPosition {
                        segment: index,
                        start,
                    }),
            );
        }
        Ok(Windows {
            width: params.width,
            positions,
        })
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn positions(&self) -> &[WindowPosition] {
        &self.positions
    }

    /// The frame rows of window `window`, in time order.
    pub fn rows<'l>(&self, layout: &'l SeriesLayout, window: usize) -> &'l [usize] {
        let position = self.positions[window];
        &layout.segments[position.segment].rows[position.start..position.start + self.width]
    }

    /// One feature vector per window from the prepared `matrix` (frame rows
    /// × features), position-major: the features of the window's first
    /// position, then of the second, and so on (see [`feature_names`]).
    pub fn features(
        &self,
        layout: &SeriesLayout,
        matrix: ArrayView2<'_, f64>,
        representation: WindowRepresentation,
    ) -> Array2<f64> {
        let n_features = matrix.ncols();
        let n_positions = representation.n_positions(self.width);
        let mut out = Array2::zeros((self.len(), n_positions * n_features));
        for (window, mut target) in out.outer_iter_mut().enumerate() {
            let rows = self.rows(layout, window);
            match representation {
                WindowRepresentation::Raw => {
                    for (position, &row) in rows.iter().enumerate() {
                        for feature in 0..n_features {
                            target[position * n_features + feature] = matrix[[row, feature]];
                        }
                    }
                }
                WindowRepresentation::Diff => {
                    for (position, pair) in rows.windows(2).enumerate() {
                        for feature in 0..n_features {
                            target[position * n_features + feature] =
                                matrix[[pair[1], feature]] - matrix[[pair[0], feature]];
                        }
                    }
                }
                WindowRepresentation::Normalised => {
                    let n = rows.len() as f64;
                    for feature in 0..n_features {
                        let mean = rows.iter().map(|&row| matrix[[row, feature]]).sum::<f64>() / n;
                        let variance = rows
                            .iter()
                            .map(|&row| (matrix[[row, feature]] - mean).powi(2))
                            .sum::<f64>()
                            / n;
                        let std = variance.sqrt();
                        let flat = std <= FLAT_RELATIVE_STD * mean.abs().max(1.0);
                        if flat || !std.is_finite() {
                            // No shape to show.
                            continue;
                        }
                        for (position, &row) in rows.iter().enumerate() {
                            target[position * n_features + feature] =
                                (matrix[[row, feature]] - mean) / std;
                        }
                    }
                }
            }
        }
        out
    }

    /// Maps window scores to the `n_rows` rows of the frame: each row gets
    /// the largest score of the windows that contain it. A row in no window
    /// (possible only for rows outside `layout`) gets NaN and window 0.
    pub fn point_scores(
        &self,
        layout: &SeriesLayout,
        window_scores: &[f64],
        n_rows: usize,
    ) -> PointScores {
        let mut score = vec![f64::NAN; n_rows];
        let mut best = vec![0; n_rows];
        for (window, &value) in window_scores.iter().enumerate().take(self.len()) {
            for &row in self.rows(layout, window) {
                // Strictly greater keeps the earliest window among ties;
                // the NaN start is replaced by any first score.
                if score[row].is_nan() || value > score[row] {
                    score[row] = value;
                    best[row] = window;
                }
            }
        }
        PointScores {
            score,
            window: best,
        }
    }
}

/// Window starts in a series of `n_rows` rows: every `stride`, plus the
/// last possible start when the stride skips it.
fn window_starts(n_rows: usize, width: usize, stride: usize) -> Vec<usize> {
    if n_rows < width || width == 0 {
        return Vec::new();
    }
    let last = n_rows - width;
    let mut starts: Vec<usize> = (0..=last).step_by(stride.max(1)).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
}

/// The name of each window feature: `name[t-lag]` (`name[t]` for lag 0),
/// where `t` is the window's last row, in the layout
/// [`Windows::features`] writes. For [`WindowRepresentation::Diff`],
/// `name[t-lag]` is the change from the row before into row `t-lag`.
pub fn feature_names(
    output_names: &[String],
    width: usize,
    representation: WindowRepresentation,
) -> Vec<String> {
    let n_positions = representation.n_positions(width);
    let mut names = Vec::with_capacity(n_positions * output_names.len());
    for position in 0..n_positions {
        let lag = n_positions - 1 - position;
        for name in output_names {
            names.push(if lag == 0 {
                format!("{name}[t]")
            } else {
                format!("{name}[t-{lag}]")
            });
        }
    }
    names
}

/// One `(feature, lag)` share of a window's anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LagShare {
    /// `name[t-lag]`, as [`feature_names`] names it.
    pub name: String,
    /// Index into the prepared features.
    pub feature: usize,
    /// Rows before the window's last row.
    pub lag: usize,
    /// Share of the window's anomaly, in [0, 1].
    pub share: f64,
}

/// The non-zero shares of a window attribution (over [`feature_names`]),
/// largest first.
pub fn lag_shares(
    shares: &[f64],
    output_names: &[String],
    width: usize,
    representation: WindowRepresentation,
) -> Vec<LagShare> {
    let n_features = output_names.len().max(1);
    let n_positions = representation.n_positions(width);
    let names = feature_names(output_names, width, representation);
    let mut lags: Vec<LagShare> = shares
        .iter()
        .zip(names)
        .enumerate()
        .filter(|(_, (share, _))| **share > 0.0)
        .map(|(index, (&share, name))| LagShare {
            name,
            feature: index % n_features,
            lag: n_positions - 1 - index / n_features,
            share,
        })
        .collect();
    lags.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then_with(|| a.feature.cmp(&b.feature))
            .then_with(|| a.lag.cmp(&b.lag))
    });
    lags
}

/// A window attribution summed over lags: one share per prepared feature.
pub fn feature_shares(shares: &[f64], n_features: usize) -> Vec<f64> {
    let mut summed = vec![0.0; n_features];
    if n_features == 0 {
        return summed;
    }
    for (index, share) in shares.iter().enumerate() {
        summed[index % n_features] += share;
    }
    summed
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn params(width: usize, stride: usize) -> WindowParams {
        WindowParams {
            width,
            stride,
            representation: WindowRepresentation::Raw,
        }
    }

    #[test]
    fn window_count_covers_every_row_and_aligns_the_last_window_to_the_end() {
        // n - w + 1 windows with stride 1.
        assert_eq!(params(4, 1).n_windows(10), 7);
        // Starts 0, 3, 6 and then 6 is already the last possible start.
        assert_eq!(window_starts(10, 4, 3), vec![0, 3, 6]);
        // Starts 0, 4 and the end-aligned 6.
        assert_eq!(window_starts(10, 4, 4), vec![0, 4, 6]);
        assert_eq!(params(10, 1).n_windows(10), 1);
        assert_eq!(params(11, 1).n_windows(10), 0);
        for stride in 1..=5 {
            let layout = SeriesLayout::in_order(23);
            let windows = Windows::new(&layout, &params(5, stride)).unwrap();
            let mut covered = [0; 23];
            for window in 0..windows.len() {
                for &row in windows.rows(&layout, window) {
                    covered[row] += 1;
                }
            }
            assert!(covered.iter().all(|&count| count >= 1), "stride {stride}");
        }
    }

    #[test]
    fn edge_rows_lie_in_fewer_windows_but_all_get_a_score() {
        let layout = SeriesLayout::in_order(6);
        let windows = Windows::new(&layout, &params(3, 1)).unwrap();
        // Windows [0..3), [1..4), [2..5), [3..6).
        let points = windows.point_scores(&layout, &[5.0, 1.0, 2.0, 3.0], 6);
        assert_eq!(points.score, vec![5.0, 5.0, 5.0, 3.0, 3.0, 3.0]);
        assert_eq!(points.window, vec![0, 0, 0, 3, 3, 3]);
        // Ties keep the earliest window.
        let tied = windows.point_scores(&layout, &[1.0, 1.0, 1.0, 1.0], 6);
        assert_eq!(tied.window, vec![0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn shorter_input_than_the_window_is_an_error_naming_both_lengths() {
        let error = Windows::new(&SeriesLayout::in_order(5), &params(8, 1)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the input has 5 rows, fewer than the window width 8"
        );
    }

    #[test]
    fn parameters_name_the_limit_and_the_value() {
        let error = params(1, 1).validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "window must be from 2 to 4096 rows, got 1"
        );
        let error = params(4, 5).validate().unwrap_err();
        assert!(
            error.to_string().starts_with("stride must be from 1 to"),
            "{error}"
        );
        assert!(error.to_string().ends_with("got 5"), "{error}");
        assert!(params(4, 0).validate().is_err());
    }

    #[test]
    fn representations_write_values_differences_and_shapes() {
        let layout = SeriesLayout::in_order(4);
        let windows = Windows::new(&layout, &params(3, 1)).unwrap();
        // Two features: a ramp and a constant.
        let matrix = array![[1.0, 7.0], [2.0, 7.0], [4.0, 7.0], [8.0, 7.0]];
        let raw = windows.features(&layout, matrix.view(), WindowRepresentation::Raw);
        assert_eq!(raw.row(1).to_vec(), vec![2.0, 7.0, 4.0, 7.0, 8.0, 7.0]);
        let diff = windows.features(&layout, matrix.view(), WindowRepresentation::Diff);
        assert_eq!(diff.row(1).to_vec(), vec![2.0, 0.0, 4.0, 0.0]);
        let shape = windows.features(&layout, matrix.view(), WindowRepresentation::Normalised);
        // Window 0 of the ramp: 1, 2, 4 has mean 7/3 and population
        // standard deviation sqrt(14/9); the constant is flat, so zeros.
        let std = (14.0f64 / 9.0).sqrt();
        let expected = [
            (1.0 - 7.0 / 3.0) / std,
            (2.0 - 7.0 / 3.0) / std,
            (4.0 - 7.0 / 3.0) / std,
        ];
        for (position, value) in expected.iter().enumerate() {
            approx::assert_abs_diff_eq!(shape[[0, position * 2]], value, epsilon = 1e-12);
            assert_eq!(shape[[0, position * 2 + 1]], 0.0);
        }
        // Level invariance: shifting the series changes nothing.
        let shifted = matrix.mapv(|value| value + 100.0);
        assert_eq!(
            windows.features(&layout, shifted.view(), WindowRepresentation::Diff),
            diff
        );
    }

    #[test]
    fn attribution_maps_to_feature_and_lag_names() {
        let names = vec!["cpu".to_string(), "mem".to_string()];
        assert_eq!(
            feature_names(&names, 3, WindowRepresentation::Raw),
            [
                "cpu[t-2]", "mem[t-2]", "cpu[t-1]", "mem[t-1]", "cpu[t]", "mem[t]"
            ]
        );
        assert_eq!(
            feature_names(&names, 3, WindowRepresentation::Diff),
            ["cpu[t-1]", "mem[t-1]", "cpu[t]", "mem[t]"]
        );
        let shares = [0.1, 0.0, 0.5, 0.1, 0.2, 0.1];
        let lags = lag_shares(&shares, &names, 3, WindowRepresentation::Raw);
        assert_eq!(lags[0].name, "cpu[t-1]");
        assert_eq!((lags[0].feature, lags[0].lag), (0, 1));
        assert_eq!(lags.len(), 5);
        let summed = feature_shares(&shares, 2);
        approx::assert_abs_diff_eq!(summed[0], 0.8, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(summed[1], 0.2, epsilon = 1e-12);
    }

    #[test]
    fn windows_never_span_two_entities_and_follow_the_time_column() {
        let host = ["a", "b", "a", "b", "a", "b", "a"]
            .map(|h| Some(h.to_string()))
            .to_vec();
        let time = vec![3.0, 1.0, 1.0, 2.0, 2.0, f64::NAN, 0.0];
        let data = Frame::from_columns(vec![
            ("host", ColumnData::Category(host)),
            ("t", ColumnData::Number(time)),
        ]);
        let layout = SeriesLayout::from_frame(&data, Some("t"), Some("host")).unwrap();
        assert_eq!(layout.segments.len(), 2);
        assert_eq!(layout.segments[0].entity.as_deref(), Some("a"));
        // Host a at times 3, 1, 2, 0 (rows 0, 2, 4, 6): sorted 6, 2, 4, 0.
        assert_eq!(layout.segments[0].rows, vec![6, 2, 4, 0]);
        // Host b: 1, 2, missing: the missing time goes last.
        assert_eq!(layout.segments[1].rows, vec![1, 3, 5]);
        let windows = Windows::new(&layout, &params(2, 1)).unwrap();
        assert_eq!(windows.len(), 3 + 2);
        for window in 0..windows.len() {
            let rows = windows.rows(&layout, window);
            let entity = |row: usize| row % 2;
            assert!(rows.iter().all(|&row| entity(row) == entity(rows[0])));
        }
        let error = Windows::new(&layout, &params(4, 1)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "entity \"b\" has 3 rows, fewer than the window width 4"
        );
    }

    #[test]
    fn time_and_entity_columns_must_exist_and_time_must_be_ordered() {
        let data = Frame::from_columns(vec![(
            "kind",
            ColumnData::Category(vec![Some("x".into()); 3]),
        )]);
        let error = SeriesLayout::from_frame(&data, Some("when"), None).unwrap_err();
        assert!(
            error.to_string().contains("time column \"when\""),
            "{error}"
        );
        let error = SeriesLayout::from_frame(&data, Some("kind"), None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("must hold numbers or timestamps")
        );
    }
}

/// Windows through the whole pipeline: fitted into a model, scored,
/// explained and saved.
#[cfg(test)]
mod model_tests {
    use crate::data::{ColumnData, Frame};
    use crate::detector::detector_by_name;
    use crate::eval::roc_auc;
    use crate::pipeline::{ExplainWhich, FitOptions, Model, ScoredPoint, WindowOptions};
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand_distr::{Distribution, Normal};

    use super::{WindowParams, WindowRepresentation};

    const PERIOD: usize = 50;
    const N_ROWS: usize = 2000;
    /// The flattened period: rows 1000 to 1049 (0-based).
    const PLANTED: std::ops::Range<usize> = 1000..1050;

    /// A noisy sine whose one period at `PLANTED` is flat at 0, a value
    /// the sine passes through twice per period: every planted point is
    /// normal alone, the run of them is not.
    fn flattened_sine(seed: u64) -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let noise = Normal::new(0.0, 0.05).expect("valid spread");
        (0..N_ROWS)
            .map(|row| {
                let clean = if PLANTED.contains(&row) {
                    0.0
                } else {
                    (row as f64 * std::f64::consts::TAU / PERIOD as f64).sin()
                };
                clean + noise.sample(&mut rng)
            })
            .collect()
    }

    fn windowed(detector: &str, width: usize) -> FitOptions {
        FitOptions {
            detector: detector_by_name(detector).unwrap(),
            window: Some(WindowOptions {
                params: WindowParams {
                    width,
                    stride: 1,
                    representation: WindowRepresentation::Raw,
                },
                time: None,
                entity: None,
            }),
            ..FitOptions::default()
        }
    }

    fn detect(data: &Frame, options: &FitOptions) -> (Model, Vec<ScoredPoint>) {
        let model = Model::fit_frame(data, options, "test", data.n_rows() as u64).unwrap();
        let points = model
            .scorer(&data.schema)
            .unwrap()
            .in_sample()
            .score(data, ExplainWhich::Anomalies)
            .unwrap();
        (model, points)
    }

    fn planted_auc(points: &[ScoredPoint]) -> f64 {
        let labels: Vec<bool> = (0..points.len())
            .map(|row| PLANTED.contains(&row))
            .collect();
        let scores: Vec<f64> = points.iter().map(|point| point.score).collect();
        roc_auc(&labels, &scores).unwrap()
    }

    #[test]
    fn a_flattened_period_is_found_by_windows_and_missed_by_single_points() {
        let data = Frame::from_columns(vec![("value", ColumnData::Number(flattened_sine(7)))]);
        for detector in ["iforest", "knn"] {
            let plain = FitOptions {
                detector: detector_by_name(detector).unwrap(),
                ..FitOptions::default()
            };
            let (_, points) = detect(&data, &plain);
            let auc = planted_auc(&points);
            // Alone, the planted points sit in the sine's range: no better
            // than chance (0.5), and none of them is flagged.
            assert!(auc < 0.6, "{detector} without windows: ROC-AUC {auc}");
            assert!(
                PLANTED.clone().all(|row| !points[row].is_anomaly),
                "{detector} without windows flags a planted point"
            );

            // One period per window: a run longer than the window would
            // give many all-flat windows, close to each other, which a
            // neighbour method then takes for a normal cluster.
            let (_, points) = detect(&data, &windowed(detector, PERIOD));
            let auc = planted_auc(&points);
            assert!(auc > 0.95, "{detector} with windows: ROC-AUC {auc}");
            // The highest score lies in a window that overlaps the
            // flattened period, and the middle of the period is flagged.
            let top = points
                .iter()
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .unwrap();
            let span = top.window.as_ref().unwrap();
            let first = PLANTED.start as u64 + 1;
            let last = PLANTED.end as u64;
            assert!(
                span.first_row <= last && span.last_row >= first,
                "{detector}: {span:?}"
            );
            assert!(points[PLANTED.start + 25].is_anomaly, "{detector}");
        }
    }

    #[test]
    fn flagged_windows_are_explained_by_feature_and_lag() {
        let values = flattened_sine(11);
        let other: Vec<f64> = (0..N_ROWS).map(|row| (row % 7) as f64).collect();
        let data = Frame::from_columns(vec![
            ("value", ColumnData::Number(values)),
            ("steps", ColumnData::Number(other)),
        ]);
        let (_, points) = detect(&data, &windowed("iforest", PERIOD));
        let flagged = &points[PLANTED.start + 25];
        assert!(flagged.is_anomaly);
        let explanation = flagged.explanation.as_ref().unwrap();
        let span = flagged.window.as_ref().unwrap();
        // The regular counter never changes; the flattened sine carries
        // the anomaly.
        assert_eq!(explanation.contributions[0].column, "value");
        assert!(span.lags[0].name.starts_with("value[t"), "{:?}", span.lags);
        assert!(
            explanation.reason.starts_with(&format!(
                "the window of rows {} to {}",
                span.first_row, span.last_row
            )),
            "{}",
            explanation.reason
        );
        assert_eq!(span.last_row - span.first_row, PERIOD as u64 - 1);
        // Unflagged points carry their span but no explanation.
        assert!(points[10].explanation.is_none() && points[10].window.is_some());
    }

    #[test]
    fn windowed_model_round_trips_and_windows_new_data_the_same_way() {
        let data = Frame::from_columns(vec![("value", ColumnData::Number(flattened_sine(3)))]);
        let options = windowed("iforest", 16);
        let model = Model::fit_frame(&data, &options, "test", N_ROWS as u64).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("windows.oddity");
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.options.window, options.window);
        let fresh = Frame::from_columns(vec![("value", ColumnData::Number(flattened_sine(4)))]);
        let score = |model: &Model| {
            model
                .scorer(&fresh.schema)
                .unwrap()
                .score(&fresh, ExplainWhich::All)
                .unwrap()
        };
        assert_eq!(score(&model), score(&loaded));
        let header = crate::model_file::read(&path).unwrap().0;
        assert_eq!(header["window"]["width"], 16);
        assert_eq!(header["window"]["representation"], "raw");
        assert_eq!(model.training.n_features, 16);
    }

    #[test]
    fn models_written_before_windows_still_load() {
        // A version-1 file is the model layout alone, with no window
        // options after it.
        let data = Frame::from_columns(vec![("value", ColumnData::Number(flattened_sine(5)))]);
        let model = Model::fit_frame(&data, &FitOptions::default(), "test", 2000).unwrap();
        let mut header = model.header();
        header["payload_version"] = 1.into();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.oddity");
        let payload = postcard::to_stdvec(&model).unwrap();
        crate::model_file::write(&path, &header, &payload).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.options.window, None);
        let score = |model: &Model| {
            model
                .scorer(&data.schema)
                .unwrap()
                .score(&data, ExplainWhich::None)
                .unwrap()
        };
        assert_eq!(score(&model), score(&loaded));
    }

    #[test]
    fn an_input_shorter_than_the_window_is_an_error_naming_the_lengths() {
        let data = Frame::from_columns(vec![("value", ColumnData::Number(vec![1.0; 10]))]);
        let error = Model::fit_frame(&data, &windowed("iforest", 16), "short.csv", 10).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the input has 10 rows, fewer than the window width 16"
        );
        let long = Frame::from_columns(vec![("value", ColumnData::Number(flattened_sine(1)))]);
        let model = Model::fit_frame(&long, &windowed("iforest", 16), "t", 2000).unwrap();
        let error = model
            .scorer(&data.schema)
            .unwrap()
            .score(&data, ExplainWhich::None)
            .unwrap_err();
        assert!(error.to_string().contains("fewer than the window width 16"));
    }

    #[test]
    fn entities_are_separate_series_and_time_and_entity_are_no_features() {
        // Two hosts' sines interleaved row by row, in shuffled time order
        // within the file: sorted by time per host, each is a clean sine,
        // so no window should stand out much.
        let n = 600;
        let mut host = Vec::new();
        let mut time = Vec::new();
        let mut value = Vec::new();
        for step in 0..n {
            for (index, name) in ["a", "b"].iter().enumerate() {
                // Reverse the time order in the file for host b.
                let t = if index == 0 { step } else { n - 1 - step };
                host.push(Some((*name).to_string()));
                time.push(t as f64);
                value.push((t as f64 * std::f64::consts::TAU / 40.0).sin() + index as f64);
            }
        }
        let data = Frame::from_columns(vec![
            ("host", ColumnData::Category(host)),
            ("t", ColumnData::Number(time)),
            ("value", ColumnData::Number(value)),
        ]);
        let mut options = windowed("knn", 10);
        if let Some(window) = &mut options.window {
            window.time = Some("t".into());
            window.entity = Some("host".into());
        }
        let (model, points) = detect(&data, &options);
        assert_eq!(model.training.n_columns, 1);
        assert_eq!(model.training.n_features, 10);
        for point in &points {
            let span = point.window.as_ref().unwrap();
            // Rows alternate between hosts: a window of one host holds
            // rows of one parity only.
            assert_eq!(span.first_row % 2, span.last_row % 2, "{point:?}");
            assert_eq!(span.first_row % 2, point.row % 2, "{point:?}");
        }
        // Too few rows for one host is named.
        let mut short = options.clone();
        if let Some(window) = &mut short.window {
            window.params.width = 700;
        }
        let error = Model::fit_frame(&data, &short, "t", 1200).unwrap_err();
        assert_eq!(
            error.to_string(),
            "entity \"a\" has 600 rows, fewer than the window width 700"
        );
    }
}
