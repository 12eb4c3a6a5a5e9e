//! Training the LSTM autoencoder with candle (crate feature `autoencoder`).
//!
//! The LSTM cell is written from candle's tensor operations rather than
//! taken from `candle_nn::rnn`, so that the training graph is visibly the
//! same computation as the plain-Rust cell that scores (gate order, one
//! bias, the decoder fed its own output). The network is unrolled over the
//! window's steps, trained with candle's automatic differentiation and its
//! AdamW optimiser without weight decay (that is, Adam), and handed back
//! as plain vectors. Every random number (the shuffles) comes from the
//! caller's seeded generator.

use candle_core::{Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::{LstmAutoencoderParams, LstmLayer, Network};
use crate::detector::FitError;
use crate::detector::autoencoder::train::{TrainableLayer, check_epoch_loss};

/// A candle failure as a fitting error.
fn training_error(error: candle_core::Error) -> FitError {
    FitError::Training {
        detector: "lstm_autoencoder",
        reason: error.to_string(),
    }
}

/// One LSTM layer's weights as trainable candle variables.
struct TrainableLstm {
    /// `4 hidden × n_inputs`.
    input_weights: Var,
    /// `4 hidden × hidden`.
    hidden_weights: Var,
    /// `4 hidden`.
    bias: Var,
}

impl TrainableLstm {
    fn new(layer: &LstmLayer) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let gates = 4 * layer.hidden;
        Ok(TrainableLstm {
            input_weights: Var::from_vec(
                layer.input_weights.clone(),
                (gates, layer.n_inputs),
                &device,
            )?,
            hidden_weights: Var::from_vec(
                layer.hidden_weights.clone(),
                (gates, layer.hidden),
                &device,
            )?,
            bias: Var::from_vec(layer.bias.clone(), gates, &device)?,
        })
    }

    fn to_plain(&self) -> candle_core::Result<LstmLayer> {
        let (gates, n_inputs) = self.input_weights.dims2()?;
        Ok(LstmLayer {
            n_inputs,
            hidden: gates / 4,
            input_weights: self.input_weights.flatten_all()?.to_vec1()?,
            hidden_weights: self.hidden_weights.flatten_all()?.to_vec1()?,
            bias: self.bias.to_vec1()?,
        })
    }

    fn variables(&self) -> [Var; 3] {
        [
            self.input_weights.clone(),
            self.hidden_weights.clone(),
            self.bias.clone(),
        ]
    }
}

struct TrainableNetwork {
    encoder: TrainableLstm,
    decoder: TrainableLstm,
    output: TrainableLayer,
}

impl TrainableNetwork {
    fn new(network: &Network) -> candle_core::Result<Self> {
        Ok(TrainableNetwork {
            encoder: TrainableLstm::new(&network.encoder)?,
            decoder: TrainableLstm::new(&network.decoder)?,
            output: TrainableLayer::new(&network.output)?,
        })
    }

    fn to_plain(&self) -> candle_core::Result<Network> {
        Ok(Network {
            encoder: self.encoder.to_plain()?,
            decoder: self.decoder.to_plain()?,
            output: self.output.to_dense()?,
        })
    }

    fn variables(&self) -> Vec<Var> {
        let mut variables = Vec::with_capacity(8);
        variables.extend(self.encoder.variables());
        variables.extend(self.decoder.variables());
        variables.push(self.output.weights.clone());
        variables.push(self.output.bias.clone());
        variables
    }

    /// The reconstruction of a batch of standardised windows, both shaped
    /// `(steps, batch, d)`: the encoder reads the steps in order, the
    /// decoder writes them newest first, fed its own previous output.
    fn forward(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        let (steps, batch, d) = input.dims3()?;
        let hidden = self.encoder.hidden_weights.dim(1)?;
        // The encoder's inputs do not depend on its state: one product
        // for every step at once.
        let from_input = input
            .reshape((steps * batch, d))?
            .matmul(&self.encoder.input_weights.t()?)?
            .broadcast_add(self.encoder.bias.as_tensor())?
            .reshape((steps, batch, 4 * hidden))?;
        let encoder_hidden = self.encoder.hidden_weights.t()?;
        let mut state: Option<(Tensor, Tensor)> = None;
        for step in 0..steps {
            let mut gates = from_input.get(step)?;
            if let Some((h, _)) = &state {
                gates = (gates + h.matmul(&encoder_hidden)?)?;
            }
            state = Some(cell(&gates, state.as_ref().map(|(_, c)| c), hidden)?);
        }
        let (mut h, mut c) = state.expect("a window has at least one step");

        let decoder_input = self.decoder.input_weights.t()?;
        let decoder_hidden = self.decoder.hidden_weights.t()?;
        let output_weights = self.output.weights.t()?;
        let project = |h: &Tensor| -> candle_core::Result<Tensor> {
            h.matmul(&output_weights)?
                .broadcast_add(self.output.bias.as_tensor())
        };
        let mut outputs = vec![project(&h)?];
        for _ in 1..steps {
            let previous = outputs.last().expect("one output is written first");
            let gates = (previous.matmul(&decoder_input)? + h.matmul(&decoder_hidden)?)?
                .broadcast_add(self.decoder.bias.as_tensor())?;
            (h, c) = cell(&gates, Some(&c), hidden)?;
            outputs.push(project(&h)?);
        }
        outputs.reverse();
        Tensor::stack(&outputs, 0)
    }
}

/// One LSTM step from the pre-activation `gates` (`batch × 4 hidden`,
/// gates input, forget, cell, output) and the previous cell state (`None`
/// for zeros); returns the new hidden and cell states.
fn cell(
    gates: &Tensor,
    previous: Option<&Tensor>,
    hidden: usize,
) -> candle_core::Result<(Tensor, Tensor)> {
    let squashed = candle_nn::ops::sigmoid(gates)?;
    let input_gate = squashed.narrow(1, 0, hidden)?;
    let output_gate = squashed.narrow(1, 3 * hidden, hidden)?;
    let candidate = gates.narrow(1, 2 * hidden, hidden)?.tanh()?;
    let mut c = (input_gate * candidate)?;
    if let Some(previous) = previous {
        let forget_gate = squashed.narrow(1, hidden, hidden)?;
        c = (c + (forget_gate * previous)?)?;
    }
    let h = (output_gate * c.tanh()?)?;
    Ok((h, c))
}

/// Row-major windows of `steps × d` values each, as a `(steps, count, d)`
/// tensor.
fn time_major(windows: &[f32], count: usize, steps: usize) -> candle_core::Result<Tensor> {
    let d = windows.len() / (count * steps);
    Tensor::from_slice(windows, (count, steps, d), &Device::Cpu)?
        .transpose(0, 1)?
        .contiguous()
}

/// Trains `initial` to reconstruct the standardised row-major windows;
/// returns the trained network and the mean loss of each epoch. A loss
/// that stops being finite is an error that suggests a smaller learning
/// rate.
pub(super) fn train(
    params: &LstmAutoencoderParams,
    initial: &Network,
    standardised: &[f32],
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(Network, Vec<f64>), FitError> {
    let network = TrainableNetwork::new(initial).map_err(training_error)?;
    let mut optimiser = AdamW::new(
        network.variables(),
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )
    .map_err(training_error)?;

    let steps = params.steps;
    let width = steps * initial.encoder.n_inputs;
    let n_windows = standardised.len() / width;
    let mut order: Vec<usize> = (0..n_windows).collect();
    let mut batch = Vec::with_capacity(params.batch_size * width);
    let mut losses = Vec::with_capacity(params.epochs);
    for epoch in 0..params.epochs {
        order.shuffle(rng);
        let mut total = 0.0;
        for indices in order.chunks(params.batch_size) {
            batch.clear();
            for &index in indices {
                batch.extend_from_slice(&standardised[index * width..][..width]);
            }
            let input = time_major(&batch, indices.len(), steps).map_err(training_error)?;
            let output = network.forward(&input).map_err(training_error)?;
            let loss = candle_nn::loss::mse(&output, &input).map_err(training_error)?;
            optimiser.backward_step(&loss).map_err(training_error)?;
            let loss = f64::from(loss.to_scalar::<f32>().map_err(training_error)?);
            total += loss * indices.len() as f64;
        }
        let mean = total / n_windows as f64;
        check_epoch_loss("lstm_autoencoder", mean, epoch, params.learning_rate)?;
        losses.push(mean);
    }
    let trained = network.to_plain().map_err(training_error)?;
    Ok((trained, losses))
}

/// The network's reconstruction of standardised row-major windows of
/// `steps` steps, computed by candle as in training and written back
/// row-major; for tests that pin the plain-Rust forward pass to candle's.
#[cfg(test)]
pub(super) fn candle_reconstruction(
    network: &Network,
    standardised: &[f32],
    steps: usize,
) -> candle_core::Result<Vec<f32>> {
    let width = steps * network.encoder.n_inputs;
    let count = standardised.len() / width;
    let input = time_major(standardised, count, steps)?;
    let output = TrainableNetwork::new(network)?.forward(&input)?;
    output
        .transpose(0, 1)?
        .contiguous()?
        .flatten_all()?
        .to_vec1()
}
