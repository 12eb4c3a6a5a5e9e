//! A dense autoencoder: the anomaly score is how badly a network trained to
//! reproduce the data reconstructs the point.
//!
//! The network follows PyOD's `AutoEncoder` (2.x and later): the encoder
//! maps the `d` standardised features through the `hidden_layers` widths
//! (`[64, 32]` by default), the decoder mirrors them back (`32 → 64 → d`),
//! every layer but the last is followed by ReLU and, while training, by
//! dropout; the last layer is linear. It is trained on the mean squared
//! reconstruction error with Adam (mini-batches shuffled each epoch), as
//! PyOD does, for `epochs` passes. PyOD's default also puts batch
//! normalisation after each hidden layer; this detector has none, and the
//! side-by-side benchmark runs PyOD with `batch_norm=False` to compare the
//! same network. FIXME: a `batch_norm` option would add it, with the running
//! statistics folded into the stored weights so that scoring stays plain
//! Rust.
//!
//! Inputs are standardised inside the detector (mean and population
//! standard deviation of the training points, stored in the model; a
//! constant feature keeps scale 1), so unscaled features do not swamp the
//! loss. The score is the mean squared reconstruction error over the
//! features in those standardised units; PyOD reports the Euclidean norm of
//! the same error, a monotone function of it, so the two rank points alike.
//! Attribution is each feature's squared reconstruction error, as shares.
//!
//! Training uses candle (`candle-core`, `candle-nn`, CPU) and is compiled
//! only with the crate feature `autoencoder`; without it, fitting is an
//! error that says to rebuild with the feature. The fitted model holds no
//! candle types: the layer weights are plain `f32` vectors, and scoring is a
//! forward pass in plain Rust (accumulated in `f64`), so a saved model loads
//! and scores in any build. A feature-gated test pins that forward pass to
//! candle's within 1e-5.
//!
//! Randomness (initial weights, the shuffle of each epoch, dropout masks)
//! comes from one generator seeded by `seed`, never from candle's
//! unseedable CPU generator, so a fixed seed gives the same model on the
//! same machine. Candle's matrix products may split work over threads
//! (`RAYON_NUM_THREADS`, else every core); the split is over output
//! blocks, and `oddity detect` gave byte-identical output with
//! `RAYON_NUM_THREADS=1` and `=2` on the machine tried (a check by hand:
//! tests cannot set the variable), but bit-identical training across
//! thread counts and processors is not promised by candle. Initial weights and biases are uniform in
//! `±1/sqrt(fan_in)`, PyTorch's default for linear layers.
//!
//! Candle's matrix products take their thread count from the environment
//! variable `RAYON_NUM_THREADS` (else every core), not from the caller's
//! rayon pool, so `--threads` does not govern training. On small batches
//! one thread is much faster on a busy machine: on 2 busy cores, 10,000 ×
//! 30 points trained in 2.1 s with `RAYON_NUM_THREADS=1` against 5.1 s
//! without, and 1,376 × 1,555 points in 3.9 s against about 40 s. FIXME:
//! train on one thread by default once candle lets a library choose its
//! thread count (setting the variable needs `unsafe`, which the workspace
//! forbids).
//!
//! Costs: training is `epochs × n` forward and backward passes through
//! `2 Σ h_k h_{k+1}`-ish weights (`O(d h_1 + h_1 h_2 + ...)` per point);
//! scoring is one forward pass per point. On 10,000 × 30 points the
//! defaults train in a few seconds on one core (see the README).

use ndarray::{ArrayView1, ArrayView2};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::mahalanobis::{check_points, non_finite_shares};
use super::pca::standard_scale;
use super::{Detector, FitError, ParamError, normalise_shares, score_rows};

#[cfg(feature = "autoencoder")]
pub(super) mod train;

/// Rows scored together by one rayon task.
const SCORE_BLOCK_ROWS: usize = 1024;
/// Most hidden layers, and the widest one: far beyond what tabular data
/// needs, low enough that a typo cannot ask for gigabytes of weights.
const MAX_HIDDEN_LAYERS: usize = 16;
const MAX_WIDTH: usize = 65_536;
/// Most epochs: a bound against typos, not a recommendation.
const MAX_EPOCHS: usize = 100_000;

/// Parameters of [`Autoencoder`]; defaults are PyOD's `AutoEncoder`
/// except that there is no batch normalisation (see the module
/// documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoencoderParams {
    /// Widths of the encoder's hidden layers, input side first; the
    /// decoder mirrors them. At least one layer, each at least 1 wide;
    /// default `[64, 32]`.
    pub hidden_layers: Vec<usize>,
    /// Share of each hidden layer's outputs zeroed at random while
    /// training (the rest scaled by `1 / (1 - dropout)`), in `[0, 1)`;
    /// default 0.2. Scoring never drops.
    pub dropout: f64,
    /// Passes over the training points, at least 1; default 10.
    pub epochs: usize,
    /// Points per gradient step, at least 1 (the last batch of an epoch
    /// may be smaller); default 32.
    pub batch_size: usize,
    /// Adam's step size, positive and finite; default `1e-3`.
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW: every step multiplies the weights by
    /// `1 - learning_rate × weight_decay`), non-negative and finite;
    /// default `1e-5`, PyOD's value (PyOD adds it to the gradient instead,
    /// which at this size makes no practical difference).
    pub weight_decay: f64,
    /// Seed of the initial weights, the shuffles and the dropout masks.
    pub seed: u64,
}

impl Default for AutoencoderParams {
    fn default() -> Self {
        AutoencoderParams {
            hidden_layers: vec![64, 32],
            dropout: 0.2,
            epochs: 10,
            batch_size: 32,
            learning_rate: 1e-3,
            weight_decay: 1e-5,
            seed: 42,
        }
    }
}

impl AutoencoderParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.hidden_layers.is_empty() || self.hidden_layers.len() > MAX_HIDDEN_LAYERS {
            return Err(ParamError::new(
                "hidden_layers",
                format!("must list 1 to {MAX_HIDDEN_LAYERS} widths"),
                format!("{:?}", self.hidden_layers),
            ));
        }
        if let Some(&width) = self
            .hidden_layers
            .iter()
            .find(|&&width| width == 0 || width > MAX_WIDTH)
        {
            return Err(ParamError::new(
                "hidden_layers",
                format!("widths must be 1 to {MAX_WIDTH}"),
                width,
            ));
        }
        if !(self.dropout >= 0.0 && self.dropout < 1.0) {
            return Err(ParamError::new(
                "dropout",
                "must be in [0, 1)",
                self.dropout,
            ));
        }
        if self.epochs == 0 || self.epochs > MAX_EPOCHS {
            return Err(ParamError::new(
                "epochs",
                format!("must be 1 to {MAX_EPOCHS}"),
                self.epochs,
            ));
        }
        if self.batch_size == 0 {
            return Err(ParamError::new("batch_size", "must be at least 1", 0));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(ParamError::new(
                "learning_rate",
                "must be positive and finite",
                self.learning_rate,
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(ParamError::new(
                "weight_decay",
                "must be non-negative and finite",
                self.weight_decay,
            ));
        }
        Ok(())
    }

    pub(crate) fn name(&self) -> &'static str {
        "autoencoder"
    }

    /// Layer widths from input to output: `d, h_1, ..., h_k, ..., h_1, d`.
    fn widths(&self, n_features: usize) -> Vec<usize> {
        let mut widths = vec![n_features];
        widths.extend(&self.hidden_layers);
        widths.extend(self.hidden_layers.iter().rev().skip(1));
        widths.push(n_features);
        widths
    }
}

/// One fully connected layer, `y = W x + b`, stored as candle and PyTorch
/// store it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct DenseLayer {
    pub(crate) n_inputs: usize,
    pub(crate) n_outputs: usize,
    /// `n_outputs × n_inputs`, row-major.
    pub(crate) weights: Vec<f32>,
    /// `n_outputs`.
    pub(crate) bias: Vec<f32>,
}

impl DenseLayer {
    /// PyTorch's default initialisation: weights and biases uniform in
    /// `±1/sqrt(n_inputs)`.
    pub(crate) fn initial(n_inputs: usize, n_outputs: usize, rng: &mut Xoshiro256PlusPlus) -> Self {
        let bound = 1.0 / (n_inputs as f64).sqrt();
        let mut draw = |count: usize| -> Vec<f32> {
            (0..count)
                .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * bound)
                .map(|value| value as f32)
                .collect()
        };
        let weights = draw(n_outputs * n_inputs);
        let bias = draw(n_outputs);
        DenseLayer {
            n_inputs,
            n_outputs,
            weights,
            bias,
        }
    }

    /// `out = W input + b`, then ReLU when `relu`.
    pub(crate) fn apply(&self, input: &[f64], out: &mut Vec<f64>, relu: bool) {
        out.clear();
        out.extend(
            self.weights
                .chunks_exact(self.n_inputs)
                .zip(&self.bias)
                .map(|(row, &bias)| {
                    let sum = row
                        .iter()
                        .zip(input)
                        .fold(f64::from(bias), |sum, (&w, &x)| sum + f64::from(w) * x);
                    if relu { sum.max(0.0) } else { sum }
                }),
        );
    }
}

/// A fitted autoencoder detector; see the module documentation.
///
/// A model loads and scores in every build; [`Autoencoder::fit`] needs the
/// crate feature `autoencoder`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Autoencoder {
    params: AutoencoderParams,
    n_features: usize,
    /// Subtracted from each feature before the network.
    mean: Vec<f64>,
    /// Then each feature is divided by this.
    scale: Vec<f64>,
    /// Encoder then decoder; ReLU after every layer but the last.
    layers: Vec<DenseLayer>,
    /// Mean training loss of each epoch (with dropout), for diagnosis.
    epoch_losses: Vec<f64>,
}

impl Autoencoder {
    /// Trains the network on finite training points (at least 2). Without
    /// the crate feature `autoencoder` this is [`FitError::NotBuilt`].
    pub fn fit(
        params: &AutoencoderParams,
        points: ArrayView2<'_, f64>,
    ) -> Result<Autoencoder, FitError> {
        params.validate()?;
        check_points(points, "an autoencoder needs at least 2 points")?;
        let (n_points, n_features) = points.dim();
        let n = n_points as f64;
        let mean: Vec<f64> = points
            .columns()
            .into_iter()
            .map(|column| column.sum() / n)
            .collect();
        let scale: Vec<f64> = points
            .columns()
            .into_iter()
            .zip(&mean)
            .map(|(column, &mean)| {
                let variance = column.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                standard_scale(variance, mean, n)
            })
            .collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
        let widths = params.widths(n_features);
        let layers: Vec<DenseLayer> = widths
            .windows(2)
            .map(|pair| DenseLayer::initial(pair[0], pair[1], &mut rng))
            .collect();
        let mut detector = Autoencoder {
            params: params.clone(),
            n_features,
            mean,
            scale,
            layers,
            epoch_losses: Vec::new(),
        };
        let standardised: Vec<f32> = points
            .rows()
            .into_iter()
            .flat_map(|row| {
                let detector = &detector;
                row.into_iter()
                    .enumerate()
                    .map(move |(j, x)| ((x - detector.mean[j]) / detector.scale[j]) as f32)
            })
            .collect();
        detector.train(&standardised, &mut rng)?;
        tracing::debug!(
            n_points,
            n_features,
            final_loss = detector.epoch_losses.last().copied(),
            "trained autoencoder"
        );
        Ok(detector)
    }

    #[cfg(feature = "autoencoder")]
    fn train(
        &mut self,
        standardised: &[f32],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<(), FitError> {
        let (layers, losses) = train::train(&self.params, &self.layers, standardised, rng)?;
        self.layers = layers;
        self.epoch_losses = losses;
        Ok(())
    }

    #[cfg(not(feature = "autoencoder"))]
    fn train(&mut self, _: &[f32], _: &mut Xoshiro256PlusPlus) -> Result<(), FitError> {
        Err(FitError::NotBuilt {
            detector: self.params.name(),
            feature: "autoencoder",
        })
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &AutoencoderParams {
        &self.params
    }

    /// The mean training loss (mean squared error in standardised units,
    /// with dropout) of each epoch.
    pub fn epoch_losses(&self) -> &[f64] {
        &self.epoch_losses
    }

    fn standardised(&self, point: &[f64], out: &mut [f64]) {
        for (j, value) in out.iter_mut().enumerate() {
            *value = (point[j] - self.mean[j]) / self.scale[j];
        }
    }

    /// The network's output for one standardised point, written to
    /// `output`; `scratch` is reused between calls.
    fn reconstruct(&self, input: &[f64], scratch: &mut Vec<f64>, output: &mut Vec<f64>) {
        output.clear();
        output.extend_from_slice(input);
        let last = self.layers.len() - 1;
        for (index, layer) in self.layers.iter().enumerate() {
            std::mem::swap(scratch, output);
            layer.apply(scratch, output, index < last);
        }
    }

    /// Per-feature squared reconstruction errors of one finite point.
    fn squared_errors(&self, point: &[f64], buffers: &mut Buffers) -> Vec<f64> {
        let Buffers {
            input,
            scratch,
            output,
        } = buffers;
        self.standardised(point, input);
        self.reconstruct(input, scratch, output);
        input
            .iter()
            .zip(output.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .collect()
    }

    fn score_point(&self, point: &[f64], buffers: &mut Buffers) -> f64 {
        if point.iter().any(|value| value.is_nan()) {
            return f64::NAN;
        }
        if point.iter().any(|value| value.is_infinite()) {
            return f64::INFINITY;
        }
        let errors = self.squared_errors(point, buffers);
        errors.iter().sum::<f64>() / self.n_features as f64
    }
}

/// Working memory of the forward pass.
struct Buffers {
    input: Vec<f64>,
    scratch: Vec<f64>,
    output: Vec<f64>,
}

impl Buffers {
    fn new(n_features: usize) -> Self {
        Buffers {
            input: vec![0.0; n_features],
            scratch: Vec::new(),
            output: Vec::new(),
        }
    }
}

impl Detector for Autoencoder {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let d = self.n_features;
        score_rows(
            points,
            d,
            SCORE_BLOCK_ROWS,
            || Buffers::new(d),
            |buffers, row| self.score_point(row, buffers),
        )
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        if point.len() != self.n_features {
            return vec![0.0; self.n_features];
        }
        let point = point.to_vec();
        if let Some(shares) = non_finite_shares(&point) {
            return shares;
        }
        let mut buffers = Buffers::new(self.n_features);
        normalise_shares(self.squared_errors(&point, &mut buffers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::ecdf::reference::gaussian;
    use ndarray::Array2;

    #[test]
    fn widths_mirror_the_hidden_layers() {
        let params = AutoencoderParams::default();
        assert_eq!(params.widths(30), vec![30, 64, 32, 64, 30]);
        let one = AutoencoderParams {
            hidden_layers: vec![8],
            ..AutoencoderParams::default()
        };
        assert_eq!(one.widths(5), vec![5, 8, 5]);
    }

    #[test]
    fn bad_parameters_are_rejected_with_their_names() {
        let cases = [
            (
                AutoencoderParams {
                    hidden_layers: vec![],
                    ..AutoencoderParams::default()
                },
                "hidden_layers must list 1 to 16 widths, got []",
            ),
            (
                AutoencoderParams {
                    hidden_layers: vec![64, 0],
                    ..AutoencoderParams::default()
                },
                "hidden_layers widths must be 1 to 65536, got 0",
            ),
            (
                AutoencoderParams {
                    dropout: 1.0,
                    ..AutoencoderParams::default()
                },
                "dropout must be in [0, 1), got 1",
            ),
            (
                AutoencoderParams {
                    epochs: 0,
                    ..AutoencoderParams::default()
                },
                "epochs must be 1 to 100000, got 0",
            ),
            (
                AutoencoderParams {
                    batch_size: 0,
                    ..AutoencoderParams::default()
                },
                "batch_size must be at least 1, got 0",
            ),
            (
                AutoencoderParams {
                    learning_rate: f64::NAN,
                    ..AutoencoderParams::default()
                },
                "learning_rate must be positive and finite, got NaN",
            ),
            (
                AutoencoderParams {
                    weight_decay: -1.0,
                    ..AutoencoderParams::default()
                },
                "weight_decay must be non-negative and finite, got -1",
            ),
        ];
        for (params, message) in cases {
            assert_eq!(params.validate().unwrap_err().to_string(), message);
            let error = Autoencoder::fit(&params, gaussian(10, 2, 1).view()).unwrap_err();
            assert_eq!(error.to_string(), format!("invalid parameter: {message}"));
        }
        assert_eq!(AutoencoderParams::default().validate(), Ok(()));
    }

    #[test]
    fn too_few_and_non_finite_training_points_are_errors() {
        let params = AutoencoderParams::default();
        let error = Autoencoder::fit(&params, ndarray::array![[1.0, 2.0]].view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot fit on 1 points with 2 features: an autoencoder needs at least 2 points"
        );
        let odd = ndarray::array![[0.0, f64::NAN], [1.0, 1.0], [2.0, 2.0]];
        let error = Autoencoder::fit(&params, odd.view()).unwrap_err();
        assert!(
            error.to_string().ends_with("points must be finite"),
            "{error}"
        );
    }

    #[cfg(not(feature = "autoencoder"))]
    #[test]
    fn fitting_without_the_feature_says_how_to_get_it() {
        let error =
            Autoencoder::fit(&AutoencoderParams::default(), gaussian(10, 2, 1).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the autoencoder detector cannot be trained by this build: rebuild with \
             --features autoencoder"
        );
    }

    /// A hand-made network: 2 features, one hidden unit, so that the
    /// forward pass can be checked by hand. Feature 0 has mean 1 and scale
    /// 2, feature 1 mean 0 and scale 1.
    fn tiny() -> Autoencoder {
        Autoencoder {
            params: AutoencoderParams {
                hidden_layers: vec![1],
                ..AutoencoderParams::default()
            },
            n_features: 2,
            mean: vec![1.0, 0.0],
            scale: vec![2.0, 1.0],
            layers: vec![
                DenseLayer {
                    n_inputs: 2,
                    n_outputs: 1,
                    weights: vec![1.0, -1.0],
                    bias: vec![0.5],
                },
                DenseLayer {
                    n_inputs: 1,
                    n_outputs: 2,
                    weights: vec![2.0, 0.0],
                    bias: vec![0.0, 0.25],
                },
            ],
            epoch_losses: vec![],
        }
    }

    #[test]
    fn forward_pass_matches_a_hand_computation() {
        let detector = tiny();
        // (3, -1) standardises to (1, -1); hidden = relu(1 + 1 + 0.5) =
        // 2.5; output = (5, 0.25); errors (4^2, 1.25^2) = (16, 1.5625).
        // (1, 2) standardises to (0, 2); hidden = relu(-2 + 0.5) = 0;
        // output = (0, 0.25); errors (0, 1.75^2) = (0, 3.0625).
        let points = ndarray::array![[3.0, -1.0], [1.0, 2.0]];
        let scores = detector.score(points.view());
        assert_eq!(scores, vec![(16.0 + 1.5625) / 2.0, 3.0625 / 2.0]);
        let shares = detector.attribute(points.row(0));
        assert_eq!(shares, vec![16.0 / 17.5625, 1.5625 / 17.5625]);
        assert_eq!(detector.attribute(points.row(1)), vec![0.0, 1.0]);
    }

    #[test]
    fn non_finite_and_misshapen_points_do_not_panic() {
        let detector = tiny();
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, 0.0]];
        let scores = detector.score(odd.view());
        assert!(scores[0].is_nan());
        assert_eq!(scores[1], f64::INFINITY);
        assert_eq!(detector.attribute(odd.row(0)), vec![0.0, 0.0]);
        assert_eq!(detector.attribute(odd.row(1)), vec![1.0, 0.0]);
        let wrong = detector.score(Array2::zeros((2, 3)).view());
        assert!(wrong.iter().all(|score| score.is_nan()));
        assert_eq!(detector.attribute(ArrayView1::from(&[1.0])), vec![0.0, 0.0]);
        let huge = ndarray::array![[1e300, -1e300]];
        assert!(!detector.score(huge.view())[0].is_nan());
    }

    #[test]
    fn a_saved_model_scores_identically_in_any_build() {
        // No training needed: the stored weights alone score.
        let detector = tiny();
        let bytes = postcard::to_stdvec(&detector).unwrap();
        let loaded: Autoencoder = postcard::from_bytes(&bytes).unwrap();
        let probes = gaussian(50, 2, 7);
        assert_eq!(loaded.score(probes.view()), detector.score(probes.view()));
        assert_eq!(loaded.params(), detector.params());
    }

    /// Tests of training, which needs candle.
    #[cfg(feature = "autoencoder")]
    mod trained {
        use super::*;
        use approx::assert_abs_diff_eq;

        fn top(values: &[f64]) -> Option<usize> {
            (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b]))
        }

        /// Settings that learn the three-factor structure of
        /// [`correlated`] from a few hundred points: a code of width 3, no
        /// dropout (which would blur so narrow a code), larger steps.
        fn quick() -> AutoencoderParams {
            AutoencoderParams {
                hidden_layers: vec![16, 3],
                dropout: 0.0,
                epochs: 30,
                learning_rate: 5e-3,
                ..AutoencoderParams::default()
            }
        }

        /// Three latent factors spread over six features, plus a little
        /// noise: the structure an autoencoder with a narrow code learns.
        fn correlated(n_points: usize, seed: u64) -> Array2<f64> {
            let latent = gaussian(n_points, 3, seed);
            let noise = gaussian(n_points, 6, seed + 1);
            Array2::from_shape_fn((n_points, 6), |(i, j)| {
                let (a, b, c) = (latent[[i, 0]], latent[[i, 1]], latent[[i, 2]]);
                let clean = [a, b, c, a + b, b - c, a + c][j];
                clean + 0.1 * noise[[i, j]]
            })
        }

        #[test]
        fn plain_forward_pass_equals_candles() {
            let detector = Autoencoder::fit(&quick(), correlated(500, 3).view()).unwrap();
            let probes = correlated(64, 9);
            let mut buffers = Buffers::new(6);
            let mut standardised = Vec::new();
            let mut plain = Vec::new();
            for row in probes.rows() {
                let row = row.to_vec();
                detector.standardised(&row, &mut buffers.input);
                standardised.extend(buffers.input.iter().map(|&value| value as f32));
                let Buffers {
                    input,
                    scratch,
                    output,
                } = &mut buffers;
                // The same f32 input candle gets.
                for value in input.iter_mut() {
                    *value = f64::from(*value as f32);
                }
                detector.reconstruct(input, scratch, output);
                plain.extend(output.iter().copied());
            }
            let candle = train::candle_reconstruction(&detector.layers, &standardised).unwrap();
            assert_eq!(candle.len(), plain.len());
            for (plain, candle) in plain.iter().zip(&candle) {
                assert_abs_diff_eq!(*plain, f64::from(*candle), epsilon = 1e-5);
            }
        }

        #[test]
        fn training_lowers_the_loss() {
            let detector = Autoencoder::fit(&quick(), correlated(500, 3).view()).unwrap();
            let losses = detector.epoch_losses();
            assert_eq!(losses.len(), 30);
            assert!(losses[29] < 0.25 * losses[0], "{losses:?}");
        }

        #[test]
        fn planted_outlier_scores_highest() {
            // Typical values feature by feature, but against the
            // structure (feature 3 should be near 0 + 0), and a far point
            // off the structure: both outrank every normal point, in outlier detection
            // (trained on all rows, planted ones included) and in the
            // default configuration.
            for params in [quick(), AutoencoderParams::default()] {
                let mut points = correlated(1000, 5);
                points
                    .row_mut(17)
                    .assign(&ndarray::array![0.0, 0.0, 0.0, 2.5, 0.0, 0.0]);
                points
                    .row_mut(400)
                    .assign(&ndarray::array![5.0, -5.0, 5.0, 5.0, 5.0, -5.0]);
                let scores = Autoencoder::fit(&params, points.view())
                    .unwrap()
                    .score(points.view());
                let mut ranked: Vec<usize> = (0..scores.len()).collect();
                ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
                let mut top_two = ranked[..2].to_vec();
                top_two.sort_unstable();
                assert_eq!(top_two, vec![17, 400], "{params:?}");
            }
        }

        #[test]
        fn planted_feature_ranks_first_in_attribution() {
            let detector =
                Autoencoder::fit(&AutoencoderParams::default(), gaussian(2000, 5, 7).view())
                    .unwrap();
            for planted in 0..5 {
                let mut probe = vec![0.1; 5];
                probe[planted] = 7.0;
                let shares = detector.attribute(ArrayView1::from(&probe));
                assert_eq!(top(&shares), Some(planted), "{shares:?}");
                assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
            }
            let detector = Autoencoder::fit(&quick(), correlated(2000, 11).view()).unwrap();
            for planted in 0..6 {
                let mut probe = vec![0.0; 6];
                probe[planted] = 3.0;
                let shares = detector.attribute(ArrayView1::from(&probe));
                assert_eq!(top(&shares), Some(planted), "{shares:?}");
            }
        }

        #[test]
        fn novelty_scores_new_anomalies_above_new_normal_points() {
            // Trained on normal rows only, as `oddity fit` then `oddity
            // score` does.
            let detector = Autoencoder::fit(&quick(), correlated(1000, 21).view()).unwrap();
            let normal = detector.score(correlated(200, 23).view());
            let anomalies = ndarray::array![
                [0.0, 0.0, 0.0, 2.5, 0.0, 0.0],
                [1.0, 1.0, 1.0, -2.0, 0.0, 2.0],
                [4.0, 4.0, 4.0, 8.0, 0.0, -8.0],
            ];
            let lowest = detector
                .score(anomalies.view())
                .into_iter()
                .fold(f64::INFINITY, f64::min);
            let highest = normal.iter().copied().fold(0.0, f64::max);
            assert!(lowest > highest, "{lowest} <= {highest}");
        }

        #[test]
        fn unscaled_features_are_standardised_first() {
            let mut points = correlated(1000, 5);
            points
                .row_mut(17)
                .assign(&ndarray::array![0.0, 0.0, 0.0, 2.5, 0.0, 0.0]);
            let mut unscaled = points.clone();
            unscaled
                .column_mut(1)
                .mapv_inplace(|value| 1e6 * value + 3e7);
            unscaled.column_mut(4).mapv_inplace(|value| 1e-3 * value);
            for points in [&points, &unscaled] {
                let scores = Autoencoder::fit(&quick(), points.view())
                    .unwrap()
                    .score(points.view());
                assert_eq!(top(&scores), Some(17));
            }
        }

        #[test]
        fn same_seed_same_model_and_other_seeds_differ() {
            let points = correlated(300, 2);
            let fit = |seed| {
                let params = AutoencoderParams { seed, ..quick() };
                Autoencoder::fit(&params, points.view())
                    .unwrap()
                    .score(points.view())
            };
            assert_eq!(fit(1), fit(1));
            assert_ne!(fit(1), fit(2));
        }

        #[test]
        fn scores_do_not_depend_on_the_rayon_pool() {
            let points = correlated(3000, 4);
            let fit_and_score = || {
                Autoencoder::fit(&quick(), points.view())
                    .unwrap()
                    .score(points.view())
            };
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            assert_eq!(pool.install(fit_and_score), fit_and_score());
        }

        #[test]
        fn model_round_trip_gives_identical_scores() {
            let params = crate::detector::DetectorParams::Autoencoder(quick());
            let fitted = params.fit(correlated(300, 6).view()).unwrap();
            let bytes = postcard::to_stdvec(&fitted).unwrap();
            let loaded: crate::detector::FittedDetector = postcard::from_bytes(&bytes).unwrap();
            let probes = correlated(100, 8);
            assert_eq!(loaded.score(probes.view()), fitted.score(probes.view()));
            assert_eq!(loaded.params(), params);
        }

        #[test]
        fn a_diverging_loss_is_an_error_that_names_the_learning_rate() {
            let params = AutoencoderParams {
                learning_rate: 1e30,
                ..quick()
            };
            let error = Autoencoder::fit(&params, correlated(300, 6).view()).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("lower learning_rate (now 1000000000000000000000000000000)"),
                "{error}"
            );
        }

        #[test]
        fn constant_features_and_two_points_train() {
            let mut points = correlated(50, 3);
            points.column_mut(2).fill(4.0);
            let detector = Autoencoder::fit(&quick(), points.view()).unwrap();
            assert!(detector.score(points.view()).iter().all(|s| s.is_finite()));
            let two = ndarray::array![[1.0, 2.0], [3.0, 5.0]];
            let detector = Autoencoder::fit(&quick(), two.view()).unwrap();
            assert!(detector.score(two.view()).iter().all(|s| s.is_finite()));
        }
    }
}
