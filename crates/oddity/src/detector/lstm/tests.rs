use super::*;
use crate::detector::ecdf::reference::gaussian;
use ndarray::Array2;

fn with_steps(steps: usize) -> LstmAutoencoderParams {
    LstmAutoencoderParams {
        steps,
        ..LstmAutoencoderParams::default()
    }
}

#[test]
fn bad_parameters_are_rejected_with_their_names() {
    let cases = [
        (
            LstmAutoencoderParams {
                hidden: 0,
                ..with_steps(2)
            },
            "hidden must be 1 to 4096, got 0",
        ),
        (
            LstmAutoencoderParams {
                epochs: 0,
                ..with_steps(2)
            },
            "epochs must be 1 to 100000, got 0",
        ),
        (
            LstmAutoencoderParams {
                batch_size: 0,
                ..with_steps(2)
            },
            "batch_size must be at least 1, got 0",
        ),
        (
            LstmAutoencoderParams {
                learning_rate: -1.0,
                ..with_steps(2)
            },
            "learning_rate must be positive and finite, got -1",
        ),
    ];
    for (params, message) in cases {
        assert_eq!(params.validate().unwrap_err().to_string(), message);
        let error = LstmAutoencoder::fit(&params, gaussian(10, 4, 1).view()).unwrap_err();
        assert_eq!(error.to_string(), format!("invalid parameter: {message}"));
    }
    assert_eq!(LstmAutoencoderParams::default().validate(), Ok(()));
}

#[test]
fn fitting_without_a_sequence_length_asks_for_a_window() {
    let error = LstmAutoencoder::fit(&with_steps(0), gaussian(10, 4, 1).view()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the lstm_autoencoder detector scores sequences: give --window W"
    );
    let error = LstmAutoencoder::fit(&with_steps(3), gaussian(10, 4, 1).view()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid parameter: steps must divide the 4 features of a window, got 3"
    );
    let error = LstmAutoencoder::fit(&with_steps(2), gaussian(1, 4, 1).view()).unwrap_err();
    assert!(error.to_string().contains("at least 2 windows"), "{error}");
}

#[cfg(not(feature = "autoencoder"))]
#[test]
fn fitting_without_the_feature_says_how_to_get_it() {
    let error = LstmAutoencoder::fit(&with_steps(2), gaussian(10, 4, 1).view()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the lstm_autoencoder detector cannot be trained by this build: rebuild with \
         --features autoencoder"
    );
}

/// An untrained network of 3 steps of 2 features, 4 hidden units: enough
/// to check the plain forward pass's plumbing without candle.
fn untrained() -> LstmAutoencoder {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    LstmAutoencoder {
        params: LstmAutoencoderParams {
            hidden: 4,
            ..with_steps(3)
        },
        step_features: 2,
        mean: vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        scale: vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
        network: Network {
            encoder: LstmLayer::initial(2, 4, &mut rng),
            decoder: LstmLayer::initial(2, 4, &mut rng),
            output: DenseLayer::initial(4, 2, &mut rng),
        },
        epoch_losses: vec![],
    }
}

#[test]
fn a_zero_network_reconstructs_its_output_bias_at_every_step() {
    let mut detector = untrained();
    for layer in [&mut detector.network.encoder, &mut detector.network.decoder] {
        layer.input_weights.fill(0.0);
        layer.hidden_weights.fill(0.0);
        layer.bias.fill(0.0);
    }
    detector.network.output.weights.fill(0.0);
    detector.network.output.bias = vec![1.0, -1.0];
    // Standardised: (x0 - 0) / 1 and (x1 - 1) / 2 per step; the
    // reconstruction is (1, -1) at every step.
    let window = [1.0, 1.0, 3.0, -1.0, 0.0, 1.0];
    let errors = [0.0, 1.0, 4.0, 0.0, 1.0, 1.0];
    let scores = detector.score(
        ndarray::Array2::from_shape_vec((1, 6), window.to_vec())
            .unwrap()
            .view(),
    );
    assert_eq!(scores, vec![errors.iter().sum::<f64>() / 6.0]);
    let shares = detector.attribute(ArrayView1::from(&window));
    let total: f64 = errors.iter().sum();
    let expected: Vec<f64> = errors.iter().map(|error| error / total).collect();
    assert_eq!(shares, expected);
}

#[test]
fn non_finite_and_misshapen_windows_do_not_panic() {
    let detector = untrained();
    let mut odd = gaussian(2, 6, 3);
    odd[[0, 2]] = f64::NAN;
    odd[[1, 5]] = f64::INFINITY;
    let scores = detector.score(odd.view());
    assert!(scores[0].is_nan());
    assert_eq!(scores[1], f64::INFINITY);
    assert_eq!(detector.attribute(odd.row(1))[5], 1.0);
    let wrong = detector.score(Array2::zeros((2, 4)).view());
    assert!(wrong.iter().all(|score| score.is_nan()));
    assert_eq!(detector.attribute(ArrayView1::from(&[1.0])), vec![0.0; 6]);
    let huge = Array2::from_elem((1, 6), 1e300);
    assert!(!detector.score(huge.view())[0].is_nan());
}

#[test]
fn a_saved_model_scores_identically_in_any_build() {
    let detector = untrained();
    let bytes = postcard::to_stdvec(&detector).unwrap();
    let loaded: LstmAutoencoder = postcard::from_bytes(&bytes).unwrap();
    let probes = gaussian(50, 6, 7);
    let scores = detector.score(probes.view());
    assert!(scores.iter().all(|score| score.is_finite() && *score > 0.0));
    assert_eq!(loaded.score(probes.view()), scores);
    assert_eq!(loaded.params(), detector.params());
}

/// Tests of training, which needs candle.
#[cfg(feature = "autoencoder")]
mod trained {
    use super::*;
    use approx::assert_abs_diff_eq;

    const PERIOD: usize = 32;
    /// Rows of the planted stretch in [`sine_with_wrong_shape`].
    const PLANTED: std::ops::Range<usize> = 640..672;

    /// A noisy sine of period 32 whose one period at `PLANTED` is a sine
    /// of three times the frequency: every value is in the usual range,
    /// the shape is not.
    fn sine_with_wrong_shape(n_rows: usize, seed: u64) -> Vec<f64> {
        let noise = gaussian(n_rows, 1, seed);
        (0..n_rows)
            .map(|row| {
                let frequency = if PLANTED.contains(&row) { 3.0 } else { 1.0 };
                let phase = row as f64 * std::f64::consts::TAU / PERIOD as f64;
                (frequency * phase).sin() + 0.05 * noise[[row, 0]]
            })
            .collect()
    }

    /// Every window of `width` consecutive values, one per row.
    fn windows(series: &[f64], width: usize) -> Array2<f64> {
        let count = series.len() - width + 1;
        Array2::from_shape_fn((count, width), |(start, lag)| series[start + lag])
    }

    fn quick(steps: usize) -> LstmAutoencoderParams {
        LstmAutoencoderParams {
            hidden: 16,
            epochs: 5,
            ..with_steps(steps)
        }
    }

    #[test]
    fn plain_forward_pass_equals_candles() {
        // Two features per step, so that the layout of steps and
        // features is checked too.
        let points = gaussian(200, 16, 3);
        let detector = LstmAutoencoder::fit(&quick(8), points.view()).unwrap();
        let probes = gaussian(20, 16, 9);
        let mut buffers = Buffers::new(&detector);
        let mut standardised = Vec::new();
        let mut plain = Vec::new();
        for row in probes.rows() {
            detector.standardised(&row.to_vec(), &mut buffers.input);
            // The same f32 input candle gets.
            for value in buffers.input.iter_mut() {
                *value = f64::from(*value as f32);
            }
            standardised.extend(buffers.input.iter().map(|&value| value as f32));
            detector.reconstruct(&mut buffers);
            plain.extend(buffers.output.iter().copied());
        }
        let candle = train::candle_reconstruction(&detector.network, &standardised, 8).unwrap();
        assert_eq!(candle.len(), plain.len());
        for (plain, candle) in plain.iter().zip(&candle) {
            assert_abs_diff_eq!(*plain, f64::from(*candle), epsilon = 1e-5);
        }
    }

    #[test]
    fn a_window_of_the_wrong_shape_scores_highest() {
        let series = sine_with_wrong_shape(1500, 4);
        let points = windows(&series, PERIOD);
        let detector = LstmAutoencoder::fit(&with_steps(PERIOD), points.view()).unwrap();
        let losses = detector.epoch_losses();
        assert!(losses[losses.len() - 1] < 0.5 * losses[0], "{losses:?}");
        let scores = detector.score(points.view());
        let mut ranked: Vec<usize> = (0..scores.len()).collect();
        ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        // The ten highest windows all overlap the planted stretch.
        for &start in &ranked[..10] {
            assert!(
                start + PERIOD > PLANTED.start && start < PLANTED.end,
                "window {start} ranks high: {:?}",
                &ranked[..10]
            );
        }
        // A window whose second half is the planted stretch puts most of
        // its attribution there.
        let shares = detector.attribute(points.row(PLANTED.start - PERIOD / 2));
        assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
        let planted: f64 = shares[PERIOD / 2..].iter().sum();
        assert!(planted > 0.5, "{shares:?}");
    }

    #[test]
    fn same_seed_same_model_and_other_seeds_differ() {
        let points = windows(&sine_with_wrong_shape(300, 2), 8);
        let fit = |seed| {
            let params = LstmAutoencoderParams { seed, ..quick(8) };
            LstmAutoencoder::fit(&params, points.view())
                .unwrap()
                .score(points.view())
        };
        assert_eq!(fit(1), fit(1));
        assert_ne!(fit(1), fit(2));
    }

    #[test]
    fn model_round_trip_gives_identical_scores() {
        let params = crate::detector::DetectorParams::LstmAutoencoder(quick(8));
        let points = windows(&sine_with_wrong_shape(300, 6), 8);
        let fitted = params.fit(points.view()).unwrap();
        let bytes = postcard::to_stdvec(&fitted).unwrap();
        let loaded: crate::detector::FittedDetector = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(loaded.score(points.view()), fitted.score(points.view()));
        assert_eq!(loaded.params(), params);
    }

    #[test]
    fn a_diverging_loss_is_an_error_that_names_the_learning_rate() {
        let params = LstmAutoencoderParams {
            learning_rate: 1e30,
            ..quick(8)
        };
        let points = windows(&sine_with_wrong_shape(300, 6), 8);
        let error = LstmAutoencoder::fit(&params, points.view()).unwrap_err();
        assert!(error.to_string().contains("lower learning_rate"), "{error}");
    }
}
