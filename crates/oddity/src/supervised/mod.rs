//! Supervised detectors: classifiers trained on labelled points, for when
//! ground truth exists. Their score is the predicted probability that a
//! point is an anomaly, so the default threshold is 0.5.
//!
//! - [`LogisticRegression`]: L2-penalised logistic regression on
//!   standardised features, fitted by Newton's method (scikit-learn's
//!   `LogisticRegression(C=...)` objective; coefficients agree to 1e-6).
//! - [`DecisionTree`]: one CART tree, Gini criterion (`cart.rs`).
//! - [`RandomForest`]: bootstrap samples, `sqrt(n_features)` features per
//!   split, trees grown in parallel, identical for a seed on any number of
//!   threads.
//!
//! All three share [`SupervisedOptions`]: class weights (`balanced` as
//! scikit-learn defines it, `n / (2 n_class)`), SMOTE oversampling of the
//! smaller class (`smote.rs`), and the few-labels mode.
//!
//! **Few-labels mode** (`iforest_feature`): when only a handful of
//! anomalies carry labels, a classifier alone learns only what those few
//! look like. ADBench (Han et al., NeurIPS 2022) found that even 1 %
//! labelled anomalies lets semi-supervised detectors beat unsupervised
//! ones, and XGBOD (Zhao and Hryniewicki, IJCNN 2018) feeds unsupervised
//! outlier scores to a supervised model as extra features. Here an
//! Isolation Forest (default parameters, the detector's seed) is fitted on
//! **every** training point, labelled or not, and its score becomes one
//! more feature of the classifier, which is trained on the labelled points
//! only. Points with a missing label thus still shape what "unusual"
//! means. The forest's share of an attribution is handed on to the input
//! features by the forest's own attribution of the point.
//!
//! Points whose label is missing (`None`) are left out of the classifier's
//! training; label unknown points as normal (0) to use them as negatives,
//! as ADBench does.

mod cart;
mod forest;
mod logistic;
mod smote;
mod tree;

pub use forest::{RandomForest, RandomForestParams};
pub use logistic::{LogisticRegression, LogisticRegressionParams};
pub use tree::{DecisionTree, DecisionTreeParams, MaxFeatures};

use ndarray::{Array2, ArrayView1, ArrayView2, Axis, CowArray, Ix2, concatenate};
use serde::{Deserialize, Serialize};

use crate::detector::{
    Detector, FitError, IsolationForest, IsolationForestParams, ParamError, normalise_shares,
};

/// How classes are weighted in the training loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every labelled point weighs 1.
    #[default]
    None,
    /// Each class weighs `n / (2 n_class)` per point, so both classes carry
    /// equal total weight (scikit-learn's `class_weight="balanced"`).
    Balanced,
}

/// Handling of class imbalance and unlabelled points, shared by every
/// supervised detector; see the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SupervisedOptions {
    pub class_weight: ClassWeight,
    /// Oversample the smaller class with SMOTE to the larger's size.
    pub smote: bool,
    /// Neighbours SMOTE interpolates towards; default 5.
    pub smote_k: usize,
    /// Few-labels mode: an Isolation Forest score as an extra feature.
    pub iforest_feature: bool,
    pub seed: u64,
}

impl SupervisedOptions {
    pub(crate) fn validate(&self) -> Result<(), ParamError> {
        if self.smote_k == 0 {
            return Err(ParamError::new("smote_k", "must be at least 1", 0));
        }
        Ok(())
    }
}

/// The labelled training matrix a classifier sees.
#[derive(Debug)]
pub(crate) struct TrainingSet {
    /// Row-major, with the Isolation Forest score as the last column in
    /// few-labels mode.
    pub points: Array2<f64>,
    pub labels: Vec<bool>,
    pub weights: Vec<f64>,
    /// The few-labels mode's forest, fitted on every point.
    pub score_feature: Option<IsolationForest>,
}

/// Builds the training set: the few-labels feature, the labelled rows,
/// SMOTE and class weights, in that order. Both classes must be present
/// among the labelled rows.
pub(crate) fn training_set(
    points: ArrayView2<'_, f64>,
    labels: &[Option<bool>],
    options: &SupervisedOptions,
) -> Result<TrainingSet, FitError> {
    let (n_points, n_features) = points.dim();
    if labels.len() != n_points {
        return Err(FitError::LabelCount {
            n_points,
            n_labels: labels.len(),
        });
    }
    if n_features == 0 {
        return Err(FitError::NotEnoughData {
            n_points,
            n_features,
            reason: "no features",
        });
    }
    let score_feature = if options.iforest_feature {
        let params = IsolationForestParams {
            seed: options.seed,
            ..IsolationForestParams::default()
        };
        Some(IsolationForest::fit(&params, points)?)
    } else {
        None
    };
    let augmented = with_score_feature(points, score_feature.as_ref());

    let labelled: Vec<usize> = (0..n_points).filter(|&row| labels[row].is_some()).collect();
    let mut train_labels: Vec<bool> = labelled
        .iter()
        .map(|&row| labels[row].expect("filtered to labelled rows"))
        .collect();
    let n_anomalies = train_labels.iter().filter(|&&label| label).count();
    if n_anomalies == 0 || n_anomalies == train_labels.len() {
        return Err(FitError::NotEnoughData {
            n_points: train_labels.len(),
            n_features,
            reason: "a supervised detector needs labelled anomalies and labelled normal points",
        });
    }
    let mut train_points = augmented.select(Axis(0), &labelled);
    if options.smote {
        // Derived from the seed so that it differs from the forest's.
        let seed = options.seed ^ 0x5EED_5307_E000_0001;
        let (synthetic, label) =
            smote::oversample(train_points.view(), &train_labels, options.smote_k, seed)?;
        train_labels.extend(std::iter::repeat_n(label, synthetic.nrows()));
        train_points =
            concatenate(Axis(0), &[train_points.view(), synthetic.view()]).expect("equal widths");
    }
    let weights = class_weights(&train_labels, options.class_weight);
    Ok(TrainingSet {
        points: train_points.as_standard_layout().into_owned(),
        labels: train_labels,
        weights,
        score_feature,
    })
}

/// Per-point weights for `labels`.
fn class_weights(labels: &[bool], class_weight: ClassWeight) -> Vec<f64> {
    match class_weight {
        ClassWeight::None => vec![1.0; labels.len()],
        ClassWeight::Balanced => {
            let n = labels.len() as f64;
            let n_anomalies = labels.iter().filter(|&&label| label).count() as f64;
            let anomaly = n / (2.0 * n_anomalies);
            let normal = n / (2.0 * (n - n_anomalies));
            labels
                .iter()
                .map(|&label| if label { anomaly } else { normal })
                .collect()
        }
    }
}

/// `points` with the few-labels forest's score appended as a last column,
/// or `points` itself without one.
pub(crate) fn with_score_feature<'a>(
    points: ArrayView2<'a, f64>,
    forest: Option<&IsolationForest>,
) -> CowArray<'a, f64, Ix2> {
    match forest {
        None => CowArray::from(points),
        Some(forest) => {
            let scores = ndarray::Array1::from(forest.score(points));
            let column = scores.insert_axis(Axis(1));
            CowArray::from(
                concatenate(Axis(1), &[points, column.view()]).expect("equal number of rows"),
            )
        }
    }
}

/// Turns raw per-feature contributions over the classifier's features
/// (the forest's score last in few-labels mode) into shares over the
/// input features: negative contributions are dropped, and the forest's
/// share is spread by the forest's own attribution of `point`.
pub(crate) fn input_shares(
    mut raw: Vec<f64>,
    point: ArrayView1<'_, f64>,
    forest: Option<&IsolationForest>,
) -> Vec<f64> {
    for value in &mut raw {
        if !value.is_finite() || *value < 0.0 {
            *value = 0.0;
        }
    }
    if let Some(forest) = forest {
        let forest_part = raw.pop().unwrap_or(0.0);
        if forest_part > 0.0 {
            for (slot, share) in raw.iter_mut().zip(forest.attribute(point)) {
                *slot += forest_part * share;
            }
        }
    }
    normalise_shares(raw)
}

#[cfg(test)]
mod reference_data;

#[cfg(test)]
pub(crate) mod test_support {
    use ndarray::Array2;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    /// `n_points` Gaussian points in `n_features` dimensions; the first
    /// `n_anomalies` are shifted by `shift` along feature `planted` and
    /// labelled anomalies.
    pub(crate) fn planted(
        n_points: usize,
        n_features: usize,
        n_anomalies: usize,
        planted: usize,
        shift: f64,
        seed: u64,
    ) -> (Array2<f64>, Vec<Option<bool>>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut points =
            Array2::from_shape_fn((n_points, n_features), |_| StandardNormal.sample(&mut rng));
        for row in 0..n_anomalies {
            points[[row, planted]] += shift + rng.random_range(0.0..0.5);
        }
        let labels = (0..n_points).map(|row| Some(row < n_anomalies)).collect();
        (points, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::{DetectorParams, detector_by_name};

    #[test]
    fn balanced_weights_give_both_classes_equal_weight() {
        let labels = [true, false, false, false];
        let weights = class_weights(&labels, ClassWeight::Balanced);
        assert_eq!(weights, vec![2.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]);
    }

    #[test]
    fn supervised_detectors_refuse_to_fit_without_labels() {
        let (points, _) = test_support::planted(50, 2, 5, 0, 4.0, 1);
        for name in ["logistic", "tree", "forest"] {
            let params = detector_by_name(name).unwrap();
            assert!(params.is_supervised());
            let error = params.fit(points.view()).unwrap_err();
            assert!(error.to_string().contains("--label"), "{name}: {error}");
        }
    }

    #[test]
    fn one_class_of_labels_is_an_error() {
        let (points, _) = test_support::planted(50, 2, 0, 0, 4.0, 1);
        let labels = vec![Some(false); 50];
        let params = detector_by_name("tree").unwrap();
        let error = params
            .fit_labelled(points.view(), Some(&labels))
            .unwrap_err();
        assert!(error.to_string().contains("labelled anomalies"), "{error}");
        let error = params
            .fit_labelled(points.view(), Some(&labels[..10]))
            .unwrap_err();
        assert!(error.to_string().contains("50 points"), "{error}");
    }

    #[test]
    fn every_supervised_detector_finds_the_planted_class_and_feature() {
        let (points, labels) = test_support::planted(400, 4, 20, 2, 5.0, 11);
        for name in ["logistic", "tree", "forest"] {
            for smote in [false, true] {
                let params = detector_by_name(name)
                    .unwrap()
                    .with_settings(&[
                        ("class_weight".into(), "balanced".into()),
                        ("smote".into(), smote.to_string()),
                    ])
                    .unwrap();
                let detector = params.fit_labelled(points.view(), Some(&labels)).unwrap();
                let scores = detector.score(points.view());
                let hits = (0..400)
                    .filter(|&row| (scores[row] > 0.5) == (row < 20))
                    .count();
                assert!(hits >= 390, "{name} smote={smote}: {hits} of 400 right");
                assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
                let shares = detector.attribute(points.row(3));
                let top = (0..4).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
                assert_eq!(top, Some(2), "{name}: {shares:?}");
                assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
        }
    }

    /// Anomalies come in two kinds far from the normal cloud; three of the
    /// first kind are labelled, the other anomalies are unlabelled and the
    /// rest is labelled normal. The Isolation Forest feature lets the
    /// classifier rank the unseen kind above the normal points; the plain
    /// classifier cannot.
    #[test]
    fn few_labels_mode_finds_anomalies_of_an_unlabelled_kind() {
        let (mut points, _) = test_support::planted(1000, 3, 0, 0, 0.0, 5);
        for row in 0..10 {
            points[[row, 0]] += 8.0;
        }
        for row in 10..20 {
            points[[row, 1]] -= 8.0;
        }
        let labels: Vec<Option<bool>> = (0..1000)
            .map(|row| match row {
                0..3 => Some(true),
                3..20 => None,
                _ => Some(false),
            })
            .collect();
        let auc_of_unseen = |iforest_feature: bool| {
            let params = detector_by_name("forest")
                .unwrap()
                .with_settings(&[
                    ("iforest_feature".into(), iforest_feature.to_string()),
                    ("class_weight".into(), "balanced".into()),
                ])
                .unwrap();
            let detector = params.fit_labelled(points.view(), Some(&labels)).unwrap();
            let scores = detector.score(points.view());
            let unseen: Vec<f64> = scores[10..20].to_vec();
            let normal: Vec<f64> = scores[20..].to_vec();
            let wins: f64 = unseen
                .iter()
                .flat_map(|u| {
                    normal.iter().map(move |n| match u.total_cmp(n) {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    })
                })
                .sum();
            (wins / (unseen.len() * normal.len()) as f64, detector)
        };
        let (with_forest, detector) = auc_of_unseen(true);
        let (without, _) = auc_of_unseen(false);
        assert!(
            with_forest > 0.85 && without < 0.75,
            "ROC-AUC of the unseen kind: {with_forest} with the forest feature, {without} without"
        );
        // The unseen kind is explained by the feature that sets it apart.
        let shares = detector.attribute(points.row(15));
        let top = (0..3).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
        assert_eq!(top, Some(1), "{shares:?}");
        assert!(matches!(
            detector.params(),
            DetectorParams::RandomForest(RandomForestParams {
                iforest_feature: true,
                ..
            })
        ));
    }

    #[test]
    fn unlabelled_points_are_left_out_of_training() {
        let (points, mut labels) = test_support::planted(200, 2, 10, 0, 6.0, 2);
        // Mislabelled points, marked unknown: they must not count.
        for label in labels.iter_mut().skip(100) {
            *label = None;
        }
        let params = detector_by_name("logistic").unwrap();
        let with_missing = params.fit_labelled(points.view(), Some(&labels)).unwrap();
        let first: Vec<usize> = (0..100).collect();
        let only_labelled = params
            .fit_labelled(points.select(Axis(0), &first).view(), Some(&labels[..100]))
            .unwrap();
        assert_eq!(
            with_missing.score(points.view()),
            only_labelled.score(points.view())
        );
    }

    #[test]
    fn fitted_supervised_models_round_trip_through_a_model_file() {
        let (points, labels) = test_support::planted(300, 3, 30, 1, 3.0, 8);
        let dir = tempfile::tempdir().unwrap();
        for name in ["logistic", "tree", "forest"] {
            let params = detector_by_name(name)
                .unwrap()
                .with_settings(&[("iforest_feature".into(), "true".into())])
                .unwrap();
            let detector = params.fit_labelled(points.view(), Some(&labels)).unwrap();
            let payload = postcard::to_stdvec(&detector).unwrap();
            let path = dir.path().join(format!("{name}.oddity"));
            crate::model_file::write(&path, &serde_json::json!({}), &payload).unwrap();
            let (_, read) = crate::model_file::read(&path).unwrap();
            let loaded: crate::detector::FittedDetector = postcard::from_bytes(&read).unwrap();
            assert_eq!(loaded.score(points.view()), detector.score(points.view()));
            assert_eq!(
                loaded.attribute(points.row(0)),
                detector.attribute(points.row(0))
            );
        }
    }
}
