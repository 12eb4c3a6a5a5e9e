//! Random forest of CART trees (Breiman, Machine Learning 2001), as
//! scikit-learn's `RandomForestClassifier`: each tree is grown to purity
//! on a bootstrap sample (drawn points weigh as often as they were drawn,
//! times their class weight) examining `sqrt(n_features)` random features
//! per split, and the score is the mean over trees of the leaf's anomaly
//! share.
//!
//! Trees are grown in parallel; each draws from its own generator derived
//! from the seed and its index, so a seed gives the same forest on any
//! number of threads.
//!
//! Attribution: Saabas' path decomposition averaged over the trees (the
//! change in anomaly share at every split on the point's path, summed per
//! feature); the positive parts, normalised.

use ndarray::{ArrayView1, ArrayView2, Axis};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::cart::{GrowParams, Tree, feature_major};
use super::tree::validate_growth;
use super::{
    ClassWeight, MaxFeatures, SupervisedOptions, input_shares, training_set, with_score_feature,
};
use crate::detector::{Detector, FitError, IsolationForest, ParamError};

/// Parameters of [`RandomForest`]; defaults are scikit-learn's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RandomForestParams {
    /// Number of trees; default 100.
    pub n_trees: usize,
    /// Deepest level split; default `None`, grow until leaves are pure.
    pub max_depth: Option<usize>,
    /// Fewest training points in a leaf; default 1.
    pub min_samples_leaf: usize,
    /// Features examined per split; default `sqrt`.
    pub max_features: MaxFeatures,
    /// Grow each tree on a bootstrap sample; default true.
    pub bootstrap: bool,
    pub class_weight: ClassWeight,
    /// Oversample the smaller class with SMOTE; default false.
    pub smote: bool,
    /// SMOTE's neighbours; default 5.
    pub smote_k: usize,
    /// Few-labels mode: add an Isolation Forest score as a feature.
    pub iforest_feature: bool,
    /// Seed of the bootstrap samples, feature draws, SMOTE and the
    /// few-labels forest.
    pub seed: u64,
}

impl Default for RandomForestParams {
    fn default() -> Self {
        RandomForestParams {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            class_weight: ClassWeight::None,
            smote: false,
            smote_k: 5,
            iforest_feature: false,
            seed: 42,
        }
    }
}

impl RandomForestParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.n_trees == 0 {
            return Err(ParamError::new("n_trees", "must be at least 1", 0));
        }
        validate_growth(self.max_depth, self.min_samples_leaf, self.max_features)?;
        self.options().validate()
    }

    pub(crate) fn name(&self) -> &'static str {
        "forest"
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

/// A fitted random forest; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RandomForest {
    params: RandomForestParams,
    n_features: usize,
    trees: Vec<Tree>,
    score_feature: Option<IsolationForest>,
}

impl RandomForest {
    /// Fits on `points` with `labels` (`None`: unlabelled, left out).
    pub fn fit(
        params: &RandomForestParams,
        points: ArrayView2<'_, f64>,
        labels: &[Option<bool>],
    ) -> Result<RandomForest, FitError> {
        params.validate()?;
        let training = training_set(points, labels, &params.options())?;
        let width = training.points.ncols();
        let n_rows = training.labels.len();
        let grow = GrowParams {
            max_depth: params.max_depth,
            min_samples_leaf: params.min_samples_leaf,
            max_features: params.max_features.resolve(width),
        };
        let data = feature_major(training.points.view());
        tracing::debug!(
            n_trees = params.n_trees,
            n_rows,
            width,
            "growing random forest"
        );
        let trees = (0..params.n_trees)
            .into_par_iter()
            .map(|tree_index| {
                // One generator per tree, derived from the seed and the
                // tree's index: the same forest on any number of threads.
                let seed = params.seed ^ (tree_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let weights = if params.bootstrap {
                    let mut counts = vec![0u32; n_rows];
                    for _ in 0..n_rows {
                        counts[rng.random_range(0..n_rows)] += 1;
                    }
                    counts
                        .iter()
                        .zip(&training.weights)
                        .map(|(&count, &weight)| f64::from(count) * weight)
                        .collect()
                } else {
                    training.weights.clone()
                };
                Tree::grow(&data, width, &training.labels, &weights, grow, &mut rng)
            })
            .collect();
        Ok(RandomForest {
            params: params.clone(),
            n_features: points.ncols(),
            trees,
            score_feature: training.score_feature,
        })
    }

    /// The parameters the forest was fitted with.
    pub fn params(&self) -> &RandomForestParams {
        &self.params
    }
}

impl Detector for RandomForest {
    fn name(&self) -> &'static str {
        "forest"
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let points = with_score_feature(points, self.score_feature.as_ref());
        let n_trees = self.trees.len() as f64;
        points
            .outer_iter()
            .into_par_iter()
            .map(|point| {
                // Summed in tree order, so scores do not depend on threads.
                self.trees
                    .iter()
                    .map(|tree| tree.predict(point))
                    .sum::<f64>()
                    / n_trees
            })
            .collect()
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        let augmented = with_score_feature(point.insert_axis(Axis(0)), self.score_feature.as_ref());
        let mut raw = vec![0.0; augmented.ncols()];
        for tree in &self.trees {
            tree.add_path_contributions(augmented.row(0), &mut raw);
        }
        input_shares(raw, point, self.score_feature.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::planted;
    use super::*;

    #[test]
    fn a_seed_gives_the_same_forest_on_any_number_of_threads() {
        let (points, labels) = planted(300, 5, 30, 1, 2.0, 4);
        let params = RandomForestParams {
            n_trees: 20,
            ..RandomForestParams::default()
        };
        let fit_with = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| RandomForest::fit(&params, points.view(), &labels).unwrap())
        };
        let one = fit_with(1);
        let three = fit_with(3);
        assert_eq!(one.trees, three.trees);
        assert_eq!(one.score(points.view()), three.score(points.view()));
        let other_seed = RandomForest::fit(
            &RandomForestParams {
                seed: 43,
                ..params.clone()
            },
            points.view(),
            &labels,
        )
        .unwrap();
        assert_ne!(one.trees, other_seed.trees);
    }

    #[test]
    fn a_lone_anomaly_scores_the_share_of_bootstraps_that_drew_it() {
        // Row 0 is extreme in every feature and the only anomaly: a tree
        // whose bootstrap drew it isolates it in a pure leaf, the others
        // never saw it.
        let (mut points, _) = planted(300, 3, 0, 0, 0.0, 9);
        for feature in 0..3 {
            points[[0, feature]] = 9.0;
        }
        let labels: Vec<Option<bool>> = (0..300).map(|row| Some(row == 0)).collect();
        let params = RandomForestParams {
            class_weight: ClassWeight::Balanced,
            ..RandomForestParams::default()
        };
        let forest = RandomForest::fit(&params, points.view(), &labels).unwrap();
        let drawn = (0..params.n_trees)
            .filter(|&tree_index| {
                let seed = params.seed ^ (tree_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                (0..300).any(|_| rng.random_range(0..300) == 0)
            })
            .count();
        let score = forest.score(points.view())[0];
        assert_eq!(score, drawn as f64 / 100.0);
        assert!((50..=80).contains(&drawn), "{drawn}");
    }

    #[test]
    fn zero_trees_are_refused_by_name() {
        let params = RandomForestParams {
            n_trees: 0,
            ..RandomForestParams::default()
        };
        assert_eq!(
            params.validate().unwrap_err().to_string(),
            "n_trees must be at least 1, got 0"
        );
    }
}
