//! Preparation: from typed columns to the finite numeric matrix detectors
//! need, fitted once on training data and stored inside the model so that
//! scoring repeats it exactly.
//!
//! Per feature column, in order:
//!
//! | kind | missing | encoding | outputs |
//! |---|---|---|---|
//! | number | imputed (median by default) | `±inf` clamped one training span beyond the training range, then scaled | 1 |
//! | boolean | imputed with the training share of `true` | 0 / 1 | 1 |
//! | category | its own value `(missing)` | one-hot with a cap, frequency or ordinal | 1 or up to cap + 1 |
//! | timestamp | imputed (median) | hour of day and day of week (Monday = 0) | 2 |
//!
//! The fitted [`Preparation`] also keeps a [`ColumnProfile`] per column (the
//! typical range or the usual values), which explanations quote in the
//! column's own units.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{ColumnData, ColumnKind, Frame, Schema};

/// The name of the category that stands for a missing value.
pub const MISSING_CATEGORY: &str = "(missing)";
/// The name of the one-hot column that collects categories past the cap.
pub const OTHER_CATEGORY: &str = "(other)";

const MILLIS_PER_HOUR: i64 = 3_600_000;
/// Rows transformed by one parallel task: enough to amortise the task and
/// any per-block lookup tables, few enough to spread over the cores.
const TRANSFORM_BLOCK_ROWS: usize = 16_384;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// How missing numbers are filled in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imputation {
    /// The training median: robust to the outliers we are looking for.
    #[default]
    Median,
    /// The training mean.
    Mean,
    /// Zero.
    Zero,
}

/// How numeric outputs are rescaled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// Unchanged; Isolation Forest does not need scaling.
    #[default]
    None,
    /// `(x - mean) / standard deviation`.
    Standard,
    /// `(x - min) / (max - min)`.
    MinMax,
    /// `(x - median) / interquartile range`.
    Robust,
}

/// How categories become numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryEncoding {
    /// One 0/1 output per frequent category, at most `max_categories`, plus
    /// one `(other)` output when rarer categories exist.
    OneHot { max_categories: usize },
    /// The category's share of training rows (unseen categories get 0), so
    /// that rarity itself is the signal.
    Frequency,
    /// The category's rank in sorted order (unseen categories get -1).
    Ordinal,
}

/// Frequency encoding is the default because rarity is what an anomaly
/// detector should see: with one-hot outputs, every member of a modest
/// minority category (say 8 % of rows) is isolated by a single split and
/// scores as anomalous.
impl Default for CategoryEncoding {
    fn default() -> Self {
        CategoryEncoding::Frequency
    }
}

/// What the preparation does; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrepConfig {
    /// Drop exact duplicate training rows (over the feature columns) before
    /// fitting; scoring never drops rows.
    pub drop_duplicates: bool,
    pub impute: Imputation,
    pub scale: Scaling,
    pub encode: CategoryEncoding,
    /// Use timestamp columns as features (hour of day, day of week) when
    /// they are not named explicitly with `features`.
    pub time_features: bool,
}

impl PrepConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), PrepError> {
        if let CategoryEncoding::OneHot { max_categories } = self.encode
            && max_categories == 0
        {
            return Err(PrepError::Param(crate::detector::ParamError::new(
                "max_categories",
                "must be at least 1",
                max_categories,
            )));
        }
        Ok(())
    }
}

/// Which columns play which role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnSelection {
    /// Use exactly these columns as features; `None` means every column not
    /// excluded, not the label, not the id and (unless time features are on)
    /// not a timestamp.
    pub features: Option<Vec<String>>,
    pub exclude: Vec<String>,
    /// Ground truth, never a feature.
    pub label: Option<String>,
    /// Identifies points in the output, never a feature.
    pub id: Option<String>,
    /// The label value that means "anomaly" when the label column holds
    /// words other than the usual ones (`anomaly`, `attack`, `fraud`, ...).
    pub positive_label: Option<String>,
    /// The label value that means "normal" when every other value is an
    /// anomaly (`normal.` among many attack names).
    pub negative_label: Option<String>,
}

/// Column indices after resolving a [`ColumnSelection`] against a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedColumns {
    pub features: Vec<usize>,
    pub label: Option<usize>,
    pub id: Option<usize>,
}

/// Why preparation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PrepError {
    #[error("column \"{name}\" not found; the columns are: {available}")]
    UnknownColumn { name: String, available: String },
    #[error("no feature columns left to detect on (columns: {available})")]
    NoFeatures { available: String },
    #[error(
        "column \"{name}\" is a {found} column in this input but was a {expected} column when the model was fitted"
    )]
    KindMismatch {
        name: String,
        expected: ColumnKind,
        found: ColumnKind,
    },
    #[error("no training rows")]
    NoRows,
    #[error("invalid parameter: {0}")]
    Param(#[from] crate::detector::ParamError),
}

impl ColumnSelection {
    /// Resolves names to indices of `schema`, naming any unknown column.
    pub fn resolve(
        &self,
        schema: &Schema,
        time_features: bool,
    ) -> Result<ResolvedColumns, PrepError> {
        let find = |name: &str| {
            schema
                .fields
                .iter()
                .position(|field| field.name == name)
                .ok_or_else(|| PrepError::UnknownColumn {
                    name: name.to_string(),
                    available: list_columns(schema),
                })
        };
        let label = self.label.as_deref().map(find).transpose()?;
        let id = self.id.as_deref().map(find).transpose()?;
        let excluded = self
            .exclude
            .iter()
            .map(|name| find(name))
            .collect::<Result<Vec<_>, _>>()?;
        let features = match &self.features {
            Some(names) => names
                .iter()
                .map(|name| find(name))
                .collect::<Result<Vec<_>, _>>()?,
            None => (0..schema.fields.len())
                .filter(|index| {
                    Some(*index) != label
                        && Some(*index) != id
                        && !excluded.contains(index)
                        && (time_features || schema.fields[*index].kind != ColumnKind::Timestamp)
                })
                .collect(),
        };
        let features: Vec<usize> = features
            .into_iter()
            .filter(|index| Some(*index) != label && Some(*index) != id)
            .collect();
        if features.is_empty() {
            return Err(PrepError::NoFeatures {
                available: list_columns(schema),
            });
        }
        Ok(ResolvedColumns {
            features,
            label,
            id,
        })
    }
}

fn list_columns(schema: &Schema) -> String {
    const SHOWN: usize = 20;
    let mut names: Vec<String> = schema
        .fields
        .iter()
        .take(SHOWN)
        .map(|field| format!("{} ({})", field.name, field.kind))
        .collect();
    if schema.fields.len() > SHOWN {
        names.push(format!("and {} more", schema.fields.len() - SHOWN));
    }
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// What the training data looked like in one column, in its own units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ColumnProfile {
    Number(NumberProfile),
    /// The most frequent values with their share of rows, most frequent first.
    Category {
        top: Vec<(String, f64)>,
        n_distinct: usize,
    },
    Boolean {
        true_share: f64,
    },
    /// Hour-of-day profile (the usual hours).
    Timestamp {
        hours: NumberProfile,
    },
}

/// Summary statistics of the finite training values of a number column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumberProfile {
    pub min: f64,
    /// 5th percentile: the low end of the typical range.
    pub low: f64,
    pub median: f64,
    /// 95th percentile: the high end of the typical range.
    pub high: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub q1: f64,
    pub q3: f64,
    pub missing_share: f64,
}

impl NumberProfile {
    /// Profiles `values`, `n_rows` of them; `None` when none is finite.
    /// NaN counts as missing, infinities are left out of the statistics.
    fn from_values(values: impl IntoIterator<Item = f64>, n_rows: usize) -> Option<NumberProfile> {
        // One pass copies the finite values and gathers what a scan can
        // give (count of missing, sum, extremes), so that selection below
        // only has the inner quantiles to find.
        let mut finite: Vec<f64> = Vec::with_capacity(n_rows);
        let mut n_missing = 0usize;
        let mut sum = 0.0;
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for value in values {
            if value.is_finite() {
                finite.push(value);
                sum += value;
                min = min.min(value);
                max = max.max(value);
            } else if value.is_nan() {
                n_missing += 1;
            }
        }
        if finite.is_empty() {
            return None;
        }
        let mean = sum / finite.len() as f64;
        let variance =
            finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / finite.len() as f64;
        let [low, q1, median, q3, high] = quantiles(&mut finite, [0.05, 0.25, 0.5, 0.75, 0.95]);
        Some(NumberProfile {
            min,
            low,
            median,
            high,
            max,
            mean,
            std: variance.sqrt(),
            q1,
            q3,
            missing_share: n_missing as f64 / n_rows.max(1) as f64,
        })
    }
}

/// Linear-interpolation quantiles (numpy's default) of non-empty `values`
/// at the probabilities `qs`; reorders `values`.
///
/// Each quantile needs at most two order statistics, and they are found
/// by selection rather than by sorting (expected linear time), because
/// every numeric column of every fit is profiled; see [`select_ranks`].
fn quantiles<const N: usize>(values: &mut [f64], qs: [f64; N]) -> [f64; N] {
    let last = values.len() - 1;
    let positions = qs.map(|q| q * last as f64);
    let mut ranks: Vec<usize> = positions
        .iter()
        .flat_map(|position| [position.floor() as usize, position.ceil() as usize])
        .map(|rank| rank.min(last))
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    select_ranks(values, 0, &ranks);
    positions.map(|position| {
        let below = (position.floor() as usize).min(last);
        let above = (position.ceil() as usize).min(last);
        let fraction = position - below as f64;
        values[below] + (values[above] - values[below]) * fraction
    })
}

/// Moves the order statistic of each of the ascending, distinct `ranks`
/// (counted from `offset`, the rank of `values[0]`) to its place.
///
/// The middle rank is selected first and splits the slice, so each half's
/// ranks are found within that half: about `n log2(k)` work for `k`
/// ranks, where selecting them in ascending order, each right of the last,
/// costs up to `k n`.
fn select_ranks(values: &mut [f64], offset: usize, ranks: &[usize]) {
    if ranks.is_empty() {
        return;
    }
    let middle = ranks.len() / 2;
    let index = ranks[middle] - offset;
    let (left, _, right) = values.select_nth_unstable_by(index, f64::total_cmp);
    select_ranks(left, offset, &ranks[..middle]);
    select_ranks(right, offset + index + 1, &ranks[middle + 1..]);
}

/// A fitted affine map for one numeric output: fill, clamp, shift, divide.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct NumberMap {
    fill: f64,
    /// Where -inf goes: one training span below the minimum.
    floor: f64,
    /// Where +inf goes: one training span above the maximum.
    ceiling: f64,
    shift: f64,
    divisor: f64,
}

impl NumberMap {
    fn fit(profile: Option<&NumberProfile>, config: &PrepConfig) -> NumberMap {
        let Some(p) = profile else {
            return NumberMap {
                fill: 0.0,
                floor: -1.0,
                ceiling: 1.0,
                shift: 0.0,
                divisor: 1.0,
            };
        };
        let span = if p.max > p.min { p.max - p.min } else { 1.0 };
        let fill = match config.impute {
            Imputation::Median => p.median,
            Imputation::Mean => p.mean,
            Imputation::Zero => 0.0,
        };
        let nonzero = |value: f64| {
            if value > 0.0 && value.is_finite() {
                value
            } else {
                1.0
            }
        };
        let (shift, divisor) = match config.scale {
            Scaling::None => (0.0, 1.0),
            Scaling::Standard => (p.mean, nonzero(p.std)),
            Scaling::MinMax => (p.min, nonzero(p.max - p.min)),
            Scaling::Robust => (p.median, nonzero(p.q3 - p.q1)),
        };
        NumberMap {
            fill,
            floor: p.min - span,
            ceiling: p.max + span,
            shift,
            divisor,
        }
    }

    fn apply(&self, value: f64) -> f64 {
        let value = if value.is_nan() {
            self.fill
        } else if value == f64::INFINITY {
            self.ceiling
        } else if value == f64::NEG_INFINITY {
            self.floor
        } else {
            value
        };
        (value - self.shift) / self.divisor
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum CategoryMap {
    OneHot { kept: Vec<String>, has_other: bool },
    Frequency { shares: BTreeMap<String, f64> },
    Ordinal { ranks: BTreeMap<String, f64> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum ColumnMap {
    Number(NumberMap),
    Boolean { fill: f64 },
    Category(CategoryMap),
    Timestamp { hour: NumberMap, weekday: NumberMap },
}

/// One input column of a fitted preparation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreparedColumn {
    pub name: String,
    pub kind: ColumnKind,
    pub profile: Option<ColumnProfile>,
    map: ColumnMap,
}

/// One output feature: its name and the input column it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputFeature {
    pub name: String,
    /// Index into [`Preparation::columns`].
    pub column: usize,
}

/// A fitted preparation; see the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preparation {
    pub config: PrepConfig,
    pub columns: Vec<PreparedColumn>,
    pub outputs: Vec<OutputFeature>,
}

/// What fitting saw, for the model's metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrepReport {
    pub n_rows: usize,
    pub n_duplicates_dropped: usize,
}

impl Preparation {
    /// Fits on the feature columns of `frame`; returns the preparation, the
    /// prepared training matrix and a report. Duplicate rows are dropped
    /// first when the configuration asks for it.
    pub fn fit(
        config: &PrepConfig,
        frame: &Frame,
        features: &[usize],
    ) -> Result<(Preparation, Array2<f64>, PrepReport), PrepError> {
        config.validate()?;
        let n_rows = frame.n_rows();
        if n_rows == 0 {
            return Err(PrepError::NoRows);
        }
        let keep = if config.drop_duplicates {
            unique_rows(frame, features)
        } else {
            (0..n_rows).collect()
        };
        let report = PrepReport {
            n_rows: keep.len(),
            n_duplicates_dropped: n_rows - keep.len(),
        };

        // Columns are profiled independently, so in parallel.
        let fitted: Vec<PreparedColumn> = features
            .par_iter()
            .map(|&index| {
                let field = &frame.schema.fields[index];
                fit_column(
                    config,
                    &field.name,
                    field.kind,
                    &frame.columns[index],
                    &keep,
                )
            })
            .collect();
        let mut columns = Vec::with_capacity(features.len());
        let mut outputs = Vec::new();
        for column in fitted {
            let position = columns.len();
            for name in output_names(&column) {
                outputs.push(OutputFeature {
                    name,
                    column: position,
                });
            }
            columns.push(column);
        }
        let preparation = Preparation {
            config: config.clone(),
            columns,
            outputs,
        };
        let bound: Vec<usize> = features.to_vec();
        let matrix = preparation.transform_rows(frame, &bound, &keep);
        Ok((preparation, matrix, report))
    }

    /// Number of output features (matrix columns).
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Finds this preparation's input columns in `schema` by name and checks
    /// their kinds; returns their indices in preparation order.
    pub fn bind(&self, schema: &Schema) -> Result<Vec<usize>, PrepError> {
        self.columns
            .iter()
            .map(|column| {
                let index = schema
                    .fields
                    .iter()
                    .position(|f| f.name == column.name)
                    .ok_or_else(|| PrepError::UnknownColumn {
                        name: column.name.clone(),
                        available: list_columns(schema),
                    })?;
                let found = schema.fields[index].kind;
                if found != column.kind {
                    return Err(PrepError::KindMismatch {
                        name: column.name.clone(),
                        expected: column.kind,
                        found,
                    });
                }
                Ok(index)
            })
            .collect()
    }

    /// The input schema this preparation expects, as (name, kind) pairs: pass
    /// it to the reader as type overrides so that scoring reads each column
    /// as it was read in training.
    pub fn expected_kinds(&self) -> Vec<(String, ColumnKind)> {
        self.columns
            .iter()
            .map(|column| (column.name.clone(), column.kind))
            .collect()
    }

    /// Prepares every row of `frame`; `bound` comes from [`Preparation::bind`].
    pub fn transform(&self, frame: &Frame, bound: &[usize]) -> Array2<f64> {
        let all: Vec<usize> = (0..frame.n_rows()).collect();
        self.transform_rows(frame, bound, &all)
    }

    fn transform_rows(&self, frame: &Frame, bound: &[usize], rows: &[usize]) -> Array2<f64> {
        let width = self.outputs.len();
        let mut out = vec![0.0; rows.len() * width];
        if width > 0 {
            // Row blocks are independent, so they are written in parallel;
            // each block's output is a disjoint slice of `out`.
            out.par_chunks_mut(TRANSFORM_BLOCK_ROWS * width)
                .zip(rows.par_chunks(TRANSFORM_BLOCK_ROWS))
                .for_each(|(block_out, block_rows)| {
                    let mut offset = 0;
                    for (column, &index) in self.columns.iter().zip(bound) {
                        let data = &frame.columns[index];
                        offset += write_column(column, data, block_rows, block_out, width, offset);
                    }
                });
        }
        Array2::from_shape_vec((rows.len(), width), out).expect("buffer sized rows × outputs")
    }
}

fn output_names(column: &PreparedColumn) -> Vec<String> {
    let name = &column.name;
    match &column.map {
        ColumnMap::Number(_) | ColumnMap::Boolean { .. } => vec![name.clone()],
        ColumnMap::Category(CategoryMap::OneHot { kept, has_other }) => {
            let mut names: Vec<String> =
                kept.iter().map(|value| format!("{name}={value}")).collect();
            if *has_other {
                names.push(format!("{name}={OTHER_CATEGORY}"));
            }
            names
        }
        ColumnMap::Category(CategoryMap::Frequency { .. }) => vec![format!("{name}.frequency")],
        ColumnMap::Category(CategoryMap::Ordinal { .. }) => vec![format!("{name}.rank")],
        ColumnMap::Timestamp { .. } => vec![format!("{name}.hour"), format!("{name}.weekday")],
    }
}

fn category_key(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or(MISSING_CATEGORY)
}

fn hour_of_day(millis: i64) -> f64 {
    millis.rem_euclid(MILLIS_PER_DAY) as f64 / MILLIS_PER_HOUR as f64
}

fn day_of_week(millis: i64) -> f64 {
    // 1970-01-01 was a Thursday; shift so that Monday is 0.
    (millis.div_euclid(MILLIS_PER_DAY) + 3).rem_euclid(7) as f64
}

fn fit_column(
    config: &PrepConfig,
    name: &str,
    kind: ColumnKind,
    data: &ColumnData,
    rows: &[usize],
) -> PreparedColumn {
    let n_rows = rows.len();
    let (profile, map) = match data {
        ColumnData::Number(values) => {
            let profile = NumberProfile::from_values(rows.iter().map(|&row| values[row]), n_rows);
            let map = NumberMap::fit(profile.as_ref(), config);
            (profile.map(ColumnProfile::Number), ColumnMap::Number(map))
        }
        ColumnData::Boolean(values) => {
            let known: Vec<bool> = rows.iter().filter_map(|&row| values[row]).collect();
            let true_share = if known.is_empty() {
                0.0
            } else {
                known.iter().filter(|v| **v).count() as f64 / known.len() as f64
            };
            (
                Some(ColumnProfile::Boolean { true_share }),
                ColumnMap::Boolean { fill: true_share },
            )
        }
        ColumnData::Category(values) => {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for &row in rows {
                *counts
                    .entry(category_key(&values[row]).to_string())
                    .or_default() += 1;
            }
            let mut by_count: Vec<(String, usize)> = counts.into_iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let share = |count: usize| count as f64 / n_rows.max(1) as f64;
            let top = by_count
                .iter()
                .take(10)
                .map(|(v, c)| (v.clone(), share(*c)))
                .collect();
            let profile = ColumnProfile::Category {
                top,
                n_distinct: by_count.len(),
            };
            let map = match config.encode {
                CategoryEncoding::OneHot { max_categories } => CategoryMap::OneHot {
                    kept: by_count
                        .iter()
                        .take(max_categories)
                        .map(|(v, _)| v.clone())
                        .collect(),
                    has_other: by_count.len() > max_categories,
                },
                CategoryEncoding::Frequency => CategoryMap::Frequency {
                    shares: by_count
                        .iter()
                        .map(|(v, c)| (v.clone(), share(*c)))
                        .collect(),
                },
                CategoryEncoding::Ordinal => {
                    let mut names: Vec<&String> = by_count.iter().map(|(v, _)| v).collect();
                    names.sort();
                    CategoryMap::Ordinal {
                        ranks: names
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (v.clone(), i as f64))
                            .collect(),
                    }
                }
            };
            (Some(profile), ColumnMap::Category(map))
        }
        ColumnData::Timestamp(values) => {
            let hours: Vec<f64> = rows
                .iter()
                .map(|&row| values[row].map_or(f64::NAN, hour_of_day))
                .collect();
            let weekdays: Vec<f64> = rows
                .iter()
                .map(|&row| values[row].map_or(f64::NAN, day_of_week))
                .collect();
            let hour_profile = NumberProfile::from_values(hours, n_rows);
            let weekday_profile = NumberProfile::from_values(weekdays, n_rows);
            let map = ColumnMap::Timestamp {
                hour: NumberMap::fit(hour_profile.as_ref(), config),
                weekday: NumberMap::fit(weekday_profile.as_ref(), config),
            };
            (
                hour_profile.map(|hours| ColumnProfile::Timestamp { hours }),
                map,
            )
        }
    };
    PreparedColumn {
        name: name.to_string(),
        kind,
        profile,
        map,
    }
}

/// Writes one column's outputs for `rows` into the row-major buffer `out`
/// starting at column `offset`; returns how many outputs it wrote.
fn write_column(
    column: &PreparedColumn,
    data: &ColumnData,
    rows: &[usize],
    out: &mut [f64],
    width: usize,
    offset: usize,
) -> usize {
    let mut put = |position: usize, output: usize, value: f64| {
        out[position * width + offset + output] = value;
    };
    match (&column.map, data) {
        (ColumnMap::Number(map), ColumnData::Number(values)) => {
            for (position, &row) in rows.iter().enumerate() {
                put(position, 0, map.apply(values[row]));
            }
            1
        }
        (ColumnMap::Boolean { fill }, ColumnData::Boolean(values)) => {
            for (position, &row) in rows.iter().enumerate() {
                put(position, 0, values[row].map_or(*fill, f64::from));
            }
            1
        }
        (ColumnMap::Category(map), ColumnData::Category(values)) => match map {
            CategoryMap::OneHot { kept, has_other } => {
                let lookup: BTreeMap<&str, usize> = kept
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.as_str(), i))
                    .collect();
                for (position, &row) in rows.iter().enumerate() {
                    match lookup.get(category_key(&values[row])) {
                        Some(&output) => put(position, output, 1.0),
                        None if *has_other => put(position, kept.len(), 1.0),
                        None => {}
                    }
                }
                kept.len() + usize::from(*has_other)
            }
            CategoryMap::Frequency { shares } => {
                for (position, &row) in rows.iter().enumerate() {
                    let share = shares
                        .get(category_key(&values[row]))
                        .copied()
                        .unwrap_or(0.0);
                    put(position, 0, share);
                }
                1
            }
            CategoryMap::Ordinal { ranks } => {
                for (position, &row) in rows.iter().enumerate() {
                    let rank = ranks
                        .get(category_key(&values[row]))
                        .copied()
                        .unwrap_or(-1.0);
                    put(position, 0, rank);
                }
                1
            }
        },
        (ColumnMap::Timestamp { hour, weekday }, ColumnData::Timestamp(values)) => {
            for (position, &row) in rows.iter().enumerate() {
                let (h, d) = values[row].map_or((f64::NAN, f64::NAN), |millis| {
                    (hour_of_day(millis), day_of_week(millis))
                });
                put(position, 0, hour.apply(h));
                put(position, 1, weekday.apply(d));
            }
            2
        }
        // `bind` checks kinds, so a mismatch here is a caller's bug; the
        // outputs stay zero rather than panicking on user data.
        (map, _) => {
            tracing::error!(column = %column.name, "column kind changed after binding");
            match map {
                ColumnMap::Timestamp { .. } => 2,
                ColumnMap::Category(CategoryMap::OneHot { kept, has_other }) => {
                    kept.len() + usize::from(*has_other)
                }
                _ => 1,
            }
        }
    }
}

/// Indices of the first occurrence of each distinct row over `features`.
fn unique_rows(frame: &Frame, features: &[usize]) -> Vec<usize> {
    let row_hash = |row: usize| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for &index in features {
            match &frame.columns[index] {
                ColumnData::Number(values) => values[row].to_bits().hash(&mut hasher),
                ColumnData::Category(values) => values[row].hash(&mut hasher),
                ColumnData::Boolean(values) => values[row].hash(&mut hasher),
                ColumnData::Timestamp(values) => values[row].hash(&mut hasher),
            }
        }
        hasher.finish()
    };
    let rows_equal = |a: usize, b: usize| {
        features.iter().all(|&index| match &frame.columns[index] {
            ColumnData::Number(values) => values[a].to_bits() == values[b].to_bits(),
            ColumnData::Category(values) => values[a] == values[b],
            ColumnData::Boolean(values) => values[a] == values[b],
            ColumnData::Timestamp(values) => values[a] == values[b],
        })
    };
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut keep = Vec::new();
    for row in 0..frame.n_rows() {
        let bucket = seen.entry(row_hash(row)).or_default();
        if !bucket.iter().any(|&earlier| rows_equal(earlier, row)) {
            bucket.push(row);
            keep.push(row);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Field;
    use std::sync::Arc;

    fn frame(columns: Vec<(&str, ColumnKind, ColumnData)>) -> Frame {
        let fields = columns
            .iter()
            .map(|(name, kind, _)| Field {
                name: name.to_string(),
                kind: *kind,
            })
            .collect();
        Frame {
            schema: Arc::new(Schema { fields }),
            columns: columns.into_iter().map(|(_, _, data)| data).collect(),
            first_row: 1,
        }
    }

    fn numbers(values: &[f64]) -> ColumnData {
        ColumnData::Number(values.to_vec())
    }

    /// numpy's linear-interpolation quantile, from a full sort.
    fn sorted_quantile(values: &[f64], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        let position = q * (sorted.len() - 1) as f64;
        let below = position.floor() as usize;
        let above = position.ceil() as usize;
        sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
    }

    #[test]
    fn selected_quantiles_equal_those_of_a_full_sort() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let qs = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0];
        for len in [1_i32, 2, 3, 7, 20, 101, 1000, 4097] {
            // Few distinct values, so that ties straddle the ranks.
            let values: Vec<f64> = (0..len)
                .map(|_| f64::from(rng.random_range(0..len / 3 + 2)) * 0.5)
                .collect();
            let expected = qs.map(|q| sorted_quantile(&values, q));
            let mut scratch = values.clone();
            assert_eq!(quantiles(&mut scratch, qs), expected, "{len} values");
        }
    }

    #[test]
    fn missing_numbers_get_the_median_and_inf_is_clamped_beyond_the_range() {
        let data = frame(vec![(
            "x",
            ColumnKind::Number,
            numbers(&[1.0, 2.0, f64::NAN, 4.0, f64::INFINITY, f64::NEG_INFINITY]),
        )]);
        let (_, matrix, _) = Preparation::fit(&PrepConfig::default(), &data, &[0]).expect("fits");
        let column: Vec<f64> = matrix.column(0).to_vec();
        assert_eq!(column, vec![1.0, 2.0, 2.0, 4.0, 7.0, -2.0]);
    }

    #[test]
    fn min_max_scaling_maps_training_range_to_unit_interval() {
        let data = frame(vec![(
            "x",
            ColumnKind::Number,
            numbers(&[10.0, 20.0, 30.0]),
        )]);
        let config = PrepConfig {
            scale: Scaling::MinMax,
            ..PrepConfig::default()
        };
        let (_, matrix, _) = Preparation::fit(&config, &data, &[0]).expect("fits");
        assert_eq!(matrix.column(0).to_vec(), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn one_hot_caps_categories_and_sends_the_rest_to_other() {
        let values = ["a", "a", "a", "b", "b", "c"]
            .map(|v| Some(v.to_string()))
            .to_vec();
        let data = frame(vec![(
            "c",
            ColumnKind::Category,
            ColumnData::Category(values),
        )]);
        let config = PrepConfig {
            encode: CategoryEncoding::OneHot { max_categories: 2 },
            ..PrepConfig::default()
        };
        let (prep, matrix, _) = Preparation::fit(&config, &data, &[0]).expect("fits");
        let names: Vec<&str> = prep.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, vec!["c=a", "c=b", "c=(other)"]);
        assert_eq!(matrix.row(5).to_vec(), vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn unseen_category_scores_as_rare_under_frequency_encoding() {
        let values = ["a", "a", "b"].map(|v| Some(v.to_string())).to_vec();
        let data = frame(vec![(
            "c",
            ColumnKind::Category,
            ColumnData::Category(values),
        )]);
        let config = PrepConfig {
            encode: CategoryEncoding::Frequency,
            ..PrepConfig::default()
        };
        let (prep, _, _) = Preparation::fit(&config, &data, &[0]).expect("fits");
        let new = frame(vec![(
            "c",
            ColumnKind::Category,
            ColumnData::Category(vec![Some("zzz".into()), None, Some("a".into())]),
        )]);
        let bound = prep.bind(&new.schema).expect("binds");
        let matrix = prep.transform(&new, &bound);
        assert_eq!(matrix.column(0).to_vec(), vec![0.0, 0.0, 2.0 / 3.0]);
    }

    #[test]
    fn duplicates_are_dropped_only_when_asked() {
        let data = frame(vec![(
            "x",
            ColumnKind::Number,
            numbers(&[1.0, 1.0, 2.0, 1.0]),
        )]);
        let config = PrepConfig {
            drop_duplicates: true,
            ..PrepConfig::default()
        };
        let (_, matrix, report) = Preparation::fit(&config, &data, &[0]).expect("fits");
        assert_eq!(report.n_duplicates_dropped, 2);
        assert_eq!(matrix.nrows(), 2);
    }

    #[test]
    fn timestamps_become_hour_and_weekday() {
        // 2024-01-01 (a Monday) 13:30 UTC.
        let millis = 1_704_115_800_000;
        let data = frame(vec![(
            "t",
            ColumnKind::Timestamp,
            ColumnData::Timestamp(vec![Some(millis)]),
        )]);
        let (prep, matrix, _) =
            Preparation::fit(&PrepConfig::default(), &data, &[0]).expect("fits");
        assert_eq!(prep.outputs.len(), 2);
        assert_eq!(matrix.row(0).to_vec(), vec![13.5, 0.0]);
    }

    #[test]
    fn binding_reports_a_missing_column_by_name() {
        let data = frame(vec![("x", ColumnKind::Number, numbers(&[1.0]))]);
        let (prep, _, _) = Preparation::fit(&PrepConfig::default(), &data, &[0]).expect("fits");
        let other = frame(vec![("y", ColumnKind::Number, numbers(&[1.0]))]);
        let error = prep.bind(&other.schema).unwrap_err();
        assert_eq!(
            error.to_string(),
            "column \"x\" not found; the columns are: y (number)"
        );
    }

    #[test]
    fn selection_excludes_label_id_and_timestamps_by_default() {
        let data = frame(vec![
            ("id", ColumnKind::Category, ColumnData::Category(vec![None])),
            (
                "t",
                ColumnKind::Timestamp,
                ColumnData::Timestamp(vec![None]),
            ),
            ("x", ColumnKind::Number, numbers(&[1.0])),
            ("y", ColumnKind::Number, numbers(&[1.0])),
        ]);
        let selection = ColumnSelection {
            label: Some("y".into()),
            id: Some("id".into()),
            ..ColumnSelection::default()
        };
        let resolved = selection.resolve(&data.schema, false).expect("resolves");
        assert_eq!(resolved.features, vec![2]);
        let resolved = selection.resolve(&data.schema, true).expect("resolves");
        assert_eq!(resolved.features, vec![1, 2]);
    }
}
