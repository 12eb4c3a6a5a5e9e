//! Batch time series: seasonal decomposition and the anomaly tests built
//! on it.
//!
//! - [`stl`]: STL, seasonal-trend decomposition by loess;
//! - [`esd`]: the generalized ESD test, classic and robust;
//! - [`grid`]: timestamps regularised onto an even grid, gaps filled,
//!   the period inferred;
//! - [`seasonal`]: seasonal hybrid ESD, the three together as one
//!   detector ([`seasonal::detect`]);
//! - [`window`]: sliding windows of a series (one per entity) as feature
//!   vectors, so that any batch detector finds collective anomalies (runs of
//!   points that are each normal but abnormal together), with the windows'
//!   scores and attributions mapped back to points, lags and features.

pub mod esd;
pub mod grid;
pub mod seasonal;
pub mod stl;
pub mod window;

#[cfg(test)]
pub(crate) mod reference_data;

use crate::detector::ParamError;

/// Why a series could not be tested.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    #[error("invalid parameter: {0}")]
    Param(#[from] ParamError),
    #[error(
        "the series needs at least two periods of {period} points to separate the season, \
         but spans {n_slots}"
    )]
    TooShort { n_slots: usize, period: usize },
    #[error("a series without timestamps needs its period (points per season)")]
    PeriodNeeded,
    #[error(
        "cannot infer the period from a spacing of {spacing_ms} ms (only sub-daily and daily \
         spacings have a default); give the period"
    )]
    PeriodFromSpacing { spacing_ms: i64 },
    #[error(
        "gaps dominate the series: {n_points} points would fill {n_slots} slots of \
         {spacing_ms} ms"
    )]
    Gaps {
        n_points: usize,
        n_slots: usize,
        spacing_ms: i64,
    },
    #[error("the series has no finite values")]
    NoValues,
}
