//! Detection on series: rows in time order, optionally one series per
//! entity. [`window`] turns sliding windows of a series into feature
//! vectors, so that any batch detector finds collective anomalies (runs of
//! points that are each normal but abnormal together), and maps the
//! windows' scores and attributions back to points, lags and features.

pub mod window;
