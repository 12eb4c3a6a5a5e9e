//! Accuracy benchmarks under published protocols, so that our detectors
//! can be compared with the numbers papers report.
//!
//! [`AdbenchProtocol`] follows ADBench (Han et al., NeurIPS 2022, §4.1 and
//! `adbench/datasets/data_generator.py`): datasets with more than 10,000
//! points are subsampled to 10,000 without replacement, datasets with fewer
//! than 1,000 points are resampled with replacement up to 1,000, a
//! stratified 70/30 train/test split follows, min-max scaling is fitted on
//! the training part, the detector is fitted on the training features
//! (labels unused) and scores the test part; ROC-AUC and average precision
//! are averaged over seeds 1, 2 and 3. Our random draws are our own
//! (Xoshiro256++ seeded with the seed), so individual splits differ from
//! ADBench's while following the same protocol.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::data::{ColumnData, Input, ReadOptions, read_all};
use crate::detector::{Detector, DetectorParams};
use crate::error::Error;
use crate::eval;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error(transparent)]
    Oddity(#[from] Error),
    #[error("{path}: {message}")]
    Dataset { path: String, message: String },
    #[error("{path}: cannot read the reference table: {message}")]
    Reference { path: String, message: String },
}

/// The ADBench protocol's constants; see the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdbenchProtocol {
    pub max_points: usize,
    pub min_points: usize,
    pub test_share: f64,
    pub seeds: Vec<u64>,
    /// Novelty (semi-supervised) setting: fit only on the training part's
    /// normal points. ADBench's unsupervised protocol, which the published
    /// values follow, fits on every training point (`false`).
    pub normal_only: bool,
}

impl Default for AdbenchProtocol {
    fn default() -> Self {
        AdbenchProtocol {
            max_points: 10_000,
            min_points: 1_000,
            test_share: 0.3,
            seeds: vec![1, 2, 3],
            normal_only: false,
        }
    }
}

/// A labelled dataset: points (rows × features) and labels (true = anomaly).
#[derive(Clone, Debug)]
pub struct LabelledData {
    pub name: String,
    pub points: Array2<f64>,
    pub labels: Vec<bool>,
}

/// One split of a dataset, scaled as the protocol says.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Array2<f64>,
    pub test: Array2<f64>,
    pub train_labels: Vec<bool>,
    pub test_labels: Vec<bool>,
}

/// One detector on one dataset, averaged over the protocol's seeds.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetResult {
    pub dataset: String,
    pub detector: String,
    pub n_points: usize,
    pub n_features: usize,
    pub roc_auc: f64,
    pub average_precision: f64,
    pub fit_seconds: f64,
    pub score_seconds: f64,
    /// The paper's value for the same detector and dataset, when it has one.
    pub published_roc_auc: Option<f64>,
    pub published_average_precision: Option<f64>,
}

/// Reads a CSV whose columns are numbers plus a `label` column (1 =
/// anomaly), the layout of the ADBench and ODDS files.
pub fn read_labelled_csv(path: &Path) -> Result<LabelledData, BenchmarkError> {
    let shown = path.display().to_string();
    let dataset_error = |message: String| BenchmarkError::Dataset {
        path: shown.clone(),
        message,
    };
    let frame =
        read_all(&Input::Path(path.to_path_buf()), &ReadOptions::default()).map_err(Error::from)?;
    let label_index = frame
        .schema
        .index_of("label")
        .ok_or_else(|| dataset_error("no column named \"label\"".to_string()))?;
    let labels = crate::pipeline::labels_from_column(&frame.columns[label_index], None, None)
        .map_err(|message| dataset_error(format!("column \"label\": {message}")))?;
    let labels: Vec<bool> = labels
        .into_iter()
        .enumerate()
        .map(|(row, label)| {
            label.ok_or_else(|| dataset_error(format!("row {}: the label is missing", row + 1)))
        })
        .collect::<Result<_, _>>()?;
    let feature_columns: Vec<usize> = (0..frame.columns.len())
        .filter(|&index| index != label_index)
        .collect();
    let n_rows = frame.n_rows();
    let mut points = Array2::zeros((n_rows, feature_columns.len()));
    for (output, &index) in feature_columns.iter().enumerate() {
        let ColumnData::Number(values) = &frame.columns[index] else {
            let name = &frame.schema.fields[index].name;
            return Err(dataset_error(format!("column \"{name}\" is not numeric")));
        };
        for (row, value) in values.iter().enumerate() {
            if !value.is_finite() {
                let name = &frame.schema.fields[index].name;
                return Err(dataset_error(format!(
                    "row {}, column \"{name}\": expected a finite number, got {value}",
                    row + 1
                )));
            }
            points[[row, output]] = *value;
        }
    }
    let name = path
        .file_stem()
        .map_or_else(|| shown.clone(), |s| s.to_string_lossy().into_owned());
    Ok(LabelledData {
        name,
        points,
        labels,
    })
}

impl AdbenchProtocol {
    /// Draws the protocol's sample and split for one seed and scales it.
    pub fn split(&self, data: &LabelledData, seed: u64) -> Split {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let n = data.labels.len();
        let rows: Vec<usize> = if n > self.max_points {
            self.stratified_subsample(data, &mut rng)
        } else if n < self.min_points && n > 0 {
            (0..self.min_points)
                .map(|_| rng.random_range(0..n))
                .collect()
        } else {
            (0..n).collect()
        };

        // Stratified: the same share of each class goes to the test part.
        let mut train_rows = Vec::new();
        let mut test_rows = Vec::new();
        for class in [false, true] {
            let mut members: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&row| data.labels[row] == class)
                .collect();
            shuffle(&mut members, &mut rng);
            let n_test = (members.len() as f64 * self.test_share).round() as usize;
            test_rows.extend_from_slice(&members[..n_test]);
            train_rows.extend_from_slice(&members[n_test..]);
        }
        shuffle(&mut train_rows, &mut rng);
        shuffle(&mut test_rows, &mut rng);

        let gather = |rows: &[usize]| data.points.select(ndarray::Axis(0), rows);
        let mut train = gather(&train_rows);
        let mut test = gather(&test_rows);
        min_max_scale(&mut train, &mut test);
        Split {
            train,
            test,
            train_labels: train_rows.iter().map(|&row| data.labels[row]).collect(),
            test_labels: test_rows.iter().map(|&row| data.labels[row]).collect(),
        }
    }

    /// Subsamples to `max_points` keeping each class's share (ADBench draws
    /// without regard to class; keeping the share avoids test parts without
    /// anomalies on very rare classes, such as smtp's 30 in 95,156).
    fn stratified_subsample(
        &self,
        data: &LabelledData,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<usize> {
        let n = data.labels.len();
        let n_anomalies = data.labels.iter().filter(|label| **label).count();
        let share = self.max_points as f64 / n as f64;
        let mut rows = Vec::with_capacity(self.max_points);
        let wanted_anomalies = ((n_anomalies as f64 * share).round() as usize)
            .max(usize::from(n_anomalies > 0) * 2)
            .min(n_anomalies);
        for (class, wanted) in [
            (true, wanted_anomalies),
            (false, self.max_points - wanted_anomalies),
        ] {
            let members: Vec<usize> = (0..n).filter(|&row| data.labels[row] == class).collect();
            let wanted = wanted.min(members.len());
            let picked = rand::seq::index::sample(rng, members.len(), wanted);
            rows.extend(picked.into_iter().map(|index| members[index]));
        }
        rows
    }

    /// Runs one detector on one dataset over every seed. A detector that
    /// has a `seed` parameter gets the protocol's seed.
    pub fn run(
        &self,
        data: &LabelledData,
        detector: &DetectorParams,
    ) -> Result<DatasetResult, BenchmarkError> {
        let mut roc_auc = Vec::new();
        let mut average_precision = Vec::new();
        let mut fit_seconds = 0.0;
        let mut score_seconds = 0.0;
        for &seed in &self.seeds {
            let split = self.split(data, seed);
            let seeded = with_seed(detector, seed);
            let train = if self.normal_only {
                let normal: Vec<usize> = (0..split.train_labels.len())
                    .filter(|&row| !split.train_labels[row])
                    .collect();
                split.train.select(ndarray::Axis(0), &normal)
            } else {
                split.train
            };
            let started = Instant::now();
            let fitted = seeded.fit(train.view()).map_err(Error::from)?;
            fit_seconds += started.elapsed().as_secs_f64();
            let started = Instant::now();
            let scores = fitted.score(split.test.view());
            score_seconds += started.elapsed().as_secs_f64();
            roc_auc.push(eval::roc_auc(&split.test_labels, &scores).map_err(Error::from)?);
            average_precision
                .push(eval::average_precision(&split.test_labels, &scores).map_err(Error::from)?);
        }
        let n_seeds = self.seeds.len().max(1) as f64;
        Ok(DatasetResult {
            dataset: data.name.clone(),
            detector: detector.name().to_string(),
            n_points: data.labels.len(),
            n_features: data.points.ncols(),
            roc_auc: roc_auc.iter().sum::<f64>() / n_seeds,
            average_precision: average_precision.iter().sum::<f64>() / n_seeds,
            fit_seconds: fit_seconds / n_seeds,
            score_seconds: score_seconds / n_seeds,
            published_roc_auc: None,
            published_average_precision: None,
        })
    }
}

fn with_seed(detector: &DetectorParams, seed: u64) -> DetectorParams {
    detector
        .with_settings(&[("seed".to_string(), seed.to_string())])
        .unwrap_or_else(|_| detector.clone())
}

fn shuffle(values: &mut [usize], rng: &mut Xoshiro256PlusPlus) {
    for index in (1..values.len()).rev() {
        let other = rng.random_range(0..=index);
        values.swap(index, other);
    }
}

/// Scales both parts by the training part's per-feature minimum and range
/// (a constant training feature keeps a range of 1, as scikit-learn does).
fn min_max_scale(train: &mut Array2<f64>, test: &mut Array2<f64>) {
    for feature in 0..train.ncols() {
        let column = train.column(feature);
        let low = column.iter().copied().fold(f64::INFINITY, f64::min);
        let high = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let range = if high > low { high - low } else { 1.0 };
        let low = if low.is_finite() { low } else { 0.0 };
        train
            .column_mut(feature)
            .mapv_inplace(|value| (value - low) / range);
        test.column_mut(feature)
            .mapv_inplace(|value| (value - low) / range);
    }
}

/// Published per-dataset results: dataset file stem → detector column →
/// value in [0, 1].
#[derive(Clone, Debug, Default)]
pub struct PublishedTable {
    values: BTreeMap<String, BTreeMap<String, f64>>,
}

impl PublishedTable {
    /// Reads an ADBench table (`adbench_unsupervised_aucroc.csv`, values ×
    /// 100) and maps its dataset names to CSV file stems through
    /// `dataset_map.csv` in the same folder.
    pub fn read_adbench(table: &Path) -> Result<PublishedTable, BenchmarkError> {
        let reference_error = |path: &Path, message: String| BenchmarkError::Reference {
            path: path.display().to_string(),
            message,
        };
        let map_path = table.with_file_name("dataset_map.csv");
        let mut file_of: BTreeMap<String, String> = BTreeMap::new();
        let mut map = csv::Reader::from_path(&map_path)
            .map_err(|error| reference_error(&map_path, error.to_string()))?;
        for record in map.records() {
            let record = record.map_err(|error| reference_error(&map_path, error.to_string()))?;
            // The map also lists the PyOD benchmark's copies under the same
            // names; only the ADBench rows describe this table.
            if !record
                .get(0)
                .is_some_and(|table| table.starts_with("adbench"))
            {
                continue;
            }
            let (Some(name), Some(file)) = (record.get(1), record.get(2)) else {
                continue;
            };
            if let Some(stem) = Path::new(file).file_stem() {
                file_of.insert(name.to_string(), stem.to_string_lossy().into_owned());
            }
        }
        let mut reader = csv::Reader::from_path(table)
            .map_err(|error| reference_error(table, error.to_string()))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|error| reference_error(table, error.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut values = BTreeMap::new();
        for record in reader.records() {
            let record = record.map_err(|error| reference_error(table, error.to_string()))?;
            let Some(name) = record.get(0) else { continue };
            let stem = file_of
                .get(name)
                .cloned()
                .unwrap_or_else(|| name.to_string());
            let row: BTreeMap<String, f64> = header
                .iter()
                .zip(record.iter())
                .skip(1)
                .filter_map(|(column, cell)| {
                    cell.parse::<f64>()
                        .ok()
                        .map(|value| (column.clone(), value / 100.0))
                })
                .collect();
            values.insert(stem, row);
        }
        Ok(PublishedTable { values })
    }

    /// The published value of `detector` (our name) on the dataset whose
    /// file stem is `dataset`.
    pub fn get(&self, dataset: &str, detector: &str) -> Option<f64> {
        let column = published_column(detector)?;
        self.values.get(dataset)?.get(column).copied()
    }
}

/// ADBench's column name for one of our detectors.
fn published_column(detector: &str) -> Option<&'static str> {
    Some(match detector {
        "isolation_forest" => "IForest",
        "hbos" => "HBOS",
        "ecod" => "ECOD",
        "copod" => "COPOD",
        "k_nearest_neighbors" => "KNN",
        "local_outlier_factor" => "LOF",
        "pca" => "PCA",
        "one_class_svm" | "ocsvm" => "OCSVM",
        _ => return None,
    })
}

/// The labelled CSVs of a folder, sorted by name; `odds_*` copies are left
/// out because ADBench's own copies of those datasets are there too.
pub fn adbench_files(dir: &Path) -> Result<Vec<PathBuf>, BenchmarkError> {
    let entries = std::fs::read_dir(dir).map_err(|error| BenchmarkError::Dataset {
        path: dir.display().to_string(),
        message: error.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "csv")
                && !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with("odds_"))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n_points: usize, n_anomalies: usize) -> LabelledData {
        let points = Array2::from_shape_fn((n_points, 2), |(row, column)| {
            if row < n_anomalies {
                50.0 + column as f64
            } else {
                (row % 17) as f64 + column as f64
            }
        });
        let labels = (0..n_points).map(|row| row < n_anomalies).collect();
        LabelledData {
            name: "toy".into(),
            points,
            labels,
        }
    }

    #[test]
    fn small_sets_are_resampled_and_split_by_class() {
        let protocol = AdbenchProtocol::default();
        let split = protocol.split(&toy(200, 20), 1);
        assert_eq!(split.train.nrows() + split.test.nrows(), 1000);
        let test_share = split.test_labels.iter().filter(|l| **l).count() as f64
            / split.test_labels.len() as f64;
        let train_share = split.train_labels.iter().filter(|l| **l).count() as f64
            / split.train_labels.len() as f64;
        assert!(
            (test_share - train_share).abs() < 0.01,
            "{test_share} {train_share}"
        );
    }

    #[test]
    fn large_sets_are_subsampled_and_scaled_on_train() {
        let protocol = AdbenchProtocol::default();
        let split = protocol.split(&toy(12_000, 100), 2);
        assert_eq!(split.train.nrows() + split.test.nrows(), 10_000);
        let low = split.train.iter().copied().fold(f64::INFINITY, f64::min);
        let high = split
            .train
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((low, high), (0.0, 1.0));
    }

    #[test]
    fn splits_are_reproducible_by_seed() {
        let protocol = AdbenchProtocol::default();
        let data = toy(3000, 60);
        assert_eq!(protocol.split(&data, 3).test, protocol.split(&data, 3).test);
        assert_ne!(protocol.split(&data, 3).test, protocol.split(&data, 4).test);
    }

    #[test]
    fn isolation_forest_separates_the_toy_anomalies() {
        let protocol = AdbenchProtocol::default();
        let result = protocol
            .run(&toy(3000, 60), &DetectorParams::default())
            .unwrap();
        assert!(result.roc_auc > 0.99, "{result:?}");
        assert_eq!(result.detector, "isolation_forest");
    }
}
