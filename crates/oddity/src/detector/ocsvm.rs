//! One-class support vector machine (Schölkopf, Platt, Shawe-Taylor, Smola
//! and Williamson, Neural Computation 2001), nu formulation with the RBF
//! kernel `K(x, y) = exp(-gamma |x - y|^2)`, as PyOD's `OCSVM` (which wraps
//! scikit-learn's `OneClassSVM`, that is libsvm).
//!
//! The dual, in libsvm's scaling: minimise `1/2 a'Ka` subject to
//! `0 <= a_i <= 1` and `sum_i a_i = nu n`. The decision function is
//! `f(x) = sum_i a_i K(x_i, x) - rho`, positive inside the learned region;
//! the score is `-f(x) = rho - sum_i a_i K(x_i, x)`, PyOD's
//! `decision_function`, higher for points far from the support vectors.
//! `nu` bounds the share of training points outside the region from above
//! and the share of support vectors from below.
//!
//! Defaults follow PyOD's `OCSVM` rather than scikit-learn's `OneClassSVM`,
//! because PyOD's are what ADBench ran and published: `nu = 0.5`,
//! `gamma = "auto"` (`1 / n_features`; scikit-learn defaults to `"scale"`,
//! `1 / (n_features var(X))`, offered as [`Gamma::Scale`]) and libsvm's
//! stopping tolerance `1e-3`.
//!
//! Two solvers ([`SvmSolver`]):
//!
//! - **Exact** solves the dual by SMO as libsvm does (second-order
//!   working-set selection, libsvm's starting point and stopping test; see
//!   `smo.rs`; no shrinking), with kernel rows computed on all cores and
//!   kept in a cache of `cache_mb` megabytes (as `f32`, libsvm's
//!   precision). It follows libsvm's path, so its decision values agree
//!   with scikit-learn's to rounding (`1e-9` and better in the tests, `1e-12`
//!   at 20 000 points). Time grows about as `n^2 d`: each SMO step needs one
//!   or two kernel rows, recomputed when the cache cannot hold `n` rows.
//! - **Approximate** maps the points to `m = n_landmarks` Nyström features
//!   (Williams and Seeger, NIPS 2000): `m` training points drawn uniformly
//!   without replacement are the landmarks, and `phi(x) = L^-1/2 U' k(x)`
//!   for the eigendecomposition `U L U'` of their kernel matrix (less the
//!   eigenvalues below `1e-10` of the largest) and the kernel values `k(x)`
//!   between `x` and the landmarks, so that `phi(x)'phi(y)` approximates
//!   `K(x, y)`. The same dual with the linear kernel on these features is
//!   solved by decomposition: each round computes the whole gradient
//!   `Phi w` (`O(n m)`), picks the `WORKING_SET` most violating variables
//!   and solves that subproblem by the same SMO, until the violation is
//!   below `tol` times `max(1, rho)` (relative, unlike the exact test: the
//!   gradient grows with `n`). `w = sum_i a_i phi(x_i)` folds back into one
//!   coefficient per landmark, so the model is again
//!   `sum_j b_j K(z_j, x) - rho`, on the exact solver's scale (the `b_j`
//!   may be negative). Memory is the `n × rank` feature matrix as `f32`
//!   (200 MB at 100 000 points and rank 500).
//! - **Auto** (default) is exact up to `max_exact_points` (10 000) training
//!   points, which covers every ADBench split (at most 7 000), and
//!   approximate above.
//!
//! Measured on 2 shared cores (`oddity detect`, CSV parsing included):
//! 20 000 × 10 Gaussian points, exact 18 s, approximate 3.3 s, PyOD's
//! `OCSVM` 44 s (fit 36 s, score 8 s); 100 000 × 10, approximate fit 19 s
//! (98 rounds). On the 27 ADBench datasets here (3 seeds,
//! `bench/side_by_side.py --compare ocsvm`) the mean ROC-AUC is 0.731,
//! PyOD's 0.731 on the same splits (largest per-dataset gap below 1e-5),
//! the published OCSVM column 0.730. How close the approximation is, by
//! `bench/ocsvm_approximation.py` on the ADBench splits (seed 1) of
//! Cardiotocography, satellite, pendigits, thyroid, magic.gamma, mnist,
//! ALOI and InternetAds: with 500 landmarks the test ROC-AUC differs from
//! the exact solver's by 0.0004 on average (at most 0.0013) and the test
//! scores' Spearman correlation with the exact ones is 0.99995 on average
//! (at least 0.9998); with 100 landmarks, 0.0004 (at most 0.0010) and
//! 0.99991. With `gamma = 1 / n_features` on features scaled to `[0, 1]`
//! the kernel is smooth and its matrix nearly low-rank, hence so few
//! landmarks suffice; a larger `gamma` needs more.
//!
//! Attribution: with `u_ij = gamma (x_j - x_ij)^2`, the score is
//! `rho - sum_i a_i exp(-sum_j u_ij)`, and its derivative along `u_ij` is
//! `a_i K(x_i, x)`. Feature `j` receives `sum_i a_i K(x_i, x) u_ij`, the
//! gradient-times-input share of the squared distances to the support
//! vectors: the support vectors that hold the point's kernel mass (the
//! nearest) count most, and among them the features along which the point
//! lies farthest from them. The weights are taken relative to the nearest
//! support vector, so that a point far from all of them (whose kernel
//! values underflow to zero) still gets shares. Negative coefficients of
//! the approximate model can make a feature's sum negative; it is clipped
//! at zero.

use std::sync::Arc;

use nalgebra::DMatrix;
use ndarray::{ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::mahalanobis::{check_points, non_finite_shares, sorted_eigen};
use super::smo::{self, CachedRows, DenseRows};
use super::{Detector, FitError, ParamError, normalise_shares, score_rows};

/// Rows scored together by one rayon task.
const SCORE_BLOCK_ROWS: usize = 256;

/// Partial sums of a squared distance; see [`squared_distance`].
const LANES: usize = 8;

/// Kernel values computed together by one rayon task in a kernel row.
const KERNEL_ROW_CHUNK: usize = 1024;

/// Variables optimised together in one round of the approximate solver:
/// large enough that few rounds are needed, small enough that the
/// subproblem's `WORKING_SET^2 m` Gram matrix costs less than a gradient
/// pass.
const WORKING_SET: usize = 512;

/// Rounds of the approximate solver before it gives up on `tol`.
const MAX_ROUNDS: usize = 10_000;

/// Eigenvalues of the landmarks' kernel matrix below this fraction of the
/// largest are dropped: their directions carry rounding, and `L^-1/2`
/// would amplify it.
const NYSTROM_RANK_TOLERANCE: f64 = 1e-10;

/// The RBF kernel width.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gamma {
    /// `1 / n_features`: PyOD's and ADBench's default, suited to features
    /// scaled to about unit range.
    Auto,
    /// `1 / (n_features var(X))` over all training values (1 when that is
    /// zero): scikit-learn's default, which follows the data's scale.
    Scale,
    /// A fixed value, positive and finite.
    Value(f64),
}

/// Which solver fits the model; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SvmSolver {
    /// Exact up to `max_exact_points` training points, approximate above.
    Auto,
    /// libsvm's SMO on the kernel matrix.
    Exact,
    /// Nyström features and a linear one-class SVM on them.
    Approximate,
}

/// Parameters of [`OneClassSvm`]; defaults are PyOD's `OCSVM` where it has
/// the parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OneClassSvmParams {
    /// Upper bound on the share of training points outside the region and
    /// lower bound on the share of support vectors, in `(0, 1]`; default
    /// 0.5.
    pub nu: f64,
    /// The kernel width; default [`Gamma::Auto`].
    pub gamma: Gamma,
    /// Stopping tolerance on the largest violation of the optimality
    /// conditions, libsvm's `eps`; default `1e-3`.
    pub tol: f64,
    /// Exact, approximate, or chosen by size; default [`SvmSolver::Auto`].
    pub solver: SvmSolver,
    /// Most training points [`SvmSolver::Auto`] solves exactly; default
    /// 10 000.
    pub max_exact_points: usize,
    /// Landmarks of the approximate solver, at least 1 (at most the
    /// training points are used); default 500.
    pub n_landmarks: usize,
    /// Kernel row cache of the exact solver in megabytes, at least 1;
    /// default 200 (libsvm's `cache_size`).
    pub cache_mb: usize,
    /// Seed of the landmark draw.
    pub seed: u64,
}

impl Default for OneClassSvmParams {
    fn default() -> Self {
        OneClassSvmParams {
            nu: 0.5,
            gamma: Gamma::Auto,
            tol: 1e-3,
            solver: SvmSolver::Auto,
            max_exact_points: 10_000,
            n_landmarks: 500,
            cache_mb: 200,
            seed: 42,
        }
    }
}

impl OneClassSvmParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(self.nu > 0.0 && self.nu <= 1.0) {
            return Err(ParamError::new("nu", "must be in (0, 1]", self.nu));
        }
        if let Gamma::Value(gamma) = self.gamma
            && !(gamma.is_finite() && gamma > 0.0)
        {
            return Err(ParamError::new(
                "gamma",
                "must be positive and finite",
                gamma,
            ));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(ParamError::new(
                "tol",
                "must be positive and finite",
                self.tol,
            ));
        }
        if self.n_landmarks == 0 {
            return Err(ParamError::new("n_landmarks", "must be at least 1", 0));
        }
        if self.cache_mb == 0 {
            return Err(ParamError::new("cache_mb", "must be at least 1", 0));
        }
        Ok(())
    }

    pub(crate) fn name(&self) -> &'static str {
        "one_class_svm"
    }
}

/// A fitted one-class SVM; see the module documentation.
///
/// ```
/// use oddity::detector::{Detector, OneClassSvm, OneClassSvmParams};
/// use ndarray::array;
///
/// let points = array![
///     [0.1, 0.2], [0.2, 0.1], [0.15, 0.25], [0.3, 0.2],
///     [0.25, 0.3], [0.2, 0.2], [0.1, 0.3], [0.9, 0.95],
/// ];
/// let detector = OneClassSvm::fit(&OneClassSvmParams::default(), points.view()).unwrap();
/// let scores = detector.score(points.view());
/// assert!(scores[..7].iter().all(|&score| score < scores[7]));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OneClassSvm {
    params: OneClassSvmParams,
    n_features: usize,
    gamma: f64,
    /// The solver that ran: exact or approximate.
    solver: SvmSolver,
    /// Support vectors (exact) or landmarks (approximate), row-major.
    vectors: Vec<f64>,
    /// One coefficient per vector: the dual `a_i` or the folded Nyström
    /// weight.
    coefficients: Vec<f64>,
    rho: f64,
}

impl OneClassSvm {
    /// Fits on finite training points (at least 2).
    pub fn fit(
        params: &OneClassSvmParams,
        points: ArrayView2<'_, f64>,
    ) -> Result<OneClassSvm, FitError> {
        params.validate()?;
        check_points(points, "a one-class SVM needs at least 2 points")?;
        let (n_points, n_features) = points.dim();
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");
        let gamma = match params.gamma {
            Gamma::Auto => 1.0 / n_features as f64,
            Gamma::Scale => {
                let count = data.len() as f64;
                let mean = data.iter().sum::<f64>() / count;
                let variance = data.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
                if variance > 0.0 {
                    1.0 / (n_features as f64 * variance)
                } else {
                    1.0
                }
            }
            Gamma::Value(gamma) => gamma,
        };
        let solver = match params.solver {
            SvmSolver::Auto if n_points <= params.max_exact_points => SvmSolver::Exact,
            SvmSolver::Auto => SvmSolver::Approximate,
            chosen => chosen,
        };
        let start = initial_alpha(n_points, params.nu);
        let (vectors, coefficients, rho) = if solver == SvmSolver::Exact {
            fit_exact(data, n_features, gamma, start, params)
        } else {
            fit_approximate(data, n_features, gamma, start, params).ok_or(
                FitError::NotEnoughData {
                    n_points,
                    n_features,
                    reason: "the landmark kernel eigendecomposition did not converge",
                },
            )?
        };
        Ok(OneClassSvm {
            params: params.clone(),
            n_features,
            gamma,
            solver,
            vectors,
            coefficients,
            rho,
        })
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &OneClassSvmParams {
        &self.params
    }

    /// The kernel width used.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// The solver that ran, [`SvmSolver::Exact`] or
    /// [`SvmSolver::Approximate`].
    pub fn solver(&self) -> SvmSolver {
        self.solver
    }

    /// Support vectors (exact) or landmarks (approximate).
    pub fn n_vectors(&self) -> usize {
        self.coefficients.len()
    }

    /// The offset `rho` of the decision function.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    fn vectors(&self) -> impl Iterator<Item = (&[f64], f64)> {
        self.vectors
            .chunks_exact(self.n_features)
            .zip(self.coefficients.iter().copied())
    }

    fn score_one(&self, point: &[f64]) -> f64 {
        let mass: f64 = self
            .vectors()
            .map(|(vector, coefficient)| {
                coefficient * (-self.gamma * squared_distance(point, vector)).exp()
            })
            .sum();
        self.rho - mass
    }
}

/// libsvm's starting point for the one-class dual: the first `floor(nu n)`
/// variables at 1, the next at the remainder, the rest at 0.
fn initial_alpha(n_points: usize, nu: f64) -> Vec<f64> {
    let total = nu * n_points as f64;
    // Truncation is libsvm's `(int)(nu * l)`; total is at most n_points.
    let n_full = (total as usize).min(n_points);
    let mut alpha = vec![0.0; n_points];
    alpha[..n_full].fill(1.0);
    if n_full < n_points {
        alpha[n_full] = total - n_full as f64;
    }
    alpha
}

/// `|a - b|^2` over the shorter slice.
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    lane_sum(a, b, |x, y| (x - y) * (x - y))
}

/// `a . b` over the shorter slice, in `f64`.
fn dot<A: Copy + Into<f64>, B: Copy + Into<f64>>(a: &[A], b: &[B]) -> f64 {
    lane_sum(a, b, |x, y| x * y)
}

/// `sum_k term(a_k, b_k)` over the shorter slice, in [`LANES`] independent
/// partial sums: a single running sum fixes the order of the additions,
/// which keeps the compiler from vectorising the loops that dominate
/// fitting and scoring.
#[inline]
fn lane_sum<A: Copy + Into<f64>, B: Copy + Into<f64>>(
    a: &[A],
    b: &[B],
    term: impl Fn(f64, f64) -> f64,
) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0.0; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&x, &y)| term(x.into(), y.into()))
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for (lane, (&x, &y)) in lanes.iter_mut().zip(x.iter().zip(y)) {
            *lane += term(x.into(), y.into());
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// `K(x, y)` for one point against every row of `data`, as `f32`.
fn kernel_row(data: &[f64], n_features: usize, point: &[f64], gamma: f64) -> Vec<f32> {
    data.par_chunks(n_features)
        .with_min_len(KERNEL_ROW_CHUNK)
        .map(|other| (-gamma * squared_distance(point, other)).exp() as f32)
        .collect()
}

/// The exact solver: support vectors, their coefficients and `rho`.
fn fit_exact(
    data: &[f64],
    n_features: usize,
    gamma: f64,
    start: Vec<f64>,
    params: &OneClassSvmParams,
) -> (Vec<f64>, Vec<f64>, f64) {
    let n_points = start.len();
    let row_bytes = 4 * n_points;
    let capacity = params.cache_mb.saturating_mul(1 << 20) / row_bytes.max(1);
    let mut rows = CachedRows::new(vec![1.0; n_points], capacity, |i| {
        kernel_row(
            data,
            n_features,
            &data[i * n_features..(i + 1) * n_features],
            gamma,
        )
    });
    let solution = smo::solve(
        &mut rows,
        &vec![0.0; n_points],
        start,
        1.0,
        params.tol,
        smo::default_max_iter(n_points),
    );
    log_solution("exact", &solution, rows.misses);

    let mut vectors = Vec::new();
    let mut coefficients = Vec::new();
    for (row, &alpha) in data.chunks_exact(n_features).zip(&solution.alpha) {
        if alpha > 0.0 {
            vectors.extend_from_slice(row);
            coefficients.push(alpha);
        }
    }
    (vectors, coefficients, solution.rho)
}

fn log_solution(solver: &str, solution: &smo::Solution, row_computations: usize) {
    if !solution.converged {
        tracing::warn!(
            solver,
            iterations = solution.iterations,
            "one-class SVM stopped at the iteration limit before reaching tol"
        );
    }
    tracing::debug!(
        solver,
        iterations = solution.iterations,
        row_computations,
        rho = solution.rho,
        "fitted one-class SVM"
    );
}

/// The approximate solver: landmarks, their folded coefficients and `rho`;
/// `None` if the eigendecomposition fails.
fn fit_approximate(
    data: &[f64],
    n_features: usize,
    gamma: f64,
    mut alpha: Vec<f64>,
    params: &OneClassSvmParams,
) -> Option<(Vec<f64>, Vec<f64>, f64)> {
    let n_points = alpha.len();
    let n_landmarks = params.n_landmarks.min(n_points);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
    let mut picked = rand::seq::index::sample(&mut rng, n_points, n_landmarks).into_vec();
    picked.sort_unstable();
    let landmarks: Vec<f64> = picked
        .iter()
        .flat_map(|&i| data[i * n_features..(i + 1) * n_features].iter().copied())
        .collect();

    // phi(x) = L^-1/2 U' k(x) over the kept eigenpairs.
    let gram = DMatrix::from_fn(n_landmarks, n_landmarks, |a, b| {
        let za = &landmarks[a * n_features..(a + 1) * n_features];
        let zb = &landmarks[b * n_features..(b + 1) * n_features];
        (-gamma * squared_distance(za, zb)).exp()
    });
    let eigen = sorted_eigen(&gram)?;
    let largest = eigen.values.first().copied().unwrap_or(0.0);
    let rank = eigen
        .values
        .iter()
        .take_while(|&&value| value > largest * NYSTROM_RANK_TOLERANCE && value > 0.0)
        .count();
    // Row k of the projection: u_k / sqrt(l_k), so phi = projection k(x).
    let projection: Vec<f64> = (0..rank)
        .flat_map(|k| {
            let scale = eigen.values[k].sqrt().recip();
            let column = eigen.vectors.column(k);
            (0..n_landmarks)
                .map(move |a| column[a] * scale)
                .collect::<Vec<f64>>()
        })
        .collect();
    let features: Vec<f32> = data
        .par_chunks(n_features)
        .flat_map_iter(|point| {
            let kernel: Vec<f64> = landmarks
                .chunks_exact(n_features)
                .map(|z| (-gamma * squared_distance(point, z)).exp())
                .collect();
            projection
                .chunks_exact(n_landmarks)
                .map(|row| dot(row, &kernel) as f32)
                .collect::<Vec<f32>>()
        })
        .collect();

    let (rho, w) = solve_linear(&features, rank, &mut alpha, params.tol);
    // w' phi(x) = (projection' w)' k(x): one coefficient per landmark.
    let mut coefficients = vec![0.0; n_landmarks];
    for (row, &weight) in projection.chunks_exact(n_landmarks).zip(&w) {
        for (coefficient, &value) in coefficients.iter_mut().zip(row) {
            *coefficient += value * weight;
        }
    }
    Some((landmarks, coefficients, rho))
}

fn gradient_of(features: &[f32], rank: usize, w: &[f64]) -> Vec<f64> {
    features
        .par_chunks(rank.max(1))
        .map(|phi| dot(phi, w))
        .collect()
}

/// The one-class dual with the linear kernel on `features` (`n × rank`,
/// row-major) by decomposition; see the module documentation. Returns
/// `rho` and `w = sum_i a_i phi_i`.
fn solve_linear(features: &[f32], rank: usize, alpha: &mut [f64], tol: f64) -> (f64, Vec<f64>) {
    let n_points = alpha.len();
    let phi = |i: usize| &features[i * rank..(i + 1) * rank];
    let mut w = vec![0.0; rank];
    for (i, &a) in alpha.iter().enumerate() {
        if a != 0.0 {
            for (value, &f) in w.iter_mut().zip(phi(i)) {
                *value += a * f64::from(f);
            }
        }
    }

    let mut rounds = 0;
    let mut gradient = gradient_of(features, rank, &w);
    loop {
        // Relative to the score scale rho: the gradient grows with n (the
        // a_i sum to nu n), and libsvm's absolute test would ask ever more
        // digits of larger problems than an approximate model can use.
        let scaled_tol = tol * smo::offset(alpha, &gradient, 1.0).abs().max(1.0);
        if rounds == MAX_ROUNDS || smo::violation(alpha, &gradient, 1.0) < scaled_tol {
            break;
        }
        rounds += 1;
        let working = working_set(alpha, &gradient);
        let rows: Vec<Arc<[f32]>> = working
            .par_iter()
            .map(|&a| {
                let phi_a = phi(a);
                working
                    .iter()
                    .map(|&b| dot(phi_a, phi(b)) as f32)
                    .collect::<Vec<f32>>()
                    .into()
            })
            .collect();
        let start: Vec<f64> = working.iter().map(|&i| alpha[i]).collect();
        // The subproblem's linear term: the full gradient less the working
        // set's own part.
        let linear: Vec<f64> = working
            .iter()
            .zip(&rows)
            .map(|(&i, row)| gradient[i] - dot(row, &start))
            .collect();
        let mut q = DenseRows::new(rows);
        let solution = smo::solve(
            &mut q,
            &linear,
            start.clone(),
            1.0,
            scaled_tol,
            smo::default_max_iter(working.len()),
        );
        for ((&i, &old), &new) in working.iter().zip(&start).zip(&solution.alpha) {
            alpha[i] = new;
            if new != old {
                for (value, &f) in w.iter_mut().zip(phi(i)) {
                    *value += (new - old) * f64::from(f);
                }
            }
        }
        gradient = gradient_of(features, rank, &w);
    }
    if rounds == MAX_ROUNDS {
        tracing::warn!(
            rounds,
            "approximate one-class SVM stopped at the round limit before reaching tol"
        );
    }
    tracing::debug!(n_points, rank, rounds, "fitted approximate one-class SVM");
    (smo::offset(alpha, &gradient, 1.0), w)
}

/// The most violating variables, alternately the largest `-G` among those
/// that may grow and the largest `G` among those that may shrink, at most
/// [`WORKING_SET`] in all.
fn working_set(alpha: &[f64], gradient: &[f64]) -> Vec<usize> {
    let mut up: Vec<usize> = (0..alpha.len()).filter(|&i| alpha[i] < 1.0).collect();
    let mut down: Vec<usize> = (0..alpha.len()).filter(|&i| alpha[i] > 0.0).collect();
    up.sort_by(|&a, &b| gradient[a].total_cmp(&gradient[b]));
    down.sort_by(|&a, &b| gradient[b].total_cmp(&gradient[a]));
    let mut chosen = vec![false; alpha.len()];
    let mut working = Vec::with_capacity(WORKING_SET);
    let (mut up, mut down) = (up.into_iter(), down.into_iter());
    while working.len() < WORKING_SET {
        let mut added = false;
        for next in [up.next(), down.next()].into_iter().flatten() {
            added = true;
            if !chosen[next] && working.len() < WORKING_SET {
                chosen[next] = true;
                working.push(next);
            }
        }
        if !added {
            break;
        }
    }
    working
}

impl Detector for OneClassSvm {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(
            points,
            self.n_features,
            SCORE_BLOCK_ROWS,
            || (),
            |(), row| self.score_one(row),
        )
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        if point.len() != self.n_features {
            return vec![0.0; self.n_features];
        }
        let point = point.to_vec();
        if let Some(shares) = non_finite_shares(&point) {
            return shares;
        }
        // Weights a_i K(x_i, x) relative to the nearest vector's kernel
        // value, so that they do not all underflow far from the data.
        let distances: Vec<f64> = self
            .vectors()
            .map(|(vector, _)| squared_distance(&point, vector))
            .collect();
        let nearest = distances.iter().copied().fold(f64::INFINITY, f64::min);
        let mut terms = vec![0.0; self.n_features];
        for ((vector, coefficient), &distance) in self.vectors().zip(&distances) {
            let weight = coefficient * (-self.gamma * (distance - nearest)).exp();
            if weight == 0.0 {
                continue;
            }
            for ((term, &x), &v) in terms.iter_mut().zip(&point).zip(vector) {
                *term += weight * self.gamma * (x - v) * (x - v);
            }
        }
        normalise_shares(terms)
    }
}

#[cfg(test)]
mod tests {
    use crate::detector::ecdf::reference::gaussian;
    use crate::detector::neighbors::rank_correlation;
    use proptest::prelude::*;

    use super::super::mahalanobis::test_data::{PROBES, correlated};
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{Array2, Axis, Slice};

    fn probes() -> Array2<f64> {
        Array2::from_shape_fn((5, 3), |(row, j)| PROBES[row][j])
    }

    fn fit(params: &OneClassSvmParams, points: &Array2<f64>) -> OneClassSvm {
        OneClassSvm::fit(params, points.view()).unwrap()
    }

    fn exact() -> OneClassSvmParams {
        OneClassSvmParams {
            solver: SvmSolver::Exact,
            ..OneClassSvmParams::default()
        }
    }

    fn approximate() -> OneClassSvmParams {
        OneClassSvmParams {
            solver: SvmSolver::Approximate,
            ..OneClassSvmParams::default()
        }
    }

    fn top(values: &[f64]) -> Option<usize> {
        (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b]))
    }

    #[test]
    fn decision_values_agree_with_scikit_learn() {
        // scripts/ocsvm_reference.py: scikit-learn's OneClassSVM on
        // correlated(...), rho, support vectors, decision_function of the
        // probes and of the first five training points.
        let cases: [(_, _, f64, usize, [f64; 10]); 3] = [
            (
                (60, 5, 3),
                OneClassSvmParams::default(),
                7.059725827708667,
                33,
                [
                    0.8693118606491215,
                    -1.545815977377318,
                    -4.8412672675124675,
                    -5.007672839864782,
                    -5.92149011276107,
                    0.7857802540098371,
                    0.7786636526274382,
                    -0.44488830625186626,
                    0.6803557963031537,
                    -1.5366580070470253,
                ],
            ),
            (
                (60, 5, 3),
                OneClassSvmParams {
                    nu: 0.1,
                    gamma: Gamma::Scale,
                    ..OneClassSvmParams::default()
                },
                1.7359689085187946,
                11,
                [
                    0.3469985707830978,
                    0.022077568045450136,
                    -0.5114263157056698,
                    -0.5960671484670863,
                    -0.8055990172669006,
                    0.32819693175331643,
                    0.34377370050084366,
                    0.18168581439509124,
                    0.29095873033329944,
                    0.018737628968002795,
                ],
            ),
            (
                (200, 10, 4),
                OneClassSvmParams {
                    nu: 0.3,
                    gamma: Gamma::Value(0.8),
                    tol: 1e-9,
                    ..OneClassSvmParams::default()
                },
                5.188252025703638,
                67,
                [
                    0.3124207194578936,
                    -1.314215922296802,
                    -4.143567893575339,
                    -3.5733288018983247,
                    -5.034883613212516,
                    0.149374626825586,
                    0.16891959638707466,
                    0.5214918972755367,
                    0.1803714953156712,
                    0.08785912437594412,
                ],
            ),
        ];
        for ((n, n_outliers, seed), params, rho, n_support, decision) in cases {
            let train = correlated(n, n_outliers, seed);
            let detector = fit(&params, &train);
            assert_eq!(detector.solver(), SvmSolver::Exact);
            let first = train.slice_axis(Axis(0), Slice::from(..5));
            let scores = detector.score(probes().view()).into_iter();
            let scores: Vec<f64> = scores.chain(detector.score(first)).collect();
            let range = decision.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            // Same starting point, pair selection and stopping test as
            // libsvm: the paths coincide and the values agree to rounding.
            assert_abs_diff_eq!(detector.rho(), rho, epsilon = 1e-6 * rho.abs());
            assert_eq!(detector.n_vectors(), n_support);
            for (score, expected) in scores.iter().zip(decision) {
                assert_abs_diff_eq!(-score, expected, epsilon = 1e-6 * range);
            }
        }
    }

    #[test]
    fn planted_outlier_scores_highest() {
        for params in [exact(), approximate()] {
            let mut points = correlated(1000, 0, 1);
            points.row_mut(17).assign(&ndarray::array![4.0, -4.0, 5.0]);
            let scores = fit(&params, &points).score(points.view());
            assert_eq!(top(&scores), Some(17), "{:?}", params.solver);
        }
    }

    #[test]
    fn planted_feature_ranks_first_in_attribution() {
        for params in [exact(), approximate()] {
            let detector = fit(&params, &gaussian(2000, 5, 7));
            for planted in 0..5 {
                for value in [3.0, 7.0, -40.0] {
                    let mut probe = vec![0.1; 5];
                    probe[planted] = value;
                    let shares = detector.attribute(ArrayView1::from(&probe));
                    assert_eq!(
                        top(&shares),
                        Some(planted),
                        "{:?} {shares:?}",
                        params.solver
                    );
                    assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
                }
            }
            let detector = fit(&params, &correlated(2000, 0, 5));
            for planted in 0..3 {
                let mut probe = vec![0.1, 0.1, 2.0];
                probe[planted] += 6.0;
                let shares = detector.attribute(ArrayView1::from(&probe));
                assert_eq!(
                    top(&shares),
                    Some(planted),
                    "{:?} {shares:?}",
                    params.solver
                );
            }
        }
    }

    #[test]
    fn approximate_ranks_points_as_exact_does() {
        let train = gaussian(3000, 5, 11);
        let probes = gaussian(1000, 5, 12).mapv(|value| 1.5 * value);
        let exact_scores = fit(&exact(), &train).score(probes.view());
        let approximate_scores = fit(&approximate(), &train).score(probes.view());
        let correlation = rank_correlation(&exact_scores, &approximate_scores);
        assert!(correlation > 0.99, "{correlation}");

        // With every point a landmark the features are exact, and so is
        // the solution up to the tolerance.
        let train = gaussian(300, 3, 13);
        let all = OneClassSvmParams {
            n_landmarks: 300,
            tol: 1e-8,
            ..approximate()
        };
        let tight = OneClassSvmParams {
            tol: 1e-8,
            ..exact()
        };
        let probes = gaussian(50, 3, 14);
        let expected = fit(&tight, &train).score(probes.view());
        let actual = fit(&all, &train).score(probes.view());
        for (a, e) in actual.iter().zip(&expected) {
            assert_abs_diff_eq!(a, e, epsilon = 1e-4);
        }
    }

    #[test]
    fn auto_solver_switches_at_max_exact_points() {
        let points = gaussian(200, 2, 1);
        let params = OneClassSvmParams {
            max_exact_points: 200,
            ..OneClassSvmParams::default()
        };
        assert_eq!(fit(&params, &points).solver(), SvmSolver::Exact);
        let params = OneClassSvmParams {
            max_exact_points: 199,
            n_landmarks: 50,
            ..OneClassSvmParams::default()
        };
        let detector = fit(&params, &points);
        assert_eq!(detector.solver(), SvmSolver::Approximate);
        assert_eq!(detector.n_vectors(), 50);
    }

    #[test]
    fn small_cache_gives_the_same_model() {
        let points = gaussian(1500, 3, 3);
        let params = OneClassSvmParams {
            cache_mb: 1,
            ..exact()
        };
        let probes = gaussian(20, 3, 4);
        assert_eq!(
            fit(&params, &points).score(probes.view()),
            fit(&exact(), &points).score(probes.view())
        );
    }

    #[test]
    fn bad_parameters_are_rejected_with_their_names() {
        let cases = [
            (
                OneClassSvmParams {
                    nu: 0.0,
                    ..OneClassSvmParams::default()
                },
                "nu must be in (0, 1], got 0",
            ),
            (
                OneClassSvmParams {
                    nu: 1.5,
                    ..OneClassSvmParams::default()
                },
                "nu must be in (0, 1], got 1.5",
            ),
            (
                OneClassSvmParams {
                    gamma: Gamma::Value(-1.0),
                    ..OneClassSvmParams::default()
                },
                "gamma must be positive and finite, got -1",
            ),
            (
                OneClassSvmParams {
                    tol: f64::NAN,
                    ..OneClassSvmParams::default()
                },
                "tol must be positive and finite, got NaN",
            ),
            (
                OneClassSvmParams {
                    n_landmarks: 0,
                    ..OneClassSvmParams::default()
                },
                "n_landmarks must be at least 1, got 0",
            ),
            (
                OneClassSvmParams {
                    cache_mb: 0,
                    ..OneClassSvmParams::default()
                },
                "cache_mb must be at least 1, got 0",
            ),
        ];
        for (params, message) in cases {
            assert_eq!(params.validate().unwrap_err().to_string(), message);
            let error = OneClassSvm::fit(&params, gaussian(10, 2, 1).view()).unwrap_err();
            assert_eq!(error.to_string(), format!("invalid parameter: {message}"));
        }
        let error = OneClassSvm::fit(&exact(), ndarray::array![[1.0, 2.0]].view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot fit on 1 points with 2 features: a one-class SVM needs at least 2 points"
        );
    }

    #[test]
    fn parameters_set_by_name() {
        let params = super::super::detector_by_name("ocsvm").unwrap();
        let settings = [
            ("gamma".to_string(), r#"{"value":0.25}"#.to_string()),
            ("solver".to_string(), "approximate".to_string()),
            ("nu".to_string(), "0.2".to_string()),
        ];
        let super::super::DetectorParams::OneClassSvm(changed) =
            params.with_settings(&settings).unwrap()
        else {
            panic!("still a one-class SVM");
        };
        assert_eq!(changed.gamma, Gamma::Value(0.25));
        assert_eq!(changed.solver, SvmSolver::Approximate);
        assert_eq!(changed.nu, 0.2);
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        for params in [exact(), approximate()] {
            let detector = fit(&params, &gaussian(600, 3, 6));
            let bytes = postcard::to_stdvec(&detector).unwrap();
            let loaded: OneClassSvm = postcard::from_bytes(&bytes).unwrap();
            let probes = gaussian(50, 3, 7);
            assert_eq!(loaded.score(probes.view()), detector.score(probes.view()));
            assert_eq!(
                loaded.attribute(probes.row(0)),
                detector.attribute(probes.row(0))
            );
            assert_eq!(loaded.params(), detector.params());
            assert_eq!(loaded.solver(), detector.solver());
        }
    }

    #[test]
    fn scores_do_not_depend_on_the_thread_count() {
        let points = gaussian(3000, 4, 3);
        for params in [exact(), approximate()] {
            let fit_and_score = || fit(&params, &points).score(points.view());
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            assert_eq!(pool.install(fit_and_score), fit_and_score());
        }
    }

    #[test]
    fn non_finite_and_misshapen_points_do_not_panic() {
        let detector = fit(&exact(), &gaussian(100, 2, 5));
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, 0.0]];
        let scores = detector.score(odd.view());
        assert!(scores[0].is_nan());
        assert_eq!(scores[1], detector.rho());
        assert_eq!(detector.attribute(odd.row(0)), vec![0.0, 0.0]);
        assert_eq!(detector.attribute(odd.row(1)), vec![1.0, 0.0]);
        let wrong = detector.score(Array2::zeros((2, 3)).view());
        assert!(wrong.iter().all(|score| score.is_nan()));
        assert_eq!(detector.attribute(ArrayView1::from(&[1.0])), vec![0.0, 0.0]);
    }

    /// A training value: ordinary, or repeated so that columns are often
    /// constant and rows duplicated.
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
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn fitting_scoring_and_attributing_never_panic(
            approximate in any::<bool>(),
            (points, probes) in (0usize..40, 0usize..5).prop_flat_map(|(n, d)| {
                (
                    prop::collection::vec(training_value(), n * d)
                        .prop_map(move |values| Array2::from_shape_vec((n, d), values).unwrap()),
                    prop::collection::vec(probe_value(), 4 * d)
                        .prop_map(move |values| Array2::from_shape_vec((4, d), values).unwrap()),
                )
            }),
        ) {
            let params = OneClassSvmParams {
                n_landmarks: 8,
                solver: if approximate { SvmSolver::Approximate } else { SvmSolver::Exact },
                ..OneClassSvmParams::default()
            };
            let Ok(detector) = OneClassSvm::fit(&params, points.view()) else {
                prop_assert!(points.nrows() < 2 || points.ncols() == 0);
                return Ok(());
            };
            let scores = detector.score(points.view());
            prop_assert_eq!(scores.len(), points.nrows());
            prop_assert!(scores.iter().all(|score| score.is_finite()));
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
