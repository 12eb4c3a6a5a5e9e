//! Times the compute phases of Isolation Forest on a CSV held in memory, so
//! that side-by-side scripts can compare fit and score without file parsing.
//!
//! Usage: `cargo run --release --example fit_score_timing -- FILE [LABEL_COLUMN]
//! [DETECTOR] [MAX_FIT_ROWS]` (`-` skips the label; the detector is a
//! `--detector` name, default iforest).
//! Prints one JSON object: the detector, load, fit (preparation, detector,
//! calibration) and score seconds, and the number of points.
//!
//! It also times the detector alone on the prepared matrix, the work a
//! library such as PyOD does when handed an array: `detector_fit_s` fits
//! and scores the training points (PyOD's `fit` computes
//! `decision_scores_`), `detector_score_s` scores every point again
//! (`decision_function`). Preparation, calibration and the scored records
//! are left out of these two.

use std::time::Instant;

use oddity::data::{Input, ReadOptions, read_all};
use oddity::detector::Detector;
use oddity::pipeline::{ExplainWhich, FitOptions, Model};
use oddity::prep::ColumnSelection;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: fit_score_timing FILE [LABEL_COLUMN] [DETECTOR] [MAX_FIT_ROWS]")?;
    let label = args.next().filter(|label| label != "-");
    let detector_name = args.next().unwrap_or_else(|| "iforest".to_string());
    let detector = oddity::detector::detector_by_name(&detector_name)
        .ok_or_else(|| format!("unknown detector {detector_name:?}"))?;
    let defaults = FitOptions::default();
    let max_fit_rows = match args.next() {
        Some(text) => text.parse()?,
        None => defaults.max_fit_rows,
    };

    let started = Instant::now();
    let frame = read_all(&Input::Path(path.clone().into()), &ReadOptions::default())?;
    let loaded = started.elapsed().as_secs_f64();

    let options = FitOptions {
        selection: ColumnSelection {
            label,
            ..ColumnSelection::default()
        },
        detector,
        max_fit_rows,
        ..defaults
    };
    let started = Instant::now();
    let model = Model::fit_frame(&frame, &options, &path, frame.n_rows() as u64)?;
    let fitted = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let points = model
        .scorer(&frame.schema)?
        .score(&frame, ExplainWhich::None)?;
    let scored = started.elapsed().as_secs_f64();

    let n_anomalies = points.iter().filter(|point| point.is_anomaly).count();
    drop(points);

    let bound = model.preparation.bind(&frame.schema)?;
    let matrix = model.preparation.transform(&frame, &bound);
    let started = Instant::now();
    let detector = options.detector.fit(matrix.view())?;
    let training_scores = match detector.training_scores() {
        Some(scores) => scores.to_vec(),
        None => detector.score(matrix.view()),
    };
    let detector_fitted = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let scores = detector.score(matrix.view());
    let detector_scored = started.elapsed().as_secs_f64();
    assert_eq!(training_scores.len() + scores.len(), 2 * matrix.nrows());

    println!(
        "{{\"detector\": \"{detector_name}\", \"n_points\": {}, \"load_s\": {loaded:.4}, \"fit_s\": {fitted:.4}, \"score_s\": {scored:.4}, \"detector_fit_s\": {detector_fitted:.4}, \"detector_score_s\": {detector_scored:.4}, \"n_anomalies\": {n_anomalies}}}",
        frame.n_rows()
    );
    Ok(())
}
