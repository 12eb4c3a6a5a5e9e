//! Training the autoencoder with candle (crate feature `autoencoder`).
//!
//! The network is built from [`DenseLayer`]s as candle variables, trained
//! with candle's automatic differentiation and its AdamW optimiser, and
//! handed back as plain vectors. Every random number (shuffles, dropout
//! masks) comes from the caller's seeded generator.

use candle_core::{Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use candle_nn::{Linear, Module};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::{AutoencoderParams, DenseLayer};
use crate::detector::FitError;

/// A candle failure as a fitting error.
fn training_error(error: candle_core::Error) -> FitError {
    FitError::Training {
        detector: "autoencoder",
        reason: error.to_string(),
    }
}

/// The error for an epoch whose mean loss `mean` (epoch numbered from 0)
/// is not finite: training diverged, and a smaller learning rate is the
/// usual cure.
pub(in crate::detector) fn check_epoch_loss(
    detector: &'static str,
    mean: f64,
    epoch: usize,
    learning_rate: f64,
) -> Result<(), FitError> {
    if mean.is_finite() {
        return Ok(());
    }
    Err(FitError::Training {
        detector,
        reason: format!(
            "the loss became {mean} in epoch {}; lower learning_rate (now {learning_rate})",
            epoch + 1
        ),
    })
}

/// One layer's weights and bias as trainable candle variables.
pub(in crate::detector) struct TrainableLayer {
    pub(in crate::detector) weights: Var,
    pub(in crate::detector) bias: Var,
}

impl TrainableLayer {
    pub(in crate::detector) fn new(layer: &DenseLayer) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        Ok(TrainableLayer {
            weights: Var::from_vec(
                layer.weights.clone(),
                (layer.n_outputs, layer.n_inputs),
                &device,
            )?,
            bias: Var::from_vec(layer.bias.clone(), layer.n_outputs, &device)?,
        })
    }

    fn linear(&self) -> Linear {
        Linear::new(
            self.weights.as_tensor().clone(),
            Some(self.bias.as_tensor().clone()),
        )
    }

    pub(in crate::detector) fn to_dense(&self) -> candle_core::Result<DenseLayer> {
        let (n_outputs, n_inputs) = self.weights.dims2()?;
        Ok(DenseLayer {
            n_inputs,
            n_outputs,
            weights: self.weights.flatten_all()?.to_vec1()?,
            bias: self.bias.to_vec1()?,
        })
    }
}

/// Trains `initial` (encoder then decoder) to reconstruct the standardised
/// row-major points; returns the trained layers and the mean loss of each
/// epoch. A loss that stops being finite is an error that suggests a
/// smaller learning rate.
pub(super) fn train(
    params: &AutoencoderParams,
    initial: &[DenseLayer],
    standardised: &[f32],
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(Vec<DenseLayer>, Vec<f64>), FitError> {
    let layers = initial
        .iter()
        .map(TrainableLayer::new)
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(training_error)?;
    let variables = layers
        .iter()
        .flat_map(|layer| [layer.weights.clone(), layer.bias.clone()])
        .collect();
    let mut optimiser = AdamW::new(
        variables,
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            ..ParamsAdamW::default()
        },
    )
    .map_err(training_error)?;

    let n_features = initial[0].n_inputs;
    let n_points = standardised.len() / n_features;
    let mut order: Vec<usize> = (0..n_points).collect();
    let mut batch = Vec::with_capacity(params.batch_size * n_features);
    let mut losses = Vec::with_capacity(params.epochs);
    for epoch in 0..params.epochs {
        order.shuffle(rng);
        let mut total = 0.0;
        for indices in order.chunks(params.batch_size) {
            batch.clear();
            for &index in indices {
                batch.extend_from_slice(&standardised[index * n_features..][..n_features]);
            }
            let input = Tensor::from_slice(&batch, (indices.len(), n_features), &Device::Cpu)
                .map_err(training_error)?;
            let output = forward(&layers, &input, params.dropout, rng).map_err(training_error)?;
            let loss = candle_nn::loss::mse(&output, &input).map_err(training_error)?;
            optimiser.backward_step(&loss).map_err(training_error)?;
            let loss = f64::from(loss.to_scalar::<f32>().map_err(training_error)?);
            total += loss * indices.len() as f64;
        }
        let mean = total / n_points as f64;
        check_epoch_loss("autoencoder", mean, epoch, params.learning_rate)?;
        losses.push(mean);
    }
    let trained = layers
        .iter()
        .map(TrainableLayer::to_dense)
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(training_error)?;
    Ok((trained, losses))
}

/// The training forward pass: ReLU and then dropout after every layer but
/// the last.
fn forward(
    layers: &[TrainableLayer],
    input: &Tensor,
    dropout: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> candle_core::Result<Tensor> {
    let last = layers.len() - 1;
    let mut hidden = input.clone();
    for (index, layer) in layers.iter().enumerate() {
        hidden = layer.linear().forward(&hidden)?;
        if index < last {
            hidden = hidden.relu()?;
            if dropout > 0.0 {
                let mask = dropout_mask(hidden.dims2()?, dropout, rng)?;
                hidden = (hidden * mask)?;
            }
        }
    }
    Ok(hidden)
}

/// Inverted dropout: each entry kept with probability `1 - dropout` and
/// then scaled by `1 / (1 - dropout)`, so the expected activation is
/// unchanged and scoring needs no rescaling.
fn dropout_mask(
    (rows, columns): (usize, usize),
    dropout: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> candle_core::Result<Tensor> {
    let kept = (1.0 / (1.0 - dropout)) as f32;
    let mask: Vec<f32> = (0..rows * columns)
        .map(|_| {
            if rng.random::<f64>() < dropout {
                0.0
            } else {
                kept
            }
        })
        .collect();
    Tensor::from_vec(mask, (rows, columns), &Device::Cpu)
}

/// The network's output for standardised row-major points, computed by
/// candle as in training without dropout; for tests that pin the plain-Rust
/// forward pass to candle's.
#[cfg(test)]
pub(super) fn candle_reconstruction(
    layers: &[DenseLayer],
    standardised: &[f32],
) -> candle_core::Result<Vec<f32>> {
    let n_features = layers[0].n_inputs;
    let rows = standardised.len() / n_features;
    let input = Tensor::from_slice(standardised, (rows, n_features), &Device::Cpu)?;
    let layers = layers
        .iter()
        .map(TrainableLayer::new)
        .collect::<candle_core::Result<Vec<_>>>()?;
    // Without dropout the generator is never drawn from.
    let mut unused = rand::SeedableRng::seed_from_u64(0);
    let output = forward(&layers, &input, 0.0, &mut unused)?;
    output.flatten_all()?.to_vec1()
}
