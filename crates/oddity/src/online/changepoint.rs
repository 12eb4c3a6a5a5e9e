//! Change-point detection by per-feature two-sided CUSUM (Page,
//! "Continuous inspection schemes", Biometrika 1954), for shifts in the
//! level or the spread of each feature.
//!
//! # Regimes
//!
//! Each feature lives in a *regime*: the points since its last change. The
//! regime's mean and variance are learned online (Welford) over all of its
//! points. The first `warmup` points of a regime only teach the mean and
//! variance; after that each point is standardised, `z = (x - mean) / sd`,
//! against the estimates from the points before it, and feeds four CUSUM
//! statistics with allowance `k = drift`:
//!
//! - level up:   `U = max(0, U + z - k)`
//! - level down: `L = max(0, L - z - k)`
//! - spread up:   `W = max(0, W + w - k)`
//! - spread down: `N = max(0, N - w - k)`
//!
//! where `w = (√|z| - 0.8222) / 0.3492` is Hawkins' transform of the
//! standardised deviation (Hawkins, "A CUSUM for a scale parameter",
//! Journal of Quality Technology 1981): for Gaussian noise it has mean 0,
//! variance 1 and a nearly Gaussian shape, so the spread statistics are
//! measured on the same scale as the level statistics and one `k` and one
//! `h` give both the same rate of false changes. (The squared deviation
//! `z²`, centred and scaled, has the same mean and variance but a heavy
//! right tail: with the same `k` and `h` its spread-up statistic alone
//! raises a false change every 145 points of Gaussian noise, against every
//! 980 for `w`; and it can grow the spread-down statistic by at most
//! `0.71 - k` per point, so a fall in spread goes unseen.) When any of a
//! feature's statistics exceeds `reset_threshold` (`h`), the feature's
//! regime restarts: its statistics go back to zero and its mean and
//! variance are relearned over the next `warmup` points. The point that
//! crossed is not learned into the new regime, so a lone spike does not
//! skew it. Features change regime independently.
//!
//! # Score
//!
//! The score of a point is the largest statistic, over features and the
//! four directions, that the point would bring about: 0 for a point at the
//! regime's mean, above `h` for a point that completes a change. It is 0
//! until some feature has finished its first warmup. Attribution shares
//! the same per-feature statistics.
//!
//! # Sensitivity
//!
//! With the defaults (`k = 0.5`, `h = 5`) and a known regime, a level
//! shift of 3 standard deviations is caught on the 2nd or 3rd point after
//! it, one of 1 standard deviation after about 10 (Page's average run
//! lengths). Doubling the standard deviation is caught after about 10
//! points (median 8), tripling it after 5, halving it after about 24
//! (simulated). On Gaussian noise each feature raises a false change
//! about once every 280 points, in equal parts from the four statistics
//! (simulated with the regime learned as above, `warmup = 30`); `h = 6`
//! makes that once every 720. The score is continuous, so a threshold on
//! the scores (as `oddity stream` sets) decides what is worth an alert;
//! `h` only decides when a feature relearns its regime.
//!
//! FIXME: the statistics assume roughly Gaussian noise inside a regime. A
//! sparse or heavily skewed feature (counts that are mostly zero) raises
//! false changes often: repeated values near the mean push the spread-down
//! statistic up, rare large values the level-up one. Standardising `√|z|`
//! by its own mean and variance learned over the regime, instead of the
//! Gaussian constants, would fix the spread statistics.
//!
//! Costs: `O(n_features)` time per point and 56 bytes of state per feature,
//! whatever the length of the stream.
//!
//! ```
//! use oddity::online::{ChangePoint, ChangePointParams, OnlineDetector};
//!
//! let mut detector = ChangePoint::new(&ChangePointParams::default(), 1)?;
//! for step in 0..200 {
//!     let wiggle = [0.3, -0.2, 0.1, -0.4, 0.2][step % 5];
//!     detector.learn_one(&[10.0 + wiggle]);
//! }
//! assert!(detector.score_one(&[10.1]) < 1.0);
//! assert!(detector.score_one(&[14.0]) > 5.0);
//! # Ok::<(), oddity::online::OnlineError>(())
//! ```

use serde::{Deserialize, Serialize};

use super::{OnlineDetector, OnlineError, is_valid_point, normalise_shares};

pub(super) const NAME: &str = "change_point";

/// The smallest warmup: a variance needs two points.
const MIN_WARMUP: usize = 2;

/// The standard deviation of a regime is at least this share of its mean's
/// magnitude, so a constant feature standardises to a large but finite
/// deviation when it moves.
const MIN_RELATIVE_STD: f64 = 1e-9;

/// The standard deviation is never below this, for a constant zero feature.
const MIN_STD: f64 = 1e-150;

/// Standardised deviations are clamped to this magnitude, so that a point
/// millions of standard deviations away still gives finite statistics
/// (its square stays far from overflow).
const MAX_DEVIATION: f64 = 1e6;

/// The mean of `√|z|` for a standard Gaussian `z`: `2^¼ Γ(¾) / √π`.
const SQRT_ABS_MEAN: f64 = 0.822_178_958_662_458_8;

/// The standard deviation of `√|z|` for a standard Gaussian `z`:
/// `√(√(2/π) - SQRT_ABS_MEAN²)`.
const SQRT_ABS_STD: f64 = 0.349_150_856_701_770_5;

/// Parameters of [`ChangePoint`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangePointParams {
    /// The allowance `k`, in standard deviations: each statistic drops by
    /// `k` per point, so only shifts larger than about `2k` accumulate.
    /// Default 0.5 (tuned for a shift of one standard deviation).
    pub drift: f64,
    /// The decision interval `h`, in standard deviations: a statistic above
    /// it ends the feature's regime. Default 5.
    pub reset_threshold: f64,
    /// Points a new regime learns from before its statistics run; at
    /// least 2. Default 30.
    pub warmup: usize,
}

impl Default for ChangePointParams {
    fn default() -> Self {
        ChangePointParams {
            drift: 0.5,
            reset_threshold: 5.0,
            warmup: 30,
        }
    }
}

impl ChangePointParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), OnlineError> {
        if !(self.drift.is_finite() && self.drift >= 0.0) {
            return Err(OnlineError::param(
                "drift",
                "must be finite and at least 0",
                self.drift,
            ));
        }
        if !(self.reset_threshold.is_finite() && self.reset_threshold > 0.0) {
            return Err(OnlineError::param(
                "reset_threshold",
                "must be finite and above 0",
                self.reset_threshold,
            ));
        }
        if self.warmup < MIN_WARMUP {
            let requirement = format!("must be at least {MIN_WARMUP}");
            return Err(OnlineError::param("warmup", requirement, self.warmup));
        }
        Ok(())
    }
}

/// Per-feature CUSUM change-point detector; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangePoint {
    params: ChangePointParams,
    features: Vec<Regime>,
    n_seen: u64,
    /// Regimes restarted so far, over all features.
    n_changes: u64,
}

/// One feature's current regime: Welford moments and the four CUSUMs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Regime {
    n_points: u64,
    mean: f64,
    /// Sum of squared deviations from `mean`.
    m2: f64,
    level_up: f64,
    level_down: f64,
    spread_up: f64,
    spread_down: f64,
}

/// What one point does to a regime's statistics.
struct Step {
    level_up: f64,
    level_down: f64,
    spread_up: f64,
    spread_down: f64,
}

impl Step {
    fn largest(&self) -> f64 {
        self.level_up
            .max(self.level_down)
            .max(self.spread_up)
            .max(self.spread_down)
    }
}

impl Regime {
    /// The statistics after `value`, or `None` while the regime warms up.
    fn step(&self, value: f64, params: &ChangePointParams) -> Option<Step> {
        if self.n_points < params.warmup as u64 {
            return None;
        }
        let variance = self.m2 / (self.n_points - 1) as f64;
        let std = variance
            .sqrt()
            .max(MIN_RELATIVE_STD * self.mean.abs())
            .max(MIN_STD);
        // `value - mean` may overflow to ±inf; the clamp brings it back.
        let deviation = ((value - self.mean) / std).clamp(-MAX_DEVIATION, MAX_DEVIATION);
        let spread = (deviation.abs().sqrt() - SQRT_ABS_MEAN) / SQRT_ABS_STD;
        let k = params.drift;
        Some(Step {
            level_up: (self.level_up + deviation - k).max(0.0),
            level_down: (self.level_down - deviation - k).max(0.0),
            spread_up: (self.spread_up + spread - k).max(0.0),
            // A regime without spread cannot lose any: a constant feature
            // would otherwise raise a change every few dozen points.
            spread_down: if self.m2 > 0.0 {
                (self.spread_down - spread - k).max(0.0)
            } else {
                0.0
            },
        })
    }

    /// Adds `value` to the regime's mean and variance; a value that would
    /// overflow them starts a new regime of its own instead.
    fn learn_moments(&mut self, value: f64) {
        let n_points = self.n_points + 1;
        let delta = value - self.mean;
        let mean = self.mean + delta / n_points as f64;
        let m2 = self.m2 + delta * (value - mean);
        if mean.is_finite() && m2.is_finite() {
            self.n_points = n_points;
            self.mean = mean;
            self.m2 = m2;
        } else {
            *self = Regime {
                n_points: 1,
                mean: value,
                ..Regime::default()
            };
        }
    }

    fn check(&self, params: &ChangePointParams) -> Result<(), &'static str> {
        let statistics = [
            self.level_up,
            self.level_down,
            self.spread_up,
            self.spread_down,
        ];
        if !(self.mean.is_finite() && self.m2.is_finite() && self.m2 >= 0.0) {
            return Err("a regime's mean or variance is not finite");
        }
        if statistics
            .iter()
            .any(|&statistic| !(statistic >= 0.0 && statistic <= params.reset_threshold))
        {
            return Err("a CUSUM statistic lies outside [0, reset_threshold]");
        }
        if self.n_points < params.warmup as u64 && statistics.iter().any(|&s| s != 0.0) {
            return Err("a regime in warmup has non-zero statistics");
        }
        Ok(())
    }
}

impl ChangePoint {
    /// An empty detector for points of `n_features` values.
    pub fn new(params: &ChangePointParams, n_features: usize) -> Result<ChangePoint, OnlineError> {
        params.validate()?;
        if n_features == 0 {
            return Err(OnlineError::param(
                "n_features",
                "must be at least 1",
                n_features,
            ));
        }
        Ok(ChangePoint {
            params: params.clone(),
            features: vec![Regime::default(); n_features],
            n_seen: 0,
            n_changes: 0,
        })
    }

    /// The parameters the detector was built with.
    pub fn params(&self) -> &ChangePointParams {
        &self.params
    }

    /// Regimes restarted so far, summed over features.
    pub fn n_changes(&self) -> u64 {
        self.n_changes
    }

    /// Checks the invariants of a state read from outside.
    pub fn check_state(&self) -> Result<(), OnlineError> {
        self.params.validate()?;
        if self.features.is_empty() {
            return Err(OnlineError::corrupt("the detector has no features"));
        }
        for regime in &self.features {
            regime.check(&self.params).map_err(OnlineError::corrupt)?;
        }
        Ok(())
    }

    /// Each feature's largest statistic after `point` (0 while warming up).
    fn feature_scores(&self, point: &[f64]) -> Vec<f64> {
        self.features
            .iter()
            .zip(point)
            .map(|(regime, &value)| {
                regime
                    .step(value, &self.params)
                    .map_or(0.0, |step| step.largest())
            })
            .collect()
    }

    /// Learns a valid point and returns its score.
    fn learn_valid(&mut self, point: &[f64]) -> f64 {
        let mut score: f64 = 0.0;
        for (regime, &value) in self.features.iter_mut().zip(point) {
            match regime.step(value, &self.params) {
                Some(step) if step.largest() > self.params.reset_threshold => {
                    score = score.max(step.largest());
                    *regime = Regime::default();
                    self.n_changes += 1;
                }
                Some(step) => {
                    score = score.max(step.largest());
                    regime.level_up = step.level_up;
                    regime.level_down = step.level_down;
                    regime.spread_up = step.spread_up;
                    regime.spread_down = step.spread_down;
                    regime.learn_moments(value);
                }
                None => regime.learn_moments(value),
            }
        }
        self.n_seen += 1;
        score
    }
}

impl OnlineDetector for ChangePoint {
    fn name(&self) -> &'static str {
        NAME
    }

    fn state_bytes(&self) -> usize {
        size_of::<Self>() + self.features.len() * size_of::<Regime>()
    }

    fn n_features(&self) -> usize {
        self.features.len()
    }

    fn score_one(&self, point: &[f64]) -> f64 {
        if !is_valid_point(point, self.features.len()) {
            return f64::NAN;
        }
        self.feature_scores(point).into_iter().fold(0.0, f64::max)
    }

    fn learn_one(&mut self, point: &[f64]) {
        if is_valid_point(point, self.features.len()) {
            self.learn_valid(point);
        }
    }

    fn score_learn_one(&mut self, point: &[f64]) -> f64 {
        if !is_valid_point(point, self.features.len()) {
            return f64::NAN;
        }
        self.learn_valid(point)
    }

    fn attribute_one(&self, point: &[f64]) -> Vec<f64> {
        if !is_valid_point(point, self.features.len()) {
            return vec![0.0; self.features.len()];
        }
        normalise_shares(self.feature_scores(point))
    }

    fn n_seen(&self) -> u64 {
        self.n_seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::online::rng::StreamRng;

    /// Standard Gaussian draws (Box-Muller), seeded.
    fn gaussian(rng: &mut StreamRng) -> f64 {
        let radius = (-2.0 * rng.open_unit().ln()).sqrt();
        radius * (std::f64::consts::TAU * rng.unit()).cos()
    }

    /// `n_points` of noise with standard deviation `std` around `level`.
    fn segment(rng: &mut StreamRng, n_points: usize, level: f64, std: f64) -> Vec<f64> {
        (0..n_points).map(|_| level + std * gaussian(rng)).collect()
    }

    /// Prequential scores of a one-feature series.
    fn scores_of(detector: &mut ChangePoint, series: &[f64]) -> Vec<f64> {
        series
            .iter()
            .map(|&value| detector.score_learn_one(&[value]))
            .collect()
    }

    /// The first index at or after `from` whose score ends a regime.
    fn first_change(scores: &[f64], from: usize, threshold: f64) -> Option<usize> {
        (from..scores.len()).find(|&index| scores[index] > threshold)
    }

    fn params() -> ChangePointParams {
        ChangePointParams::default()
    }

    /// A larger `h`, for tests where a false change on the noise (about
    /// one per 280 points at the default) would get in the way of what
    /// they check.
    fn calm_params() -> ChangePointParams {
        ChangePointParams {
            reset_threshold: 8.0,
            ..ChangePointParams::default()
        }
    }

    /// The median of `scores`.
    fn median(scores: &[f64]) -> f64 {
        let mut sorted = scores.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    #[test]
    fn statistics_follow_the_documented_recursion() {
        let params = ChangePointParams {
            warmup: 2,
            ..params()
        };
        let mut detector = ChangePoint::new(&params, 1).expect("valid parameters");
        assert_eq!(detector.score_learn_one(&[0.0]), 0.0);
        assert_eq!(detector.score_learn_one(&[2.0]), 0.0);

        // Mean 1, sample variance 2: z = 3 / √2 = 2.1213, and Hawkins'
        // w = (√z - 0.8222) / 0.3492 = 1.8167.
        let z = 3.0 / 2f64.sqrt();
        let w = (z.sqrt() - 0.822_178_958_662_458_8) / 0.349_150_856_701_770_5;
        let score = detector.score_learn_one(&[4.0]);

        approx::assert_relative_eq!(score, z - 0.5, max_relative = 1e-12);
        let regime = detector.features[0];
        approx::assert_relative_eq!(regime.level_up, z - 0.5, max_relative = 1e-12);
        approx::assert_relative_eq!(regime.spread_up, w - 0.5, max_relative = 1e-12);
        assert_eq!(regime.level_down, 0.0);
        assert_eq!(regime.spread_down, 0.0);
        approx::assert_relative_eq!(regime.mean, 2.0, max_relative = 1e-12);
    }

    #[test]
    fn scores_are_zero_during_the_first_warmup() {
        let mut detector = ChangePoint::new(&params(), 2).expect("valid parameters");
        let mut rng = StreamRng::seed_from_u64(1);
        for _ in 0..30 {
            let point = [gaussian(&mut rng), 100.0 * gaussian(&mut rng)];
            assert_eq!(detector.score_learn_one(&point), 0.0);
        }
        assert!(detector.score_one(&[0.0, 0.0]) < 1.0);
        assert!(detector.score_one(&[0.0, 1e4]) > 5.0);
    }

    #[test]
    fn level_shift_is_caught_within_a_few_points() {
        let mut rng = StreamRng::seed_from_u64(11);
        let mut series = segment(&mut rng, 300, 10.0, 1.0);
        series.extend(segment(&mut rng, 100, 13.0, 1.0));
        let mut detector = ChangePoint::new(&params(), 1).expect("valid parameters");

        let scores = scores_of(&mut detector, &series);

        // On the noise the largest of the four statistics hovers about 1.
        assert!(median(&scores[30..300]) < 1.5);
        assert_eq!(
            first_change(&scores, 280, 5.0),
            first_change(&scores, 300, 5.0)
        );
        let caught = first_change(&scores, 300, 5.0).expect("the shift is caught");
        assert!(caught <= 303, "caught at {caught}");
        assert!(scores[caught] > 5.0 * median(&scores[30..300]));
    }

    #[test]
    fn variance_shift_is_caught_within_a_few_points() {
        let mut rng = StreamRng::seed_from_u64(12);
        let mut series = segment(&mut rng, 300, -4.0, 0.5);
        series.extend(segment(&mut rng, 100, -4.0, 1.5));
        let mut detector = ChangePoint::new(&params(), 1).expect("valid parameters");

        let scores = scores_of(&mut detector, &series);

        assert!(median(&scores[30..300]) < 1.5);
        assert_eq!(
            first_change(&scores, 280, 5.0),
            first_change(&scores, 300, 5.0)
        );
        let caught = first_change(&scores, 300, 5.0).expect("the shift is caught");
        assert!(caught <= 310, "caught at {caught}");
        // The new regime has learned the wider spread.
        let regime = detector.features[0];
        let std = (regime.m2 / (regime.n_points - 1) as f64).sqrt();
        assert!(regime.n_points < 100 && std > 1.0, "{regime:?}");
    }

    #[test]
    fn regime_restarts_so_a_second_change_is_caught() {
        let mut rng = StreamRng::seed_from_u64(13);
        let mut series = segment(&mut rng, 200, 0.0, 1.0);
        series.extend(segment(&mut rng, 200, 6.0, 1.0));
        series.extend(segment(&mut rng, 200, 2.0, 1.0));
        let mut detector = ChangePoint::new(&calm_params(), 1).expect("valid parameters");

        let scores = scores_of(&mut detector, &series);

        assert_eq!(
            first_change(&scores, 0, 8.0),
            first_change(&scores, 200, 8.0)
        );
        let first = first_change(&scores, 200, 8.0).expect("first change");
        assert!(first <= 203, "first change at {first}");
        // The new regime is learned: the new level is ordinary again.
        assert!(median(&scores[first + 31..400]) < 1.5);
        assert_eq!(
            first_change(&scores, first + 1, 8.0),
            first_change(&scores, 400, 8.0)
        );
        let second = first_change(&scores, 400, 8.0).expect("second change");
        assert!(second <= 403, "second change at {second}");
        approx::assert_abs_diff_eq!(detector.features[0].mean, 2.0, epsilon = 0.5);
    }

    #[test]
    fn planted_feature_gets_the_largest_share() {
        for planted in 0..3 {
            let mut rng = StreamRng::seed_from_u64(14);
            let mut detector = ChangePoint::new(&calm_params(), 3).expect("valid parameters");
            for _ in 0..200 {
                let point: Vec<f64> = (0..3).map(|_| gaussian(&mut rng)).collect();
                detector.learn_one(&point);
            }
            assert!(detector.features.iter().all(|regime| regime.n_points > 30));
            // Every statistic is below h = 8 after learning; 12 standard
            // deviations lift the planted feature's level statistic above
            // 11.5, while an ordinary value adds about 1 at most.
            let mut probe = vec![0.3, -0.4, 0.6];
            probe[planted] = 12.0;

            let shares = detector.attribute_one(&probe);

            let top = (0..3).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
            assert_eq!(top, Some(planted), "{shares:?}");
            assert!(shares[planted] > 0.5, "{shares:?}");
            approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
        }
    }

    #[test]
    fn only_the_changed_feature_restarts() {
        let mut rng = StreamRng::seed_from_u64(15);
        let mut detector = ChangePoint::new(&calm_params(), 2).expect("valid parameters");
        for step in 0..300 {
            let shift = if step >= 200 { 8.0 } else { 0.0 };
            detector.learn_one(&[gaussian(&mut rng), shift + gaussian(&mut rng)]);
        }
        // Feature 1 restarted within a few points of the shift (and learned
        // every point since); feature 0 did not restart with it.
        let [steady, shifted] = [detector.features[0], detector.features[1]];
        assert!((95..100).contains(&shifted.n_points), "{shifted:?}");
        assert!(steady.n_points > 110, "{steady:?}");
    }

    #[test]
    fn constant_feature_scores_zero_until_it_moves() {
        let mut detector = ChangePoint::new(&params(), 1).expect("valid parameters");
        for _ in 0..500 {
            assert_eq!(detector.score_learn_one(&[7.0]), 0.0);
        }
        assert_eq!(detector.n_changes(), 0);
        let moved = detector.score_one(&[7.5]);
        assert!(moved > 5.0 && moved.is_finite(), "{moved}");
    }

    #[test]
    fn huge_values_keep_the_state_finite() {
        let mut detector = ChangePoint::new(&params(), 1).expect("valid parameters");
        for step in 0..200 {
            let value = if step % 2 == 0 { f64::MAX } else { -f64::MAX };
            let score = detector.score_learn_one(&[value]);
            assert!(score.is_finite(), "step {step}: {score}");
        }
        detector.check_state().expect("state stays consistent");
    }

    #[test]
    fn restored_state_continues_bit_identically() {
        let mut rng = StreamRng::seed_from_u64(16);
        let mut series = segment(&mut rng, 150, 0.0, 1.0);
        series.extend(segment(&mut rng, 150, 5.0, 3.0));
        let points: Vec<[f64; 2]> = series
            .iter()
            .map(|&value| [value, gaussian(&mut rng)])
            .collect();
        let mut uninterrupted = ChangePoint::new(&params(), 2).expect("valid parameters");
        let expected: Vec<u64> = points
            .iter()
            .map(|point| uninterrupted.score_learn_one(point).to_bits())
            .collect();

        for cut in [10, 155, 170] {
            let mut first = ChangePoint::new(&params(), 2).expect("valid parameters");
            for point in &points[..cut] {
                first.learn_one(point);
            }
            let bytes = postcard::to_allocvec(&first).expect("serializes");
            let mut restored: ChangePoint = postcard::from_bytes(&bytes).expect("deserializes");
            restored.check_state().expect("a saved state is consistent");
            let resumed: Vec<u64> = points[cut..]
                .iter()
                .map(|point| restored.score_learn_one(point).to_bits())
                .collect();
            assert_eq!(resumed, expected[cut..], "cut at {cut}");
        }
        assert!(uninterrupted.n_changes() >= 1);
    }

    #[test]
    fn invalid_parameters_name_the_parameter_and_value() {
        let cases = [
            (
                ChangePointParams {
                    drift: -0.1,
                    ..params()
                },
                "invalid parameter: drift must be finite and at least 0, got -0.1",
            ),
            (
                ChangePointParams {
                    drift: f64::NAN,
                    ..params()
                },
                "invalid parameter: drift must be finite and at least 0, got NaN",
            ),
            (
                ChangePointParams {
                    reset_threshold: 0.0,
                    ..params()
                },
                "invalid parameter: reset_threshold must be finite and above 0, got 0",
            ),
            (
                ChangePointParams {
                    reset_threshold: f64::INFINITY,
                    ..params()
                },
                "invalid parameter: reset_threshold must be finite and above 0, got inf",
            ),
            (
                ChangePointParams {
                    warmup: 1,
                    ..params()
                },
                "invalid parameter: warmup must be at least 2, got 1",
            ),
        ];
        for (params, message) in cases {
            let error = ChangePoint::new(&params, 2).expect_err("invalid");
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn corrupt_state_is_reported_not_used() {
        let mut detector = ChangePoint::new(&params(), 2).expect("valid parameters");
        for step in 0..50 {
            detector.learn_one(&[step as f64, 1.0]);
        }
        let mut broken = detector.clone();
        broken.features[1].level_up = 99.0;
        assert!(matches!(
            broken.check_state(),
            Err(OnlineError::CorruptState(_))
        ));
        let mut broken = detector.clone();
        broken.features[0].m2 = f64::NAN;
        assert!(broken.check_state().is_err());
        let mut broken = detector;
        broken.features.clear();
        assert!(broken.check_state().is_err());
    }

    #[test]
    fn false_changes_on_gaussian_noise_are_rare() {
        let mut rng = StreamRng::seed_from_u64(17);
        let series = segment(&mut rng, 20_000, 0.0, 1.0);
        let mut detector = ChangePoint::new(&params(), 1).expect("valid parameters");
        scores_of(&mut detector, &series);
        // About one per 280 points is expected: 71 in 20000.
        let n_changes = detector.n_changes();
        assert!((40..110).contains(&n_changes), "{n_changes}");
    }
}
