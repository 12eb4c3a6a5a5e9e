//! The detector abstraction: checked parameters, fitting, scoring and
//! per-feature attribution.
//!
//! Every batch detector has the same shape:
//!
//! 1. a parameter struct with documented defaults and a `validate` method
//!    that names the parameter, the limit and the bad value;
//! 2. `fit` on a prepared, finite, row-major matrix (points × features);
//! 3. [`Detector::score`]: higher means more anomalous, on a detector-specific
//!    scale that the [`crate::threshold`] step calibrates, so that changing
//!    the sensitivity never refits;
//! 4. [`Detector::attribute`]: non-negative per-feature shares of one point's
//!    anomaly, used by [`crate::explain`].
//!
//! [`DetectorParams`] and [`FittedDetector`] are closed enums rather than
//! trait objects so that a model file can be decoded without a registry of
//! types; adding a family means adding one variant to each.

mod autoencoder;
mod copod;
mod dbscan;
mod ecdf;
mod ecod;
mod ensemble;
mod hbos;
mod iforest;
mod kmeans;
mod knn;
mod lof;
mod lstm;
mod mahalanobis;
pub(crate) mod neighbors;
mod ocsvm;
mod pca;
mod smo;

pub use autoencoder::{Autoencoder, AutoencoderParams};
pub use copod::{Copod, CopodParams};
pub use dbscan::{Dbscan, DbscanClustering, DbscanParams};
pub use ecod::{Ecod, EcodParams};
pub use ensemble::{
    Combination, Ensemble, EnsembleParams, MAX_MEMBERS, MAX_RANK_REFERENCE, Normalisation,
    auto_params,
};
pub use hbos::{Hbos, HbosParams};
pub use iforest::{IsolationForest, IsolationForestParams, MaxSamples, SplitKind};
pub use kmeans::{KMeans, KMeansParams, KMeansScale};
pub use knn::{KNearestNeighbors, KNearestNeighborsParams, KnnMethod};
pub use lof::{LocalOutlierFactor, LocalOutlierFactorParams};
pub use lstm::{LstmAutoencoder, LstmAutoencoderParams};
pub use mahalanobis::{Mcd, McdParams};
pub use neighbors::ApproximationCheck;
pub use ocsvm::{Gamma, OneClassSvm, OneClassSvmParams, SvmSolver};
pub use pca::{Pca, PcaMethod, PcaParams};

use crate::supervised::{
    DecisionTree, DecisionTreeParams, LogisticRegression, LogisticRegressionParams, RandomForest,
    RandomForestParams,
};

use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

/// A parameter that failed validation.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{name} {requirement}, got {value}")]
pub struct ParamError {
    /// The parameter's name as the user spells it (`n_trees`).
    pub name: &'static str,
    /// What is allowed, phrased to follow the name (`must be at least 1`).
    pub requirement: String,
    /// The rejected value, formatted.
    pub value: String,
}

impl ParamError {
    pub(crate) fn new(
        name: &'static str,
        requirement: impl Into<String>,
        value: impl std::fmt::Display,
    ) -> Self {
        ParamError {
            name,
            requirement: requirement.into(),
            value: value.to_string(),
        }
    }
}

/// Why fitting failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FitError {
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    Param(#[from] ParamError),
    /// There is nothing to learn from.
    #[error("cannot fit on {n_points} points with {n_features} features: {reason}")]
    NotEnoughData {
        n_points: usize,
        n_features: usize,
        reason: &'static str,
    },
    /// A supervised detector was fitted without ground truth.
    #[error(
        "the {detector} detector is supervised and needs labels: name the ground-truth column with --label"
    )]
    NeedsLabels { detector: &'static str },
    /// The labels do not line up with the points.
    #[error("got {n_labels} labels for {n_points} points")]
    LabelCount { n_points: usize, n_labels: usize },
    /// The detector's training code was left out of this build by a cargo
    /// feature; fitted models of it still load and score.
    #[error(
        "the {detector} detector cannot be trained by this build: rebuild with --features {feature}"
    )]
    NotBuilt {
        detector: &'static str,
        feature: &'static str,
    },
    /// A sequence detector was fitted on points that are not windows of a
    /// series.
    #[error("the {detector} detector scores sequences: give --window W")]
    NeedsWindow { detector: &'static str },
    /// Training ran but failed (the loss diverged, or the training library
    /// reported an error).
    #[error("training the {detector} detector failed: {reason}")]
    Training {
        detector: &'static str,
        reason: String,
    },
}

/// A fitted batch detector.
///
/// Contract for implementors: `score` and `attribute` never panic on
/// non-finite input (the preparation step removes it, but a library user may
/// not), and a point with the wrong number of features is the caller's bug,
/// checked by [`crate::pipeline`] before it reaches a detector.
pub trait Detector {
    /// A stable, lowercase name (`isolation_forest`).
    fn name(&self) -> &'static str;

    /// The number of features the detector was fitted on.
    fn n_features(&self) -> usize;

    /// Scores every row of `points`; higher means more anomalous.
    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64>;

    /// Per-feature shares of one point's anomaly: non-negative, summing to 1,
    /// or all zero when the detector sees nothing to attribute.
    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64>;

    /// Scores rows of the data the detector was fitted on, as outlier
    /// detection (`oddity detect`) judges them: a neighbour method leaves
    /// each row out of its own neighbours, so that the scores match
    /// [`Detector::training_scores`]. By default the same as
    /// [`Detector::score`], for detectors whose scores do not see the
    /// point itself.
    fn score_in_sample(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        self.score(points)
    }

    /// The training points' own scores, when scoring the training matrix
    /// again would not reproduce them (a neighbour method finds each
    /// training point at distance 0 from itself). Threshold calibration
    /// uses these; `None` means "score the training matrix".
    fn training_scores(&self) -> Option<&[f64]> {
        None
    }
}

/// The parameters of any detector family, as stored in a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorParams {
    /// Isolation Forest, standard or extended.
    IsolationForest(IsolationForestParams),
    /// Empirical-CDF outlier detection (Li et al. 2022).
    Ecod(EcodParams),
    /// Copula-based outlier detection (Li et al. 2020).
    Copod(CopodParams),
    /// Histogram-based outlier score (Goldstein and Dengel 2012).
    Hbos(HbosParams),
    /// Distance to the k nearest neighbours (Ramaswamy et al. 2000).
    KNearestNeighbors(KNearestNeighborsParams),
    /// Local Outlier Factor (Breunig et al. 2000).
    LocalOutlierFactor(LocalOutlierFactorParams),
    /// Principal component analysis reconstruction (PyOD's PCA score).
    Pca(PcaParams),
    /// Robust Mahalanobis distance, minimum covariance determinant.
    Mcd(McdParams),
    /// Distance to the nearest k-means centroid.
    KMeans(KMeansParams),
    /// DBSCAN reachability from core points.
    Dbscan(DbscanParams),
    /// Several detectors' normalised scores, combined.
    Ensemble(EnsembleParams),
    // New variants go last: postcard stores the variant's index.
    /// One-class SVM with the RBF kernel (Schölkopf et al. 2001).
    OneClassSvm(OneClassSvmParams),
    /// Supervised: L2-penalised logistic regression.
    LogisticRegression(LogisticRegressionParams),
    /// Supervised: one CART classification tree.
    DecisionTree(DecisionTreeParams),
    /// Supervised: a random forest of CART trees.
    RandomForest(RandomForestParams),
    /// A dense autoencoder's reconstruction error (training needs the
    /// crate feature `autoencoder`).
    Autoencoder(AutoencoderParams),
    /// An LSTM encoder-decoder's reconstruction error of a window of a
    /// series (Malhotra et al. 2016; needs windows, and training needs
    /// the crate feature `autoencoder`).
    LstmAutoencoder(LstmAutoencoderParams),
}

impl Default for DetectorParams {
    fn default() -> Self {
        DetectorParams::IsolationForest(IsolationForestParams::default())
    }
}

impl DetectorParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        match self {
            DetectorParams::IsolationForest(params) => params.validate(),
            DetectorParams::Ecod(params) => params.validate(),
            DetectorParams::Copod(params) => params.validate(),
            DetectorParams::Hbos(params) => params.validate(),
            DetectorParams::KNearestNeighbors(params) => params.validate(),
            DetectorParams::LocalOutlierFactor(params) => params.validate(),
            DetectorParams::Pca(params) => params.validate(),
            DetectorParams::Mcd(params) => params.validate(),
            DetectorParams::KMeans(params) => params.validate(),
            DetectorParams::OneClassSvm(params) => params.validate(),
            DetectorParams::Dbscan(params) => params.validate(),
            DetectorParams::Ensemble(params) => params.validate(),
            DetectorParams::LogisticRegression(params) => params.validate(),
            DetectorParams::DecisionTree(params) => params.validate(),
            DetectorParams::RandomForest(params) => params.validate(),
            DetectorParams::Autoencoder(params) => params.validate(),
            DetectorParams::LstmAutoencoder(params) => params.validate(),
        }
    }

    /// Whether the detector learns from labels ([`crate::supervised`]);
    /// such a detector must be fitted with [`DetectorParams::fit_labelled`].
    pub fn is_supervised(&self) -> bool {
        matches!(
            self,
            DetectorParams::LogisticRegression(_)
                | DetectorParams::DecisionTree(_)
                | DetectorParams::RandomForest(_)
        )
    }

    /// Fits the detector on a finite row-major matrix; a supervised
    /// detector refuses ([`FitError::NeedsLabels`]).
    pub fn fit(&self, points: ArrayView2<'_, f64>) -> Result<FittedDetector, FitError> {
        self.fit_labelled(points, None)
    }

    /// Fits the detector on a finite row-major matrix with, for supervised
    /// detectors, one label per point (`true` = anomaly, `None` = not
    /// known). Unsupervised detectors ignore the labels; supervised ones
    /// need them.
    pub fn fit_labelled(
        &self,
        points: ArrayView2<'_, f64>,
        labels: Option<&[Option<bool>]>,
    ) -> Result<FittedDetector, FitError> {
        let needs_labels = || FitError::NeedsLabels {
            detector: self.name(),
        };
        match self {
            DetectorParams::IsolationForest(params) => Ok(FittedDetector::IsolationForest(
                IsolationForest::fit(params, points)?,
            )),
            DetectorParams::Ecod(params) => Ok(FittedDetector::Ecod(Ecod::fit(params, points)?)),
            DetectorParams::Copod(params) => Ok(FittedDetector::Copod(Copod::fit(params, points)?)),
            DetectorParams::Hbos(params) => Ok(FittedDetector::Hbos(Hbos::fit(params, points)?)),
            DetectorParams::KNearestNeighbors(params) => Ok(FittedDetector::KNearestNeighbors(
                KNearestNeighbors::fit(params, points)?,
            )),
            DetectorParams::LocalOutlierFactor(params) => Ok(FittedDetector::LocalOutlierFactor(
                LocalOutlierFactor::fit(params, points)?,
            )),
            DetectorParams::Pca(params) => Ok(FittedDetector::Pca(Pca::fit(params, points)?)),
            DetectorParams::Mcd(params) => Ok(FittedDetector::Mcd(Mcd::fit(params, points)?)),
            DetectorParams::KMeans(params) => {
                Ok(FittedDetector::KMeans(KMeans::fit(params, points)?))
            }
            DetectorParams::OneClassSvm(params) => Ok(FittedDetector::OneClassSvm(
                OneClassSvm::fit(params, points)?,
            )),
            DetectorParams::Dbscan(params) => {
                Ok(FittedDetector::Dbscan(Dbscan::fit(params, points)?))
            }
            DetectorParams::Ensemble(params) => {
                Ok(FittedDetector::Ensemble(Ensemble::fit(params, points)?))
            }
            DetectorParams::LogisticRegression(params) => {
                let labels = labels.ok_or_else(needs_labels)?;
                Ok(FittedDetector::LogisticRegression(LogisticRegression::fit(
                    params, points, labels,
                )?))
            }
            DetectorParams::DecisionTree(params) => {
                let labels = labels.ok_or_else(needs_labels)?;
                Ok(FittedDetector::DecisionTree(DecisionTree::fit(
                    params, points, labels,
                )?))
            }
            DetectorParams::RandomForest(params) => {
                let labels = labels.ok_or_else(needs_labels)?;
                Ok(FittedDetector::RandomForest(RandomForest::fit(
                    params, points, labels,
                )?))
            }
            DetectorParams::Autoencoder(params) => Ok(FittedDetector::Autoencoder(
                Autoencoder::fit(params, points)?,
            )),
            DetectorParams::LstmAutoencoder(params) => Ok(FittedDetector::LstmAutoencoder(
                LstmAutoencoder::fit(params, points)?,
            )),
        }
    }

    /// The detector's name, as [`Detector::name`] will report it.
    pub fn name(&self) -> &'static str {
        match self {
            DetectorParams::IsolationForest(params) => params.name(),
            DetectorParams::Ecod(params) => params.name(),
            DetectorParams::Copod(params) => params.name(),
            DetectorParams::Hbos(params) => params.name(),
            DetectorParams::KNearestNeighbors(params) => params.name(),
            DetectorParams::LocalOutlierFactor(params) => params.name(),
            DetectorParams::Pca(params) => params.name(),
            DetectorParams::Mcd(params) => params.name(),
            DetectorParams::KMeans(params) => params.name(),
            DetectorParams::OneClassSvm(params) => params.name(),
            DetectorParams::Dbscan(params) => params.name(),
            DetectorParams::Ensemble(params) => params.name(),
            DetectorParams::LogisticRegression(params) => params.name(),
            DetectorParams::DecisionTree(params) => params.name(),
            DetectorParams::RandomForest(params) => params.name(),
            DetectorParams::Autoencoder(params) => params.name(),
            DetectorParams::LstmAutoencoder(params) => params.name(),
        }
    }

    /// Sets parameters by name from text, as given on a command line
    /// (`n_trees=200`, `max_samples={"count":512}`): each value is read as
    /// JSON, or as a plain string when it is not JSON. Unknown names and
    /// values of the wrong type are errors naming the parameter; the result
    /// is validated.
    pub fn with_settings(&self, settings: &[(String, String)]) -> Result<Self, ParamError> {
        let updated = set_named_fields(self, self.name(), settings)?;
        updated.validate()?;
        Ok(updated)
    }
}

/// Sets fields of the one variant of an externally tagged parameter enum by
/// name, each value read as JSON or else as a plain string; `family` names
/// the variant in errors. Unknown names and values of the wrong type are
/// errors naming the parameter. The result is not validated.
pub(crate) fn set_named_fields<T: Serialize + serde::de::DeserializeOwned>(
    params: &T,
    family: &str,
    settings: &[(String, String)],
) -> Result<T, ParamError> {
    let mut document = serde_json::to_value(params)
        .map_err(|error| ParamError::new("detector", "must be representable as JSON", error))?;
    let fields = document
        .as_object_mut()
        .and_then(|variants| variants.values_mut().next())
        .and_then(serde_json::Value::as_object_mut)
        .ok_or_else(|| ParamError::new("detector", "has no parameters to set", family))?;
    for (name, text) in settings {
        let Some(slot) = fields.get_mut(name.as_str()) else {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(ParamError::new(
                "parameter",
                format!("must be one of {} for {family}", known.join(", ")),
                name,
            ));
        };
        *slot =
            serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.clone()));
    }
    serde_json::from_value(document)
        .map_err(|error| ParamError::new("parameter", "has the wrong type", error))
}

/// A fitted detector of any family.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FittedDetector {
    IsolationForest(IsolationForest),
    Ecod(Ecod),
    Copod(Copod),
    Hbos(Hbos),
    KNearestNeighbors(KNearestNeighbors),
    LocalOutlierFactor(LocalOutlierFactor),
    Pca(Pca),
    Mcd(Mcd),
    KMeans(KMeans),
    Dbscan(Dbscan),
    Ensemble(Ensemble),
    OneClassSvm(OneClassSvm),
    LogisticRegression(LogisticRegression),
    DecisionTree(DecisionTree),
    RandomForest(RandomForest),
    Autoencoder(Autoencoder),
    LstmAutoencoder(LstmAutoencoder),
}

impl FittedDetector {
    /// Whether the detector was trained on labels; its score is then the
    /// probability of the anomaly class.
    pub fn is_supervised(&self) -> bool {
        matches!(
            self,
            FittedDetector::LogisticRegression(_)
                | FittedDetector::DecisionTree(_)
                | FittedDetector::RandomForest(_)
        )
    }

    fn inner(&self) -> &dyn Detector {
        match self {
            FittedDetector::IsolationForest(forest) => forest,
            FittedDetector::Ecod(detector) => detector,
            FittedDetector::Copod(detector) => detector,
            FittedDetector::Hbos(detector) => detector,
            FittedDetector::KNearestNeighbors(detector) => detector,
            FittedDetector::LocalOutlierFactor(detector) => detector,
            FittedDetector::Pca(detector) => detector,
            FittedDetector::Mcd(detector) => detector,
            FittedDetector::KMeans(detector) => detector,
            FittedDetector::OneClassSvm(detector) => detector,
            FittedDetector::Dbscan(detector) => detector,
            FittedDetector::Ensemble(detector) => detector,
            FittedDetector::LogisticRegression(detector) => detector,
            FittedDetector::DecisionTree(detector) => detector,
            FittedDetector::RandomForest(detector) => detector,
            FittedDetector::Autoencoder(detector) => detector,
            FittedDetector::LstmAutoencoder(detector) => detector,
        }
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> DetectorParams {
        match self {
            FittedDetector::IsolationForest(forest) => {
                DetectorParams::IsolationForest(forest.params().clone())
            }
            FittedDetector::Ecod(detector) => DetectorParams::Ecod(detector.params().clone()),
            FittedDetector::Copod(detector) => DetectorParams::Copod(detector.params().clone()),
            FittedDetector::Hbos(detector) => DetectorParams::Hbos(detector.params().clone()),
            FittedDetector::KNearestNeighbors(detector) => {
                DetectorParams::KNearestNeighbors(detector.params().clone())
            }
            FittedDetector::LocalOutlierFactor(detector) => {
                DetectorParams::LocalOutlierFactor(detector.params().clone())
            }
            FittedDetector::Pca(detector) => DetectorParams::Pca(detector.params().clone()),
            FittedDetector::Mcd(detector) => DetectorParams::Mcd(detector.params().clone()),
            FittedDetector::KMeans(detector) => DetectorParams::KMeans(detector.params().clone()),
            FittedDetector::OneClassSvm(detector) => {
                DetectorParams::OneClassSvm(detector.params().clone())
            }
            FittedDetector::Dbscan(detector) => DetectorParams::Dbscan(detector.params().clone()),
            FittedDetector::Ensemble(detector) => {
                DetectorParams::Ensemble(detector.params().clone())
            }
            FittedDetector::LogisticRegression(detector) => {
                DetectorParams::LogisticRegression(detector.params().clone())
            }
            FittedDetector::DecisionTree(detector) => {
                DetectorParams::DecisionTree(detector.params().clone())
            }
            FittedDetector::RandomForest(detector) => {
                DetectorParams::RandomForest(detector.params().clone())
            }
            FittedDetector::Autoencoder(detector) => {
                DetectorParams::Autoencoder(detector.params().clone())
            }
            FittedDetector::LstmAutoencoder(detector) => {
                DetectorParams::LstmAutoencoder(detector.params().clone())
            }
        }
    }
}

impl Detector for FittedDetector {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn n_features(&self) -> usize {
        self.inner().n_features()
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        self.inner().score(points)
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        self.inner().attribute(point)
    }

    fn score_in_sample(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        self.inner().score_in_sample(points)
    }

    fn training_scores(&self) -> Option<&[f64]> {
        self.inner().training_scores()
    }
}

/// The names `--detector` accepts, with the parameters each starts from.
pub fn detector_by_name(name: &str) -> Option<DetectorParams> {
    let params = match name {
        "iforest" | "isolation_forest" => {
            DetectorParams::IsolationForest(IsolationForestParams::default())
        }
        "eif" | "extended_isolation_forest" => {
            DetectorParams::IsolationForest(IsolationForestParams {
                split: SplitKind::Hyperplane {
                    extension_level: None,
                },
                ..IsolationForestParams::default()
            })
        }
        "ecod" => DetectorParams::Ecod(EcodParams::default()),
        "copod" => DetectorParams::Copod(CopodParams::default()),
        "hbos" => DetectorParams::Hbos(HbosParams::default()),
        "knn" | "k_nearest_neighbors" => {
            DetectorParams::KNearestNeighbors(KNearestNeighborsParams::default())
        }
        "lof" | "local_outlier_factor" => {
            DetectorParams::LocalOutlierFactor(LocalOutlierFactorParams::default())
        }
        "pca" => DetectorParams::Pca(PcaParams::default()),
        "mcd" => DetectorParams::Mcd(McdParams::default()),
        "kmeans" => DetectorParams::KMeans(KMeansParams::default()),
        "ocsvm" | "one_class_svm" => DetectorParams::OneClassSvm(OneClassSvmParams::default()),
        "dbscan" => DetectorParams::Dbscan(DbscanParams::default()),
        "auto" | "ensemble" => DetectorParams::Ensemble(auto_params()),
        "autoencoder" | "ae" => DetectorParams::Autoencoder(AutoencoderParams::default()),
        "lstm-autoencoder" | "lstm_autoencoder" | "lstm-ae" | "lstm_ae" => {
            DetectorParams::LstmAutoencoder(LstmAutoencoderParams::default())
        }
        "logistic" | "logistic_regression" => {
            DetectorParams::LogisticRegression(LogisticRegressionParams::default())
        }
        "tree" | "decision_tree" => DetectorParams::DecisionTree(DecisionTreeParams::default()),
        "forest" | "random_forest" => DetectorParams::RandomForest(RandomForestParams::default()),
        _ => return None,
    };
    Some(params)
}

/// Every name [`detector_by_name`] knows, for help and error messages;
/// the last three are supervised and need labels (keep them last).
pub const DETECTOR_NAMES: &[&str] = &[
    "iforest",
    "eif",
    "ecod",
    "copod",
    "hbos",
    "knn",
    "lof",
    "pca",
    "mcd",
    "kmeans",
    "ocsvm",
    "dbscan",
    "auto",
    "autoencoder",
    "lstm-autoencoder",
    "logistic",
    "tree",
    "forest",
];

/// Scores the rows of `points` in parallel blocks of `block_rows`, each
/// block with its own working state from `state` (buffers reused from row
/// to row); a matrix with the wrong number of columns scores NaN. A row's
/// score depends on the row alone, so the thread count never changes it.
pub(crate) fn score_rows<S>(
    points: ArrayView2<'_, f64>,
    n_features: usize,
    block_rows: usize,
    state: impl Fn() -> S + Sync,
    score: impl Fn(&mut S, &[f64]) -> f64 + Sync,
) -> Vec<f64> {
    use rayon::prelude::*;

    if points.ncols() != n_features {
        return vec![f64::NAN; points.nrows()];
    }
    let points = points.as_standard_layout();
    let data = points.as_slice().expect("standard layout is contiguous");
    let mut scores = vec![0.0; points.nrows()];
    if n_features == 0 {
        return scores;
    }
    scores
        .par_chunks_mut(block_rows)
        .zip(data.par_chunks(block_rows * n_features))
        .for_each(|(out, block)| {
            let mut working = state();
            for (value, row) in out.iter_mut().zip(block.chunks_exact(n_features)) {
                *value = score(&mut working, row);
            }
        });
    scores
}

/// Normalises non-negative raw attributions to shares summing to 1.
pub(crate) fn normalise_shares(mut raw: Vec<f64>) -> Vec<f64> {
    for value in &mut raw {
        if !value.is_finite() || *value < 0.0 {
            *value = 0.0;
        }
    }
    let total: f64 = raw.iter().sum();
    if total > 0.0 {
        raw.iter_mut().for_each(|value| *value /= total);
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_change_named_parameters_and_are_validated() {
        let params = detector_by_name("iforest").unwrap();
        let changed = params
            .with_settings(&[("n_trees".into(), "7".into()), ("seed".into(), "3".into())])
            .unwrap();
        let DetectorParams::IsolationForest(inner) = &changed else {
            panic!("still a forest: {changed:?}");
        };
        assert_eq!((inner.n_trees, inner.seed), (7, 3));

        let error = params
            .with_settings(&[("trees".into(), "7".into())])
            .unwrap_err();
        assert!(error.to_string().contains("must be one of"), "{error}");
        let error = params
            .with_settings(&[("n_trees".into(), "0".into())])
            .unwrap_err();
        assert_eq!(error.to_string(), "n_trees must be at least 1, got 0");
        let error = params
            .with_settings(&[("n_trees".into(), "many".into())])
            .unwrap_err();
        assert!(error.to_string().contains("wrong type"), "{error}");
    }

    #[test]
    fn autoencoder_layers_are_set_as_json_lists() {
        let params = detector_by_name("ae").unwrap();
        assert_eq!(params.name(), "autoencoder");
        let changed = params
            .with_settings(&[
                ("hidden_layers".into(), "[16, 8]".into()),
                ("epochs".into(), "3".into()),
            ])
            .unwrap();
        let DetectorParams::Autoencoder(inner) = &changed else {
            panic!("still an autoencoder: {changed:?}");
        };
        assert_eq!(
            (inner.hidden_layers.as_slice(), inner.epochs),
            (&[16, 8][..], 3)
        );
        let error = params
            .with_settings(&[("hidden_layers".into(), "[]".into())])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "hidden_layers must list 1 to 16 widths, got []"
        );
    }

    #[test]
    fn every_listed_name_is_known() {
        for name in DETECTOR_NAMES {
            assert!(detector_by_name(name).is_some(), "{name}");
        }
    }
}
