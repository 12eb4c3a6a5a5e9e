//! Growing one CART classification tree (Breiman, Friedman, Olshen and
//! Stone 1984) with the Gini criterion and sample weights, shared by
//! [`super::DecisionTree`] and [`super::RandomForest`].
//!
//! Each node keeps the weighted share of anomalies among its training
//! points, so that the prediction of a leaf and the change along a path
//! (Saabas' attribution) both come from the same numbers. Splits follow
//! scikit-learn's rules: a threshold halfway between two consecutive
//! distinct values (values closer than [`MIN_GAP`] count as equal), points
//! at or below it go left, `min_samples_leaf` counts points (not weight),
//! and a node is split whenever it is impure, shallower than `max_depth`
//! and has a valid split. Ties between equally good splits go to the
//! feature examined first, so trees equal scikit-learn's whenever the best
//! split is unique.
//!
//! Cost: every node sorts its points along each examined feature, so a
//! balanced tree costs `O(n_features · n log² n)`; nodes of many points
//! examine their features on all rayon threads.

use ndarray::ArrayView1;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Values closer than this are one value to the splitter (scikit-learn's
/// `FEATURE_THRESHOLD`), so rounding never produces a split between them.
const MIN_GAP: f64 = 1e-7;

/// Nodes with at least this many points examine features in parallel.
const PARALLEL_NODE_POINTS: usize = 20_000;

/// Marks a leaf in [`Node::left`]: the root is nobody's child.
const LEAF: u32 = 0;

/// How a tree is grown.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GrowParams {
    /// Deepest level split; `None` grows until the leaves are pure.
    pub max_depth: Option<usize>,
    /// Fewest training points in a leaf, at least 1.
    pub min_samples_leaf: usize,
    /// Non-constant features examined per split, at most the number of
    /// features; fewer than all draws them at random for every node.
    pub max_features: usize,
}

/// One node; children are indices into [`Tree::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Node {
    feature: u32,
    threshold: f64,
    left: u32,
    right: u32,
    /// Weighted share of anomalies among the node's training points.
    value: f64,
}

/// A fitted classification tree; the root is node 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
}

/// The best split found for a node.
#[derive(Clone, Copy, Debug)]
struct Split {
    feature: usize,
    threshold: f64,
    /// Higher is better: the sum over both children of
    /// `(w_anomaly² + w_normal²) / w`, which grows as the weighted Gini
    /// impurity of the children falls.
    proxy: f64,
}

/// What a node's training points add up to.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    weight: f64,
    anomaly_weight: f64,
}

impl Totals {
    fn add(&mut self, weight: f64, is_anomaly: bool) {
        self.weight += weight;
        if is_anomaly {
            self.anomaly_weight += weight;
        }
    }

    fn share(&self) -> f64 {
        if self.weight > 0.0 {
            self.anomaly_weight / self.weight
        } else {
            0.0
        }
    }

    /// `(w_anomaly² + w_normal²) / w`.
    fn purity(&self) -> f64 {
        if self.weight <= 0.0 {
            return 0.0;
        }
        let normal = self.weight - self.anomaly_weight;
        (self.anomaly_weight * self.anomaly_weight + normal * normal) / self.weight
    }
}

/// The training data of one tree.
struct Grower<'a> {
    /// Feature-major: all values of feature 0, then of feature 1, ...; a
    /// node gathers one feature of its rows at a time, which this layout
    /// keeps in few cache lines.
    columns: &'a [f64],
    n_rows: usize,
    n_features: usize,
    labels: &'a [bool],
    weights: &'a [f64],
    params: GrowParams,
}

impl Tree {
    /// Grows a tree on the feature-major `columns` (`n_features` columns
    /// of `labels.len()` values each, see [`feature_major`]); rows of zero
    /// weight are left out. `rng` draws the features examined per split
    /// when `max_features` is below the number of features.
    pub(crate) fn grow(
        columns: &[f64],
        n_features: usize,
        labels: &[bool],
        weights: &[f64],
        params: GrowParams,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Tree {
        let grower = Grower {
            columns,
            n_rows: labels.len(),
            n_features,
            labels,
            weights,
            params,
        };
        let mut rows: Vec<u32> = (0..labels.len() as u32)
            .filter(|&row| weights[row as usize] > 0.0)
            .collect();
        let mut nodes = vec![Node {
            feature: 0,
            threshold: 0.0,
            left: LEAF,
            right: LEAF,
            value: grower.totals(&rows).share(),
        }];
        // (node, first row, end row, depth): a node's rows are a range of
        // `rows`, which each split partitions in place.
        let mut pending = vec![(0usize, 0usize, rows.len(), 0usize)];
        let mut buffer = Vec::new();
        while let Some((node, start, end, depth)) = pending.pop() {
            let node_rows = &mut rows[start..end];
            let Some(split) = grower.best_split(node_rows, depth, rng, &mut buffer) else {
                continue;
            };
            let n_left = partition(node_rows, |row| {
                grower.value(row, split.feature) <= split.threshold
            });
            let left = nodes.len();
            for range in [&node_rows[..n_left], &node_rows[n_left..]] {
                nodes.push(Node {
                    feature: 0,
                    threshold: 0.0,
                    left: LEAF,
                    right: LEAF,
                    value: grower.totals(range).share(),
                });
            }
            nodes[node] = Node {
                feature: split.feature as u32,
                threshold: split.threshold,
                left: left as u32,
                right: left as u32 + 1,
                value: nodes[node].value,
            };
            pending.push((left + 1, start + n_left, end, depth + 1));
            pending.push((left, start, start + n_left, depth + 1));
        }
        Tree { nodes }
    }

    /// The anomaly share of the leaf `point` falls in.
    pub(crate) fn predict(&self, point: ArrayView1<'_, f64>) -> f64 {
        let mut node = &self.nodes[0];
        while node.left != LEAF {
            node = &self.nodes[self.child(node, point)];
        }
        node.value
    }

    /// Adds to `contributions` the change in anomaly share at each split
    /// on `point`'s path, credited to the split's feature (Saabas); the
    /// root's share plus all of them is the prediction.
    pub(crate) fn add_path_contributions(
        &self,
        point: ArrayView1<'_, f64>,
        contributions: &mut [f64],
    ) {
        let mut node = &self.nodes[0];
        while node.left != LEAF {
            let child = &self.nodes[self.child(node, point)];
            contributions[node.feature as usize] += child.value - node.value;
            node = child;
        }
    }

    /// Number of nodes, for tests and logs.
    pub(crate) fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Deepest leaf's depth (the root alone is 0).
    pub(crate) fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(0usize, 0usize)];
        while let Some((index, depth)) = pending.pop() {
            let node = &self.nodes[index];
            deepest = deepest.max(depth);
            if node.left != LEAF {
                pending.push((node.left as usize, depth + 1));
                pending.push((node.right as usize, depth + 1));
            }
        }
        deepest
    }

    fn child(&self, node: &Node, point: ArrayView1<'_, f64>) -> usize {
        // A NaN goes right, as `NaN <= t` is false; prepared points are
        // finite, this only keeps a library caller's NaN from panicking.
        if point[node.feature as usize] <= node.threshold {
            node.left as usize
        } else {
            node.right as usize
        }
    }
}

impl Grower<'_> {
    fn totals(&self, rows: &[u32]) -> Totals {
        let mut totals = Totals::default();
        for &row in rows {
            totals.add(self.weights[row as usize], self.labels[row as usize]);
        }
        totals
    }

    fn value(&self, row: u32, feature: usize) -> f64 {
        self.columns[feature * self.n_rows + row as usize]
    }

    /// The best split of a node, or `None` when it stays a leaf.
    fn best_split(
        &self,
        rows: &[u32],
        depth: usize,
        rng: &mut Xoshiro256PlusPlus,
        buffer: &mut Vec<(f64, u32)>,
    ) -> Option<Split> {
        let min_leaf = self.params.min_samples_leaf.max(1);
        let totals = self.totals(rows);
        let pure = totals.anomaly_weight <= 0.0 || totals.anomaly_weight >= totals.weight;
        let too_deep = self.params.max_depth.is_some_and(|max| depth >= max);
        if pure || too_deep || rows.len() < 2 * min_leaf {
            return None;
        }

        if self.params.max_features >= self.n_features {
            // Every feature, in order; large nodes in parallel, reduced in
            // feature order so the result does not depend on threads.
            let candidates: Vec<Option<Split>> = if rows.len() >= PARALLEL_NODE_POINTS {
                (0..self.n_features)
                    .into_par_iter()
                    .map_init(Vec::new, |buffer, feature| {
                        self.split_on(rows, feature, totals, buffer)
                    })
                    .collect()
            } else {
                (0..self.n_features)
                    .map(|feature| self.split_on(rows, feature, totals, buffer))
                    .collect()
            };
            return candidates.into_iter().flatten().fold(None, better);
        }

        // Features in a random order until `max_features` non-constant
        // ones were examined (constant ones do not count, as in
        // scikit-learn).
        let mut features: Vec<usize> = (0..self.n_features).collect();
        let mut best = None;
        let mut examined = 0;
        for drawn in 0..self.n_features {
            if examined >= self.params.max_features {
                break;
            }
            let pick = rng.random_range(drawn..self.n_features);
            features.swap(drawn, pick);
            let feature = features[drawn];
            match self.examine(rows, feature, totals, buffer) {
                Examined::Constant => {}
                Examined::NoSplit => examined += 1,
                Examined::Split(split) => {
                    examined += 1;
                    best = better(best, split);
                }
            }
        }
        best
    }

    /// The best threshold on one feature, if any leaves both children at
    /// least `min_samples_leaf` points.
    fn split_on(
        &self,
        rows: &[u32],
        feature: usize,
        totals: Totals,
        buffer: &mut Vec<(f64, u32)>,
    ) -> Option<Split> {
        match self.examine(rows, feature, totals, buffer) {
            Examined::Split(split) => Some(split),
            Examined::Constant | Examined::NoSplit => None,
        }
    }

    fn examine(
        &self,
        rows: &[u32],
        feature: usize,
        totals: Totals,
        buffer: &mut Vec<(f64, u32)>,
    ) -> Examined {
        let min_leaf = self.params.min_samples_leaf.max(1);
        buffer.clear();
        let mut low = f64::INFINITY;
        let mut high = f64::NEG_INFINITY;
        buffer.extend(rows.iter().map(|&row| {
            let value = self.value(row, feature);
            low = low.min(value);
            high = high.max(value);
            (value, row)
        }));
        if high - low <= MIN_GAP {
            return Examined::Constant;
        }
        // Equal values may end in any order: the scan only splits between
        // distinct values, and the unstable sort is deterministic.
        buffer.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));

        let mut left = Totals::default();
        let mut best: Option<Split> = None;
        for position in 0..buffer.len() - 1 {
            let (value, row) = buffer[position];
            left.add(self.weights[row as usize], self.labels[row as usize]);
            let next = buffer[position + 1].0;
            let n_left = position + 1;
            if next <= value + MIN_GAP || n_left < min_leaf || buffer.len() - n_left < min_leaf {
                continue;
            }
            let right = Totals {
                weight: totals.weight - left.weight,
                anomaly_weight: totals.anomaly_weight - left.anomaly_weight,
            };
            let proxy = left.purity() + right.purity();
            if best.is_none_or(|best| proxy > best.proxy) {
                let mut threshold = value / 2.0 + next / 2.0;
                if threshold >= next || !threshold.is_finite() {
                    threshold = value;
                }
                best = Some(Split {
                    feature,
                    threshold,
                    proxy,
                });
            }
        }
        best.map_or(Examined::NoSplit, Examined::Split)
    }
}

/// What examining one feature of a node found.
enum Examined {
    /// The feature takes one value in the node.
    Constant,
    /// No threshold leaves enough points on both sides.
    NoSplit,
    Split(Split),
}

/// The feature-major copy of a row-major matrix that [`Tree::grow`] takes.
pub(crate) fn feature_major(points: ndarray::ArrayView2<'_, f64>) -> Vec<f64> {
    points.t().as_standard_layout().iter().copied().collect()
}

/// The better of two splits; the earlier one on a tie.
fn better(best: Option<Split>, candidate: Split) -> Option<Split> {
    match best {
        Some(best) if best.proxy >= candidate.proxy => Some(best),
        _ => Some(candidate),
    }
}

/// Moves the rows for which `goes_left` holds to the front; returns how
/// many there are.
fn partition(rows: &mut [u32], goes_left: impl Fn(u32) -> bool) -> usize {
    let mut n_left = 0;
    for index in 0..rows.len() {
        if goes_left(rows[index]) {
            rows.swap(index, n_left);
            n_left += 1;
        }
    }
    n_left
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;

    fn all_features(n_features: usize) -> GrowParams {
        GrowParams {
            max_depth: None,
            min_samples_leaf: 1,
            max_features: n_features,
        }
    }

    #[test]
    fn threshold_lies_halfway_between_the_classes() {
        // Feature 1 is noise; feature 0 separates at 2 / 3.
        let points = Array2::from_shape_vec(
            (6, 2),
            vec![0.0, 5.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0, 4.0, 4.0, 5.0, 0.0],
        )
        .unwrap();
        let labels = [false, false, false, true, true, true];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let tree = Tree::grow(
            &feature_major(points.view()),
            2,
            &labels,
            &[1.0; 6],
            all_features(2),
            &mut rng,
        );
        assert_eq!(tree.n_nodes(), 3);
        assert_eq!(tree.nodes[0].feature, 0);
        assert_eq!(tree.nodes[0].threshold, 2.5);
        assert_eq!(tree.predict(ndarray::aview1(&[2.4, 9.0])), 0.0);
        assert_eq!(tree.predict(ndarray::aview1(&[2.6, 9.0])), 1.0);
    }

    #[test]
    fn min_samples_leaf_and_max_depth_are_honoured() {
        let values: Vec<f64> = (0..40).map(f64::from).collect();
        let labels: Vec<bool> = (0..40).map(|i| i % 3 == 0).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let params = GrowParams {
            max_depth: Some(3),
            min_samples_leaf: 4,
            max_features: 1,
        };
        let tree = Tree::grow(&values, 1, &labels, &[1.0; 40], params, &mut rng);
        assert!(tree.depth() <= 3);
        // Count the training points reaching each leaf.
        let mut counts = vec![0usize; tree.n_nodes()];
        for &value in &values {
            let mut index = 0;
            while tree.nodes[index].left != LEAF {
                index = tree.child(&tree.nodes[index], ndarray::aview1(&[value]));
            }
            counts[index] += 1;
        }
        for (index, node) in tree.nodes.iter().enumerate() {
            if node.left == LEAF {
                assert!(counts[index] >= 4, "leaf {index} holds {}", counts[index]);
            }
        }
    }

    #[test]
    fn weights_move_the_leaf_shares() {
        // Identical points cannot be split: the leaf's share is the
        // weighted share of anomalies.
        let labels = [true, false, false];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let tree = Tree::grow(
            &[1.0, 1.0, 1.0],
            1,
            &labels,
            &[2.0, 1.0, 1.0],
            all_features(1),
            &mut rng,
        );
        assert_eq!(tree.n_nodes(), 1);
        assert_eq!(tree.predict(ndarray::aview1(&[1.0])), 0.5);
        // Zero weight removes a point altogether.
        let tree = Tree::grow(
            &[0.0, 1.0, 2.0],
            1,
            &labels,
            &[0.0, 1.0, 1.0],
            all_features(1),
            &mut rng,
        );
        assert_eq!(tree.predict(ndarray::aview1(&[0.0])), 0.0);
    }

    #[test]
    fn path_contributions_add_up_to_the_prediction() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let n_points = 200;
        let data: Vec<f64> = (0..n_points * 3)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let labels: Vec<bool> = (0..n_points)
            .map(|row| data[row * 3] + data[row * 3 + 2] > 0.5)
            .collect();
        let params = GrowParams {
            max_depth: Some(4),
            min_samples_leaf: 1,
            max_features: 3,
        };
        let view = ndarray::ArrayView2::from_shape((n_points, 3), &data).unwrap();
        let tree = Tree::grow(
            &feature_major(view),
            3,
            &labels,
            &vec![1.0; n_points],
            params,
            &mut rng,
        );
        for row in 0..20 {
            let point = ndarray::aview1(&data[row * 3..row * 3 + 3]);
            let mut contributions = vec![0.0; 3];
            tree.add_path_contributions(point, &mut contributions);
            let total = tree.nodes[0].value + contributions.iter().sum::<f64>();
            assert!((total - tree.predict(point)).abs() < 1e-12);
        }
    }
}
