//! STL: seasonal-trend decomposition by loess (Cleveland, Cleveland,
//! McRae and Terpenning, "STL: a seasonal-trend decomposition procedure
//! based on loess", Journal of Official Statistics 1990).
//!
//! A series `y` of `n` points with a seasonal period `p` is split into
//! `y = seasonal + trend + residual`. The inner loop alternates:
//!
//! 1. detrend, and smooth each cycle-subseries (every `p`-th point) by
//!    loess of span `seasonal`, extended by one period at each end;
//! 2. low-pass filter the result (moving averages of `p`, `p` and 3, then
//!    a loess of span `low_pass`) and subtract it, so the seasonal part
//!    carries no trend;
//! 3. deseasonalise and smooth by loess of span `trend`.
//!
//! With `robust`, outer iterations reweight each point by the bisquare of
//! its residual over six times the median absolute residual, so that
//! outliers stop pulling the seasonal and trend fits. The loess fits are
//! local linear with tricube weights. The arithmetic follows the authors'
//! reference program step by step (as statsmodels' `STL` does, with the
//! median of the robustness weights computed exactly), so the components
//! match statsmodels' to rounding; see `scripts/stl_esd_reference.py`.
//!
//! Cost: each pass is `O(n * (seasonal + trend + low_pass))`.
//!
//! ```
//! use oddity::series::stl::{StlParams, decompose};
//!
//! // Ten weeks of a weekly shape around a level of 20.
//! let shape = [5.0, -1.0, 2.0, 0.5, 3.0, -4.0, 1.0];
//! let values: Vec<f64> = (0..70).map(|i| 20.0 + shape[i % 7]).collect();
//!
//! let parts = decompose(&values, &StlParams::new(7))?;
//!
//! // The seasonal part is the shape centred on 0; the trend carries the rest.
//! let level = 20.0 + shape.iter().sum::<f64>() / 7.0;
//! assert!((parts.trend[30] - level).abs() < 1e-9);
//! assert!((parts.seasonal[30] - (shape[2] + 20.0 - level)).abs() < 1e-9);
//! assert!(parts.residual.iter().all(|r| r.abs() < 1e-9));
//! # Ok::<(), oddity::detector::ParamError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::detector::ParamError;

/// The smallest seasonal span the paper recommends (spans below 7 follow
/// noise rather than the seasonal shape).
pub const MIN_SEASONAL_SPAN: usize = 7;

/// How the cycle-subseries are smoothed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeasonalSmoother {
    /// Loess of this span (odd, at least [`MIN_SEASONAL_SPAN`]) over each
    /// cycle-subseries: the seasonal shape may change slowly over time.
    Span(usize),
    /// One fixed seasonal shape: each cycle-subseries is replaced by its
    /// (robustness-weighted) mean. This is the limit of a local-constant
    /// loess whose span outgrows the series, which R's
    /// `stl(s.window = "periodic")` approximates with a span of `10 n + 1`
    /// and a per-phase average afterwards; seasonal hybrid ESD uses it, so
    /// that an anomaly cannot bend the seasonal shape. It costs `O(n)`,
    /// where R's approximation costs `O(n^2 / period)`.
    Periodic,
}

/// STL's parameters; [`StlParams::new`] gives the paper's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StlParams {
    /// Points per seasonal cycle, at least 2.
    pub period: usize,
    /// Seasonal smoothing. Default `Span(7)`.
    pub seasonal: SeasonalSmoother,
    /// Trend loess span (odd, at least 3, above `period`). `None` takes the
    /// paper's: the smallest odd integer at least
    /// `1.5 * period / (1 - 1.5 / seasonal)`.
    pub trend: Option<usize>,
    /// Low-pass loess span (odd, at least 3, above `period`). `None` takes
    /// the smallest odd integer above `period`.
    pub low_pass: Option<usize>,
    /// Outer robustness iterations with bisquare weights. Default `true`.
    pub robust: bool,
    /// Inner-loop passes per outer iteration, at least 1. `None`: 2 when
    /// robust, 5 when not (statsmodels' defaults).
    pub inner_iterations: Option<usize>,
    /// Robustness iterations after the first fit. `None`: 15 when robust,
    /// 0 when not; ignored when not robust.
    pub outer_iterations: Option<usize>,
}

impl StlParams {
    /// The defaults for a period of `period` points.
    pub fn new(period: usize) -> Self {
        StlParams {
            period,
            seasonal: SeasonalSmoother::Span(MIN_SEASONAL_SPAN),
            trend: None,
            low_pass: None,
            robust: true,
            inner_iterations: None,
            outer_iterations: None,
        }
    }

    /// Checks every parameter against a series of `n_points`; the first
    /// bad one is reported.
    pub fn validate(&self, n_points: usize) -> Result<(), ParamError> {
        self.resolve(n_points).map(|_| ())
    }

    /// The spans, degrees and iteration counts actually used.
    fn resolve(&self, n_points: usize) -> Result<Resolved, ParamError> {
        let period = self.period;
        if period < 2 {
            return Err(ParamError::new("period", "must be at least 2", period));
        }
        let (seasonal, seasonal_degree) = match self.seasonal {
            SeasonalSmoother::Span(span) => {
                if span < MIN_SEASONAL_SPAN || span.is_multiple_of(2) {
                    return Err(ParamError::new(
                        "seasonal",
                        format!("must be odd and at least {MIN_SEASONAL_SPAN}"),
                        span,
                    ));
                }
                (span, 1)
            }
            // An unbounded span (only the default trend span reads it).
            SeasonalSmoother::Periodic => (usize::MAX, 0),
        };
        let trend = match (self.trend, self.seasonal) {
            (Some(span), _) => span,
            // The paper's formula as the seasonal span grows without bound:
            // the smallest odd integer above 1.5 periods.
            (None, SeasonalSmoother::Periodic) => {
                next_odd((1.5 * period as f64).floor() as usize + 1)
            }
            (None, SeasonalSmoother::Span(_)) => {
                next_odd((1.5 * period as f64 / (1.0 - 1.5 / seasonal as f64)).ceil() as usize)
            }
        };
        if trend < 3 || trend.is_multiple_of(2) || trend <= period {
            return Err(ParamError::new(
                "trend",
                format!("must be odd, at least 3 and above the period ({period})"),
                trend,
            ));
        }
        let low_pass = self.low_pass.unwrap_or_else(|| next_odd(period + 1));
        if low_pass < 3 || low_pass.is_multiple_of(2) || low_pass <= period {
            return Err(ParamError::new(
                "low_pass",
                format!("must be odd, at least 3 and above the period ({period})"),
                low_pass,
            ));
        }
        let inner = self
            .inner_iterations
            .unwrap_or(if self.robust { 2 } else { 5 });
        if inner == 0 {
            return Err(ParamError::new("inner_iterations", "must be at least 1", 0));
        }
        let outer = match (self.robust, self.outer_iterations) {
            (false, _) => 0,
            (true, Some(outer)) => outer,
            (true, None) => 15,
        };
        if n_points < 2 * period {
            return Err(ParamError::new(
                "period",
                format!("needs a series of at least two periods ({n_points} points)"),
                period,
            ));
        }
        Ok(Resolved {
            period,
            seasonal,
            seasonal_degree,
            trend,
            low_pass,
            inner,
            outer,
            periodic: self.seasonal == SeasonalSmoother::Periodic,
        })
    }
}

/// The smallest odd integer at least `value`.
fn next_odd(value: usize) -> usize {
    value | 1
}

#[derive(Debug, Clone, Copy)]
struct Resolved {
    period: usize,
    seasonal: usize,
    seasonal_degree: u8,
    trend: usize,
    low_pass: usize,
    inner: usize,
    outer: usize,
    periodic: bool,
}

/// The components of a decomposed series, each as long as the series.
#[derive(Debug, Clone, PartialEq)]
pub struct Decomposition {
    pub seasonal: Vec<f64>,
    pub trend: Vec<f64>,
    /// `value - seasonal - trend`.
    pub residual: Vec<f64>,
    /// The final robustness weights in [0, 1]; all 1 when not robust.
    pub weights: Vec<f64>,
}

/// Decomposes `values` (finite, evenly spaced, no gaps) by STL.
///
/// Errors when a parameter is invalid or the series is shorter than two
/// periods. Non-finite values are the caller's to fill first; they would
/// spread through the loess fits.
pub fn decompose(values: &[f64], params: &StlParams) -> Result<Decomposition, ParamError> {
    let config = params.resolve(values.len())?;
    let mut stl = Workspace::new(values.len(), config.period);

    let mut use_weights = false;
    for pass in 0..=config.outer {
        stl.inner_loop(values, &config, use_weights);
        if pass == config.outer {
            break;
        }
        stl.robustness_weights(values);
        use_weights = true;
    }

    let Workspace {
        seasonal,
        trend,
        weights,
        ..
    } = stl;
    let residual = values
        .iter()
        .zip(&seasonal)
        .zip(&trend)
        .map(|((y, s), t)| y - s - t)
        .collect();
    Ok(Decomposition {
        seasonal,
        trend,
        residual,
        weights,
    })
}

/// Buffers reused by every pass.
struct Workspace {
    seasonal: Vec<f64>,
    trend: Vec<f64>,
    weights: Vec<f64>,
    /// Detrended (then deseasonalised) series, length n.
    work: Vec<f64>,
    /// Cycle-subseries smooths laid back in time order, one period beyond
    /// each end: length n + 2p.
    cycle: Vec<f64>,
    /// Moving-average and low-pass scratch, length n + 2p.
    low: Vec<f64>,
    scratch: Vec<f64>,
    loess_weights: Vec<f64>,
    sub_values: Vec<f64>,
    sub_weights: Vec<f64>,
    sub_smooth: Vec<f64>,
}

impl Workspace {
    fn new(n: usize, period: usize) -> Self {
        let extended = n + 2 * period;
        let per_phase = n / period + 3;
        Workspace {
            seasonal: vec![0.0; n],
            trend: vec![0.0; n],
            weights: vec![1.0; n],
            work: vec![0.0; n],
            cycle: vec![0.0; extended],
            low: vec![0.0; extended],
            scratch: vec![0.0; extended],
            loess_weights: vec![0.0; extended],
            sub_values: vec![0.0; per_phase],
            sub_weights: vec![0.0; per_phase],
            sub_smooth: vec![0.0; per_phase],
        }
    }

    fn inner_loop(&mut self, values: &[f64], config: &Resolved, use_weights: bool) {
        let n = values.len();
        let period = config.period;
        for _ in 0..config.inner {
            for ((w, y), t) in self.work.iter_mut().zip(values).zip(&self.trend) {
                *w = y - t;
            }
            self.smooth_cycles(config, use_weights);

            moving_average(&self.cycle, period, &mut self.low);
            moving_average(&self.low[..n + period + 1], period, &mut self.scratch);
            moving_average(&self.scratch[..n + 2], 3, &mut self.low);
            loess_smooth(
                &self.low[..n],
                config.low_pass,
                1,
                None,
                &mut self.scratch[..n],
                &mut self.loess_weights,
            );
            let cycle = &self.cycle[period..period + n];
            for (i, value) in values.iter().enumerate() {
                self.seasonal[i] = cycle[i] - self.scratch[i];
                self.work[i] = value - self.seasonal[i];
            }

            let weights = use_weights.then_some(&self.weights[..]);
            loess_smooth(
                &self.work,
                config.trend,
                1,
                weights,
                &mut self.trend,
                &mut self.loess_weights,
            );
        }
    }

    /// Smooths each cycle-subseries of `work` into `cycle`, one value
    /// extrapolated before its first and after its last point.
    fn smooth_cycles(&mut self, config: &Resolved, use_weights: bool) {
        let n = self.work.len();
        let period = config.period;
        let span = config.seasonal;
        let degree = config.seasonal_degree;
        for phase in 0..period {
            let k = (n - phase - 1) / period + 1;
            for i in 0..k {
                self.sub_values[i] = self.work[i * period + phase];
                if use_weights {
                    self.sub_weights[i] = self.weights[i * period + phase];
                }
            }
            let values = &self.sub_values[..k];
            let weights = use_weights.then_some(&self.sub_weights[..k]);
            if config.periodic {
                let mean = weighted_mean(values, weights);
                for m in 0..k + 2 {
                    self.cycle[m * period + phase] = mean;
                }
                continue;
            }
            loess_smooth(
                values,
                span,
                degree,
                weights,
                &mut self.sub_smooth[1..=k],
                &mut self.loess_weights,
            );
            let window = Window {
                left: 1,
                right: span.min(k),
            };
            self.sub_smooth[0] = loess_at(
                values,
                span,
                degree,
                0.0,
                window,
                weights,
                &mut self.loess_weights,
            )
            .unwrap_or(self.sub_smooth[1]);
            let window = Window {
                left: (k + 1).saturating_sub(span).max(1),
                right: k,
            };
            self.sub_smooth[k + 1] = loess_at(
                values,
                span,
                degree,
                (k + 1) as f64,
                window,
                weights,
                &mut self.loess_weights,
            )
            .unwrap_or(self.sub_smooth[k]);
            for m in 0..k + 2 {
                self.cycle[m * period + phase] = self.sub_smooth[m];
            }
        }
    }

    /// Bisquare weights of the residuals over six times their median.
    fn robustness_weights(&mut self, values: &[f64]) {
        for (i, value) in values.iter().enumerate() {
            self.weights[i] = (value - self.trend[i] - self.seasonal[i]).abs();
        }
        self.work.copy_from_slice(&self.weights);
        let limit = 6.0 * median_in_place(&mut self.work);
        if limit == 0.0 {
            self.weights.fill(1.0);
            return;
        }
        // The reference program's cut-offs: weight 1 within 0.1 % of the
        // limit, 0 from 99.9 % of it.
        let (near, far) = (0.001 * limit, 0.999 * limit);
        for weight in &mut self.weights {
            let r = *weight;
            *weight = if r <= near {
                1.0
            } else if r <= far {
                (1.0 - (r / limit).powi(2)).powi(2)
            } else {
                0.0
            };
        }
    }
}

/// The mean of `values` weighted by `weights` (equal weights when `None`
/// or when every weight is zero).
fn weighted_mean(values: &[f64], weights: Option<&[f64]>) -> f64 {
    if let Some(weights) = weights {
        let total: f64 = weights.iter().sum();
        if total > 0.0 {
            return values.iter().zip(weights).map(|(v, w)| v * w).sum::<f64>() / total;
        }
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The median of `values` (which it reorders); the mean of the middle two
/// for an even count.
pub(crate) fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let upper = n / 2;
    let (below, middle, _) = values.select_nth_unstable_by(upper, f64::total_cmp);
    let middle = *middle;
    if n % 2 == 1 {
        middle
    } else {
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + middle)
    }
}

/// Moving averages of `span` consecutive values: `x.len() - span + 1` of
/// them, written to the front of `out`.
fn moving_average(x: &[f64], span: usize, out: &mut [f64]) {
    let count = x.len() + 1 - span;
    let mut sum: f64 = x[..span].iter().sum();
    out[0] = sum / span as f64;
    for j in 1..count {
        sum += x[span + j - 1] - x[j - 1];
        out[j] = sum / span as f64;
    }
}

/// A loess neighbourhood: 1-based positions `left..=right`.
#[derive(Debug, Clone, Copy)]
struct Window {
    left: usize,
    right: usize,
}

/// The loess fit at 1-based position `x` over the points in `window`,
/// with tricube distance weights (times `robustness`, when given) and a
/// local line when `degree` is 1. `None` when every weight is zero.
/// `scratch` holds the weights; it must cover the window.
fn loess_at(
    y: &[f64],
    span: usize,
    degree: u8,
    x: f64,
    window: Window,
    robustness: Option<&[f64]>,
    scratch: &mut [f64],
) -> Option<f64> {
    let n = y.len();
    let range = n as f64 - 1.0;
    let mut h = (x - window.left as f64).max(window.right as f64 - x);
    if span > n {
        h += ((span - n) / 2) as f64;
    }
    // The reference program's cut-offs: full weight within 0.1 % of the
    // bandwidth, none from 99.9 % of it.
    let (near, far) = (0.001 * h, 0.999 * h);

    let positions = window.left - 1..window.right;
    let mut total = 0.0;
    for j in positions.clone() {
        let r = ((j + 1) as f64 - x).abs();
        let mut w = 0.0;
        if r <= far {
            w = if r <= near {
                1.0
            } else {
                (1.0 - (r / h).powi(3)).powi(3)
            };
            if let Some(robustness) = robustness {
                w *= robustness[j];
            }
            total += w;
        }
        scratch[j] = w;
    }
    if total <= 0.0 {
        return None;
    }
    for w in &mut scratch[positions.clone()] {
        *w /= total;
    }

    if h > 0.0 && degree > 0 {
        let centre: f64 = positions.clone().map(|j| scratch[j] * (j + 1) as f64).sum();
        let spread: f64 = positions
            .clone()
            .map(|j| scratch[j] * ((j + 1) as f64 - centre).powi(2))
            .sum();
        // A local line only when the window's positions are spread enough
        // for its slope to be determined.
        if spread.sqrt() > 0.001 * range {
            let slope = (x - centre) / spread;
            for j in positions.clone() {
                scratch[j] *= slope * ((j + 1) as f64 - centre) + 1.0;
            }
        }
    }
    Some(positions.map(|j| scratch[j] * y[j]).sum())
}

/// Loess-smooths all of `y` into `out` (same length) with windows of
/// `span` points, shifted to stay inside the series at its ends. A point
/// whose weights are all zero keeps its own value.
fn loess_smooth(
    y: &[f64],
    span: usize,
    degree: u8,
    robustness: Option<&[f64]>,
    out: &mut [f64],
    scratch: &mut [f64],
) {
    let n = y.len();
    if n < 2 {
        out[..n].copy_from_slice(y);
        return;
    }
    let mut window = Window { left: 1, right: n };
    if span < n {
        window.right = span;
    }
    let shift_after = (span + 2) / 2;
    for i in 0..n {
        if span < n && i + 1 > shift_after && window.right != n {
            window.left += 1;
            window.right += 1;
        }
        out[i] =
            loess_at(y, span, degree, (i + 1) as f64, window, robustness, scratch).unwrap_or(y[i]);
    }
}

#[cfg(test)]
#[path = "stl_tests.rs"]
mod tests;
