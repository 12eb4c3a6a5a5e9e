//! Running oddity's streaming detectors over NAB's corpus.
//!
//! NAB hands each detector one univariate series at a time, point by
//! point, together with the series' minimum and maximum (its `inputMin` and
//! `inputMax`), and expects a score in `[0, 1]` per point before the
//! detector learns from it. [`NabDetectorParams`] is oddity's answer:
//!
//! - a random cut forest on points of the value, scaled by that range, and
//!   the time of day as a point on a circle, so that a value usual at noon
//!   but not at midnight is a (contextual) anomaly;
//! - its raw score turned into an anomaly likelihood
//!   ([`crate::online::AnomalyLikelihood`]) over a moving average of 20
//!   scores, and spread on a log scale ([`crate::online::log_likelihood`]);
//! - a value far outside everything seen so far scored 1 outright (a
//!   "spatial" anomaly, which the likelihood's averaging would delay).
//!
//! One configuration serves the whole corpus; docs/benchmarks.md says how it
//! was chosen and what it scores.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::SeriesResult;
use crate::online::{
    AnomalyLikelihood, AnomalyLikelihoodParams, OnlineDetector, OnlineError, OnlineModel,
    OnlineParams, RandomCutForestParams, log_likelihood,
};

/// One series of NAB's corpus.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesData {
    /// Milliseconds since the Unix epoch, one per point.
    pub timestamps: Vec<i64>,
    /// The series' values, one per point.
    pub values: Vec<f64>,
}

/// How oddity scores a NAB series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NabDetectorParams {
    /// The online detector fed each point; by default a random cut forest
    /// of 50 trees of 256 points, without shingling.
    pub detector: OnlineParams,
    /// Turns raw scores into likelihoods; `None` reports the raw score,
    /// squashed into `[0, 1)` as `s / (1 + s)`.
    pub likelihood: Option<AnomalyLikelihoodParams>,
    /// A value more than this share of the seen range beyond the seen
    /// minimum or maximum scores 1; `None` turns the rule off. Default 0.05.
    pub spatial_tolerance: Option<f64>,
    /// What each point of the detector holds besides the scaled value;
    /// default the time of day.
    pub context: Vec<NabContext>,
    /// The size of the context features relative to the value's range (a
    /// circle of this diameter); default 1, so that a forest cuts context
    /// and value about equally often.
    pub context_scale: f64,
}

/// A feature fed to the detectors beside the scaled value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NabContext {
    /// The change from the previous value, scaled as the value is (one
    /// feature).
    Change,
    /// The time of day (UTC), as a point on a circle (two features).
    TimeOfDay,
    /// The time of the week (UTC), as a point on a circle (two features).
    DayOfWeek,
}

impl NabContext {
    fn n_features(self) -> usize {
        match self {
            NabContext::Change => 1,
            NabContext::TimeOfDay | NabContext::DayOfWeek => 2,
        }
    }
}

impl Default for NabDetectorParams {
    fn default() -> Self {
        NabDetectorParams {
            detector: OnlineParams::RandomCutForest(RandomCutForestParams::default()),
            likelihood: Some(AnomalyLikelihoodParams {
                averaging_window: 20,
                ..AnomalyLikelihoodParams::default()
            }),
            spatial_tolerance: Some(0.05),
            context: vec![NabContext::TimeOfDay],
            context_scale: 1.0,
        }
    }
}

impl NabDetectorParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), OnlineError> {
        self.detector.validate()?;
        if let Some(likelihood) = &self.likelihood {
            likelihood.validate()?;
        }
        if let Some(tolerance) = self.spatial_tolerance
            && !(tolerance.is_finite() && tolerance >= 0.0)
        {
            return Err(OnlineError::param(
                "spatial_tolerance",
                "must be finite and at least 0",
                tolerance,
            ));
        }
        if !(self.context_scale.is_finite() && self.context_scale > 0.0) {
            return Err(OnlineError::param(
                "context_scale",
                "must be finite and above 0",
                self.context_scale,
            ));
        }
        Ok(())
    }

    /// Scores one series prequentially: each point is scored, then learned.
    /// Scores are in `[0, 1]`; non-finite values score 0 and are not
    /// learned. `timestamps` are milliseconds since the Unix epoch, one per
    /// value.
    pub fn score_series(
        &self,
        timestamps: &[i64],
        values: &[f64],
    ) -> Result<Vec<f64>, OnlineError> {
        self.validate()?;
        if timestamps.len() != values.len() {
            return Err(OnlineError::param(
                "timestamps",
                format!("must be one per value ({})", values.len()),
                timestamps.len(),
            ));
        }
        let n_features = 1 + self.context.iter().map(|c| c.n_features()).sum::<usize>();
        let mut detector = OnlineModel::new(&self.detector, n_features)?;
        let mut likelihood = self
            .likelihood
            .clone()
            .map(AnomalyLikelihood::new)
            .transpose()?;
        // NAB gives every detector the series' range; scaling by it lets
        // range-bound detectors (half-space trees) work unchanged.
        let (low, high) = values
            .iter()
            .filter(|value| value.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &value| {
                (low.min(value), high.max(value))
            });
        let span = if high > low { high - low } else { 1.0 };

        let mut seen: Option<(f64, f64)> = None;
        let mut scores = Vec::with_capacity(values.len());
        let mut point = Vec::with_capacity(n_features);
        let mut previous = None;
        for (&value, &timestamp) in values.iter().zip(timestamps) {
            if !value.is_finite() {
                scores.push(0.0);
                continue;
            }
            let scaled = (value - low) / span;
            let spatial = match (self.spatial_tolerance, seen) {
                (Some(tolerance), Some((min, max))) if max > min => {
                    let margin = (max - min) * tolerance;
                    scaled > max + margin || scaled < min - margin
                }
                _ => false,
            };
            seen = Some(seen.map_or((scaled, scaled), |(min, max)| {
                (min.min(scaled), max.max(scaled))
            }));
            point.clear();
            point.push(scaled);
            for context in &self.context {
                let scale = self.context_scale;
                match context {
                    NabContext::Change => point.push(scaled - previous.unwrap_or(scaled)),
                    NabContext::TimeOfDay => point.extend(circle(timestamp, DAY_MS, scale)),
                    NabContext::DayOfWeek => point.extend(circle(timestamp, WEEK_MS, scale)),
                }
            }
            previous = Some(scaled);
            detector.observe_time(timestamp);
            let raw = detector.score_learn_one(&point);
            let raw = if raw.is_finite() { raw.max(0.0) } else { 0.0 };
            let score = match likelihood.as_mut() {
                Some(likelihood) => log_likelihood(likelihood.update(scaled, raw)),
                None => raw / (1.0 + raw),
            };
            scores.push(if spatial { 1.0 } else { score });
        }
        Ok(scores)
    }

    /// Scores every series of a corpus, series in parallel.
    pub fn score_corpus(
        &self,
        corpus: &BTreeMap<String, SeriesData>,
    ) -> Result<BTreeMap<String, SeriesResult>, OnlineError> {
        corpus
            .par_iter()
            .map(|(name, series)| {
                let scores = self.score_series(&series.timestamps, &series.values)?;
                let result = SeriesResult {
                    timestamps: series.timestamps.clone(),
                    scores,
                };
                Ok((name.clone(), result))
            })
            .collect()
    }
}

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// The phase of `timestamp` within a cycle of `period` milliseconds, as a
/// point on a circle of diameter `diameter`, so that the end of a cycle
/// lies next to its start.
fn circle(timestamp: i64, period: i64, diameter: f64) -> [f64; 2] {
    let phase = timestamp.rem_euclid(period) as f64 / period as f64;
    let angle = std::f64::consts::TAU * phase;
    [0.5 * diameter * angle.cos(), 0.5 * diameter * angle.sin()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    /// A daily cycle sampled every 15 minutes: high by day, low by night.
    fn daily_series(n_days: i64) -> (Vec<i64>, Vec<f64>) {
        let timestamps: Vec<i64> = (0..n_days * 96).map(|i| i * HOUR_MS / 4).collect();
        let values = timestamps
            .iter()
            .map(|&t| {
                let hour = (t / HOUR_MS) % 24;
                let noise = ((t / (HOUR_MS / 4)) * 7919 % 13) as f64 * 0.01;
                let level = if (8..20).contains(&hour) { 10.0 } else { 2.0 };
                level + noise
            })
            .collect();
        (timestamps, values)
    }

    #[test]
    fn a_value_beyond_the_seen_range_scores_one() {
        let (timestamps, mut values) = daily_series(10);
        values[700] = 100.0;
        let scores = NabDetectorParams::default()
            .score_series(&timestamps, &values)
            .unwrap();
        assert_eq!(scores[700], 1.0);
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
        let before: f64 = scores[400..700].iter().copied().fold(0.0, f64::max);
        assert!(before < 1.0, "{before}");
    }

    #[test]
    fn a_daytime_value_at_night_is_a_contextual_anomaly() {
        let (timestamps, mut values) = daily_series(30);
        // Three nights later, the daytime level at 02:00 for an hour: within
        // the range seen, so only the time of day makes it unusual.
        let start = 27 * 96 + 8;
        for value in &mut values[start..start + 4] {
            *value = 10.05;
        }
        let with_context = NabDetectorParams {
            spatial_tolerance: None,
            ..NabDetectorParams::default()
        };
        let without_context = NabDetectorParams {
            context: Vec::new(),
            ..with_context.clone()
        };
        let peak = |params: &NabDetectorParams| {
            let scores = params.score_series(&timestamps, &values).unwrap();
            let incident = scores[start..start + 24]
                .iter()
                .copied()
                .fold(0.0, f64::max);
            let usual = scores[20 * 96..start].iter().copied().fold(0.0, f64::max);
            (incident, usual)
        };
        let (incident, usual) = peak(&with_context);
        assert!(incident > 0.5 && incident > usual, "{incident} vs {usual}");
        let (blind, _) = peak(&without_context);
        assert!(blind < incident, "{blind} vs {incident}");
    }

    #[test]
    fn scoring_is_deterministic_and_checks_its_input() {
        let (timestamps, values) = daily_series(5);
        let params = NabDetectorParams::default();
        assert_eq!(
            params.score_series(&timestamps, &values).unwrap(),
            params.score_series(&timestamps, &values).unwrap()
        );
        let error = params.score_series(&timestamps[1..], &values).unwrap_err();
        assert!(error.to_string().contains("timestamps"), "{error}");
        let bad = NabDetectorParams {
            context_scale: 0.0,
            ..NabDetectorParams::default()
        };
        let error = bad.score_series(&timestamps, &values).unwrap_err();
        assert!(error.to_string().contains("context_scale"), "{error}");

        let mut holes = values.clone();
        holes[10] = f64::NAN;
        let scores = params.score_series(&timestamps, &holes).unwrap();
        assert_eq!(scores[10], 0.0);
    }
}
