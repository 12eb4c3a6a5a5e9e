//! Seasonal hybrid ESD: anomalies of a batch series judged against its
//! seasonal pattern (Vallis, Hochenbaum and Kejariwal 2014, the method of
//! Twitter's AnomalyDetection).
//!
//! 1. The series is laid on an even grid ([`Grid`]); gaps and missing
//!    values are interpolated for the decomposition only.
//! 2. STL ([`super::stl`]) splits it into seasonal, trend and residual.
//! 3. Each point's expected value is its seasonal value plus a baseline:
//!    the median of the deseasonalised points ([`Baseline::Median`], the
//!    default, as S-H-ESD does: a trend fitted through an anomaly bends
//!    towards it and hides part of it) or the STL trend
//!    ([`Baseline::Trend`], for series whose level wanders).
//! 4. The generalized ESD test ([`super::esd`]) runs on the residuals
//!    `value - expected` of the observed points.
//!
//! Every point gets its residual, seasonal, trend and expected values, a
//! score for ranking (its deviation, in the test's direction, from the
//! residuals' centre over their robust standard deviation `1.4826 * MAD`;
//! mean and standard deviation for the classic test), the ESD statistic
//! when the test removed it, and the anomaly flag. A value spike that is
//! ordinary for its phase of the season (a daily peak) has a small
//! residual and is not flagged, although a plain z-score would flag it.

use serde::{Deserialize, Serialize};

use super::SeriesError;
use super::esd::{EsdOutcome, EsdParams, centre_and_spread, generalized_esd};
use super::grid::{Grid, infer_period};
use super::stl::{self, SeasonalSmoother, StlParams, median_in_place};

/// What the seasonal part is added to for a point's expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Baseline {
    /// The median of `value - seasonal` over the observed points.
    #[default]
    Median,
    /// The STL trend at the point.
    Trend,
}

impl std::str::FromStr for Baseline {
    type Err = crate::detector::ParamError;

    /// `median` or `trend`.
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "median" => Ok(Baseline::Median),
            "trend" => Ok(Baseline::Trend),
            _ => Err(crate::detector::ParamError::new(
                "baseline",
                "must be median or trend",
                word,
            )),
        }
    }
}

/// Parameters of [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeasonalEsdParams {
    /// Points per season. `None` infers it from the timestamps' spacing
    /// ([`infer_period`]: one day, or a week of daily points).
    pub period: Option<usize>,
    /// Default [`SeasonalSmoother::Periodic`], as S-H-ESD.
    pub seasonal: SeasonalSmoother,
    /// Default [`Baseline::Median`].
    pub baseline: Baseline,
    /// Robust STL (bisquare reweighting). Default true.
    pub robust_stl: bool,
    /// The test: maximum share of anomalies, alpha, direction, robust.
    pub esd: EsdParams,
}

impl Default for SeasonalEsdParams {
    fn default() -> Self {
        SeasonalEsdParams {
            period: None,
            seasonal: SeasonalSmoother::Periodic,
            baseline: Baseline::Median,
            robust_stl: true,
            esd: EsdParams::default(),
        }
    }
}

/// The verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesPoint {
    pub is_anomaly: bool,
    /// Deviation in the test's direction over the residuals' robust
    /// standard deviation; 0 for a missing value or one on the other side.
    pub score: f64,
    /// `value - expected`; NaN for a missing value.
    pub residual: f64,
    /// `seasonal + baseline` at the point's grid slot.
    pub expected: f64,
    pub seasonal: f64,
    pub trend: f64,
    /// The ESD statistic `R_i` when the test removed this point.
    pub statistic: Option<f64>,
}

/// The outcome of [`detect`] for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesOutcome {
    /// The period used, given or inferred.
    pub period: usize,
    /// The grid step in milliseconds (1 for a series without timestamps).
    pub spacing_ms: i64,
    /// Grid slots filled by interpolation (gaps and missing values).
    pub n_filled: usize,
    /// One per input point, in input order.
    pub points: Vec<SeriesPoint>,
    /// The test itself.
    pub esd: EsdOutcome,
}

/// Tests one series: `values` with their `timestamps` (milliseconds, in
/// any order; points with the same time share a grid slot) or, without
/// them, in time order. Non-finite values are missing: interpolated for
/// the decomposition, never flagged.
///
/// Errors when a parameter is invalid, the period is neither given nor
/// inferable, the series spans fewer than two periods, gaps dominate, or
/// no value is finite.
pub fn detect(
    values: &[f64],
    timestamps: Option<&[i64]>,
    params: &SeasonalEsdParams,
) -> Result<SeriesOutcome, SeriesError> {
    params.esd.validate()?;
    let grid = match timestamps {
        Some(timestamps) => Grid::from_timestamps(timestamps)?,
        None => Grid::positions(values.len()),
    };
    let period = match (params.period, timestamps) {
        (Some(period), _) => period,
        (None, Some(_)) => infer_period(grid.spacing_ms).ok_or(SeriesError::PeriodFromSpacing {
            spacing_ms: grid.spacing_ms,
        })?,
        (None, None) => return Err(SeriesError::PeriodNeeded),
    };
    if period < 2 {
        return Err(
            crate::detector::ParamError::new("period", "must be at least 2", period).into(),
        );
    }
    if grid.n_slots < 2 * period {
        return Err(SeriesError::TooShort {
            n_slots: grid.n_slots,
            period,
        });
    }
    let filled = grid.fill(values).ok_or(SeriesError::NoValues)?;
    let n_observed_slots = {
        let mut seen = vec![false; grid.n_slots];
        for (&slot, value) in grid.slots.iter().zip(values) {
            seen[slot] |= value.is_finite();
        }
        seen.iter().filter(|&&s| s).count()
    };
    tracing::debug!(
        period,
        spacing_ms = grid.spacing_ms,
        n_slots = grid.n_slots,
        "series grid"
    );

    let stl_params = StlParams {
        seasonal: params.seasonal,
        robust: params.robust_stl,
        ..StlParams::new(period)
    };
    let parts = stl::decompose(&filled, &stl_params)?;

    let deseasonalised: Vec<f64> = grid
        .slots
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .map(|(&slot, v)| v - parts.seasonal[slot])
        .collect();
    let level = median_in_place(&mut deseasonalised.clone());
    let expected_at = |slot: usize| match params.baseline {
        Baseline::Median => parts.seasonal[slot] + level,
        Baseline::Trend => parts.seasonal[slot] + parts.trend[slot],
    };
    let residuals: Vec<f64> = grid
        .slots
        .iter()
        .zip(values)
        .map(|(&slot, &v)| {
            if v.is_finite() {
                v - expected_at(slot)
            } else {
                f64::NAN
            }
        })
        .collect();

    let esd = generalized_esd(&residuals, &params.esd)?;
    let (centre, spread) = residual_scale(&residuals, params.esd.robust);
    let mut points: Vec<SeriesPoint> = grid
        .slots
        .iter()
        .zip(&residuals)
        .map(|(&slot, &residual)| {
            let deviation = params.esd.direction.deviation(residual, centre);
            SeriesPoint {
                is_anomaly: false,
                score: if deviation > 0.0 {
                    deviation / spread
                } else {
                    0.0
                },
                residual,
                expected: expected_at(slot),
                seasonal: parts.seasonal[slot],
                trend: parts.trend[slot],
                statistic: None,
            }
        })
        .collect();
    for (rank, step) in esd.steps.iter().enumerate() {
        let point = &mut points[step.index];
        point.statistic = Some(step.statistic);
        point.is_anomaly = rank < esd.n_anomalies;
    }
    Ok(SeriesOutcome {
        period,
        spacing_ms: grid.spacing_ms,
        n_filled: grid.n_slots - n_observed_slots,
        points,
        esd,
    })
}

/// The centre and spread the scores are measured in: those of the test
/// (median and robust standard deviation, or mean and standard
/// deviation), 1 when every residual is the same.
fn residual_scale(residuals: &[f64], robust: bool) -> (f64, f64) {
    let finite: Vec<(usize, f64)> = residuals
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, r)| r.is_finite())
        .collect();
    centre_and_spread(&finite, robust, &mut Vec::new()).unwrap_or_else(|| {
        let centre = finite.first().map_or(0.0, |&(_, r)| r);
        (centre, 1.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::esd::Direction;

    const HOUR: i64 = 3_600_000;

    /// Two weeks of hourly values with a daily cycle (a peak of 10 at
    /// noon), deterministic noise, a slow trend and planted spikes.
    fn hourly() -> (Vec<i64>, Vec<f64>) {
        let times: Vec<i64> = (0..24 * 14).map(|i| 1_700_000_000_000 + i * HOUR).collect();
        let values = (0..24 * 14)
            .map(|i| {
                let hour = (i % 24) as f64;
                let daily = 10.0 * (-((hour - 12.0) / 2.5).powi(2)).exp();
                20.0 + 0.002 * i as f64 + daily + 0.3 * (1.3 * (i * i) as f64).sin()
            })
            .collect();
        (times, values)
    }

    fn flagged(outcome: &SeriesOutcome) -> Vec<usize> {
        (0..outcome.points.len())
            .filter(|&i| outcome.points[i].is_anomaly)
            .collect()
    }

    #[test]
    fn planted_spikes_are_flagged_and_the_period_inferred() {
        let (times, mut values) = hourly();
        values[50] += 6.0;
        values[200] -= 5.0;

        let outcome = detect(&values, Some(&times), &SeasonalEsdParams::default()).unwrap();

        assert_eq!(outcome.period, 24);
        assert_eq!(outcome.spacing_ms, HOUR);
        assert_eq!(flagged(&outcome), [50, 200]);
        let top = outcome.points[50];
        assert!(top.score > 10.0, "{top:?}");
        assert!(top.statistic.is_some());
        approx::assert_relative_eq!(top.residual, values[50] - top.expected);
    }

    #[test]
    fn a_seasonal_peak_is_not_an_anomaly_but_an_off_season_one_is() {
        let (times, mut values) = hourly();
        // At midnight, a value as high as the usual noon peak.
        values[24 * 5] = 30.0;

        let outcome = detect(&values, Some(&times), &SeasonalEsdParams::default()).unwrap();

        assert_eq!(flagged(&outcome), [24 * 5]);
        // The daily noon peaks themselves, far from the overall mean, are
        // not flagged.
        assert!((0..14).all(|day| !outcome.points[day * 24 + 12].is_anomaly));
    }

    #[test]
    fn one_sided_test_ignores_the_other_side() {
        let (times, mut values) = hourly();
        values[50] += 6.0;
        values[200] -= 5.0;
        let params = SeasonalEsdParams {
            esd: EsdParams {
                direction: Direction::Negative,
                ..EsdParams::default()
            },
            ..SeasonalEsdParams::default()
        };

        let outcome = detect(&values, Some(&times), &params).unwrap();

        assert_eq!(flagged(&outcome), [200]);
        assert_eq!(outcome.points[50].score, 0.0);
    }

    #[test]
    fn gaps_are_filled_but_never_reported() {
        let (times, mut values) = hourly();
        values[100] += 6.0;
        values[150] = f64::NAN;
        // Drop a six-hour stretch of points.
        let keep: Vec<usize> = (0..times.len()).filter(|i| !(60..66).contains(i)).collect();
        let times: Vec<i64> = keep.iter().map(|&i| times[i]).collect();
        let values: Vec<f64> = keep.iter().map(|&i| values[i]).collect();

        let outcome = detect(&values, Some(&times), &SeasonalEsdParams::default()).unwrap();

        assert_eq!(outcome.points.len(), values.len());
        assert_eq!(outcome.n_filled, 7);
        assert_eq!(outcome.period, 24);
        assert_eq!(flagged(&outcome), [100 - 6]);
        let missing = outcome.points[150 - 6];
        assert!(missing.residual.is_nan() && !missing.is_anomaly && missing.score == 0.0);
    }

    #[test]
    fn trend_baseline_follows_a_level_shift() {
        let (times, mut values) = hourly();
        for value in &mut values[168..] {
            *value += 15.0;
        }
        values[250] += 6.0;

        let median = detect(&values, Some(&times), &SeasonalEsdParams::default()).unwrap();
        let trend = SeasonalEsdParams {
            baseline: Baseline::Trend,
            ..SeasonalEsdParams::default()
        };
        let trend = detect(&values, Some(&times), &trend).unwrap();

        // Against one median the shifted week is all one side: the
        // residuals are bimodal and the spike does not stand out as
        // clearly; against the trend it is the lone anomaly.
        assert!(flagged(&trend).contains(&250), "{:?}", flagged(&trend));
        assert!(trend.points[250].score > median.points[250].score);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (times, values) = hourly();
        let short = detect(
            &values[..40],
            Some(&times[..40]),
            &SeasonalEsdParams::default(),
        );
        assert!(matches!(
            short,
            Err(SeriesError::TooShort {
                n_slots: 40,
                period: 24
            })
        ));

        let no_period = detect(&values, None, &SeasonalEsdParams::default());
        assert!(matches!(no_period, Err(SeriesError::PeriodNeeded)));

        let weekly: Vec<i64> = (0..60).map(|i| i * 7 * 24 * HOUR).collect();
        let sparse = detect(&values[..60], Some(&weekly), &SeasonalEsdParams::default());
        assert!(matches!(sparse, Err(SeriesError::PeriodFromSpacing { .. })));

        let empty = detect(
            &[f64::NAN; 60],
            None,
            &SeasonalEsdParams {
                period: Some(12),
                ..SeasonalEsdParams::default()
            },
        );
        assert!(matches!(empty, Err(SeriesError::NoValues)));

        let bad_alpha = SeasonalEsdParams {
            esd: EsdParams {
                alpha: 0.0,
                ..EsdParams::default()
            },
            ..SeasonalEsdParams::default()
        };
        let error = detect(&values, Some(&times), &bad_alpha).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: alpha must be above 0 and below 1, got 0"
        );
    }

    #[test]
    fn without_timestamps_the_period_is_counted_in_points() {
        let (_, mut values) = hourly();
        values[77] += 7.0;
        let params = SeasonalEsdParams {
            period: Some(24),
            ..SeasonalEsdParams::default()
        };

        let outcome = detect(&values, None, &params).unwrap();

        assert_eq!(outcome.spacing_ms, 1);
        assert_eq!(flagged(&outcome), [77]);
    }
}
