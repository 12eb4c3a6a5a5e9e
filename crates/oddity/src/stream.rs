//! Streaming detection: an online detector, an adaptive threshold and
//! alert hysteresis, applied record by record.
//!
//! A [`StreamModel`] scores each record against what it has learned so far,
//! then learns from it (prequential order), so a record never vouches for
//! itself. Its whole state (detector, threshold, open incident) saves to a
//! model file and restores to give exactly the scores an uninterrupted run
//! would have given.
//!
//! The threshold ([`StreamThreshold`]) adapts as the stream goes: it keeps
//! the most recent scores in a window, refits a [`ScoreCalibration`] on them
//! at a fixed cadence and applies a [`ThresholdRule`] (by default median
//! plus three robust standard deviations, with a generalized Pareto tail
//! for the extreme rules), or, when [`StreamThresholdParams::spot`] is set,
//! follows SPOT's extreme-value tail ([`crate::spot`]): a score is flagged
//! when a normal score would exceed it with less than a chosen risk. Flags
//! then pass through hysteresis: an incident
//! opens on the first flagged record, raises one alert, and stays open
//! until `cooldown` records in a row are below the threshold, so one
//! incident does not raise a storm of alerts.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{ColumnData, ColumnKind, Frame, Schema};
use crate::error::Error;
use crate::model_file;
use crate::online::{
    AnomalyLikelihood, AnomalyLikelihoodParams, OnlineDetector, OnlineError, OnlineModel,
    OnlineParams, log_likelihood,
};
use crate::pipeline::{cell_text, labels_from_column};
use crate::prep::ColumnSelection;
use crate::spot::{Spot, SpotParams};
use crate::threshold::{ScoreCalibration, ThresholdError, ThresholdRule};

/// Layout version of the stream model payload; newer payloads are refused.
pub const STREAM_PAYLOAD_VERSION: u32 = 4;

/// The `kind` a stream model file's header declares.
pub const STREAM_MODEL_KIND: &str = "oddity stream model";

/// How the adaptive threshold and the alert hysteresis behave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamThresholdParams {
    /// The rule applied to the window of recent scores; default
    /// [`ThresholdRule::Auto`].
    pub rule: ThresholdRule,
    /// Most recent scores the threshold is fitted on; default 10,000.
    pub window: usize,
    /// Records whose scores are left out of the window because the
    /// detector is still learning; default 500. No record is flagged
    /// before the first threshold is fitted.
    pub warmup: u64,
    /// Records between refits of the threshold; default 500.
    pub refit_every: usize,
    /// Records in a row below the threshold that close an incident;
    /// default 20.
    pub cooldown: u64,
    /// When set, SPOT (or DSPOT) sets the threshold from an extreme-value
    /// tail fitted as the stream goes, instead of `rule` on the window;
    /// `window` and `refit_every` are then unused. The warm-up still comes
    /// first, then SPOT's own calibration. Default unset.
    pub spot: Option<SpotParams>,
}

impl Default for StreamThresholdParams {
    fn default() -> Self {
        StreamThresholdParams {
            rule: ThresholdRule::default(),
            window: 10_000,
            warmup: 500,
            refit_every: 500,
            cooldown: 20,
            spot: None,
        }
    }
}

impl StreamThresholdParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        self.rule.validate()?;
        if let Some(spot) = &self.spot {
            spot.validate()?;
        }
        for (name, value) in [
            ("window", self.window as u64),
            ("refit_every", self.refit_every as u64),
            ("cooldown", self.cooldown),
        ] {
            if value == 0 {
                return Err(ThresholdError::invalid(name, "at least 1", 0.0));
            }
        }
        Ok(())
    }
}

/// What the threshold decided about one record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// The threshold in force when the record was judged; `None` while the
    /// threshold is still warming up.
    pub threshold: Option<f64>,
    /// The record's score is above the threshold.
    pub is_anomaly: bool,
    /// The record opened a new incident: the one record of an incident that
    /// should page someone.
    pub alert: bool,
}

/// An adaptive threshold over a stream of scores, with hysteresis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamThreshold {
    params: StreamThresholdParams,
    /// Scores observed so far, including warm-up and non-finite ones.
    n_observed: u64,
    recent: VecDeque<f64>,
    since_refit: usize,
    threshold: Option<f64>,
    /// The SPOT state, when the parameters ask for it.
    spot: Option<Spot>,
    /// Consecutive records below the threshold while an incident is open.
    quiet_run: u64,
    incident_open: bool,
    n_incidents: u64,
}

impl StreamThreshold {
    /// A threshold with nothing observed yet.
    pub fn new(params: StreamThresholdParams) -> Result<StreamThreshold, ThresholdError> {
        params.validate()?;
        let spot = params.spot.clone().map(Spot::new).transpose()?;
        Ok(StreamThreshold {
            spot,
            params,
            n_observed: 0,
            recent: VecDeque::new(),
            since_refit: 0,
            threshold: None,
            quiet_run: 0,
            incident_open: false,
            n_incidents: 0,
        })
    }

    /// The parameters in force.
    pub fn params(&self) -> &StreamThresholdParams {
        &self.params
    }

    /// The current threshold, once fitted.
    pub fn current(&self) -> Option<f64> {
        match &self.spot {
            Some(spot) => spot.current(),
            None => self.threshold,
        }
    }

    /// The SPOT state, when SPOT sets the threshold.
    pub fn spot(&self) -> Option<&Spot> {
        self.spot.as_ref()
    }

    /// Checks a decoded state against its parameters.
    pub fn check_state(&self) -> Result<(), String> {
        self.params.validate().map_err(|error| error.to_string())?;
        match (&self.spot, &self.params.spot) {
            (Some(spot), Some(params)) if spot.params() == params => spot.check_state(),
            (None, None) => Ok(()),
            _ => Err("SPOT state differs from the threshold parameters".to_string()),
        }
    }

    /// Incidents opened so far.
    pub fn n_incidents(&self) -> u64 {
        self.n_incidents
    }

    /// The bytes the state holds, its buffers counted by length.
    pub fn state_bytes(&self) -> usize {
        size_of::<Self>()
            + self.recent.len() * size_of::<f64>()
            + self.spot.as_ref().map_or(0, Spot::state_bytes)
    }

    /// Judges `score` against the current threshold, then learns from it
    /// after the warm-up: adds it to the window and refits when due, or,
    /// with SPOT, passes it to [`Spot::observe`]. A non-finite score is
    /// never an anomaly and is never learnt.
    pub fn observe(&mut self, score: f64) -> Decision {
        let (threshold, is_anomaly) = self.judge(score);
        let mut alert = false;
        if is_anomaly {
            self.quiet_run = 0;
            if !self.incident_open {
                self.incident_open = true;
                self.n_incidents += 1;
                alert = true;
            }
        } else if self.incident_open {
            self.quiet_run += 1;
            if self.quiet_run >= self.params.cooldown {
                self.incident_open = false;
                self.quiet_run = 0;
            }
        }

        Decision {
            threshold,
            is_anomaly,
            alert,
        }
    }

    /// The threshold in force for `score` and whether `score` exceeds it;
    /// learns from `score` after the warm-up.
    fn judge(&mut self, score: f64) -> (Option<f64>, bool) {
        self.n_observed += 1;
        let warming_up = self.n_observed <= self.params.warmup;
        if let Some(spot) = &mut self.spot {
            if warming_up {
                return (None, false);
            }
            let decision = spot.observe(score);
            return (decision.threshold, decision.is_anomaly);
        }
        let threshold = self.threshold;
        let is_anomaly = score.is_finite() && threshold.is_some_and(|limit| score > limit);
        if score.is_finite() && !warming_up {
            if self.recent.len() == self.params.window {
                self.recent.pop_front();
            }
            self.recent.push_back(score);
            self.since_refit += 1;
            if self.since_refit >= self.params.refit_every {
                self.refit();
            }
        }
        (threshold, is_anomaly)
    }

    fn refit(&mut self) {
        self.since_refit = 0;
        let (front, back) = self.recent.as_slices();
        let reference = [front, back].concat();
        // Calibration fails only without finite scores, which the window
        // never holds; keeping the old threshold is the safe fallback.
        if let Ok(limit) = ScoreCalibration::fit(&reference)
            .and_then(|calibration| calibration.threshold(&self.params.rule))
        {
            self.threshold = Some(limit);
        }
    }
}

/// Everything that decides how a stream is processed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Which columns are features, label and id. Timestamp columns are
    /// never features (they order the stream); category columns are an
    /// error.
    pub selection: ColumnSelection,
    pub detector: OnlineParams,
    pub threshold: StreamThresholdParams,
    /// Report the anomaly likelihood of the detector's raw scores, on
    /// [`log_likelihood`]'s scale, instead of the raw scores: a scale that
    /// is the same for every stream (0.5 is a tail probability of 1e-5),
    /// so a fixed threshold fits all. `None` reports raw scores.
    pub likelihood: Option<AnomalyLikelihoodParams>,
    /// A column naming the entity each record belongs to (a host, a
    /// customer): every entity gets its own detector, likelihood and
    /// threshold, so one busy machine does not set the bar for a quiet one.
    /// Never a feature. `None`: one model for the whole stream.
    pub entity: Option<String>,
    /// Most entities kept at once, the memory budget of per-entity models:
    /// a new entity beyond it replaces the one seen least recently, which
    /// starts afresh if it comes back. Default [`DEFAULT_MAX_ENTITIES`].
    pub max_entities: usize,
    /// A budget in bytes for the per-entity states together (detector,
    /// likelihood, threshold, gap tracker and key, as
    /// [`StreamModel::state_bytes`] counts them): after each record, the
    /// least recently seen entities are replaced until the total fits,
    /// never the entity just processed. `None`: only `max_entities`
    /// bounds them.
    pub max_bytes: Option<usize>,
    /// A timestamp column giving each record's time: calendar detectors
    /// ([`crate::online::SeasonalProfile`]) place the record in its season,
    /// and a record arriving after an unusually long silence of its entity
    /// is reported with [`StreamPoint::gap_ms`]. Never a feature. `None`:
    /// records have no time (a calendar detector refuses that). A record
    /// whose time is missing keeps the time of the record before it.
    pub time: Option<String>,
    /// A silence longer than this many times the entity's median spacing
    /// of its last [`SPACING_HISTORY`] records is a gap; at least 1.
    /// Default [`DEFAULT_GAP_FACTOR`].
    pub gap_factor: f64,
}

/// How many recent spacings between an entity's records the gap rule
/// takes the median of.
pub const SPACING_HISTORY: usize = 32;

/// Spacings a gap rule needs before it reports gaps.
const MIN_SPACINGS: usize = 8;

/// The gap factor unless [`StreamOptions::gap_factor`] says otherwise: a
/// silence of five usual spacings is four missing records in a row.
pub const DEFAULT_GAP_FACTOR: f64 = 5.0;

/// Entities kept at once unless [`StreamOptions::max_entities`] says
/// otherwise. A default random cut forest over ten features takes about a
/// megabyte, so a thousand of them fit in a few gigabytes at most.
pub const DEFAULT_MAX_ENTITIES: usize = 1000;

/// The threshold that suits likelihood scores when the user names none: a
/// log likelihood of 0.5, a tail probability of 1e-5 (the "extreme" level
/// of the likelihood's own capping).
pub const LIKELIHOOD_THRESHOLD: f64 = 0.5;

/// One processed record.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamPoint {
    /// 1-based data row in the source.
    pub row: u64,
    /// Value of the id column, when there is one.
    pub id: Option<String>,
    /// Score against the state before this record was learned; NaN for a
    /// record with a missing or non-finite feature (it is not learned).
    pub score: f64,
    pub decision: Decision,
    /// The record's entity, when the stream has an entity column (missing
    /// values are the entity `""`).
    pub entity: Option<String>,
    /// Ground truth from the label column, when there is one.
    pub label: Option<bool>,
    /// Per-feature shares of the score, largest first, for anomalies when
    /// asked for.
    pub contributions: Option<Vec<(String, f64)>>,
    /// Milliseconds since the entity's previous record, when that silence
    /// was a gap (longer than [`StreamOptions::gap_factor`] times the usual
    /// spacing): records were missing or the source stalled.
    pub gap_ms: Option<i64>,
}

/// Which columns of a schema a [`StreamModel`] reads.
#[derive(Clone, Debug)]
pub struct StreamBinding {
    features: Vec<usize>,
    id: Option<usize>,
    label: Option<usize>,
    entity: Option<usize>,
    time: Option<usize>,
}

/// The learned state of one entity (or of the whole stream).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct EntityState {
    detector: OnlineModel,
    likelihood: Option<AnomalyLikelihood>,
    threshold: StreamThreshold,
    /// The model's record count when this entity was last seen, for
    /// replacing the least recently seen one.
    last_seen: u64,
    spacing: SpacingTracker,
}

/// The recent spacings of one entity's timestamps, to recognise gaps.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SpacingTracker {
    last_time: Option<i64>,
    /// The last [`SPACING_HISTORY`] positive spacings, oldest overwritten.
    spacings: Vec<i64>,
    next: usize,
}

impl SpacingTracker {
    /// Records `time` and returns the silence before it when that was a gap
    /// by `factor`. A time earlier than the last one (a late record) is
    /// neither a gap nor learned from; repeated times are not learned.
    fn observe(&mut self, time: i64, factor: f64) -> Option<i64> {
        let last = self
            .last_time
            .replace(time.max(self.last_time.unwrap_or(time)))?;
        let spacing = time.checked_sub(last).filter(|&spacing| spacing > 0)?;
        let gap = (self.spacings.len() >= MIN_SPACINGS)
            .then(|| {
                let mut sorted = self.spacings.clone();
                sorted.sort_unstable();
                sorted[sorted.len() / 2]
            })
            .filter(|&usual| spacing as f64 > factor * usual as f64)
            .map(|_| spacing);
        if self.spacings.len() < SPACING_HISTORY {
            self.spacings.push(spacing);
        } else {
            self.spacings[self.next] = spacing;
        }
        self.next = (self.next + 1) % SPACING_HISTORY;
        gap
    }
}

impl EntityState {
    /// The bytes this entity's state and its key hold.
    fn state_bytes(&self, key: &str) -> usize {
        size_of::<Self>()
            + key.len()
            + self.detector.state_bytes()
            + self
                .likelihood
                .as_ref()
                .map_or(0, AnomalyLikelihood::state_bytes)
            + self.threshold.state_bytes()
            + self.spacing.spacings.len() * size_of::<i64>()
    }

    fn new(options: &StreamOptions, n_features: usize) -> Result<EntityState, Error> {
        Ok(EntityState {
            detector: OnlineModel::new(&options.detector, n_features)?,
            likelihood: options
                .likelihood
                .clone()
                .map(AnomalyLikelihood::new)
                .transpose()?,
            threshold: StreamThreshold::new(options.threshold.clone())?,
            last_seen: 0,
            spacing: SpacingTracker::default(),
        })
    }
}

/// Online detectors with their adaptive thresholds and feature columns:
/// one for the whole stream, or one per entity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamModel {
    pub options: StreamOptions,
    feature_names: Vec<String>,
    /// Keyed by entity; the whole stream is the entity `""` when there is
    /// no entity column.
    entities: BTreeMap<String, EntityState>,
    n_records: u64,
    /// Incidents of entities since replaced, so the total survives them.
    forgotten_incidents: u64,
    n_replaced: u64,
    /// Under a byte budget, the sum of the entities'
    /// [`EntityState::state_bytes`], kept up to date record by record and
    /// recomputed on load; 0 without a budget, where nothing reads it.
    #[serde(skip)]
    state_bytes: usize,
}

impl StreamModel {
    /// A fresh model whose features are chosen from `schema`.
    pub fn new(options: StreamOptions, schema: &Schema) -> Result<StreamModel, Error> {
        if options.max_entities == 0 {
            return Err(Error::Online(OnlineError::param(
                "max_entities",
                "must be at least 1",
                0,
            )));
        }
        let mut selection = options.selection.clone();
        if let Some(entity) = &options.entity {
            if schema.index_of(entity).is_none() {
                return Err(Error::StreamColumn {
                    column: entity.clone(),
                    message: "is the entity column but not in the input".to_string(),
                });
            }
            selection.exclude.push(entity.clone());
        }
        if !(options.gap_factor >= 1.0 && options.gap_factor.is_finite()) {
            return Err(Error::Online(OnlineError::param(
                "gap_factor",
                "must be finite and at least 1",
                options.gap_factor,
            )));
        }
        match &options.time {
            Some(time) => match schema.index_of(time).map(|index| schema.fields[index].kind) {
                Some(ColumnKind::Timestamp) => {}
                Some(kind) => {
                    return Err(Error::StreamColumn {
                        column: time.clone(),
                        message: format!(
                            "is the time column but holds {kind} values; declare it with \
                             --type {time}=timestamp"
                        ),
                    });
                }
                None => {
                    return Err(Error::StreamColumn {
                        column: time.clone(),
                        message: "is the time column but not in the input".to_string(),
                    });
                }
            },
            None if matches!(options.detector, OnlineParams::Seasonal(_)) => {
                return Err(Error::StreamColumn {
                    column: String::new(),
                    message: "the seasonal detector needs each record's time: name a \
                              timestamp column with --time"
                        .to_string(),
                });
            }
            None => {}
        }
        let resolved = selection.resolve(schema, false)?;
        let mut feature_names = Vec::new();
        for index in resolved.features {
            let field = &schema.fields[index];
            match field.kind {
                ColumnKind::Number | ColumnKind::Boolean => feature_names.push(field.name.clone()),
                ColumnKind::Timestamp => {}
                ColumnKind::Category => {
                    return Err(Error::StreamColumn {
                        column: field.name.clone(),
                        message: "is a category column; streaming detectors take numbers \
                                  (exclude it with --exclude, or give it as --id)"
                            .to_string(),
                    });
                }
            }
        }
        if feature_names.is_empty() {
            return Err(Error::StreamColumn {
                column: String::new(),
                message: "no numeric feature columns to stream".to_string(),
            });
        }
        // Building one state up front checks every parameter now rather
        // than at the first record.
        let first = EntityState::new(&options, feature_names.len())?;
        let entities = if options.entity.is_none() {
            BTreeMap::from([(String::new(), first)])
        } else {
            BTreeMap::new()
        };
        Ok(StreamModel {
            options,
            feature_names,
            entities,
            n_records: 0,
            forgotten_incidents: 0,
            state_bytes: 0,
            n_replaced: 0,
        })
    }

    /// The feature columns, in the detector's order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The online detector's name (`random_cut_forest`).
    pub fn detector_name(&self) -> &'static str {
        self.options.detector.name()
    }

    /// The online detector of `entity` (`""` without an entity column),
    /// if it is kept.
    pub fn detector(&self, entity: &str) -> Option<&OnlineModel> {
        self.entities.get(entity).map(|state| &state.detector)
    }

    /// The adaptive threshold of `entity` (`""` without an entity column),
    /// if it is kept.
    pub fn threshold(&self, entity: &str) -> Option<&StreamThreshold> {
        self.entities.get(entity).map(|state| &state.threshold)
    }

    /// Incidents opened so far, over every entity, replaced ones included.
    pub fn n_incidents(&self) -> u64 {
        self.forgotten_incidents
            + self
                .entities
                .values()
                .map(|state| state.threshold.n_incidents())
                .sum::<u64>()
    }

    /// Entities kept now.
    pub fn n_entities(&self) -> usize {
        self.entities.len()
    }

    /// Entities replaced so far to stay within `max_entities`.
    pub fn n_replaced(&self) -> u64 {
        self.n_replaced
    }

    /// Records processed so far, over every run of this model.
    pub fn n_records(&self) -> u64 {
        self.n_records
    }

    /// Finds the model's columns in `schema`; every feature must be there
    /// and numeric.
    pub fn bind(&self, schema: &Schema) -> Result<StreamBinding, Error> {
        let available = || {
            schema
                .fields
                .iter()
                .map(|field| field.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut features = Vec::with_capacity(self.feature_names.len());
        for name in &self.feature_names {
            let index = schema.index_of(name).ok_or_else(|| Error::StreamColumn {
                column: name.clone(),
                message: format!(
                    "is a feature of the model but not in the input ({})",
                    available()
                ),
            })?;
            if !matches!(
                schema.fields[index].kind,
                ColumnKind::Number | ColumnKind::Boolean
            ) {
                return Err(Error::StreamColumn {
                    column: name.clone(),
                    message: format!(
                        "must be numeric, but the input has it as {}",
                        schema.fields[index].kind
                    ),
                });
            }
            features.push(index);
        }
        let find = |name: &Option<String>| name.as_deref().and_then(|name| schema.index_of(name));
        let entity = find(&self.options.entity);
        if let (Some(name), None) = (&self.options.entity, entity) {
            return Err(Error::StreamColumn {
                column: name.clone(),
                message: format!(
                    "is the entity column but not in the input ({})",
                    available()
                ),
            });
        }
        let time = find(&self.options.time);
        if let Some(name) = &self.options.time {
            match time.map(|index| schema.fields[index].kind) {
                Some(ColumnKind::Timestamp) => {}
                found => {
                    let message = match found {
                        Some(kind) => format!("is the time column but the input has it as {kind}"),
                        None => {
                            format!("is the time column but not in the input ({})", available())
                        }
                    };
                    return Err(Error::StreamColumn {
                        column: name.clone(),
                        message,
                    });
                }
            }
        }
        Ok(StreamBinding {
            features,
            id: find(&self.options.selection.id),
            label: find(&self.options.selection.label),
            entity,
            time,
        })
    }

    /// Scores, judges and learns every row of `frame` in order. With
    /// `explain`, anomalies get per-feature shares computed before the
    /// record is learned.
    pub fn process(
        &mut self,
        frame: &Frame,
        binding: &StreamBinding,
        explain: bool,
    ) -> Result<Vec<StreamPoint>, Error> {
        let labels = match binding.label {
            Some(index) => Some(
                labels_from_column(
                    &frame.columns[index],
                    self.options.selection.positive_label.as_deref(),
                    self.options.selection.negative_label.as_deref(),
                )
                .map_err(|message| Error::Label {
                    column: frame.schema.fields[index].name.clone(),
                    message,
                })?,
            ),
            None => None,
        };
        let mut point = vec![0.0; binding.features.len()];
        let mut out = Vec::with_capacity(frame.n_rows());
        for row in 0..frame.n_rows() {
            for (slot, &column) in point.iter_mut().zip(&binding.features) {
                *slot = numeric_cell(&frame.columns[column], row);
            }
            let entity = binding
                .entity
                .map(|index| cell_text(&frame.columns[index], row));
            let n_features = self.feature_names.len();
            let key = entity.clone().unwrap_or_default();
            if !self.entities.contains_key(&key) {
                self.make_room();
                let state = EntityState::new(&self.options, n_features)?;
                if self.counts_bytes() {
                    self.state_bytes += state.state_bytes(&key);
                }
                self.entities.insert(key.clone(), state);
            }
            // Counting a state's bytes walks its buffers: only a byte
            // budget needs it after every record.
            let counts_bytes = self.counts_bytes();
            let state = self
                .entities
                .get_mut(&key)
                .expect("the entity was just found or inserted");
            let bytes_before = if counts_bytes {
                state.state_bytes(&key)
            } else {
                0
            };
            state.last_seen = self.n_records;
            let time = binding.time.and_then(|index| match &frame.columns[index] {
                ColumnData::Timestamp(values) => values[row],
                _ => None,
            });
            let gap_ms = time.and_then(|time| {
                state.detector.observe_time(time);
                state.spacing.observe(time, self.options.gap_factor)
            });
            let (score, contributions) = if explain {
                let score = state.detector.score_one(&point);
                let decision_preview = state.threshold.current().is_some_and(|t| score > t);
                let contributions = decision_preview.then(|| {
                    named_shares(&self.feature_names, state.detector.attribute_one(&point))
                });
                state.detector.learn_one(&point);
                (score, contributions)
            } else {
                (state.detector.score_learn_one(&point), None)
            };
            let score = match state.likelihood.as_mut() {
                // A record the detector could not score leaves the
                // likelihood's history untouched, as it leaves the detector.
                Some(likelihood) if score.is_finite() => {
                    let level = point.iter().sum::<f64>() / point.len() as f64;
                    log_likelihood(likelihood.update(level, score))
                }
                _ => score,
            };
            let decision = state.threshold.observe(score);
            if counts_bytes {
                self.state_bytes = self.state_bytes + state.state_bytes(&key) - bytes_before;
            }
            self.n_records += 1;
            self.fit_byte_budget(&key);
            out.push(StreamPoint {
                row: frame.first_row + row as u64,
                id: binding
                    .id
                    .map(|index| cell_text(&frame.columns[index], row)),
                score,
                decision,
                entity,
                label: labels.as_ref().and_then(|labels| labels[row]),
                contributions: contributions.filter(|_| decision.is_anomaly),
                gap_ms,
            });
        }
        Ok(out)
    }

    /// Forgets the least recently seen entity when a new one would exceed
    /// `max_entities`.
    fn make_room(&mut self) {
        if self.entities.len() >= self.options.max_entities {
            self.forget_least_recent(None);
        }
    }

    /// Forgets least recently seen entities, never `current`, until the
    /// states fit `max_bytes`.
    fn fit_byte_budget(&mut self, current: &str) {
        let Some(budget) = self.options.max_bytes else {
            return;
        };
        while self.state_bytes > budget && self.entities.len() > 1 {
            self.forget_least_recent(Some(current));
        }
    }

    /// Forgets the least recently seen entity other than `spare`.
    fn forget_least_recent(&mut self, spare: Option<&str>) {
        let oldest = self
            .entities
            .iter()
            .filter(|(key, _)| Some(key.as_str()) != spare)
            .min_by_key(|(_, state)| state.last_seen)
            .map(|(key, _)| key.clone());
        if let Some((key, state)) = oldest.and_then(|key| self.entities.remove_entry(&key)) {
            if self.counts_bytes() {
                self.state_bytes -= state.state_bytes(&key);
            }
            self.forgotten_incidents += state.threshold.n_incidents();
            self.n_replaced += 1;
        }
    }

    /// The bytes the per-entity states hold together (see
    /// [`StreamOptions::max_bytes`]).
    pub fn state_bytes(&self) -> usize {
        if self.counts_bytes() {
            self.state_bytes
        } else {
            self.summed_state_bytes()
        }
    }

    /// The entities' [`EntityState::state_bytes`] summed afresh.
    fn summed_state_bytes(&self) -> usize {
        self.entities
            .iter()
            .map(|(key, state)| state.state_bytes(key))
            .sum()
    }

    /// Whether a byte budget makes the model keep [`Self::state_bytes`]
    /// up to date record by record.
    fn counts_bytes(&self) -> bool {
        self.options.max_bytes.is_some()
    }

    /// The human-readable header stored in front of the payload.
    pub fn header(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": STREAM_MODEL_KIND,
            "payload_version": STREAM_PAYLOAD_VERSION,
            "detector": self.detector_name(),
            "detector_params": self.options.detector,
            "threshold_params": self.options.threshold,
            "likelihood_params": self.options.likelihood,
            "threshold": self.threshold("").and_then(StreamThreshold::current),
            "entity_column": self.options.entity,
            "time_column": self.options.time,
            "n_entities": self.entities.len(),
            "max_entity_bytes": self.options.max_bytes,
            "entity_state_bytes": self.state_bytes(),
            "features": self.feature_names,
            "id_column": self.options.selection.id,
            "label_column": self.options.selection.label,
            "n_records": self.n_records,
            "n_incidents": self.n_incidents(),
        })
    }

    /// Writes the whole state atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let payload = postcard::to_stdvec(self).map_err(|error| Error::Encode {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        model_file::write(path, &self.header(), &payload)?;
        Ok(())
    }

    /// Reads, verifies and checks a stream model file.
    pub fn load(path: &Path) -> Result<StreamModel, Error> {
        let (header, payload) = model_file::read(path)?;
        let shown = path.display().to_string();
        let decode_error = |message: String| Error::Decode {
            path: shown.clone(),
            message,
        };
        if header.get("kind").and_then(serde_json::Value::as_str) != Some(STREAM_MODEL_KIND) {
            return Err(decode_error(
                "not a stream model (a batch model is used with `oddity score`)".to_string(),
            ));
        }
        match header
            .get("payload_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(version) if version == u64::from(STREAM_PAYLOAD_VERSION) => {}
            Some(version) if version < u64::from(STREAM_PAYLOAD_VERSION) => {
                return Err(decode_error(format!(
                    "stream model payload version {version} was written by an older oddity \
                     whose stream state this one cannot continue; start a new stream model"
                )));
            }
            Some(version) => {
                return Err(decode_error(format!(
                    "stream model payload version {version} is newer than this oddity reads \
                     ({STREAM_PAYLOAD_VERSION}); upgrade oddity"
                )));
            }
            None => return Err(decode_error("header has no payload_version".to_string())),
        }
        let mut model: StreamModel =
            postcard::from_bytes(&payload).map_err(|error| decode_error(error.to_string()))?;
        if model.counts_bytes() {
            model.state_bytes = model.summed_state_bytes();
        }
        if model.entities.len() > model.options.max_entities {
            return Err(decode_error(format!(
                "holds {} entities, more than its max_entities {}",
                model.entities.len(),
                model.options.max_entities
            )));
        }
        for (entity, state) in &model.entities {
            let corrupt = |problem: String| decode_error(format!("entity {entity:?}: {problem}"));
            state
                .detector
                .check_state()
                .map_err(|error| corrupt(error.to_string()))?;
            if let Some(likelihood) = &state.likelihood {
                likelihood
                    .check_state()
                    .map_err(|error| corrupt(error.to_string()))?;
            }
            if state.likelihood.is_some() != model.options.likelihood.is_some() {
                return Err(corrupt(
                    "likelihood state differs from the options".to_string(),
                ));
            }
            if state.detector.n_features() != model.feature_names.len() {
                return Err(corrupt(
                    "detector width differs from the feature list".to_string(),
                ));
            }
            state.threshold.check_state().map_err(corrupt)?;
        }
        Ok(model)
    }
}

/// Per-feature shares named and sorted, largest first; zero shares left out.
fn named_shares(feature_names: &[String], shares: Vec<f64>) -> Vec<(String, f64)> {
    let mut named: Vec<(String, f64)> = feature_names
        .iter()
        .cloned()
        .zip(shares)
        .filter(|(_, share)| *share > 0.0)
        .collect();
    named.sort_by(|a, b| b.1.total_cmp(&a.1));
    named
}

/// A cell as a detector input: numbers as they are, booleans as 0/1,
/// missing as NaN (which the detector neither scores nor learns).
fn numeric_cell(data: &ColumnData, row: usize) -> f64 {
    match data {
        ColumnData::Number(values) => values[row],
        ColumnData::Boolean(values) => values[row].map_or(f64::NAN, f64::from),
        ColumnData::Category(_) | ColumnData::Timestamp(_) => f64::NAN,
    }
}

impl From<OnlineError> for Error {
    fn from(error: OnlineError) -> Self {
        Error::Online(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Field;
    use crate::online::RandomCutForestParams;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand_distr::{Distribution, StandardNormal};
    use std::sync::Arc;

    fn frame(columns: Vec<(&str, ColumnData)>, first_row: u64) -> Frame {
        let fields = columns
            .iter()
            .map(|(name, data)| Field::new(*name, data.kind()))
            .collect();
        Frame {
            schema: Arc::new(Schema::new(fields)),
            columns: columns.into_iter().map(|(_, data)| data).collect(),
            first_row,
        }
    }

    fn series(n: usize, spike_at: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut a: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        let b: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        a[spike_at] = 12.0;
        (a, b)
    }

    fn options() -> StreamOptions {
        StreamOptions {
            selection: ColumnSelection::default(),
            detector: OnlineParams::RandomCutForest(RandomCutForestParams {
                n_trees: 20,
                sample_size: 64,
                ..RandomCutForestParams::default()
            }),
            threshold: StreamThresholdParams {
                warmup: 100,
                refit_every: 100,
                ..StreamThresholdParams::default()
            },
            likelihood: None,
            entity: None,
            max_entities: DEFAULT_MAX_ENTITIES,
            max_bytes: None,
            time: None,
            gap_factor: DEFAULT_GAP_FACTOR,
        }
    }

    #[test]
    fn spike_is_flagged_alerted_once_and_explained_by_its_column() {
        let (a, b) = series(3000, 2500, 1);
        let data = frame(
            vec![("a", ColumnData::Number(a)), ("b", ColumnData::Number(b))],
            1,
        );
        let mut model = StreamModel::new(options(), &data.schema).unwrap();
        let binding = model.bind(&data.schema).unwrap();
        let points = model.process(&data, &binding, true).unwrap();
        let spike = &points[2500];
        assert!(spike.decision.is_anomaly, "{spike:?}");
        let top = &spike.contributions.as_ref().unwrap()[0];
        assert_eq!(top.0, "a");
        let worst = points
            .iter()
            .max_by(|x, y| x.score.total_cmp(&y.score))
            .unwrap();
        assert_eq!(worst.row, 2501);
        // Warm-up: nothing is judged before the first threshold.
        assert!(points[..200].iter().all(|p| !p.decision.is_anomaly));
        let alerts = points.iter().filter(|p| p.decision.alert).count();
        let flagged = points.iter().filter(|p| p.decision.is_anomaly).count();
        assert!(alerts <= flagged);
    }

    fn likelihood_options() -> StreamOptions {
        StreamOptions {
            likelihood: Some(AnomalyLikelihoodParams::default()),
            threshold: StreamThresholdParams {
                rule: ThresholdRule::Score(LIKELIHOOD_THRESHOLD),
                ..options().threshold
            },
            ..options()
        }
    }

    #[test]
    fn likelihood_scores_flag_an_incident_on_a_fixed_scale() {
        // The likelihood judges a moving average of raw scores, so it is
        // made for incidents that last a few records, not lone spikes.
        let (mut a, b) = series(3000, 2500, 3);
        a[2501..2506].fill(12.0);
        let data = frame(
            vec![("a", ColumnData::Number(a)), ("b", ColumnData::Number(b))],
            1,
        );
        let mut model = StreamModel::new(likelihood_options(), &data.schema).unwrap();
        let binding = model.bind(&data.schema).unwrap();
        let points = model.process(&data, &binding, false).unwrap();
        assert!(points.iter().all(|p| (0.0..=1.0).contains(&p.score)));
        // Numenta's learning period: a likelihood of exactly one half.
        assert_eq!(points[100].score, log_likelihood(0.5));
        let flagged: Vec<usize> = points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.decision.is_anomaly)
            .map(|(index, _)| index)
            .collect();
        // Flagged within the incident and only around it.
        assert!(
            flagged.iter().any(|&i| (2500..2506).contains(&i)),
            "{flagged:?}"
        );
        assert!(
            flagged.iter().all(|&i| (2500..2530).contains(&i)),
            "{flagged:?}"
        );
    }

    /// Two machines interleaved around the same level 50: a steady one
    /// (spread 0.1) and a noisy one (spread 10); the steady one jumps to 53
    /// at `spike_at`, thirty of its spreads but well within the other's.
    fn two_machines(n: usize, spike_at: usize) -> Frame {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut hosts = Vec::with_capacity(n);
        let mut load = Vec::with_capacity(n);
        for row in 0..n {
            let noise: f64 = StandardNormal.sample(&mut rng);
            if row % 2 == 0 {
                hosts.push(Some("quiet".to_string()));
                load.push(if row == spike_at {
                    53.0
                } else {
                    50.0 + 0.1 * noise
                });
            } else {
                hosts.push(Some("busy".to_string()));
                load.push(50.0 + 10.0 * noise);
            }
        }
        frame(
            vec![
                ("host", ColumnData::Category(hosts)),
                ("load", ColumnData::Number(load)),
            ],
            1,
        )
    }

    fn entity_options(max_entities: usize) -> StreamOptions {
        StreamOptions {
            entity: Some("host".to_string()),
            max_entities,
            max_bytes: None,
            ..options()
        }
    }

    #[test]
    fn each_entity_is_judged_against_its_own_history() {
        let data = two_machines(6000, 5000);
        let mut model = StreamModel::new(entity_options(10), &data.schema).unwrap();
        let binding = model.bind(&data.schema).unwrap();
        let points = model.process(&data, &binding, false).unwrap();
        assert_eq!(model.n_entities(), 2);
        assert_eq!(points[5000].entity.as_deref(), Some("quiet"));
        assert!(points[5000].decision.is_anomaly, "{:?}", points[5000]);
        // Each entity learned only its own records.
        assert_eq!(model.detector("quiet").unwrap().n_seen(), 3000);

        // One model for both: the steady machine's jump is within the noisy
        // one's spread, so it is not flagged.
        // Without --entity the category column must be left out by hand.
        let error = StreamModel::new(options(), &data.schema).unwrap_err();
        assert!(error.to_string().contains("host"), "{error}");
        let without_host = StreamOptions {
            selection: ColumnSelection {
                exclude: vec!["host".to_string()],
                ..ColumnSelection::default()
            },
            ..options()
        };
        let mut one = StreamModel::new(without_host, &data.schema).unwrap();
        let binding = one.bind(&data.schema).unwrap();
        let pooled = one.process(&data, &binding, false).unwrap();
        assert!(!pooled[5000].decision.is_anomaly, "{:?}", pooled[5000]);
    }

    /// `n` records from ten hosts in turn, standard normal loads.
    fn ten_hosts(n: usize) -> Frame {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let hosts = (0..n).map(|row| Some(format!("h{}", row % 10))).collect();
        let load = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        frame(
            vec![
                ("host", ColumnData::Category(hosts)),
                ("load", ColumnData::Number(load)),
            ],
            1,
        )
    }

    #[test]
    fn entities_beyond_the_byte_budget_are_replaced_and_the_budget_survives_a_checkpoint() {
        let data = ten_hosts(3000);
        let mut unbounded = StreamModel::new(entity_options(100), &data.schema).unwrap();
        let binding = unbounded.bind(&data.schema).unwrap();
        unbounded.process(&data, &binding, false).unwrap();
        assert_eq!(unbounded.n_entities(), 10);
        let per_entity = unbounded.state_bytes() / 10;
        // A forest of 20 trees of 64 one-dimensional points holds at least
        // its points, boxes and nodes.
        assert!(per_entity > 20 * 64 * (8 + 8 + 24), "{per_entity}");

        let budget = per_entity * 7 / 2;
        let options = StreamOptions {
            max_bytes: Some(budget),
            ..entity_options(100)
        };
        let mut bounded = StreamModel::new(options.clone(), &data.schema).unwrap();
        let points = bounded.process(&data, &binding, false).unwrap();
        assert!(bounded.state_bytes() <= budget);
        assert!(bounded.n_entities() <= 3, "{}", bounded.n_entities());
        assert!(bounded.n_replaced() > 100, "{}", bounded.n_replaced());
        // The running total is the sum over the states kept.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bounded.oddity");
        bounded.save(&path).unwrap();
        let restored = StreamModel::load(&path).unwrap();
        assert_eq!(restored.state_bytes(), bounded.state_bytes());
        assert_eq!(points.len(), 3000);
        checkpoint_round_trip_of(options, &data);
    }

    #[test]
    fn entities_beyond_the_budget_replace_the_least_recently_seen() {
        let data = two_machines(400, 0);
        let mut model = StreamModel::new(entity_options(1), &data.schema).unwrap();
        let binding = model.bind(&data.schema).unwrap();
        model.process(&data, &binding, false).unwrap();
        assert_eq!(model.n_entities(), 1);
        assert_eq!(model.n_replaced(), 399);
        assert!(model.detector("busy").is_some());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entities.oddity");
        model.save(&path).unwrap();
        let restored = StreamModel::load(&path).unwrap();
        assert_eq!(
            (
                restored.n_entities(),
                restored.n_replaced(),
                restored.n_incidents()
            ),
            (1, 399, model.n_incidents())
        );

        let error = StreamModel::new(entity_options(0), &data.schema).unwrap_err();
        assert!(error.to_string().contains("max_entities"), "{error}");
        let missing = StreamOptions {
            entity: Some("machine".to_string()),
            ..entity_options(5)
        };
        let error = StreamModel::new(missing, &data.schema).unwrap_err();
        assert!(error.to_string().contains("machine"), "{error}");
    }

    /// SPOT sets the threshold, calibrated on 500 scores after the warm-up.
    fn spot_options(depth: usize) -> StreamOptions {
        StreamOptions {
            threshold: StreamThresholdParams {
                spot: Some(SpotParams {
                    n_init: 500,
                    depth,
                    ..SpotParams::default()
                }),
                ..options().threshold
            },
            ..options()
        }
    }

    #[test]
    fn spot_flags_the_spike_and_few_others() {
        let (a, b) = series(3000, 2500, 1);
        let data = frame(
            vec![("a", ColumnData::Number(a)), ("b", ColumnData::Number(b))],
            1,
        );
        for depth in [0, 30] {
            let mut model = StreamModel::new(spot_options(depth), &data.schema).unwrap();
            let binding = model.bind(&data.schema).unwrap();
            let points = model.process(&data, &binding, false).unwrap();
            assert!(points[2500].decision.is_anomaly, "{:?}", points[2500]);
            // Nothing is judged during the warm-up and the calibration (and
            // the filling of the drift window).
            assert!(points[..600].iter().all(|p| p.decision.threshold.is_none()));
            assert!(points[700].decision.threshold.is_some());
            let others = points
                .iter()
                .filter(|p| p.decision.is_anomaly && !(2500..2502).contains(&(p.row as usize)))
                .count();
            assert!(others <= 15, "depth {depth}: {others}");
            let spot = model.threshold("").unwrap().spot().unwrap();
            assert!(spot.fit().is_some());
        }
    }

    #[test]
    fn checkpoint_and_restore_continue_bit_identically() {
        checkpoint_round_trip(options());
        checkpoint_round_trip(likelihood_options());
        checkpoint_round_trip(spot_options(0));
        checkpoint_round_trip(spot_options(25));
    }

    fn checkpoint_round_trip(options: StreamOptions) {
        let (a, b) = series(2000, 1500, 2);
        let whole = frame(
            vec![("a", ColumnData::Number(a)), ("b", ColumnData::Number(b))],
            1,
        );
        checkpoint_round_trip_of(options, &whole);
    }

    /// Processing `whole` in one go and in two parts with a save and a
    /// load in between gives bit-identical scores and decisions.
    fn checkpoint_round_trip_of(options: StreamOptions, whole: &Frame) {
        let mut uninterrupted = StreamModel::new(options.clone(), &whole.schema).unwrap();
        let binding = uninterrupted.bind(&whole.schema).unwrap();
        let expected = uninterrupted.process(whole, &binding, false).unwrap();

        let head = whole.slice(0..777);
        let tail = whole.slice(777..whole.n_rows());
        let mut first = StreamModel::new(options, &head.schema).unwrap();
        let mut got = first.process(&head, &binding, false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.oddity");
        first.save(&path).unwrap();
        let mut restored = StreamModel::load(&path).unwrap();
        got.extend(restored.process(&tail, &binding, false).unwrap());
        assert_eq!(got.len(), expected.len());
        for (x, y) in got.iter().zip(&expected) {
            assert_eq!(x.score.to_bits(), y.score.to_bits(), "row {}", x.row);
            assert_eq!(x.decision, y.decision, "row {}", x.row);
        }
        assert_eq!(restored.n_records(), whole.n_rows() as u64);
    }

    #[test]
    fn missing_values_score_nan_and_are_not_learned() {
        let data = frame(vec![("a", ColumnData::Number(vec![1.0, f64::NAN, 2.0]))], 1);
        let mut model = StreamModel::new(options(), &data.schema).unwrap();
        let binding = model.bind(&data.schema).unwrap();
        let points = model.process(&data, &binding, true).unwrap();
        assert!(points[1].score.is_nan());
        assert!(!points[1].decision.is_anomaly);
        assert_eq!(model.detector("").unwrap().n_seen(), 2);
    }

    #[test]
    fn category_features_and_missing_columns_are_named_errors() {
        let data = frame(
            vec![
                ("a", ColumnData::Number(vec![1.0])),
                ("host", ColumnData::Category(vec![Some("x".into())])),
            ],
            1,
        );
        let error = StreamModel::new(options(), &data.schema).unwrap_err();
        assert!(error.to_string().contains("\"host\""), "{error}");

        let only_b = frame(vec![("b", ColumnData::Number(vec![1.0]))], 1);
        let numeric = frame(vec![("a", ColumnData::Number(vec![1.0]))], 1);
        let model = StreamModel::new(options(), &numeric.schema).unwrap();
        let error = model.bind(&only_b.schema).unwrap_err();
        assert!(error.to_string().contains("\"a\""), "{error}");
    }

    #[test]
    fn a_batch_model_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.oddity");
        let data = frame(vec![("a", ColumnData::Number(vec![1.0, 2.0, 3.0]))], 1);
        let batch = crate::Model::fit_frame(&data, &crate::pipeline::FitOptions::default(), "t", 3)
            .unwrap();
        batch.save(&path).unwrap();
        let error = StreamModel::load(&path).unwrap_err();
        assert!(error.to_string().contains("not a stream model"), "{error}");
    }

    #[test]
    fn hysteresis_raises_one_alert_per_incident() {
        let mut threshold = StreamThreshold::new(StreamThresholdParams {
            rule: ThresholdRule::Score(1.0),
            warmup: 0,
            refit_every: 1,
            cooldown: 3,
            ..StreamThresholdParams::default()
        })
        .unwrap();
        // The first observation fits the threshold; it is judged before.
        assert!(!threshold.observe(0.0).is_anomaly);
        let decisions: Vec<Decision> = [2.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0]
            .iter()
            .map(|&score| threshold.observe(score))
            .collect();
        let alerts: Vec<bool> = decisions.iter().map(|d| d.alert).collect();
        assert_eq!(
            alerts,
            [true, false, false, false, false, false, true],
            "a gap shorter than the cooldown keeps the incident open"
        );
        assert_eq!(threshold.n_incidents(), 2);
    }

    const HOUR_MS: i64 = 3_600_000;

    /// Hourly records over `days` days from 2026-11-30 00:00 UTC: `load`
    /// is high from 09:00 to 17:00 and low otherwise, with noise; the
    /// record at `busy_night` (an index) is a daytime value at night.
    /// Hours listed in `missing` have no record.
    fn office_hours(days: usize, busy_night: usize, missing: &[usize]) -> Frame {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
        let mut times = Vec::new();
        let mut load = Vec::new();
        for hour_index in 0..days * 24 {
            let noise: f64 = StandardNormal.sample(&mut rng);
            if missing.contains(&hour_index) {
                continue;
            }
            let hour = hour_index % 24;
            let busy = (9..17).contains(&hour) || hour_index == busy_night;
            times.push(Some(1_795_996_800_000 + hour_index as i64 * HOUR_MS));
            load.push(if busy { 100.0 } else { 10.0 } + 2.0 * noise);
        }
        frame(
            vec![
                ("at", ColumnData::Timestamp(times)),
                ("load", ColumnData::Number(load)),
            ],
            1,
        )
    }

    fn seasonal_options() -> StreamOptions {
        StreamOptions {
            detector: OnlineParams::Seasonal(crate::online::SeasonalParams::default()),
            time: Some("at".to_string()),
            ..options()
        }
    }

    #[test]
    fn the_seasonal_detector_flags_a_daytime_value_at_night() {
        let busy_night = 30 * 24 + 3;
        let data = office_hours(40, busy_night, &[]);
        let mut model = StreamModel::new(seasonal_options(), &data.schema).unwrap();
        let binding = model.bind(&data.schema).unwrap();
        let points = model.process(&data, &binding, true).unwrap();
        assert!(
            points[busy_night].decision.is_anomaly,
            "{:?}",
            points[busy_night]
        );
        // The daytime hours around it are not.
        let noon = 30 * 24 + 12;
        assert!(!points[noon].decision.is_anomaly, "{:?}", points[noon]);
        let flagged = points[200..]
            .iter()
            .filter(|p| p.decision.is_anomaly)
            .count();
        assert!(flagged <= 12, "{flagged} flagged");
        assert!(points.iter().all(|p| p.gap_ms.is_none()));

        // A random cut forest without the calendar sees the value as one of
        // the many daytime ones.
        let mut blind = StreamModel::new(options(), &data.schema).unwrap();
        let pooled = blind.process(&data, &binding, false).unwrap();
        assert!(
            !pooled[busy_night].decision.is_anomaly,
            "{:?}",
            pooled[busy_night]
        );

        checkpoint_round_trip_of(seasonal_options(), &data);
    }

    #[test]
    fn a_long_silence_is_reported_as_a_gap() {
        // Hours 100 to 105 are missing: the record at hour 106 follows a
        // seven-hour silence.
        let missing: Vec<usize> = (100..106).collect();
        let data = office_hours(10, usize::MAX, &missing);
        let mut model = StreamModel::new(seasonal_options(), &data.schema).unwrap();
        let binding = model.bind(&data.schema).unwrap();
        let points = model.process(&data, &binding, false).unwrap();
        let gaps: Vec<(usize, i64)> = points
            .iter()
            .enumerate()
            .filter_map(|(index, point)| point.gap_ms.map(|gap| (index, gap)))
            .collect();
        assert_eq!(gaps, vec![(100, 7 * HOUR_MS)]);
    }

    #[test]
    fn time_column_errors_name_the_column() {
        let data = office_hours(1, usize::MAX, &[]);
        let no_time = StreamOptions {
            time: None,
            ..seasonal_options()
        };
        let error = StreamModel::new(no_time, &data.schema).unwrap_err();
        assert!(error.to_string().contains("--time"), "{error}");
        let wrong = StreamOptions {
            time: Some("load".to_string()),
            ..seasonal_options()
        };
        let error = StreamModel::new(wrong, &data.schema).unwrap_err();
        assert!(error.to_string().contains("=timestamp"), "{error}");
        let absent = StreamOptions {
            time: Some("when".to_string()),
            ..seasonal_options()
        };
        let error = StreamModel::new(absent, &data.schema).unwrap_err();
        assert!(error.to_string().contains("\"when\""), "{error}");
        let factor = StreamOptions {
            gap_factor: 0.5,
            ..seasonal_options()
        };
        let error = StreamModel::new(factor, &data.schema).unwrap_err();
        assert!(error.to_string().contains("gap_factor"), "{error}");
    }

    #[test]
    fn threshold_parameters_are_validated_by_name() {
        let error = StreamThreshold::new(StreamThresholdParams {
            window: 0,
            ..StreamThresholdParams::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains("window"), "{error}");
    }
}
