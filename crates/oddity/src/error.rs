//! The library's error type: one variant per phase, each carrying the
//! phase's own typed error so callers can match on what went wrong.

use crate::data::DataError;
use crate::detector::FitError;
use crate::eval::EvalError;
use crate::model_file::ModelFileError;
use crate::online::OnlineError;
use crate::prep::PrepError;
use crate::series::window::WindowError;
use crate::threshold::ThresholdError;

/// Anything that can go wrong between reading data and writing a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or parsing input; names the file, row and column.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Selecting or preparing columns.
    #[error(transparent)]
    Prep(#[from] PrepError),
    /// Arranging rows into series and windows.
    #[error(transparent)]
    Window(#[from] WindowError),
    /// Fitting a detector.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// Choosing a threshold or calibrating scores.
    #[error(transparent)]
    Threshold(#[from] ThresholdError),
    /// Reading or writing the model file container.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    /// Building or restoring an online detector.
    #[error(transparent)]
    Online(OnlineError),
    /// A column cannot feed a streaming detector.
    #[error("column \"{column}\" {message}")]
    StreamColumn { column: String, message: String },
    /// Computing evaluation metrics.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The input had a header but no data rows to learn from.
    #[error("{input}: no data rows to fit on")]
    NoTrainingRows { input: String },
    /// A label column holds values that cannot be read as ground truth.
    #[error("label column \"{column}\": {message}")]
    Label { column: String, message: String },
    /// The model payload could not be encoded.
    #[error("{path}: cannot encode the model: {message}")]
    Encode { path: String, message: String },
    /// The model payload could not be decoded although its checksum held.
    #[error("{path}: cannot decode the model: {message}")]
    Decode { path: String, message: String },
}
