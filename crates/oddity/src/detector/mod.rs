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

mod iforest;

pub use iforest::{IsolationForest, IsolationForestParams, MaxSamples, SplitKind};

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
}

/// The parameters of any detector family, as stored in a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorParams {
    /// Isolation Forest, standard or extended.
    IsolationForest(IsolationForestParams),
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
        }
    }

    /// Fits the detector on a finite row-major matrix.
    pub fn fit(&self, points: ArrayView2<'_, f64>) -> Result<FittedDetector, FitError> {
        match self {
            DetectorParams::IsolationForest(params) => Ok(FittedDetector::IsolationForest(
                IsolationForest::fit(params, points)?,
            )),
        }
    }

    /// The detector's name, as [`Detector::name`] will report it.
    pub fn name(&self) -> &'static str {
        match self {
            DetectorParams::IsolationForest(params) => params.name(),
        }
    }
}

/// A fitted detector of any family.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FittedDetector {
    IsolationForest(IsolationForest),
}

impl FittedDetector {
    fn inner(&self) -> &dyn Detector {
        match self {
            FittedDetector::IsolationForest(forest) => forest,
        }
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> DetectorParams {
        match self {
            FittedDetector::IsolationForest(forest) => {
                DetectorParams::IsolationForest(forest.params().clone())
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
