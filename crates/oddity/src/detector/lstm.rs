//! An LSTM autoencoder for sequences: the anomaly score of a window of a
//! series is how badly a recurrent network trained to reproduce windows
//! reconstructs it.
//!
//! The network follows Malhotra et al. (2016), "LSTM-based encoder-decoder
//! for multi-sensor anomaly detection". A point is one window of `steps`
//! time steps of `d` standardised features, laid out position-major as
//! [`crate::series::window::Windows::features`] writes it (the oldest
//! step's `d` features first), so `steps × d` must equal the number of
//! features. An encoder LSTM with `hidden` units reads the steps oldest
//! first, from a zero state; its final hidden and cell state start a
//! decoder LSTM of the same width that reconstructs the window in
//! reverse, newest step first, as in the paper: each step's output is a
//! linear layer (`hidden → d`) of the decoder's hidden state, and that
//! output is the decoder's input for the step before it. The paper feeds
//! the true previous value to the decoder while training and its own
//! reconstruction while scoring; this detector feeds its own
//! reconstruction in both, so that training optimises exactly the
//! computation that scores. Gates follow PyTorch's LSTM (input, forget,
//! cell, output; one bias per gate, as PyTorch's two biases sum to one).
//!
//! The detector needs the sequence length: `steps` is filled by the
//! pipeline from `--window` ([`crate::pipeline::FitOptions::window`]);
//! fitting with `steps` 0 (no window) is [`FitError::NeedsWindow`]. Any
//! window representation works, as all three are position-major (`diff`
//! has `width - 1` steps).
//!
//! Inputs are standardised per window feature (mean and population
//! standard deviation of each `(step, feature)` over the training windows,
//! stored in the model; a constant one keeps scale 1). The score is the
//! mean squared reconstruction error over the window's steps and features
//! in those standardised units; attribution is each `(step, feature)`
//! squared error, as shares in the window's feature order, which the
//! window machinery names `name[t-lag]`.
//!
//! Training uses candle (CPU) with the LSTM cell written from candle's
//! tensor operations, and is compiled only with the crate feature
//! `autoencoder`; without it, fitting is [`FitError::NotBuilt`]. The fitted
//! model holds plain `f32` weights and scores with a forward pass in plain
//! Rust (accumulated in `f64`) in every build; a feature-gated test pins it
//! to candle's within 1e-5. Training is Adam on the mean squared error
//! over shuffled mini-batches for `epochs` passes; initial weights are
//! uniform in `±1/sqrt(hidden)`, PyTorch's default for LSTM and for the
//! output layer, and every random number (weights, shuffles) comes from a
//! generator seeded by `seed`. Candle's thread count follows
//! `RAYON_NUM_THREADS` as for the dense autoencoder (see its module
//! documentation).
//!
//! Costs: each window takes `2 × steps` LSTM steps of `O(hidden × (d +
//! hidden))` forward, about three times that to train, for `epochs`
//! passes; training is sequential over the steps, so it is slow next to
//! the other window detectors (see the README for measured times). FIXME:
//! candle's per-operation overhead dominates at these small sizes; a
//! hand-written backward pass over the plain-Rust cell would train several
//! times faster.

use ndarray::{ArrayView1, ArrayView2};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::autoencoder::DenseLayer;
use super::mahalanobis::{check_points, non_finite_shares};
use super::pca::standard_scale;
use super::{Detector, FitError, ParamError, normalise_shares, score_rows};

#[cfg(feature = "autoencoder")]
mod train;

/// Windows scored together by one rayon task.
const SCORE_BLOCK_ROWS: usize = 256;
/// Widest hidden state: far beyond what a window of a few features needs,
/// low enough that a typo cannot ask for gigabytes of weights.
const MAX_HIDDEN: usize = 4096;
/// Most epochs: a bound against typos, not a recommendation.
const MAX_EPOCHS: usize = 100_000;

/// Parameters of [`LstmAutoencoder`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LstmAutoencoderParams {
    /// Units of the encoder's and the decoder's hidden state, 1 to 4096;
    /// default 32.
    pub hidden: usize,
    /// Passes over the training windows, at least 1; default 10.
    pub epochs: usize,
    /// Windows per gradient step, at least 1 (the last batch of an epoch
    /// may be smaller); default 32.
    pub batch_size: usize,
    /// Adam's step size, positive and finite; default `5e-3`, larger than
    /// the dense autoencoder's because the default trains for few epochs.
    pub learning_rate: f64,
    /// Time steps per window; 0 (the default) means not given, which
    /// fitting refuses. The pipeline sets it from the window width.
    pub steps: usize,
    /// Seed of the initial weights and the shuffles.
    pub seed: u64,
}

impl Default for LstmAutoencoderParams {
    fn default() -> Self {
        LstmAutoencoderParams {
            hidden: 32,
            epochs: 10,
            batch_size: 32,
            learning_rate: 5e-3,
            steps: 0,
            seed: 42,
        }
    }
}

impl LstmAutoencoderParams {
    /// Checks every parameter; the first bad one is reported. `steps` 0 is
    /// valid here (the pipeline fills it in); fitting refuses it.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.hidden == 0 || self.hidden > MAX_HIDDEN {
            return Err(ParamError::new(
                "hidden",
                format!("must be 1 to {MAX_HIDDEN}"),
                self.hidden,
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
        Ok(())
    }

    pub(crate) fn name(&self) -> &'static str {
        "lstm_autoencoder"
    }
}

/// One LSTM layer, gates stacked as PyTorch stacks them: input, forget,
/// cell, output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LstmLayer {
    pub(crate) n_inputs: usize,
    pub(crate) hidden: usize,
    /// `4 hidden × n_inputs`, row-major.
    pub(crate) input_weights: Vec<f32>,
    /// `4 hidden × hidden`, row-major.
    pub(crate) hidden_weights: Vec<f32>,
    /// `4 hidden`.
    pub(crate) bias: Vec<f32>,
}

impl LstmLayer {
    /// PyTorch's default initialisation: everything uniform in
    /// `±1/sqrt(hidden)`.
    fn initial(n_inputs: usize, hidden: usize, rng: &mut Xoshiro256PlusPlus) -> Self {
        let bound = 1.0 / (hidden as f64).sqrt();
        let mut draw = |count: usize| -> Vec<f32> {
            (0..count)
                .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        let input_weights = draw(4 * hidden * n_inputs);
        let hidden_weights = draw(4 * hidden * hidden);
        let bias = draw(4 * hidden);
        LstmLayer {
            n_inputs,
            hidden,
            input_weights,
            hidden_weights,
            bias,
        }
    }

    /// One step: updates the hidden state `h` and the cell state `c` from
    /// `input`; `gates` is scratch space.
    fn step(&self, input: &[f64], h: &mut [f64], c: &mut [f64], gates: &mut Vec<f64>) {
        let n = self.hidden;
        gates.clear();
        gates.extend(
            self.input_weights
                .chunks_exact(self.n_inputs)
                .zip(self.hidden_weights.chunks_exact(n))
                .zip(&self.bias)
                .map(|((input_row, hidden_row), &bias)| {
                    let from_input = input_row
                        .iter()
                        .zip(input)
                        .fold(0.0, |sum, (&w, &x)| sum + f64::from(w) * x);
                    let from_hidden = hidden_row
                        .iter()
                        .zip(h.iter())
                        .fold(0.0, |sum, (&w, &x)| sum + f64::from(w) * x);
                    f64::from(bias) + from_input + from_hidden
                }),
        );
        for unit in 0..n {
            let input_gate = sigmoid(gates[unit]);
            let forget_gate = sigmoid(gates[n + unit]);
            let candidate = gates[2 * n + unit].tanh();
            let output_gate = sigmoid(gates[3 * n + unit]);
            c[unit] = forget_gate * c[unit] + input_gate * candidate;
            h[unit] = output_gate * c[unit].tanh();
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The trainable parts of the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Network {
    pub(crate) encoder: LstmLayer,
    pub(crate) decoder: LstmLayer,
    /// Decoder hidden state to one step's `d` features.
    pub(crate) output: DenseLayer,
}

/// A fitted LSTM autoencoder; see the module documentation.
///
/// A model loads and scores in every build; [`LstmAutoencoder::fit`] needs
/// the crate feature `autoencoder`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LstmAutoencoder {
    params: LstmAutoencoderParams,
    /// Features per step (`d`).
    step_features: usize,
    /// Subtracted from each window feature before the network.
    mean: Vec<f64>,
    /// Then each window feature is divided by this.
    scale: Vec<f64>,
    network: Network,
    /// Mean training loss of each epoch, for diagnosis.
    epoch_losses: Vec<f64>,
}

impl LstmAutoencoder {
    /// Trains the network on finite training windows (at least 2), each
    /// `params.steps × d` features wide. `steps` 0 is
    /// [`FitError::NeedsWindow`]; a width that `steps` does not divide is a
    /// parameter error. Without the crate feature `autoencoder` this is
    /// [`FitError::NotBuilt`].
    pub fn fit(
        params: &LstmAutoencoderParams,
        points: ArrayView2<'_, f64>,
    ) -> Result<LstmAutoencoder, FitError> {
        params.validate()?;
        if params.steps == 0 {
            return Err(FitError::NeedsWindow {
                detector: params.name(),
            });
        }
        check_points(points, "an LSTM autoencoder needs at least 2 windows")?;
        let (n_points, n_features) = points.dim();
        if n_features % params.steps != 0 || n_features < params.steps {
            return Err(ParamError::new(
                "steps",
                format!("must divide the {n_features} features of a window"),
                params.steps,
            )
            .into());
        }
        let step_features = n_features / params.steps;
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
        let network = Network {
            encoder: LstmLayer::initial(step_features, params.hidden, &mut rng),
            decoder: LstmLayer::initial(step_features, params.hidden, &mut rng),
            output: DenseLayer::initial(params.hidden, step_features, &mut rng),
        };
        let mut detector = LstmAutoencoder {
            params: params.clone(),
            step_features,
            mean,
            scale,
            network,
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
            steps = params.steps,
            step_features,
            final_loss = detector.epoch_losses.last().copied(),
            "trained LSTM autoencoder"
        );
        Ok(detector)
    }

    #[cfg(feature = "autoencoder")]
    fn train(
        &mut self,
        standardised: &[f32],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<(), FitError> {
        let (network, losses) = train::train(&self.params, &self.network, standardised, rng)?;
        self.network = network;
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

    /// The parameters the detector was fitted with (`steps` as used).
    pub fn params(&self) -> &LstmAutoencoderParams {
        &self.params
    }

    /// The mean training loss (mean squared error in standardised units)
    /// of each epoch.
    pub fn epoch_losses(&self) -> &[f64] {
        &self.epoch_losses
    }

    fn n_window_features(&self) -> usize {
        self.params.steps * self.step_features
    }

    fn standardised(&self, point: &[f64], out: &mut [f64]) {
        for (j, value) in out.iter_mut().enumerate() {
            *value = (point[j] - self.mean[j]) / self.scale[j];
        }
    }

    /// The network's reconstruction of one standardised window
    /// (position-major, like the input), written to `buffers.output`.
    fn reconstruct(&self, buffers: &mut Buffers) {
        let Buffers {
            input,
            output,
            h,
            c,
            gates,
            previous,
        } = buffers;
        let d = self.step_features;
        let steps = self.params.steps;
        let network = &self.network;
        h.iter_mut().for_each(|value| *value = 0.0);
        c.iter_mut().for_each(|value| *value = 0.0);
        for step in input.chunks_exact(d) {
            network.encoder.step(step, h, c, gates);
        }
        output.clear();
        output.resize(steps * d, 0.0);
        // Newest step first; each output feeds the step before it.
        for position in (0..steps).rev() {
            if position + 1 < steps {
                network.decoder.step(previous, h, c, gates);
            }
            network.output.apply(h, previous, false);
            output[position * d..][..d].copy_from_slice(previous);
        }
    }

    /// Per-window-feature squared reconstruction errors of one finite
    /// window.
    fn squared_errors(&self, point: &[f64], buffers: &mut Buffers) -> Vec<f64> {
        self.standardised(point, &mut buffers.input);
        self.reconstruct(buffers);
        buffers
            .input
            .iter()
            .zip(&buffers.output)
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
        errors.iter().sum::<f64>() / errors.len() as f64
    }
}

/// Working memory of the forward pass.
struct Buffers {
    input: Vec<f64>,
    output: Vec<f64>,
    h: Vec<f64>,
    c: Vec<f64>,
    gates: Vec<f64>,
    previous: Vec<f64>,
}

impl Buffers {
    fn new(detector: &LstmAutoencoder) -> Self {
        let hidden = detector.params.hidden;
        Buffers {
            input: vec![0.0; detector.n_window_features()],
            output: Vec::new(),
            h: vec![0.0; hidden],
            c: vec![0.0; hidden],
            gates: Vec::with_capacity(4 * hidden),
            previous: Vec::with_capacity(detector.step_features),
        }
    }
}

impl Detector for LstmAutoencoder {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.n_window_features()
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        score_rows(
            points,
            self.n_window_features(),
            SCORE_BLOCK_ROWS,
            || Buffers::new(self),
            |buffers, row| self.score_point(row, buffers),
        )
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        let n_features = self.n_window_features();
        if point.len() != n_features {
            return vec![0.0; n_features];
        }
        let point = point.to_vec();
        if let Some(shares) = non_finite_shares(&point) {
            return shares;
        }
        let mut buffers = Buffers::new(self);
        normalise_shares(self.squared_errors(&point, &mut buffers))
    }
}

#[cfg(test)]
mod tests;
