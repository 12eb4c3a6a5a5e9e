//! A held-out check of the NAB configuration: choose among candidate
//! configurations on half of NAB's series (every other one, in name order)
//! and score the choice on the other half, so that the corpus score of a
//! configuration chosen on the whole corpus can be judged for over-fitting.
//!
//! Usage: `cargo run --release --example nab_holdout -- NAB_DIR [SEEDS]`
//! (default seeds 1,2). Prints each candidate's standard-profile score on
//! both halves (mean over the seeds) and the held-out score of the one
//! chosen on the first half.

use std::collections::BTreeMap;

use oddity::nab::{
    CorpusSweep, CorpusWindows, NabContext, NabDetectorParams, PROBATIONARY_PERCENT, Profile,
    SeriesData, load_corpus_data, load_windows,
};
use oddity::online::AnomalyLikelihoodParams;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = std::path::PathBuf::from(args.next().ok_or("usage: nab_holdout NAB_DIR [SEEDS]")?);
    let seeds: Vec<u64> = args
        .next()
        .unwrap_or_else(|| "1,2".to_string())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let corpus = load_corpus_data(root.join("data"))?;
    let windows = load_windows(root.join("labels/combined_windows.json"))?;
    let halves: [(BTreeMap<String, SeriesData>, CorpusWindows); 2] = [0, 1].map(|parity| {
        let data: BTreeMap<String, SeriesData> = corpus
            .iter()
            .enumerate()
            .filter(|(index, _)| index % 2 == parity)
            .map(|(_, (name, series))| (name.clone(), series.clone()))
            .collect();
        let half_windows = data
            .keys()
            .map(|name| (name.clone(), windows.get(name).unwrap_or_default().to_vec()))
            .collect();
        let half_windows = CorpusWindows::new(half_windows).expect("a subset of valid windows");
        (data, half_windows)
    });

    let mut candidates = Vec::new();
    for context in [vec![], vec![NabContext::TimeOfDay]] {
        for averaging_window in [5, 10, 20, 30, 50] {
            candidates.push(NabDetectorParams {
                likelihood: Some(AnomalyLikelihoodParams {
                    averaging_window,
                    ..AnomalyLikelihoodParams::default()
                }),
                context: context.clone(),
                ..NabDetectorParams::default()
            });
        }
    }
    let standard = Profile::standard();
    let mut best: Option<(f64, usize)> = None;
    let mut held_out = Vec::new();
    for (index, candidate) in candidates.iter().enumerate() {
        let mut means = [0.0; 2];
        for &seed in &seeds {
            let seeded = NabDetectorParams {
                detector: candidate
                    .detector
                    .with_settings(&[("seed".to_string(), seed.to_string())])?,
                ..candidate.clone()
            };
            for (half, (data, half_windows)) in halves.iter().enumerate() {
                let results = seeded.score_corpus(data)?;
                let sweep = CorpusSweep::new(&results, half_windows, PROBATIONARY_PERCENT)?;
                means[half] += sweep.optimise_threshold(&standard).normalised / seeds.len() as f64;
            }
        }
        println!(
            "context {:?} averaging {:>2}: first half {:.1}, second half {:.1}",
            candidate.context,
            candidate
                .likelihood
                .as_ref()
                .map_or(0, |l| l.averaging_window),
            means[0],
            means[1]
        );
        if best.is_none_or(|(score, _)| means[0] > score) {
            best = Some((means[0], index));
        }
        held_out.push(means[1]);
    }
    let (_, chosen) = best.expect("at least one candidate");
    println!(
        "chosen on the first half: {:?}, averaging {}; its held-out score {:.1}; best held-out {:.1}",
        candidates[chosen].context,
        candidates[chosen]
            .likelihood
            .as_ref()
            .map_or(0, |l| l.averaging_window),
        held_out[chosen],
        held_out.iter().copied().fold(f64::MIN, f64::max)
    );
    Ok(())
}
