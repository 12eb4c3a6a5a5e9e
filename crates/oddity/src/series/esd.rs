//! The generalized extreme studentized deviate test (Rosner, "Percentage
//! points for a generalized ESD many-outlier procedure", Technometrics
//! 1983), and its robust variant from seasonal hybrid ESD (Vallis,
//! Hochenbaum and Kejariwal, "A novel technique for long-term anomaly
//! detection in the cloud", HotCloud 2014).
//!
//! Given an upper bound `k` on the number of anomalies, the test removes
//! the most extreme point `k` times. At step `i` (of `n` points, `n - i +
//! 1` remaining) its statistic is `R_i = max |x - centre| / spread` over
//! the remaining points and its critical value
//!
//! ```text
//! lambda_i = (n - i) t / sqrt((n - i - 1 + t^2) (n - i + 1)),
//! t = the Student t quantile at p = 1 - alpha / (2 (n - i + 1)), n - i - 1 df
//! ```
//!
//! (`alpha / (n - i + 1)` for a one-sided test). The number of anomalies
//! is the largest `i` with `R_i > lambda_i`, and they are the first `i`
//! points removed: a masked outlier that fails its own step is still
//! found when a later step passes. The classic test uses the mean and the
//! sample standard deviation; the robust one the median and `1.4826 *
//! MAD`, so that the anomalies themselves do not inflate the spread. When
//! the MAD is 0 (more than half the points equal), the robust spread falls
//! back to `1.2533 *` the mean absolute deviation from the median (the
//! same normal-consistent scale); when that is 0 too, the test stops.
//!
//! Cost: `O(k n)`.

use serde::{Deserialize, Serialize};

use super::stl::median_in_place;
use crate::detector::ParamError;
use crate::special::student_t_quantile;

/// `1 / Phi^{-1}(3/4)`: scales a MAD to a normal standard deviation.
pub const MAD_TO_SD: f64 = 1.4826;

/// `sqrt(pi / 2)`: scales a mean absolute deviation to a normal standard
/// deviation.
const MEAN_ABS_TO_SD: f64 = 1.253_314_137_315_500_3;

/// Which deviations count as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Direction {
    /// Above or below (a two-sided test).
    #[default]
    Both,
    /// Above only (one-sided).
    Positive,
    /// Below only (one-sided).
    Negative,
}

impl Direction {
    /// The deviation of `value` from `centre` in this direction: positive
    /// when `value` lies on the anomalous side.
    pub fn deviation(self, value: f64, centre: f64) -> f64 {
        match self {
            Direction::Both => (value - centre).abs(),
            Direction::Positive => value - centre,
            Direction::Negative => centre - value,
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = ParamError;

    /// `both`, `pos` (`positive`) or `neg` (`negative`).
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "both" => Ok(Direction::Both),
            "pos" | "positive" => Ok(Direction::Positive),
            "neg" | "negative" => Ok(Direction::Negative),
            _ => Err(ParamError::new(
                "direction",
                "must be both, pos or neg",
                word,
            )),
        }
    }
}

/// The test's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EsdParams {
    /// Upper bound on the anomalies, as a fraction of the points, in
    /// (0, 0.5]; at least one point is tested. Default 0.02.
    pub max_anomalies: f64,
    /// Significance level, in (0, 1). Default 0.05.
    pub alpha: f64,
    /// Default both.
    pub direction: Direction,
    /// Median and MAD instead of mean and standard deviation. Default true.
    pub robust: bool,
}

impl Default for EsdParams {
    fn default() -> Self {
        EsdParams {
            max_anomalies: 0.02,
            alpha: 0.05,
            direction: Direction::Both,
            robust: true,
        }
    }
}

impl EsdParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(self.max_anomalies > 0.0 && self.max_anomalies <= 0.5) {
            return Err(ParamError::new(
                "max_anomalies",
                "must be above 0 and at most 0.5",
                self.max_anomalies,
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(ParamError::new(
                "alpha",
                "must be above 0 and below 1",
                self.alpha,
            ));
        }
        Ok(())
    }

    /// The number of points to test among `n_points`: the fraction,
    /// rounded down, at least 1 and at most `n_points - 2` (the last test
    /// needs one degree of freedom).
    pub fn max_count(&self, n_points: usize) -> usize {
        // The epsilon keeps a fraction written as count / n from rounding
        // down to count - 1.
        let count = (self.max_anomalies * n_points as f64 + 1e-9).floor() as usize;
        count.max(1).min(n_points.saturating_sub(2))
    }
}

/// One removal of the test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EsdStep {
    /// Index of the removed point in the input.
    pub index: usize,
    /// `R_i`.
    pub statistic: f64,
    /// `lambda_i`.
    pub critical: f64,
}

/// The outcome: every step taken, and how many of them are anomalies.
#[derive(Debug, Clone, PartialEq)]
pub struct EsdOutcome {
    /// In removal order; fewer than the maximum when the spread vanished.
    pub steps: Vec<EsdStep>,
    /// The first `n_anomalies` steps name the anomalies.
    pub n_anomalies: usize,
}

impl EsdOutcome {
    /// The steps that are anomalies.
    pub fn anomalies(&self) -> &[EsdStep] {
        &self.steps[..self.n_anomalies]
    }
}

/// Runs the test on the finite entries of `values` (non-finite entries
/// are neither tested nor counted), testing at most
/// [`EsdParams::max_count`] of them.
pub fn generalized_esd(values: &[f64], params: &EsdParams) -> Result<EsdOutcome, ParamError> {
    params.validate()?;
    let n_finite = values.iter().filter(|v| v.is_finite()).count();
    Ok(esd_with_count(values, params.max_count(n_finite), params))
}

/// The test with an explicit maximum count (`params.max_anomalies` is not
/// used), as in the handbook examples. Testing stops early when fewer than
/// 3 points remain.
pub fn esd_with_count(values: &[f64], max_count: usize, params: &EsdParams) -> EsdOutcome {
    let mut remaining: Vec<(usize, f64)> = values
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let n = remaining.len();
    let mut scratch = Vec::with_capacity(n);
    let mut steps = Vec::with_capacity(max_count);
    let mut n_anomalies = 0;

    for i in 1..=max_count.min(n.saturating_sub(2)) {
        let Some((centre, spread)) = centre_and_spread(&remaining, params.robust, &mut scratch)
        else {
            break;
        };
        let (position, deviation) = remaining
            .iter()
            .enumerate()
            .map(|(position, &(_, v))| (position, params.direction.deviation(v, centre)))
            .fold((0, f64::NEG_INFINITY), |best, next| {
                if next.1 > best.1 { next } else { best }
            });
        let (index, _) = remaining.remove(position);
        let statistic = deviation / spread;
        let critical = critical_value(n, i, params.alpha, params.direction);
        if statistic > critical {
            n_anomalies = i;
        }
        steps.push(EsdStep {
            index,
            statistic,
            critical,
        });
    }
    EsdOutcome { steps, n_anomalies }
}

/// `lambda_i` for step `i` of `n` points.
pub fn critical_value(n: usize, i: usize, alpha: f64, direction: Direction) -> f64 {
    let remaining = (n - i + 1) as f64;
    let tail = match direction {
        Direction::Both => alpha / (2.0 * remaining),
        Direction::Positive | Direction::Negative => alpha / remaining,
    };
    let df = (n - i - 1) as f64;
    let t = student_t_quantile(1.0 - tail, df);
    (n - i) as f64 * t / ((df + t * t) * remaining).sqrt()
}

/// Mean and sample standard deviation, or median and scaled MAD (with the
/// mean-absolute-deviation fallback); `None` when the spread is zero.
pub(super) fn centre_and_spread(
    points: &[(usize, f64)],
    robust: bool,
    scratch: &mut Vec<f64>,
) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let (centre, spread) = if robust {
        scratch.clear();
        scratch.extend(points.iter().map(|&(_, v)| v));
        let centre = median_in_place(scratch);
        for v in scratch.iter_mut() {
            *v = (*v - centre).abs();
        }
        let mut spread = MAD_TO_SD * median_in_place(scratch);
        if spread <= 0.0 {
            spread = MEAN_ABS_TO_SD * scratch.iter().sum::<f64>() / n;
        }
        (centre, spread)
    } else {
        let mean = points.iter().map(|&(_, v)| v).sum::<f64>() / n;
        let squares: f64 = points.iter().map(|&(_, v)| (v - mean).powi(2)).sum();
        (mean, (squares / (n - 1.0)).sqrt())
    };
    (spread > 0.0 && spread.is_finite()).then_some((centre, spread))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::reference_data::{ROSNER, ROSNER_CLASSIC, ROSNER_ROBUST, ROSNER_ROBUST_NEG};

    fn classic() -> EsdParams {
        EsdParams {
            robust: false,
            ..EsdParams::default()
        }
    }

    fn assert_steps(outcome: &EsdOutcome, data: &[f64], want: &[(f64, f64, f64)]) {
        assert_eq!(outcome.steps.len(), want.len());
        for (step, &(value, statistic, critical)) in outcome.steps.iter().zip(want) {
            assert_eq!(data[step.index], value);
            approx::assert_relative_eq!(step.statistic, statistic, max_relative = 1e-10);
            approx::assert_relative_eq!(step.critical, critical, max_relative = 1e-9);
        }
    }

    #[test]
    fn rosner_example_matches_the_handbook() {
        let outcome = esd_with_count(&ROSNER, 10, &classic());

        // The handbook prints R_i and lambda_i to three decimals
        // (truncated) and finds three outliers: 6.01, 5.42 and 5.34.
        let handbook = [
            (3.118, 3.158),
            (2.942, 3.151),
            (3.179, 3.143),
            (2.810, 3.136),
        ];
        for (step, (statistic, critical)) in outcome.steps.iter().zip(handbook) {
            approx::assert_abs_diff_eq!(step.statistic, statistic, epsilon = 1.5e-3);
            approx::assert_abs_diff_eq!(step.critical, critical, epsilon = 1.5e-3);
        }
        assert_eq!(outcome.n_anomalies, 3);
        let found: Vec<f64> = outcome
            .anomalies()
            .iter()
            .map(|s| ROSNER[s.index])
            .collect();
        assert_eq!(found, [6.01, 5.42, 5.34]);
        assert_steps(&outcome, &ROSNER, &ROSNER_CLASSIC);
    }

    #[test]
    fn robust_and_one_sided_variants_match_the_reference_script() {
        let robust = esd_with_count(&ROSNER, 10, &EsdParams::default());
        assert_steps(&robust, &ROSNER, &ROSNER_ROBUST);

        let negative = EsdParams {
            direction: Direction::Negative,
            ..EsdParams::default()
        };
        let outcome = esd_with_count(&ROSNER, 5, &negative);
        assert_steps(&outcome, &ROSNER, &ROSNER_ROBUST_NEG);
    }

    #[test]
    fn fraction_bounds_the_number_tested() {
        let params = EsdParams {
            max_anomalies: 10.0 / 54.0,
            robust: false,
            ..EsdParams::default()
        };
        let outcome = generalized_esd(&ROSNER, &params).unwrap();
        assert_eq!(outcome.steps.len(), 10);
        assert_eq!(outcome.n_anomalies, 3);
    }

    #[test]
    fn non_finite_values_are_skipped() {
        let mut values = ROSNER.to_vec();
        values.insert(5, f64::NAN);
        values.push(f64::INFINITY);
        let outcome = esd_with_count(&values, 10, &classic());
        assert_eq!(outcome.n_anomalies, 3);
        assert!(outcome.steps.iter().all(|s| values[s.index].is_finite()));
    }

    #[test]
    fn constant_series_finds_nothing() {
        let values = vec![4.0; 50];
        let outcome = generalized_esd(&values, &EsdParams::default()).unwrap();
        assert!(outcome.steps.is_empty());
        assert_eq!(outcome.n_anomalies, 0);
    }

    #[test]
    fn mostly_constant_series_still_finds_its_spike() {
        // The MAD is 0 here; the mean-absolute-deviation fallback keeps
        // the spread positive.
        let mut values = vec![1.0; 60];
        values[7] = 2.0;
        values[20] = 0.0;
        values[41] = 50.0;
        let outcome = generalized_esd(&values, &EsdParams::default()).unwrap();
        assert!(outcome.n_anomalies >= 1);
        assert_eq!(outcome.steps[0].index, 41);
    }

    #[test]
    fn invalid_parameters_are_named() {
        let params = EsdParams {
            max_anomalies: 0.7,
            ..EsdParams::default()
        };
        let error = generalized_esd(&ROSNER, &params).unwrap_err();
        assert_eq!(error.name, "max_anomalies");
        let params = EsdParams {
            alpha: 1.0,
            ..EsdParams::default()
        };
        assert_eq!(generalized_esd(&ROSNER, &params).unwrap_err().name, "alpha");
        assert_eq!(
            "sideways".parse::<Direction>().unwrap_err().name,
            "direction"
        );
    }
}
