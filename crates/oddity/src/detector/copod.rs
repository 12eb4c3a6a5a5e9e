//! COPOD, copula-based outlier detection; see [`Copod`].

use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::ecdf::{self, Ecdfs, Skew, Tails};
use super::{Detector, FitError, ParamError, normalise_shares};

/// Parameters of [`Copod`]. COPOD itself has none; this only bounds the
/// model's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CopodParams {
    /// Training values per feature kept exactly (8 bytes each); a feature
    /// with more is stored as a rank sketch whose tail probabilities are
    /// within 0.1 % of the exact ones. Default 1 000 000; at least 10 000.
    pub max_exact_points: usize,
}

impl Default for CopodParams {
    fn default() -> Self {
        CopodParams {
            max_exact_points: ecdf::DEFAULT_MAX_EXACT_POINTS,
        }
    }
}

impl CopodParams {
    /// The detector's name, as [`Detector::name`] reports it.
    pub(crate) fn name(&self) -> &'static str {
        "copod"
    }

    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        ecdf::validate_max_exact_points(self.max_exact_points)
    }
}

/// COPOD, Copula-Based Outlier Detection (Li, Zhao, Botta, Ionescu and
/// Hu, ICDM 2020), as PyOD implements it.
///
/// COPOD models the data with an empirical copula: each feature's
/// training values define an empirical distribution, and a value's left
/// and right tail probabilities become surprisals
/// `U_l = -ln P(X <= x)` and `U_r = -ln P(X >= x)`. With the tail `U_s`
/// that the feature's skewness sign points to, the feature's term is
/// `max(U_s, (U_l + U_r) / 2)`, and `U_l + U_r` when the skewness is
/// exactly zero (PyOD's `U_skew` is then the sum of both tails). The
/// score is the sum of the terms. This is PyOD's
/// `COPOD.decision_function` term for term, so the training scores equal
/// PyOD's `decision_scores_` and published ADBench numbers are
/// comparable. ECOD ([`super::Ecod`]) is the same authors' refined
/// successor; the two differ only in this per-feature term.
///
/// Novelty semantics: new points are scored against the training
/// distributions and skewness signs only, not appended to the training
/// data as PyOD's `decision_function` does, so a score does not depend on
/// the rest of its batch. A value beyond the training range of `n` values
/// gets tail probability `1 / (n + 1)`, one step past the training
/// extreme. COPOD's term follows the tail that the skewness sign picks,
/// so it is sensitive to that sign where a feature is nearly symmetric:
/// on Cardiotocography (ten random 70/30 splits) the test ROC-AUC differs
/// from PyOD's by at most 0.008 on the six splits where training and
/// training-plus-test data agree on every sign, but by up to 0.05, either
/// way, on the four where a feature with skewness within 0.05 of zero
/// changes sign once the test points join (-0.006 on average over all
/// ten).
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
/// feature whose tails are the most surprising gets the largest share
/// and the shares decompose the score exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Copod {
    params: CopodParams,
    ecdfs: Ecdfs,
}

impl Copod {
    /// Learns each feature's distribution from the training points.
    ///
    /// Non-finite values are left out of their feature's distribution; a
    /// feature without any finite value is an error.
    pub fn fit(params: &CopodParams, points: ArrayView2<'_, f64>) -> Result<Copod, FitError> {
        params.validate()?;
        let ecdfs = Ecdfs::fit(points, params.max_exact_points)?;
        Ok(Copod {
            params: params.clone(),
            ecdfs,
        })
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &CopodParams {
        &self.params
    }
}

/// PyOD's `max(U_skew, (U_l + U_r) / 2)` for one feature.
fn outlyingness(tails: Tails) -> f64 {
    let mean = (tails.left + tails.right) / 2.0;
    match tails.skew {
        Skew::Negative => tails.left.max(mean),
        Skew::Positive => tails.right.max(mean),
        Skew::Zero => tails.left + tails.right,
    }
}

impl Detector for Copod {
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

    /// PyOD 3.6.7 `COPOD().fit(points).decision_scores_` on the reference
    /// points, from scripts/make_stats_vectors.py.
    const PYOD_SCORES: [f64; 30] = [
        6.26648191453436,
        4.942566243979782,
        5.165712758248176,
        5.345166014733453,
        4.319715288711,
        4.705939100025253,
        7.288771454326353,
        5.299997790014691,
        5.983078340343788,
        6.223070599465496,
        6.476232170304465,
        3.386130532079918,
        5.195384066075571,
        4.990613584143883,
        4.2038727914897756,
        5.292670363238657,
        5.844325767963489,
        3.6784313887578115,
        5.945314529029487,
        7.918644122369823,
        4.133225040758341,
        4.024708157149357,
        5.732980801110456,
        3.746142679656283,
        4.7454971027460395,
        4.927842643316632,
        4.164206308929395,
        3.383342574388086,
        4.991451971677735,
        5.1084436895112475,
    ];

    fn fit(points: &Array2<f64>) -> Copod {
        Copod::fit(&CopodParams::default(), points.view()).expect("fits")
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
        let copod = fit(&points);
        for planted in 0..5 {
            for extreme in [-7.0, 7.0] {
                let mut probe = vec![0.1; 5];
                probe[planted] = extreme;
                let shares = copod.attribute(ArrayView1::from(&probe));
                let top = (0..5).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
                assert_eq!(top, Some(planted), "shares {shares:?}");
                approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn shares_decompose_the_score() {
        let points = reference::points();
        let copod = fit(&points);
        let scores = copod.score(points.view());
        let terms = copod.ecdfs.terms(points.row(6), outlyingness);
        approx::assert_abs_diff_eq!(terms.iter().sum::<f64>(), scores[6], epsilon = 1e-12);
    }

    #[test]
    fn same_scores_for_any_thread_count() {
        let points = reference::gaussian(5000, 3, 3);
        let copod = fit(&points);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let serial = pool.install(|| fit(&points).score(points.view()));
        assert_eq!(copod.score(points.view()), serial);
    }

    #[test]
    fn constant_data_scores_without_panicking() {
        let points = Array2::from_elem((50, 3), 1.5);
        let copod = fit(&points);
        assert!(copod.score(points.view()).iter().all(|&score| score == 0.0));
        assert_eq!(copod.attribute(points.row(0)), vec![0.0; 3]);
    }

    #[test]
    fn one_point_fits_and_scores() {
        let points = Array2::from_elem((1, 2), 3.0);
        let copod = fit(&points);
        assert_eq!(copod.score(points.view()), vec![0.0]);
    }

    #[test]
    fn non_finite_points_do_not_panic() {
        let mut points = reference::gaussian(100, 2, 5);
        points[[3, 1]] = f64::NAN;
        let copod = fit(&points);
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, f64::NEG_INFINITY]];
        let scores = copod.score(odd.view());
        assert!(scores[0].is_nan());
        assert!(scores[1].is_finite());
        assert_eq!(copod.attribute(odd.row(0))[0], 0.0);
    }

    #[test]
    fn wrong_number_of_features_scores_nan() {
        let copod = fit(&reference::points());
        let narrow = Array2::zeros((2, 3));
        assert!(
            copod
                .score(narrow.view())
                .iter()
                .all(|score| score.is_nan())
        );
    }

    #[test]
    fn small_max_exact_points_is_rejected_with_the_parameter_name() {
        let params = CopodParams {
            max_exact_points: 0,
        };
        let error = Copod::fit(&params, reference::points().view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: max_exact_points must be at least 10000, got 0"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn awkward_input_never_panics(points in reference::awkward_points()) {
            reference::assert_sane(&points, Copod::fit(&CopodParams::default(), points.view()));
        }
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        let points = reference::points();
        let copod = fit(&points);
        let bytes = postcard::to_stdvec(&copod).expect("serializes");
        let decoded: Copod = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(decoded.score(points.view()), copod.score(points.view()));
    }
}
