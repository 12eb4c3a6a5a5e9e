//! L2-penalised logistic regression on standardised features.
//!
//! Fitting standardises each feature (training mean, population standard
//! deviation; constant features keep scale 1, as scikit-learn's
//! `StandardScaler`) and minimises scikit-learn's objective
//!
//! ```text
//! sum_i s_i log(1 + exp(-y_i (b + w . u_i))) + |w|² / (2 C)
//! ```
//!
//! (labels `y_i` in {-1, 1}, point weights `s_i` from the class weights,
//! intercept `b` not penalised) by Newton's method with a backtracking
//! line search: each step solves the `(d + 1)²` Hessian system by
//! Cholesky. The objective is strictly convex, so the solution is unique
//! and equals `LogisticRegression(C=C)` fitted on the standardised points
//! (checked to 1e-6 against committed scikit-learn vectors).
//!
//! Cost: `O(n d²)` per Newton step, summed over fixed blocks of points on
//! all rayon threads and then in block order, so the result does not
//! depend on the thread count; usually fewer than 15 steps.
//!
//! Attribution: the share of feature `j` is `|w_j u_j|`, the absolute
//! term it adds to the log-odds (`u_j = (x_j - mean_j) / scale_j`).

use nalgebra::{DMatrix, DVector};
use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ClassWeight, SupervisedOptions, input_shares, training_set, with_score_feature};
use crate::detector::{Detector, FitError, IsolationForest, ParamError};

/// Points summed together by one rayon task.
const BLOCK_ROWS: usize = 4096;

/// Smallest line-search step before Newton gives up improving.
const MIN_STEP: f64 = 1e-10;

/// Parameters of [`LogisticRegression`]; defaults are scikit-learn's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogisticRegressionParams {
    /// Inverse penalty strength, positive; default 1.
    pub c: f64,
    /// Most Newton steps; default 100.
    pub max_iter: usize,
    /// Stop when no coefficient moves more than this in a step; default
    /// 1e-10.
    pub tol: f64,
    pub class_weight: ClassWeight,
    /// Oversample the smaller class with SMOTE; default false.
    pub smote: bool,
    /// SMOTE's neighbours; default 5.
    pub smote_k: usize,
    /// Few-labels mode: add an Isolation Forest score as a feature.
    pub iforest_feature: bool,
    /// Seed of SMOTE and of the few-labels forest.
    pub seed: u64,
}

impl Default for LogisticRegressionParams {
    fn default() -> Self {
        LogisticRegressionParams {
            c: 1.0,
            max_iter: 100,
            tol: 1e-10,
            class_weight: ClassWeight::None,
            smote: false,
            smote_k: 5,
            iforest_feature: false,
            seed: 42,
        }
    }
}

impl LogisticRegressionParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(ParamError::new("c", "must be positive and finite", self.c));
        }
        if self.max_iter == 0 {
            return Err(ParamError::new("max_iter", "must be at least 1", 0));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(ParamError::new("tol", "must be positive", self.tol));
        }
        self.options().validate()
    }

    pub(crate) fn name(&self) -> &'static str {
        "logistic"
    }

    fn options(&self) -> SupervisedOptions {
        SupervisedOptions {
            class_weight: self.class_weight,
            smote: self.smote,
            smote_k: self.smote_k,
            iforest_feature: self.iforest_feature,
            seed: self.seed,
        }
    }
}

/// A fitted logistic regression; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogisticRegression {
    params: LogisticRegressionParams,
    n_features: usize,
    mean: Vec<f64>,
    scale: Vec<f64>,
    coefficients: Vec<f64>,
    intercept: f64,
    /// Newton steps taken.
    n_iter: usize,
    score_feature: Option<IsolationForest>,
}

/// Loss, gradient and Hessian (row-major; empty when not asked for) at one
/// point of the parameter space, for points `[u, 1]`.
struct Derivatives {
    loss: f64,
    gradient: Vec<f64>,
    hessian: Vec<f64>,
}

impl LogisticRegression {
    /// Fits on `points` with `labels` (`None`: unlabelled, left out).
    pub fn fit(
        params: &LogisticRegressionParams,
        points: ArrayView2<'_, f64>,
        labels: &[Option<bool>],
    ) -> Result<LogisticRegression, FitError> {
        params.validate()?;
        let n_features = points.ncols();
        let training = training_set(points, labels, &params.options())?;
        let width = training.points.ncols();
        let n_rows = training.points.nrows();

        let (mean, scale) = moments(training.points.view());
        // Standardised points with a trailing 1 for the intercept.
        let columns = width + 1;
        let mut design = vec![0.0; n_rows * columns];
        design
            .par_chunks_mut(columns)
            .zip(training.points.outer_iter().into_par_iter())
            .for_each(|(out, point)| {
                for (((slot, x), mean), scale) in out.iter_mut().zip(point).zip(&mean).zip(&scale) {
                    *slot = (x - mean) / scale;
                }
                out[width] = 1.0;
            });
        let targets: Vec<f64> = training
            .labels
            .iter()
            .map(|&label| f64::from(u8::from(label)))
            .collect();

        let penalty = 1.0 / params.c;
        let mut beta = vec![0.0; columns];
        let mut current = derivatives(&design, &targets, &training.weights, &beta, penalty, true);
        let mut n_iter = 0;
        while n_iter < params.max_iter {
            n_iter += 1;
            let Some(direction) = newton_direction(&current, columns) else {
                tracing::debug!(n_iter, "logistic regression: singular Hessian");
                break;
            };
            let slope: f64 = current
                .gradient
                .iter()
                .zip(&direction)
                .map(|(g, d)| g * d)
                .sum();
            let mut step = 1.0;
            let accepted = loop {
                let candidate: Vec<f64> = beta
                    .iter()
                    .zip(&direction)
                    .map(|(b, d)| b + step * d)
                    .collect();
                // The line search needs only the loss; the Hessian, `d`
                // times the cost, is computed once a step is accepted.
                let next = derivatives(
                    &design,
                    &targets,
                    &training.weights,
                    &candidate,
                    penalty,
                    false,
                );
                // Armijo's condition; the tolerance lets a converged step
                // through when rounding makes the loss wobble.
                let tolerance = 1e-12 * current.loss.abs().max(1.0);
                if next.loss <= current.loss + 1e-4 * step * slope + tolerance {
                    break Some((candidate, next));
                }
                step /= 2.0;
                if step < MIN_STEP {
                    break None;
                }
            };
            let Some((candidate, _)) = accepted else {
                break;
            };
            let next = derivatives(
                &design,
                &targets,
                &training.weights,
                &candidate,
                penalty,
                true,
            );
            let moved = beta
                .iter()
                .zip(&candidate)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            beta = candidate;
            current = next;
            if moved <= params.tol {
                break;
            }
        }
        tracing::debug!(n_iter, loss = current.loss, "fitted logistic regression");

        let intercept = beta[width];
        beta.truncate(width);
        Ok(LogisticRegression {
            params: params.clone(),
            n_features,
            mean,
            scale,
            coefficients: beta,
            intercept,
            n_iter,
            score_feature: training.score_feature,
        })
    }

    /// The parameters the model was fitted with.
    pub fn params(&self) -> &LogisticRegressionParams {
        &self.params
    }

    /// Coefficients on the standardised features (the few-labels score
    /// last), as scikit-learn's `coef_` after a `StandardScaler`.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// The intercept (scikit-learn's `intercept_`).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// Newton steps the fit took.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    fn log_odds(&self, point: ArrayView1<'_, f64>) -> f64 {
        self.intercept
            + point
                .iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.coefficients)
                .map(|(((x, mean), scale), w)| w * (x - mean) / scale)
                .sum::<f64>()
    }
}

impl Detector for LogisticRegression {
    fn name(&self) -> &'static str {
        "logistic"
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let points = with_score_feature(points, self.score_feature.as_ref());
        points
            .outer_iter()
            .into_par_iter()
            .map(|point| sigmoid(self.log_odds(point)))
            .collect()
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        let single = point.insert_axis(ndarray::Axis(0));
        let augmented = with_score_feature(single, self.score_feature.as_ref());
        let raw = augmented
            .row(0)
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(&self.coefficients)
            .map(|(((x, mean), scale), w)| (w * (x - mean) / scale).abs())
            .collect();
        input_shares(raw, point, self.score_feature.as_ref())
    }
}

/// The logistic function, without overflow for large `|z|`.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(z))`, without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Per-feature mean and population standard deviation (1 where it is
/// zero), unweighted, as scikit-learn's `StandardScaler`.
fn moments(points: ArrayView2<'_, f64>) -> (Vec<f64>, Vec<f64>) {
    let n = points.nrows() as f64;
    let mean: Vec<f64> = points
        .columns()
        .into_iter()
        .map(|column| column.sum() / n)
        .collect();
    let scale = points
        .columns()
        .into_iter()
        .zip(&mean)
        .map(|(column, mean)| {
            let variance = column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            let deviation = variance.sqrt();
            // Below this, a feature is constant up to rounding.
            if deviation > 1e-12 * mean.abs().max(1.0) {
                deviation
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

/// Loss, gradient and (when `with_hessian`) Hessian of the penalised
/// objective (divided by `C`, which has the same minimiser) at `beta`.
fn derivatives(
    design: &[f64],
    targets: &[f64],
    weights: &[f64],
    beta: &[f64],
    penalty: f64,
    with_hessian: bool,
) -> Derivatives {
    let hessian_len = if with_hessian {
        beta.len() * beta.len()
    } else {
        0
    };
    let columns = beta.len();
    let blocks: Vec<Derivatives> = design
        .par_chunks(BLOCK_ROWS * columns)
        .zip(targets.par_chunks(BLOCK_ROWS))
        .zip(weights.par_chunks(BLOCK_ROWS))
        .map(|((rows, targets), weights)| {
            let mut block = Derivatives {
                loss: 0.0,
                gradient: vec![0.0; columns],
                hessian: Vec::new(),
            };
            let mut curvatures = Vec::with_capacity(targets.len());
            for ((row, &target), &weight) in rows.chunks(columns).zip(targets).zip(weights) {
                let z: f64 = row.iter().zip(beta).map(|(u, b)| u * b).sum();
                let p = sigmoid(z);
                block.loss += weight * (softplus(z) - target * z);
                let residual = weight * (p - target);
                curvatures.push(weight * p * (1.0 - p));
                for (slot, &u) in block.gradient.iter_mut().zip(row) {
                    *slot += residual * u;
                }
            }
            if with_hessian {
                // `Uᵀ diag(c) U` as one matrix product (blocked and
                // vectorised by ndarray), not a rank-one update per point.
                let points = ArrayView2::from_shape((targets.len(), columns), rows)
                    .expect("blocks hold whole rows");
                let mut scaled = points.to_owned();
                for (mut row, &curvature) in scaled.rows_mut().into_iter().zip(&curvatures) {
                    row *= curvature;
                }
                block.hessian = points.t().dot(&scaled).iter().copied().collect();
            }
            block
        })
        .collect();
    // Summed in block order: the same result on any number of threads.
    let mut total = Derivatives {
        loss: 0.0,
        gradient: vec![0.0; columns],
        hessian: vec![0.0; hessian_len],
    };
    for block in blocks {
        total.loss += block.loss;
        total
            .gradient
            .iter_mut()
            .zip(&block.gradient)
            .for_each(|(a, b)| *a += b);
        total
            .hessian
            .iter_mut()
            .zip(&block.hessian)
            .for_each(|(a, b)| *a += b);
    }
    // The penalty covers the coefficients, not the intercept (last).
    for (j, &coefficient) in beta[..columns - 1].iter().enumerate() {
        total.loss += 0.5 * penalty * coefficient * coefficient;
        total.gradient[j] += penalty * coefficient;
        if with_hessian {
            total.hessian[j * columns + j] += penalty;
        }
    }
    total
}

/// The Newton direction `-H⁻¹ g`, or `None` when the Hessian is singular.
fn newton_direction(current: &Derivatives, columns: usize) -> Option<Vec<f64>> {
    let hessian = DMatrix::from_fn(columns, columns, |i, j| current.hessian[i * columns + j]);
    let gradient = DVector::from_column_slice(&current.gradient);
    let solution = match hessian.clone().cholesky() {
        Some(cholesky) => cholesky.solve(&gradient),
        // Only the intercept is unpenalised; a Hessian that is not
        // positive definite means every point has p(1-p) ≈ 0.
        None => hessian.lu().solve(&gradient)?,
    };
    let direction: Vec<f64> = solution.iter().map(|value| -value).collect();
    direction
        .iter()
        .all(|value| value.is_finite())
        .then_some(direction)
}

#[cfg(test)]
mod tests {
    use super::super::reference_data as reference;
    use super::*;
    use ndarray::Array2;

    fn reference_points() -> Array2<f64> {
        let n_features = reference::N_FEATURES;
        Array2::from_shape_vec(
            (reference::POINTS.len() / n_features, n_features),
            reference::POINTS.to_vec(),
        )
        .unwrap()
    }

    fn reference_labels() -> Vec<Option<bool>> {
        reference::LABELS.iter().map(|&label| Some(label)).collect()
    }

    #[test]
    fn coefficients_match_scikit_learn() {
        let points = reference_points();
        let labels = reference_labels();
        for case in reference::LOGISTIC_CASES {
            let params = LogisticRegressionParams {
                c: case.c,
                class_weight: if case.balanced {
                    ClassWeight::Balanced
                } else {
                    ClassWeight::None
                },
                ..LogisticRegressionParams::default()
            };
            let model = LogisticRegression::fit(&params, points.view(), &labels).unwrap();
            for (ours, theirs) in model.coefficients().iter().zip(case.coefficients) {
                assert!(
                    (ours - theirs).abs() < 1e-6,
                    "C={}: {ours} vs {theirs}",
                    case.c
                );
            }
            assert!((model.intercept() - case.intercept).abs() < 1e-6);
            let scores = model.score(points.view());
            for (ours, theirs) in scores.iter().zip(case.probabilities) {
                assert!((ours - theirs).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn separable_classes_converge_under_the_penalty() {
        let points = Array2::from_shape_vec((6, 1), vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]).unwrap();
        let labels = [false, false, false, true, true, true].map(Some);
        let model =
            LogisticRegression::fit(&LogisticRegressionParams::default(), points.view(), &labels)
                .unwrap();
        assert!(model.n_iter() < 50, "{}", model.n_iter());
        let scores = model.score(points.view());
        assert!(scores[2] < 0.5 && scores[3] > 0.5, "{scores:?}");
    }

    #[test]
    fn bad_parameters_are_named() {
        let params = LogisticRegressionParams {
            c: 0.0,
            ..LogisticRegressionParams::default()
        };
        assert_eq!(
            params.validate().unwrap_err().to_string(),
            "c must be positive and finite, got 0"
        );
    }

    #[test]
    fn attribution_is_the_share_of_the_log_odds() {
        let points = reference_points();
        let model = LogisticRegression::fit(
            &LogisticRegressionParams::default(),
            points.view(),
            &reference_labels(),
        )
        .unwrap();
        let point = points.row(0);
        let shares = model.attribute(point);
        let terms: Vec<f64> = (0..points.ncols())
            .map(|j| (model.coefficients[j] * (point[j] - model.mean[j]) / model.scale[j]).abs())
            .collect();
        let total: f64 = terms.iter().sum();
        for (share, term) in shares.iter().zip(&terms) {
            assert!((share - term / total).abs() < 1e-12);
        }
    }
}
