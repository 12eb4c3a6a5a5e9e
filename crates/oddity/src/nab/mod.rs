//! The Numenta Anomaly Benchmark (NAB) v1.1 scorer.
//!
//! NAB scores a streaming detector on 58 labelled time series. Each series
//! has anomaly windows; a detector flags a point when its anomaly score is
//! at least a threshold. This module reproduces NAB's sweeper
//! (`nab/sweeper.py` at upstream commit `ea702d7`) point for point:
//!
//! - **Windows.** Only the first flagged point in a window counts. It earns
//!   `A_TP * sigma(p) / sigma(-1)`, where `p = -(end - i + 1) / width` is its
//!   position relative to the window end (`-1` at the window start) and
//!   `sigma(x) = 2 / (1 + e^(5x)) - 1` is NAB's scaled sigmoid, so a
//!   detection at the start earns exactly `A_TP` and later ones less. The
//!   other flagged points of that window add nothing, but still count as
//!   true positives. A window with no flagged point costs `A_FN`.
//! - **False positives.** A flagged point outside every window costs
//!   `A_FP * sigma(d)`, where `d = (i - end) / (width - 1)` is its distance
//!   past the end of the preceding window in that window's widths (a point
//!   just past a window is barely penalised, one far past costs `A_FP`;
//!   beyond three widths `sigma` is `-1`). Points before the first window
//!   cost the full `A_FP`.
//! - **Probation.** The first `min(floor(0.15 n), 0.15 * 5000)` points of a
//!   series of `n` points (at most 750) are ignored: neither rewarded nor
//!   penalised, and a window lying wholly inside them is not a false negative.
//!   [`probationary_len`] does the arithmetic as NAB does, in `f64`.
//! - **Profiles.** The weights come from a [`Profile`]; NAB ships three
//!   ([`Profile::nab_profiles`]). `A_TN` is carried along but, as in NAB,
//!   never used.
//! - **Normalisation.** A corpus's raw score is the sum over its series;
//!   [`normalised_score`] maps it to `100 * (raw - null) / (perfect - null)`,
//!   where `null` is the score of a detector that never fires and `perfect`
//!   is `A_TP` times the number of windows (a detector that flags every
//!   window at its start).
//! - **Thresholds.** [`CorpusSweep::optimise_threshold`] is NAB v1.1's
//!   optimiser: an exhaustive sweep over every distinct anomaly score in
//!   the corpus (not the older hill climb), which keeps the best total raw
//!   score, the highest threshold winning ties.
//!
//! Timestamps are milliseconds since the Unix epoch, as elsewhere in oddity;
//! NAB's naive timestamps are read as UTC. The loaders ([`load_windows`],
//! [`load_profiles`], [`load_thresholds`], [`load_corpus_results`]) read the
//! files of an NAB checkout; scoring itself needs no files.
//!
//! ```
//! use oddity::nab::{CorpusSweep, CorpusWindows, Profile, SeriesResult, Window};
//! use std::collections::BTreeMap;
//!
//! // Ten points a minute apart; one window over points 4 to 6.
//! let timestamps: Vec<i64> = (0..10).map(|i| i * 60_000).collect();
//! let mut scores = vec![0.0; 10];
//! scores[4] = 0.9; // flagged at the window start
//! let window = Window { start: timestamps[4], end: timestamps[6] };
//! let windows = CorpusWindows::new(BTreeMap::from([("a.csv".to_string(), vec![window])]))?;
//! let results = BTreeMap::from([("a.csv".to_string(), SeriesResult { timestamps, scores })]);
//!
//! // No probation in this tiny example; NAB uses oddity::nab::PROBATIONARY_PERCENT.
//! let corpus = CorpusSweep::new(&results, &windows, 0.0)?;
//! let score = corpus.score(&Profile::standard(), 0.5);
//! assert_eq!(score.raw, 1.0);
//! assert_eq!(score.normalised, 100.0);
//! # Ok::<(), oddity::nab::NabError>(())
//! ```

mod error;
mod load;
mod run;
mod sweep;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use error::NabError;
pub use load::{
    PublishedScore, Thresholds, load_corpus_data, load_corpus_results, load_profiles,
    load_scoreboard, load_series_data, load_series_result, load_thresholds, load_windows,
};
pub use run::{NabContext, NabDetectorParams, SeriesData};
pub use sweep::{
    CorpusScore, CorpusSweep, Counts, SeriesSweep, ThresholdScore, normalised_score,
    probationary_len, scaled_sigmoid,
};

/// Share of each series that NAB leaves unscored at its start
/// (`probationaryPercent` in NAB's runner).
pub const PROBATIONARY_PERCENT: f64 = 0.15;

/// Series length at which the probationary period stops growing: NAB caps
/// it at `probationary_percent * 5000` points.
pub const PROBATIONARY_CAP_POINTS: f64 = 5000.0;

/// An application profile: the weights NAB gives each outcome.
///
/// All weights are finite and non-negative, and `true_positive` is positive
/// so that the perfect score exceeds the null score; [`Profile::new`]
/// checks this once. Costs are given as positive numbers and subtracted by
/// the scorer, as in NAB's `profiles.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    name: String,
    true_positive: f64,
    false_positive: f64,
    true_negative: f64,
    false_negative: f64,
}

impl Profile {
    /// A profile with the given weights (`tpWeight`, `fpWeight`, `tnWeight`,
    /// `fnWeight` in NAB's cost matrix).
    ///
    /// # Errors
    ///
    /// [`NabError::InvalidProfile`] when a weight is negative or not finite,
    /// or `true_positive` is zero.
    pub fn new(
        name: impl Into<String>,
        true_positive: f64,
        false_positive: f64,
        true_negative: f64,
        false_negative: f64,
    ) -> Result<Self, NabError> {
        let name = name.into();
        let weights = [
            ("true_positive", true_positive),
            ("false_positive", false_positive),
            ("true_negative", true_negative),
            ("false_negative", false_negative),
        ];
        for (weight, value) in weights {
            let positive_needed = weight == "true_positive";
            if !value.is_finite() || value < 0.0 || (positive_needed && value == 0.0) {
                let limit = if positive_needed {
                    "positive"
                } else {
                    "non-negative"
                };
                return Err(NabError::InvalidProfile {
                    profile: name,
                    weight,
                    limit,
                    value,
                });
            }
        }

        Ok(Profile {
            name,
            true_positive,
            false_positive,
            true_negative,
            false_negative,
        })
    }

    /// NAB's `standard` profile: `A_TP = 1`, `A_FP = 0.11`, `A_FN = 1`.
    pub fn standard() -> Self {
        Self::nab("standard", 0.11, 1.0)
    }

    /// NAB's `reward_low_FP_rate` profile: false positives cost twice as
    /// much as in the standard one (`A_FP = 0.22`).
    pub fn reward_low_fp_rate() -> Self {
        Self::nab("reward_low_FP_rate", 0.22, 1.0)
    }

    /// NAB's `reward_low_FN_rate` profile: a missed window costs twice as
    /// much as in the standard one (`A_FN = 2`).
    pub fn reward_low_fn_rate() -> Self {
        Self::nab("reward_low_FN_rate", 0.11, 2.0)
    }

    /// The three profiles NAB publishes scores for, in the order of its
    /// scoreboard: standard, reward_low_FP_rate, reward_low_FN_rate.
    pub fn nab_profiles() -> [Self; 3] {
        [
            Self::standard(),
            Self::reward_low_fp_rate(),
            Self::reward_low_fn_rate(),
        ]
    }

    fn nab(name: &str, false_positive: f64, false_negative: f64) -> Self {
        Profile {
            name: name.to_string(),
            true_positive: 1.0,
            false_positive,
            true_negative: 1.0,
            false_negative,
        }
    }

    /// The profile's name, as in NAB's `profiles.json` and result files.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reward for a window flagged at its very start (`A_TP`).
    pub fn true_positive(&self) -> f64 {
        self.true_positive
    }

    /// Cost of a false positive far from any window (`A_FP`).
    pub fn false_positive(&self) -> f64 {
        self.false_positive
    }

    /// `A_TN`; NAB's scoring never uses it.
    pub fn true_negative(&self) -> f64 {
        self.true_negative
    }

    /// Cost of a window with no flagged point (`A_FN`).
    pub fn false_negative(&self) -> f64 {
        self.false_negative
    }
}

/// An anomaly window: the points whose timestamps lie from `start` to `end`,
/// both included, in milliseconds since the Unix epoch.
///
/// As in NAB, both ends must be timestamps of the series it is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// The anomaly windows of every series of a corpus (NAB's
/// `combined_windows.json`), keyed by the series' path relative to the data
/// folder, such as `realKnownCause/nyc_taxi.csv`.
///
/// Within a series, windows are in time order and disjoint, and each
/// starts no later than it ends; [`CorpusWindows::new`] checks this once.
/// A series may have no windows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorpusWindows {
    series: BTreeMap<String, Vec<Window>>,
}

impl CorpusWindows {
    /// Checks and wraps windows keyed by series.
    ///
    /// # Errors
    ///
    /// [`NabError::InvalidWindows`] naming the series and window when a
    /// window ends before it starts or does not start after the previous
    /// window's end.
    pub fn new(series: BTreeMap<String, Vec<Window>>) -> Result<Self, NabError> {
        for (name, windows) in &series {
            check_windows(name, windows)?;
        }
        Ok(CorpusWindows { series })
    }

    /// The windows of one series, or `None` for a series not in the corpus.
    pub fn get(&self, series: &str) -> Option<&[Window]> {
        self.series.get(series).map(Vec::as_slice)
    }

    /// Series names and their windows, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Window])> {
        self.series
            .iter()
            .map(|(name, windows)| (name.as_str(), windows.as_slice()))
    }

    /// Number of series, including those without windows.
    pub fn n_series(&self) -> usize {
        self.series.len()
    }

    /// Number of windows over all series: what NAB's perfect score counts.
    pub fn n_windows(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }
}

/// Checks that windows are well formed and in order; see [`CorpusWindows`].
pub(crate) fn check_windows(series: &str, windows: &[Window]) -> Result<(), NabError> {
    let mut previous_end = None;
    for (window_idx, window) in windows.iter().enumerate() {
        let problem = if window.end < window.start {
            Some("ends before it starts")
        } else if previous_end.is_some_and(|end| window.start <= end) {
            Some("does not start after the previous window ends")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(NabError::InvalidWindows {
                series: series.to_string(),
                window_idx,
                problem,
            });
        }
        previous_end = Some(window.end);
    }
    Ok(())
}

/// A detector's output for one series: one anomaly score per point.
///
/// NAB's detectors write scores in `[0, 1]`; the scorer only needs them to
/// be finite, and both vectors to have the same length, which
/// [`SeriesSweep::new`] checks. Timestamps are normally increasing, but NAB
/// tolerates repeats and steps back, and so does the scorer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesResult {
    /// Milliseconds since the Unix epoch, one per point.
    pub timestamps: Vec<i64>,
    /// Anomaly scores, one per point; a point is flagged when its score is
    /// at least the threshold.
    pub scores: Vec<f64>,
}
