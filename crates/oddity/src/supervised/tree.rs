//! A single CART classification tree (Gini criterion) as a detector: the
//! score is the weighted share of anomalies in the leaf a point falls in,
//! as scikit-learn's `DecisionTreeClassifier.predict_proba`.
//!
//! Attribution is Saabas' path decomposition: the change in the anomaly
//! share at each split on the point's path, summed per feature; features
//! that raised the share get their positive part, normalised.

use ndarray::{ArrayView1, ArrayView2, Axis};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::cart::{GrowParams, Tree, feature_major};
use super::{ClassWeight, SupervisedOptions, input_shares, training_set, with_score_feature};
use crate::detector::{Detector, FitError, IsolationForest, ParamError};

/// How many features a split examines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// Every feature.
    All,
    /// `max(1, floor(sqrt(n_features)))`, drawn at random per split.
    Sqrt,
    /// This many (at most all), drawn at random per split.
    Count(usize),
}

impl MaxFeatures {
    pub(crate) fn resolve(self, n_features: usize) -> usize {
        match self {
            MaxFeatures::All => n_features,
            MaxFeatures::Sqrt => ((n_features as f64).sqrt().floor() as usize).max(1),
            MaxFeatures::Count(count) => count.clamp(1, n_features.max(1)),
        }
    }

    pub(crate) fn validate(self) -> Result<(), ParamError> {
        if self == MaxFeatures::Count(0) {
            return Err(ParamError::new("max_features", "must be at least 1", 0));
        }
        Ok(())
    }
}

/// Parameters of [`DecisionTree`]; defaults are scikit-learn's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionTreeParams {
    /// Deepest level split; default `None`, grow until leaves are pure.
    pub max_depth: Option<usize>,
    /// Fewest training points in a leaf; default 1.
    pub min_samples_leaf: usize,
    /// Features examined per split; default all.
    pub max_features: MaxFeatures,
    pub class_weight: ClassWeight,
    /// Oversample the smaller class with SMOTE; default false.
    pub smote: bool,
    /// SMOTE's neighbours; default 5.
    pub smote_k: usize,
    /// Few-labels mode: add an Isolation Forest score as a feature.
    pub iforest_feature: bool,
    /// Seed of the feature draws, SMOTE and the few-labels forest.
    pub seed: u64,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            max_depth: None,
            min_samples_leaf: 1,
            max_features: MaxFeatures::All,
            class_weight: ClassWeight::None,
            smote: false,
            smote_k: 5,
            iforest_feature: false,
            seed: 42,
        }
    }
}

impl DecisionTreeParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        validate_growth(self.max_depth, self.min_samples_leaf, self.max_features)?;
        self.options().validate()
    }

    pub(crate) fn name(&self) -> &'static str {
        "tree"
    }

    fn options(&self) -> SupervisedOptions {
        SupervisedOptions {
            class_weight: self.class_weight,
            smote: self.smote,
            smote_k: self.smote_k,
            iforest_feature: self.iforest_feature,
            seed: self.seed,
        }
    }
}

pub(crate) fn validate_growth(
    max_depth: Option<usize>,
    min_samples_leaf: usize,
    max_features: MaxFeatures,
) -> Result<(), ParamError> {
    if max_depth == Some(0) {
        return Err(ParamError::new("max_depth", "must be at least 1", 0));
    }
    if min_samples_leaf == 0 {
        return Err(ParamError::new("min_samples_leaf", "must be at least 1", 0));
    }
    max_features.validate()
}

/// A fitted decision tree; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DecisionTree {
    params: DecisionTreeParams,
    n_features: usize,
    tree: Tree,
    score_feature: Option<IsolationForest>,
}

impl DecisionTree {
    /// Fits on `points` with `labels` (`None`: unlabelled, left out).
    pub fn fit(
        params: &DecisionTreeParams,
        points: ArrayView2<'_, f64>,
        labels: &[Option<bool>],
    ) -> Result<DecisionTree, FitError> {
        params.validate()?;
        let training = training_set(points, labels, &params.options())?;
        let width = training.points.ncols();
        let grow = GrowParams {
            max_depth: params.max_depth,
            min_samples_leaf: params.min_samples_leaf,
            max_features: params.max_features.resolve(width),
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
        let tree = Tree::grow(
            &feature_major(training.points.view()),
            width,
            &training.labels,
            &training.weights,
            grow,
            &mut rng,
        );
        tracing::debug!(
            n_nodes = tree.n_nodes(),
            depth = tree.depth(),
            "grew decision tree"
        );
        Ok(DecisionTree {
            params: params.clone(),
            n_features: points.ncols(),
            tree,
            score_feature: training.score_feature,
        })
    }

    /// The parameters the tree was fitted with.
    pub fn params(&self) -> &DecisionTreeParams {
        &self.params
    }

    /// Depth of the deepest leaf.
    pub fn depth(&self) -> usize {
        self.tree.depth()
    }
}

impl Detector for DecisionTree {
    fn name(&self) -> &'static str {
        "tree"
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let points = with_score_feature(points, self.score_feature.as_ref());
        points
            .outer_iter()
            .into_par_iter()
            .map(|point| self.tree.predict(point))
            .collect()
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        let augmented = with_score_feature(point.insert_axis(Axis(0)), self.score_feature.as_ref());
        let mut raw = vec![0.0; augmented.ncols()];
        self.tree.add_path_contributions(augmented.row(0), &mut raw);
        input_shares(raw, point, self.score_feature.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::super::reference_data as reference;
    use super::*;
    use ndarray::Array2;

    #[test]
    fn probabilities_match_scikit_learn() {
        let n_features = reference::N_FEATURES;
        let points = Array2::from_shape_vec(
            (reference::POINTS.len() / n_features, n_features),
            reference::POINTS.to_vec(),
        )
        .unwrap();
        let labels: Vec<Option<bool>> = reference::LABELS.iter().map(|&l| Some(l)).collect();
        for case in reference::TREE_CASES {
            let params = DecisionTreeParams {
                max_depth: case.max_depth,
                min_samples_leaf: case.min_samples_leaf,
                class_weight: if case.balanced {
                    ClassWeight::Balanced
                } else {
                    ClassWeight::None
                },
                ..DecisionTreeParams::default()
            };
            let tree = DecisionTree::fit(&params, points.view(), &labels).unwrap();
            let scores = tree.score(points.view());
            for (row, (ours, theirs)) in scores.iter().zip(case.probabilities).enumerate() {
                assert!(
                    (ours - theirs).abs() < 1e-9,
                    "{case:?} row {row}: {ours} vs {theirs}"
                );
            }
        }
    }

    #[test]
    fn zero_depth_is_refused_by_name() {
        let params = DecisionTreeParams {
            max_depth: Some(0),
            ..DecisionTreeParams::default()
        };
        assert_eq!(
            params.validate().unwrap_err().to_string(),
            "max_depth must be at least 1, got 0"
        );
    }
}
