//! Half-space trees (Tan, Ting and Liu, "Fast anomaly detection for
//! streaming data", IJCAI 2011), scored exactly as River's `HalfSpaceTrees`.
//!
//! Each tree is a complete binary tree of `height` random splits drawn once,
//! before any data, inside the known feature ranges (`limits`): a feature is
//! chosen with probability proportional to its width in the node, the split
//! uniformly in the middle 70% of that width. Learning only counts: every
//! node on a point's path gets one more point in the *latest* window. After
//! `window_size` points the latest counts become the *reference* counts and
//! the latest start again from zero, so the model forgets everything older
//! than two windows.
//!
//! Scoring walks each tree from the root, adding `reference mass · 2^depth`
//! at every node, and stops after the first node whose reference mass is
//! below 10% of the window (the paper's size limit) or at the leaf. Dense
//! regions collect large sums; the score is `1 - sum / max_sum`, where
//! `max_sum = n_trees · window_size · (2^(height+1) - 1)`, so it lies in
//! [0, 1] and higher means more anomalous. Before the first window is
//! complete the score is 0, as in River.
//!
//! Costs: `O(n_trees · height)` per point for both scoring and learning;
//! the window change is `O(1)` (counts are rolled over lazily, when a walk
//! next touches a node, where River visits every node). Memory is
//! `48 · n_trees · 2^height` bytes whatever the number of features: 0.1 MB
//! for River's defaults, 39 MB for 25 trees of height 15.
//!
//! Attribution: along the scoring path, each split that sends the point into
//! a child with fewer reference points removes `log2((m + 1) / (m_child + 1))`
//! bits of mass; the bits are credited to the split's feature.
//!
//! ```
//! use oddity::online::{HalfSpaceTrees, HalfSpaceTreesParams, OnlineDetector};
//!
//! let params = HalfSpaceTreesParams { window_size: 100, ..HalfSpaceTreesParams::default() };
//! let mut trees = HalfSpaceTrees::new(&params, 2)?;
//! for step in 0..300 {
//!     let wobble = (step % 10) as f64 * 0.01;
//!     trees.learn_one(&[0.3 + wobble, 0.6 - wobble]);
//! }
//! assert!(trees.score_one(&[0.95, 0.05]) > trees.score_one(&[0.33, 0.57]));
//! # Ok::<(), oddity::online::OnlineError>(())
//! ```

use serde::{Deserialize, Serialize};

use super::rng::StreamRng;
use super::{OnlineDetector, OnlineError, is_valid_point, normalise_shares};

pub(super) const NAME: &str = "half_space_trees";

/// Share of a node's width kept free of splits on each side (River's 0.15).
const PADDING: f64 = 0.15;

/// A scoring walk stops below this share of the window (the paper's 0.1).
const SIZE_LIMIT_SHARE: f64 = 0.1;

/// The deepest tree allowed: 2^21 nodes, 64 MB per tree.
const MAX_HEIGHT: usize = 20;

/// The most nodes over all trees (8 GB of counters).
const MAX_NODES: usize = 1 << 28;

/// The most trees allowed.
const MAX_TREES: usize = 10_000;

/// The largest window allowed; with [`MAX_TREES`] and [`MAX_HEIGHT`] it
/// keeps every mass sum below 2^53, where `f64` sums are exact and so
/// agree with River's bit for bit.
const MAX_WINDOW: usize = 100_000;

/// Parameters of [`HalfSpaceTrees`]; the defaults are River's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HalfSpaceTreesParams {
    /// Number of trees; default 10.
    pub n_trees: usize,
    /// Splits from the root to a leaf; a tree has `2^(height+1) - 1`
    /// nodes. Default 8.
    pub height: usize,
    /// Points per window: the reference counts describe the last complete
    /// window. Default 250.
    pub window_size: usize,
    /// The `(low, high)` range of each feature, where the splits are drawn;
    /// `None` (the default) means [0, 1] for every feature. Values outside
    /// the range are accepted and fall into the outermost cells.
    pub limits: Option<Vec<(f64, f64)>>,
    /// Seed of the random splits; default 42.
    pub seed: u64,
}

impl Default for HalfSpaceTreesParams {
    fn default() -> Self {
        HalfSpaceTreesParams {
            n_trees: 10,
            height: 8,
            window_size: 250,
            limits: None,
            seed: 42,
        }
    }
}

impl HalfSpaceTreesParams {
    /// Checks every parameter that does not depend on the number of
    /// features; the first bad one is reported.
    pub fn validate(&self) -> Result<(), OnlineError> {
        if self.n_trees == 0 {
            return Err(OnlineError::param(
                "n_trees",
                "must be at least 1",
                self.n_trees,
            ));
        }
        if self.n_trees > MAX_TREES {
            let requirement = format!("must be at most {MAX_TREES}");
            return Err(OnlineError::param("n_trees", requirement, self.n_trees));
        }
        if self.height == 0 {
            return Err(OnlineError::param(
                "height",
                "must be at least 1",
                self.height,
            ));
        }
        if self.height > MAX_HEIGHT {
            let requirement = format!("must be at most {MAX_HEIGHT}");
            return Err(OnlineError::param("height", requirement, self.height));
        }
        let n_nodes = self.n_trees * nodes_per_tree(self.height);
        if n_nodes > MAX_NODES {
            let requirement = format!(
                "must keep n_trees * (2^(height+1) - 1) at most {MAX_NODES} nodes \
                 (n_trees {})",
                self.n_trees
            );
            return Err(OnlineError::param("height", requirement, self.height));
        }
        if self.window_size == 0 {
            return Err(OnlineError::param(
                "window_size",
                "must be at least 1",
                self.window_size,
            ));
        }
        if self.window_size > MAX_WINDOW {
            let requirement = format!("must be at most {MAX_WINDOW}");
            return Err(OnlineError::param(
                "window_size",
                requirement,
                self.window_size,
            ));
        }
        for (feature, &(low, high)) in self.limits.iter().flatten().enumerate() {
            if !(low.is_finite() && high.is_finite() && low < high && (high - low).is_finite()) {
                let requirement = format!(
                    "must hold finite ranges with low < high and a finite width (feature {feature})"
                );
                return Err(OnlineError::param(
                    "limits",
                    requirement,
                    format!("({low}, {high})"),
                ));
            }
        }
        Ok(())
    }
}

/// Half-space trees; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HalfSpaceTrees {
    params: HalfSpaceTreesParams,
    n_features: usize,
    /// Per tree, its `2^height - 1` inner nodes in heap order (the children
    /// of node `i` are `2i + 1` and `2i + 2`).
    splits: Vec<Split>,
    /// Per tree, all `2^(height+1) - 1` nodes in heap order.
    masses: Vec<Mass>,
    /// Windows completed so far.
    window_index: u64,
    /// Points learned in the current window.
    window_fill: usize,
    n_seen: u64,
}

/// An inner node: points with `point[feature] < threshold` go left.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Split {
    threshold: f64,
    feature: u32,
}

/// A node's counts, rolled over lazily: they are exact for window
/// `window`, and read through [`Mass::reference_at`] for later windows.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Mass {
    window: u64,
    /// Points counted in window `window`.
    latest: u32,
    /// Points counted in window `window - 1`.
    reference: u32,
}

impl Mass {
    /// The reference mass as of window `now`.
    fn reference_at(&self, now: u64) -> u32 {
        if self.window == now {
            self.reference
        } else if self.window.wrapping_add(1) == now {
            self.latest
        } else {
            0
        }
    }

    /// Counts one point in window `now`.
    fn count_at(&mut self, now: u64) {
        if self.window != now {
            self.reference = self.reference_at(now);
            self.latest = 0;
            self.window = now;
        }
        self.latest = self.latest.saturating_add(1);
    }
}

impl HalfSpaceTrees {
    /// Empty trees for points of `n_features` values; the splits are drawn
    /// here, from `params.seed`.
    pub fn new(
        params: &HalfSpaceTreesParams,
        n_features: usize,
    ) -> Result<HalfSpaceTrees, OnlineError> {
        let mut limits = resolved_limits(params, n_features)?;
        let n_internal = inner_nodes_per_tree(params.height);
        let mut rng = StreamRng::seed_from_u64(params.seed);
        let mut splits = vec![
            Split {
                threshold: 0.0,
                feature: 0
            };
            params.n_trees * n_internal
        ];
        for tree in splits.chunks_exact_mut(n_internal) {
            grow(tree, 0, &mut limits, &mut rng);
        }
        tracing::debug!(
            n_features,
            n_trees = params.n_trees,
            "built half-space trees"
        );
        Ok(HalfSpaceTrees::with_splits(params, n_features, splits))
    }

    fn with_splits(
        params: &HalfSpaceTreesParams,
        n_features: usize,
        splits: Vec<Split>,
    ) -> HalfSpaceTrees {
        HalfSpaceTrees {
            params: params.clone(),
            n_features,
            splits,
            masses: vec![Mass::default(); params.n_trees * nodes_per_tree(params.height)],
            window_index: 0,
            window_fill: 0,
            n_seen: 0,
        }
    }

    /// The parameters the trees were built with.
    pub fn params(&self) -> &HalfSpaceTreesParams {
        &self.params
    }

    /// Checks what indexing relies on, for a state read from outside.
    pub fn check_state(&self) -> Result<(), OnlineError> {
        self.params.validate()?;
        resolved_limits(&self.params, self.n_features)?;
        let n_trees = self.params.n_trees;
        if self.splits.len() != n_trees * inner_nodes_per_tree(self.params.height)
            || self.masses.len() != n_trees * nodes_per_tree(self.params.height)
        {
            return Err(OnlineError::corrupt("tree arrays do not match the height"));
        }
        if self
            .splits
            .iter()
            .any(|split| split.feature as usize >= self.n_features)
        {
            return Err(OnlineError::corrupt("a split names a feature out of range"));
        }
        if self.window_fill >= self.params.window_size {
            return Err(OnlineError::corrupt("the current window is overfull"));
        }
        Ok(())
    }

    fn max_sum(&self) -> f64 {
        (self.params.n_trees * self.params.window_size * nodes_per_tree(self.params.height)) as f64
    }

    fn size_limit(&self) -> f64 {
        SIZE_LIMIT_SHARE * self.params.window_size as f64
    }

    /// The trees as (splits, masses) slices.
    fn trees(&self) -> impl Iterator<Item = (&[Split], &[Mass])> {
        let n_internal = inner_nodes_per_tree(self.params.height);
        let n_nodes = nodes_per_tree(self.params.height);
        self.splits
            .chunks_exact(n_internal)
            .zip(self.masses.chunks_exact(n_nodes))
    }

    /// Learns a valid point and, if `score`, scores it first, in one walk
    /// per tree: the counts a walk adds are not the ones it reads.
    fn learn_walk(&mut self, point: &[f64], score: bool) -> f64 {
        let now = self.window_index;
        let size_limit = self.size_limit();
        let score = score && now > 0;
        let n_internal = inner_nodes_per_tree(self.params.height);
        let n_nodes = nodes_per_tree(self.params.height);
        let mut sum: u64 = 0;
        for (splits, masses) in self
            .splits
            .chunks_exact(n_internal)
            .zip(self.masses.chunks_exact_mut(n_nodes))
        {
            let mut scoring = score;
            let mut weight: u64 = 1;
            let mut node = 0;
            while node < n_internal {
                let mass = &mut masses[node];
                if scoring {
                    let reference = mass.reference_at(now);
                    sum += u64::from(reference) * weight;
                    scoring = f64::from(reference) >= size_limit;
                }
                mass.count_at(now);
                let split = splits[node];
                node = 2 * node + 1 + usize::from(point[split.feature as usize] >= split.threshold);
                weight <<= 1;
            }
            if scoring {
                sum += u64::from(masses[node].reference_at(now)) * weight;
            }
            masses[node].count_at(now);
        }
        self.n_seen += 1;
        self.window_fill += 1;
        if self.window_fill == self.params.window_size {
            self.window_index += 1;
            self.window_fill = 0;
        }
        if score {
            1.0 - sum as f64 / self.max_sum()
        } else {
            0.0
        }
    }
}

impl OnlineDetector for HalfSpaceTrees {
    fn name(&self) -> &'static str {
        NAME
    }

    fn state_bytes(&self) -> usize {
        size_of::<Self>()
            + self.splits.len() * size_of::<Split>()
            + self.masses.len() * size_of::<Mass>()
            + self
                .params
                .limits
                .as_ref()
                .map_or(0, |limits| limits.len() * size_of::<(f64, f64)>())
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score_one(&self, point: &[f64]) -> f64 {
        if !is_valid_point(point, self.n_features) {
            return f64::NAN;
        }
        let now = self.window_index;
        if now == 0 {
            return 0.0;
        }
        let size_limit = self.size_limit();
        let mut sum: u64 = 0;
        for (splits, masses) in self.trees() {
            let mut weight: u64 = 1;
            let mut node = 0;
            loop {
                let reference = masses[node].reference_at(now);
                sum += u64::from(reference) * weight;
                if node >= splits.len() || f64::from(reference) < size_limit {
                    break;
                }
                let split = splits[node];
                node = 2 * node + 1 + usize::from(point[split.feature as usize] >= split.threshold);
                weight <<= 1;
            }
        }
        1.0 - sum as f64 / self.max_sum()
    }

    fn learn_one(&mut self, point: &[f64]) {
        if is_valid_point(point, self.n_features) {
            self.learn_walk(point, false);
        }
    }

    fn score_learn_one(&mut self, point: &[f64]) -> f64 {
        if !is_valid_point(point, self.n_features) {
            return f64::NAN;
        }
        self.learn_walk(point, true)
    }

    fn attribute_one(&self, point: &[f64]) -> Vec<f64> {
        let mut bits = vec![0.0; self.n_features];
        if !is_valid_point(point, self.n_features) || self.window_index == 0 {
            return bits;
        }
        let now = self.window_index;
        let size_limit = self.size_limit();
        for (splits, masses) in self.trees() {
            let mut node = 0;
            while node < splits.len() {
                let reference = masses[node].reference_at(now);
                if f64::from(reference) < size_limit {
                    break;
                }
                let split = splits[node];
                let child =
                    2 * node + 1 + usize::from(point[split.feature as usize] >= split.threshold);
                let child_reference = masses[child].reference_at(now);
                bits[split.feature as usize] +=
                    ((f64::from(reference) + 1.0) / (f64::from(child_reference) + 1.0)).log2();
                node = child;
            }
        }
        normalise_shares(bits)
    }

    fn n_seen(&self) -> u64 {
        self.n_seen
    }
}

fn nodes_per_tree(height: usize) -> usize {
    (1 << (height + 1)) - 1
}

fn inner_nodes_per_tree(height: usize) -> usize {
    (1 << height) - 1
}

/// The validated per-feature ranges.
fn resolved_limits(
    params: &HalfSpaceTreesParams,
    n_features: usize,
) -> Result<Vec<(f64, f64)>, OnlineError> {
    params.validate()?;
    if n_features == 0 {
        return Err(OnlineError::param(
            "n_features",
            "must be at least 1",
            n_features,
        ));
    }
    if n_features > u32::MAX as usize {
        let requirement = format!("must be at most {}", u32::MAX);
        return Err(OnlineError::param("n_features", requirement, n_features));
    }
    match &params.limits {
        None => Ok(vec![(0.0, 1.0); n_features]),
        Some(limits) if limits.len() == n_features => Ok(limits.clone()),
        Some(limits) => {
            let requirement = format!("must hold one range per feature ({n_features})");
            Err(OnlineError::param(
                "limits",
                requirement,
                format!("{} ranges", limits.len()),
            ))
        }
    }
}

/// Draws the split of `node` and, recursively, of its descendants, inside
/// the current `limits` (narrowed on the way down and restored after).
fn grow(splits: &mut [Split], node: usize, limits: &mut [(f64, f64)], rng: &mut StreamRng) {
    if node >= splits.len() {
        return;
    }
    // A feature with probability proportional to its width in this node.
    let total: f64 = limits.iter().map(|(low, high)| high - low).sum();
    let mut target = rng.unit() * total;
    let mut feature = limits.len() - 1;
    for (candidate, (low, high)) in limits.iter().enumerate() {
        let width = high - low;
        if target < width {
            feature = candidate;
            break;
        }
        target -= width;
    }

    let (low, high) = limits[feature];
    let padding = PADDING * (high - low);
    let (from, to) = (low + padding, high - padding);
    let threshold = from + (to - from) * rng.unit();
    splits[node] = Split {
        threshold,
        feature: feature as u32,
    };

    limits[feature] = (low, threshold);
    grow(splits, 2 * node + 1, limits, rng);
    limits[feature] = (threshold, high);
    grow(splits, 2 * node + 2, limits, rng);
    limits[feature] = (low, high);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trees with splits given in heap order per tree, as River drew them.
    fn from_river_splits(
        params: &HalfSpaceTreesParams,
        n_features: usize,
        features: &[&[u32]],
        thresholds: &[&[f64]],
    ) -> HalfSpaceTrees {
        let splits = features
            .iter()
            .zip(thresholds)
            .flat_map(|(features, thresholds)| {
                features
                    .iter()
                    .zip(thresholds.iter())
                    .map(|(&feature, &threshold)| Split { threshold, feature })
            })
            .collect();
        let trees = HalfSpaceTrees::with_splits(params, n_features, splits);
        trees
            .check_state()
            .expect("River's splits fit the parameters");
        trees
    }

    // Generated by scripts/hst_reference.py with River 0.26.1: 3 trees of
    // height 3, window 8, 2 features, 60 points; each score is taken before
    // the point is learned.
    include!("hst_reference_data.rs");

    #[test]
    fn scores_equal_rivers_for_the_same_splits() {
        let params = HalfSpaceTreesParams {
            n_trees: 3,
            height: 3,
            window_size: 8,
            limits: None,
            seed: 0,
        };
        let mut trees = from_river_splits(&params, 2, &RIVER_FEATURES, &RIVER_THRESHOLDS);
        let mut fused = trees.clone();

        for (point, &expected) in RIVER_POINTS.iter().zip(RIVER_SCORES.iter()) {
            let score = trees.score_one(point);
            trees.learn_one(point);
            assert_eq!(
                score.to_bits(),
                expected.to_bits(),
                "{point:?}: {score} vs {expected}"
            );
            assert_eq!(fused.score_learn_one(point).to_bits(), expected.to_bits());
        }
    }

    #[test]
    fn splits_stay_inside_the_padded_limits() {
        let params = HalfSpaceTreesParams {
            limits: Some(vec![(-10.0, 10.0), (100.0, 101.0)]),
            ..HalfSpaceTreesParams::default()
        };
        let trees = HalfSpaceTrees::new(&params, 2).expect("valid parameters");
        for (node, split) in trees.splits.iter().enumerate() {
            let (low, high) = [(-10.0, 10.0), (100.0, 101.0)][split.feature as usize];
            // Deeper splits are padded inside their node's narrower range.
            let padding = if node == 0 {
                PADDING * (high - low)
            } else {
                0.0
            };
            assert!(split.threshold > low + padding && split.threshold < high - padding);
        }
        // The wider feature is split more often, though its share falls
        // with depth as its range in the node narrows.
        let wide = trees
            .splits
            .iter()
            .filter(|split| split.feature == 0)
            .count();
        assert!(wide > trees.splits.len() / 2, "{wide}");
    }

    #[test]
    fn scores_are_zero_until_the_first_window_ends() {
        let params = HalfSpaceTreesParams {
            window_size: 20,
            ..HalfSpaceTreesParams::default()
        };
        let mut trees = HalfSpaceTrees::new(&params, 1).expect("valid parameters");
        for step in 0..20 {
            let point = [0.3 + 0.01 * step as f64];
            assert_eq!(trees.score_learn_one(&point), 0.0, "step {step}");
        }
        let score = trees.score_one(&[0.9]);
        assert!(score > 0.0 && score < 1.0, "{score}");
    }

    #[test]
    fn model_forgets_after_two_quiet_windows() {
        let params = HalfSpaceTreesParams {
            window_size: 50,
            ..HalfSpaceTreesParams::default()
        };
        let mut trees = HalfSpaceTrees::new(&params, 2).expect("valid parameters");
        for _ in 0..100 {
            trees.learn_one(&[0.1, 0.1]);
        }
        let familiar = trees.score_one(&[0.1, 0.1]);
        for _ in 0..100 {
            trees.learn_one(&[0.9, 0.9]);
        }
        let forgotten = trees.score_one(&[0.1, 0.1]);
        assert!(forgotten > familiar, "{forgotten} <= {familiar}");
        assert!(forgotten > 0.9, "{forgotten}");
    }

    #[test]
    fn planted_feature_gets_the_largest_attribution() {
        for planted in 0..4 {
            let params = HalfSpaceTreesParams {
                n_trees: 25,
                window_size: 100,
                ..HalfSpaceTreesParams::default()
            };
            let mut trees = HalfSpaceTrees::new(&params, 4).expect("valid parameters");
            let mut rng = StreamRng::seed_from_u64(3);
            for _ in 0..300 {
                let point: Vec<f64> = (0..4).map(|_| 0.4 + 0.2 * rng.unit()).collect();
                trees.learn_one(&point);
            }
            let mut probe = vec![0.5; 4];
            probe[planted] = 0.97;

            let shares = trees.attribute_one(&probe);

            let top = (0..4).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
            assert_eq!(top, Some(planted), "{shares:?}");
            approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
        }
    }

    #[test]
    fn invalid_parameters_name_the_parameter_and_value() {
        let cases = [
            (
                HalfSpaceTreesParams {
                    n_trees: 0,
                    ..HalfSpaceTreesParams::default()
                },
                "invalid parameter: n_trees must be at least 1, got 0",
            ),
            (
                HalfSpaceTreesParams {
                    height: 21,
                    ..HalfSpaceTreesParams::default()
                },
                "invalid parameter: height must be at most 20, got 21",
            ),
            (
                HalfSpaceTreesParams {
                    window_size: 0,
                    ..HalfSpaceTreesParams::default()
                },
                "invalid parameter: window_size must be at least 1, got 0",
            ),
            (
                HalfSpaceTreesParams {
                    limits: Some(vec![(0.0, 1.0), (2.0, 2.0)]),
                    ..HalfSpaceTreesParams::default()
                },
                "invalid parameter: limits must hold finite ranges with low < high and a \
                 finite width (feature 1), got (2, 2)",
            ),
        ];
        for (params, message) in cases {
            let error = HalfSpaceTrees::new(&params, 2).expect_err("invalid");
            assert_eq!(error.to_string(), message);
        }
        let params = HalfSpaceTreesParams {
            limits: Some(vec![(0.0, 1.0)]),
            ..HalfSpaceTreesParams::default()
        };
        let error = HalfSpaceTrees::new(&params, 3).expect_err("wrong number of ranges");
        assert_eq!(
            error.to_string(),
            "invalid parameter: limits must hold one range per feature (3), got 1 ranges"
        );
    }

    #[test]
    fn corrupt_state_is_reported_not_used() {
        let mut trees =
            HalfSpaceTrees::new(&HalfSpaceTreesParams::default(), 2).expect("valid parameters");
        trees.splits[3].feature = 7;
        assert!(matches!(
            trees.check_state(),
            Err(OnlineError::CorruptState(_))
        ));
    }
}
