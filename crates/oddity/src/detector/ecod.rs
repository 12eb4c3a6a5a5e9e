//! ECOD, empirical-cumulative-distribution-based outlier detection; see
//! [`Ecod`].

use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::ecdf::{self, Ecdfs, Skew, Tails};
use super::{Detector, FitError, ParamError, normalise_shares};

/// Parameters of [`Ecod`]. ECOD itself has none; this only bounds the
/// model's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EcodParams {
    /// Training values per feature kept exactly (8 bytes each); a feature
    /// with more is stored as a rank sketch whose tail probabilities are
    /// within 0.1 % of the exact ones. Default 1 000 000; at least 10 000.
    pub max_exact_points: usize,
}

impl Default for EcodParams {
    fn default() -> Self {
        EcodParams {
            max_exact_points: ecdf::DEFAULT_MAX_EXACT_POINTS,
        }
    }
}

impl EcodParams {
    /// The detector's name, as [`Detector::name`] reports it.
    pub(crate) fn name(&self) -> &'static str {
        "ecod"
    }

    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        ecdf::validate_max_exact_points(self.max_exact_points)
    }
}

/// ECOD, Empirical-Cumulative-distribution-based Outlier Detection (Li,
/// Zhao, Hu, Botta, Ionescu and Chen, IEEE TKDE 2022), as PyOD implements
/// it.
///
/// Each feature's training values define an empirical distribution. A
/// value's left and right tail probabilities, `P(X <= x)` and
/// `P(X >= x)`, become surprisals `U_l = -ln P(X <= x)` and
/// `U_r = -ln P(X >= x)`; the feature's term is the larger of the two, or
/// their sum when the feature's skewness is exactly zero (PyOD's
/// `max(U_l, U_r, U_skew)`, where `U_skew` is the tail the skewness points
/// to and both tails at zero skewness). The score is the sum of the terms:
/// features are treated as independent, and a point far out in any tail
/// of any feature scores high.
///
/// This follows PyOD's `ECOD.decision_function`, which takes the maximum
/// per feature and then sums; the paper takes the maximum of three sums
/// (all left tails, all right tails, the skewness-chosen tails). PyOD's
/// form is used so that published ADBench numbers, which come from PyOD,
/// are comparable; on the training points the scores equal PyOD's
/// `decision_scores_`.
///
/// Novelty semantics: new points are scored against the training
/// distributions only, with the skewness signs of the training data, so a
/// point's score does not depend on the rest of its batch. PyOD's
/// `decision_function` on new data instead appends them to the training
/// data and recomputes every distribution and sign. A value beyond the
/// training range of `n` values gets tail probability `1 / (n + 1)`, one
/// step past the training extreme, as if it had joined the training data.
/// On Cardiotocography (ten random 70/30 splits) the test ROC-AUC differs
/// from PyOD's by -0.0005 on average and by at most 0.007 on one split.
///
/// Costs, for `n` training points, `m` scored points and `d` features:
/// fitting radix-sorts every feature, `O(n d)`, one feature per rayon
/// task; scoring radix-sorts each block of points per feature and sweeps
/// it through the sorted training values, close to `O(m d)` and
/// `O(m d log n)` at worst, blocks in parallel. The model holds the
/// training values, 8 bytes each (less when values repeat), up to
/// `max_exact_points` per feature, and a sketch of about 16 000 values
/// per feature beyond that, whose tail probabilities are within 0.1 % of
/// the exact ones.
///
/// Attribution: each feature's share is its term of the sum, so the
/// feature whose tail is the most surprising gets the largest share and
/// the shares decompose the score exactly.
///
/// ```
/// use ndarray::array;
/// use oddity::detector::{Detector, Ecod, EcodParams};
///
/// let points = array![[1.0, 10.0], [2.0, 11.0], [3.0, 12.0], [2.5, 30.0]];
/// let ecod = Ecod::fit(&EcodParams::default(), points.view()).expect("finite points");
/// let scores = ecod.score(points.view());
/// assert!(scores[3] > scores[1]);
/// let shares = ecod.attribute(points.row(3));
/// assert!(shares[1] > shares[0]);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ecod {
    params: EcodParams,
    ecdfs: Ecdfs,
}

impl Ecod {
    /// Learns each feature's distribution from the training points.
    ///
    /// Non-finite values are left out of their feature's distribution; a
    /// feature without any finite value is an error.
    pub fn fit(params: &EcodParams, points: ArrayView2<'_, f64>) -> Result<Ecod, FitError> {
        params.validate()?;
        let ecdfs = Ecdfs::fit(points, params.max_exact_points)?;
        Ok(Ecod {
            params: params.clone(),
            ecdfs,
        })
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &EcodParams {
        &self.params
    }
}

/// PyOD's `max(U_l, U_r, U_skew)` for one feature.
fn outlyingness(tails: Tails) -> f64 {
    match tails.skew {
        Skew::Zero => tails.left + tails.right,
        Skew::Negative | Skew::Positive => tails.left.max(tails.right),
    }
}

impl Detector for Ecod {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.ecdfs.n_features()
    }

    /// Sums each feature's tail surprisal; NaN for a point with a missing
    /// value or the wrong number of features.
    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        self.ecdfs.score(points, outlyingness)
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        normalise_shares(self.ecdfs.terms(point, outlyingness))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::ecdf::reference;
    use ndarray::Array2;

    /// PyOD 3.6.7 `ECOD().fit(points).decision_scores_` on the reference
    /// points, from scripts/make_stats_vectors.py.
    const PYOD_SCORES: [f64; 30] = [
        7.329462693191724,
        6.279640568693046,
        7.313220387090302,
        6.461962125487001,
        4.722953221644475,
        5.5328839375277195,
        8.113100767120045,
        5.299997790014691,
        6.080156347564268,
        6.521989099843305,
        7.431003422746684,
        4.2255168349975,
        6.247233325738268,
        6.044709061626795,
        5.911915788567729,
        6.9609997935009496,
        7.707635659011881,
        4.489067573798364,
        6.135059339881939,
        8.632202300189896,
        6.4821648328045205,
        4.056977417718143,
        8.96039862750725,
        4.306438277349725,
        4.7454971027460395,
        5.29881131568132,
        4.988535621723086,
        3.682261074765896,
        6.108248082431281,
        5.636470026635905,
    ];

    fn fit(points: &Array2<f64>) -> Ecod {
        Ecod::fit(&EcodParams::default(), points.view()).expect("fits")
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
        let ecod = fit(&points);
        for planted in 0..5 {
            for extreme in [-7.0, 7.0] {
                let mut probe = vec![0.1; 5];
                probe[planted] = extreme;
                let shares = ecod.attribute(ArrayView1::from(&probe));
                let top = (0..5).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
                assert_eq!(top, Some(planted), "shares {shares:?}");
                approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn shares_decompose_the_score() {
        let points = reference::points();
        let ecod = fit(&points);
        let scores = ecod.score(points.view());
        let terms = ecod.ecdfs.terms(points.row(6), outlyingness);
        approx::assert_abs_diff_eq!(terms.iter().sum::<f64>(), scores[6], epsilon = 1e-12);
    }

    #[test]
    fn new_values_beyond_the_training_range_score_past_the_extremes() {
        let points = reference::points();
        let ecod = fit(&points);
        let mut probe = points.row(0).to_owned();
        probe[0] = 100.0;
        let far = ecod.score(probe.view().insert_axis(ndarray::Axis(0)))[0];
        let training = ecod.score(points.view())[0];
        // Row 0 holds the training maximum of feature 0: ln 30 becomes ln 31.
        approx::assert_abs_diff_eq!(far - training, (31f64 / 30.0).ln(), epsilon = 1e-12);
    }

    #[test]
    fn same_scores_for_any_thread_count() {
        let points = reference::gaussian(5000, 3, 3);
        let ecod = fit(&points);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let serial = pool.install(|| fit(&points).score(points.view()));
        assert_eq!(ecod.score(points.view()), serial);
    }

    #[test]
    fn constant_data_scores_without_panicking() {
        let points = Array2::from_elem((50, 3), 1.5);
        let ecod = fit(&points);
        assert!(ecod.score(points.view()).iter().all(|&score| score == 0.0));
        assert_eq!(ecod.attribute(points.row(0)), vec![0.0; 3]);
    }

    #[test]
    fn one_point_fits_and_scores() {
        let points = Array2::from_elem((1, 2), 3.0);
        let ecod = fit(&points);
        assert_eq!(ecod.score(points.view()), vec![0.0]);
        let other = ndarray::array![[4.0, 3.0]];
        assert!(ecod.score(other.view())[0] > 0.0);
    }

    #[test]
    fn non_finite_points_do_not_panic() {
        let mut points = reference::gaussian(100, 2, 5);
        points[[3, 1]] = f64::NAN;
        points[[4, 0]] = f64::INFINITY;
        let ecod = fit(&points);
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, f64::NEG_INFINITY]];
        let scores = ecod.score(odd.view());
        assert!(scores[0].is_nan());
        assert!(scores[1].is_finite());
        let shares = ecod.attribute(odd.row(0));
        assert_eq!(shares[0], 0.0);
        assert!(Ecod::fit(&EcodParams::default(), ndarray::array![[f64::NAN]].view()).is_err());
    }

    #[test]
    fn wrong_number_of_features_scores_nan() {
        let ecod = fit(&reference::points());
        let narrow = Array2::zeros((2, 3));
        assert!(ecod.score(narrow.view()).iter().all(|score| score.is_nan()));
        assert_eq!(ecod.attribute(narrow.row(0)), vec![0.0; 5]);
    }

    #[test]
    fn empty_input_is_rejected() {
        let error = Ecod::fit(&EcodParams::default(), Array2::zeros((0, 3)).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot fit on 0 points with 3 features: no points"
        );
        assert!(Ecod::fit(&EcodParams::default(), Array2::zeros((3, 0)).view()).is_err());
    }

    #[test]
    fn small_max_exact_points_is_rejected_with_the_parameter_name() {
        let params = EcodParams {
            max_exact_points: 5,
        };
        let error = Ecod::fit(&params, reference::points().view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: max_exact_points must be at least 10000, got 5"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn awkward_input_never_panics(points in reference::awkward_points()) {
            reference::assert_sane(&points, Ecod::fit(&EcodParams::default(), points.view()));
        }
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        let points = reference::points();
        let ecod = fit(&points);
        let bytes = postcard::to_stdvec(&ecod).expect("serializes");
        let decoded: Ecod = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(decoded.score(points.view()), ecod.score(points.view()));
        assert_eq!(decoded.params(), ecod.params());
    }
}
