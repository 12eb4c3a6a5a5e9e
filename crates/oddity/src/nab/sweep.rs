//! NAB's sweeper: per-point weights, scoring at a threshold, and the sweep
//! over every threshold.

use std::collections::{BTreeMap, HashMap};

use super::{CorpusWindows, NabError, PROBATIONARY_CAP_POINTS, Profile, SeriesResult, Window};

/// Threshold of the first sweep row, at which nothing is flagged: NAB starts
/// its sweep at 1.1, above every score a NAB detector writes.
const SWEEP_START_THRESHOLD: f64 = 1.1;

/// Beyond this many window widths past a window, a false positive costs
/// the full `A_FP` (NAB cuts its sigmoid off there).
const SIGMOID_CUTOFF: f64 = 3.0;

/// Steepness of NAB's scaled sigmoid.
const SIGMOID_STEEPNESS: f64 = 5.0;

/// NAB's scaled sigmoid, `2 / (1 + e^(5x)) - 1`, and `-1` beyond `x > 3`.
///
/// It falls from about `0.987` at `x = -1` (a window's start) through `0`
/// at `x = 0` (its end) towards `-1` past it.
pub fn scaled_sigmoid(x: f64) -> f64 {
    if x > SIGMOID_CUTOFF {
        -1.0
    } else {
        2.0 * sigmoid(-SIGMOID_STEEPNESS * x) - 1.0
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Number of points at the start of a series of `n_points` that NAB leaves
/// unscored: `min(floor(p * n_points), p * 5000)` for a share `p`, computed
/// in `f64` as NAB does (a fractional cap rounds up, since NAB scores the
/// points whose index is at least the bound).
///
/// For NAB's `p = 0.15` this is 604 points of 4032 and 750 of 22695.
pub fn probationary_len(n_points: usize, probationary_percent: f64) -> usize {
    let by_share = (probationary_percent * n_points as f64).floor();
    let cap = probationary_percent * PROBATIONARY_CAP_POINTS;
    by_share.min(cap).ceil() as usize
}

/// `100 * (raw - null) / (perfect - null)`: NAB's normalised score, 0 for a
/// detector that never fires and 100 for a perfect one.
pub fn normalised_score(raw: f64, null: f64, perfect: f64) -> f64 {
    100.0 * (raw - null) / (perfect - null)
}

/// Outcome counts in points, not windows, over the scored (non-probationary)
/// points, as in NAB's `*_scores.csv` files: every flagged point in a window
/// is a true positive even though only the first one earns a reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub true_positives: usize,
    pub false_positives: usize,
    pub true_negatives: usize,
    pub false_negatives: usize,
}

impl Counts {
    /// Number of scored points (NAB's `Total_Count` in its newer files).
    pub fn n_points(&self) -> usize {
        self.true_positives + self.false_positives + self.true_negatives + self.false_negatives
    }

    fn add(&mut self, other: &Counts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.true_negatives += other.true_negatives;
        self.false_negatives += other.false_negatives;
    }
}

/// A raw score at one threshold: one row of NAB's sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    /// Points with an anomaly score at least this are flagged.
    pub threshold: f64,
    /// Raw NAB score: window rewards and costs plus false-positive costs.
    pub score: f64,
    pub counts: Counts,
}

/// A detector's score over a corpus at one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusScore {
    pub threshold: f64,
    /// Sum of the series' raw scores.
    pub raw: f64,
    /// Raw score of a detector that never fires.
    pub null: f64,
    /// Raw score of a detector that flags every window at its start.
    pub perfect: f64,
    /// [`normalised_score`] of `raw`: what NAB's scoreboard shows.
    pub normalised: f64,
    /// Counts summed over the series.
    pub counts: Counts,
    /// Each series' own score, in name order.
    pub series: Vec<(String, ThresholdScore)>,
}

/// One scored point: its anomaly score and what flagging it would be worth
/// before the profile's weights.
#[derive(Debug, Clone, Copy)]
struct SweepPoint {
    anomaly_score: f64,
    /// NAB's unweighted score: the scaled sigmoid of the point's position in
    /// its window, or of its distance past the preceding window.
    position_score: f64,
    /// Index of the window holding the point, if any.
    window: Option<usize>,
}

impl SweepPoint {
    /// NAB's weighted score; `max_tp` is `scaled_sigmoid(-1)`. The operation
    /// order follows NAB's so the floats agree.
    fn weight(&self, profile: &Profile, max_tp: f64) -> f64 {
        match self.window {
            Some(_) => self.position_score * profile.true_positive / max_tp,
            None => self.position_score * profile.false_positive,
        }
    }
}

/// One series prepared for scoring: each scored point's anomaly score and
/// unweighted NAB score (NAB's `calcSweepScore`).
///
/// Built once in O(n + w log n) for n points and w windows; scoring at a
/// threshold is then O(n) for any profile, and the sweep over all
/// thresholds O(n log n).
#[derive(Debug, Clone)]
pub struct SeriesSweep {
    /// The non-probationary points, in time order.
    points: Vec<SweepPoint>,
    n_points: usize,
    /// For each window, whether any of its points is scored; a window lying
    /// wholly inside the probationary period is neither hit nor missed.
    window_scored: Vec<bool>,
}

impl SeriesSweep {
    /// Lines a series' scores up with its windows and leaves out the first
    /// [`probationary_len`] points. `series` names it in errors.
    ///
    /// Timestamps need not increase: NAB's own series repeat timestamps
    /// at daylight-saving changes and step back once. As in NAB, a window
    /// runs from the first point carrying its start timestamp to the first
    /// point carrying its end timestamp. A false positive after a one-point
    /// window is treated as far past it (full cost): NAB divides by zero
    /// there.
    ///
    /// # Errors
    ///
    /// A probationary share outside `[0, 1]`, timestamps and scores of
    /// different lengths, a non-finite score, malformed windows, a window
    /// edge that is not a timestamp of the series, or windows whose points
    /// are out of order or overlap.
    pub fn new(
        series: &str,
        result: &SeriesResult,
        windows: &[Window],
        probationary_percent: f64,
    ) -> Result<Self, NabError> {
        check_probationary_percent(probationary_percent)?;
        check_result(series, result)?;
        super::check_windows(series, windows)?;
        let bounds = window_bounds(series, &result.timestamps, windows)?;

        let n_points = result.timestamps.len();
        let first_scored = probationary_len(n_points, probationary_percent);
        let mut points = Vec::with_capacity(n_points.saturating_sub(first_scored));
        let mut next_window = 0;
        let mut current: Option<usize> = None;
        let mut previous: Option<usize> = None;
        for (point_idx, &anomaly_score) in result.scores.iter().enumerate() {
            if bounds
                .get(next_window)
                .is_some_and(|&(start, _)| start == point_idx)
            {
                current = Some(next_window);
                next_window += 1;
            }

            let position_score = match (current, previous) {
                (Some(window), _) => {
                    let (start, end) = bounds[window];
                    let width = (end - start + 1) as f64;
                    scaled_sigmoid(-((end - point_idx + 1) as f64) / width)
                }
                (None, Some(window)) => {
                    let (start, end) = bounds[window];
                    let width = (end - start + 1) as f64;
                    scaled_sigmoid((point_idx - end) as f64 / (width - 1.0))
                }
                (None, None) => -1.0,
            };
            if point_idx >= first_scored {
                points.push(SweepPoint {
                    anomaly_score,
                    position_score,
                    window: current,
                });
            }

            if let Some(window) = current
                && bounds[window].1 == point_idx
            {
                previous = current;
                current = None;
            }
        }

        let window_scored = bounds.iter().map(|&(_, end)| end >= first_scored).collect();
        tracing::trace!(
            series,
            n_points,
            first_scored,
            "prepared series for NAB scoring"
        );
        Ok(SeriesSweep {
            points,
            n_points,
            window_scored,
        })
    }

    /// Number of points in the series, probationary ones included.
    pub fn n_points(&self) -> usize {
        self.n_points
    }

    /// Number of points left out as probationary.
    pub fn n_probationary(&self) -> usize {
        self.n_points - self.points.len()
    }

    /// Number of windows with at least one scored point: those a detector
    /// that never fires is charged for.
    pub fn n_scored_windows(&self) -> usize {
        self.window_scored.iter().filter(|&&scored| scored).count()
    }

    /// Raw score of a detector that never fires: `-A_FN` per scored window.
    pub fn null_score(&self, profile: &Profile) -> f64 {
        self.initial_window_parts(profile).iter().sum()
    }

    /// The series' raw score when points scoring at least `threshold` are
    /// flagged (a NaN threshold flags nothing). O(n).
    pub fn score(&self, profile: &Profile, threshold: f64) -> ThresholdScore {
        let max_tp = scaled_sigmoid(-1.0);
        let mut window_parts = self.initial_window_parts(profile);
        let mut false_positive_sum = 0.0;
        let mut counts = Counts::default();
        for point in &self.points {
            let flagged = point.anomaly_score >= threshold;
            match (point.window, flagged) {
                (Some(window), true) => {
                    counts.true_positives += 1;
                    let part = &mut window_parts[window];
                    *part = part.max(point.weight(profile, max_tp));
                }
                (Some(_), false) => counts.false_negatives += 1,
                (None, true) => {
                    counts.false_positives += 1;
                    false_positive_sum += point.weight(profile, max_tp);
                }
                (None, false) => counts.true_negatives += 1,
            }
        }

        ThresholdScore {
            threshold,
            score: false_positive_sum + window_parts.iter().sum::<f64>(),
            counts,
        }
    }

    /// The series' score at every distinct anomaly score, highest threshold
    /// first; see [`CorpusSweep::scores_by_threshold`].
    pub fn scores_by_threshold(&self, profile: &Profile) -> Vec<ThresholdScore> {
        let max_tp = scaled_sigmoid(-1.0);
        let entries = self
            .points
            .iter()
            .map(|point| {
                (
                    point.anomaly_score,
                    point.weight(profile, max_tp),
                    point.window,
                )
            })
            .collect();
        sweep(entries, self.initial_window_parts(profile))
    }

    /// `-A_FN` for each scored window, 0 for the others (which no point
    /// can reach).
    fn initial_window_parts(&self, profile: &Profile) -> Vec<f64> {
        self.window_scored
            .iter()
            .map(|&scored| if scored { -profile.false_negative } else { 0.0 })
            .collect()
    }
}

/// A whole corpus prepared for scoring: one [`SeriesSweep`] per series.
#[derive(Debug, Clone)]
pub struct CorpusSweep {
    /// In name order.
    series: Vec<(String, SeriesSweep)>,
    n_windows: usize,
}

impl CorpusSweep {
    /// Prepares every series of `results` against its windows.
    ///
    /// Results and windows must cover the same series, as when NAB scores
    /// a detector on its whole corpus; the perfect score counts every
    /// window of `windows`.
    ///
    /// # Errors
    ///
    /// Any [`SeriesSweep::new`] error; [`NabError::UnknownSeries`] or
    /// [`NabError::MissingSeries`] when the two cover different series;
    /// [`NabError::NoWindows`] when there is no window at all.
    #[tracing::instrument(level = "debug", skip_all, fields(n_series = results.len()))]
    pub fn new(
        results: &BTreeMap<String, SeriesResult>,
        windows: &CorpusWindows,
        probationary_percent: f64,
    ) -> Result<Self, NabError> {
        if let Some(series) = results.keys().find(|name| windows.get(name).is_none()) {
            return Err(NabError::UnknownSeries {
                series: series.clone(),
            });
        }
        if windows.n_windows() == 0 {
            return Err(NabError::NoWindows);
        }

        let mut series = Vec::with_capacity(results.len());
        for (name, windows) in windows.iter() {
            let Some(result) = results.get(name) else {
                return Err(NabError::MissingSeries {
                    series: name.to_string(),
                });
            };
            let sweep = SeriesSweep::new(name, result, windows, probationary_percent)?;
            series.push((name.to_string(), sweep));
        }
        Ok(CorpusSweep {
            series,
            n_windows: windows.n_windows(),
        })
    }

    /// Series names and their sweeps, in name order.
    pub fn series(&self) -> impl Iterator<Item = (&str, &SeriesSweep)> {
        self.series
            .iter()
            .map(|(name, sweep)| (name.as_str(), sweep))
    }

    /// Raw score of a detector that never fires.
    pub fn null_score(&self, profile: &Profile) -> f64 {
        self.series
            .iter()
            .map(|(_, sweep)| sweep.null_score(profile))
            .sum()
    }

    /// Raw score of a detector that flags every window at its start:
    /// `A_TP` times the number of windows, as NAB counts it.
    pub fn perfect_score(&self, profile: &Profile) -> f64 {
        self.n_windows as f64 * profile.true_positive
    }

    /// The corpus score when points scoring at least `threshold` are
    /// flagged, with each series' part. O(n) in the corpus size.
    pub fn score(&self, profile: &Profile, threshold: f64) -> CorpusScore {
        let series: Vec<(String, ThresholdScore)> = self
            .series
            .iter()
            .map(|(name, sweep)| (name.clone(), sweep.score(profile, threshold)))
            .collect();
        let raw = series.iter().map(|(_, score)| score.score).sum();
        let mut counts = Counts::default();
        for (_, score) in &series {
            counts.add(&score.counts);
        }

        let null = self.null_score(profile);
        let perfect = self.perfect_score(profile);
        CorpusScore {
            threshold,
            raw,
            null,
            perfect,
            normalised: normalised_score(raw, null, perfect),
            counts,
            series,
        }
    }

    /// The corpus raw score at every distinct anomaly score of its scored
    /// points, highest threshold first (NAB's `calcScoreByThreshold`).
    ///
    /// The first row flags nothing; its threshold is 1.1 as in NAB, or
    /// infinity when some score reaches 1.1. Each later row's threshold is
    /// an anomaly score, and flags every point scoring at least that.
    /// Scores are kept as running sums, so they may differ from
    /// [`CorpusSweep::score`] in the last few bits. O(n log n).
    pub fn scores_by_threshold(&self, profile: &Profile) -> Vec<ThresholdScore> {
        let max_tp = scaled_sigmoid(-1.0);
        let mut entries = Vec::new();
        let mut window_parts = Vec::new();
        for (_, sweep) in &self.series {
            let offset = window_parts.len();
            entries.extend(sweep.points.iter().map(|point| {
                let weight = point.weight(profile, max_tp);
                (
                    point.anomaly_score,
                    weight,
                    point.window.map(|w| w + offset),
                )
            }));
            window_parts.extend(sweep.initial_window_parts(profile));
        }
        sweep(entries, window_parts)
    }

    /// NAB v1.1's threshold optimiser: the threshold among
    /// [`CorpusSweep::scores_by_threshold`] with the highest raw score (the
    /// highest such threshold when several tie), scored at that threshold.
    pub fn optimise_threshold(&self, profile: &Profile) -> CorpusScore {
        let rows = self.scores_by_threshold(profile);
        let mut best = rows[0];
        for row in &rows[1..] {
            if row.score > best.score {
                best = *row;
            }
        }
        tracing::debug!(
            profile = profile.name(),
            n_thresholds = rows.len(),
            threshold = best.threshold,
            score = best.score,
            "optimised the NAB threshold"
        );
        self.score(profile, best.threshold)
    }
}

/// Sweeps the threshold down through every distinct anomaly score.
/// `entries` holds each scored point's anomaly score, weight and window;
/// `window_parts` each window's starting part (`-A_FN`, or 0 for a window
/// no point reaches). Never empty: the first row flags nothing.
fn sweep(
    mut entries: Vec<(f64, f64, Option<usize>)>,
    mut window_parts: Vec<f64>,
) -> Vec<ThresholdScore> {
    // Stable and descending, like NAB's sort; within a run of equal scores
    // the order does not change any recorded row.
    entries.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n_in_windows = entries.iter().filter(|entry| entry.2.is_some()).count();
    let mut counts = Counts {
        true_negatives: entries.len() - n_in_windows,
        false_negatives: n_in_windows,
        ..Counts::default()
    };
    let mut false_positive_sum = 0.0;
    let mut window_sum: f64 = window_parts.iter().sum();

    let start = match entries.first() {
        Some(&(top, _, _)) if top >= SWEEP_START_THRESHOLD => f64::INFINITY,
        _ => SWEEP_START_THRESHOLD,
    };
    let mut rows = Vec::new();
    let mut threshold = start;
    for (anomaly_score, weight, window) in entries {
        if anomaly_score != threshold {
            rows.push(ThresholdScore {
                threshold,
                score: false_positive_sum + window_sum,
                counts,
            });
            threshold = anomaly_score;
        }

        match window {
            Some(window) => {
                counts.true_positives += 1;
                counts.false_negatives -= 1;
                let part = &mut window_parts[window];
                if weight > *part {
                    window_sum += weight - *part;
                    *part = weight;
                }
            }
            None => {
                counts.false_positives += 1;
                counts.true_negatives -= 1;
                false_positive_sum += weight;
            }
        }
    }
    rows.push(ThresholdScore {
        threshold,
        score: false_positive_sum + window_sum,
        counts,
    });
    rows
}

fn check_probationary_percent(value: f64) -> Result<(), NabError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(NabError::InvalidProbationaryPercent { value })
    }
}

fn check_result(series: &str, result: &SeriesResult) -> Result<(), NabError> {
    let SeriesResult { timestamps, scores } = result;
    if timestamps.len() != scores.len() {
        return Err(NabError::LengthMismatch {
            series: series.to_string(),
            n_timestamps: timestamps.len(),
            n_scores: scores.len(),
        });
    }
    if let Some(point_idx) = scores.iter().position(|score| !score.is_finite()) {
        return Err(NabError::NonFiniteScore {
            series: series.to_string(),
            point_idx,
            value: scores[point_idx],
        });
    }
    Ok(())
}

/// Each window's first and last point index: the first point carrying each
/// edge's timestamp, as NAB's `timestamps.index` finds it.
fn window_bounds(
    series: &str,
    timestamps: &[i64],
    windows: &[Window],
) -> Result<Vec<(usize, usize)>, NabError> {
    let mut first_point: HashMap<i64, usize> = HashMap::with_capacity(timestamps.len());
    for (point_idx, &timestamp) in timestamps.iter().enumerate() {
        first_point.entry(timestamp).or_insert(point_idx);
    }
    let find = |window_idx: usize, edge: &'static str, timestamp: i64| {
        first_point
            .get(&timestamp)
            .copied()
            .ok_or_else(|| NabError::WindowNotInSeries {
                series: series.to_string(),
                window_idx,
                edge,
                timestamp: super::load::format_timestamp(timestamp),
            })
    };

    let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(windows.len());
    for (window_idx, window) in windows.iter().enumerate() {
        let start = find(window_idx, "start", window.start)?;
        let end = find(window_idx, "end", window.end)?;
        // Timestamps may repeat or step back, so the window's order in time
        // does not guarantee its order in the series.
        let problem = if end < start {
            Some("ends before it starts in the series")
        } else if bounds
            .last()
            .is_some_and(|&(_, previous_end)| start <= previous_end)
        {
            Some("does not start after the previous window ends in the series")
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
        bounds.push((start, end));
    }
    Ok(bounds)
}
