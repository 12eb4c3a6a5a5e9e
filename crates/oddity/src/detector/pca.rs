//! Principal component analysis outlier score, as PyOD's `PCA` detector
//! (after Shyu, Chen, Sarinnapakorn and Chang, ICDM workshop 2003, and
//! Aggarwal, Outlier Analysis, 2nd ed. 2017, 3.3).
//!
//! Fitting standardises each feature (zero mean, unit population variance;
//! constant features keep scale 1, as scikit-learn's `StandardScaler`),
//! takes the eigendecomposition of the covariance of the standardised
//! points, keeps the `n_components` of largest variance and of those
//! selects the `n_selected_components` of smallest variance to score with.
//! Anomalies that break the correlations of normal points lie far out
//! along the minor components, which have the smallest variance and so the
//! largest weight.
//!
//! Two scores:
//!
//! - [`PcaMethod::EigenvectorDistance`] (default) is PyOD's
//!   `decision_function`: `sum_k |u - v_k| / r_k`, the Euclidean distance
//!   from the standardised point `u` to each selected unit eigenvector `v_k`
//!   taken as a point, divided by the component's share `r_k` of the total
//!   variance (1 when not weighted). Since `|u - v_k|^2 = |u|^2 + 1 - 2 u .
//!   v_k`, it grows mostly with the distance from the centre, and for a
//!   given distance is larger on the side opposite to each `v_k`: an
//!   asymmetry of PyOD's formula, kept so that scores match. Eigenvector
//!   signs therefore follow scikit-learn's (largest loading positive). With
//!   standardisation off the point is not centred, as in PyOD.
//! - [`PcaMethod::Projection`] is the textbook score `sum_k (u . v_k)^2 /
//!   lambda_k`, the squared projections on the selected components over
//!   their variances (1 when not weighted): with all components and weights
//!   it is the squared Mahalanobis distance of the point, with the minor
//!   components unweighted it is the squared error of reconstructing the
//!   point from the major ones.
//!
//! Components whose variance is below `1e-12` of the largest carry only
//! rounding (constant features, collinear features, fewer points than
//! features) and are left out of the score, where PyOD divides by their
//! near-zero variance and returns infinite or meaningless scores.
//!
//! Costs: fitting is two passes over the points, `O(n d^2)`, plus an
//! `O(d^3)` eigendecomposition; scoring is `O(d k)` per point for `k`
//! selected components. The model stores `k × d` loadings.
//!
//! Attribution splits the score exactly into per-feature terms. For the
//! eigenvector distance, `|u - v_k| = sum_j (u_j - v_kj)^2 / |u - v_k|`, so
//! feature `j` receives `sum_k (u_j - v_kj)^2 / (|u - v_k| r_k)`. For the
//! projection, `(u . v_k)^2 = sum_j u_j v_kj (u . v_k)`, so feature `j`
//! receives `sum_k u_j v_kj (u . v_k) / lambda_k`; negative terms (a
//! feature pulling the point back towards the centre) are clipped at zero.

use nalgebra::DMatrix;
use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::mahalanobis::{Moments, Rows, check_points, dot, non_finite_shares, sorted_eigen};
use super::{Detector, FitError, ParamError, normalise_shares, score_rows};

/// Rows scored together by one rayon task.
const SCORE_BLOCK_ROWS: usize = 4096;

/// How a point's position relative to the selected components becomes a
/// score; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcaMethod {
    /// PyOD's score: distances to the unit eigenvectors over their shares
    /// of the variance.
    EigenvectorDistance,
    /// Squared projections over the components' variances.
    Projection,
}

/// Parameters of [`Pca`]; defaults are PyOD's. PyOD's `whiten` is absent:
/// it changes scikit-learn's `transform`, which PyOD's score does not use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PcaParams {
    /// Components kept, largest variance first, at most the number of
    /// features (more than the training points is read as all); `None`
    /// (default) keeps all, `min(n_points, n_features)`.
    pub n_components: Option<usize>,
    /// Of the kept components, how many of the smallest variance enter the
    /// score, at most `n_components` and the number of features; `None`
    /// (default) uses all kept components.
    pub n_selected_components: Option<usize>,
    /// Standardise features before the decomposition; default `true`.
    pub standardization: bool,
    /// Divide each component's term by its variance (its share of the
    /// total variance for [`PcaMethod::EigenvectorDistance`]), which makes
    /// minor components count most; default `true`.
    pub weighted: bool,
    /// The score; default [`PcaMethod::EigenvectorDistance`], PyOD's.
    pub method: PcaMethod,
}

impl Default for PcaParams {
    fn default() -> Self {
        PcaParams {
            n_components: None,
            n_selected_components: None,
            standardization: true,
            weighted: true,
            method: PcaMethod::EigenvectorDistance,
        }
    }
}

impl PcaParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.n_components == Some(0) {
            return Err(ParamError::new("n_components", "must be at least 1", 0));
        }
        match (self.n_selected_components, self.n_components) {
            (Some(0), _) => Err(ParamError::new(
                "n_selected_components",
                "must be at least 1",
                0,
            )),
            (Some(selected), Some(kept)) if selected > kept => Err(ParamError::new(
                "n_selected_components",
                format!("must be at most n_components ({kept})"),
                selected,
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        "pca"
    }
}

/// A fitted PCA detector; see the module documentation.
///
/// ```
/// use oddity::detector::{Detector, Pca, PcaParams};
/// use ndarray::array;
///
/// // Points along y = 2x, and one far off the line.
/// let points = array![
///     [1.0, 2.1], [2.0, 3.9], [3.0, 6.2], [4.0, 8.0],
///     [5.0, 9.9], [3.0, 6.0], [2.5, 5.1], [9.0, 1.0],
/// ];
/// let detector = Pca::fit(&PcaParams::default(), points.view()).unwrap();
/// let scores = detector.score(points.view());
/// assert!(scores[..7].iter().all(|&score| score < scores[7]));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pca {
    params: PcaParams,
    n_features: usize,
    /// Subtracted from each feature before scoring.
    shift: Vec<f64>,
    /// Then each feature is divided by this.
    scale: Vec<f64>,
    /// Selected unit eigenvectors, row-major `k × d`, largest variance
    /// first.
    components: Vec<f64>,
    /// Per selected component: its variance (of the standardised points,
    /// divided by `n - 1` as scikit-learn).
    explained_variance: Vec<f64>,
    /// Per selected component: its share of the total variance.
    explained_variance_ratio: Vec<f64>,
    /// Per selected component: the divisor of its term in the score.
    weights: Vec<f64>,
}

impl Pca {
    /// Fits the components on finite training points (at least 2).
    pub fn fit(params: &PcaParams, points: ArrayView2<'_, f64>) -> Result<Pca, FitError> {
        params.validate()?;
        check_points(points, "principal components need at least 2 points")?;
        let (n_points, n_features) = points.dim();
        let n_kept = match params.n_components {
            Some(kept) if kept > n_features => {
                return Err(ParamError::new(
                    "n_components",
                    format!("must be at most the number of features ({n_features})"),
                    kept,
                )
                .into());
            }
            // Beyond n_points the components have zero variance and would
            // be dropped below anyway.
            Some(kept) => kept.min(n_points),
            None => n_features.min(n_points),
        };
        let n_selected = match params.n_selected_components {
            Some(selected) if selected > n_features => {
                return Err(ParamError::new(
                    "n_selected_components",
                    format!("must be at most the number of features ({n_features})"),
                    selected,
                )
                .into());
            }
            Some(selected) => selected.min(n_kept),
            None => n_kept,
        };

        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");
        let moments = Moments::of(Rows::new(data, n_features), None);
        let n = n_points as f64;
        let scale: Vec<f64> = if params.standardization {
            (0..n_features)
                .map(|j| {
                    let variance = moments.scatter[(j, j)].max(0.0) / n;
                    standard_scale(variance, moments.mean[j], n)
                })
                .collect()
        } else {
            vec![1.0; n_features]
        };
        let covariance = DMatrix::from_fn(n_features, n_features, |i, j| {
            moments.scatter[(i, j)] / ((n - 1.0) * scale[i] * scale[j])
        });
        let eigen = sorted_eigen(&covariance).ok_or(FitError::NotEnoughData {
            n_points,
            n_features,
            reason: "the covariance eigendecomposition did not converge",
        })?;

        // Eigenvalues clamped at zero, as scikit-learn's covariance solver.
        let variances: Vec<f64> = eigen.values.iter().map(|value| value.max(0.0)).collect();
        let total: f64 = variances.iter().sum();
        let usable = eigen.rank();
        let selected: Vec<usize> = (n_kept - n_selected..n_kept)
            .filter(|&k| k < usable)
            .collect();
        tracing::debug!(
            n_points,
            n_features,
            n_kept,
            n_selected,
            n_scored = selected.len(),
            "fitted principal components"
        );

        let mut components = Vec::with_capacity(selected.len() * n_features);
        for &k in &selected {
            let column = eigen.vectors.column(k);
            // scikit-learn's svd_flip: the largest loading (the first of
            // equal ones) is positive.
            let largest = (0..n_features).fold(0, |best, j| {
                if column[j].abs() > column[best].abs() {
                    j
                } else {
                    best
                }
            });
            let sign = if column[largest] < 0.0 { -1.0 } else { 1.0 };
            components.extend(column.iter().map(|value| sign * value));
        }
        let explained_variance: Vec<f64> = selected.iter().map(|&k| variances[k]).collect();
        let explained_variance_ratio: Vec<f64> = explained_variance
            .iter()
            .map(|variance| variance / total)
            .collect();
        let weights = match (params.weighted, params.method) {
            (false, _) => vec![1.0; selected.len()],
            (true, PcaMethod::EigenvectorDistance) => explained_variance_ratio.clone(),
            (true, PcaMethod::Projection) => explained_variance.clone(),
        };
        // PyOD scores the standardised point, or the raw point when not
        // standardising; the projection is always about the mean.
        let shift = if params.standardization || params.method == PcaMethod::Projection {
            moments.mean
        } else {
            vec![0.0; n_features]
        };
        Ok(Pca {
            params: params.clone(),
            n_features,
            shift,
            scale,
            components,
            explained_variance,
            explained_variance_ratio,
            weights,
        })
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &PcaParams {
        &self.params
    }

    /// Components that enter the score: the selected ones less those with
    /// negligible variance.
    pub fn n_scored_components(&self) -> usize {
        self.weights.len()
    }

    /// Variance of each scored component, largest first.
    pub fn explained_variance(&self) -> &[f64] {
        &self.explained_variance
    }

    /// Share of the total variance of each scored component, largest first.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    fn standardised(&self, point: &[f64], out: &mut [f64]) {
        for (j, value) in out.iter_mut().enumerate() {
            *value = (point[j] - self.shift[j]) / self.scale[j];
        }
    }

    fn components(&self) -> impl Iterator<Item = (&[f64], f64)> {
        self.components
            .chunks_exact(self.n_features)
            .zip(self.weights.iter().copied())
    }

    fn score_standardised(&self, u: &[f64]) -> f64 {
        match self.params.method {
            PcaMethod::EigenvectorDistance => self
                .components()
                .map(|(component, weight)| {
                    let squared: f64 = u
                        .iter()
                        .zip(component)
                        .map(|(value, loading)| (value - loading) * (value - loading))
                        .sum();
                    squared.sqrt() / weight
                })
                .sum(),
            PcaMethod::Projection => self
                .components()
                .map(|(component, weight)| {
                    let projection = dot(u, component);
                    projection * projection / weight
                })
                .sum(),
        }
    }
}

/// A feature's standardisation scale: its standard deviation, or 1 when
/// the variance is within rounding of zero (scikit-learn's
/// `_is_constant_feature` bound), so constant features stay finite.
pub(super) fn standard_scale(variance: f64, mean: f64, n: f64) -> f64 {
    let eps = f64::EPSILON;
    let rounding = n * eps * variance + (n * mean * eps).powi(2);
    if variance <= rounding {
        1.0
    } else {
        variance.sqrt()
    }
}

impl Detector for Pca {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let d = self.n_features;
        score_rows(
            points,
            d,
            SCORE_BLOCK_ROWS,
            || vec![0.0; d],
            |u, row| {
                self.standardised(row, u);
                self.score_standardised(u)
            },
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
        let mut u = vec![0.0; self.n_features];
        self.standardised(&point, &mut u);
        let mut terms = vec![0.0; self.n_features];
        for (component, weight) in self.components() {
            match self.params.method {
                PcaMethod::EigenvectorDistance => {
                    let squared: Vec<f64> = u
                        .iter()
                        .zip(component)
                        .map(|(value, loading)| (value - loading) * (value - loading))
                        .collect();
                    let distance = squared.iter().sum::<f64>().sqrt();
                    if distance > 0.0 {
                        for (term, part) in terms.iter_mut().zip(&squared) {
                            *term += part / (distance * weight);
                        }
                    }
                }
                PcaMethod::Projection => {
                    let projection = dot(&u, component);
                    for ((term, value), loading) in terms.iter_mut().zip(&u).zip(component) {
                        *term += value * loading * projection / weight;
                    }
                }
            }
        }
        normalise_shares(terms)
    }
}

#[cfg(test)]
mod tests {
    use crate::detector::ecdf::reference::gaussian;
    use proptest::prelude::*;

    use super::super::mahalanobis::test_data::{PROBES, correlated};
    use super::*;
    use approx::{assert_abs_diff_eq, assert_relative_eq};
    use ndarray::{Array2, Axis, Slice};

    fn probes() -> Array2<f64> {
        Array2::from_shape_fn((5, 3), |(row, j)| PROBES[row][j])
    }

    fn fit(params: &PcaParams, points: &Array2<f64>) -> Pca {
        Pca::fit(params, points.view()).unwrap()
    }

    fn top(values: &[f64]) -> Option<usize> {
        (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b]))
    }

    #[test]
    fn scores_agree_with_pyod() {
        // scripts/linear_reference.py: PyOD's PCA on correlated(60, 5, 3),
        // decision_function of the probes and the first decision_scores_.
        let cases = [
            (
                PcaParams::default(),
                [
                    17.298607428821022,
                    18.31001619024429,
                    44.23040233423809,
                    33.54477877441607,
                    60.36204110140112,
                ],
                [
                    14.311747006448414,
                    19.882722421289387,
                    19.21565759046753,
                    17.413664420707914,
                    37.42609828871429,
                ],
            ),
            (
                PcaParams {
                    n_components: Some(2),
                    n_selected_components: Some(1),
                    weighted: false,
                    ..PcaParams::default()
                },
                [
                    1.098152852141544,
                    0.9811373892084723,
                    1.954318876738222,
                    3.1420616737244367,
                    3.2260621195498027,
                ],
                [
                    0.9767651538858172,
                    1.2018530477478842,
                    1.8008616347611663,
                    1.6202445424244225,
                    1.825314759787988,
                ],
            ),
            (
                PcaParams {
                    standardization: false,
                    ..PcaParams::default()
                },
                [
                    28.749017948923296,
                    50.24472997962676,
                    64.67653549433038,
                    74.21923965962533,
                    32.94822924697394,
                ],
                [
                    31.72854277899897,
                    27.937228918718056,
                    38.656629509681174,
                    40.174672596984365,
                    25.15796986629804,
                ],
            ),
        ];
        let train = correlated(60, 5, 3);
        for (params, probe_scores, training_scores) in cases {
            let detector = fit(&params, &train);
            let first = train.slice_axis(Axis(0), Slice::from(..5));
            let scored = detector.score(probes().view()).into_iter();
            let scored = scored.chain(detector.score(first));
            let expected = probe_scores.iter().chain(&training_scores);
            for (actual, expected) in scored.zip(expected) {
                assert_abs_diff_eq!(actual, *expected, epsilon = 1e-6);
                assert_relative_eq!(actual, *expected, max_relative = 1e-10);
            }
        }
    }

    #[test]
    fn projection_score_is_the_variance_weighted_squared_projection() {
        // The same script, from scikit-learn's components and variances.
        let expected = [
            0.10698169765647685,
            0.36829842803498986,
            8.607056949895824,
            15.844127959126766,
            19.195443087198147,
        ];
        let params = PcaParams {
            method: PcaMethod::Projection,
            ..PcaParams::default()
        };
        let detector = fit(&params, &correlated(60, 5, 3));
        let scores = detector.score(probes().view());
        for (actual, expected) in scores.iter().zip(expected) {
            assert_relative_eq!(*actual, expected, max_relative = 1e-10);
        }
    }

    #[test]
    fn planted_outlier_scores_highest() {
        for method in [PcaMethod::EigenvectorDistance, PcaMethod::Projection] {
            let mut points = correlated(1000, 0, 1);
            points.row_mut(17).assign(&ndarray::array![4.0, -4.0, 5.0]);
            let params = PcaParams {
                method,
                ..PcaParams::default()
            };
            let scores = fit(&params, &points).score(points.view());
            assert_eq!(top(&scores), Some(17), "{method:?}");
        }
    }

    #[test]
    fn projection_catches_a_point_that_only_breaks_the_correlation() {
        // Each value is typical on its own; together they go against the
        // correlation of the first two features. The eigenvector distance,
        // which grows mostly with the distance from the centre, need not
        // rank this point first.
        let mut points = correlated(1000, 0, 1);
        points.row_mut(17).assign(&ndarray::array![2.0, -2.0, 2.0]);
        let params = PcaParams {
            method: PcaMethod::Projection,
            ..PcaParams::default()
        };
        let scores = fit(&params, &points).score(points.view());
        assert_eq!(top(&scores), Some(17));
    }

    #[test]
    fn planted_feature_ranks_first_in_attribution() {
        for method in [PcaMethod::EigenvectorDistance, PcaMethod::Projection] {
            let params = PcaParams {
                method,
                ..PcaParams::default()
            };
            let detector = fit(&params, &gaussian(2000, 5, 7));
            for planted in 0..5 {
                let mut probe = vec![0.1; 5];
                probe[planted] = 7.0;
                let shares = detector.attribute(ArrayView1::from(&probe));
                assert_eq!(top(&shares), Some(planted), "{method:?} {shares:?}");
                assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
            }
            let detector = fit(&params, &correlated(2000, 0, 5));
            for planted in 0..3 {
                let mut probe = vec![0.1, 0.1, 2.0];
                probe[planted] += 6.0;
                let shares = detector.attribute(ArrayView1::from(&probe));
                assert_eq!(top(&shares), Some(planted), "{method:?} {shares:?}");
            }
        }
    }

    #[test]
    fn constant_feature_is_left_out_of_the_components() {
        let mut points = gaussian(300, 3, 2);
        points.column_mut(1).fill(5.0);
        points[[10, 0]] = 6.0;
        for method in [PcaMethod::EigenvectorDistance, PcaMethod::Projection] {
            let params = PcaParams {
                method,
                ..PcaParams::default()
            };
            let detector = fit(&params, &points);
            assert_eq!(detector.n_scored_components(), 2);
            let scores = detector.score(points.view());
            assert!(scores.iter().all(|score| score.is_finite()));
            assert_eq!(top(&scores), Some(10), "{method:?}");
        }
    }

    #[test]
    fn constant_data_score_zero() {
        let points = Array2::from_elem((50, 3), 1.5);
        let detector = fit(&PcaParams::default(), &points);
        assert_eq!(detector.n_scored_components(), 0);
        assert_eq!(detector.score(points.view()), vec![0.0; 50]);
        assert_eq!(detector.attribute(points.row(0)), vec![0.0; 3]);
    }

    #[test]
    fn more_features_than_points_fits() {
        let points = gaussian(6, 20, 4);
        let detector = fit(&PcaParams::default(), &points);
        assert!(detector.n_scored_components() <= 5);
        let scores = detector.score(gaussian(5, 20, 5).view());
        assert!(scores.iter().all(|score| score.is_finite() && *score > 0.0));
    }

    #[test]
    fn too_few_and_non_finite_training_points_are_errors() {
        let params = PcaParams::default();
        let error = Pca::fit(&params, ndarray::array![[1.0, 2.0]].view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot fit on 1 points with 2 features: principal components need at least 2 points"
        );
        assert!(Pca::fit(&params, Array2::zeros((5, 0)).view()).is_err());
        let odd = ndarray::array![[0.0, f64::INFINITY], [1.0, 1.0], [2.0, 2.0]];
        let error = Pca::fit(&params, odd.view()).unwrap_err();
        assert!(
            error.to_string().ends_with("points must be finite"),
            "{error}"
        );
    }

    #[test]
    fn non_finite_and_misshapen_points_do_not_panic() {
        let detector = fit(&PcaParams::default(), &gaussian(100, 2, 5));
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, 0.0]];
        let scores = detector.score(odd.view());
        assert!(scores[0].is_nan());
        assert_eq!(scores[1], f64::INFINITY);
        assert_eq!(detector.attribute(odd.row(0)), vec![0.0, 0.0]);
        assert_eq!(detector.attribute(odd.row(1)), vec![1.0, 0.0]);
        let wrong = detector.score(Array2::zeros((2, 3)).view());
        assert!(wrong.iter().all(|score| score.is_nan()));
        assert_eq!(detector.attribute(ArrayView1::from(&[1.0])), vec![0.0, 0.0]);
    }

    #[test]
    fn bad_component_counts_are_rejected_with_their_names() {
        let zero = PcaParams {
            n_components: Some(0),
            ..PcaParams::default()
        };
        let error = Pca::fit(&zero, gaussian(10, 2, 1).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: n_components must be at least 1, got 0"
        );
        let more_selected = PcaParams {
            n_components: Some(2),
            n_selected_components: Some(3),
            ..PcaParams::default()
        };
        assert_eq!(
            more_selected.validate().unwrap_err().to_string(),
            "n_selected_components must be at most n_components (2), got 3"
        );
        let too_many = PcaParams {
            n_components: Some(4),
            ..PcaParams::default()
        };
        let error = Pca::fit(&too_many, gaussian(10, 3, 1).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: n_components must be at most the number of features (3), got 4"
        );
        let too_many_selected = PcaParams {
            n_selected_components: Some(4),
            ..PcaParams::default()
        };
        let error = Pca::fit(&too_many_selected, gaussian(10, 3, 1).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: n_selected_components must be at most the number of features \
             (3), got 4"
        );
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        let detector = fit(&PcaParams::default(), &gaussian(500, 3, 6));
        let bytes = postcard::to_stdvec(&detector).unwrap();
        let loaded: Pca = postcard::from_bytes(&bytes).unwrap();
        let probes = gaussian(50, 3, 7);
        assert_eq!(loaded.score(probes.view()), detector.score(probes.view()));
        assert_eq!(loaded.params(), detector.params());
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
    }

    #[test]
    fn scores_do_not_depend_on_the_thread_count() {
        let points = gaussian(20_000, 4, 3);
        let fit_and_score = || fit(&PcaParams::default(), &points).score(points.view());
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
            let Ok(detector) = Pca::fit(&PcaParams::default(), points.view()) else {
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
