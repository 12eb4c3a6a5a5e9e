//! HBOS, the histogram-based outlier score; see [`Hbos`].

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Detector, FitError, ParamError, normalise_shares};

/// Most bins per feature: the model stays within a few megabytes per
/// feature.
const MAX_BINS: usize = 100_000;

/// Rows handled together by one rayon task.
const BLOCK_ROWS: usize = 4096;

/// Parameters of [`Hbos`]; the defaults are PyOD's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HbosParams {
    /// Equal-width bins per feature; default 10, at least 2.
    pub n_bins: usize,
    /// Added to every density before the logarithm, so that an empty bin
    /// costs `-log2(alpha)` bits instead of infinitely many; in (0, 1),
    /// default 0.1.
    pub alpha: f64,
    /// How far outside the training range, in bin widths, a value still
    /// counts in the outermost bin; in (0, 1), default 0.5.
    pub tol: f64,
}

impl Default for HbosParams {
    fn default() -> Self {
        HbosParams {
            n_bins: 10,
            alpha: 0.1,
            tol: 0.5,
        }
    }
}

impl HbosParams {
    /// The detector's name, as [`Detector::name`] reports it.
    pub(crate) fn name(&self) -> &'static str {
        "hbos"
    }

    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.n_bins < 2 {
            return Err(ParamError::new("n_bins", "must be at least 2", self.n_bins));
        }
        if self.n_bins > MAX_BINS {
            return Err(ParamError::new(
                "n_bins",
                format!("must be at most {MAX_BINS}"),
                self.n_bins,
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(ParamError::new("alpha", "must be in (0, 1)", self.alpha));
        }
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return Err(ParamError::new("tol", "must be in (0, 1)", self.tol));
        }
        Ok(())
    }
}

/// HBOS, Histogram-Based Outlier Score (Goldstein and Dengel, KI 2012),
/// as PyOD implements it with static bins.
///
/// Each feature gets a histogram of `n_bins` equal-width bins between its
/// training minimum and maximum (numpy's `histogram`, so a constant
/// feature spans its value ± 0.5), normalised to a density. A point's
/// score is `-Σ log2(density + alpha)` over its features' bins: features
/// are treated as independent, and a point in sparse bins scores high.
/// `alpha` keeps an empty bin's term finite. A value outside the training
/// range by at most `tol` bin widths counts in the outermost bin; further
/// out it gets the feature's sparsest bin, as in PyOD.
///
/// Bins are closed on the right when scoring (numpy's
/// `digitize(right=True)`, as PyOD does) although the histogram counts
/// them closed on the left, so a value exactly on an inner edge is scored
/// with the density of the bin below the one it was counted in. This is
/// PyOD's behaviour, kept so that scores are comparable; it matters for
/// integer-valued features, whose values often sit on edges, and for a
/// constant feature, whose value is the middle edge of its widened range
/// and is therefore scored in an empty bin (the same term for every such
/// point, so the ranking is unaffected).
///
/// Scores equal PyOD's `HBOS` (`decision_scores_` on the training points,
/// `decision_function` on new ones): PyOD also scores new points against
/// the stored histograms. PyOD's `n_bins="auto"` (Birgé–Rozenblac) is not
/// offered.
///
/// Costs: fitting is two passes over the data, `O(n d)`, scoring
/// `O(m d)`, both over row blocks in parallel; a bin is found in constant
/// time from the equal widths. The model holds `2 n_bins + 1` numbers per
/// feature.
///
/// Attribution: a feature's raw term `-log2(density + alpha)` depends on
/// the feature's units and can be negative, so each term is shifted by
/// the lowest term any training point gets in that feature: the share is
/// `log2((d_typical + alpha) / (density + alpha))`, the bits by which the
/// point's bin is rarer than the bin the feature's most typical training
/// points are scored in (the densest bin, except where the edge rule above
/// intervenes, as for a constant feature). The shift is a constant per
/// feature, so it leaves the ranking of points unchanged; a new value
/// scored in an even denser bin gets a share of 0, not a negative one.
///
/// ```
/// use ndarray::array;
/// use oddity::detector::{Detector, Hbos, HbosParams};
///
/// let points = array![[1.0, 10.0], [1.1, 11.0], [1.2, 10.5], [1.1, 30.0]];
/// let hbos = Hbos::fit(&HbosParams::default(), points.view()).expect("finite points");
/// let scores = hbos.score(points.view());
/// assert!(scores[3] > scores[1]);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hbos {
    params: HbosParams,
    histograms: Vec<Histogram>,
}

/// One feature's histogram.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Histogram {
    /// `n_bins + 1` increasing edges, as numpy's `linspace` computes them.
    edges: Vec<f64>,
    /// `n_bins / (last edge - first edge)`: turns a value into a first
    /// guess of its bin.
    bins_per_unit: f64,
    /// `log2(density + alpha)` per bin.
    log_densities: Vec<f64>,
    /// The smallest of `log_densities`: a value far outside the range.
    sparsest: f64,
    /// The largest log density any training value is scored with: the
    /// zero of attribution.
    typical: f64,
}

impl Hbos {
    /// Builds one histogram per feature from the training points.
    ///
    /// Non-finite values are left out of their feature's histogram; a
    /// feature without any finite value, or whose range overflows, is an
    /// error.
    pub fn fit(params: &HbosParams, points: ArrayView2<'_, f64>) -> Result<Hbos, FitError> {
        params.validate()?;
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
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");
        let n_bins = params.n_bins;

        let ranges = finite_ranges(data, n_features);
        let mut histograms = Vec::with_capacity(n_features);
        for (low, high) in ranges {
            if low > high {
                return Err(not_enough("a feature has no finite values"));
            }
            let histogram = Histogram::with_edges(low, high, n_bins)
                .ok_or_else(|| not_enough("a feature's range does not split into finite bins"))?;
            histograms.push(histogram);
        }

        // Per feature and bin: training values counted in the bin, then
        // training values scored with its density.
        let bins = n_features * n_bins;
        let counts = data
            .par_chunks(BLOCK_ROWS * n_features)
            .map(|block| {
                let mut counts = vec![0u64; 2 * bins];
                let (counted, scored) = counts.split_at_mut(bins);
                // Feature by feature within the block (which stays in
                // cache), so that one histogram and its counters are all
                // the inner loop touches. Rows go round LANES copies of
                // the counters: most values fall in a few bins, and
                // successive increments of one counter would each wait
                // for the last.
                let mut lane_counts = vec![0u32; 2 * LANES * n_bins];
                for (feature, histogram) in histograms.iter().enumerate() {
                    lane_counts.fill(0);
                    let (lane_counted, lane_scored) = lane_counts.split_at_mut(LANES * n_bins);
                    for (index, row) in block.chunks_exact(n_features).enumerate() {
                        let value = row[feature];
                        if value.is_finite() {
                            let lane = (index % LANES) * n_bins;
                            let bin = histogram.counting_bin(value);
                            lane_counted[lane + bin] += 1;
                            lane_scored[lane + histogram.training_scoring_bin(value, bin)] += 1;
                        }
                    }
                    let range = feature * n_bins..(feature + 1) * n_bins;
                    for lane in 0..LANES {
                        let lane_range = lane * n_bins..(lane + 1) * n_bins;
                        for (total, &count) in counted[range.clone()]
                            .iter_mut()
                            .zip(&lane_counted[lane_range.clone()])
                        {
                            *total += u64::from(count);
                        }
                        for (total, &count) in scored[range.clone()]
                            .iter_mut()
                            .zip(&lane_scored[lane_range])
                        {
                            *total += u64::from(count);
                        }
                    }
                }
                counts
            })
            .reduce(
                || vec![0u64; 2 * bins],
                |mut total, part| {
                    total
                        .iter_mut()
                        .zip(part)
                        .for_each(|(sum, count)| *sum += count);
                    total
                },
            );
        let (counted, scored) = counts.split_at(bins);
        let per_feature = counted
            .chunks_exact(n_bins)
            .zip(scored.chunks_exact(n_bins));
        for (histogram, (counted, scored)) in histograms.iter_mut().zip(per_feature) {
            histogram.set_densities(counted, scored, params.alpha);
        }
        Ok(Hbos {
            params: params.clone(),
            histograms,
        })
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &HbosParams {
        &self.params
    }
}

impl Detector for Hbos {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.histograms.len()
    }

    /// `-Σ log2(density + alpha)`; NaN for a point with a missing value or
    /// the wrong number of features.
    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let (n_points, n_features) = points.dim();
        if n_features != self.histograms.len() {
            return vec![f64::NAN; n_points];
        }
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");
        let tol = self.params.tol;

        let mut scores = vec![0.0; n_points];
        scores
            .par_chunks_mut(BLOCK_ROWS)
            .zip(data.par_chunks(BLOCK_ROWS * n_features))
            .for_each(|(block_scores, block)| {
                for (score, row) in block_scores.iter_mut().zip(block.chunks_exact(n_features)) {
                    let total: f64 = row
                        .iter()
                        .zip(&self.histograms)
                        .map(|(&value, histogram)| histogram.log_density(value, tol))
                        .sum();
                    *score = -total;
                }
            });
        scores
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        if point.len() != self.histograms.len() {
            return vec![0.0; self.histograms.len()];
        }
        let bits = point
            .iter()
            .zip(&self.histograms)
            .map(|(&value, histogram)| {
                histogram.typical - histogram.log_density(value, self.params.tol)
            })
            .collect();
        normalise_shares(bits)
    }
}

/// Each feature's smallest and largest finite value; `(inf, -inf)` for a
/// feature without any.
fn finite_ranges(data: &[f64], n_features: usize) -> Vec<(f64, f64)> {
    let empty = || vec![(f64::INFINITY, f64::NEG_INFINITY); n_features];
    data.par_chunks(BLOCK_ROWS * n_features)
        .map(|block| {
            let mut ranges = empty();
            for (feature, range) in ranges.iter_mut().enumerate() {
                // LANES running extremes per feature, each over every
                // LANES-th row, so that consecutive comparisons do not
                // wait on one another.
                let mut lows = [f64::INFINITY; LANES];
                let mut highs = [f64::NEG_INFINITY; LANES];
                let mut groups = block.chunks_exact(LANES * n_features);
                for group in &mut groups {
                    for lane in 0..LANES {
                        // `min` and `max` skip NaN: a select instead of a
                        // branch.
                        let value = finite_or_nan(group[lane * n_features + feature]);
                        lows[lane] = lows[lane].min(value);
                        highs[lane] = highs[lane].max(value);
                    }
                }
                for row in groups.remainder().chunks_exact(n_features) {
                    let value = finite_or_nan(row[feature]);
                    lows[0] = lows[0].min(value);
                    highs[0] = highs[0].max(value);
                }
                *range = (
                    lows.into_iter().fold(f64::INFINITY, f64::min),
                    highs.into_iter().fold(f64::NEG_INFINITY, f64::max),
                );
            }
            ranges
        })
        .reduce(empty, |mut total, part| {
            for (range, (low, high)) in total.iter_mut().zip(part) {
                range.0 = range.0.min(low);
                range.1 = range.1.max(high);
            }
            total
        })
}

/// Interleaved accumulators per feature in the fitting passes.
const LANES: usize = 4;

fn finite_or_nan(value: f64) -> f64 {
    if value.is_finite() { value } else { f64::NAN }
}

impl Histogram {
    /// Edges as numpy's `histogram(bins=n_bins)` makes them: `linspace`
    /// over the range, widened by 0.5 either side when it is a single
    /// value. Densities are set later. `None` when the range overflows.
    fn with_edges(low: f64, high: f64, n_bins: usize) -> Option<Histogram> {
        let exact = (low != high)
            .then(|| Histogram::spanning(low, high, n_bins))
            .flatten();
        // A range too narrow for bins at float precision is widened like
        // a single value, where numpy would fail.
        exact.or_else(|| {
            let (first, last) = (low - 0.5, high + 0.5);
            if first < low && last > high {
                Histogram::spanning(first, last, n_bins)
            } else {
                // Beyond 2^53 adding 0.5 changes nothing; one part in 2^40
                // either side still has room for the bins.
                let pad = low.abs().max(high.abs()) / (1u64 << 40) as f64;
                Histogram::spanning(low - pad, high + pad, n_bins)
            }
        })
    }

    /// `linspace(first, last, n_bins + 1)`, or `None` when the edges are
    /// not finite and strictly increasing.
    fn spanning(first: f64, last: f64, n_bins: usize) -> Option<Histogram> {
        let delta = last - first;
        let step = delta / n_bins as f64;
        let mut edges: Vec<f64> = (0..=n_bins)
            .map(|k| {
                // numpy divides first when the step underflows to zero.
                if step == 0.0 {
                    k as f64 / n_bins as f64 * delta + first
                } else {
                    k as f64 * step + first
                }
            })
            .collect();
        edges[n_bins] = last;
        let usable = delta.is_finite()
            && edges.iter().all(|edge| edge.is_finite())
            && edges.windows(2).all(|pair| pair[0] < pair[1]);
        usable.then(|| Histogram {
            edges,
            bins_per_unit: n_bins as f64 / delta,
            log_densities: Vec::new(),
            sparsest: 0.0,
            typical: 0.0,
        })
    }

    fn n_bins(&self) -> usize {
        self.edges.len() - 1
    }

    /// Densities `count / width / total` per bin, as numpy's
    /// `density=True`, from the training values `counted` in each bin;
    /// `scored` says which bins training values are scored in.
    fn set_densities(&mut self, counted: &[u64], scored: &[u64], alpha: f64) {
        let total = counted.iter().sum::<u64>() as f64;
        self.log_densities = counted
            .iter()
            .zip(self.edges.windows(2))
            .map(|(&count, edge)| (count as f64 / (edge[1] - edge[0]) / total + alpha).log2())
            .collect();
        self.sparsest = self
            .log_densities
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        self.typical = self
            .log_densities
            .iter()
            .zip(scored)
            .filter(|&(_, &count)| count > 0)
            .map(|(&log_density, _)| log_density)
            .fold(f64::NEG_INFINITY, f64::max);
    }

    /// The bin numpy's `histogram` counts a finite training value in:
    /// closed on the left, the last bin closed on both sides.
    fn counting_bin(&self, value: f64) -> usize {
        let n_bins = self.n_bins();
        // The guess is exact up to rounding; the walks make it agree with
        // the stored edges. The float-to-int cast saturates.
        let guess = ((value - self.edges[0]) * self.bins_per_unit) as usize;
        let mut bin = guess.min(n_bins - 1);
        while bin > 0 && value < self.edges[bin] {
            bin -= 1;
        }
        while bin + 1 < n_bins && value >= self.edges[bin + 1] {
            bin += 1;
        }
        bin
    }

    /// The bin whose density a training value counted in `bin` is scored
    /// with: the bin below when the value sits on an inner edge (see the
    /// module documentation); the first edge stays in the first bin.
    fn training_scoring_bin(&self, value: f64, bin: usize) -> usize {
        if bin > 0 && value == self.edges[bin] {
            bin - 1
        } else {
            bin
        }
    }

    /// numpy's `digitize(value, edges, right=True)`: the number of edges
    /// below `value`, so 0 below the range and `n_bins + 1` above it, and
    /// bin `k` (from 1) holds `edges[k - 1] < value <= edges[k]`.
    fn scoring_position(&self, value: f64) -> usize {
        let n_bins = self.n_bins();
        if value <= self.edges[0] {
            return 0;
        }
        if value > self.edges[n_bins] {
            return n_bins + 1;
        }
        // Truncation, not `ceil`, which baseline x86-64 makes a libm call.
        let guess = ((value - self.edges[0]) * self.bins_per_unit) as usize + 1;
        let mut position = guess.clamp(1, n_bins);
        while position > 1 && value <= self.edges[position - 1] {
            position -= 1;
        }
        while position < n_bins && value > self.edges[position] {
            position += 1;
        }
        position
    }

    /// `log2(density + alpha)` of the bin PyOD scores `value` in.
    #[inline(always)]
    fn log_density(&self, value: f64, tol: f64) -> f64 {
        if value.is_nan() {
            return f64::NAN;
        }
        let n_bins = self.n_bins();
        let edges = &self.edges;
        match self.scoring_position(value) {
            0 => {
                let width = edges[1] - edges[0];
                if edges[0] - value <= width * tol {
                    self.log_densities[0]
                } else {
                    self.sparsest
                }
            }
            position if position == n_bins + 1 => {
                let width = edges[n_bins] - edges[n_bins - 1];
                if value - edges[n_bins] <= width * tol {
                    self.log_densities[n_bins - 1]
                } else {
                    self.sparsest
                }
            }
            position => self.log_densities[position - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::ecdf::reference;
    use ndarray::Array2;

    /// PyOD 3.6.7 `HBOS().fit(points).decision_scores_` on the reference
    /// points, from scripts/make_stats_vectors.py.
    const PYOD_SCORES: [f64; 30] = [
        8.967725754668413,
        9.155605993402284,
        8.590327315961439,
        10.01556070520598,
        8.198872944693086,
        8.54103640873962,
        10.089976797747221,
        11.064847347059759,
        11.62143190827921,
        12.193236187121078,
        8.645171908939725,
        6.93838179308627,
        8.373646341062091,
        8.393586377872408,
        7.815278824890019,
        8.093374535288454,
        9.852767466850391,
        10.081642371557669,
        9.475526959816007,
        12.36496900882976,
        7.501928000997099,
        8.471891439099501,
        9.00803902321592,
        7.211400287492685,
        10.548281248316869,
        9.2285261783129,
        9.301858537662412,
        10.59173413353962,
        9.364951334419354,
        11.460121474718386,
    ];

    /// New points: outside the range by 0.3 bin widths below and above,
    /// by 2 widths below and above, exactly on the fourth edge, and the
    /// mean.
    const NEW_POINTS: [[f64; 5]; 6] = [
        [-2.092, -0.10559999999999999, -8.4039, -3.18, 1.97],
        [4.692, 3.6256, 0.2138999999999999, 3.18, 3.0300000000000002],
        [-3.18, -0.704, -9.786, -4.2, 1.7999999999999998],
        [5.78, 4.224, 1.5959999999999994, 4.2, 3.2],
        [
            0.020000000000000018,
            1.056,
            -5.721,
            -1.2000000000000002,
            2.3,
        ],
        [0.10299999999999998, 0.9593333333333331, -2.483, 0.0, 2.5],
    ];

    /// PyOD's `decision_function(NEW_POINTS)` for the same model.
    const PYOD_NEW_SCORES: [f64; 6] = [
        10.144762964564839,
        10.831343448422146,
        16.609640474436812,
        16.609640474436812,
        11.455679084068528,
        11.57528143152232,
    ];

    fn fit(points: &Array2<f64>) -> Hbos {
        Hbos::fit(&HbosParams::default(), points.view()).expect("fits")
    }

    fn fit_error(params: HbosParams) -> String {
        Hbos::fit(&params, reference::points().view())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn training_scores_agree_with_pyod() {
        let points = reference::points();
        let scores = fit(&points).score(points.view());
        for (got, want) in scores.iter().zip(PYOD_SCORES) {
            approx::assert_abs_diff_eq!(*got, want, epsilon = 1e-6);
        }
    }

    #[test]
    fn new_points_agree_with_pyod_including_edges_and_outside_values() {
        let hbos = fit(&reference::points());
        let new_points = Array2::from_shape_fn((6, 5), |(row, feature)| NEW_POINTS[row][feature]);
        let scores = hbos.score(new_points.view());
        for (got, want) in scores.iter().zip(PYOD_NEW_SCORES) {
            approx::assert_abs_diff_eq!(*got, want, epsilon = 1e-6);
        }
    }

    #[test]
    fn bins_follow_numpy_on_and_between_edges() {
        let histogram = Histogram::with_edges(0.0, 10.0, 10).expect("finite range");
        assert_eq!(histogram.counting_bin(0.0), 0);
        assert_eq!(histogram.counting_bin(3.0), 3);
        assert_eq!(histogram.counting_bin(3.5), 3);
        assert_eq!(histogram.counting_bin(10.0), 9);
        assert_eq!(histogram.scoring_position(0.0), 0);
        assert_eq!(histogram.scoring_position(3.0), 3);
        assert_eq!(histogram.scoring_position(3.5), 4);
        assert_eq!(histogram.scoring_position(10.0), 10);
        assert_eq!(histogram.scoring_position(10.5), 11);
        assert_eq!(histogram.scoring_position(f64::NEG_INFINITY), 0);
    }

    #[test]
    fn planted_outlier_scores_highest() {
        let mut points = reference::gaussian(1000, 4, 1);
        points.row_mut(17).fill(6.0);
        let scores = fit(&points).score(points.view());
        let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        assert_eq!(best, Some(17));
    }

    #[test]
    fn planted_feature_ranks_first_in_attribution() {
        let points = reference::gaussian(2000, 5, 7);
        let hbos = fit(&points);
        for planted in 0..5 {
            for extreme in [-7.0, 7.0] {
                let mut probe = vec![0.1; 5];
                probe[planted] = extreme;
                let shares = hbos.attribute(ArrayView1::from(&probe));
                let top = (0..5).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
                assert_eq!(top, Some(planted), "shares {shares:?}");
                approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn most_typical_training_values_get_no_attribution() {
        let points = reference::gaussian(2000, 3, 9);
        let hbos = fit(&points);
        let densest: Vec<f64> = hbos
            .histograms
            .iter()
            .map(|histogram| {
                let bin = (0..histogram.n_bins())
                    .max_by(|&a, &b| {
                        histogram.log_densities[a].total_cmp(&histogram.log_densities[b])
                    })
                    .expect("bins");
                (histogram.edges[bin] + histogram.edges[bin + 1]) / 2.0
            })
            .collect();
        assert_eq!(hbos.attribute(ArrayView1::from(&densest)), vec![0.0; 3]);
    }

    #[test]
    fn same_scores_for_any_thread_count() {
        let points = reference::gaussian(20_000, 3, 3);
        let hbos = fit(&points);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let serial = pool.install(|| fit(&points).score(points.view()));
        assert_eq!(hbos.score(points.view()), serial);
    }

    #[test]
    fn constant_data_scores_without_panicking() {
        let points = Array2::from_elem((50, 3), 1.5);
        let hbos = fit(&points);
        let scores = hbos.score(points.view());
        // numpy widens the range to 1.5 ± 0.5, which puts 1.5 on the middle
        // edge: PyOD scores it in the empty bin below, -log2(alpha) bits.
        let want = -3.0 * 0.1f64.log2();
        assert!(scores.iter().all(|&score| (score - want).abs() < 1e-12));
        assert_eq!(hbos.attribute(points.row(0)), vec![0.0; 3]);
        let denser = ndarray::array![1.55, 1.55, 1.55];
        assert_eq!(hbos.attribute(denser.view()), vec![0.0; 3]);
    }

    #[test]
    fn one_point_fits_and_scores() {
        let points = Array2::from_elem((1, 2), 3.0);
        let hbos = fit(&points);
        assert_eq!(hbos.score(points.view()).len(), 1);
    }

    #[test]
    fn non_finite_points_do_not_panic() {
        let mut points = reference::gaussian(100, 2, 5);
        points[[3, 1]] = f64::NAN;
        points[[4, 0]] = f64::NEG_INFINITY;
        let hbos = fit(&points);
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, f64::NEG_INFINITY]];
        let scores = hbos.score(odd.view());
        assert!(scores[0].is_nan());
        assert!(scores[1].is_finite());
        assert_eq!(hbos.attribute(odd.row(0))[0], 0.0);

        let no_finite = ndarray::array![[f64::NAN, 1.0]];
        assert!(Hbos::fit(&HbosParams::default(), no_finite.view()).is_err());
        let overflowing = ndarray::array![[f64::MAX], [-f64::MAX]];
        let error = Hbos::fit(&HbosParams::default(), overflowing.view()).unwrap_err();
        assert!(error.to_string().contains("finite bins"), "{error}");
        let huge_constant = ndarray::array![[1e17], [1e17]];
        let hbos = fit(&huge_constant);
        assert!(hbos.score(huge_constant.view())[0].is_finite());
        let adjacent = ndarray::array![[1.0], [1.0 + f64::EPSILON]];
        let hbos = fit(&adjacent);
        assert!(hbos.score(adjacent.view())[1].is_finite());
    }

    #[test]
    fn wrong_number_of_features_scores_nan() {
        let hbos = fit(&reference::points());
        let narrow = Array2::zeros((2, 3));
        assert!(hbos.score(narrow.view()).iter().all(|score| score.is_nan()));
        assert_eq!(hbos.attribute(narrow.row(0)), vec![0.0; 5]);
    }

    #[test]
    fn bad_parameters_are_rejected_with_their_names() {
        let defaults = HbosParams::default();
        assert_eq!(
            fit_error(HbosParams {
                n_bins: 1,
                ..defaults.clone()
            }),
            "invalid parameter: n_bins must be at least 2, got 1"
        );
        assert_eq!(
            fit_error(HbosParams {
                alpha: 0.0,
                ..defaults.clone()
            }),
            "invalid parameter: alpha must be in (0, 1), got 0"
        );
        assert_eq!(
            fit_error(HbosParams {
                tol: f64::NAN,
                ..defaults
            }),
            "invalid parameter: tol must be in (0, 1), got NaN"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn awkward_input_never_panics(points in reference::awkward_points()) {
            reference::assert_sane(&points, Hbos::fit(&HbosParams::default(), points.view()));
        }
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        let points = reference::points();
        let hbos = fit(&points);
        let bytes = postcard::to_stdvec(&hbos).expect("serializes");
        let decoded: Hbos = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(decoded.score(points.view()), hbos.score(points.view()));
        assert_eq!(decoded.params(), hbos.params());
    }
}
