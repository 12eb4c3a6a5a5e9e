//! oddity: an anomaly detection engine.
//!
//! The library does the whole batch workflow without any terminal, network
//! or logging set-up of its own (it only emits `tracing` events):
//!
//! - [`data`]: typed columns from CSV, TSV, JSON Lines and Parquet, streamed
//!   in chunks;
//! - [`prep`]: imputation, scaling and category encoding, fitted once;
//! - [`detector`]: the detector abstraction and its families;
//! - [`supervised`]: classifiers for labelled data (logistic regression,
//!   decision tree, random forest) as detectors;
//! - [`threshold`]: calibrated probabilities and anomaly thresholds;
//! - [`explain`]: per-column reasons for each anomaly;
//! - [`eval`]: ROC-AUC, PR-AUC, precision at k and the confusion matrix;
//! - [`model_file`]: the versioned, checksummed model container;
//! - [`nab`]: the Numenta Anomaly Benchmark scorer for streaming detectors;
//! - [`pipeline`]: all of the above as one fitted [`Model`];
//! - [`series`]: sliding windows of a series as points for any batch
//!   detector (collective anomalies);
//! - [`online`]: detectors that learn one point at a time (random cut
//!   forest, half-space trees);
//! - [`series`]: batch time series: STL decomposition and seasonal
//!   hybrid ESD;
//! - [`stream`]: an online detector with an adaptive threshold and alert
//!   hysteresis, record by record, checkpointed to a model file;
//! - [`benchmark`]: the ADBench protocol and its published results.
//!
//! ```
//! use oddity::data::{ColumnData, ColumnKind, Field, Frame, Schema};
//! use oddity::pipeline::{ExplainWhich, FitOptions, Model};
//! use std::sync::Arc;
//!
//! let mut values: Vec<f64> = (0..200).map(|i| (i % 20) as f64).collect();
//! values.push(1000.0);
//! let schema = Arc::new(Schema::new(vec![Field::new("latency", ColumnKind::Number)]));
//! let frame = Frame { schema, columns: vec![ColumnData::Number(values)], first_row: 1 };
//!
//! let model = Model::fit_frame(&frame, &FitOptions::default(), "example", 201)?;
//! let points = model.scorer(&frame.schema)?.score(&frame, ExplainWhich::Anomalies)?;
//! let worst = points.iter().max_by(|a, b| a.score.total_cmp(&b.score)).unwrap();
//! assert_eq!(worst.row, 201);
//! assert!(worst.is_anomaly);
//! # Ok::<(), oddity::Error>(())
//! ```

pub mod benchmark;
pub mod data;
pub mod detector;
mod error;
pub mod eval;
pub mod explain;
pub mod model_file;
pub mod nab;
pub mod online;
pub mod pipeline;
pub mod prep;
pub mod series;
mod special;
pub mod spot;
pub mod stream;
pub mod supervised;
pub mod threshold;

pub use error::Error;
pub use pipeline::Model;
