use std::path::{Path, PathBuf};

use super::*;
use crate::series::reference_data::*;

/// statsmodels runs the same arithmetic; only rounding differs.
const TOLERANCE: f64 = 1e-6;

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= TOLERANCE, "{what}[{i}]: got {g}, want {w}");
    }
}

fn check(params: StlParams, seasonal: &[f64], trend: &[f64], residual: &[f64]) {
    let parts = decompose(&SYNTHETIC, &params).unwrap();
    assert_close(&parts.seasonal, seasonal, "seasonal");
    assert_close(&parts.trend, trend, "trend");
    assert_close(&parts.residual, residual, "residual");
}

#[test]
fn robust_stl_matches_statsmodels() {
    check(
        StlParams::new(12),
        &SYNTHETIC_ROBUST_SEASONAL,
        &SYNTHETIC_ROBUST_TREND,
        &SYNTHETIC_ROBUST_RESIDUAL,
    );
}

#[test]
fn plain_stl_matches_statsmodels() {
    let params = StlParams {
        robust: false,
        ..StlParams::new(12)
    };
    check(
        params,
        &SYNTHETIC_PLAIN_SEASONAL,
        &SYNTHETIC_PLAIN_TREND,
        &SYNTHETIC_PLAIN_RESIDUAL,
    );
}

#[test]
fn wider_seasonal_span_matches_statsmodels() {
    let params = StlParams {
        seasonal: SeasonalSmoother::Span(11),
        ..StlParams::new(12)
    };
    check(
        params,
        &SYNTHETIC_ROBUST_SPAN_11_SEASONAL,
        &SYNTHETIC_ROBUST_SPAN_11_TREND,
        &SYNTHETIC_ROBUST_SPAN_11_RESIDUAL,
    );
}

#[test]
fn periodic_stl_matches_a_loess_wider_than_the_series() {
    let params = StlParams {
        seasonal: SeasonalSmoother::Periodic,
        ..StlParams::new(12)
    };
    check(
        params,
        &SYNTHETIC_PERIODIC_SEASONAL,
        &SYNTHETIC_PERIODIC_TREND,
        &SYNTHETIC_PERIODIC_RESIDUAL,
    );
}

#[test]
fn robust_weights_discount_the_planted_spikes() {
    let parts = decompose(&SYNTHETIC, &StlParams::new(12)).unwrap();

    assert!(parts.weights[30] < 0.1, "{}", parts.weights[30]);
    assert!(parts.weights[77] < 0.1, "{}", parts.weights[77]);
    let typical = parts.weights.iter().filter(|&&w| w > 0.5).count();
    assert!(typical > 100, "{typical}");
}

fn nab_dir() -> PathBuf {
    match std::env::var_os("ODDITY_NAB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nab"),
    }
}

#[test]
fn nab_taxi_series_matches_statsmodels() {
    let path = nab_dir().join("data/realKnownCause/nyc_taxi.csv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} is absent", path.display());
        return;
    };
    let values: Vec<f64> = text
        .lines()
        .skip(1)
        .take(21 * 48)
        .map(|line| line.split(',').nth(1).unwrap().trim().parse().unwrap())
        .collect();

    let parts = decompose(&values, &StlParams::new(48)).unwrap();

    let every = |series: &[f64]| series.iter().step_by(21).copied().collect::<Vec<_>>();
    assert_close(&every(&parts.seasonal), &TAXI_SEASONAL_EVERY_21, "seasonal");
    assert_close(&every(&parts.trend), &TAXI_TREND_EVERY_21, "trend");
    assert_close(&every(&parts.residual), &TAXI_RESIDUAL_EVERY_21, "residual");
}

#[test]
fn exact_seasonal_series_leaves_no_residual() {
    let values: Vec<f64> = (0..70)
        .map(|i| [5.0, -1.0, 2.0, 0.5, 3.0, -4.0, 1.0][i % 7])
        .collect();
    let parts = decompose(&values, &StlParams::new(7)).unwrap();
    assert!(parts.residual.iter().all(|r| r.abs() < 1e-9));
}

#[test]
fn parameters_are_validated_by_name() {
    let values = vec![1.0; 50];
    let error = |params: StlParams| decompose(&values, &params).unwrap_err().name;

    assert_eq!(error(StlParams::new(1)), "period");
    assert_eq!(error(StlParams::new(30)), "period");
    let even = StlParams {
        seasonal: SeasonalSmoother::Span(8),
        ..StlParams::new(5)
    };
    assert_eq!(error(even), "seasonal");
    let narrow = StlParams {
        seasonal: SeasonalSmoother::Span(5),
        ..StlParams::new(5)
    };
    assert_eq!(error(narrow), "seasonal");
    let short_trend = StlParams {
        trend: Some(5),
        ..StlParams::new(5)
    };
    assert_eq!(error(short_trend), "trend");
    let even_low_pass = StlParams {
        low_pass: Some(8),
        ..StlParams::new(5)
    };
    assert_eq!(error(even_low_pass), "low_pass");
    let no_inner = StlParams {
        inner_iterations: Some(0),
        ..StlParams::new(5)
    };
    assert_eq!(error(no_inner), "inner_iterations");
}
