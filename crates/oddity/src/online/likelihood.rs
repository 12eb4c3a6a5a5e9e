//! Anomaly likelihood: how surprising the recent raw scores are, judged
//! against the distribution of the scores seen so far.
//!
//! A raw detector score is on a scale that differs between series and that
//! drifts within one: a noisy series scores high all the time, a calm one
//! rarely. The anomaly likelihood of Ahmad, Lavin, Purdy and Agha
//! ("Unsupervised real-time anomaly detection for streaming data",
//! Neurocomputing 2017) removes that scale. It keeps a window of past raw
//! scores, fits a normal distribution to their short moving averages, and
//! reports `1 - tail(average of the latest scores)`: near 1 when the recent
//! scores are far above what this stream usually scores, 0.5 while it is
//! still learning. The arithmetic follows Numenta's reference (the
//! `AnomalyLikelihood` class of NuPIC, as NAB's `numenta` detector uses it):
//!
//! - the first `learning_period + estimation_samples` records report 0.5;
//! - the distribution is refitted every `reestimate_every` records on the
//!   moving averages of the last `history` raw scores, leaving out the
//!   learning period while it is still in the window, with a floor on the
//!   mean (0.03) and variance (0.0003) so that a near-constant score does
//!   not make every wiggle extreme;
//! - a stream whose *values* are near constant (variance below 1.5e-5)
//!   gets an uninformative distribution, so its likelihood stays near 0.5;
//! - two extreme likelihoods in a row are not both reported as extreme: the
//!   second is capped, so one incident gives one strong signal.
//!
//! [`log_likelihood`] spreads the values near 1 out, as NAB's detector
//! does before thresholding.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::OnlineError;

/// Tail probability at or below which a likelihood counts as extreme.
const EXTREME_TAIL: f64 = 1e-5;
/// The tail probability reported instead of a second extreme in a row.
const CAPPED_TAIL: f64 = 1e-3;
/// Floors that keep a near-constant score from making every wiggle extreme.
const MIN_MEAN: f64 = 0.03;
const MIN_VARIANCE: f64 = 0.0003;
/// Below this variance of the raw values, the stream is taken as constant.
const CONSTANT_VALUE_VARIANCE: f64 = 1.5e-5;

/// How the likelihood learns; the defaults are Numenta's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnomalyLikelihoodParams {
    /// Records whose raw scores are left out of the first fits, because
    /// the detector producing them is still learning; default 288.
    pub learning_period: usize,
    /// Records after the learning period before the first fit; default 100.
    pub estimation_samples: usize,
    /// Most recent raw scores the distribution is fitted on; default 8640.
    pub history: usize,
    /// Records between refits of the distribution; default 100.
    pub reestimate_every: usize,
    /// Raw scores averaged into the value that is judged; default 10.
    pub averaging_window: usize,
}

impl Default for AnomalyLikelihoodParams {
    fn default() -> Self {
        AnomalyLikelihoodParams {
            learning_period: 288,
            estimation_samples: 100,
            history: 8640,
            reestimate_every: 100,
            averaging_window: 10,
        }
    }
}

impl AnomalyLikelihoodParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), OnlineError> {
        for (name, value) in [
            ("history", self.history),
            ("reestimate_every", self.reestimate_every),
            ("averaging_window", self.averaging_window),
        ] {
            if value == 0 {
                return Err(OnlineError::param(name, "must be at least 1", value));
            }
        }
        if self.estimation_samples == 0 {
            return Err(OnlineError::param(
                "estimation_samples",
                "must be at least 1",
                self.estimation_samples,
            ));
        }
        Ok(())
    }
}

/// A normal distribution of moving-average scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Normal {
    mean: f64,
    stdev: f64,
}

impl Normal {
    /// The distribution that finds nothing unusual.
    const UNINFORMATIVE: Normal = Normal {
        mean: 0.5,
        stdev: 1e3,
    };

    /// Two-sided: a value below the mean is judged by its mirror image, as
    /// the reference does (a sudden drop in score is as unusual as a rise).
    fn tail(&self, value: f64) -> f64 {
        let mirrored = if value < self.mean {
            2.0 * self.mean - value
        } else {
            value
        };
        let z = (mirrored - self.mean) / self.stdev;
        0.5 * crate::special::erfc(z / std::f64::consts::SQRT_2)
    }
}

/// The running anomaly likelihood of one stream.
///
/// Its state is plain data: serialized after `k` records and restored, it
/// reports exactly what the uninterrupted instance would.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyLikelihood {
    params: AnomalyLikelihoodParams,
    n_seen: u64,
    /// `(value, raw score)` of the most recent records, at most `history`.
    history: VecDeque<(f64, f64)>,
    distribution: Option<Normal>,
    /// The tail probability of the previous record before capping; capping
    /// compares against it.
    previous_tail: Option<f64>,
}

impl AnomalyLikelihood {
    /// The bytes the state holds, its history counted by length.
    pub fn state_bytes(&self) -> usize {
        size_of::<Self>() + self.history.len() * size_of::<(f64, f64)>()
    }

    /// A likelihood that has seen nothing.
    pub fn new(params: AnomalyLikelihoodParams) -> Result<AnomalyLikelihood, OnlineError> {
        params.validate()?;
        Ok(AnomalyLikelihood {
            params,
            n_seen: 0,
            history: VecDeque::new(),
            distribution: None,
            previous_tail: None,
        })
    }

    /// The parameters in force.
    pub fn params(&self) -> &AnomalyLikelihoodParams {
        &self.params
    }

    /// Records seen so far.
    pub fn n_seen(&self) -> u64 {
        self.n_seen
    }

    /// Judges the record with raw value `value` and raw score `raw_score`,
    /// then remembers both. Returns the likelihood in `[0, 1]`; 0.5 during
    /// the learning period. A non-finite score counts as 0 and a non-finite
    /// value as the previous value, so one bad record cannot poison the
    /// window.
    pub fn update(&mut self, value: f64, raw_score: f64) -> f64 {
        let raw_score = if raw_score.is_finite() {
            raw_score
        } else {
            0.0
        };
        let value = if value.is_finite() {
            value
        } else {
            self.history.back().map_or(0.0, |&(last, _)| last)
        };
        let probation = (self.params.learning_period + self.params.estimation_samples) as u64;
        let likelihood = if self.n_seen < probation {
            0.5
        } else {
            if self.distribution.is_none()
                || self
                    .n_seen
                    .is_multiple_of(self.params.reestimate_every as u64)
            {
                self.refit();
            }
            let distribution = self.distribution.unwrap_or(Normal::UNINFORMATIVE);
            let average = self.average_with(raw_score);
            let tail = distribution.tail(average);
            let previous_was_extreme = self.previous_tail.is_some_and(|t| t <= EXTREME_TAIL);
            self.previous_tail = Some(tail);
            let reported = if tail <= EXTREME_TAIL && previous_was_extreme {
                CAPPED_TAIL
            } else {
                tail
            };
            1.0 - reported
        };
        if self.history.len() == self.params.history {
            self.history.pop_front();
        }
        self.history.push_back((value, raw_score));
        self.n_seen += 1;
        likelihood
    }

    /// The moving average of the last `averaging_window - 1` remembered raw
    /// scores and `raw_score`.
    fn average_with(&self, raw_score: f64) -> f64 {
        let keep = self.params.averaging_window - 1;
        let start = self.history.len().saturating_sub(keep);
        let (sum, count) = self
            .history
            .range(start..)
            .fold((raw_score, 1usize), |(sum, count), &(_, score)| {
                (sum + score, count + 1)
            });
        sum / count as f64
    }

    /// Refits the distribution on the moving averages of the remembered
    /// scores, leaving out what is left of the learning period, and
    /// recomputes the previous record's tail under it (capping compares
    /// against the tail under the distribution in force).
    fn refit(&mut self) {
        let n_ingested = self.n_seen as usize;
        let shifted_out = n_ingested.saturating_sub(self.params.history);
        let skip = n_ingested.min(self.params.learning_period.saturating_sub(shifted_out));

        let window = self.params.averaging_window;
        let mut averages = Vec::with_capacity(self.history.len());
        let mut running = 0.0;
        for (index, &(_, score)) in self.history.iter().enumerate() {
            running += score;
            if index >= window {
                running -= self.history[index - window].1;
            }
            averages.push(running / (index + 1).min(window) as f64);
        }
        if averages.len() <= skip {
            self.distribution = Some(Normal::UNINFORMATIVE);
            self.previous_tail = averages.last().map(|&a| Normal::UNINFORMATIVE.tail(a));
            return;
        }
        let (mean, variance) = mean_and_variance(averages[skip..].iter().copied());
        let mut distribution = Normal {
            mean: mean.max(MIN_MEAN),
            stdev: variance.max(MIN_VARIANCE).sqrt(),
        };
        let values = self.history.iter().skip(skip).map(|&(value, _)| value);
        let (_, value_variance) = mean_and_variance(values);
        if value_variance < CONSTANT_VALUE_VARIANCE {
            distribution = Normal::UNINFORMATIVE;
        }
        self.distribution = Some(distribution);
        self.previous_tail = averages.last().map(|&a| distribution.tail(a));
    }

    /// Checks a deserialized state.
    pub fn check_state(&self) -> Result<(), OnlineError> {
        self.params
            .validate()
            .map_err(|error| OnlineError::CorruptState(error.to_string()))?;
        if self.history.len() > self.params.history {
            return Err(OnlineError::CorruptState(format!(
                "likelihood history holds {} records, more than its limit {}",
                self.history.len(),
                self.params.history
            )));
        }
        Ok(())
    }
}

/// Spreads likelihoods near 1 apart on a log scale: 0 for a likelihood of 0
/// and 1 for one within 1e-10 of 1, as NAB's detector reports them.
pub fn log_likelihood(likelihood: f64) -> f64 {
    // ln(1.0000000001 - likelihood) / ln(1e-10), the reference's formula.
    ((1.000_000_000_1 - likelihood.clamp(0.0, 1.0)).ln() / (1e-10f64).ln()).clamp(0.0, 1.0)
}

/// Population mean and variance in one pass (Welford), 0 for no values.
fn mean_and_variance(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut count, mut mean, mut squares) = (0.0, 0.0, 0.0);
    for value in values {
        count += 1.0;
        let delta = value - mean;
        mean += delta / count;
        squares += delta * (value - mean);
    }
    if count == 0.0 {
        (0.0, 0.0)
    } else {
        (mean, squares / count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(step: usize) -> f64 {
        // A deterministic score between 0 and 0.2.
        ((step * 7919) % 101) as f64 / 500.0
    }

    #[test]
    fn learning_period_reports_one_half() {
        let mut likelihood = AnomalyLikelihood::new(AnomalyLikelihoodParams::default()).unwrap();
        for step in 0..388 {
            assert_eq!(likelihood.update(step as f64, noisy(step)), 0.5);
        }
        assert_ne!(likelihood.update(388.0, noisy(388)), 0.5);
    }

    #[test]
    fn a_burst_of_high_scores_is_likely_anomalous_and_capped_when_repeated() {
        let mut likelihood = AnomalyLikelihood::new(AnomalyLikelihoodParams::default()).unwrap();
        let mut usual = Vec::new();
        for step in 0..2000 {
            let value = likelihood.update(step as f64, noisy(step));
            if step > 500 {
                usual.push(value);
            }
        }
        let highest_usual = usual.iter().copied().fold(0.0, f64::max);
        let burst: Vec<f64> = (0..10)
            .map(|offset| likelihood.update(0.0, 1.0 + offset as f64 * 0.0))
            .collect();
        let peak = burst.iter().copied().fold(0.0, f64::max);
        assert!(peak > 0.9999, "{burst:?}");
        assert!(highest_usual < 0.999, "{highest_usual}");
        // Every extreme after the first in a row is reported as capped.
        let extremes = burst.iter().filter(|&&v| v >= 1.0 - EXTREME_TAIL).count();
        assert_eq!(extremes, 1, "{burst:?}");
        assert!(burst.contains(&(1.0 - CAPPED_TAIL)), "{burst:?}");
    }

    #[test]
    fn constant_values_give_an_uninformative_likelihood() {
        let mut likelihood = AnomalyLikelihood::new(AnomalyLikelihoodParams::default()).unwrap();
        let mut last = 0.0;
        for step in 0..1000 {
            last = likelihood.update(5.0, noisy(step));
        }
        assert!((last - 0.5).abs() < 1e-3, "{last}");
    }

    #[test]
    fn restored_state_continues_identically() {
        let mut first = AnomalyLikelihood::new(AnomalyLikelihoodParams::default()).unwrap();
        for step in 0..1234 {
            first.update(step as f64, noisy(step));
        }
        let bytes = postcard::to_stdvec(&first).unwrap();
        let mut second: AnomalyLikelihood = postcard::from_bytes(&bytes).unwrap();
        second.check_state().unwrap();
        for step in 1234..3000 {
            let score = noisy(step) * if step % 500 == 0 { 5.0 } else { 1.0 };
            assert_eq!(
                first.update(step as f64, score).to_bits(),
                second.update(step as f64, score).to_bits()
            );
        }
    }

    #[test]
    fn bad_parameters_and_inputs_are_handled() {
        let params = AnomalyLikelihoodParams {
            averaging_window: 0,
            ..AnomalyLikelihoodParams::default()
        };
        let error = AnomalyLikelihood::new(params).unwrap_err();
        assert!(error.to_string().contains("averaging_window"), "{error}");

        let mut likelihood = AnomalyLikelihood::new(AnomalyLikelihoodParams::default()).unwrap();
        for step in 0..600 {
            let value =
                likelihood.update(f64::NAN, if step % 3 == 0 { f64::INFINITY } else { 0.1 });
            assert!((0.0..=1.0).contains(&value), "{value}");
        }
    }

    #[test]
    fn log_likelihood_spreads_the_top() {
        assert_eq!(log_likelihood(0.0), 0.0);
        assert!((log_likelihood(0.5) - 0.0301).abs() < 1e-3);
        assert!((log_likelihood(0.9999) - 0.4).abs() < 1e-3);
        assert!(log_likelihood(1.0) > 0.9999);
        assert!(log_likelihood(0.99999) > log_likelihood(0.9999));
    }
}
