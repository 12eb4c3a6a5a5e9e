//! Streaming detectors: learn one point at a time in bounded memory.
//!
//! A batch detector is
//! fitted once on a matrix; an online detector starts empty, scores each
//! arriving point against what it has learned so far, then learns from it.
//! Memory does not grow with the length of the stream: half-space trees keep
//! fixed mass counters, random cut forests keep a fixed-size, time-decayed
//! sample, the change-point detector a few numbers per feature. All of them
//! forget, so they follow a drifting stream.
//!
//! - [`HalfSpaceTrees`]: Tan, Ting and Liu (IJCAI 2011), scored as River's
//!   `HalfSpaceTrees`; very fast, assumes known feature ranges.
//! - [`RandomCutForest`]: Guha, Mishra, Roy and Schrijvers (ICML 2016),
//!   scored as AWS's `rcflib`; no range assumption, shingling for collective
//!   anomalies, directional attribution ([`DiVector`]).
//! - [`ChangePoint`]: per-feature two-sided CUSUM (Page 1954) on the level
//!   and the spread of each feature; scores the evidence of a change and
//!   restarts a feature's regime after one, so it follows the new level.
//! - [`SeasonalProfile`]: robust statistics (median, MAD) of the recent
//!   values of the same hour of the day, day of the week or hour of the
//!   week, for contextual anomalies; needs each record's time
//!   ([`OnlineDetector::observe_time`]).
//!
//! The whole state of a detector, random generators included, is plain data
//! that serde serializes: a model saved after `k` points and restored scores
//! the rest of the stream exactly as the uninterrupted model would. All enums
//! are externally tagged, as postcard requires.
//!
//! ```
//! use oddity::online::{OnlineDetector, OnlineModel, OnlineParams, RandomCutForestParams};
//!
//! let params = OnlineParams::RandomCutForest(RandomCutForestParams::default());
//! let mut detector = OnlineModel::new(&params, 2)?;
//! for step in 0..500 {
//!     let phase = step as f64 * 0.1;
//!     detector.learn_one(&[phase.sin(), phase.cos()]);
//! }
//! let usual = detector.score_one(&[0.0, 1.0]);
//! let unusual = detector.score_one(&[3.0, -3.0]);
//! assert!(unusual > usual);
//! # Ok::<(), oddity::online::OnlineError>(())
//! ```

pub mod changepoint;
pub mod hst;
pub mod likelihood;
pub mod rcf;
mod rng;
pub mod seasonal;

use serde::{Deserialize, Serialize};

pub use changepoint::{ChangePoint, ChangePointParams};
pub use hst::{HalfSpaceTrees, HalfSpaceTreesParams};
pub use likelihood::{AnomalyLikelihood, AnomalyLikelihoodParams, log_likelihood};
pub use rcf::{DiVector, RandomCutForest, RandomCutForestParams};
pub use seasonal::{Season, SeasonalParams, SeasonalProfile};

/// A detector that learns one point at a time in bounded memory.
///
/// Contract for implementors: no method panics on any input (wrong length,
/// NaN, ±inf), and the state after any sequence of calls serializes and
/// restores to a detector that behaves bit-identically from then on.
pub trait OnlineDetector {
    /// A stable, lowercase name (`random_cut_forest`).
    fn name(&self) -> &'static str;

    /// The length of the raw points the detector accepts (before any
    /// shingling).
    fn n_features(&self) -> usize;

    /// Scores `point` against the current state without learning from it;
    /// higher means more anomalous.
    ///
    /// A point of the wrong length or with a non-finite value scores NaN.
    /// Before the detector has learned enough to judge, the score is 0 (each
    /// detector documents when that is).
    fn score_one(&self, point: &[f64]) -> f64;

    /// Updates the state with `point`.
    ///
    /// A point of the wrong length or with a non-finite value is ignored:
    /// the state and [`n_seen`](Self::n_seen) do not change.
    fn learn_one(&mut self, point: &[f64]);

    /// The prequential step: scores `point` as [`score_one`](Self::score_one)
    /// would, then learns it as [`learn_one`](Self::learn_one) would.
    ///
    /// Implementors may fuse the two for speed but must return the same
    /// score and reach the same state.
    fn score_learn_one(&mut self, point: &[f64]) -> f64 {
        let score = self.score_one(point);
        self.learn_one(point);
        score
    }

    /// Per-feature shares of `point`'s score: non-negative and summing to 1,
    /// or all zero when there is nothing to attribute (bad input, nothing
    /// learned yet, a point the detector finds perfectly ordinary).
    fn attribute_one(&self, point: &[f64]) -> Vec<f64>;

    /// Points learned so far (ignored points are not counted).
    fn n_seen(&self) -> u64;

    /// The bytes the state holds: its own size plus its buffers, counted
    /// by their lengths (not capacities), so that the figure depends only
    /// on what was learned and a restored state reports the same one.
    /// Memory budgets are enforced on it.
    fn state_bytes(&self) -> usize;

    /// Tells the detector the time of the points that follow, in
    /// milliseconds since the Unix epoch (UTC), for detectors with a
    /// calendar context; the others ignore it. The time is part of the
    /// state that a checkpoint keeps.
    fn observe_time(&mut self, epoch_ms: i64) {
        let _ = epoch_ms;
    }
}

/// Why an online detector could not be built or restored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OnlineError {
    /// A parameter is out of range.
    #[error("invalid parameter: {name} {requirement}, got {value}")]
    Param {
        /// The parameter's name as the user spells it (`n_trees`).
        name: &'static str,
        /// What is allowed, phrased to follow the name (`must be at least 1`).
        requirement: String,
        /// The rejected value, formatted.
        value: String,
    },
    /// A deserialized state breaks an invariant of the detector.
    #[error("corrupt online detector state: {0}")]
    CorruptState(String),
}

impl OnlineError {
    pub(crate) fn param(
        name: &'static str,
        requirement: impl Into<String>,
        value: impl std::fmt::Display,
    ) -> OnlineError {
        OnlineError::Param {
            name,
            requirement: requirement.into(),
            value: value.to_string(),
        }
    }

    fn corrupt(reason: impl Into<String>) -> OnlineError {
        OnlineError::CorruptState(reason.into())
    }
}

/// The parameters of any online detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineParams {
    /// See [`HalfSpaceTrees`].
    HalfSpaceTrees(HalfSpaceTreesParams),
    /// See [`RandomCutForest`].
    RandomCutForest(RandomCutForestParams),
    /// See [`ChangePoint`].
    ChangePoint(ChangePointParams),
    /// See [`SeasonalProfile`].
    Seasonal(SeasonalParams),
}

impl OnlineParams {
    /// Checks every parameter that does not depend on the data; the first
    /// bad one is reported.
    pub fn validate(&self) -> Result<(), OnlineError> {
        match self {
            OnlineParams::HalfSpaceTrees(params) => params.validate(),
            OnlineParams::RandomCutForest(params) => params.validate(),
            OnlineParams::ChangePoint(params) => params.validate(),
            OnlineParams::Seasonal(params) => params.validate(),
        }
    }

    /// Whether the detector draws random numbers, so that its `seed`
    /// parameter matters; the others are deterministic functions of the
    /// stream.
    pub fn is_randomised(&self) -> bool {
        matches!(
            self,
            OnlineParams::HalfSpaceTrees(_) | OnlineParams::RandomCutForest(_)
        )
    }

    /// The name the built detector reports.
    pub fn name(&self) -> &'static str {
        match self {
            OnlineParams::HalfSpaceTrees(_) => hst::NAME,
            OnlineParams::RandomCutForest(_) => rcf::NAME,
            OnlineParams::ChangePoint(_) => changepoint::NAME,
            OnlineParams::Seasonal(_) => seasonal::NAME,
        }
    }

    /// Sets parameters by name from text, as given on a command line
    /// (`n_trees=100`, `time_decay=0.001`): each value is read as JSON, or
    /// as a plain string when it is not JSON. Unknown names and values of
    /// the wrong type are errors naming the parameter; the result is
    /// validated.
    pub fn with_settings(&self, settings: &[(String, String)]) -> Result<Self, OnlineError> {
        let updated =
            crate::detector::set_named_fields(self, self.name(), settings).map_err(|error| {
                OnlineError::Param {
                    name: error.name,
                    requirement: error.requirement,
                    value: error.value,
                }
            })?;
        updated.validate()?;
        Ok(updated)
    }
}

/// The names `oddity stream --detector` accepts, with their defaults.
pub fn online_detector_by_name(name: &str) -> Option<OnlineParams> {
    match name {
        "rcf" | "random_cut_forest" => Some(OnlineParams::RandomCutForest(
            RandomCutForestParams::default(),
        )),
        "hst" | "half_space_trees" => {
            Some(OnlineParams::HalfSpaceTrees(HalfSpaceTreesParams::default()))
        }
        "cusum" | "change_point" => Some(OnlineParams::ChangePoint(ChangePointParams::default())),
        "seasonal" => Some(OnlineParams::Seasonal(SeasonalParams::default())),
        _ => None,
    }
}

/// Every name [`online_detector_by_name`] knows.
pub const ONLINE_DETECTOR_NAMES: &[&str] = &["rcf", "hst", "cusum", "seasonal"];

/// Any online detector, for code that chooses one at run time.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineModel {
    /// See [`HalfSpaceTrees`].
    HalfSpaceTrees(HalfSpaceTrees),
    /// See [`RandomCutForest`].
    RandomCutForest(RandomCutForest),
    /// See [`ChangePoint`].
    ChangePoint(ChangePoint),
    /// See [`SeasonalProfile`].
    Seasonal(SeasonalProfile),
}

impl OnlineModel {
    /// An empty detector for raw points of `n_features` values.
    pub fn new(params: &OnlineParams, n_features: usize) -> Result<OnlineModel, OnlineError> {
        Ok(match params {
            OnlineParams::HalfSpaceTrees(params) => {
                OnlineModel::HalfSpaceTrees(HalfSpaceTrees::new(params, n_features)?)
            }
            OnlineParams::RandomCutForest(params) => {
                OnlineModel::RandomCutForest(RandomCutForest::new(params, n_features)?)
            }
            OnlineParams::ChangePoint(params) => {
                OnlineModel::ChangePoint(ChangePoint::new(params, n_features)?)
            }
            OnlineParams::Seasonal(params) => {
                OnlineModel::Seasonal(SeasonalProfile::new(params, n_features)?)
            }
        })
    }

    /// Checks the invariants that indexing relies on; call it on a state
    /// read from outside (a model file) before using it, so that a crafted
    /// or damaged state is an error rather than a panic or an endless loop.
    pub fn check_state(&self) -> Result<(), OnlineError> {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.check_state(),
            OnlineModel::RandomCutForest(model) => model.check_state(),
            OnlineModel::ChangePoint(model) => model.check_state(),
            OnlineModel::Seasonal(model) => model.check_state(),
        }
    }

    /// The parameters the detector was built with.
    pub fn params(&self) -> OnlineParams {
        match self {
            OnlineModel::HalfSpaceTrees(model) => {
                OnlineParams::HalfSpaceTrees(model.params().clone())
            }
            OnlineModel::RandomCutForest(model) => {
                OnlineParams::RandomCutForest(model.params().clone())
            }
            OnlineModel::ChangePoint(model) => OnlineParams::ChangePoint(model.params().clone()),
            OnlineModel::Seasonal(model) => OnlineParams::Seasonal(model.params().clone()),
        }
    }
}

impl OnlineDetector for OnlineModel {
    fn name(&self) -> &'static str {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.name(),
            OnlineModel::RandomCutForest(model) => model.name(),
            OnlineModel::ChangePoint(model) => model.name(),
            OnlineModel::Seasonal(model) => model.name(),
        }
    }

    fn state_bytes(&self) -> usize {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.state_bytes(),
            OnlineModel::RandomCutForest(model) => model.state_bytes(),
            OnlineModel::ChangePoint(model) => model.state_bytes(),
            OnlineModel::Seasonal(model) => model.state_bytes(),
        }
    }

    fn n_features(&self) -> usize {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.n_features(),
            OnlineModel::RandomCutForest(model) => model.n_features(),
            OnlineModel::ChangePoint(model) => model.n_features(),
            OnlineModel::Seasonal(model) => model.n_features(),
        }
    }

    fn score_one(&self, point: &[f64]) -> f64 {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.score_one(point),
            OnlineModel::RandomCutForest(model) => model.score_one(point),
            OnlineModel::ChangePoint(model) => model.score_one(point),
            OnlineModel::Seasonal(model) => model.score_one(point),
        }
    }

    fn learn_one(&mut self, point: &[f64]) {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.learn_one(point),
            OnlineModel::RandomCutForest(model) => model.learn_one(point),
            OnlineModel::ChangePoint(model) => model.learn_one(point),
            OnlineModel::Seasonal(model) => model.learn_one(point),
        }
    }

    fn score_learn_one(&mut self, point: &[f64]) -> f64 {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.score_learn_one(point),
            OnlineModel::RandomCutForest(model) => model.score_learn_one(point),
            OnlineModel::ChangePoint(model) => model.score_learn_one(point),
            OnlineModel::Seasonal(model) => model.score_learn_one(point),
        }
    }

    fn attribute_one(&self, point: &[f64]) -> Vec<f64> {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.attribute_one(point),
            OnlineModel::RandomCutForest(model) => model.attribute_one(point),
            OnlineModel::ChangePoint(model) => model.attribute_one(point),
            OnlineModel::Seasonal(model) => model.attribute_one(point),
        }
    }

    fn n_seen(&self) -> u64 {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.n_seen(),
            OnlineModel::RandomCutForest(model) => model.n_seen(),
            OnlineModel::ChangePoint(model) => model.n_seen(),
            OnlineModel::Seasonal(model) => model.n_seen(),
        }
    }

    fn observe_time(&mut self, epoch_ms: i64) {
        match self {
            OnlineModel::HalfSpaceTrees(model) => model.observe_time(epoch_ms),
            OnlineModel::RandomCutForest(model) => model.observe_time(epoch_ms),
            OnlineModel::ChangePoint(model) => model.observe_time(epoch_ms),
            OnlineModel::Seasonal(model) => model.observe_time(epoch_ms),
        }
    }
}

/// Whether `point` has `n_features` values, all finite.
fn is_valid_point(point: &[f64], n_features: usize) -> bool {
    point.len() == n_features && point.iter().all(|value| value.is_finite())
}

/// Scales non-negative weights to shares summing to 1; all zero when their
/// total is not a positive finite number.
fn normalise_shares(mut weights: Vec<f64>) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    if total > 0.0 && total.is_finite() {
        for weight in &mut weights {
            *weight /= total;
        }
    } else {
        weights.fill(0.0);
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic 3-feature stream in [0, 1] with one far point.
    fn stream(n_points: usize, planted_at: usize) -> Vec<Vec<f64>> {
        let mut rng = rng::StreamRng::seed_from_u64(5);
        (0..n_points)
            .map(|index| {
                if index == planted_at {
                    vec![0.97, 0.5, 0.03]
                } else {
                    (0..3).map(|_| 0.4 + 0.2 * rng.unit()).collect()
                }
            })
            .collect()
    }

    fn all_params() -> Vec<OnlineParams> {
        vec![
            OnlineParams::HalfSpaceTrees(HalfSpaceTreesParams {
                window_size: 50,
                ..HalfSpaceTreesParams::default()
            }),
            OnlineParams::RandomCutForest(RandomCutForestParams {
                n_trees: 20,
                sample_size: 64,
                ..RandomCutForestParams::default()
            }),
            OnlineParams::RandomCutForest(RandomCutForestParams {
                n_trees: 10,
                sample_size: 32,
                shingle_size: 3,
                ..RandomCutForestParams::default()
            }),
            OnlineParams::ChangePoint(ChangePointParams::default()),
            OnlineParams::Seasonal(SeasonalParams::default()),
        ]
    }

    #[test]
    fn every_detector_flags_the_planted_point() {
        for params in all_params() {
            let mut detector = OnlineModel::new(&params, 3).expect("valid parameters");
            let scores: Vec<f64> = stream(400, 300)
                .iter()
                .map(|point| detector.score_learn_one(point))
                .collect();
            let best = (200..400).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
            assert_eq!(best, Some(300), "{}", detector.name());
            assert_eq!(detector.n_seen(), 400);
        }
    }

    #[test]
    fn restored_state_continues_bit_identically() {
        for params in all_params() {
            let points = stream(600, 450);
            let mut uninterrupted = OnlineModel::new(&params, 3).expect("valid parameters");
            let expected: Vec<u64> = points
                .iter()
                .map(|point| uninterrupted.score_learn_one(point).to_bits())
                .collect();

            let mut first = OnlineModel::new(&params, 3).expect("valid parameters");
            for point in &points[..217] {
                first.score_learn_one(point);
            }
            let bytes = postcard::to_allocvec(&first).expect("serializes");
            drop(first);
            let mut restored: OnlineModel = postcard::from_bytes(&bytes).expect("deserializes");
            restored.check_state().expect("a saved state is consistent");
            let resumed: Vec<u64> = points[217..]
                .iter()
                .map(|point| restored.score_learn_one(point).to_bits())
                .collect();

            assert_eq!(resumed, expected[217..], "{}", restored.name());
        }
    }

    #[test]
    fn fused_step_equals_score_then_learn() {
        for params in all_params() {
            let mut fused = OnlineModel::new(&params, 3).expect("valid parameters");
            let mut separate = fused.clone();
            for point in stream(300, 250) {
                let expected = separate.score_one(&point);
                separate.learn_one(&point);
                assert_eq!(fused.score_learn_one(&point).to_bits(), expected.to_bits());
            }
        }
    }

    #[test]
    fn bad_points_score_nan_and_are_not_learned() {
        for params in all_params() {
            let mut detector = OnlineModel::new(&params, 3).expect("valid parameters");
            for point in stream(200, 150) {
                detector.learn_one(&point);
            }
            let bad: [&[f64]; 5] = [
                &[],
                &[0.5, 0.5],
                &[0.5, 0.5, 0.5, 0.5],
                &[f64::NAN, 0.5, 0.5],
                &[0.5, f64::INFINITY, f64::NEG_INFINITY],
            ];
            for point in bad {
                assert!(detector.score_one(point).is_nan(), "{point:?}");
                assert!(detector.score_learn_one(point).is_nan(), "{point:?}");
                detector.learn_one(point);
                assert!(
                    detector
                        .attribute_one(point)
                        .iter()
                        .all(|&share| share == 0.0)
                );
            }
            assert_eq!(detector.n_seen(), 200, "{}", detector.name());
            detector
                .check_state()
                .expect("bad points leave the state intact");
        }
    }

    #[test]
    fn extreme_finite_values_do_not_panic() {
        for params in all_params() {
            let mut detector = OnlineModel::new(&params, 3).expect("valid parameters");
            for step in 0..300 {
                let value = match step % 4 {
                    0 => f64::MAX,
                    1 => -f64::MAX,
                    2 => 0.0,
                    _ => f64::MIN_POSITIVE,
                };
                let score = detector.score_learn_one(&[value, 1.0, value]);
                assert!(!score.is_nan(), "{}", detector.name());
                let _ = detector.attribute_one(&[value, -value, 0.5]);
            }
            detector.check_state().expect("state stays consistent");
        }
    }

    #[test]
    fn constant_stream_scores_and_attributes_without_panicking() {
        for params in all_params() {
            let mut detector = OnlineModel::new(&params, 3).expect("valid parameters");
            for _ in 0..300 {
                let score = detector.score_learn_one(&[0.5, 0.5, 0.5]);
                assert!(score.is_finite(), "{}", detector.name());
            }
            let shares = detector.attribute_one(&[0.5, 0.5, 0.5]);
            assert_eq!(shares.len(), 3);
            assert!(
                shares
                    .iter()
                    .all(|share| share.is_finite() && *share >= 0.0)
            );
        }
    }

    #[test]
    fn params_round_trip_through_postcard_and_json() {
        for params in all_params() {
            let bytes = postcard::to_allocvec(&params).expect("serializes");
            let back: OnlineParams = postcard::from_bytes(&bytes).expect("deserializes");
            assert_eq!(back, params);
            let json = serde_json::to_string(&params).expect("serializes");
            let back: OnlineParams = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, params);
            let model = OnlineModel::new(&params, 3).expect("valid parameters");
            assert_eq!(model.params(), params);
            assert_eq!(model.name(), params.name());
            assert_eq!(model.n_features(), 3);
        }
    }

    #[test]
    fn params_in_json_name_the_detector_and_default_missing_fields() {
        let params: OnlineParams =
            serde_json::from_str(r#"{"random_cut_forest": {"n_trees": 7}}"#).expect("parses");
        let expected = OnlineParams::RandomCutForest(RandomCutForestParams {
            n_trees: 7,
            ..RandomCutForestParams::default()
        });
        assert_eq!(params, expected);
        assert_eq!(params.name(), "random_cut_forest");
    }

    #[test]
    fn zero_features_is_rejected_with_the_parameter_name() {
        for params in all_params() {
            let error = OnlineModel::new(&params, 0).expect_err("no features");
            assert_eq!(
                error.to_string(),
                "invalid parameter: n_features must be at least 1, got 0"
            );
        }
    }
}
