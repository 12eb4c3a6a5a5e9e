//! Window (collective) detection measured on labelled series, for
//! `bench/windows.py`.
//!
//! Usage:
//!
//! - `window_bench nab NAB_DIR WIDTH DETECTORS REPRESENTATIONS`: every NAB
//!   series is fitted and scored on its own, in sample (a batch detector
//!   sees the whole series, the future included, which no streaming entry
//!   on NAB's scoreboard could), each point scored by its calibrated
//!   probability so that one threshold means the same on every series; the
//!   threshold is then optimised per profile over the corpus as
//!   `oddity bench nab` does. `REPRESENTATIONS` may include `none`: the
//!   same detector on single points, without windows.
//! - `window_bench labelled CSV LABEL ROWS WIDTH DETECTORS REPRESENTATIONS`:
//!   the first `ROWS` rows of a multivariate series with a label column,
//!   detected in sample; prints ROC-AUC and average precision of the point
//!   scores against the label.
//!
//! Each configuration prints one line `RESULT {json}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use oddity::data::{ColumnData, ColumnKind, Field, Frame, Input, ReadOptions, Schema, read_all};
use oddity::detector::detector_by_name;
use oddity::eval::{average_precision, roc_auc};
use oddity::nab::{
    CorpusSweep, PROBATIONARY_PERCENT, Profile, SeriesResult, load_corpus_data, load_windows,
};
use oddity::pipeline::{ExplainWhich, FitOptions, Model, WindowOptions};
use oddity::prep::ColumnSelection;
use oddity::series::window::{WindowParams, WindowRepresentation};
use rayon::prelude::*;

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("nab") if args.len() == 5 => nab(&args[1], args[2].parse()?, &args[3], &args[4]),
        Some("labelled") if args.len() == 7 => labelled(&args[1..]),
        _ => Err(
            "usage: window_bench nab NAB_DIR WIDTH DETECTORS REPRESENTATIONS | \
                  labelled CSV LABEL ROWS WIDTH DETECTORS REPRESENTATIONS"
                .into(),
        ),
    }
}

/// Fit options for `detector` with windows of `width` rows in
/// `representation` (`none`: no windows).
fn options(detector: &str, width: usize, representation: &str) -> Result<FitOptions, Failure> {
    let window = match representation {
        "none" => None,
        name => Some(WindowOptions {
            params: WindowParams {
                width,
                stride: 1,
                representation: WindowRepresentation::from_name(name)
                    .ok_or_else(|| format!("unknown representation {name:?}"))?,
            },
            time: None,
            entity: None,
        }),
    };
    Ok(FitOptions {
        detector: detector_by_name(detector)
            .ok_or_else(|| format!("unknown detector {detector:?}"))?,
        window,
        ..FitOptions::default()
    })
}

/// Fits on `frame` and scores it in sample: (probabilities, scores).
fn detect(frame: &Frame, options: &FitOptions) -> Result<(Vec<f64>, Vec<f64>), Failure> {
    let model = Model::fit_frame(frame, options, "series", frame.n_rows() as u64)?;
    let points = model
        .scorer(&frame.schema)?
        .in_sample()
        .score(frame, ExplainWhich::None)?;
    Ok((
        points.iter().map(|point| point.probability).collect(),
        points.iter().map(|point| point.score).collect(),
    ))
}

fn nab(root: &str, width: usize, detectors: &str, representations: &str) -> Result<(), Failure> {
    let root = std::path::Path::new(root);
    let corpus = load_corpus_data(root.join("data"))?;
    let windows = load_windows(root.join("labels/combined_windows.json"))?;
    let profiles = Profile::nab_profiles();
    let schema = Arc::new(Schema::new(vec![Field::new("value", ColumnKind::Number)]));
    for detector in detectors.split(',') {
        for representation in representations.split(',') {
            let options = options(detector, width, representation)?;
            let start = Instant::now();
            // Series in parallel; each fit is itself parallel where the
            // detector is, so this only keeps both cores busy on small ones.
            let results: Vec<(String, SeriesResult)> = corpus
                .par_iter()
                .map(|(name, series)| {
                    let frame = Frame {
                        schema: schema.clone(),
                        columns: vec![ColumnData::Number(series.values.clone())],
                        first_row: 1,
                    };
                    let (probabilities, _) = detect(&frame, &options)?;
                    let result = SeriesResult {
                        timestamps: series.timestamps.clone(),
                        scores: probabilities,
                    };
                    Ok::<_, Failure>((name.clone(), result))
                })
                .collect::<Result<_, _>>()?;
            let results: BTreeMap<String, SeriesResult> = results.into_iter().collect();
            let seconds = start.elapsed().as_secs_f64();
            let sweep = CorpusSweep::new(&results, &windows, PROBATIONARY_PERCENT)?;
            let scores: Vec<f64> = profiles
                .iter()
                .map(|profile| sweep.optimise_threshold(profile).normalised)
                .collect();
            println!(
                "RESULT {}",
                serde_json::json!({
                    "corpus": "nab",
                    "detector": detector,
                    "representation": representation,
                    "width": if representation == "none" { 1 } else { width },
                    "series": results.len(),
                    "standard": scores[0],
                    "reward_low_fp_rate": scores[1],
                    "reward_low_fn_rate": scores[2],
                    "seconds": seconds,
                })
            );
        }
    }
    Ok(())
}

fn labelled(args: &[String]) -> Result<(), Failure> {
    let [path, label, rows, width, detectors, representations] = args else {
        return Err("labelled needs CSV LABEL ROWS WIDTH DETECTORS REPRESENTATIONS".into());
    };
    let rows: usize = rows.parse()?;
    let width: usize = width.parse()?;
    let full = read_all(&Input::Path(path.into()), &ReadOptions::default())?;
    let mut frame = Frame::with_capacity(full.schema.clone(), rows);
    for row in 0..rows.min(full.n_rows()) {
        frame.push_row_from(&full, row);
    }
    let truth: Vec<bool> = match frame.column(label) {
        Some(ColumnData::Number(values)) => values.iter().map(|v| *v != 0.0).collect(),
        _ => return Err(format!("{label} is not a number column of {path}").into()),
    };
    for detector in detectors.split(',') {
        for representation in representations.split(',') {
            let mut options = options(detector, width, representation)?;
            options.selection = ColumnSelection {
                label: Some(label.clone()),
                ..ColumnSelection::default()
            };
            let start = Instant::now();
            let (_, scores) = detect(&frame, &options)?;
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "RESULT {}",
                serde_json::json!({
                    "corpus": path,
                    "rows": frame.n_rows(),
                    "anomalies": truth.iter().filter(|t| **t).count(),
                    "detector": detector,
                    "representation": representation,
                    "width": if representation == "none" { 1 } else { width },
                    "roc_auc": roc_auc(&truth, &scores)?,
                    "average_precision": average_precision(&truth, &scores)?,
                    "seconds": seconds,
                })
            );
        }
    }
    Ok(())
}
