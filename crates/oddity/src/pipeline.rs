//! The whole batch workflow in one place: read a training source, sample
//! it, prepare, fit a detector, calibrate its scores, and later score other
//! sources chunk by chunk with explanations.
//!
//! Fitting streams the source once and keeps a uniform reservoir sample of
//! at most [`FitOptions::max_fit_rows`] rows, so fitting memory does not
//! grow with the input either; Isolation Forest only ever looks at a few
//! hundred rows per tree, and the preparation's statistics are estimated
//! from the sample.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{ColumnData, Frame, Input, RecordSource, Schema};
use crate::detector::{Detector, DetectorParams, FittedDetector};
use crate::error::Error;
use crate::explain::{Explanation, explain};
use crate::model_file;
use crate::prep::{ColumnSelection, PrepConfig, PrepReport, Preparation};
use crate::series::window::{self, LagShare, SeriesLayout, WindowParams, Windows};
use crate::threshold::{ScoreCalibration, ThresholdRule};

/// The version of the model payload layout; a model whose payload is newer
/// than this is refused with an upgrade hint instead of being misread.
///
/// Version 2 appends the window options ([`FitOptions::window`]) after the
/// version-1 layout, so a version-1 payload decodes as a model without
/// windows.
pub const PAYLOAD_VERSION: u32 = 2;

/// How a windowed model turns rows into the detector's points; kept in the
/// model so that scoring windows new data exactly as fitting did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowOptions {
    pub params: WindowParams,
    /// Column that orders the rows (numbers or timestamps); `None` keeps
    /// the input order. Never a feature.
    pub time: Option<String>,
    /// Column whose every value is its own series, so that no window spans
    /// two entities. Never a feature.
    pub entity: Option<String>,
}

/// Everything that decides how a model is fitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    pub selection: ColumnSelection,
    pub prep: PrepConfig,
    pub detector: DetectorParams,
    pub threshold: ThresholdRule,
    /// Largest training sample kept in memory; rows beyond it are sampled
    /// uniformly (reservoir sampling). Default 100,000.
    pub max_fit_rows: usize,
    /// Rows per chunk while streaming. Default 65,536.
    pub chunk_rows: usize,
    /// Seed of the training sample; the detector has its own.
    pub seed: u64,
    /// Sliding windows of the series as the detector's points, for
    /// collective anomalies; `None` (the default) scores rows one by one.
    /// A windowed fit keeps every row in memory (windows need them in
    /// order) and samples windows, not rows, beyond `max_fit_rows`.
    ///
    /// Stored after the rest of the model in the payload ([`Model::save`])
    /// rather than in this struct's serialization, so that version-1
    /// payloads, which end where it would begin, still decode.
    #[serde(skip)]
    pub window: Option<WindowOptions>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            selection: ColumnSelection::default(),
            prep: PrepConfig::default(),
            detector: DetectorParams::default(),
            threshold: ThresholdRule::default(),
            max_fit_rows: 100_000,
            chunk_rows: 65_536,
            seed: 42,
            window: None,
        }
    }
}

/// A seeded share of rows kept out of fitting, so that a supervised
/// detector can be judged on rows it did not learn from (`oddity detect
/// --label`). A row is held out by a hash of its 1-based row number and the
/// seed, so the choice streams, repeats for a seed and does not depend on
/// chunking; the held-out share is `fraction` up to sampling noise, and
/// it is not stratified by label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holdout {
    /// Share of rows held out, in [0, 1).
    pub fraction: f64,
    pub seed: u64,
}

impl Holdout {
    /// Whether the row numbered `row` (1-based) is held out.
    pub fn contains(&self, row: u64) -> bool {
        // SplitMix64's finaliser: consecutive rows get unrelated hashes.
        let mut z = row ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < self.fraction
    }
}

/// Which rows of an input a detector is fitted on; by default every row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainingRows {
    /// Rows read (and retained for scoring) but not fitted on.
    pub holdout: Option<Holdout>,
    /// Novelty detection from a labelled input: fit only on rows that the
    /// label column ([`ColumnSelection::label`]) marks normal; rows marked
    /// anomalous and rows without a label are read but not fitted on. The
    /// detector then models normal data alone, and every other row is new
    /// to it. Needs a label column; a supervised detector refuses it (it
    /// must see anomalies).
    pub normal_only: bool,
}

impl TrainingRows {
    /// The rows of `frame` to fit on.
    fn select(&self, frame: &Frame, options: &FitOptions) -> Result<Frame, Error> {
        let labels = if self.normal_only {
            let name = options
                .selection
                .label
                .as_deref()
                .ok_or_else(|| Error::Label {
                    column: String::new(),
                    message: "fitting on normal rows only needs the label column (--label)"
                        .to_string(),
                })?;
            let index = frame.schema.index_of(name).ok_or_else(|| Error::Label {
                column: name.to_string(),
                message: "is not in the input".to_string(),
            })?;
            let labels = labels_from_column(
                &frame.columns[index],
                options.selection.positive_label.as_deref(),
                options.selection.negative_label.as_deref(),
            )
            .map_err(|message| Error::Label {
                column: name.to_string(),
                message,
            })?;
            Some(labels)
        } else {
            None
        };
        if labels.is_none() && self.holdout.is_none() {
            return Ok(frame.clone());
        }
        let mut kept = Frame::with_capacity(frame.schema.clone(), frame.n_rows());
        for row in 0..frame.n_rows() {
            let held_out = self
                .holdout
                .is_some_and(|holdout| holdout.contains(frame.first_row + row as u64));
            let not_normal = labels
                .as_ref()
                .is_some_and(|labels| labels[row] != Some(false));
            if !held_out && !not_normal {
                kept.push_row_from(frame, row);
            }
        }
        kept.first_row = frame.first_row;
        Ok(kept)
    }
}

/// What training saw, kept in the model for `inspect`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Where the training data came from.
    pub input: String,
    /// Rows read from the input.
    pub n_rows_read: u64,
    /// Rows in the training sample before de-duplication.
    pub n_rows_sampled: usize,
    /// Rows the detector was fitted on; windows, for a windowed model.
    pub n_rows_fitted: usize,
    pub n_duplicates_dropped: usize,
    /// Input columns used as features.
    pub n_columns: usize,
    /// Features the detector sees (prepared features times window
    /// positions, for a windowed model).
    pub n_features: usize,
    /// RFC 3339 time the model was fitted.
    pub fitted_at: String,
    /// Version of oddity that fitted the model.
    pub oddity_version: String,
}

/// A fitted model: preparation, detector, calibration and threshold.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Model {
    pub options: FitOptions,
    /// The whole input schema seen in training.
    pub input_schema: Schema,
    pub preparation: Preparation,
    pub detector: FittedDetector,
    pub calibration: ScoreCalibration,
    /// The raw-score threshold that [`FitOptions::threshold`] gave.
    pub threshold: f64,
    pub training: TrainingInfo,
}

/// A fitted preparation and detector, before calibration.
struct Fitted {
    preparation: Preparation,
    detector: FittedDetector,
    /// The scores the calibration and the threshold are fitted on.
    reference_scores: Vec<f64>,
    /// Points (rows or windows) the detector was fitted on.
    n_points: usize,
    n_duplicates_dropped: usize,
    /// Features the detector sees.
    n_features: usize,
}

impl Fitted {
    /// Calibrates the scores, sets the threshold and records what
    /// training saw in `frame` (the sample fitted on).
    fn into_model(
        self,
        frame: &Frame,
        options: &FitOptions,
        input: &str,
        n_rows_read: u64,
    ) -> Result<Model, Error> {
        let calibration = ScoreCalibration::fit(&self.reference_scores)?;
        let threshold = threshold_for(&self.detector, &calibration, &options.threshold)?;
        let training = TrainingInfo {
            input: input.to_string(),
            n_rows_read,
            n_rows_sampled: frame.n_rows(),
            n_rows_fitted: self.n_points,
            n_duplicates_dropped: self.n_duplicates_dropped,
            n_columns: self.preparation.columns.len(),
            n_features: self.n_features,
            fitted_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            oddity_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        Ok(Model {
            options: options.clone(),
            input_schema: (*frame.schema).clone(),
            preparation: self.preparation,
            detector: self.detector,
            calibration,
            threshold,
            training,
        })
    }
}

/// Keeps a uniform random sample of at most `capacity` rows of a stream
/// (Vitter's algorithm R).
#[derive(Debug)]
struct Reservoir {
    sample: Option<Frame>,
    capacity: usize,
    seen: u64,
    rng: Xoshiro256PlusPlus,
}

impl Reservoir {
    fn new(capacity: usize, seed: u64) -> Reservoir {
        Reservoir {
            sample: None,
            capacity: capacity.max(1),
            seen: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    fn offer(&mut self, chunk: &Frame) {
        let sample = self
            .sample
            .get_or_insert_with(|| Frame::empty(chunk.schema.clone()));
        let room = self.capacity - sample.n_rows();
        if chunk.n_rows() <= room {
            sample.append(chunk);
            self.seen += chunk.n_rows() as u64;
            return;
        }
        for row in 0..chunk.n_rows() {
            if sample.n_rows() < self.capacity {
                sample.push_row_from(chunk, row);
            } else {
                let slot = self.rng.random_range(0..=self.seen);
                if slot < self.capacity as u64 {
                    sample.set_row_from(slot as usize, chunk, row);
                }
            }
            self.seen += 1;
        }
    }
}

/// What [`sample_source`] read: the sample to fit on, the number of rows
/// read, and the input kept for scoring it again.
struct SampledInput {
    sample: Frame,
    n_read: u64,
    retained: Retained,
}

/// The input kept in memory by [`sample_source`].
enum Retained {
    /// Larger than the budget: read it again.
    Nothing,
    /// Every chunk read, in order.
    Chunks(Vec<Frame>),
    /// The sample is every row read, in order, and stands for the input.
    Sample,
}

impl SampledInput {
    /// Every row read, in order, when the input was kept.
    fn into_retained(self) -> Option<Vec<Frame>> {
        match self.retained {
            Retained::Nothing => None,
            Retained::Chunks(chunks) => Some(chunks),
            Retained::Sample => Some(vec![self.sample]),
        }
    }
}

/// Reads the whole source, keeping a sample of at most
/// [`FitOptions::max_fit_rows`] rows (every row with windows), and every
/// chunk read while they fit in `retain_bytes`.
///
/// While every row read both fits the sample and is retained, chunks are
/// kept once, not also copied into the sample: when the whole input ends
/// up fitted it is held in memory once, as [`Retained::Sample`]. The first
/// chunk that overflows either fills the reservoir with the chunks kept
/// so far, in order, so the sample is the one offering every chunk as it
/// came would give.
fn sample_source(
    source: &mut dyn RecordSource,
    options: &FitOptions,
    retain_bytes: usize,
    training: TrainingRows,
    on_rows: &mut dyn FnMut(u64),
) -> Result<SampledInput, Error> {
    if training.normal_only && options.detector.is_supervised() {
        return Err(Error::Label {
            column: options.selection.label.clone().unwrap_or_default(),
            message: format!(
                "the {} detector is supervised and learns from anomalies; fitting on normal \
                 rows only is for unsupervised detectors",
                options.detector.name()
            ),
        });
    }
    if training.normal_only && options.window.is_some() {
        // The rows left out would join the rows around them into windows
        // that never happened.
        return Err(window::WindowError::from(crate::detector::ParamError::new(
            "normal_only",
            "must be off with windows",
            true,
        ))
        .into());
    }
    // Windows need every row in order; a windowed fit samples windows.
    let capacity = match options.window {
        Some(_) => usize::MAX,
        None => options.max_fit_rows,
    };
    let mut reservoir = Reservoir::new(capacity, options.seed);
    let mut retained = Some(Vec::new());
    let mut retained_bytes = 0;
    // Every row read is offered to the sample (no holdout, no label filter).
    let offers_every_row = training == TrainingRows::default();
    // Whether every chunk read so far is in `retained` and none is in the
    // reservoir yet.
    let mut deferred = offers_every_row;
    let mut n_read = 0;
    while let Some(chunk) = source.next_chunk(options.chunk_rows)? {
        let chunk_bytes = estimated_bytes(&chunk);
        let fits_sample = (n_read + chunk.n_rows() as u64) <= capacity as u64;
        if deferred && !(fits_sample && retained_bytes + chunk_bytes <= retain_bytes) {
            for kept in retained.iter().flatten() {
                reservoir.offer(kept);
            }
            deferred = false;
        }
        if !deferred {
            if offers_every_row {
                reservoir.offer(&chunk);
            } else {
                reservoir.offer(&training.select(&chunk, options)?);
            }
        }
        n_read += chunk.n_rows() as u64;
        on_rows(n_read);
        if let Some(chunks) = &mut retained {
            retained_bytes += chunk_bytes;
            if retained_bytes <= retain_bytes {
                chunks.push(chunk);
            } else {
                tracing::debug!(retain_bytes, "input larger than the memory budget");
                retained = None;
            }
        }
    }
    if deferred && let Some(chunks) = retained.take().filter(|chunks| !chunks.is_empty()) {
        let mut sample = Frame::with_capacity(
            source.schema().clone(),
            chunks.iter().map(Frame::n_rows).sum(),
        );
        sample.first_row = chunks[0].first_row;
        for chunk in chunks {
            sample.append_moved(chunk);
        }
        return Ok(SampledInput {
            sample,
            n_read,
            retained: Retained::Sample,
        });
    }
    let sample = reservoir
        .sample
        .unwrap_or_else(|| Frame::empty(source.schema().clone()));
    if sample.n_rows() > 0 && (sample.n_rows() as u64) < reservoir.seen {
        tracing::debug!(
            sampled = sample.n_rows(),
            read = reservoir.seen,
            "training on a uniform sample of the input"
        );
    }
    Ok(SampledInput {
        sample,
        n_read,
        retained: retained.map_or(Retained::Nothing, Retained::Chunks),
    })
}

/// A rough size of a frame in memory, for budgets.
fn estimated_bytes(frame: &Frame) -> usize {
    /// Bytes of an `Option<String>` plus a typical short heap string.
    const CATEGORY_CELL_BYTES: usize = 40;
    frame
        .columns
        .iter()
        .map(|column| match column {
            ColumnData::Number(values) => values.len() * 8,
            ColumnData::Boolean(values) => values.len(),
            ColumnData::Timestamp(values) => values.len() * 16,
            ColumnData::Category(values) => values.len() * CATEGORY_CELL_BYTES,
        })
        .sum()
}

/// Frames already in memory, served as a [`RecordSource`].
#[derive(Debug)]
pub struct FrameSource {
    input: Input,
    schema: Arc<Schema>,
    frames: VecDeque<Frame>,
    /// Rows of the front frame already served.
    served: usize,
}

impl FrameSource {
    /// Serves `frames` (all with `schema`) in order.
    pub fn new(input: Input, schema: Arc<Schema>, frames: Vec<Frame>) -> FrameSource {
        FrameSource {
            input,
            schema,
            frames: frames.into(),
            served: 0,
        }
    }
}

impl RecordSource for FrameSource {
    fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn input(&self) -> &Input {
        &self.input
    }

    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Frame>, crate::data::DataError> {
        let Some(frame) = self.frames.front() else {
            return Ok(None);
        };
        let end = frame.n_rows().min(self.served + max_rows.max(1));
        if self.served == 0 && end == frame.n_rows() {
            return Ok(self.frames.pop_front());
        }
        // Copy out the next rows of a frame larger than a chunk, which is
        // dropped once served whole.
        let head = frame.slice(self.served..end);
        if end == frame.n_rows() {
            self.frames.pop_front();
            self.served = 0;
        } else {
            self.served = end;
        }
        Ok(Some(head))
    }
}

impl Model {
    /// Fits a model on every row of `source` (a sample of it when larger
    /// than [`FitOptions::max_fit_rows`]). `on_rows` hears the number of rows
    /// read so far, for progress reports.
    pub fn fit(
        source: &mut dyn RecordSource,
        options: &FitOptions,
        on_rows: &mut dyn FnMut(u64),
    ) -> Result<Model, Error> {
        options
            .detector
            .validate()
            .map_err(crate::detector::FitError::from)?;
        options.threshold.validate()?;
        options.prep.validate()?;
        if let Some(window) = &options.window {
            window
                .params
                .validate()
                .map_err(window::WindowError::from)?;
        }
        let input = source.input().to_string();
        let sampled = sample_source(source, options, 0, TrainingRows::default(), on_rows)?;
        Model::fit_frame(&sampled.sample, options, &input, sampled.n_read)
    }

    /// Like [`Model::fit`], and also returns every chunk read when they
    /// take at most `retain_bytes` in memory, so that a caller scoring the
    /// same input need not read it again.
    ///
    /// `training` chooses the rows fitted on (a holdout, normal rows
    /// only); the others are still read and retained.
    pub fn fit_retaining(
        source: &mut dyn RecordSource,
        options: &FitOptions,
        retain_bytes: usize,
        training: TrainingRows,
        on_rows: &mut dyn FnMut(u64),
    ) -> Result<(Model, Option<Vec<Frame>>), Error> {
        options
            .detector
            .validate()
            .map_err(crate::detector::FitError::from)?;
        options.threshold.validate()?;
        options.prep.validate()?;
        if let Some(window) = &options.window {
            window
                .params
                .validate()
                .map_err(window::WindowError::from)?;
        }
        let input = source.input().to_string();
        let sampled = sample_source(source, options, retain_bytes, training, on_rows)?;
        let model = Model::fit_frame(&sampled.sample, options, &input, sampled.n_read)?;
        Ok((model, sampled.into_retained()))
    }

    /// Fits a model on an in-memory frame (on a uniform sample of
    /// [`FitOptions::max_fit_rows`] of its rows when it is larger).
    ///
    /// A supervised detector ([`DetectorParams::is_supervised`]) learns
    /// from the label column of [`ColumnSelection`], read as
    /// [`labels_from_column`] reads it (missing labels are left out of
    /// training); without one it is an error that asks for `--label`. Its
    /// score is already a probability, and the default rule
    /// ([`ThresholdRule::Auto`]) means probability 0.5 for it.
    pub fn fit_frame(
        frame: &Frame,
        options: &FitOptions,
        input: &str,
        n_rows_read: u64,
    ) -> Result<Model, Error> {
        let resolved = options
            .selection
            .resolve(&frame.schema, options.prep.time_features)?;
        if frame.n_rows() == 0 {
            return Err(Error::NoTrainingRows {
                input: input.to_string(),
            });
        }
        if let Some(window) = &options.window {
            return Model::fit_windows(frame, options, window, input, n_rows_read);
        }
        if let DetectorParams::LstmAutoencoder(params) = &options.detector {
            // Checked here too, not only by the detector, because a
            // `steps` given by hand would otherwise cut rows into
            // meaningless sequences.
            return Err(crate::detector::FitError::NeedsWindow {
                detector: params.name(),
            }
            .into());
        }
        let capacity = options.max_fit_rows.max(1);
        if frame.n_rows() > capacity {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
            let mut rows = rand::seq::index::sample(&mut rng, frame.n_rows(), capacity).into_vec();
            rows.sort_unstable();
            let mut sample = Frame::with_capacity(frame.schema.clone(), rows.len());
            for row in rows {
                sample.push_row_from(frame, row);
            }
            return Model::fit_frame(&sample, options, input, n_rows_read);
        }
        let (
            preparation,
            matrix,
            PrepReport {
                n_rows,
                n_duplicates_dropped,
            },
        ) = Preparation::fit(&options.prep, frame, &resolved.features)?;
        let labels = if options.detector.is_supervised() {
            Some(training_labels(frame, options, resolved.label)?)
        } else {
            None
        };
        let detector = options
            .detector
            .fit_labelled(matrix.view(), labels.as_deref())?;
        let training_scores = match detector.training_scores() {
            Some(scores) => scores.to_vec(),
            None => detector.score(matrix.view()),
        };
        let n_features = preparation.n_outputs();
        let fitted = Fitted {
            preparation,
            detector,
            reference_scores: training_scores,
            n_points: n_rows,
            n_duplicates_dropped,
            n_features,
        };
        fitted.into_model(frame, options, input, n_rows_read)
    }

    /// Fits on the windows of `frame` ([`FitOptions::window`]): the
    /// preparation on every row, the detector on the windows (a seeded
    /// uniform sample of `max_fit_rows` of them when there are more), and
    /// the calibration on the training rows' point scores (the largest
    /// score of the windows that contain each row), since points, not
    /// windows, are what the threshold flags.
    fn fit_windows(
        frame: &Frame,
        options: &FitOptions,
        window: &WindowOptions,
        input: &str,
        n_rows_read: u64,
    ) -> Result<Model, Error> {
        use crate::detector::ParamError;
        use window::WindowError;
        window.params.validate().map_err(WindowError::from)?;
        if options.detector.is_supervised() {
            // A label per window would need a rule (any row? the last?)
            // that no one has asked for yet.
            return Err(WindowError::from(ParamError::new(
                "window",
                "works with unsupervised detectors only",
                options.detector.name(),
            ))
            .into());
        }
        if options.prep.drop_duplicates {
            // Dropping rows would splice windows across the gap.
            return Err(WindowError::from(ParamError::new(
                "drop_duplicates",
                "must be off with windows",
                true,
            ))
            .into());
        }
        let mut resolved = options
            .selection
            .resolve(&frame.schema, options.prep.time_features)?;
        let roles: Vec<usize> = [&window.time, &window.entity]
            .into_iter()
            .flatten()
            .filter_map(|name| frame.schema.index_of(name))
            .collect();
        resolved.features.retain(|index| !roles.contains(index));
        if resolved.features.is_empty() {
            return Err(crate::prep::PrepError::NoFeatures {
                available: frame.schema.names().collect::<Vec<_>>().join(", "),
            }
            .into());
        }
        let layout =
            SeriesLayout::from_frame(frame, window.time.as_deref(), window.entity.as_deref())?;
        let windows = Windows::new(&layout, &window.params)?;
        let (preparation, matrix, _) = Preparation::fit(&options.prep, frame, &resolved.features)?;
        let points = windows.features(&layout, matrix.view(), window.params.representation);

        let capacity = options.max_fit_rows.max(1);
        let sampled = (points.nrows() > capacity).then(|| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
            let mut rows = rand::seq::index::sample(&mut rng, points.nrows(), capacity).into_vec();
            rows.sort_unstable();
            points.select(ndarray::Axis(0), &rows)
        });
        let fitted = sampled.as_ref().unwrap_or(&points);
        let mut detector_params = options.detector.clone();
        if let DetectorParams::LstmAutoencoder(params) = &mut detector_params {
            // A sequence detector reads each window as its steps, in the
            // position-major layout `Windows::features` writes.
            params.steps = window
                .params
                .representation
                .n_positions(window.params.width);
        }
        let detector = detector_params.fit(fitted.view())?;
        let window_scores = match (&sampled, detector.training_scores()) {
            (None, Some(scores)) => scores.to_vec(),
            _ => detector.score_in_sample(points.view()),
        };
        let point_scores = windows.point_scores(&layout, &window_scores, frame.n_rows());
        tracing::debug!(
            windows = windows.len(),
            fitted = fitted.nrows(),
            features = points.ncols(),
            "fitted on windows"
        );
        let fitted = Fitted {
            preparation,
            detector,
            reference_scores: point_scores.score,
            n_points: fitted.nrows(),
            n_duplicates_dropped: 0,
            n_features: points.ncols(),
        };
        fitted.into_model(frame, options, input, n_rows_read)
    }

    /// Replaces the threshold rule without refitting.
    pub fn set_threshold(&mut self, rule: ThresholdRule) -> Result<(), Error> {
        rule.validate()?;
        self.threshold = threshold_for(&self.detector, &self.calibration, &rule)?;
        self.options.threshold = rule;
        Ok(())
    }

    /// Re-calibrates probabilities and the threshold on new reference
    /// scores (used by `detect`, which thresholds the very data it scored).
    pub fn recalibrate(&mut self, reference_scores: &[f64]) -> Result<(), Error> {
        self.calibration = ScoreCalibration::fit(reference_scores)?;
        self.threshold = threshold_for(&self.detector, &self.calibration, &self.options.threshold)?;
        Ok(())
    }

    /// The anomaly probability of a raw score: a supervised detector's
    /// score is one already; other scores go through the calibration.
    pub fn probability(&self, score: f64) -> f64 {
        if self.detector.is_supervised() {
            score.clamp(0.0, 1.0)
        } else {
            self.calibration.probability(score)
        }
    }

    /// Prepares a scorer for sources with `schema`: finds the model's
    /// columns by name and the optional id and label columns (absent id or
    /// label columns are simply not reported).
    pub fn scorer(&self, schema: &Schema) -> Result<Scorer<'_>, Error> {
        let bound = self.preparation.bind(schema)?;
        let find_optional = |name: &Option<String>| {
            name.as_deref()
                .and_then(|name| schema.fields.iter().position(|f| f.name == name))
        };
        Ok(Scorer {
            model: self,
            bound,
            id: find_optional(&self.options.selection.id),
            label: find_optional(&self.options.selection.label),
            in_sample: false,
        })
    }

    /// Type overrides that make a reader see the model's columns as they
    /// were seen in training.
    pub fn read_overrides(&self) -> Vec<(String, crate::data::ColumnKind)> {
        let mut overrides = self.preparation.expected_kinds();
        let window = self.options.window.as_ref();
        for name in [
            &self.options.selection.id,
            &self.options.selection.label,
            &window.and_then(|window| window.time.clone()),
            &window.and_then(|window| window.entity.clone()),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(field) = self.input_schema.fields.iter().find(|f| &f.name == name) {
                overrides.push((field.name.clone(), field.kind));
            }
        }
        overrides
    }

    /// The human-readable header stored in front of the model payload.
    pub fn header(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "oddity model",
            "payload_version": PAYLOAD_VERSION,
            "detector": self.detector.name(),
            "detector_params": self.detector.params(),
            "threshold_rule": self.options.threshold.to_string(),
            "threshold": self.threshold,
            "calibration": self.calibration.summary(),
            "preparation": self.options.prep,
            "columns": self.preparation.columns.iter().map(|c| serde_json::json!({
                "name": c.name, "kind": c.kind,
            })).collect::<Vec<_>>(),
            "features": self.preparation.outputs.iter().map(|o| &o.name).collect::<Vec<_>>(),
            "id_column": self.options.selection.id,
            "label_column": self.options.selection.label,
            "window": self.options.window.as_ref().map(|window| serde_json::json!({
                "width": window.params.width,
                "stride": window.params.stride,
                "representation": window.params.representation,
                "time_column": window.time,
                "entity_column": window.entity,
            })),
            "training": self.training,
        })
    }

    /// Writes the model atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        // Postcard encodes a tuple as its fields one after the other: the
        // model in its version-1 layout, then the window options.
        let payload =
            postcard::to_stdvec(&(self, &self.options.window)).map_err(|error| Error::Encode {
                path: path.display().to_string(),
                message: error.to_string(),
            })?;
        model_file::write(path, &self.header(), &payload)?;
        Ok(())
    }

    /// Reads and verifies a model file.
    pub fn load(path: &Path) -> Result<Model, Error> {
        let (header, payload) = model_file::read(path)?;
        let shown = path.display().to_string();
        let version = header
            .get("payload_version")
            .and_then(serde_json::Value::as_u64);
        let version = match version {
            Some(version) if version > u64::from(PAYLOAD_VERSION) => {
                return Err(Error::Decode {
                    path: shown,
                    message: format!(
                        "model payload version {version} is newer than this oddity reads \
                         ({PAYLOAD_VERSION}); upgrade oddity"
                    ),
                });
            }
            Some(version) => version,
            None => {
                return Err(Error::Decode {
                    path: shown,
                    message: "header has no payload_version; not a model written by oddity".into(),
                });
            }
        };
        let decode_error = |error: postcard::Error| Error::Decode {
            path: shown.clone(),
            message: error.to_string(),
        };
        if version < 2 {
            // Written before windows existed: the model layout alone.
            return postcard::from_bytes(&payload).map_err(decode_error);
        }
        let (mut model, window): (Model, Option<WindowOptions>) =
            postcard::from_bytes(&payload).map_err(decode_error)?;
        model.options.window = window;
        Ok(model)
    }
}

/// Which points get an explanation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExplainWhich {
    #[default]
    None,
    /// Points above the threshold.
    Anomalies,
    All,
}

/// One scored point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    /// 1-based data row in the source.
    pub row: u64,
    /// Value of the id column, when there is one.
    pub id: Option<String>,
    /// Raw detector score: higher is more anomalous.
    pub score: f64,
    /// Calibrated anomaly probability in [0, 1].
    pub probability: f64,
    pub is_anomaly: bool,
    /// Ground truth from the label column, when there is one.
    pub label: Option<bool>,
    /// Boxed, as is `window`: most points carry neither, and a million
    /// scored points then take half the memory.
    pub explanation: Option<Box<Explanation>>,
    /// For a windowed model: the window the score came from.
    pub window: Option<Box<WindowSpan>>,
}

/// The window a windowed point's score came from: the highest-scoring
/// window that contains the point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowSpan {
    /// 1-based data row of the window's first row in time order.
    pub first_row: u64,
    /// 1-based data row of the window's last row (`t` in the lag names).
    pub last_row: u64,
    /// With an explanation: the window's `(feature, lag)` shares, largest
    /// first; empty otherwise.
    pub lags: Vec<LagShare>,
}

/// Most `(feature, lag)` shares kept per explained window.
const MAX_LAG_SHARES: usize = 10;
/// Most `(feature, lag)` shares the reason line names.
const REASON_LAGS: usize = 3;

/// Scores frames of one schema with a model.
#[derive(Debug)]
pub struct Scorer<'m> {
    model: &'m Model,
    bound: Vec<usize>,
    id: Option<usize>,
    label: Option<usize>,
    in_sample: bool,
}

impl Scorer<'_> {
    /// Marks the frames to score as the data the model was fitted on, as
    /// in `oddity detect`: the detector then judges each row without
    /// counting the row itself as evidence of normality
    /// ([`Detector::score_in_sample`]).
    pub fn in_sample(mut self) -> Self {
        self.in_sample = true;
        self
    }

    /// Scores every row of `frame`.
    ///
    /// A windowed model needs the whole series in one frame: it cuts
    /// `frame` into windows as fitting did and gives each row the largest
    /// score of the windows that contain it (so every row is scored, the
    /// first and last `width - 1` of a series from fewer windows); a
    /// series shorter than one window is an error.
    pub fn score(&self, frame: &Frame, which: ExplainWhich) -> Result<Vec<ScoredPoint>, Error> {
        let matrix = self.model.preparation.transform(frame, &self.bound);
        let labels = match self.label {
            Some(index) => Some(
                labels_from_column(
                    &frame.columns[index],
                    self.model.options.selection.positive_label.as_deref(),
                    self.model.options.selection.negative_label.as_deref(),
                )
                .map_err(|message| Error::Label {
                    column: frame.schema.fields[index].name.clone(),
                    message,
                })?,
            ),
            None => None,
        };
        let windowed = match &self.model.options.window {
            Some(options) => Some(WindowedScores::new(self, options, frame, matrix.view())?),
            None => None,
        };
        let scores = match &windowed {
            Some(windowed) => windowed.points.score.clone(),
            None => self.detector_scores(matrix.view()),
        };
        // Building the records (probabilities, ids, explanations) costs as
        // much as a fast detector's scoring at scale, so it runs in parallel
        // too; `collect` keeps the row order.
        let points = scores
            .par_iter()
            .enumerate()
            .map(|(row, &score)| {
                let is_anomaly = score > self.model.threshold;
                let wanted = match which {
                    ExplainWhich::None => false,
                    ExplainWhich::Anomalies => is_anomaly,
                    ExplainWhich::All => true,
                };
                let (explanation, window) = match &windowed {
                    Some(windowed) => {
                        let (explanation, span) = windowed.explain(self, frame, row, wanted);
                        (explanation, Some(span))
                    }
                    None => (
                        wanted.then(|| self.explain_prepared(&matrix, frame, row)),
                        None,
                    ),
                };
                ScoredPoint {
                    row: frame.first_row + row as u64,
                    id: self.id.map(|index| cell_text(&frame.columns[index], row)),
                    score,
                    probability: self.model.probability(score),
                    is_anomaly,
                    label: labels.as_ref().and_then(|labels| labels[row]),
                    explanation: explanation.map(Box::new),
                    window: window.map(Box::new),
                }
            })
            .collect();
        Ok(points)
    }

    /// Explains one row of `frame` regardless of its score (for a windowed
    /// model, through its highest-scoring window; `frame` is then the
    /// whole series, and a series shorter than one window is an error).
    pub fn explain_row(&self, frame: &Frame, row: usize) -> Result<Explanation, Error> {
        let matrix = self.model.preparation.transform(frame, &self.bound);
        match &self.model.options.window {
            Some(options) => {
                let windowed = WindowedScores::new(self, options, frame, matrix.view())?;
                let (explanation, _) = windowed.explain(self, frame, row, true);
                Ok(explanation.expect("an explanation was asked for"))
            }
            None => Ok(self.explain_prepared(&matrix, frame, row)),
        }
    }

    fn detector_scores(&self, points: ndarray::ArrayView2<'_, f64>) -> Vec<f64> {
        if self.in_sample {
            self.model.detector.score_in_sample(points)
        } else {
            self.model.detector.score(points)
        }
    }

    fn explain_prepared(
        &self,
        matrix: &ndarray::Array2<f64>,
        frame: &Frame,
        row: usize,
    ) -> Explanation {
        let shares = self.model.detector.attribute(matrix.row(row));
        explain(&self.model.preparation, &shares, frame, &self.bound, row)
    }
}

/// The windows of one frame scored by a windowed model.
struct WindowedScores<'o> {
    options: &'o WindowOptions,
    layout: SeriesLayout,
    windows: Windows,
    features: ndarray::Array2<f64>,
    points: window::PointScores,
}

impl<'o> WindowedScores<'o> {
    fn new(
        scorer: &Scorer<'_>,
        options: &'o WindowOptions,
        frame: &Frame,
        matrix: ndarray::ArrayView2<'_, f64>,
    ) -> Result<WindowedScores<'o>, Error> {
        let layout =
            SeriesLayout::from_frame(frame, options.time.as_deref(), options.entity.as_deref())?;
        let windows = Windows::new(&layout, &options.params)?;
        let features = windows.features(&layout, matrix, options.params.representation);
        let window_scores = scorer.detector_scores(features.view());
        let points = windows.point_scores(&layout, &window_scores, frame.n_rows());
        Ok(WindowedScores {
            options,
            layout,
            windows,
            features,
            points,
        })
    }

    /// The span of `row`'s window and, when `wanted`, the explanation:
    /// the window's attribution summed over lags describes the columns
    /// (their values at `row`), and the reason names the window and its
    /// largest `(feature, lag)` shares.
    fn explain(
        &self,
        scorer: &Scorer<'_>,
        frame: &Frame,
        row: usize,
        wanted: bool,
    ) -> (Option<Explanation>, WindowSpan) {
        let window = self.points.window[row];
        let rows = self.windows.rows(&self.layout, window);
        let row_number = |index: usize| frame.first_row + index as u64;
        let mut span = WindowSpan {
            first_row: row_number(rows[0]),
            last_row: row_number(rows[rows.len() - 1]),
            lags: Vec::new(),
        };
        if !wanted {
            return (None, span);
        }
        let preparation = &scorer.model.preparation;
        // FIXME: every explained row recomputes its window's attribution,
        // up to 2 * width - 1 times per window; computing it once per
        // distinct window (in parallel, before the rows) would remove the
        // repeats.
        let shares = scorer.model.detector.attribute(self.features.row(window));
        let names: Vec<String> = preparation.outputs.iter().map(|o| o.name.clone()).collect();
        let mut lags = window::lag_shares(
            &shares,
            &names,
            self.options.params.width,
            self.options.params.representation,
        );
        lags.truncate(MAX_LAG_SHARES);
        let output_shares = window::feature_shares(&shares, names.len());
        let mut explanation = explain(preparation, &output_shares, frame, &scorer.bound, row);
        let top: Vec<String> = lags
            .iter()
            .take(REASON_LAGS)
            .map(|lag| format!("{} ({:.0}%)", lag.name, lag.share * 100.0))
            .collect();
        explanation.reason = if top.is_empty() {
            format!(
                "the window of rows {} to {} is unusual as a whole",
                span.first_row, span.last_row
            )
        } else {
            format!(
                "the window of rows {} to {} is unusual as a whole, most in {}",
                span.first_row,
                span.last_row,
                top.join(", ")
            )
        };
        span.lags = lags;
        (Some(explanation), span)
    }
}

/// The raw-score threshold `rule` gives: for a supervised detector the
/// default rule is probability 0.5, the classifier's own decision.
fn threshold_for(
    detector: &FittedDetector,
    calibration: &ScoreCalibration,
    rule: &ThresholdRule,
) -> Result<f64, Error> {
    if *rule == ThresholdRule::Auto && detector.is_supervised() {
        return Ok(0.5);
    }
    Ok(calibration.threshold(rule)?)
}

/// The labels of a supervised detector's training rows.
fn training_labels(
    frame: &Frame,
    options: &FitOptions,
    label: Option<usize>,
) -> Result<Vec<Option<bool>>, Error> {
    let Some(index) = label else {
        return Err(crate::detector::FitError::NeedsLabels {
            detector: options.detector.name(),
        }
        .into());
    };
    if options.prep.drop_duplicates {
        // Preparation drops rows without saying which, so the labels would
        // no longer line up.
        return Err(
            crate::detector::FitError::from(crate::detector::ParamError::new(
                "drop_duplicates",
                "must be off for a supervised detector",
                true,
            ))
            .into(),
        );
    }
    let selection = &options.selection;
    labels_from_column(
        &frame.columns[index],
        selection.positive_label.as_deref(),
        selection.negative_label.as_deref(),
    )
    .map_err(|message| Error::Label {
        column: frame.schema.fields[index].name.clone(),
        message,
    })
}

/// A cell as text, for ids.
pub fn cell_text(data: &ColumnData, row: usize) -> String {
    match data {
        ColumnData::Number(values) => crate::explain::format_number(values[row]),
        ColumnData::Category(values) => values[row].clone().unwrap_or_default(),
        ColumnData::Boolean(values) => values[row].map(|v| v.to_string()).unwrap_or_default(),
        ColumnData::Timestamp(values) => values[row].map(|v| v.to_string()).unwrap_or_default(),
    }
}

/// Words that mean "anomaly" in a category label column.
const POSITIVE_WORDS: &[&str] = &[
    "1",
    "true",
    "yes",
    "anomaly",
    "anomalous",
    "outlier",
    "attack",
    "fraud",
    "abnormal",
];
/// Words that mean "normal" in a category label column.
const NEGATIVE_WORDS: &[&str] = &["0", "false", "no", "normal", "inlier", "benign", "ok"];

/// Reads a label column as ground truth (`true` = anomaly; `None` = missing).
///
/// Numbers: non-zero is an anomaly. Booleans: as they are. Categories:
/// equal to `positive` when given; different from `negative` when given
/// (every value but the normal one is an anomaly); else the usual words
/// (`anomaly`/`normal`, `attack`, `fraud`, `yes`/`no`, ...), and any other
/// word is an error that asks for `--positive` or `--negative`.
pub fn labels_from_column(
    data: &ColumnData,
    positive: Option<&str>,
    negative: Option<&str>,
) -> Result<Vec<Option<bool>>, String> {
    match data {
        ColumnData::Number(values) => Ok(values
            .iter()
            .map(|v| if v.is_nan() { None } else { Some(*v != 0.0) })
            .collect()),
        ColumnData::Boolean(values) => Ok(values.clone()),
        ColumnData::Category(values) => values
            .iter()
            .map(|value| {
                let Some(text) = value.as_deref() else {
                    return Ok(None);
                };
                if let Some(positive) = positive {
                    return Ok(Some(text == positive));
                }
                if let Some(negative) = negative {
                    return Ok(Some(text != negative));
                }
                let lower = text.trim().trim_end_matches('.').to_ascii_lowercase();
                if POSITIVE_WORDS.contains(&lower.as_str()) {
                    Ok(Some(true))
                } else if NEGATIVE_WORDS.contains(&lower.as_str()) {
                    Ok(Some(false))
                } else {
                    Err(format!(
                        "cannot tell whether \"{text}\" means anomaly or normal; \
                         name the anomalous value with --positive or the normal one with --negative"
                    ))
                }
            })
            .collect(),
        ColumnData::Timestamp(_) => Err("a timestamp column cannot be a label".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ColumnKind, Field};
    use crate::detector::FitError;
    use crate::explain::Direction;
    use proptest::prelude::*;
    use rand_distr::{Distribution, StandardNormal};

    fn frame(columns: Vec<(&str, ColumnData)>) -> Frame {
        let fields = columns
            .iter()
            .map(|(name, data)| Field::new(*name, data.kind()))
            .collect();
        Frame {
            schema: Arc::new(Schema::new(fields)),
            columns: columns.into_iter().map(|(_, data)| data).collect(),
            first_row: 1,
        }
    }

    fn gaussian_columns(n_points: usize, n_features: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n_features)
            .map(|_| {
                (0..n_points)
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn planted_column_ranks_first_in_the_explanation() {
        let names = ["a", "b", "c", "d", "e"];
        for planted in 0..names.len() {
            let mut columns = gaussian_columns(2000, names.len(), 3);
            columns[planted][123] = 9.0;
            let data = frame(
                names
                    .iter()
                    .zip(columns)
                    .map(|(name, values)| (*name, ColumnData::Number(values)))
                    .collect(),
            );
            let model = Model::fit_frame(&data, &FitOptions::default(), "test", 2000).unwrap();
            let points = model
                .scorer(&data.schema)
                .unwrap()
                .score(&data, ExplainWhich::All)
                .unwrap();
            // Rows are numbered from 1.
            let point = &points[123];
            assert_eq!(point.row, 124);
            // One extreme feature among five isolates the point in only the
            // trees that split on it early, so it need not rank first
            // (scikit-learn ranks it similarly); its explanation must still
            // name the planted column.
            let explanation = point.explanation.as_ref().unwrap();
            let top = &explanation.contributions[0];
            assert_eq!(top.column, names[planted], "{explanation:?}");
            assert_eq!(top.direction, Direction::Above);
            assert_eq!(top.value, "9");
            assert!(
                explanation
                    .reason
                    .starts_with(&format!("{} = 9 is above", names[planted]))
            );
        }
    }

    #[test]
    fn planted_rare_category_is_explained_by_its_column() {
        let mut columns = gaussian_columns(1000, 2, 5);
        let mut kinds: Vec<Option<String>> = (0..1000)
            .map(|i| Some(["x", "y"][i % 2].to_string()))
            .collect();
        kinds[500] = Some("never".to_string());
        columns[0][500] = 0.0;
        columns[1][500] = 0.0;
        let data = frame(vec![
            ("u", ColumnData::Number(columns.remove(0))),
            ("v", ColumnData::Number(columns.remove(0))),
            ("kind", ColumnData::Category(kinds)),
        ]);
        let model = Model::fit_frame(&data, &FitOptions::default(), "test", 1000).unwrap();
        let scorer = model.scorer(&data.schema).unwrap();
        let explanation = scorer.explain_row(&data, 500).unwrap();
        assert_eq!(
            explanation.contributions[0].column, "kind",
            "{explanation:?}"
        );
    }

    #[test]
    fn saved_model_scores_exactly_like_the_original() {
        let columns = gaussian_columns(500, 3, 9);
        let data = frame(vec![
            ("a", ColumnData::Number(columns[0].clone())),
            ("b", ColumnData::Number(columns[1].clone())),
            ("c", ColumnData::Number(columns[2].clone())),
        ]);
        let model = Model::fit_frame(&data, &FitOptions::default(), "test", 500).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.oddity");
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        let score = |model: &Model| {
            model
                .scorer(&data.schema)
                .unwrap()
                .score(&data, ExplainWhich::All)
                .unwrap()
        };
        assert_eq!(score(&model), score(&loaded));
        assert_eq!(model.threshold, loaded.threshold);
    }

    #[test]
    fn every_detector_fits_ranks_a_planted_row_first_and_round_trips() {
        // Extreme in every column: tail-probability detectors (ECOD, COPOD)
        // cap each column's evidence, so one extreme column among normal
        // ones need not rank first for them; the per-detector tests cover
        // single-column attribution.
        // The label column marks the planted row for the supervised
        // detectors; the others never see it.
        let mut columns = gaussian_columns(600, 3, 4);
        columns[0][77] = 7.0;
        columns[1][77] = 9.0;
        columns[2][77] = -7.0;
        let label: Vec<f64> = (0..600).map(|row| f64::from(u8::from(row == 77))).collect();
        let data = frame(vec![
            ("a", ColumnData::Number(columns[0].clone())),
            ("b", ColumnData::Number(columns[1].clone())),
            ("c", ColumnData::Number(columns[2].clone())),
            ("y", ColumnData::Number(label)),
        ]);
        let dir = tempfile::tempdir().unwrap();
        for name in crate::detector::DETECTOR_NAMES {
            let mut detector = crate::detector::detector_by_name(name).unwrap();
            if detector.is_supervised() {
                // One labelled anomaly in 600 needs its class weighed up,
                // and a forest tree whose bootstrap missed it (about a third
                // of them) scores it 0, so every tree sees every row here.
                let mut settings = vec![("class_weight".into(), "balanced".into())];
                if *name == "forest" {
                    settings.push(("bootstrap".into(), "false".into()));
                }
                detector = detector.with_settings(&settings).unwrap();
            }
            let options = FitOptions {
                detector,
                selection: ColumnSelection {
                    label: Some("y".into()),
                    ..ColumnSelection::default()
                },
                ..FitOptions::default()
            };
            if matches!(options.detector, DetectorParams::LstmAutoencoder(_)) {
                // A sequence detector refuses rows that are not windows.
                let error = Model::fit_frame(&data, &options, "test", 600).unwrap_err();
                assert!(
                    error.to_string().contains("give --window W"),
                    "{name}: {error}"
                );
                continue;
            }
            let model = match Model::fit_frame(&data, &options, "test", 600) {
                // The autoencoders' training is left out of builds without
                // their feature; their own tests cover that error.
                Err(Error::Fit(FitError::NotBuilt { .. })) if !cfg!(feature = "autoencoder") => {
                    continue;
                }
                result => result.unwrap(),
            };
            let path = dir.path().join(format!("{name}.oddity"));
            model.save(&path).unwrap();
            let loaded = Model::load(&path).unwrap();
            let scorer = model.scorer(&data.schema).unwrap().in_sample();
            let points = scorer.score(&data, ExplainWhich::Anomalies).unwrap();
            let top = points
                .iter()
                .max_by(|x, y| x.score.total_cmp(&y.score))
                .unwrap();
            assert_eq!(top.row, 78, "{name}");
            assert!(
                top.is_anomaly,
                "{name}: threshold {}, score {}",
                model.threshold, top.score
            );
            let explanation = top.explanation.as_ref().unwrap();
            assert!(!explanation.contributions.is_empty(), "{name}");
            let reloaded = loaded
                .scorer(&data.schema)
                .unwrap()
                .in_sample()
                .score(&data, ExplainWhich::Anomalies)
                .unwrap();
            assert_eq!(points, reloaded, "{name}");
            // In-sample rows are judged as the training scores that set the
            // threshold judged them.
            if let Some(training) = model.detector.training_scores() {
                let scores: Vec<f64> = points.iter().map(|point| point.score).collect();
                for (row, (x, y)) in scores.iter().zip(training).enumerate() {
                    assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{name} row {row}");
                }
            }
        }
    }

    #[test]
    fn supervised_models_learn_the_label_and_output_its_probability() {
        let columns = gaussian_columns(400, 2, 6);
        let label: Vec<Option<String>> = (0..400)
            .map(|row| {
                Some(
                    if columns[1][row] > 0.8 {
                        "attack"
                    } else {
                        "normal"
                    }
                    .into(),
                )
            })
            .collect();
        let data = frame(vec![
            ("a", ColumnData::Number(columns[0].clone())),
            ("b", ColumnData::Number(columns[1].clone())),
            ("y", ColumnData::Category(label)),
        ]);
        let unlabelled = FitOptions {
            detector: crate::detector::detector_by_name("tree").unwrap(),
            ..FitOptions::default()
        };
        let error = Model::fit_frame(&data, &unlabelled, "t", 400).unwrap_err();
        assert!(error.to_string().contains("--label"), "{error}");

        let options = FitOptions {
            selection: ColumnSelection {
                label: Some("y".into()),
                ..ColumnSelection::default()
            },
            ..unlabelled
        };
        let model = Model::fit_frame(&data, &options, "t", 400).unwrap();
        // The label is no feature, and the default rule is probability 0.5.
        assert_eq!(model.training.n_features, 2);
        assert_eq!(model.threshold, 0.5);
        let points = model
            .scorer(&data.schema)
            .unwrap()
            .score(&data, ExplainWhich::Anomalies)
            .unwrap();
        for point in &points {
            assert_eq!(point.probability, point.score);
            assert_eq!(Some(point.is_anomaly), point.label);
            if let Some(explanation) = &point.explanation {
                assert_eq!(explanation.contributions[0].column, "b");
            }
        }
        let duplicates = FitOptions {
            prep: PrepConfig {
                drop_duplicates: true,
                ..PrepConfig::default()
            },
            ..options
        };
        let error = Model::fit_frame(&data, &duplicates, "t", 400).unwrap_err();
        assert!(error.to_string().contains("drop_duplicates"), "{error}");
    }

    #[test]
    fn held_out_rows_are_read_but_not_fitted() {
        let columns = gaussian_columns(5000, 1, 2);
        let data = frame(vec![("a", ColumnData::Number(columns[0].clone()))]);
        let holdout = Holdout {
            fraction: 0.3,
            seed: 42,
        };
        let mut source = FrameSource::new(Input::Stdin, data.schema.clone(), vec![data.clone()]);
        let (model, retained) = Model::fit_retaining(
            &mut source,
            &FitOptions::default(),
            usize::MAX,
            TrainingRows {
                holdout: Some(holdout),
                normal_only: false,
            },
            &mut |_| {},
        )
        .unwrap();
        let held_out = (1..=5000).filter(|&row| holdout.contains(row)).count();
        assert!((1350..1650).contains(&held_out), "{held_out}");
        assert_eq!(model.training.n_rows_read, 5000);
        assert_eq!(model.training.n_rows_fitted, 5000 - held_out);
        assert_eq!(retained.unwrap()[0].n_rows(), 5000);
    }

    #[test]
    fn normal_only_fits_on_rows_labelled_normal() {
        // 900 normal rows near 0, 100 anomalies near 10: fitted on the
        // normal rows alone, the model has never seen the anomalies, so a
        // threshold calibrated on its training scores (a false-alarm rate
        // of 1 % on normal data) flags them all and few others.
        let columns = gaussian_columns(1000, 1, 4);
        let values: Vec<f64> = columns[0]
            .iter()
            .enumerate()
            .map(|(row, value)| if row % 10 == 0 { 10.0 + value } else { *value })
            .collect();
        let labels: Vec<f64> = (0..1000)
            .map(|row| if row % 10 == 0 { 1.0 } else { 0.0 })
            .collect();
        let data = frame(vec![
            ("a", ColumnData::Number(values)),
            ("y", ColumnData::Number(labels)),
        ]);
        let options = FitOptions {
            selection: ColumnSelection {
                label: Some("y".to_string()),
                ..ColumnSelection::default()
            },
            threshold: ThresholdRule::Contamination(0.01),
            ..FitOptions::default()
        };
        let normal_only = TrainingRows {
            holdout: None,
            normal_only: true,
        };
        let fit = |options: &FitOptions, training| {
            let mut source =
                FrameSource::new(Input::Stdin, data.schema.clone(), vec![data.clone()]);
            Model::fit_retaining(&mut source, options, usize::MAX, training, &mut |_| {})
        };
        let (model, retained) = fit(&options, normal_only).unwrap();
        assert_eq!(model.training.n_rows_read, 1000);
        assert_eq!(model.training.n_rows_fitted, 900);
        assert_eq!(
            retained.unwrap()[0].n_rows(),
            1000,
            "every row is kept to score"
        );
        let scored = model
            .scorer(&data.schema)
            .unwrap()
            .score(&data, ExplainWhich::None)
            .unwrap();
        let flagged: Vec<bool> = scored.iter().map(|point| point.is_anomaly).collect();
        assert!((0..1000).step_by(10).all(|row| flagged[row]));
        let n_flagged = flagged.iter().filter(|&&is| is).count();
        assert!(n_flagged < 125, "{n_flagged} flagged");

        let unlabelled = FitOptions {
            selection: ColumnSelection::default(),
            ..options.clone()
        };
        let error = fit(&unlabelled, normal_only).unwrap_err();
        assert!(error.to_string().contains("--label"), "{error}");
        let supervised = FitOptions {
            detector: crate::detector::detector_by_name("tree").unwrap(),
            ..options
        };
        let error = fit(&supervised, normal_only).unwrap_err();
        assert!(error.to_string().contains("supervised"), "{error}");
    }

    #[test]
    fn large_frames_are_fitted_on_a_sample() {
        let columns = gaussian_columns(3000, 2, 1);
        let data = frame(vec![
            ("a", ColumnData::Number(columns[0].clone())),
            ("b", ColumnData::Number(columns[1].clone())),
        ]);
        let options = FitOptions {
            max_fit_rows: 1000,
            ..FitOptions::default()
        };
        let model = Model::fit_frame(&data, &options, "test", 3000).unwrap();
        assert_eq!(model.training.n_rows_fitted, 1000);
        assert_eq!(model.training.n_rows_read, 3000);
    }

    #[test]
    fn frame_source_splits_chunks_and_keeps_row_numbers() {
        let data = frame(vec![(
            "a",
            ColumnData::Number((0..10).map(f64::from).collect()),
        )]);
        let mut source = FrameSource::new(Input::Stdin, data.schema.clone(), vec![data]);
        let mut firsts = Vec::new();
        let mut values = Vec::new();
        while let Some(chunk) = source.next_chunk(4).unwrap() {
            firsts.push((chunk.first_row, chunk.n_rows()));
            values.extend_from_slice(chunk.columns[0].as_numbers().unwrap());
        }
        assert_eq!(firsts, vec![(1, 4), (5, 4), (9, 2)]);
        assert_eq!(values, (0..10).map(f64::from).collect::<Vec<_>>());
    }

    #[test]
    fn retaining_the_input_fits_the_sample_reading_alone_would() {
        // Chunks of 700 rows of 3000: the sample holds the whole input, or
        // overflows at the second chunk, and the budget keeps every chunk
        // or gives up after two. Whichever way the input is kept, the
        // model is the one a plain fit gives.
        let columns = gaussian_columns(3000, 2, 5);
        let data = frame(vec![
            ("a", ColumnData::Number(columns[0].clone())),
            ("b", ColumnData::Number(columns[1].clone())),
        ]);
        let chunk_bytes = 700 * 2 * 8;
        for (max_fit_rows, budget, expected_chunks) in [
            (3000, usize::MAX, Some(1)),
            (1000, usize::MAX, Some(5)),
            (3000, 2 * chunk_bytes, None),
            (1000, 2 * chunk_bytes, None),
        ] {
            let options = FitOptions {
                max_fit_rows,
                chunk_rows: 700,
                ..FitOptions::default()
            };
            let source = || FrameSource::new(Input::Stdin, data.schema.clone(), vec![data.clone()]);
            let plain = Model::fit(&mut source(), &options, &mut |_| {}).unwrap();
            let (model, retained) = Model::fit_retaining(
                &mut source(),
                &options,
                budget,
                TrainingRows::default(),
                &mut |_| {},
            )
            .unwrap();
            let case = format!("max_fit_rows {max_fit_rows}, budget {budget}");
            assert_eq!(model.training.n_rows_fitted, max_fit_rows, "{case}");
            let scores = |model: &Model| -> Vec<f64> {
                let scorer = model.scorer(&data.schema).unwrap();
                let points = scorer.score(&data, ExplainWhich::None).unwrap();
                points.iter().map(|point| point.score).collect()
            };
            assert_eq!(scores(&model), scores(&plain), "{case}");
            assert_eq!(retained.as_ref().map(Vec::len), expected_chunks, "{case}");
            if let Some(frames) = retained {
                assert_eq!(Frame::concat(data.schema.clone(), &frames), data, "{case}");
            }
        }
    }

    #[test]
    fn labels_are_read_from_numbers_booleans_and_words() {
        let numbers = ColumnData::Number(vec![0.0, 1.0, f64::NAN]);
        assert_eq!(
            labels_from_column(&numbers, None, None).unwrap(),
            vec![Some(false), Some(true), None]
        );
        let words = ColumnData::Category(vec![Some("attack".into()), Some("normal.".into()), None]);
        assert_eq!(
            labels_from_column(&words, None, None).unwrap(),
            vec![Some(true), Some(false), None]
        );
        let odd = ColumnData::Category(vec![Some("smurf.".into())]);
        assert!(
            labels_from_column(&odd, None, None)
                .unwrap_err()
                .contains("--positive")
        );
        assert_eq!(
            labels_from_column(&odd, None, Some("normal.")).unwrap(),
            vec![Some(true)]
        );
        assert_eq!(
            labels_from_column(&odd, Some("smurf."), None).unwrap(),
            vec![Some(true)]
        );
    }

    /// Any mix of finite, missing and infinite numbers, categories and
    /// constant columns, with any number of rows, fits and scores without
    /// panicking, and every point gets a finite score and a probability in
    /// [0, 1].
    fn cell() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => -1e6..1e6f64,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(0.0),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn fitting_and_scoring_never_panic(
            rows in prop::collection::vec((cell(), cell(), 0u8..3, any::<bool>()), 1..60),
        ) {
            let data = frame(vec![
                ("x", ColumnData::Number(rows.iter().map(|r| r.0).collect())),
                ("y", ColumnData::Number(rows.iter().map(|r| r.1).collect())),
                ("k", ColumnData::Category(rows.iter().map(|r| Some(r.2.to_string())).collect())),
                ("flag", ColumnData::Boolean(rows.iter().map(|r| Some(r.3)).collect())),
                ("constant", ColumnData::Number(vec![1.0; rows.len()])),
            ]);
            let model = Model::fit_frame(&data, &FitOptions::default(), "p", rows.len() as u64)
                .expect("fits on any non-empty frame");
            let points = model
                .scorer(&data.schema)
                .expect("binds its own schema")
                .score(&data, ExplainWhich::All)
                .expect("scores");
            prop_assert_eq!(points.len(), rows.len());
            for point in points {
                prop_assert!(point.score.is_finite());
                prop_assert!((0.0..=1.0).contains(&point.probability));
            }
        }
    }

    #[test]
    fn kinds_are_checked_when_binding() {
        let data = frame(vec![("a", ColumnData::Number(vec![1.0, 2.0]))]);
        let model = Model::fit_frame(&data, &FitOptions::default(), "t", 2).unwrap();
        let other = Schema::new(vec![Field::new("a", ColumnKind::Category)]);
        let error = model.scorer(&other).unwrap_err();
        assert!(error.to_string().contains("was a number column"), "{error}");
    }
}
