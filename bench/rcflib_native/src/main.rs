//! Times AWS's random cut forest (through the `krcf` crate, natively) on a
//! labelled numeric CSV held in memory: score a point, then learn it, one
//! thread; the same loop and report as oddity's `stream_throughput`
//! example, so that bench/streams.py puts them side by side.
//!
//! Usage: `rcflib-native-bench FILE [--limit N] [--skip N]`. Every column
//! but `label` is a feature; ROC-AUC is over the points after the first
//! `--skip` (default 1,000). Prints one JSON line.

use std::time::Instant;

use krcf::{RandomCutForest, RandomCutForestOptions};

/// The version Cargo.toml pins, reported with the figures.
const KRCF_VERSION: &str = "0.4.0";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: rcflib-native-bench FILE [--limit N] [--skip N]";
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or(usage)?;
    let (mut limit, mut skip) = (usize::MAX, 1000usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--limit" => limit = args.next().ok_or(usage)?.parse()?,
            "--skip" => skip = args.next().ok_or(usage)?.parse()?,
            _ => return Err(usage.into()),
        }
    }
    let (points, labels) = read_labelled(&path, limit)?;
    let dimensions = points.first().map_or(0, Vec::len);
    let mut forest = RandomCutForest::new(RandomCutForestOptions {
        dimensions,
        shingle_size: 1,
        num_trees: Some(50),
        sample_size: Some(256),
        random_seed: Some(42),
        parallel_execution_enabled: Some(false),
        ..RandomCutForestOptions::default()
    })?;

    let started = Instant::now();
    let mut scores = Vec::with_capacity(points.len());
    for point in &points {
        scores.push(forest.score(point)?);
        forest.update(point)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let skip = skip.min(scores.len());
    println!(
        "{{\"implementation\":\"krcf {KRCF_VERSION}\",\"points\":{},\"features\":{dimensions},\"seconds\":{seconds},\"points_per_s\":{},\"roc_auc\":{}}}",
        points.len(),
        points.len() as f64 / seconds,
        roc_auc(&scores[skip..], &labels[skip..]),
    );
    Ok(())
}

/// Rows of `path` as f32 features (every column but `label`) and labels.
fn read_labelled(
    path: &str,
    limit: usize,
) -> Result<(Vec<Vec<f32>>, Vec<bool>), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split(',').collect();
    let label = header
        .iter()
        .position(|&name| name == "label")
        .ok_or("no label column")?;
    let (mut points, mut labels) = (Vec::new(), Vec::new());
    for (index, line) in lines.take(limit).enumerate() {
        let mut point = Vec::with_capacity(header.len() - 1);
        for (column, cell) in line.split(',').enumerate() {
            let value: f64 = cell.parse().map_err(|_| {
                format!(
                    "row {}, column {}: {cell:?} is not a number",
                    index + 1,
                    header[column]
                )
            })?;
            if column == label {
                labels.push(value != 0.0);
            } else {
                point.push(value as f32);
            }
        }
        points.push(point);
    }
    Ok((points, labels))
}

/// ROC-AUC with ties counted half (the Mann-Whitney statistic).
fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut start) = (0.0, 0);
    while start < order.len() {
        let mut end = start;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let mean_rank = (start + end + 1) as f64 / 2.0;
        rank_sum += mean_rank * order[start..end].iter().filter(|&&i| labels[i]).count() as f64;
        start = end;
    }
    let positives = labels.iter().filter(|&&label| label).count() as f64;
    let negatives = labels.len() as f64 - positives;
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}
