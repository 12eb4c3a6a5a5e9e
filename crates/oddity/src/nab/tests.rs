//! Hand-computed NAB scores on tiny series.
//!
//! NAB's scaled sigmoid is `2 / (1 + e^(5x)) - 1 = tanh(-5x / 2)`, so the
//! expected values below are written with `tanh`: a detection at relative
//! position `x` in a window earns `tanh(-5x/2) / tanh(5/2)`.

use std::collections::BTreeMap;

use approx::assert_relative_eq;
use proptest::prelude::*;

use super::*;

/// One point per second.
const STEP_MS: i64 = 1000;

fn series(scores: &[f64]) -> SeriesResult {
    SeriesResult {
        timestamps: (0..scores.len() as i64).map(|i| i * STEP_MS).collect(),
        scores: scores.to_vec(),
    }
}

/// A window over points `first..=last` of a [`series`].
fn window(first: i64, last: i64) -> Window {
    Window {
        start: first * STEP_MS,
        end: last * STEP_MS,
    }
}

/// Scores with 1.0 at `flagged` and 0.0 elsewhere.
fn flags(n_points: usize, flagged: &[usize]) -> Vec<f64> {
    let mut scores = vec![0.0; n_points];
    for &point_idx in flagged {
        scores[point_idx] = 1.0;
    }
    scores
}

/// Raw standard-profile score with no probation, flagging at 0.5.
fn raw_score(n_points: usize, windows: &[Window], flagged: &[usize]) -> ThresholdScore {
    let result = series(&flags(n_points, flagged));
    let sweep = SeriesSweep::new("toy", &result, windows, 0.0).unwrap();
    sweep.score(&Profile::standard(), 0.5)
}

/// What a window detection at relative position `x` earns, with `A_TP = 1`.
fn reward(x: f64) -> f64 {
    (-2.5 * x).tanh() / 2.5f64.tanh()
}

#[test]
fn scaled_sigmoid_matches_its_closed_form() {
    assert_relative_eq!(scaled_sigmoid(-1.0), 2.5f64.tanh(), epsilon = 1e-15);
    assert_eq!(scaled_sigmoid(0.0), 0.0);
    assert_relative_eq!(scaled_sigmoid(1.0), -(2.5f64.tanh()), epsilon = 1e-15);
    assert_relative_eq!(scaled_sigmoid(3.0), -(7.5f64.tanh()), epsilon = 1e-15);
    assert_eq!(scaled_sigmoid(3.0001), -1.0);
}

#[test]
fn detection_at_window_start_earns_the_full_true_positive_weight() {
    let score = raw_score(10, &[window(4, 6)], &[4]);

    assert_eq!(score.score, 1.0);
    let expected = Counts {
        true_positives: 1,
        false_positives: 0,
        true_negatives: 7,
        false_negatives: 2,
    };
    assert_eq!(score.counts, expected);
}

#[test]
fn later_detections_in_a_window_earn_less() {
    // Width 3: the middle point sits at -2/3, the last at -1/3.
    let middle = raw_score(10, &[window(4, 6)], &[5]);
    let end = raw_score(10, &[window(4, 6)], &[6]);

    assert_relative_eq!(middle.score, reward(-2.0 / 3.0), epsilon = 1e-12);
    assert_relative_eq!(end.score, reward(-1.0 / 3.0), epsilon = 1e-12);
    assert!(end.score > 0.0 && end.score < middle.score && middle.score < 1.0);
}

#[test]
fn only_the_first_detection_in_a_window_counts() {
    let score = raw_score(10, &[window(4, 6)], &[5, 4, 6]);

    assert_eq!(score.score, 1.0);
    assert_eq!(score.counts.true_positives, 3);
    assert_eq!(score.counts.false_negatives, 0);
}

#[test]
fn missed_window_costs_the_false_negative_weight() {
    let standard = raw_score(10, &[window(4, 6)], &[]);
    let result = series(&flags(10, &[]));
    let sweep = SeriesSweep::new("toy", &result, &[window(4, 6)], 0.0).unwrap();
    let low_fn = sweep.score(&Profile::reward_low_fn_rate(), 0.5);

    assert_eq!(standard.score, -1.0);
    assert_eq!(standard.counts.false_negatives, 3);
    assert_eq!(low_fn.score, -2.0);
    assert_eq!(sweep.null_score(&Profile::reward_low_fn_rate()), -2.0);
}

#[test]
fn false_positive_before_any_window_costs_the_full_weight() {
    let score = raw_score(10, &[window(4, 6)], &[1]);

    assert_relative_eq!(score.score, -0.11 - 1.0, epsilon = 1e-15);
    assert_eq!(score.counts.false_positives, 1);
}

#[test]
fn false_positive_cost_grows_with_distance_past_the_window() {
    // Width 3, so distances count in units of width - 1 = 2 points.
    let just_after = raw_score(20, &[window(4, 6)], &[4, 7]);
    let one_unit = raw_score(20, &[window(4, 6)], &[4, 8]);
    let far = raw_score(20, &[window(4, 6)], &[4, 13]);

    assert_relative_eq!(
        just_after.score,
        1.0 - 0.11 * 1.25f64.tanh(),
        epsilon = 1e-12
    );
    assert_relative_eq!(one_unit.score, 1.0 - 0.11 * 2.5f64.tanh(), epsilon = 1e-12);
    // Seven points past is 3.5 units, beyond the sigmoid's cut-off.
    assert_relative_eq!(far.score, 1.0 - 0.11, epsilon = 1e-15);
}

#[test]
fn false_positive_is_measured_from_the_preceding_window() {
    // Point 12 is 1 unit (2 points) past the first window, and comes before
    // the second: the later window plays no part.
    let score = raw_score(30, &[window(8, 10), window(20, 22)], &[12]);

    assert_relative_eq!(score.score, -0.11 * 2.5f64.tanh() - 2.0, epsilon = 1e-12);
}

#[test]
fn false_positive_after_a_one_point_window_costs_the_full_weight() {
    let score = raw_score(10, &[window(4, 4)], &[4, 5]);

    assert_relative_eq!(score.score, 1.0 - 0.11, epsilon = 1e-15);
}

#[test]
fn probationary_length_follows_nab_rounding() {
    assert_eq!(probationary_len(20, PROBATIONARY_PERCENT), 3);
    assert_eq!(probationary_len(4032, PROBATIONARY_PERCENT), 604);
    assert_eq!(probationary_len(4999, PROBATIONARY_PERCENT), 749);
    assert_eq!(probationary_len(22695, PROBATIONARY_PERCENT), 750);
    assert_eq!(probationary_len(0, PROBATIONARY_PERCENT), 0);
    assert_eq!(probationary_len(100, 0.0), 0);
    // A fractional cap, 0.1501 * 5000 = 750.5, leaves 751 points out.
    assert_eq!(probationary_len(100_000, 0.1501), 751);
}

#[test]
fn probationary_points_are_neither_rewarded_nor_penalised() {
    // 20 points: the first 3 are probationary. Window 0..=2 lies inside
    // them; window 5..=8 straddles nothing.
    let windows = [window(0, 2), window(5, 8)];
    let result = series(&flags(20, &[1, 2]));
    let sweep = SeriesSweep::new("toy", &result, &windows, PROBATIONARY_PERCENT).unwrap();

    let score = sweep.score(&Profile::standard(), 0.5);

    assert_eq!(sweep.n_probationary(), 3);
    assert_eq!(sweep.n_scored_windows(), 1);
    assert_eq!(score.score, -1.0);
    assert_eq!(score.counts.n_points(), 17);
    assert_eq!(score.counts.true_positives, 0);
}

#[test]
fn window_straddling_probation_is_scored_by_its_full_width() {
    // Probation covers points 0..3; the window is 1..=4 (width 4), and its
    // first scored point, 3, sits at -(4 - 3 + 1) / 4 = -0.5.
    let result = series(&flags(20, &[3]));
    let sweep = SeriesSweep::new("toy", &result, &[window(1, 4)], PROBATIONARY_PERCENT).unwrap();

    let score = sweep.score(&Profile::standard(), 0.5);

    assert_relative_eq!(score.score, reward(-0.5), epsilon = 1e-12);
}

#[test]
fn score_equal_to_threshold_is_a_detection() {
    let result = series(&[0.0, 0.0, 0.0, 0.0, 0.25, 0.0]);
    let sweep = SeriesSweep::new("toy", &result, &[window(4, 5)], 0.0).unwrap();

    assert_eq!(sweep.score(&Profile::standard(), 0.25).score, 1.0);
    assert_eq!(sweep.score(&Profile::standard(), 0.2501).score, -1.0);
}

#[test]
fn normalised_score_is_zero_for_null_and_one_hundred_for_perfect() {
    let windows = CorpusWindows::new(BTreeMap::from([
        ("a.csv".to_string(), vec![window(2, 4)]),
        ("b.csv".to_string(), vec![]),
    ]))
    .unwrap();
    let corpus = |flagged: &[usize]| {
        let results = BTreeMap::from([
            ("a.csv".to_string(), series(&flags(8, flagged))),
            ("b.csv".to_string(), series(&flags(8, &[]))),
        ]);
        CorpusSweep::new(&results, &windows, 0.0).unwrap()
    };
    let profile = Profile::reward_low_fn_rate();

    let perfect = corpus(&[2]).score(&profile, 0.5);
    let null = corpus(&[]).score(&profile, 0.5);
    let late = corpus(&[4]).score(&profile, 0.5);

    assert_eq!((perfect.null, perfect.perfect), (-2.0, 1.0));
    assert_eq!(perfect.normalised, 100.0);
    assert_eq!(null.normalised, 0.0);
    assert_relative_eq!(late.normalised, 100.0 * (reward(-1.0 / 3.0) + 2.0) / 3.0);
}

#[test]
fn optimiser_picks_the_best_threshold_and_the_highest_on_ties() {
    // The window's points score 0.6 and 0.4; a false positive far before
    // it 0.8. Flagging at 0.6 earns 1 - 0.11, at 0.8 only the false
    // positive; 0.4 ties with 0.6, as the window is already hit.
    let mut scores = vec![0.1; 12];
    scores[1] = 0.8;
    scores[8] = 0.6;
    scores[9] = 0.4;
    let windows =
        CorpusWindows::new(BTreeMap::from([("a.csv".to_string(), vec![window(8, 9)])])).unwrap();
    let results = BTreeMap::from([("a.csv".to_string(), series(&scores))]);
    let corpus = CorpusSweep::new(&results, &windows, 0.0).unwrap();

    let best = corpus.optimise_threshold(&Profile::standard());
    let rows = corpus.scores_by_threshold(&Profile::standard());

    assert_eq!(best.threshold, 0.6);
    assert_relative_eq!(best.raw, 1.0 - 0.11, epsilon = 1e-15);
    let thresholds: Vec<f64> = rows.iter().map(|row| row.threshold).collect();
    assert_eq!(thresholds, [1.1, 0.8, 0.6, 0.4, 0.1]);
    assert_eq!(rows[0].score, -1.0);
    assert_eq!(rows[2].score, rows[3].score);
}

#[test]
fn optimiser_prefers_flagging_nothing_when_everything_costs() {
    // Flagging everything (threshold 0) hits the window but pays for 25
    // false positives before it, which costs more than missing it.
    let windows = CorpusWindows::new(BTreeMap::from([(
        "a.csv".to_string(),
        vec![window(25, 26)],
    )]))
    .unwrap();
    let mut scores = vec![0.0; 30];
    scores[2] = 0.9;
    let results = BTreeMap::from([("a.csv".to_string(), series(&scores))]);
    let corpus = CorpusSweep::new(&results, &windows, 0.0).unwrap();

    let best = corpus.optimise_threshold(&Profile::standard());

    assert_eq!(best.threshold, 1.1);
    assert_eq!(best.raw, -1.0);
    assert_eq!(best.normalised, 0.0);
}

#[test]
fn window_edge_missing_from_the_series_is_an_error() {
    let result = series(&[0.0; 5]);
    let off_grid = Window {
        start: 1500,
        end: 3000,
    };

    let error = SeriesSweep::new("a.csv", &result, &[off_grid], 0.0).unwrap_err();

    assert!(matches!(
        error,
        NabError::WindowNotInSeries { edge: "start", .. }
    ));
    assert_eq!(
        error.to_string(),
        "a.csv: window 0 start 1970-01-01 00:00:01.500 is not a timestamp of the series"
    );
}

#[test]
fn overlapping_or_reversed_windows_are_errors() {
    let overlapping = [window(1, 4), window(4, 6)];
    let reversed = [window(4, 1)];

    let overlap_error =
        CorpusWindows::new(BTreeMap::from([("a".to_string(), overlapping.to_vec())]));
    let reversed_error = SeriesSweep::new("a", &series(&[0.0; 8]), &reversed, 0.0);

    assert!(matches!(
        overlap_error,
        Err(NabError::InvalidWindows { window_idx: 1, .. })
    ));
    assert!(matches!(
        reversed_error,
        Err(NabError::InvalidWindows { window_idx: 0, .. })
    ));
}

#[test]
fn repeated_timestamps_locate_windows_at_their_first_point() {
    // Timestamps 0, 1, 1, 2, 3, ...: the window 1..=3 seconds runs from point
    // 1 to point 4, width 4, so flagging point 2 sits at -3/4.
    let mut result = series(&flags(10, &[2]));
    result.timestamps = vec![0, 1, 1, 2, 3, 4, 5, 6, 7, 8];
    result.timestamps.iter_mut().for_each(|t| *t *= STEP_MS);
    let sweep = SeriesSweep::new("a", &result, &[window(1, 3)], 0.0).unwrap();

    let score = sweep.score(&Profile::standard(), 0.5);

    assert_relative_eq!(score.score, reward(-0.75), epsilon = 1e-12);
}

#[test]
fn invalid_inputs_are_errors_not_panics() {
    let mismatched = SeriesResult {
        timestamps: vec![0, 1000],
        scores: vec![0.0],
    };
    let nan = series(&[0.0, f64::NAN]);

    assert!(matches!(
        SeriesSweep::new("a", &mismatched, &[], 0.0),
        Err(NabError::LengthMismatch { .. })
    ));
    assert!(matches!(
        SeriesSweep::new("a", &nan, &[], 0.0),
        Err(NabError::NonFiniteScore { point_idx: 1, .. })
    ));
    assert!(matches!(
        SeriesSweep::new("a", &series(&[0.0]), &[], 1.5),
        Err(NabError::InvalidProbationaryPercent { .. })
    ));
    assert!(matches!(
        Profile::new("p", 0.0, 0.11, 1.0, 1.0),
        Err(NabError::InvalidProfile {
            weight: "true_positive",
            ..
        })
    ));
    assert!(matches!(
        Profile::new("p", 1.0, -0.11, 1.0, 1.0),
        Err(NabError::InvalidProfile {
            weight: "false_positive",
            ..
        })
    ));
}

#[test]
fn corpus_must_cover_the_same_series_as_its_windows() {
    let windows =
        CorpusWindows::new(BTreeMap::from([("a.csv".to_string(), vec![window(1, 2)])])).unwrap();
    let extra = BTreeMap::from([
        ("a.csv".to_string(), series(&[0.0; 4])),
        ("b.csv".to_string(), series(&[0.0; 4])),
    ]);
    let missing = BTreeMap::new();
    let no_windows = CorpusWindows::new(BTreeMap::from([("a.csv".to_string(), vec![])])).unwrap();

    assert!(matches!(
        CorpusSweep::new(&extra, &windows, 0.0),
        Err(NabError::UnknownSeries { .. })
    ));
    assert!(matches!(
        CorpusSweep::new(&missing, &windows, 0.0),
        Err(NabError::MissingSeries { .. })
    ));
    assert!(matches!(
        CorpusSweep::new(&extra, &no_windows, 0.0),
        Err(NabError::UnknownSeries { .. })
    ));
    let only_a = BTreeMap::from([("a.csv".to_string(), series(&[0.0; 4]))]);
    assert!(matches!(
        CorpusSweep::new(&only_a, &no_windows, 0.0),
        Err(NabError::NoWindows)
    ));
}

#[test]
fn timestamps_parse_as_nab_writes_them() {
    assert_eq!(load::parse_timestamp("1970-01-01 00:00:01"), Some(1000));
    assert_eq!(
        load::parse_timestamp("1970-01-01 00:00:01.500000"),
        Some(1500)
    );
    assert_eq!(
        load::parse_timestamp("1970-01-01T00:01:00.25"),
        Some(60_250)
    );
    assert_eq!(load::parse_timestamp("2014-02-30 00:00:00"), None);
    assert_eq!(load::parse_timestamp("2014-02-01 00:00"), None);
    assert_eq!(load::parse_timestamp("2014-02-01 00:00:00."), None);
    assert_eq!(load::parse_timestamp("2014-02-01 00:00:00Z"), None);
    assert_eq!(load::parse_timestamp("2014-02-01 0a:00:00"), None);
    assert_eq!(load::parse_timestamp("é014-02-01 00:00:00"), None);
}

#[test]
fn loaders_read_a_tiny_nab_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("results/toy/cat")).unwrap();
    std::fs::write(
        root.join("windows.json"),
        r#"{"cat/a.csv": [["2020-01-01 00:00:02.000000", "2020-01-01 00:00:03.000000"]]}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("profiles.json"),
        r#"{"standard": {"CostMatrix":
            {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("thresholds.json"),
        r#"{"toy": {"standard": {"score": 3.0, "threshold": 0.5}}}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("results/toy/cat/toy_a.csv"),
        "timestamp,value,anomaly_score,label\n\
         2020-01-01 00:00:00,1,0.0,0\n\
         2020-01-01 00:00:01,1,0.0,0\n\
         2020-01-01 00:00:02,9,0.7,1\n\
         2020-01-01 00:00:03,1,0.0,1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("results/toy/toy_standard_scores.csv"),
        "ignored\n",
    )
    .unwrap();

    let windows = load_windows(root.join("windows.json")).unwrap();
    let profiles = load_profiles(root.join("profiles.json")).unwrap();
    let thresholds = load_thresholds(root.join("thresholds.json")).unwrap();
    let results = load_corpus_results(root.join("results"), "toy").unwrap();
    let corpus = CorpusSweep::new(&results, &windows, 0.0).unwrap();
    let threshold = thresholds.get("toy", "standard").unwrap();
    let score = corpus.score(&profiles[0], threshold);

    assert_eq!(profiles, [Profile::standard()]);
    assert_eq!(results.keys().collect::<Vec<_>>(), ["cat/a.csv"]);
    assert_eq!(score.raw, 1.0);
    assert_eq!(score.normalised, 100.0);
}

#[test]
fn bad_results_files_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let write_and_load = |text: &str| {
        std::fs::write(&path, text).unwrap();
        load_series_result(&path).unwrap_err().to_string()
    };
    let file = path.display().to_string();

    let bad_score = write_and_load("timestamp,anomaly_score\n2020-01-01 00:00:00,high\n");
    let bad_time = write_and_load("timestamp,anomaly_score\nyesterday,0.5\n");
    let no_column = write_and_load("timestamp,score\n2020-01-01 00:00:00,0.5\n");
    let ragged = write_and_load("timestamp,anomaly_score\n2020-01-01 00:00:00,0.5,9\n");

    assert_eq!(
        bad_score,
        format!("{file}: line 2: anomaly_score \"high\" is not a number")
    );
    assert!(bad_time.starts_with(&format!("{file}: line 2: invalid timestamp \"yesterday\"")));
    assert_eq!(
        no_column,
        format!("{file}: no \"anomaly_score\" column in the header")
    );
    assert!(ragged.starts_with(&format!("{file}: line 2: ")), "{ragged}");
    assert!(load_corpus_results(dir.path(), "absent").is_err());
}

#[test]
fn unprefixed_results_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("toy/cat")).unwrap();
    std::fs::write(
        dir.path().join("toy/cat/other_a.csv"),
        "timestamp,anomaly_score\n",
    )
    .unwrap();

    let error = load_corpus_results(dir.path(), "toy").unwrap_err();

    assert!(matches!(error, NabError::UnexpectedResultFile { .. }));
}

/// A short random series with up to two windows, as (scores, window
/// bounds); scores come from a small set so that ties are common.
fn arbitrary_series() -> impl Strategy<Value = (Vec<f64>, Vec<(i64, i64)>)> {
    (2usize..40)
        .prop_flat_map(|n_points| {
            let scores = proptest::collection::vec(
                prop_oneof![Just(0.0), Just(0.25), Just(0.5), Just(1.0), 0.0..1.0f64],
                n_points,
            );
            let cuts = proptest::collection::btree_set(0..n_points as i64, 0..=4);
            (scores, cuts)
        })
        .prop_map(|(scores, cuts)| {
            let cuts: Vec<i64> = cuts.into_iter().collect();
            let windows = cuts
                .chunks_exact(2)
                .map(|pair| (pair[0], pair[1]))
                .collect();
            (scores, windows)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The sweep over all thresholds and direct scoring at each threshold
    /// are two paths to the same numbers.
    #[test]
    fn sweep_rows_equal_direct_scoring(
        (scores, bounds) in arbitrary_series(),
        percent in 0.0..0.5f64,
    ) {
        let windows: Vec<Window> = bounds.iter().map(|&(a, b)| window(a, b)).collect();
        let result = series(&scores);
        let sweep = SeriesSweep::new("p", &result, &windows, percent).unwrap();

        for profile in Profile::nab_profiles() {
            let rows = sweep.scores_by_threshold(&profile);
            prop_assert_eq!(rows[0].counts.true_positives + rows[0].counts.false_positives, 0);
            for row in rows {
                let direct = sweep.score(&profile, row.threshold);
                prop_assert!((direct.score - row.score).abs() < 1e-9);
                prop_assert_eq!(direct.counts, row.counts);
            }
        }
    }

    /// Any finite input scores without panicking, within the null and
    /// perfect bounds for a window hit.
    #[test]
    fn scoring_never_panics(
        scores in proptest::collection::vec(prop_oneof![any::<f64>(), Just(f64::NAN)], 0..30),
        threshold in any::<f64>(),
    ) {
        let result = series(&scores);
        let windows = if scores.len() >= 3 { vec![window(1, 2)] } else { vec![] };
        if let Ok(sweep) = SeriesSweep::new("p", &result, &windows, PROBATIONARY_PERCENT) {
            let score = sweep.score(&Profile::standard(), threshold);
            prop_assert!(score.score.is_finite());
            prop_assert!(score.score <= windows.len() as f64);
            let _ = sweep.scores_by_threshold(&Profile::standard());
        }
    }
}
