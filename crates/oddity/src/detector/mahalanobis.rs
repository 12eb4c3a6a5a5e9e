//! Robust Mahalanobis distance from the minimum covariance determinant
//! (MCD) estimate of location and scatter, found by FastMCD (Rousseeuw and
//! Van Driessen, Technometrics 1999) as scikit-learn's `MinCovDet` does, and
//! scored as PyOD's `MCD` detector scores.
//!
//! The MCD is the mean and covariance of the `h` points whose covariance has
//! the smallest determinant; with the default `h = ceil((n + d + 1) / 2)`
//! almost half the points can be anomalies without moving it. FastMCD finds
//! a good `h`-subset by C-steps: from an estimate, take the `h` points
//! nearest in Mahalanobis distance and re-estimate, which never increases
//! the determinant. The raw estimate is then made consistent at the normal
//! distribution (Croux and Haesbroeck 1999) and reweighted: the points
//! within the 97.5 % chi-square quantile of the corrected distances give the
//! final mean and covariance. A point's score is its squared Mahalanobis
//! distance from them, chi-square distributed with `d` degrees of freedom
//! for normal data.
//!
//! Search, as scikit-learn: up to 500 points, 30 random `h`-subsets get two
//! C-steps each and the best 10 are iterated to convergence (at most 30
//! steps). Above 500 points, disjoint random subsets of about 300 points
//! each get 500 starts in total (at least 10 per subset), their 10 best per
//! subset are iterated on a random merged set of at most 1500 points, and
//! above 1500 points the best 10 of those are iterated on all points.
//!
//! Where we differ from scikit-learn, for speed at large `n`: at most 5
//! subsets, as the paper prescribes (scikit-learn uses `n / 300`, so its
//! merged step refines 10 candidates per 300 points); a run of C-steps
//! stops once the determinant shrinks by less than a millionth
//! (scikit-learn goes on while it shrinks at all, about twice the steps on
//! a million points); candidates that reached the same subset are refined
//! once. Each start draws its own generator from the seed, so a seed gives
//! the same estimate on any number of threads, but not scikit-learn's
//! estimate: on data with several near-optimal subsets the two may settle
//! on different ones, as two scikit-learn random states do.
//!
//! One feature: the exact univariate MCD, the `h` consecutive sorted values
//! with the smallest variance. (scikit-learn takes the shortest window of
//! `h + 1` values instead and centres on its midrange, which can leave the
//! true centre when exactly `h` points are clean.)
//!
//! Singular covariances (constant features, more features than support
//! points, more than `h` points on a hyperplane) do not fail: distances use
//! the pseudo-inverse, ignoring eigenvalues below `1e-12` of the largest, as
//! scikit-learn's `pinvh` does (with a coarser cut-off, so that exactly
//! collinear features do not amplify rounding). A point that differs from
//! the training data only in such a direction (a new value of a feature that
//! was constant) therefore scores as typical. While searching, a lower rank
//! counts as a smaller determinant, then the product of the non-zero
//! eigenvalues decides; scikit-learn instead stops a C-step run at a
//! singular covariance. FIXME: such a deviation should count; scoring the
//! part of `z` outside the covariance's range on its own scale would flag
//! it without changing the scores of full-rank models.
//!
//! Costs: a C-step is `O(m d^2)` on `m` points plus an `O(d^3)`
//! eigendecomposition. Above 1500 points, fitting is dominated by at most
//! 10 candidates of up to 30 (typically about 8) C-steps on all points;
//! the subset stages are bounded: 500 starts of 2 C-steps on 300 points,
//! then at most 50 candidates of up to 30 C-steps on 1500. Scoring is
//! `O(d^2)` per point. The model holds two `d × d` matrices.
//!
//! Attribution: the score `z' P z` (`z` the point less the location, `P`
//! the precision) splits exactly into per-feature terms `z_j (P z)_j`. A
//! term is negative when a feature's deviation is explained by a correlated
//! feature's; those are clipped at zero before normalising. Unlike the
//! conditional contribution `(P z)_j^2 / P_jj`, this keeps the feature that
//! is actually extreme on top when a correlated partner is normal.

use std::cmp::Ordering;

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Detector, FitError, ParamError, normalise_shares};
use crate::special::ln_gamma;

/// Eigenvalues below this fraction of the largest count as zero.
pub(super) const RELATIVE_RANK_TOLERANCE: f64 = 1e-12;

/// Largest accepted magnitude of a training value: squares and sums of
/// squares of a million such values stay finite.
const MAX_MAGNITUDE: f64 = 1e150;

/// Rows per rayon task in passes over the points: large enough to amortise
/// a task, small enough to spread 100 000 rows over many threads.
const CHUNK_ROWS: usize = 8192;

/// Above this many points the search starts on subsets (scikit-learn's and
/// the paper's limit).
const SMALL_DATA_POINTS: usize = 500;

/// Points per subset when the data are split.
const SUBSET_POINTS: usize = 300;

/// Most subsets the data are split into (the paper's limit).
const MAX_SUBSETS: usize = 5;

/// Random starts over all subsets together.
const TOTAL_STARTS: usize = 500;

/// Fewest random starts per subset.
const MIN_STARTS_PER_SUBSET: usize = 10;

/// Random starts on data of at most [`SMALL_DATA_POINTS`] points.
const SMALL_DATA_STARTS: usize = 30;

/// C-steps a random start gets before the best are kept.
const SCREENING_STEPS: usize = 2;

/// Candidates kept per subset, and from the merged set.
const KEPT_CANDIDATES: usize = 10;

/// Most points in the merged set.
const MERGED_POINTS: usize = 1500;

/// Most C-steps of a candidate that is iterated to convergence.
const MAX_STEPS: usize = 30;

/// A C-step run has converged when the determinant shrinks by less than
/// this factor (log-determinant difference). On many points steps keep
/// trading a few boundary points for ever smaller gains, about five times
/// smaller per step; stopping here halves the steps on a million points
/// and moves the scores by about a millionth.
const MIN_LOG_DET_DECREASE: f64 = 1e-6;

/// Chi-square tail beyond which a point is left out when reweighting.
const REWEIGHT_TAIL: f64 = 0.025;

/// Parameters of [`Mcd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct McdParams {
    /// Share of the points in the raw MCD subset, in (0, 1]; `None` (the
    /// default, as PyOD) means `ceil((n + d + 1) / 2)` points, the largest
    /// share of anomalies the estimate withstands.
    pub support_fraction: Option<f64>,
    /// Seed of the random starts; equal seeds give equal estimates on any
    /// number of threads. Default 42.
    pub seed: u64,
}

impl Default for McdParams {
    fn default() -> Self {
        McdParams {
            support_fraction: None,
            seed: 42,
        }
    }
}

impl McdParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if let Some(fraction) = self.support_fraction
            && !(fraction > 0.0 && fraction <= 1.0)
        {
            return Err(ParamError::new(
                "support_fraction",
                "must be in (0, 1]",
                fraction,
            ));
        }
        Ok(())
    }

    pub(crate) fn name(&self) -> &'static str {
        "mcd"
    }

    /// Points in the raw MCD subset, `h`.
    fn support_size(&self, n_points: usize, n_features: usize) -> usize {
        let wanted = match self.support_fraction {
            None => (n_points + n_features + 2) / 2,
            Some(fraction) => (fraction * n_points as f64) as usize,
        };
        wanted.clamp(1, n_points)
    }
}

/// A fitted robust Mahalanobis detector; see the module documentation.
///
/// Defaults as PyOD's `MCD`: `support_fraction` `None`; the seed replaces
/// PyOD's unseeded `random_state`.
///
/// ```
/// use oddity::detector::{Detector, Mcd, McdParams};
/// use ndarray::array;
///
/// let points = array![[0.0, 0.1], [0.2, 0.0], [0.1, 0.3], [0.3, 0.2], [0.2, 0.2], [5.0, -4.0]];
/// let detector = Mcd::fit(&McdParams::default(), points.view()).unwrap();
/// let scores = detector.score(points.view());
/// assert!(scores[5] > 10.0 * scores[0]);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Mcd {
    params: McdParams,
    n_features: usize,
    location: Vec<f64>,
    /// Row-major `d × d`.
    covariance: Vec<f64>,
    /// The pseudo-inverse of the covariance, factored.
    whitening: Whitening,
    n_support: usize,
}

impl Mcd {
    /// Estimates the robust location and covariance of finite training
    /// points (at least 2).
    pub fn fit(params: &McdParams, points: ArrayView2<'_, f64>) -> Result<Mcd, FitError> {
        params.validate()?;
        check_points(points, "a covariance needs at least 2 points")?;
        let (n_points, n_features) = points.dim();
        let n_support = params.support_size(n_points, n_features);
        tracing::debug!(
            n_points,
            n_features,
            n_support,
            "searching the minimum covariance determinant"
        );
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");

        let raw = if n_features == 1 {
            univariate_mcd(data, n_support)
        } else {
            let data = Rows::new(data, n_features);
            fast_mcd(data, n_support, params.seed)
        };
        let raw = raw.ok_or_else(|| did_not_converge(n_points, n_features))?;
        let rows = Rows::new(data, n_features);
        reweight(rows, &raw.location, &raw.covariance, n_support)
            .and_then(|estimate| Mcd::from_estimate(params, estimate))
            .ok_or_else(|| did_not_converge(n_points, n_features))
    }

    fn from_estimate(params: &McdParams, estimate: Reweighted) -> Option<Mcd> {
        let eigen = sorted_eigen(&estimate.covariance)?;
        Some(Mcd {
            params: params.clone(),
            n_features: estimate.location.len(),
            whitening: eigen.whitening(),
            covariance: estimate.covariance.transpose().as_slice().to_vec(),
            location: estimate.location,
            n_support: estimate.n_support,
        })
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &McdParams {
        &self.params
    }

    /// The robust (reweighted) location.
    pub fn location(&self) -> &[f64] {
        &self.location
    }

    /// The robust (reweighted, consistency-corrected) covariance, `d × d`.
    pub fn covariance(&self) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((self.n_features, self.n_features), &self.covariance)
            .expect("the covariance holds d × d values")
    }

    /// Training points inside the reweighting cut-off, which the final
    /// estimate averages.
    pub fn n_support(&self) -> usize {
        self.n_support
    }

    /// Rank of the covariance as the distances use it.
    pub fn rank(&self) -> usize {
        self.whitening.rank
    }
}

impl Detector for Mcd {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        if points.ncols() != self.n_features {
            return vec![f64::NAN; points.nrows()];
        }
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");
        self.whitening
            .squared_distances(&self.location, Rows::new(data, self.n_features))
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        if point.len() != self.n_features {
            return vec![0.0; self.n_features];
        }
        let point = point.to_vec();
        if let Some(shares) = non_finite_shares(&point) {
            return shares;
        }
        let centred: Vec<f64> = point
            .iter()
            .zip(&self.location)
            .map(|(value, mean)| value - mean)
            .collect();
        let precision_times = self.whitening.precision_times(&centred);
        let terms = centred
            .iter()
            .zip(&precision_times)
            .map(|(z, pz)| z * pz)
            .collect();
        normalise_shares(terms)
    }
}

fn did_not_converge(n_points: usize, n_features: usize) -> FitError {
    FitError::NotEnoughData {
        n_points,
        n_features,
        reason: "the covariance eigendecomposition did not converge",
    }
}

/// Checks that training points are usable by a covariance-based detector:
/// at least 2 points, at least one feature, finite and below
/// [`MAX_MAGNITUDE`].
pub(super) fn check_points(
    points: ArrayView2<'_, f64>,
    too_few: &'static str,
) -> Result<(), FitError> {
    let (n_points, n_features) = points.dim();
    let reason = if n_features == 0 {
        "no features"
    } else if n_points < 2 {
        too_few
    } else if points.iter().any(|value| !value.is_finite()) {
        "points must be finite"
    } else if points.iter().any(|value| value.abs() > MAX_MAGNITUDE) {
        "values must be at most 1e150 in magnitude"
    } else {
        return Ok(());
    };
    Err(FitError::NotEnoughData {
        n_points,
        n_features,
        reason,
    })
}

/// Shares for a point with a non-finite value: all zero when a value is
/// NaN (there is no score to explain), else equal shares among the
/// infinite features, which alone make the score infinite. `None` for a
/// finite point.
pub(super) fn non_finite_shares(point: &[f64]) -> Option<Vec<f64>> {
    if point.iter().all(|value| value.is_finite()) {
        return None;
    }
    if point.iter().any(|value| value.is_nan()) {
        return Some(vec![0.0; point.len()]);
    }
    let infinite = point
        .iter()
        .map(|value| f64::from(u8::from(value.is_infinite())));
    Some(normalise_shares(infinite.collect()))
}

/// The dot product over the shorter of the two slices.
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A row-major matrix of points.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows<'a> {
    pub(super) data: &'a [f64],
    pub(super) n_features: usize,
}

impl<'a> Rows<'a> {
    pub(super) fn new(data: &'a [f64], n_features: usize) -> Self {
        Rows { data, n_features }
    }

    pub(super) fn len(&self) -> usize {
        self.data.len() / self.n_features
    }

    fn row(&self, index: usize) -> &'a [f64] {
        &self.data[index * self.n_features..(index + 1) * self.n_features]
    }

    /// Copies the given rows into a new contiguous matrix.
    fn gather(&self, indices: &[usize]) -> Vec<f64> {
        indices
            .iter()
            .flat_map(|&index| self.row(index))
            .copied()
            .collect()
    }
}

/// Mean and scatter (sum of outer products of the centred rows) of some
/// rows.
#[derive(Clone, Debug)]
pub(super) struct Moments {
    pub(super) count: usize,
    pub(super) mean: Vec<f64>,
    pub(super) scatter: DMatrix<f64>,
}

impl Moments {
    /// Moments of the rows where `include` holds (all rows when `None`).
    ///
    /// Two passes: the mean, then the scatter about it ([`Moments::about`]).
    /// Rows are summed in fixed chunks combined in order, so the result
    /// does not depend on the number of threads.
    pub(super) fn of(rows: Rows<'_>, include: Option<&[bool]>) -> Moments {
        let d = rows.n_features;
        let chunk_len = CHUNK_ROWS * d;
        let included =
            |chunk: usize, row: usize| include.is_none_or(|mask| mask[chunk * CHUNK_ROWS + row]);

        let partial_sums: Vec<(Vec<f64>, usize)> = rows
            .data
            .par_chunks(chunk_len)
            .enumerate()
            .map(|(chunk, block)| {
                let mut sum = vec![0.0; d];
                let mut count = 0;
                for (row, values) in block.chunks_exact(d).enumerate() {
                    if included(chunk, row) {
                        count += 1;
                        sum.iter_mut().zip(values).for_each(|(s, v)| *s += v);
                    }
                }
                (sum, count)
            })
            .collect();
        let mut mean = vec![0.0; d];
        let mut count = 0;
        for (sum, chunk_count) in partial_sums {
            mean.iter_mut().zip(&sum).for_each(|(m, s)| *m += s);
            count += chunk_count;
        }
        let divisor = count.max(1) as f64;
        mean.iter_mut().for_each(|m| *m /= divisor);
        Moments::about(rows, include, &mean)
    }

    /// Moments of the included rows in one pass, from sums about `shift`:
    /// the mean is `shift` plus the mean offset, and the scatter is
    /// corrected by that offset (as NumPy's `cov` re-centres). Accurate
    /// when `shift` is near the mean: the mean itself, or the previous
    /// estimate of a C-step.
    fn about(rows: Rows<'_>, include: Option<&[bool]>, shift: &[f64]) -> Moments {
        let d = rows.n_features;
        let chunk_len = CHUNK_ROWS * d;
        let included =
            |chunk: usize, row: usize| include.is_none_or(|mask| mask[chunk * CHUNK_ROWS + row]);
        let partial_scatters: Vec<(Vec<f64>, Vec<f64>, usize)> = rows
            .data
            .par_chunks(chunk_len)
            .enumerate()
            .map(|(chunk, block)| {
                let mut upper = vec![0.0; d * d];
                let mut offset = vec![0.0; d];
                let mut centred = vec![0.0; d];
                let mut count = 0;
                for (row, values) in block.chunks_exact(d).enumerate() {
                    if !included(chunk, row) {
                        continue;
                    }
                    count += 1;
                    for (j, c) in centred.iter_mut().enumerate() {
                        *c = values[j] - shift[j];
                        offset[j] += *c;
                    }
                    for (i, &ci) in centred.iter().enumerate() {
                        let out = &mut upper[i * d + i..(i + 1) * d];
                        for (o, &cj) in out.iter_mut().zip(&centred[i..]) {
                            *o += ci * cj;
                        }
                    }
                }
                (upper, offset, count)
            })
            .collect();
        let mut upper = vec![0.0; d * d];
        let mut offset = vec![0.0; d];
        let mut count = 0;
        for (chunk_upper, chunk_offset, chunk_count) in partial_scatters {
            count += chunk_count;
            upper
                .iter_mut()
                .zip(&chunk_upper)
                .for_each(|(u, c)| *u += c);
            offset
                .iter_mut()
                .zip(&chunk_offset)
                .for_each(|(o, c)| *o += c);
        }
        let divisor = count.max(1) as f64;
        let mean = shift
            .iter()
            .zip(&offset)
            .map(|(s, o)| s + o / divisor)
            .collect();
        let scatter = DMatrix::from_fn(d, d, |i, j| {
            let (i, j) = if i <= j { (i, j) } else { (j, i) };
            upper[i * d + j] - offset[i] * offset[j] / divisor
        });
        Moments {
            count,
            mean,
            scatter,
        }
    }
}

/// Eigenvalues in decreasing order and their eigenvectors (columns).
#[derive(Clone, Debug)]
pub(super) struct SortedEigen {
    pub(super) values: Vec<f64>,
    pub(super) vectors: DMatrix<f64>,
}

/// Eigendecomposition of a finite symmetric matrix; `None` if the QR
/// iteration does not converge, which the iteration cap only allows for
/// pathological input.
pub(super) fn sorted_eigen(matrix: &DMatrix<f64>) -> Option<SortedEigen> {
    let d = matrix.nrows();
    if matrix.iter().any(|value| !value.is_finite()) {
        return None;
    }
    // Implicit QR with Wilkinson shifts needs a few sweeps per eigenvalue;
    // the cap only stops a runaway iteration.
    let eigen = SymmetricEigen::try_new(matrix.clone(), f64::EPSILON, 1000 * d.max(1))?;
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let values = order.iter().map(|&k| eigen.eigenvalues[k]).collect();
    let vectors = DMatrix::from_fn(d, d, |i, k| eigen.eigenvectors[(i, order[k])]);
    Some(SortedEigen { values, vectors })
}

impl SortedEigen {
    /// Eigenvalues above [`RELATIVE_RANK_TOLERANCE`] of the largest.
    pub(super) fn rank(&self) -> usize {
        let largest = self.values.first().copied().unwrap_or(0.0);
        self.values
            .iter()
            .take_while(|&&value| value > largest * RELATIVE_RANK_TOLERANCE && value > 0.0)
            .count()
    }

    /// The pseudo-inverse of the matrix, factored: `R` with `R' R` the
    /// pseudo-inverse. The rows `v_k / sqrt(lambda_k)` over the non-zero
    /// eigenvalues give such a matrix `W`; its QR decomposition `W = Q R`
    /// keeps `|W z| = |R z|` and makes `R` upper triangular, which halves
    /// the products per distance.
    fn whitening(&self) -> Whitening {
        let d = self.vectors.nrows();
        let rank = self.rank();
        let dense = DMatrix::from_fn(rank, d, |k, j| self.vectors[(j, k)] / self.values[k].sqrt());
        let triangular = dense.qr().r();
        let mut columns = Vec::with_capacity(rank * d);
        for j in 0..d {
            columns.extend((0..rank).map(|k| if k > j { 0.0 } else { triangular[(k, j)] }));
        }
        Whitening { rank, columns }
    }
}

/// `R`, upper triangular `rank × d`, with `R' R` the pseudo-inverse of a
/// covariance: a squared distance is `|R z|^2`. Stored column by column, so
/// that `R z` accumulates one feature at a time into `rank` contiguous
/// sums, which vectorise, rather than as `rank` dependent dot products.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Whitening {
    rank: usize,
    columns: Vec<f64>,
}

impl Whitening {
    /// `R z` into `out` (`rank` values).
    fn transform(&self, centred: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (j, &value) in centred.iter().enumerate() {
            // Column j is zero below its diagonal.
            let column = &self.columns[j * self.rank..j * self.rank + (j + 1).min(self.rank)];
            for (sum, weight) in out.iter_mut().zip(column) {
                *sum += weight * value;
            }
        }
    }

    /// `R' R z`, the pseudo-inverse times `z`.
    fn precision_times(&self, centred: &[f64]) -> Vec<f64> {
        let mut whitened = vec![0.0; self.rank];
        self.transform(centred, &mut whitened);
        (0..centred.len())
            .map(|j| {
                let column = &self.columns[j * self.rank..(j + 1) * self.rank];
                dot(column, &whitened)
            })
            .collect()
    }

    /// Squared distances of the points from `location`.
    fn squared_distances(&self, location: &[f64], points: Rows<'_>) -> Vec<f64> {
        let d = points.n_features;
        let mut distances = vec![0.0; points.len()];
        distances
            .par_chunks_mut(CHUNK_ROWS)
            .zip(points.data.par_chunks(CHUNK_ROWS * d))
            .for_each(|(out, block)| {
                let mut centred = vec![0.0; d];
                let mut whitened = vec![0.0; self.rank];
                for (distance, values) in out.iter_mut().zip(block.chunks_exact(d)) {
                    for ((c, v), m) in centred.iter_mut().zip(values).zip(location) {
                        *c = v - m;
                    }
                    self.transform(&centred, &mut whitened);
                    *distance = dot(&whitened, &whitened);
                }
            });
        distances
    }
}

/// How small a covariance is: a lower rank first, then the log of the
/// product of its non-zero eigenvalues (the log-determinant at full rank).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Volume {
    rank: usize,
    log_det: f64,
}

impl Volume {
    fn compare(&self, other: &Volume) -> Ordering {
        self.rank
            .cmp(&other.rank)
            .then(self.log_det.total_cmp(&other.log_det))
    }

    /// Smaller than `before` by a lower rank or by more than
    /// [`MIN_LOG_DET_DECREASE`].
    fn shrank_from(&self, before: &Volume) -> bool {
        self.rank < before.rank
            || (self.rank == before.rank && self.log_det < before.log_det - MIN_LOG_DET_DECREASE)
    }

    /// Equal up to NumPy's `allclose` tolerances, which scikit-learn uses
    /// to call a C-step run converged.
    fn is_close(&self, other: &Volume) -> bool {
        self.rank == other.rank
            && (self.log_det == other.log_det
                || (self.log_det - other.log_det).abs() <= 1e-8 + 1e-5 * other.log_det.abs())
    }
}

/// A mean and covariance with what the C-steps need of them.
#[derive(Clone, Debug)]
struct Estimate {
    location: Vec<f64>,
    covariance: DMatrix<f64>,
    whitening: Whitening,
    volume: Volume,
}

impl Estimate {
    /// Mean and biased covariance (divided by the count, as scikit-learn's
    /// `empirical_covariance`) of the included rows.
    fn of(rows: Rows<'_>, include: &[bool]) -> Option<Estimate> {
        Estimate::from_moments(Moments::of(rows, Some(include)))
    }

    fn from_moments(moments: Moments) -> Option<Estimate> {
        let covariance = moments.scatter / moments.count.max(1) as f64;
        Estimate::from_parts(moments.mean, covariance)
    }

    fn from_parts(location: Vec<f64>, covariance: DMatrix<f64>) -> Option<Estimate> {
        let eigen = sorted_eigen(&covariance)?;
        let rank = eigen.rank();
        let log_det = eigen.values[..rank].iter().map(|value| value.ln()).sum();
        Some(Estimate {
            whitening: eigen.whitening(),
            location,
            covariance,
            volume: Volume { rank, log_det },
        })
    }

    fn squared_distances(&self, rows: Rows<'_>) -> Vec<f64> {
        self.whitening.squared_distances(&self.location, rows)
    }

    /// One C-step: the estimate of the `h` rows nearest to this one. The
    /// new mean is near this one, so one pass about it suffices.
    fn c_step(&self, rows: Rows<'_>, h: usize) -> Option<Estimate> {
        let nearest = smallest(&self.squared_distances(rows), h);
        Estimate::from_moments(Moments::about(rows, Some(&nearest), &self.location))
    }

    /// C-steps until the volume stops shrinking (by more than
    /// [`MIN_LOG_DET_DECREASE`]) or `max_steps` are done,
    /// with scikit-learn's rule for the result: the last estimate, unless
    /// the volume grew (by rounding), then the one before.
    fn refine(self, rows: Rows<'_>, h: usize, max_steps: usize) -> Option<Estimate> {
        let mut current = self;
        let mut previous: Option<Estimate> = None;
        let mut remaining = max_steps;
        while remaining > 0
            && previous
                .as_ref()
                .is_none_or(|before| current.volume.shrank_from(&before.volume))
        {
            let next = current.c_step(rows, h)?;
            previous = Some(std::mem::replace(&mut current, next));
            remaining -= 1;
        }
        Some(match previous {
            Some(before)
                if remaining > 0
                    && current.volume.compare(&before.volume).is_gt()
                    && !current.volume.is_close(&before.volume) =>
            {
                before
            }
            _ => current,
        })
    }
}

/// Marks the `h` smallest values; ties at the cut go to the earliest rows,
/// so the result does not depend on how the selection ordered them.
fn smallest(values: &[f64], h: usize) -> Vec<bool> {
    if values.is_empty() {
        return Vec::new();
    }
    let h = h.clamp(1, values.len());
    let mut sorted = values.to_vec();
    let (_, &mut cut, _) = sorted.select_nth_unstable_by(h - 1, f64::total_cmp);
    let below = values
        .iter()
        .filter(|value| value.total_cmp(&cut).is_lt())
        .count();
    let mut ties_left = h - below;
    values
        .iter()
        .map(|value| match value.total_cmp(&cut) {
            Ordering::Less => true,
            Ordering::Equal if ties_left > 0 => {
                ties_left -= 1;
                true
            }
            _ => false,
        })
        .collect()
}

/// A generator for one random start, independent of the thread it runs on.
fn start_rng(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ (stream + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `n_starts` random `h`-subsets of `rows`, each given
/// [`SCREENING_STEPS`] C-steps; the [`KEPT_CANDIDATES`] smallest are kept.
fn screen(
    rows: Rows<'_>,
    h: usize,
    n_starts: usize,
    seed: u64,
    first_stream: u64,
) -> Vec<Estimate> {
    let n_rows = rows.len();
    let estimates: Vec<Estimate> = (0..n_starts)
        .into_par_iter()
        .filter_map(|start| {
            let mut rng = start_rng(seed, first_stream + start as u64);
            let mut include = vec![false; n_rows];
            for index in rand::seq::index::sample(&mut rng, n_rows, h.min(n_rows)) {
                include[index] = true;
            }
            Estimate::of(rows, &include)?.refine(rows, h, SCREENING_STEPS)
        })
        .collect();
    best(estimates, KEPT_CANDIDATES)
}

/// The `keep` estimates of smallest volume, smallest first (stable, so
/// equal volumes keep their start order). Of those, starts that converged
/// to the same subset (bit-identical volumes) are kept once: refining them
/// again would repeat the same steps.
fn best(mut estimates: Vec<Estimate>, keep: usize) -> Vec<Estimate> {
    estimates.sort_by(|a, b| a.volume.compare(&b.volume));
    estimates.truncate(keep);
    estimates.dedup_by(|a, b| a.volume == b.volume);
    estimates
}

/// Iterates every candidate to convergence on `rows`; keeps the `keep`
/// smallest. A candidate's volume was measured on other rows or another
/// `h`, so its first C-step is taken unconditionally.
fn refine_all(candidates: Vec<Estimate>, rows: Rows<'_>, h: usize, keep: usize) -> Vec<Estimate> {
    let refined = candidates
        .into_par_iter()
        .filter_map(|candidate| candidate.c_step(rows, h)?.refine(rows, h, MAX_STEPS))
        .collect();
    best(refined, keep)
}

/// The raw MCD estimate of `h` points by FastMCD; see the module docs.
fn fast_mcd(rows: Rows<'_>, h: usize, seed: u64) -> Option<Estimate> {
    let n_points = rows.len();
    if n_points <= SMALL_DATA_POINTS {
        let candidates = screen(rows, h, SMALL_DATA_STARTS, seed, 0);
        return refine_all(candidates, rows, h, 1).into_iter().next();
    }

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let n_subsets = (n_points / SUBSET_POINTS).min(MAX_SUBSETS);
    let subset_points = if n_points / SUBSET_POINTS > MAX_SUBSETS {
        SUBSET_POINTS
    } else {
        n_points / n_subsets
    };
    // h scaled to a subset, rounded up as scikit-learn does.
    let scaled = |size: usize| (size * h).div_ceil(n_points);
    let h_subset = scaled(subset_points);
    let starts_per_subset = (TOTAL_STARTS / n_subsets).max(MIN_STARTS_PER_SUBSET);
    let shuffled =
        rand::seq::index::sample(&mut rng, n_points, n_subsets * subset_points).into_vec();
    let candidates: Vec<Estimate> = shuffled
        .par_chunks(subset_points)
        .enumerate()
        .flat_map_iter(|(subset, indices)| {
            let data = rows.gather(indices);
            let first_stream = (subset * starts_per_subset) as u64;
            screen(
                Rows::new(&data, rows.n_features),
                h_subset,
                starts_per_subset,
                seed,
                first_stream,
            )
        })
        .collect();

    let n_merged = n_points.min(MERGED_POINTS);
    let merged_data;
    let merged = if n_merged == n_points {
        rows
    } else {
        let selection = rand::seq::index::sample(&mut rng, n_points, n_merged).into_vec();
        merged_data = rows.gather(&selection);
        Rows::new(&merged_data, rows.n_features)
    };
    let keep = if n_points > MERGED_POINTS {
        KEPT_CANDIDATES
    } else {
        1
    };
    let candidates = refine_all(candidates, merged, scaled(n_merged), keep);
    if n_points < MERGED_POINTS {
        return candidates.into_iter().next();
    }
    refine_all(candidates, rows, h, 1).into_iter().next()
}

/// The exact MCD of one feature: the `h` consecutive sorted values with the
/// smallest variance.
fn univariate_mcd(values: &[f64], h: usize) -> Option<Estimate> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // Sums of values less the median keep the running variance accurate
    // when the values are far from zero.
    let centre = sorted[sorted.len() / 2];
    let mut prefix = vec![(0.0, 0.0)];
    for value in &sorted {
        let (sum, squares) = prefix[prefix.len() - 1];
        let shifted = value - centre;
        prefix.push((sum + shifted, squares + shifted * shifted));
    }
    let window_variance = |start: usize| {
        let (sum, squares) = (
            prefix[start + h].0 - prefix[start].0,
            prefix[start + h].1 - prefix[start].1,
        );
        squares / h as f64 - (sum / h as f64).powi(2)
    };
    let start = (0..=sorted.len() - h)
        .min_by(|&a, &b| window_variance(a).total_cmp(&window_variance(b)))
        .expect("h is at most the number of values");
    let window = &sorted[start..start + h];
    let moments = Moments::of(Rows::new(window, 1), None);
    let covariance = moments.scatter / h as f64;
    Estimate::from_parts(moments.mean, covariance)
}

/// The final estimate: mean and covariance of the points inside the
/// reweighting cut-off.
#[derive(Clone, Debug)]
struct Reweighted {
    location: Vec<f64>,
    covariance: DMatrix<f64>,
    n_support: usize,
}

/// Consistency correction and reweighting of a raw estimate from `h`
/// points, as scikit-learn's `MinCovDet`: the points whose corrected
/// squared distance lies below the 97.5 % chi-square quantile give the
/// final mean and covariance (scaled for consistency at that quantile).
fn reweight(
    rows: Rows<'_>,
    raw_location: &[f64],
    raw_covariance: &DMatrix<f64>,
    h: usize,
) -> Option<Reweighted> {
    let n_points = rows.len();
    let d = rows.n_features;
    let raw = Estimate::from_parts(raw_location.to_vec(), raw_covariance.clone())?;
    let correction = consistency_factor(d, h as f64 / n_points as f64);
    let cutoff = chi_square_quantile(1.0 - REWEIGHT_TAIL, d as f64);
    let inside: Vec<bool> = raw
        .squared_distances(rows)
        .iter()
        .map(|distance| distance / correction < cutoff)
        .collect();
    let moments = Moments::of(rows, Some(&inside));
    let scale = consistency_factor(d, 1.0 - REWEIGHT_TAIL) / moments.count.max(1) as f64;
    tracing::debug!(
        n_points,
        n_inside = moments.count,
        raw_rank = raw.volume.rank,
        "reweighted the minimum covariance determinant"
    );
    Some(Reweighted {
        location: moments.mean,
        covariance: moments.scatter * scale,
        n_support: moments.count,
    })
}

/// `alpha / F_{d+2}(F_d^{-1}(alpha))`, the factor that makes the covariance
/// of the `alpha` share of normal points nearest the centre consistent
/// (Croux and Haesbroeck 1999), as scikit-learn's `_consistency_factor`.
fn consistency_factor(n_features: usize, alpha: f64) -> f64 {
    if alpha >= 1.0 {
        return 1.0;
    }
    let d = n_features as f64;
    let quantile = chi_square_quantile(alpha, d);
    alpha / chi_square_cdf(quantile, d + 2.0)
}

/// The chi-square distribution function with `k` degrees of freedom.
fn chi_square_cdf(x: f64, k: f64) -> f64 {
    regularized_lower_gamma(k / 2.0, x / 2.0)
}

/// The `p` quantile of the chi-square distribution with `k` degrees of
/// freedom, `p` in (0, 1): Newton steps on the distribution function,
/// falling back to bisection of a bracket, to full double precision.
fn chi_square_quantile(p: f64, k: f64) -> f64 {
    let a = k / 2.0;
    let log_normaliser = a * std::f64::consts::LN_2 + ln_gamma(a);
    let (mut low, mut high) = (0.0, k.max(1.0));
    while chi_square_cdf(high, k) < p {
        low = high;
        high *= 2.0;
    }
    let mut x = 0.5 * (low + high);
    // Each Newton step doubles the correct digits and each bisection adds
    // one, so 200 iterations always reach the bracket's resolution.
    for _ in 0..200 {
        let error = chi_square_cdf(x, k) - p;
        if error < 0.0 {
            low = x;
        } else {
            high = x;
        }
        let density = ((a - 1.0) * x.ln() - x / 2.0 - log_normaliser).exp();
        let newton = x - error / density;
        let next = if density > 0.0 && newton > low && newton < high {
            newton
        } else {
            0.5 * (low + high)
        };
        if (next - x).abs() <= 4.0 * f64::EPSILON * x || high - low <= f64::EPSILON * high {
            return next;
        }
        x = next;
    }
    x
}

/// The regularised lower incomplete gamma function `P(a, x)`: its series
/// below `x = a + 1`, one less the continued fraction of `Q` above
/// (Numerical Recipes, 3rd ed., 6.2).
fn regularized_lower_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return 1.0;
    }
    let log_prefactor = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut denominator = a;
        for _ in 0..10_000 {
            denominator += 1.0;
            term *= x / denominator;
            sum += term;
            if term.abs() < sum.abs() * f64::EPSILON {
                break;
            }
        }
        return sum * log_prefactor.exp();
    }
    // Modified Lentz evaluation of the continued fraction for Q(a, x).
    let tiny = f64::MIN_POSITIVE / f64::EPSILON;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut fraction = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = d * c;
        fraction *= delta;
        if (delta - 1.0).abs() < f64::EPSILON {
            break;
        }
    }
    1.0 - log_prefactor.exp() * fraction
}

/// Datasets that `scripts/linear_reference.py` builds bit for bit, so that
/// the reference numbers it prints apply here.
#[cfg(test)]
pub(super) mod test_data {
    use ndarray::Array2;

    /// SplitMix64, the generator the reference script also implements.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 * 2f64.powi(-53)
        }

        /// Approximately standard normal: the sum of 12 uniforms less 6,
        /// which needs no library function that could round differently.
        fn normal(&mut self) -> f64 {
            let mut total = 0.0;
            for _ in 0..12 {
                total += self.uniform();
            }
            total - 6.0
        }
    }

    /// Three correlated features; the last `n_outliers` rows are a shifted
    /// cluster.
    pub(crate) fn correlated(n_points: usize, n_outliers: usize, seed: u64) -> Array2<f64> {
        let mut rng = SplitMix(seed);
        let mut points = Array2::zeros((n_points, 3));
        for (index, mut row) in points.rows_mut().into_iter().enumerate() {
            let (a, b, c) = (rng.normal(), rng.normal(), rng.normal());
            let mut values = [a, 0.6 * a + 0.8 * b, 0.5 * c - 0.3 * a + 2.0];
            if index >= n_points - n_outliers {
                values = [values[0] + 4.0, values[1] - 3.0, values[2] + 2.5];
            }
            row.assign(&ndarray::ArrayView1::from(&values));
        }
        points
    }

    /// `ceil((n + d + 1) / 2)` correlated Gaussian inliers, then outliers 8
    /// to 20 from the centre in every coordinate.
    pub(crate) fn separated(n_points: usize, n_features: usize, seed: u64) -> Array2<f64> {
        let mut rng = SplitMix(seed);
        let n_inliers = (n_points + n_features + 2) / 2;
        let mut points = Array2::zeros((n_points, n_features));
        for (index, mut row) in points.rows_mut().into_iter().enumerate() {
            if index < n_inliers {
                let normals: Vec<f64> = (0..n_features).map(|_| rng.normal()).collect();
                row[0] = normals[0];
                for j in 1..n_features {
                    row[j] = 0.5 * normals[0] + normals[j];
                }
            } else {
                for value in row.iter_mut() {
                    let magnitude = 8.0 + 12.0 * rng.uniform();
                    *value = if rng.uniform() < 0.5 {
                        magnitude
                    } else {
                        -magnitude
                    };
                }
            }
        }
        points
    }

    /// Probe points of the reference script.
    pub(crate) const PROBES: [[f64; 3]; 5] = [
        [0.0, 0.0, 2.0],
        [1.0, -1.0, 2.5],
        [3.0, 2.0, 1.0],
        [-2.0, 0.5, 4.0],
        [0.5, 0.3, -1.0],
    ];
}

#[cfg(test)]
mod tests {
    use crate::detector::ecdf::reference::gaussian;
    use proptest::prelude::*;

    use super::test_data::{PROBES, correlated, separated};
    use super::*;
    use approx::assert_relative_eq;
    use ndarray::Array2;

    fn fit(points: &Array2<f64>) -> Mcd {
        Mcd::fit(&McdParams::default(), points.view()).unwrap()
    }

    fn assert_all_close(actual: &[f64], expected: &[f64], tolerance: f64) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert_relative_eq!(*a, *e, max_relative = tolerance, epsilon = tolerance);
        }
    }

    #[test]
    fn chi_square_quantiles_and_consistency_factors_match_scipy() {
        // (df, chi2.ppf(0.975), chi2.ppf(0.5), consistency factor at 0.975)
        let expected = [
            (1, 5.023886187314888, 0.454936423119572, 1.1747786415645665),
            (2, 7.377758908227871, 1.386294361119891, 1.1044679239029054),
            (3, 9.348403604496148, 2.3659738843753377, 1.078478718355326),
            (10, 20.483177350807388, 9.34181776559197, 1.0355599027699192),
            (
                100,
                129.5611971858366,
                99.33412923598846,
                1.0093400532340036,
            ),
        ];
        for (df, upper, median, factor) in expected {
            let k = f64::from(df);
            assert_relative_eq!(chi_square_quantile(0.975, k), upper, max_relative = 1e-12);
            assert_relative_eq!(chi_square_quantile(0.5, k), median, max_relative = 1e-12);
            assert_relative_eq!(
                consistency_factor(df as usize, 0.975),
                factor,
                max_relative = 1e-12
            );
        }
        assert_relative_eq!(
            consistency_factor(3, 22.0 / 40.0),
            2.24325685247914,
            max_relative = 1e-12
        );
        assert_eq!(consistency_factor(3, 1.0), 1.0);
    }

    #[test]
    fn matches_scikit_learn_where_the_optimal_subset_is_unique() {
        // MinCovDet finds the same subset for every random_state on these
        // data (the script asserts it), so location, covariance and scores
        // must agree to rounding whatever our seed. They cover the three
        // search paths: at most 500 points, up to 1500, and beyond.
        struct Case {
            n_points: usize,
            n_features: usize,
            location: &'static [f64],
            covariance: &'static [f64],
            n_support: usize,
            probe_scores: [f64; 5],
        }
        let cases = [
            Case {
                n_points: 40,
                n_features: 3,
                location: &[
                    -0.01162619585993257,
                    0.19637086563118403,
                    -0.20327598518424664,
                ],
                covariance: &[
                    0.7994270277543746,
                    0.1582817459865706,
                    0.2511472752306759,
                    0.1582817459865706,
                    1.0921009433865403,
                    0.451786562112071,
                    0.2511472752306759,
                    0.451786562112071,
                    1.4621630308274178,
                ],
                n_support: 22,
                probe_scores: [
                    0.16451402112193667,
                    2.291282037699842,
                    18.39919640682568,
                    7.765356323936152,
                    0.7339655987454713,
                ],
            },
            Case {
                n_points: 800,
                n_features: 3,
                location: &[
                    -0.09641694046065519,
                    -0.09197207959490013,
                    -0.13237145583430385,
                ],
                covariance: &[
                    1.064441226642507,
                    0.497322922982267,
                    0.49208315362710897,
                    0.497322922982267,
                    1.1320445603335785,
                    0.32735135687387035,
                    0.49208315362710897,
                    0.32735135687387035,
                    1.2408257981037443,
                ],
                n_support: 402,
                probe_scores: [
                    0.10644358492713742,
                    2.2066365081020796,
                    15.31541548360781,
                    4.814450867733095,
                    0.7853569994664481,
                ],
            },
            Case {
                n_points: 2000,
                n_features: 4,
                location: &[
                    -0.036612279804533465,
                    -0.04188955340814267,
                    -0.04707378271912731,
                    -0.08085935813560502,
                ],
                covariance: &[
                    1.0372234747362665,
                    0.4983066665297706,
                    0.5384141882054763,
                    0.5861668535658827,
                    0.4983066665297706,
                    1.3126787047460722,
                    0.2843179623920431,
                    0.25668714639637386,
                    0.5384141882054763,
                    0.2843179623920431,
                    1.2797080290110272,
                    0.28145478852815925,
                    0.5861668535658827,
                    0.25668714639637386,
                    0.28145478852815925,
                    1.384095981891585,
                ],
                n_support: 1003,
                probe_scores: [
                    0.19517756197802202,
                    2.551295341675468,
                    17.068032531315144,
                    5.287443632827913,
                    0.9647155505665459,
                ],
            },
        ];
        for case in cases {
            let points = separated(case.n_points, case.n_features, 11);
            // The script's probes: the first coordinate of each probe,
            // plus 0.1 per feature index.
            let probes = Array2::from_shape_fn((5, case.n_features), |(row, j)| {
                PROBES[row][0] + 0.1 * j as f64
            });
            // A second seed only where fitting is quick in a debug build.
            let seeds: &[u64] = if case.n_points < 1000 { &[0, 1] } else { &[0] };
            for &seed in seeds {
                let params = McdParams {
                    seed,
                    ..McdParams::default()
                };
                let detector = Mcd::fit(&params, points.view()).unwrap();
                assert_eq!(detector.n_support(), case.n_support, "{}", case.n_points);
                assert_all_close(detector.location(), case.location, 1e-9);
                let covariance: Vec<f64> = detector.covariance().iter().copied().collect();
                assert_all_close(&covariance, case.covariance, 1e-9);
                assert_all_close(&detector.score(probes.view()), &case.probe_scores, 1e-9);
            }
        }
    }

    #[test]
    fn reweighting_matches_scikit_learn_from_the_same_raw_estimate() {
        // correlated(80, 10, 7) has near-optimal subsets that different
        // random starts settle on, so the correction and reweighting are
        // checked from scikit-learn's own raw estimate (random_state=0).
        let points = correlated(80, 10, 7);
        let data = points.as_slice().unwrap();
        let raw_location = [
            -0.06286748975869719,
            -0.08863827366373812,
            2.0328410247455153,
        ];
        let raw_covariance = DMatrix::from_row_slice(
            3,
            3,
            &[
                0.4816981984726902,
                0.2966532930675236,
                -0.05876734605655162,
                0.2966532930675236,
                0.41224891985946943,
                -0.028312885282346222,
                -0.05876734605655162,
                -0.028312885282346222,
                0.08824799310209562,
            ],
        );
        let estimate = reweight(Rows::new(data, 3), &raw_location, &raw_covariance, 42).unwrap();
        let detector = Mcd::from_estimate(&McdParams::default(), estimate).unwrap();
        assert_eq!(detector.n_support(), 67);
        assert_all_close(
            detector.location(),
            &[
                -0.13602060257879858,
                -0.29253465472759654,
                2.039089937693508,
            ],
            1e-12,
        );
        let covariance: Vec<f64> = detector.covariance().iter().copied().collect();
        let expected = [
            1.2210466837040592,
            0.7184439883056319,
            -0.34051936312576053,
            0.7184439883056319,
            1.0637874652233095,
            -0.16835444670347674,
            -0.34051936312576053,
            -0.16835444670347674,
            0.24041901146964256,
        ];
        assert_all_close(&covariance, &expected, 1e-12);
        let first_rows = points.slice_axis(ndarray::Axis(0), ndarray::Slice::from(..5));
        let expected = [
            3.4442916897006257,
            1.4866937077099545,
            3.524809292020965,
            6.423058250878457,
            5.380439865063457,
        ];
        assert_all_close(&detector.score(first_rows), &expected, 1e-10);
    }

    #[test]
    fn search_finds_the_optima_scikit_learn_finds_as_often() {
        // Over random states 0..40 scikit-learn's raw log-determinant on
        // these data is -4.71964 (the best, 9 times) or -4.71773 (a local
        // optimum, 31 times). Our search has the same two outcomes.
        let points = correlated(80, 10, 7);
        let rows = Rows::new(points.as_slice().unwrap(), 3);
        let (best, worst) = (-4.71963831029764, -4.7177288700023405);
        let mut n_best = 0;
        for seed in 0..40 {
            let raw = fast_mcd(rows, 42, seed).unwrap();
            assert_eq!(raw.volume.rank, 3);
            assert!(
                raw.volume.log_det <= worst + 1e-9,
                "seed {seed}: {:?}",
                raw.volume
            );
            n_best += usize::from(raw.volume.log_det <= best + 1e-9);
        }
        assert!((5..=20).contains(&n_best), "{n_best} of 40 found the best");
    }

    #[test]
    fn univariate_estimate_is_the_best_of_all_subsets() {
        let values = [3.1, -0.4, 0.2, 7.5, 0.0, 0.9, -6.0, 0.5, 1.4, 2.2];
        let h = 6;
        let raw = univariate_mcd(&values, h).unwrap();
        let mut best = f64::INFINITY;
        for mask in 0u32..1 << values.len() {
            if mask.count_ones() as usize != h {
                continue;
            }
            let chosen: Vec<f64> = (0..values.len())
                .filter(|&i| mask >> i & 1 == 1)
                .map(|i| values[i])
                .collect();
            let mean = chosen.iter().sum::<f64>() / h as f64;
            let variance = chosen.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h as f64;
            best = best.min(variance);
        }
        assert_relative_eq!(raw.covariance[(0, 0)], best, max_relative = 1e-12);
    }

    #[test]
    fn univariate_data_keep_their_centre_when_half_are_far() {
        // scikit-learn's window of h + 1 values puts the location at 2.33
        // and the variance at 24 here; the clean half is centred near 0.
        let points = separated(100, 1, 11);
        let detector = fit(&points);
        assert!(
            detector.location()[0].abs() < 0.5,
            "{:?}",
            detector.location()
        );
        assert!(detector.covariance()[(0, 0)] < 2.0);
        let scores = detector.score(points.view());
        let worst_inlier = scores[..51].iter().copied().fold(0.0, f64::max);
        let best_outlier = scores[51..].iter().copied().fold(f64::INFINITY, f64::min);
        assert!(worst_inlier < best_outlier);
    }

    #[test]
    fn planted_outlier_scores_highest() {
        let mut points = gaussian(1000, 4, 1);
        points.row_mut(17).fill(4.0);
        let detector = fit(&points);
        let scores = detector.score(points.view());
        let top = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        assert_eq!(top, Some(17));
    }

    #[test]
    fn planted_feature_ranks_first_in_attribution() {
        // Correlated features: a normal partner of the planted feature gets
        // a negative term, which is clipped, not a share.
        let points = correlated(1000, 0, 5);
        let detector = fit(&points);
        for planted in 0..3 {
            let mut probe = vec![0.1, 0.1, 2.0];
            probe[planted] += 6.0;
            let shares = detector.attribute(ArrayView1::from(&probe));
            let top = (0..3).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
            assert_eq!(top, Some(planted), "shares {shares:?}");
            approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
            assert!(shares.iter().all(|&share| share >= 0.0));
        }
    }

    #[test]
    fn constant_feature_is_ignored_by_the_pseudo_inverse() {
        let mut points = gaussian(300, 3, 2);
        points.column_mut(1).fill(5.0);
        points[[10, 0]] = 9.0;
        let detector = fit(&points);
        assert_eq!(detector.rank(), 2);
        let scores = detector.score(points.view());
        assert!(scores.iter().all(|score| score.is_finite()));
        let top = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        assert_eq!(top, Some(10));
        assert_eq!(detector.attribute(points.row(10))[1], 0.0);
    }

    #[test]
    fn constant_data_score_zero() {
        let points = Array2::from_elem((50, 3), 1.5);
        let detector = fit(&points);
        assert_eq!(detector.rank(), 0);
        assert_eq!(detector.score(points.view()), vec![0.0; 50]);
        assert_eq!(detector.attribute(points.row(0)), vec![0.0; 3]);
    }

    #[test]
    fn more_features_than_points_fits() {
        let points = gaussian(8, 20, 4);
        let detector = fit(&points);
        assert!(detector.rank() < 8);
        let scores = detector.score(gaussian(5, 20, 5).view());
        assert!(
            scores
                .iter()
                .all(|score| score.is_finite() && *score >= 0.0)
        );
    }

    #[test]
    fn duplicated_majority_fits_without_panicking() {
        // More than h identical points: the raw covariance is zero, every
        // raw distance is zero and the reweighting keeps all points.
        let mut points = Array2::from_elem((40, 2), 1.0);
        points.row_mut(0).assign(&ndarray::array![3.0, -2.0]);
        points.row_mut(1).assign(&ndarray::array![0.0, 4.0]);
        let detector = fit(&points);
        assert!(detector.score(points.view()).iter().all(|s| s.is_finite()));
    }

    #[test]
    fn too_few_and_non_finite_training_points_are_errors() {
        let params = McdParams::default();
        let error = Mcd::fit(&params, ndarray::array![[1.0, 2.0]].view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot fit on 1 points with 2 features: a covariance needs at least 2 points"
        );
        assert!(Mcd::fit(&params, Array2::zeros((5, 0)).view()).is_err());
        let odd = ndarray::array![[0.0, f64::NAN], [1.0, 1.0], [2.0, 2.0]];
        let error = Mcd::fit(&params, odd.view()).unwrap_err();
        assert!(
            error.to_string().ends_with("points must be finite"),
            "{error}"
        );
        let huge = ndarray::array![[0.0, 1e200], [1.0, 1.0], [2.0, 2.0]];
        assert!(Mcd::fit(&params, huge.view()).is_err());
    }

    #[test]
    fn non_finite_and_misshapen_points_do_not_panic() {
        let detector = fit(&gaussian(100, 2, 5));
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, 0.0]];
        let scores = detector.score(odd.view());
        assert!(scores[0].is_nan());
        assert_eq!(detector.attribute(odd.row(0)), vec![0.0, 0.0]);
        assert_eq!(detector.attribute(odd.row(1)), vec![1.0, 0.0]);
        let wrong = detector.score(Array2::zeros((2, 3)).view());
        assert!(wrong.iter().all(|score| score.is_nan()));
        assert_eq!(detector.attribute(ArrayView1::from(&[1.0])), vec![0.0, 0.0]);
    }

    #[test]
    fn bad_support_fraction_is_rejected_with_its_name() {
        for bad in [0.0, 1.5, f64::NAN] {
            let params = McdParams {
                support_fraction: Some(bad),
                ..McdParams::default()
            };
            let error = params.validate().unwrap_err();
            assert_eq!(error.name, "support_fraction");
        }
        let params = McdParams {
            support_fraction: Some(0.0),
            ..McdParams::default()
        };
        let error = Mcd::fit(&params, gaussian(10, 2, 1).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: support_fraction must be in (0, 1], got 0"
        );
    }

    #[test]
    fn support_fraction_sets_the_subset_size() {
        let params = McdParams {
            support_fraction: Some(0.75),
            ..McdParams::default()
        };
        assert_eq!(params.support_size(100, 3), 75);
        assert_eq!(McdParams::default().support_size(100, 3), 52);
        assert_eq!(McdParams::default().support_size(5, 20), 5);
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        let detector = fit(&gaussian(500, 3, 6));
        let bytes = postcard::to_stdvec(&detector).unwrap();
        let loaded: Mcd = postcard::from_bytes(&bytes).unwrap();
        let probes = gaussian(50, 3, 7);
        assert_eq!(loaded.score(probes.view()), detector.score(probes.view()));
        assert_eq!(loaded.params(), detector.params());
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
    }

    #[test]
    fn estimate_does_not_depend_on_the_thread_count() {
        // Above 1500 points, so every search stage runs.
        let points = correlated(1600, 160, 9);
        let fit_and_score = || fit(&points).score(points.view());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(pool.install(fit_and_score), fit_and_score());
    }

    /// A training value for the no-panic property: ordinary, or repeated
    /// so that columns are often constant and rows duplicated.
    fn training_value() -> impl Strategy<Value = f64> {
        prop_oneof![3 => -3.0..3.0f64, 1 => Just(1.0), 1 => Just(-2.0)]
    }

    /// A probe value: anything, finite or not.
    fn probe_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -1e6..1e6f64,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(1e300),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn fitting_scoring_and_attributing_never_panic(
            (points, probes) in (0usize..40, 0usize..5).prop_flat_map(|(n, d)| {
                (
                    prop::collection::vec(training_value(), n * d)
                        .prop_map(move |values| Array2::from_shape_vec((n, d), values).unwrap()),
                    prop::collection::vec(probe_value(), 4 * d)
                        .prop_map(move |values| Array2::from_shape_vec((4, d), values).unwrap()),
                )
            }),
        ) {
            let Ok(detector) = Mcd::fit(&McdParams::default(), points.view()) else {
                prop_assert!(points.nrows() < 2 || points.ncols() == 0);
                return Ok(());
            };
            let scores = detector.score(points.view());
            prop_assert_eq!(scores.len(), points.nrows());
            prop_assert!(scores.iter().all(|score| score.is_finite() && *score >= 0.0));
            prop_assert_eq!(detector.score(probes.view()).len(), 4);
            for row in points.rows().into_iter().chain(probes.rows()) {
                let shares = detector.attribute(row);
                let total: f64 = shares.iter().sum();
                prop_assert!(shares.iter().all(|&share| share >= 0.0));
                prop_assert!(total == 0.0 || (total - 1.0).abs() < 1e-9, "{:?}", shares);
            }
        }
    }
}
