//! Per-feature empirical distribution functions of the training data,
//! shared by [`super::Ecod`] and [`super::Copod`].
//!
//! Both detectors ask, for each feature of a point, how far out its value
//! lies in that feature's training distribution: the left tail
//! `P(X <= x)` and the right tail `P(X >= x)`, counted over the training
//! values and turned into surprisal `-ln p`. They differ only in how they
//! combine the two tails with the sign of the feature's skewness, which is
//! why that combination is a closure handed to [`Ecdfs::score`].
//!
//! Semantics, chosen to reproduce PyOD's `column_ecdf`:
//!
//! - A tail probability is `count / n`, where `count` includes the value
//!   itself and every tie, so scoring the training points reproduces
//!   PyOD's `decision_scores_`.
//! - A value beyond the training range (count 0) gets `1 / (n + 1)`, the
//!   probability it would have if it joined the training data as its new
//!   extreme: finite, slightly more surprising than the most extreme
//!   training value, and the same for every value further out.
//! - Non-finite training values are left out of their feature's
//!   distribution; a NaN being scored has NaN tails, which makes the
//!   point's score NaN (missing, not normal). Infinities are ordinary
//!   values beyond the range.
//!
//! Storage: up to `max_exact_points` finite values per feature are kept
//! exactly: sorted, 8 bytes each, or, when values repeat so much that it
//! is smaller, as distinct values with their counts (24 bytes per distinct
//! value). Beyond `max_exact_points` a feature keeps a rank sketch:
//! distinct values whose ranks are at most 0.1 % of the nearer tail's
//! count apart, each with the exact number of training values below and
//! at or below it, interpolated linearly in between. Each tail
//! probability is then off by at most 0.1 % of itself (a surprisal error
//! of about 0.001), the 1000 most extreme values at either end are kept
//! exactly, and the sketch holds about `2000 (1 + ln(n / 2000))` values:
//! some 16 000 for `n` = 2 000 000.
//!
//! Fitting radix-sorts each feature, `O(n)` per feature with a constant
//! of six passes, one feature per rayon task. Scoring splits the points
//! into blocks of rows, one per rayon task; per feature, a block's values
//! are radix-sorted and then located among the training values by one
//! sweep of short steps (cheaper than a binary search per value, whose
//! probes miss the cache once the training data outgrow it). That is
//! `O(m + n · m / block)` per feature for `m` points, `O(m log n)` at
//! worst, and the result does not depend on the blocks.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{FitError, ParamError};

/// Default of `max_exact_points`: exact agreement with PyOD up to a
/// million training points, at 8 MB per feature.
pub(crate) const DEFAULT_MAX_EXACT_POINTS: usize = 1_000_000;

/// Smallest allowed `max_exact_points`: below this, a sketch of the
/// distribution is hardly smaller than the values themselves.
const MIN_MAX_EXACT_POINTS: usize = 10_000;

/// Largest gap, as a fraction of the rank's distance to the nearer end,
/// between two ranks a sketch keeps.
const SKETCH_RANK_TOLERANCE: f64 = 1e-3;

/// Most rows scored together by one rayon task. The block's values of
/// one feature are sorted and then located in the training values by one
/// sweep; the larger the block, the shorter the sweep's steps: at this
/// size, for a million training values, neighbours are about one cache
/// line apart. The block's sort buffers take 16 bytes per row (4 MB).
const MAX_SCORE_BLOCK_ROWS: usize = 131_072;

/// Fewest rows per block when there are threads to spare: below this the
/// sweeps' steps grow long.
const MIN_SCORE_BLOCK_ROWS: usize = 4096;

/// Below this many items a comparison sort beats the radix sort's fixed
/// cost of six 2048-bucket histograms.
const RADIX_SORT_MIN_ITEMS: usize = 2048;

/// Steps [`locate_near`] walks one by one before it gallops: a few cache
/// lines, beyond the usual gap between neighbouring values of a block.
const LINEAR_SCAN_STEPS: usize = 16;

/// Checks the `max_exact_points` parameter of ECOD and COPOD.
pub(crate) fn validate_max_exact_points(max_exact_points: usize) -> Result<(), ParamError> {
    if max_exact_points < MIN_MAX_EXACT_POINTS {
        return Err(ParamError::new(
            "max_exact_points",
            format!("must be at least {MIN_MAX_EXACT_POINTS}"),
            max_exact_points,
        ));
    }
    Ok(())
}

/// The sign of a feature's skewness, as PyOD takes it:
/// `sign(nan_to_num(scipy.stats.skew(x)))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Skew {
    /// The left tail is the longer one.
    Negative,
    /// Exactly symmetric, or too little variance to tell.
    Zero,
    /// The right tail is the longer one.
    Positive,
}

impl Skew {
    /// The sign of the biased sample skewness `m3 / m2^1.5`, computed as
    /// scipy does (sums in row order, `m3` as `(d * d) * d`), so that the
    /// sign agrees even for exactly symmetric data. Like scipy, a variance
    /// at or below `(eps * mean)^2` counts as none, and PyOD then reads the
    /// resulting NaN as zero. (numpy sums a lone column pairwise rather
    /// than in row order, so with a single feature a skewness within
    /// rounding error of zero can get the other sign than PyOD's.)
    fn of(values: &[f64]) -> Skew {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let (mut m2, mut m3) = (0.0, 0.0);
        for &value in values {
            let deviation = value - mean;
            let square = deviation * deviation;
            m2 += square;
            m3 += square * deviation;
        }
        let (m2, m3) = (m2 / n, m3 / n);
        if m2 <= (f64::EPSILON * mean).powi(2) {
            return Skew::Zero;
        }
        let skewness = m3 / m2.powf(1.5);
        if skewness > 0.0 {
            Skew::Positive
        } else if skewness < 0.0 {
            Skew::Negative
        } else {
            Skew::Zero
        }
    }
}

/// The surprisal of one value in its feature's training distribution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tails {
    /// `-ln P(X <= x)`.
    pub(crate) left: f64,
    /// `-ln P(X >= x)`.
    pub(crate) right: f64,
    /// The feature's skewness sign.
    pub(crate) skew: Skew,
}

/// The training distribution of every feature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Ecdfs {
    features: Vec<FeatureEcdf>,
}

impl Ecdfs {
    /// Sorts (or sketches) each feature's finite training values, one
    /// feature per rayon task.
    pub(crate) fn fit(
        points: ArrayView2<'_, f64>,
        max_exact_points: usize,
    ) -> Result<Ecdfs, FitError> {
        let (n_points, n_features) = points.dim();
        let not_enough = |reason| FitError::NotEnoughData {
            n_points,
            n_features,
            reason,
        };
        if n_points == 0 {
            return Err(not_enough("no points"));
        }
        if n_features == 0 {
            return Err(not_enough("no features"));
        }

        // One pass over the rows gathers every feature's values; reading
        // each column of a row-major matrix separately would read the
        // whole matrix once per feature.
        let mut columns: Vec<Vec<f64>> = (0..n_features)
            .map(|_| Vec::with_capacity(n_points))
            .collect();
        for row in points.rows() {
            for (column, &value) in columns.iter_mut().zip(row) {
                if value.is_finite() {
                    column.push(value);
                }
            }
        }
        let features: Option<Vec<FeatureEcdf>> = columns
            .into_par_iter()
            .map(|values| FeatureEcdf::fit(values, max_exact_points))
            .collect();
        let features = features.ok_or_else(|| not_enough("a feature has no finite values"))?;
        let n_sketched = features
            .iter()
            .filter(|ecdf| ecdf.n_values as usize > max_exact_points)
            .count();
        if n_sketched > 0 {
            tracing::debug!(
                n_sketched,
                n_features,
                max_exact_points,
                "sketching features with more training values than max_exact_points"
            );
        }
        Ok(Ecdfs { features })
    }

    pub(crate) fn n_features(&self) -> usize {
        self.features.len()
    }

    /// Sums `outlyingness` of every feature's tails, per row, in feature
    /// order; rows in parallel. A row of the wrong width scores NaN.
    pub(crate) fn score<F>(&self, points: ArrayView2<'_, f64>, outlyingness: F) -> Vec<f64>
    where
        F: Fn(Tails) -> f64 + Sync,
    {
        let (n_points, n_features) = points.dim();
        if n_features != self.features.len() {
            return vec![f64::NAN; n_points];
        }
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");

        // Enough blocks to keep every thread busy; the scores are the same
        // whatever the blocks.
        let block_rows = n_points
            .div_ceil(rayon::current_num_threads())
            .clamp(MIN_SCORE_BLOCK_ROWS, MAX_SCORE_BLOCK_ROWS);
        let mut scores = vec![0.0; n_points];
        scores
            .par_chunks_mut(block_rows)
            .zip(data.par_chunks(block_rows * n_features))
            .for_each(|(block_scores, block)| {
                let mut buffers = BlockBuffers::default();
                for (feature, ecdf) in self.features.iter().enumerate() {
                    buffers.load(block.iter().skip(feature).step_by(n_features));
                    ecdf.add_terms(&mut buffers, block_scores, &outlyingness);
                }
            });
        scores
    }

    /// Each feature's `outlyingness` for one point: the terms its score
    /// sums. NaN for a missing value; all zero for a point of the wrong
    /// width.
    pub(crate) fn terms<F>(&self, point: ArrayView1<'_, f64>, outlyingness: F) -> Vec<f64>
    where
        F: Fn(Tails) -> f64,
    {
        if point.len() != self.features.len() {
            return vec![0.0; self.features.len()];
        }
        self.features
            .iter()
            .zip(point.iter())
            .map(|(ecdf, &value)| outlyingness(ecdf.tails(value)))
            .collect()
    }
}

/// One feature's training distribution.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FeatureEcdf {
    /// Finite training values of the feature.
    n_values: u64,
    skew: Skew,
    storage: Storage,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Storage {
    /// Every finite training value, sorted: the compact form when values
    /// rarely repeat.
    Sorted(Vec<f64>),
    /// Distinct training values, sorted, each with the number of training
    /// values below it and at or below it: the compact form when values
    /// repeat a lot, and the sketch, which skips some distinct values.
    Grouped {
        values: Vec<f64>,
        below: Vec<u64>,
        at_or_below: Vec<u64>,
    },
}

impl FeatureEcdf {
    /// From a feature's finite training values in row order; `None` when
    /// there are none.
    fn fit(values: Vec<f64>, max_exact_points: usize) -> Option<FeatureEcdf> {
        if values.is_empty() {
            return None;
        }
        // Before sorting: the skewness sums run in row order, as numpy's do.
        let skew = Skew::of(&values);
        // Both conversions reuse the vector's memory.
        let mut keys: Vec<u64> = values.into_iter().map(order_key).collect();
        radix_sort(&mut keys, &mut Vec::new(), 64, |&key| key);
        let values: Vec<f64> = keys.into_iter().map(from_order_key).collect();

        let n_values = values.len();
        let storage = if n_values > max_exact_points {
            Storage::grouped(&values, SKETCH_RANK_TOLERANCE)
        } else {
            let n_distinct = 1 + values.windows(2).filter(|pair| pair[0] != pair[1]).count();
            // A group costs three numbers against one per value.
            if 3 * n_distinct < n_values {
                Storage::grouped(&values, 0.0)
            } else {
                Storage::Sorted(values)
            }
        };
        Some(FeatureEcdf {
            n_values: n_values as u64,
            skew,
            storage,
        })
    }

    /// The sorted values a binary search runs over.
    fn searched(&self) -> &[f64] {
        match &self.storage {
            Storage::Sorted(sorted) => sorted,
            Storage::Grouped { values, .. } => values,
        }
    }

    /// Adds the term of each of the block's loaded values to its row's
    /// score. The values are visited nearly in order, so each one's place
    /// among the training values is found from the previous one's: a
    /// sweep of short, cache-friendly steps instead of a full binary
    /// search per value.
    fn add_terms<F>(&self, buffers: &mut BlockBuffers, scores: &mut [f64], outlyingness: &F)
    where
        F: Fn(Tails) -> f64,
    {
        let searched = self.searched();
        let mut below = 0;
        for &(key, row) in &buffers.queries {
            let (value, row) = (from_order_key(key), row as usize);
            if !value.is_nan() {
                below = locate_near(searched, below, value);
            }
            // Stored, not added: the additions then run in row order,
            // without a load on the critical path of each random access.
            buffers.terms[row] = outlyingness(self.tails_given(value, below));
        }
        for (score, term) in scores.iter_mut().zip(&buffers.terms) {
            *score += term;
        }
    }

    /// Training values at or below `value` and at or above it; fractional
    /// where a sketch interpolates. `value` is not NaN, and `below` is the
    /// number of searched values less than it.
    fn counts(&self, value: f64, below: usize) -> (f64, f64) {
        let n = self.n_values as f64;
        match &self.storage {
            Storage::Sorted(sorted) => {
                let mut at_or_below = below;
                if sorted.get(below) == Some(&value) {
                    // Galloping past the ties, which are usually few: a
                    // training value scored against itself finds one.
                    let run = &sorted[below..];
                    let mut bound = 1;
                    while bound < run.len() && run[bound] <= value {
                        bound *= 2;
                    }
                    let window = &run[bound / 2..bound.min(run.len())];
                    at_or_below += bound / 2 + window.partition_point(|&v| v <= value);
                }
                (at_or_below as f64, (sorted.len() - below) as f64)
            }
            Storage::Grouped {
                values,
                below: values_below,
                at_or_below,
            } => {
                let next = below;
                if values.get(next) == Some(&value) {
                    return (at_or_below[next] as f64, n - values_below[next] as f64);
                }
                if next == 0 {
                    return (0.0, n);
                }
                if next == values.len() {
                    return (n, 0.0);
                }
                let known = at_or_below[next - 1] as f64;
                let skipped = (values_below[next] - at_or_below[next - 1]) as f64;
                if skipped == 0.0 {
                    return (known, n - known);
                }
                // Values a sketch skipped between two kept ones are taken
                // to be spread evenly over the gap. A gap too wide for a
                // float gives NaN; its middle is as good a guess.
                let (low, high) = (values[next - 1], values[next]);
                let fraction = (value - low) / (high - low);
                let fraction = if fraction.is_nan() {
                    0.5
                } else {
                    fraction.clamp(0.0, 1.0)
                };
                let at_or_below = known + skipped * fraction;
                (at_or_below, n - at_or_below)
            }
        }
    }

    /// The tails of one value.
    fn tails(&self, value: f64) -> Tails {
        self.tails_given(value, self.searched().partition_point(|&v| v < value))
    }

    /// The tails of `value`, given the number of searched values below it.
    fn tails_given(&self, value: f64, below: usize) -> Tails {
        if value.is_nan() {
            return Tails {
                left: f64::NAN,
                right: f64::NAN,
                skew: self.skew,
            };
        }
        let n = self.n_values as f64;
        let (at_or_below, at_or_above) = self.counts(value, below);
        Tails {
            left: surprisal(at_or_below, n),
            right: surprisal(at_or_above, n),
            skew: self.skew,
        }
    }
}

impl Storage {
    /// Groups equal values. With a `rank_tolerance` above zero it also
    /// sketches: a group is kept only when skipping it would leave more
    /// than `rank_tolerance` times its distance to the nearer end of
    /// unknown ranks since the last kept group; the first and last groups
    /// are always kept.
    fn grouped(sorted: &[f64], rank_tolerance: f64) -> Storage {
        let n = sorted.len();
        let (mut values, mut below, mut at_or_below) = (Vec::new(), Vec::new(), Vec::new());
        let mut kept_end = 0;
        let mut start = 0;
        while start < n {
            let value = sorted[start];
            let mut end = start + 1;
            while end < n && sorted[end] == value {
                end += 1;
            }
            let depth = start.min(n - end);
            let allowed = (rank_tolerance * depth as f64) as usize;
            if start == 0 || end == n || end - kept_end > allowed {
                values.push(value);
                below.push(start as u64);
                at_or_below.push(end as u64);
                kept_end = end;
            }
            start = end;
        }
        Storage::Grouped {
            values,
            below,
            at_or_below,
        }
    }
}

/// Key bits a block's values are sorted by before they are located: 33
/// bits leave values equal to about 6 significant digits unordered, which
/// [`locate_near`] absorbs, at half the passes of an exact sort.
const QUERY_SORT_BITS: u32 = 33;

/// One feature's values of a block of rows, reused from feature to
/// feature.
#[derive(Debug, Default)]
struct BlockBuffers {
    /// `(order_key(value), row)`, nearly sorted by key. The key travels
    /// with the row so that the sweep reads no value out of order.
    queries: Vec<(u64, u32)>,
    /// Radix sort scratch space.
    scratch: Vec<(u64, u32)>,
    /// The rows' terms.
    terms: Vec<f64>,
}

impl BlockBuffers {
    fn load<'a>(&mut self, values: impl Iterator<Item = &'a f64>) {
        self.queries.clear();
        let keys = values.map(|&value| order_key(value));
        self.queries.extend(keys.zip(0u32..));
        radix_sort(
            &mut self.queries,
            &mut self.scratch,
            QUERY_SORT_BITS,
            |&(key, _)| key,
        );
        self.terms.resize(self.queries.len(), 0.0);
    }
}

/// The number of `sorted` values less than `value`, starting from the
/// answer `hint` for a nearby value: a short linear scan in the right
/// direction, whose branches predict well, then galloping.
fn locate_near(sorted: &[f64], hint: usize, value: f64) -> usize {
    if sorted.get(hint).is_some_and(|&v| v < value) {
        let limit = (hint + 1 + LINEAR_SCAN_STEPS).min(sorted.len());
        let mut below = hint + 1;
        while below < limit && sorted[below] < value {
            below += 1;
        }
        if below < limit || below == sorted.len() {
            return below;
        }
        gallop_below(sorted, below, value)
    } else {
        let limit = hint.saturating_sub(LINEAR_SCAN_STEPS);
        let mut below = hint;
        while below > limit && sorted[below - 1] >= value {
            below -= 1;
        }
        if below > limit || below == 0 {
            return below;
        }
        gallop_back(sorted, below, value)
    }
}

/// The number of `sorted` values less than `value`, knowing that the
/// first `start` are: steps of 1, 2, 4, ... ahead, then a binary search
/// inside the last step.
fn gallop_below(sorted: &[f64], start: usize, value: f64) -> usize {
    let mut low = start;
    let mut step = 1;
    loop {
        let high = low + step;
        if high >= sorted.len() || sorted[high] >= value {
            if low >= sorted.len() || sorted[low] >= value {
                return low;
            }
            let window = &sorted[low + 1..high.min(sorted.len())];
            return low + 1 + window.partition_point(|&v| v < value);
        }
        low = high;
        step *= 2;
    }
}

/// The number of `sorted` values less than `value`, knowing that none
/// from `end` on is: steps of 1, 2, 4, ... back, then a binary search
/// inside the last step.
fn gallop_back(sorted: &[f64], end: usize, value: f64) -> usize {
    let mut high = end;
    let mut step = 1;
    while high > 0 {
        let low = high.saturating_sub(step);
        if sorted[low] < value {
            return low + 1 + sorted[low + 1..high].partition_point(|&v| v < value);
        }
        high = low;
        step *= 2;
    }
    0
}

/// Maps a float to an integer with the same order as `f64::total_cmp`.
fn order_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The inverse of [`order_key`].
fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// Sorts `items` by a 64-bit key, or by its `max_bits` most significant
/// bits (rounded up to whole digits) among those not all keys share: a
/// stable least-significant-digit radix sort with 11-bit digits, which
/// on a million floats takes a fraction of a comparison sort's time.
/// With `max_bits` of 64 the order is exact. `scratch` is reused between
/// calls.
fn radix_sort<T: Copy>(
    items: &mut Vec<T>,
    scratch: &mut Vec<T>,
    max_bits: u32,
    key: impl Fn(&T) -> u64,
) {
    let n_items = items.len();
    if n_items < RADIX_SORT_MIN_ITEMS {
        items.sort_by_key(key);
        return;
    }
    let mut histograms = vec![[0usize; RADIX_BUCKETS]; RADIX_DIGITS];
    for item in items.iter() {
        let key = key(item);
        for (digit, histogram) in histograms.iter_mut().enumerate() {
            histogram[digit_of(key, digit)] += 1;
        }
    }
    // A digit every key shares orders nothing.
    let max_digits = max_bits.div_ceil(RADIX_BITS) as usize;
    let mut varying: Vec<usize> = (0..RADIX_DIGITS)
        .rev()
        .filter(|&digit| !histograms[digit].contains(&n_items))
        .take(max_digits)
        .collect();
    varying.reverse();
    for digit in varying {
        let mut offsets = [0usize; RADIX_BUCKETS];
        let mut total = 0;
        for (offset, &count) in offsets.iter_mut().zip(&histograms[digit]) {
            *offset = total;
            total += count;
        }
        scratch.clear();
        scratch.resize(n_items, items[0]);
        for item in items.iter() {
            let bucket = digit_of(key(item), digit);
            scratch[offsets[bucket]] = *item;
            offsets[bucket] += 1;
        }
        std::mem::swap(items, scratch);
    }
}

/// Bits per radix digit: 6 passes over a 64-bit key, with histograms that
/// stay in the fastest caches.
const RADIX_BITS: u32 = 11;
const RADIX_BUCKETS: usize = 1 << RADIX_BITS;
const RADIX_DIGITS: usize = 64usize.div_ceil(RADIX_BITS as usize);

fn digit_of(key: u64, digit: usize) -> usize {
    (key >> (RADIX_BITS as usize * digit)) as usize & (RADIX_BUCKETS - 1)
}

/// `-ln(count / n)`; a count of zero (beyond the training range) is read
/// as `1 / (n + 1)`, the value's probability had it joined the training
/// data.
fn surprisal(count: f64, n: f64) -> f64 {
    if count > 0.0 {
        (n / count).ln()
    } else {
        (n + 1.0).ln()
    }
}

/// Test data and helpers shared by the ECOD, COPOD and HBOS tests.
#[cfg(test)]
pub(crate) mod reference {
    use ndarray::Array2;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand_distr::{Distribution, StandardNormal};

    use crate::detector::{Detector, FitError};

    /// Small matrices of mostly ordinary values with ties, NaN,
    /// infinities and extremes mixed in, and sometimes no rows.
    pub(crate) fn awkward_points() -> impl Strategy<Value = Array2<f64>> {
        let value = prop_oneof![
            6 => -5.0..5.0f64,
            2 => prop::sample::select(vec![0.0, -0.0, 1.0, 1.0]),
            1 => prop::sample::select(vec![
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MAX,
                -f64::MAX,
                1e-310,
            ]),
        ];
        (1usize..4, prop::collection::vec(value, 0..60)).prop_map(|(n_features, values)| {
            let n_points = values.len() / n_features;
            let values = values[..n_points * n_features].to_vec();
            Array2::from_shape_vec((n_points, n_features), values).expect("sized to fit")
        })
    }

    /// What every detector promises on any input: fitting fails cleanly
    /// or scores every point, NaN exactly where a value is missing, with
    /// non-negative shares summing to 1 or all zero.
    pub(crate) fn assert_sane<D: Detector>(points: &Array2<f64>, fitted: Result<D, FitError>) {
        let Ok(detector) = fitted else {
            return;
        };
        let scores = detector.score(points.view());
        assert_eq!(scores.len(), points.nrows());
        for (row, score) in points.rows().into_iter().zip(scores) {
            let missing = row.iter().any(|value| value.is_nan());
            assert_eq!(score.is_nan(), missing, "{row} scored {score}");
            let shares = detector.attribute(row);
            assert!(shares.iter().all(|&share| share >= 0.0), "{shares:?}");
            let total: f64 = shares.iter().sum();
            assert!(total == 0.0 || (total - 1.0).abs() < 1e-9, "{shares:?}");
        }
    }

    /// Standard normal points.
    pub(crate) fn gaussian(n_points: usize, n_features: usize, seed: u64) -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        Array2::from_shape_fn((n_points, n_features), |_| StandardNormal.sample(&mut rng))
    }

    /// `REFERENCE_POINTS` as an array.
    pub(crate) fn points() -> Array2<f64> {
        Array2::from_shape_fn((30, 5), |(row, feature)| REFERENCE_POINTS[row][feature])
    }

    /// From scripts/make_stats_vectors.py: a normal feature with an
    /// extreme at row 0, a right- and a left-skewed feature, a symmetric
    /// integer feature (skewness exactly 0) and a constant one; with ties.
    const REFERENCE_POINTS: [[f64; 5]; 30] = [
        [4.5, 0.32, -1.12, -1.0, 2.5],
        [0.47, 0.03, -3.32, -1.0, 2.5],
        [-0.64, 0.0, -1.74, -3.0, 2.5],
        [-1.18, 2.08, -3.31, 1.0, 2.5],
        [-0.14, 0.37, -2.83, -3.0, 2.5],
        [1.2, 0.4, -1.08, -2.0, 2.5],
        [1.33, 0.21, -6.78, -2.0, 2.5],
        [0.91, 0.92, -4.68, -0.0, 2.5],
        [0.35, 3.52, -1.43, 0.0, 2.5],
        [1.6, 2.59, -1.26, 0.0, 2.5],
        [1.23, 0.12, -4.23, 3.0, 2.5],
        [-0.22, 0.34, -1.39, 1.0, 2.5],
        [-1.06, 0.46, -4.11, -3.0, 2.5],
        [-0.36, 1.25, -0.49, -3.0, 2.5],
        [-0.42, 0.8, -0.2, 1.0, 2.5],
        [0.69, 0.24, -0.41, 3.0, 2.5],
        [-1.9, 1.3, -1.42, 3.0, 2.5],
        [-0.19, 1.19, -0.65, -0.0, 2.5],
        [1.67, 0.45, -3.8, -1.0, 2.5],
        [-0.92, 3.25, -8.16, -0.0, 2.5],
        [-0.76, 0.04, -0.69, 1.0, 2.5],
        [-0.08, 0.54, -3.09, -2.0, 2.5],
        [-1.42, 0.45, -0.03, 3.0, 2.5],
        [-0.13, 0.33, -1.59, 2.0, 2.5],
        [-0.02, 0.58, -5.56, 0.0, 2.5],
        [-0.0, 2.36, -1.23, -1.0, 2.5],
        [-0.99, 0.77, -2.76, 2.0, 2.5],
        [-0.37, 0.96, -2.16, -0.0, 2.5],
        [0.65, 0.96, -0.37, 2.0, 2.5],
        [-0.71, 1.95, -4.6, 0.0, 2.5],
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn exact(values: &[f64]) -> FeatureEcdf {
        FeatureEcdf::fit(values.to_vec(), DEFAULT_MAX_EXACT_POINTS).expect("finite values")
    }

    fn counts(ecdf: &FeatureEcdf, value: f64) -> (f64, f64) {
        ecdf.counts(value, ecdf.searched().partition_point(|&v| v < value))
    }

    #[test]
    fn ties_share_the_outermost_count_as_in_pyod() {
        let ecdf = exact(&[3.0, 1.0, 2.0, 2.0, 5.0]);
        assert_eq!(counts(&ecdf, 2.0), (3.0, 4.0));
        assert_eq!(counts(&ecdf, 1.0), (1.0, 5.0));
        assert_eq!(counts(&ecdf, 5.0), (5.0, 1.0));
        assert_eq!(counts(&ecdf, 4.0), (4.0, 1.0));
    }

    #[test]
    fn values_beyond_the_range_are_one_step_past_the_extremes() {
        let ecdf = exact(&[1.0, 2.0, 3.0, 4.0]);
        let below = ecdf.tails(-100.0);
        approx::assert_abs_diff_eq!(below.left, 5f64.ln(), epsilon = 1e-15);
        assert_eq!(below.right, 0.0);
        let at_minimum = ecdf.tails(1.0);
        approx::assert_abs_diff_eq!(at_minimum.left, 4f64.ln(), epsilon = 1e-15);
        let infinite = ecdf.tails(f64::INFINITY);
        approx::assert_abs_diff_eq!(infinite.right, 5f64.ln(), epsilon = 1e-15);
        assert!(ecdf.tails(f64::NAN).left.is_nan());
    }

    #[test]
    fn skewness_sign_follows_scipy() {
        assert_eq!(Skew::of(&[0.0, 0.0, 0.0, 10.0]), Skew::Positive);
        assert_eq!(Skew::of(&[0.0, 10.0, 10.0, 10.0]), Skew::Negative);
        assert_eq!(Skew::of(&[-3.0, 1.0, 0.0, 3.0, -1.0]), Skew::Zero);
        assert_eq!(Skew::of(&[2.5; 4]), Skew::Zero);
        assert_eq!(Skew::of(&[7.0]), Skew::Zero);
    }

    #[test]
    fn non_finite_training_values_are_left_out() {
        let points = ndarray::array![[1.0, f64::NAN], [f64::NAN, 2.0], [2.0, f64::INFINITY]];
        let ecdfs = Ecdfs::fit(points.view(), DEFAULT_MAX_EXACT_POINTS).expect("some finite");
        assert_eq!(ecdfs.features[0].n_values, 2);
        assert_eq!(ecdfs.features[1].n_values, 1);
        let points = ndarray::array![[1.0, f64::NAN], [2.0, f64::NEG_INFINITY]];
        let error = Ecdfs::fit(points.view(), DEFAULT_MAX_EXACT_POINTS).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot fit on 2 points with 2 features: a feature has no finite values"
        );
    }

    #[test]
    fn sketch_stays_within_its_rank_tolerance() {
        // Heavy ties in one feature, continuous values in the other.
        let n_points = 60_000;
        let points = Array2::from_shape_fn((n_points, 2), |(row, feature)| {
            let hashed = (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
            let uniform = hashed as f64 / (1u64 << 53) as f64;
            if feature == 0 {
                (uniform * 40.0).floor()
            } else {
                (uniform / (1.0 - uniform)).ln()
            }
        });
        let exact_ecdfs = Ecdfs::fit(points.view(), DEFAULT_MAX_EXACT_POINTS).expect("fits");
        let sketched = Ecdfs::fit(points.view(), MIN_MAX_EXACT_POINTS).expect("fits");
        let Storage::Grouped { values, .. } = &sketched.features[1].storage else {
            panic!("expected a sketch");
        };
        assert!(values.len() < 20_000, "{} kept", values.len());

        let probes = reference::gaussian(2000, 2, 3) * 4.0 + 20.0;
        let pairs = exact_ecdfs.features.iter().zip(&sketched.features);
        for (feature, (exact, sketch)) in pairs.enumerate() {
            for probe in probes.column(feature) {
                let probe = if feature == 0 {
                    probe.round()
                } else {
                    probe - 20.0
                };
                let (want, got) = (exact.tails(probe), sketch.tails(probe));
                approx::assert_abs_diff_eq!(want.left, got.left, epsilon = 1.01e-3);
                approx::assert_abs_diff_eq!(want.right, got.right, epsilon = 1.01e-3);
            }
        }
    }

    #[test]
    fn grouped_and_sorted_storage_agree() {
        let mut sorted: Vec<f64> = (0..500).map(|i| f64::from(i % 37 / 3)).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let feature = |storage| FeatureEcdf {
            n_values: 500,
            skew: Skew::Positive,
            storage,
        };
        let grouped = feature(Storage::grouped(&sorted, 0.0));
        let plain = feature(Storage::Sorted(sorted));
        for probe in [-1.0, 0.0, 0.5, 3.0, 7.0, 11.0, 11.5, 12.0, 40.0] {
            assert_eq!(counts(&grouped, probe), counts(&plain, probe), "{probe}");
        }
    }

    #[test]
    fn galloping_agrees_with_partition_point() {
        let probes = [-1.0, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 9.0, f64::INFINITY];
        for len in 0..40 {
            let sorted: Vec<f64> = (0..len).map(|i| f64::from(i / 3)).collect();
            let mut below = 0;
            for probe in probes {
                below = gallop_below(&sorted, below, probe);
                assert_eq!(
                    below,
                    sorted.partition_point(|&v| v < probe),
                    "{probe} in {len}"
                );
            }
            let mut below = len as usize;
            for probe in probes.iter().rev() {
                below = gallop_back(&sorted, below, *probe);
                assert_eq!(
                    below,
                    sorted.partition_point(|v| v < probe),
                    "{probe} in {len}"
                );
            }
        }
        let sorted: Vec<f64> = (0..200).map(|i| f64::from(i / 3)).collect();
        let mut below = 0;
        for probe in [5.0, 60.0, 4.0, 4.5, 66.0, 66.0, 0.0, -1.0, 70.0, 20.0, 19.5] {
            below = locate_near(&sorted, below, probe);
            assert_eq!(below, sorted.partition_point(|&v| v < probe), "{probe}");
        }
    }

    #[test]
    fn radix_sort_orders_like_total_cmp() {
        let mut values: Vec<f64> = reference::gaussian(3000, 1, 8).iter().copied().collect();
        values.extend([
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
        ]);
        values.extend([
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            1e-310,
            -1e-310,
            3.0,
            3.0,
        ]);
        let mut want = values.clone();
        want.sort_by(f64::total_cmp);
        let mut keys: Vec<(u64, u32)> = values.iter().map(|&v| (order_key(v), 0)).collect();
        radix_sort(&mut keys, &mut Vec::new(), 64, |&(key, _)| key);
        let got: Vec<u64> = keys
            .iter()
            .map(|&(key, _)| from_order_key(key).to_bits())
            .collect();
        let want: Vec<u64> = want.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn block_scores_equal_summed_terms() {
        let mut points = reference::gaussian(40_000, 3, 4).mapv(|v| (v * 4.0).round());
        points
            .column_mut(2)
            .assign(&reference::gaussian(40_000, 1, 5).column(0));
        points[[5, 1]] = f64::NAN;
        points[[6, 1]] = f64::INFINITY;
        let ecdfs = Ecdfs::fit(points.view(), DEFAULT_MAX_EXACT_POINTS).expect("fits");
        let outlyingness = |tails: Tails| tails.left + 2.0 * tails.right;
        let scores = ecdfs.score(points.view(), outlyingness);
        for (row, score) in points.rows().into_iter().zip(scores).step_by(97) {
            let total: f64 = ecdfs.terms(row, outlyingness).iter().sum();
            assert!(total == score || (total.is_nan() && score.is_nan()));
        }
    }

    #[test]
    fn max_exact_points_below_its_limit_is_rejected() {
        let error = validate_max_exact_points(10).unwrap_err();
        assert_eq!(
            error.to_string(),
            "max_exact_points must be at least 10000, got 10"
        );
    }
}
