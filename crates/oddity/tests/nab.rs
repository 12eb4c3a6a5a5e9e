//! NAB v1.1 reproduction: scoring the published per-point results at the
//! published thresholds gives the published scoreboard.
//!
//! The data is an extract of the NAB repository at
//! `../../../shared/data/nab` from this crate (`ODDITY_NAB_DIR` overrides
//! it). Every test prints a message and passes when the data is absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use oddity::nab::{
    self, CorpusSweep, CorpusWindows, PROBATIONARY_PERCENT, Profile, SeriesResult, Thresholds,
};

/// Published normalised scores agree to this many decimals (the brief's 4).
const SCOREBOARD_TOLERANCE: f64 = 5e-5;

/// The per-file scores CSVs print 12 significant digits.
const SCORES_CSV_TOLERANCE: f64 = 1e-9;

struct Nab {
    dir: PathBuf,
    windows: CorpusWindows,
    thresholds: Thresholds,
    /// detector -> profile -> normalised score, from final_results.json.
    final_results: BTreeMap<String, BTreeMap<String, f64>>,
}

fn nab_dir() -> PathBuf {
    match std::env::var_os("ODDITY_NAB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nab"),
    }
}

/// The NAB extract, read once per test binary; `None` when it is absent.
fn nab() -> Option<&'static Nab> {
    static NAB: OnceLock<Option<Nab>> = OnceLock::new();
    NAB.get_or_init(|| {
        let dir = nab_dir();
        if !dir.join("results/final_results.json").is_file() {
            return None;
        }
        let final_results = serde_json::from_str(
            &std::fs::read_to_string(dir.join("results/final_results.json"))
                .expect("final_results.json is readable"),
        )
        .expect("final_results.json maps detectors to profile scores");
        Some(Nab {
            windows: nab::load_windows(dir.join("labels/combined_windows.json"))
                .expect("combined_windows.json loads"),
            thresholds: nab::load_thresholds(dir.join("config/thresholds.json"))
                .expect("thresholds.json loads"),
            final_results,
            dir,
        })
    })
    .as_ref()
    .or_else(|| {
        eprintln!("skipping: no NAB data at {}", nab_dir().display());
        None
    })
}

/// Detectors whose per-point outputs are shipped, with their corpus sweeps.
fn shipped_detectors(nab: &Nab) -> &'static [(String, CorpusSweep)] {
    static SWEEPS: OnceLock<Vec<(String, CorpusSweep)>> = OnceLock::new();
    SWEEPS.get_or_init(|| {
        let results_dir = nab.dir.join("results");
        let mut sweeps = Vec::new();
        for detector in nab.thresholds.detectors() {
            if !results_dir.join(detector).is_dir() {
                continue;
            }
            let results = nab::load_corpus_results(&results_dir, detector)
                .expect("shipped per-point results load");
            if results.is_empty() {
                continue;
            }
            let sweep = CorpusSweep::new(&results, &nab.windows, PROBATIONARY_PERCENT)
                .expect("shipped results line up with the windows");
            sweeps.push((detector.to_string(), sweep));
        }
        sweeps
    })
}

fn nab_profiles(nab: &Nab) -> Vec<Profile> {
    let profiles =
        nab::load_profiles(nab.dir.join("config/profiles.json")).expect("profiles.json loads");
    assert_eq!(profiles.len(), 3);
    for profile in Profile::nab_profiles() {
        assert!(
            profiles.contains(&profile),
            "{} differs from profiles.json",
            profile.name()
        );
    }
    profiles
}

/// One row of a `<detector>_<profile>_scores.csv` file.
struct ScoresRow {
    file: String,
    score: f64,
    counts: [usize; 4],
}

fn read_scores_csv(path: &Path) -> Vec<ScoresRow> {
    let mut reader = csv::Reader::from_path(path).expect("scores CSV is readable");
    reader
        .records()
        .map(|record| {
            let record = record.expect("scores CSV rows are well formed");
            let count = |idx: usize| record[idx].parse().expect("counts are integers");
            ScoresRow {
                file: record[2].to_string(),
                score: record[4].parse().expect("scores are numbers"),
                counts: [count(5), count(6), count(7), count(8)],
            }
        })
        .collect()
}

#[test]
fn published_thresholds_reproduce_the_scoreboard() {
    let Some(nab) = nab() else { return };
    let profiles = nab_profiles(nab);
    let detectors = shipped_detectors(nab);
    assert!(!detectors.is_empty(), "no detector with per-point results");

    for (detector, sweep) in detectors {
        for profile in &profiles {
            let threshold = nab.thresholds.get(detector, profile.name()).unwrap();
            let score = sweep.score(profile, threshold);

            let published = nab.final_results[detector.as_str()][profile.name()];
            let difference = (score.normalised - published).abs();
            eprintln!(
                "{detector} {}: normalised {:.6} published {published:.6} |diff| {difference:.2e}",
                profile.name(),
                score.normalised
            );
            assert!(
                difference < SCOREBOARD_TOLERANCE,
                "{detector} {}",
                profile.name()
            );
        }
    }
}

#[test]
fn per_series_scores_and_counts_match_the_scores_csv() {
    let Some(nab) = nab() else { return };
    let profiles = nab_profiles(nab);

    for (detector, sweep) in shipped_detectors(nab) {
        for profile in &profiles {
            let threshold = nab.thresholds.get(detector, profile.name()).unwrap();
            let score = sweep.score(profile, threshold);
            let path = nab.dir.join(format!(
                "results/{detector}/{detector}_{}_scores.csv",
                profile.name()
            ));
            let rows = read_scores_csv(&path);

            let ours: BTreeMap<&str, _> = score
                .series
                .iter()
                .map(|(name, score)| (name.as_str(), score))
                .collect();
            let mut n_compared = 0;
            for row in rows.iter().filter(|row| !row.file.is_empty()) {
                let series = ours[row.file.as_str()];
                let counts = series.counts;
                let expected = [
                    counts.true_positives,
                    counts.true_negatives,
                    counts.false_positives,
                    counts.false_negatives,
                ];
                assert_eq!(
                    row.counts,
                    expected,
                    "{detector} {} {}",
                    profile.name(),
                    row.file
                );
                assert!(
                    (series.score - row.score).abs() < SCORES_CSV_TOLERANCE,
                    "{detector} {} {}: {} vs {}",
                    profile.name(),
                    row.file,
                    series.score,
                    row.score
                );
                n_compared += 1;
            }
            assert_eq!(n_compared, nab.windows.n_series());
        }
    }
}

/// Normalising each detector's published raw total (the `Totals` row of its
/// scores CSV) with this scorer's null and perfect scores gives its
/// scoreboard entry. This checks normalisation for detectors whose
/// per-point outputs are not shipped; `random`'s totals are stale upstream.
#[test]
fn published_raw_totals_normalise_to_the_scoreboard() {
    let Some(nab) = nab() else { return };
    let profiles = nab_profiles(nab);
    let Some((_, sweep)) = shipped_detectors(nab).first() else {
        panic!("no detector with per-point results to take null scores from");
    };

    let mut n_checked = 0;
    for (detector, published) in &nab.final_results {
        if detector == "random" {
            continue;
        }
        for profile in &profiles {
            let path = nab.dir.join(format!(
                "results/{detector}/{detector}_{}_scores.csv",
                profile.name()
            ));
            let rows = read_scores_csv(&path);
            let raw = rows.last().unwrap().score;

            let null = sweep.null_score(profile);
            let perfect = sweep.perfect_score(profile);
            let normalised = nab::normalised_score(raw, null, perfect);
            let expected = published[profile.name()];
            assert!(
                (normalised - expected).abs() < SCOREBOARD_TOLERANCE,
                "{detector} {}: {normalised} vs {expected}",
                profile.name()
            );
            n_checked += 1;
        }
    }
    assert!(n_checked >= 3 * 14, "checked only {n_checked} scores");
}

/// NAB's null detector never fires; scoring all-zero outputs at its
/// published threshold must give its scores CSVs exactly.
#[test]
fn null_detector_scores_match_the_published_null_results() {
    let Some(nab) = nab() else { return };
    let profiles = nab_profiles(nab);
    let Some((detector, _)) = shipped_detectors(nab).first() else {
        panic!("no detector with per-point results to take timestamps from");
    };
    let results = nab::load_corpus_results(nab.dir.join("results"), detector).unwrap();
    let zeros: BTreeMap<String, SeriesResult> = results
        .into_iter()
        .map(|(name, result)| {
            let scores = vec![0.0; result.scores.len()];
            (
                name,
                SeriesResult {
                    timestamps: result.timestamps,
                    scores,
                },
            )
        })
        .collect();
    let sweep = CorpusSweep::new(&zeros, &nab.windows, PROBATIONARY_PERCENT).unwrap();

    for profile in &profiles {
        let threshold = nab.thresholds.get("null", profile.name()).unwrap();
        let score = sweep.score(profile, threshold);
        let path = nab
            .dir
            .join(format!("results/null/null_{}_scores.csv", profile.name()));
        let published = read_scores_csv(&path).last().unwrap().score;

        assert_eq!(score.raw, published);
        assert_eq!(score.raw, score.null);
        assert_eq!(score.normalised, 0.0);
    }
}

/// The optimiser does at least as well as the published threshold.
#[test]
fn optimised_threshold_scores_at_least_the_published_one() {
    let Some(nab) = nab() else { return };
    let profiles = nab_profiles(nab);

    for (detector, sweep) in shipped_detectors(nab) {
        for profile in &profiles {
            let published_threshold = nab.thresholds.get(detector, profile.name()).unwrap();
            let published = sweep.score(profile, published_threshold);

            let started = Instant::now();
            let best = sweep.optimise_threshold(profile);
            let elapsed = started.elapsed();

            eprintln!(
                "{detector} {}: optimised threshold {} raw {:.6} normalised {:.6} in {elapsed:?}; \
                 published threshold {published_threshold} raw {:.6}",
                profile.name(),
                best.threshold,
                best.raw,
                best.normalised,
                published.raw
            );
            assert!(
                best.raw >= published.raw - 1e-9,
                "{detector} {}",
                profile.name()
            );
        }
    }
}
