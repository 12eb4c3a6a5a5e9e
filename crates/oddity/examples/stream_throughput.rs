//! Times an online detector's prequential loop (score a point, then learn
//! it) on a labelled numeric CSV held in memory, one thread, so that
//! side-by-side scripts compare detectors without file parsing.
//!
//! Usage: `cargo run --release --example stream_throughput -- FILE DETECTOR
//! [NAME=VALUE ...] [--limit N] [--skip N]`: DETECTOR is an `oddity stream
//! --detector` name (rcf, hst), NAME=VALUE set its parameters, `--limit`
//! keeps the first N points, and ROC-AUC is computed over the points after
//! the first `--skip` (default 1,000). Every column but `label` is a
//! feature. Prints one JSON object.

use std::time::Instant;

use oddity::online::{OnlineDetector, OnlineModel, online_detector_by_name};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: stream_throughput FILE DETECTOR [NAME=VALUE ...] [--limit N] [--skip N]";
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or(usage)?;
    let name = args.next().ok_or(usage)?;
    let (mut settings, mut limit, mut skip) = (Vec::new(), usize::MAX, 1000usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--limit" => limit = args.next().ok_or(usage)?.parse()?,
            "--skip" => skip = args.next().ok_or(usage)?.parse()?,
            setting => {
                let (key, value) = setting.split_once('=').ok_or(usage)?;
                settings.push((key.to_string(), value.to_string()));
            }
        }
    }
    let params = online_detector_by_name(&name)
        .ok_or_else(|| format!("unknown online detector {name:?}"))?
        .with_settings(&settings)?;

    let mut reader = csv::Reader::from_path(&path)?;
    let headers = reader.headers()?.clone();
    let label_idx = headers.iter().position(|h| h == "label");
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for record in reader.records().take(limit) {
        let record = record?;
        let mut point = Vec::with_capacity(record.len());
        for (idx, cell) in record.iter().enumerate() {
            let value: f64 = cell.parse()?;
            if Some(idx) == label_idx {
                labels.push(value != 0.0);
            } else {
                point.push(value);
            }
        }
        points.push(point);
    }
    let n_features = points.first().map_or(0, Vec::len);
    let mut detector = OnlineModel::new(&params, n_features)?;

    let started = Instant::now();
    let scores: Vec<f64> = points
        .iter()
        .map(|point| detector.score_learn_one(point))
        .collect();
    let seconds = started.elapsed().as_secs_f64();

    let roc_auc = if labels.len() > skip {
        Some(oddity::eval::roc_auc(&labels[skip..], &scores[skip..])?)
    } else {
        None
    };
    let report = serde_json::json!({
        "detector": detector.name(),
        "params": params,
        "points": points.len(),
        "features": n_features,
        "seconds": seconds,
        "points_per_s": points.len() as f64 / seconds,
        "roc_auc": roc_auc,
    });
    println!("{report}");
    Ok(())
}
