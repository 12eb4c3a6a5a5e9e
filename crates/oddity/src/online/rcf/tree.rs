//! One random cut tree with its sampler, and the box arithmetic the forest
//! scores with; see the parent module for the algorithm.

use serde::{Deserialize, Serialize};

use super::super::OnlineError;
use super::super::rng::StreamRng;
use super::DiVector;

/// Accumulators in the box loops: independent sums let the compiler
/// vectorise (one sum would fix the order of additions).
const LANES: usize = 4;

/// Trees whose descents [`score_group`] interleaves.
pub(super) const LOCKSTEP_TREES: usize = 8;

/// Marks a reference to a leaf; the low bits are its index.
const LEAF: u32 = 1 << 31;

/// No node: the parent of the root, the root of an empty tree.
const NONE: u32 = u32::MAX;

/// One tree and its sampler. Inner nodes and leaves live in arenas of
/// `capacity` slots each, allocated once.
///
/// Boxes are stored as `f32` rounded outward (lower corners down, upper
/// corners up), which halves the memory a score reads; each stored box is
/// exactly the outward rounding of the true box of its points, so it still
/// contains them all and a point inside it is never separated. Points and
/// cuts stay `f64`, so routing and duplicate detection are exact.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Tree {
    rng: StreamRng,
    /// The sampler: a max-heap of weights and, in the same order, the leaf
    /// each sampled point is stored in.
    weights: Vec<f64>,
    sampled: Vec<u32>,
    /// A node reference ([`LEAF`] bit for leaves) or [`NONE`].
    root: u32,
    nodes: Vec<Node>,
    /// Per inner node: points below it.
    masses: Vec<u32>,
    /// Per inner node: the box's lower corner, then its upper corner.
    boxes: Vec<f32>,
    leaves: Vec<Leaf>,
    /// Per leaf: its point.
    points: Vec<f64>,
    free_nodes: Vec<u32>,
    free_leaves: Vec<u32>,
    n_dimensions: usize,
    /// Where a deletion keeps the removed point's rounded corners; not part
    /// of the state.
    #[serde(skip)]
    removed: Vec<f32>,
}

/// An inner node, 24 bytes: what a descent reads, plus the parent.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Node {
    /// Points with `point[dimension] <= value` go to `children[0]`.
    value: f64,
    dimension: u32,
    children: [u32; 2],
    parent: u32,
}

impl Node {
    fn child_for(&self, point: &[f64]) -> u32 {
        self.children[usize::from(point[self.dimension as usize] > self.value)]
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Leaf {
    parent: u32,
    /// How many sampled points equal this leaf's point.
    mass: u32,
    /// [`fingerprint`] of the point.
    key: u32,
}

/// The cut chosen for a new inner node.
#[derive(Debug)]
struct Cut {
    dimension: usize,
    value: f64,
}

fn is_leaf(reference: u32) -> bool {
    reference & LEAF != 0
}

fn leaf_index(reference: u32) -> usize {
    (reference & !LEAF) as usize
}

impl Tree {
    pub(super) fn new(capacity: usize, n_dimensions: usize, seed: u64) -> Tree {
        let empty_node = Node {
            value: 0.0,
            dimension: 0,
            children: [NONE; 2],
            parent: NONE,
        };
        let empty_leaf = Leaf {
            parent: NONE,
            mass: 0,
            key: 0,
        };
        // Free lists are stacks; reversed so that slot 0 is used first.
        let free: Vec<u32> = (0..capacity as u32).rev().collect();
        Tree {
            rng: StreamRng::seed_from_u64(seed),
            weights: Vec::with_capacity(capacity),
            sampled: Vec::with_capacity(capacity),
            root: NONE,
            nodes: vec![empty_node; capacity],
            masses: vec![0; capacity],
            boxes: vec![0.0; capacity * 2 * padded(n_dimensions)],
            leaves: vec![empty_leaf; capacity],
            points: vec![0.0; capacity * n_dimensions],
            free_nodes: free.clone(),
            free_leaves: free,
            n_dimensions,
            removed: Vec::with_capacity(2 * n_dimensions),
        }
    }

    fn capacity(&self) -> usize {
        self.leaves.len()
    }

    /// The bytes the tree holds, its buffers counted by length; all but
    /// the sample's weights and keys are allocated in full at creation.
    pub(super) fn state_bytes(&self) -> usize {
        size_of::<Self>()
            + self.weights.len() * size_of::<f64>()
            + self.sampled.len() * size_of::<u32>()
            + self.nodes.len() * size_of::<Node>()
            + self.masses.len() * size_of::<u32>()
            + self.boxes.len() * size_of::<f32>()
            + self.leaves.len() * size_of::<Leaf>()
            + self.points.len() * size_of::<f64>()
            + (self.free_nodes.len() + self.free_leaves.len()) * size_of::<u32>()
            + 2 * self.n_dimensions * size_of::<f32>()
    }

    fn mass(&self) -> usize {
        self.weights.len()
    }

    /// Points in the sample, duplicates counted.
    pub(super) fn sample_len(&self) -> usize {
        self.mass()
    }

    fn point(&self, leaf: usize) -> &[f64] {
        &self.points[leaf * self.n_dimensions..(leaf + 1) * self.n_dimensions]
    }

    /// The lower and upper corners of inner node `node`'s box.
    fn bounds(&self, node: usize) -> (&[f32], &[f32]) {
        let (start, stride) = (self.box_start(node), padded(self.n_dimensions));
        (
            &self.boxes[start..start + self.n_dimensions],
            &self.boxes[start + stride..start + stride + self.n_dimensions],
        )
    }

    /// Where inner node `node`'s box starts in `boxes`.
    fn box_start(&self, node: usize) -> usize {
        node * 2 * padded(self.n_dimensions)
    }

    /// [`Tree::bounds`] with the padding lanes, which are always 0.
    fn padded_bounds(&self, node: usize) -> (&[f32], &[f32]) {
        let (start, stride) = (self.box_start(node), padded(self.n_dimensions));
        self.boxes[start..start + 2 * stride].split_at(stride)
    }

    /// The box of any node in one dimension; a leaf's box is its point,
    /// rounded outward to `f32` as a node's box would be.
    fn rounded_corner(&self, reference: u32, dimension: usize) -> (f32, f32) {
        if is_leaf(reference) {
            let value = self.points[leaf_index(reference) * self.n_dimensions + dimension];
            (round_down(value), round_up(value))
        } else {
            let start = self.box_start(reference as usize);
            (
                self.boxes[start + dimension],
                self.boxes[start + padded(self.n_dimensions) + dimension],
            )
        }
    }

    fn mass_of(&self, reference: u32) -> u32 {
        if is_leaf(reference) {
            self.leaves[leaf_index(reference)].mass
        } else {
            self.masses[reference as usize]
        }
    }

    fn set_parent(&mut self, reference: u32, parent: u32) {
        if is_leaf(reference) {
            self.leaves[leaf_index(reference)].parent = parent;
        } else {
            self.nodes[reference as usize].parent = parent;
        }
    }

    /// Makes `parent` (or the root, if `NONE`) point to `new` where it
    /// pointed to `old`.
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NONE {
            self.root = new;
        } else {
            let children = &mut self.nodes[parent as usize].children;
            let side = usize::from(children[0] != old);
            children[side] = new;
        }
    }

    /// The leaf `point` falls into and its depth; the tree is not empty.
    fn descend(&self, point: &[f64]) -> (usize, usize) {
        let mut reference = self.root;
        let mut depth = 0;
        while !is_leaf(reference) {
            reference = self.nodes[reference as usize].child_for(point);
            depth += 1;
        }
        (leaf_index(reference), depth)
    }

    /// rcflib's scalar score of `point` in this tree, once the descent has
    /// found its leaf and depth; see the module documentation. The plain
    /// one-tree form of what [`score_group`] interleaves, kept to test it.
    #[cfg(test)]
    fn score_from_leaf(&self, point: &[f64], leaf: usize, mut depth: usize) -> f64 {
        let mut point32: Vec<f32> = point.iter().map(|&value| value as f32).collect();
        point32.resize(padded(point.len()), 0.0);
        let tree_mass = self.mass() as f64;
        let leaf_mass = f64::from(self.leaves[leaf].mass);
        if self.point(leaf) == point {
            let damp = 1.0 - leaf_mass / (2.0 * tree_mass);
            return damp / (depth as f64 + (leaf_mass + 1.0).log2()) * (tree_mass + 1.0).log2();
        }

        let mut score = inverse_depth(depth);
        let mut node = self.leaves[leaf].parent;
        while node != NONE {
            depth -= 1;
            let (low, high) = self.padded_bounds(node as usize);
            let (outside, sides) = outside_and_sides_f32(&point32, low, high);
            if outside == 0.0 {
                break;
            }
            let separation = separation_probability(f64::from(outside), f64::from(sides));
            score = separation * inverse_depth(depth) + (1.0 - separation) * score;
            node = self.nodes[node as usize].parent;
        }
        score * (tree_mass + 1.0).log2()
    }

    /// rcflib's attribution of `point` in this tree, normalised so that its
    /// total is the tree's score.
    pub(super) fn attribution(&self, point: &[f64]) -> DiVector {
        let n_dimensions = self.n_dimensions;
        let mut attribution = DiVector::zeros(n_dimensions);
        if self.root == NONE {
            return attribution;
        }
        let tree_mass = self.mass() as f64;
        let (leaf, mut depth) = self.descend(point);
        let leaf_mass = f64::from(self.leaves[leaf].mass);
        let mut separation = DiVector::zeros(n_dimensions);

        let duplicate = self.point(leaf) == point;
        // For a duplicate, the box of everything met so far except the leaf.
        let mut shadow_low = vec![f32::INFINITY; n_dimensions];
        let mut shadow_high = vec![f32::NEG_INFINITY; n_dimensions];
        let mut score;
        if duplicate {
            let damp = 1.0 - leaf_mass / (2.0 * tree_mass);
            score = damp / (depth as f64 + (leaf_mass + 1.0).log2());
        } else {
            score = 1.0 / (depth as f64 + 1.0);
            let leaf_point = self.point(leaf);
            separation_by_side(point, leaf_point, leaf_point, &mut separation);
            attribution.add_scaled(&separation, score);
        }

        let mut child = LEAF | leaf as u32;
        let mut node = self.leaves[leaf].parent;
        while node != NONE {
            depth -= 1;
            let probability = if duplicate {
                let children = self.nodes[node as usize].children;
                let sibling = if children[0] == child {
                    children[1]
                } else {
                    children[0]
                };
                for dimension in 0..n_dimensions {
                    let (low, high) = self.rounded_corner(sibling, dimension);
                    shadow_low[dimension] = shadow_low[dimension].min(low);
                    shadow_high[dimension] = shadow_high[dimension].max(high);
                }
                separation_by_side(point, &shadow_low, &shadow_high, &mut separation)
            } else {
                let (low, high) = self.bounds(node as usize);
                separation_by_side(point, low, high, &mut separation)
            };
            if probability == 0.0 {
                break;
            }
            let unseen = 1.0 / (depth as f64 + 1.0);
            if !duplicate {
                score = probability * unseen + (1.0 - probability) * score;
            }
            attribution.scale(1.0 - probability);
            attribution.add_scaled(&separation, unseen);
            child = node;
            node = self.nodes[node as usize].parent;
        }

        let total = attribution.total();
        if total > 0.0 && total.is_finite() {
            attribution.scale(score * (tree_mass + 1.0).log2() / total);
        }
        attribution
    }

    /// Offers `point`, the `time`-th point learned, to the sampler, and
    /// stores it in the tree if the sampler keeps it.
    pub(super) fn update(&mut self, point: &[f64], time: u64, time_decay: f64) {
        let weight = (-self.rng.open_unit().ln()).ln() - time as f64 * time_decay;
        if self.weights.len() == self.capacity() {
            if weight >= self.weights[0] {
                return;
            }
            let evicted = self.pop_heaviest();
            self.delete(evicted);
        }
        let leaf = self.insert(point);
        self.push_sampled(weight, leaf);
    }

    fn push_sampled(&mut self, weight: f64, leaf: u32) {
        self.weights.push(weight);
        self.sampled.push(leaf);
        let mut child = self.weights.len() - 1;
        while child > 0 {
            let parent = (child - 1) / 2;
            if self.weights[parent] >= self.weights[child] {
                break;
            }
            self.weights.swap(parent, child);
            self.sampled.swap(parent, child);
            child = parent;
        }
    }

    /// Removes the largest weight from the sampler; returns its leaf.
    fn pop_heaviest(&mut self) -> u32 {
        let leaf = self.sampled.swap_remove(0);
        self.weights.swap_remove(0);
        let size = self.weights.len();
        let mut parent = 0;
        loop {
            let left = 2 * parent + 1;
            if left >= size {
                break;
            }
            let right = left + 1;
            let larger = if right < size && self.weights[right] > self.weights[left] {
                right
            } else {
                left
            };
            if self.weights[larger] <= self.weights[parent] {
                break;
            }
            self.weights.swap(parent, larger);
            self.sampled.swap(parent, larger);
            parent = larger;
        }
        leaf
    }

    /// Inserts `point`; returns the leaf now holding it.
    fn insert(&mut self, point: &[f64]) -> u32 {
        if self.root == NONE {
            let leaf = self.new_leaf(point, NONE);
            self.root = leaf;
            return leaf;
        }
        let n_dimensions = self.n_dimensions;
        let mut parent = NONE;
        let mut reference = self.root;
        loop {
            if is_leaf(reference) {
                let leaf = leaf_index(reference);
                let stored = &self.points[leaf * n_dimensions..(leaf + 1) * n_dimensions];
                if stored == point {
                    self.leaves[leaf].mass += 1;
                    return reference;
                }
                let cut = draw_cut(point, stored, stored, &mut self.rng)
                    .or_else(|| edge_cut(point, stored, stored))
                    .expect("distinct points differ in some dimension");
                return self.split_above(reference, parent, point, cut);
            }

            let node = reference as usize;
            let (start, stride) = (self.box_start(node), padded(n_dimensions));
            let (low, high) = self.boxes[start..start + 2 * stride].split_at_mut(stride);
            let (low, high) = (&mut low[..n_dimensions], &mut high[..n_dimensions]);
            // Most boxes on the way down already hold the point; this test
            // needs no sums and no early exit, so it vectorises.
            let outside = point.iter().zip(&*low).zip(&*high).fold(
                false,
                |outside, ((&value, &low), &high)| {
                    outside | (value < f64::from(low)) | (value > f64::from(high))
                },
            );
            if outside {
                if let Some(cut) = draw_cut(point, low, high, &mut self.rng) {
                    return self.split_above(reference, parent, point, cut);
                }
                // No separation here: the node's box grows to hold the point.
                for ((&value, low), high) in point.iter().zip(low).zip(high) {
                    if value < f64::from(*low) {
                        *low = round_down(value);
                    }
                    if value > f64::from(*high) {
                        *high = round_up(value);
                    }
                }
            }
            self.masses[node] += 1;
            parent = reference;
            reference = self.nodes[node].child_for(point);
        }
    }

    /// Puts a new inner node with `cut` between `sibling` and its `parent`,
    /// with a new leaf for `point` on the other side; returns the leaf.
    fn split_above(&mut self, sibling: u32, parent: u32, point: &[f64], cut: Cut) -> u32 {
        let leaf = self.new_leaf(point, NONE);
        let node = self
            .free_nodes
            .pop()
            .expect("a tree of n leaves has n - 1 inner nodes");
        let children = if point[cut.dimension] <= cut.value {
            [leaf, sibling]
        } else {
            [sibling, leaf]
        };
        self.nodes[node as usize] = Node {
            value: cut.value,
            dimension: cut.dimension as u32,
            children,
            parent,
        };
        self.masses[node as usize] = self.mass_of(sibling) + 1;

        let n_dimensions = self.n_dimensions;
        let (start, stride) = (self.box_start(node as usize), padded(n_dimensions));
        for (dimension, &value) in point.iter().enumerate() {
            let (low, high) = self.rounded_corner(sibling, dimension);
            self.boxes[start + dimension] = low.min(round_down(value));
            self.boxes[start + stride + dimension] = high.max(round_up(value));
        }

        self.replace_child(parent, sibling, node);
        self.set_parent(sibling, node);
        self.set_parent(leaf, node);
        leaf
    }

    fn new_leaf(&mut self, point: &[f64], parent: u32) -> u32 {
        let leaf = self
            .free_leaves
            .pop()
            .expect("the sampler holds at most capacity points");
        self.leaves[leaf as usize] = Leaf {
            parent,
            mass: 1,
            key: fingerprint(point),
        };
        let n_dimensions = self.n_dimensions;
        let start = leaf as usize * n_dimensions;
        self.points[start..start + n_dimensions].copy_from_slice(point);
        LEAF | leaf
    }

    /// Removes one copy of the point stored in `reference` (a leaf).
    fn delete(&mut self, reference: u32) {
        let leaf = leaf_index(reference);
        self.leaves[leaf].mass -= 1;
        let mut node = self.leaves[leaf].parent;
        let mut shrinking = false;
        if self.leaves[leaf].mass == 0 {
            self.free_leaves.push(leaf as u32);
            if node == NONE {
                self.root = NONE;
                return;
            }
            let inner = self.nodes[node as usize];
            let sibling = if inner.children[0] == reference {
                inner.children[1]
            } else {
                inner.children[0]
            };
            self.replace_child(inner.parent, node, sibling);
            self.set_parent(sibling, inner.parent);
            self.free_nodes.push(node);
            node = inner.parent;
            shrinking = true;
        }

        let mut removed = std::mem::take(&mut self.removed);
        if shrinking {
            let point = self.point(leaf);
            removed.clear();
            removed.extend(point.iter().map(|&value| round_down(value)));
            removed.extend(point.iter().map(|&value| round_up(value)));
        }
        while node != NONE {
            let index = node as usize;
            self.masses[index] -= 1;
            if shrinking {
                shrinking = self.shrink_box(index, &removed);
            }
            node = self.nodes[index].parent;
        }
        self.removed = removed;
    }

    /// Recomputes node `node`'s box from its children after a point left
    /// it; `removed` holds that point rounded down, then rounded up. Returns
    /// whether the box changed (if not, no box above changes either).
    fn shrink_box(&mut self, node: usize, removed: &[f32]) -> bool {
        let n_dimensions = self.n_dimensions;
        let [left, right] = self.nodes[node].children;
        let (start, stride) = (self.box_start(node), padded(n_dimensions));
        let (removed_low, removed_high) = removed.split_at(n_dimensions);
        let mut changed = false;
        for dimension in 0..n_dimensions {
            // Only a corner the removed point's rounded value lay on can move.
            let low = self.boxes[start + dimension];
            let high = self.boxes[start + stride + dimension];
            if removed_low[dimension] > low && removed_high[dimension] < high {
                continue;
            }
            let (left_low, left_high) = self.rounded_corner(left, dimension);
            let (right_low, right_high) = self.rounded_corner(right, dimension);
            let (new_low, new_high) = (left_low.min(right_low), left_high.max(right_high));
            changed |= new_low != low || new_high != high;
            self.boxes[start + dimension] = new_low;
            self.boxes[start + stride + dimension] = new_high;
        }
        changed
    }

    /// Checks the tree's structure; see `RandomCutForest::check_state`.
    pub(super) fn check(&self, capacity: usize, n_dimensions: usize) -> Result<(), OnlineError> {
        let corrupt = |reason: &str| Err(OnlineError::corrupt(reason));
        if !self.rng.is_valid()
            || self.n_dimensions != n_dimensions
            || self.nodes.len() != capacity
            || self.masses.len() != capacity
            || self.leaves.len() != capacity
            || self.boxes.len() != capacity * 2 * padded(n_dimensions)
            || self.points.len() != capacity * n_dimensions
            || self.weights.len() != self.sampled.len()
            || self.weights.len() > capacity
        {
            return corrupt("tree arrays do not match the sample size");
        }
        // Walk the tree from the root, marking what is reached.
        let mut seen_nodes = vec![false; capacity];
        let mut seen_leaves = vec![false; capacity];
        let mut leaf_mass: u64 = 0;
        let mut pending = Vec::new();
        if self.root != NONE {
            pending.push((self.root, NONE));
        }
        while let Some((reference, parent)) = pending.pop() {
            if is_leaf(reference) {
                let leaf = leaf_index(reference);
                if leaf >= capacity || seen_leaves[leaf] {
                    return corrupt("a leaf reference is out of range or repeated");
                }
                seen_leaves[leaf] = true;
                let Leaf {
                    parent: stored,
                    mass,
                    key,
                } = self.leaves[leaf];
                if stored != parent || mass == 0 || key != fingerprint(self.point(leaf)) {
                    return corrupt("a leaf's parent, mass or key is wrong");
                }
                leaf_mass += u64::from(mass);
            } else {
                let index = reference as usize;
                if index >= capacity || seen_nodes[index] {
                    return corrupt("a node reference is out of range or repeated");
                }
                seen_nodes[index] = true;
                let node = self.nodes[index];
                if node.parent != parent || node.dimension as usize >= n_dimensions {
                    return corrupt("a node's parent or cut dimension is wrong");
                }
                pending.extend(node.children.map(|child| (child, reference)));
            }
        }
        if leaf_mass != self.weights.len() as u64 {
            return corrupt("leaf masses do not add up to the sample");
        }
        let mut sampled_mass = vec![0u32; capacity];
        for &reference in &self.sampled {
            let leaf = leaf_index(reference);
            if !is_leaf(reference) || leaf >= capacity || !seen_leaves[leaf] {
                return corrupt("the sampler names a leaf that is not in the tree");
            }
            sampled_mass[leaf] += 1;
        }
        for (leaf, &seen) in seen_leaves.iter().enumerate() {
            if seen && sampled_mass[leaf] != self.leaves[leaf].mass {
                return corrupt("a leaf's mass differs from its sampled copies");
            }
        }
        let free_ok = |free: &[u32], seen: &[bool]| {
            let mut listed = vec![false; capacity];
            free.iter().all(|&slot| {
                let slot = slot as usize;
                let fresh = slot < capacity && !seen[slot] && !listed[slot];
                if fresh {
                    listed[slot] = true;
                }
                fresh
            }) && free.len() + seen.iter().filter(|&&seen| seen).count() == capacity
        };
        if !free_ok(&self.free_nodes, &seen_nodes) || !free_ok(&self.free_leaves, &seen_leaves) {
            return corrupt("a free list overlaps the tree or misses slots");
        }
        if self.weights.iter().any(|weight| weight.is_nan()) {
            return corrupt("a sampling weight is NaN");
        }
        // Masses below inner nodes are recomputed bottom-up by the walks
        // above only implicitly; check them so decrements cannot underflow.
        let mut below = vec![0u64; capacity];
        for (leaf, &seen) in seen_leaves.iter().enumerate() {
            if !seen {
                continue;
            }
            let mut node = self.leaves[leaf].parent;
            while node != NONE {
                below[node as usize] += u64::from(self.leaves[leaf].mass);
                node = self.nodes[node as usize].parent;
            }
        }
        let masses_ok = seen_nodes
            .iter()
            .zip(&below)
            .zip(&self.masses)
            .all(|((&seen, &below), &mass)| !seen || below == u64::from(mass));
        if !masses_ok {
            return corrupt("an inner node's mass differs from the points below it");
        }
        Ok(())
    }
}

/// The summed scores of up to [`LOCKSTEP_TREES`] trees, computed as
/// `Tree::score_from_leaf` would but with the trees interleaved step by
/// step: each tree's walk is a chain of dependent loads, mostly cache misses
/// once the forest outgrows the cache, and interleaving lets the misses of
/// different trees overlap.
///
/// The climb compares `point32`, the point rounded to `f32`, with the
/// boxes in `f32` arithmetic: four lanes per instruction instead of two.
/// Near a box's edge this can differ from exact arithmetic by one `f32`
/// rounding, far below what separates anomalies from ordinary points.
pub(super) fn score_group(trees: &[Tree], point: &[f64], point32: &[f32], key: u32) -> f64 {
    debug_assert!(trees.len() <= LOCKSTEP_TREES, "callers chunk the forest");
    let mut at = [NONE; LOCKSTEP_TREES];
    let mut depths = [0usize; LOCKSTEP_TREES];
    for (at, tree) in at.iter_mut().zip(trees) {
        *at = tree.root;
    }
    let mut touch = 0u32;
    loop {
        let mut moved = false;
        for ((at, depth), tree) in at.iter_mut().zip(&mut depths).zip(trees) {
            // An empty tree's root, NONE, counts as a leaf.
            if !is_leaf(*at) {
                // Loading a word of the node's box now, off the descent's
                // critical path, brings it into cache for the climb back
                // up (measured: about 4% faster at 50 trees of 256).
                touch ^= tree.boxes[tree.box_start(*at as usize)].to_bits();
                *at = tree.nodes[*at as usize].child_for(point);
                *depth += 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }

    // Keeps the touching loads from being optimised away.
    std::hint::black_box(touch);
    // At the leaves: a stored point's score is final, others climb.
    let mut scores = [0.0; LOCKSTEP_TREES];
    let mut climbing = [NONE; LOCKSTEP_TREES];
    for (((&at, &depth), tree), (score, climbing)) in at
        .iter()
        .zip(&depths)
        .zip(trees)
        .zip(scores.iter_mut().zip(&mut climbing))
    {
        if at == NONE {
            continue;
        }
        let leaf = leaf_index(at);
        // The key spares loading the stored point when it cannot match.
        if tree.leaves[leaf].key == key && tree.point(leaf) == point {
            let tree_mass = tree.mass() as f64;
            let leaf_mass = f64::from(tree.leaves[leaf].mass);
            let damp = 1.0 - leaf_mass / (2.0 * tree_mass);
            *score = damp / (depth as f64 + (leaf_mass + 1.0).log2());
        } else {
            *score = inverse_depth(depth);
            *climbing = tree.leaves[leaf].parent;
        }
    }
    loop {
        let mut moved = false;
        for (((node, depth), score), tree) in climbing
            .iter_mut()
            .zip(&mut depths)
            .zip(&mut scores)
            .zip(trees)
        {
            if *node == NONE {
                continue;
            }
            *depth -= 1;
            let (low, high) = tree.padded_bounds(*node as usize);
            let (outside, sides) = outside_and_sides_f32(point32, low, high);
            if outside == 0.0 {
                // Inside this box, so inside every box above.
                *node = NONE;
                continue;
            }
            let separation = separation_probability(f64::from(outside), f64::from(sides));
            *score = separation * inverse_depth(*depth) + (1.0 - separation) * *score;
            *node = tree.nodes[*node as usize].parent;
            moved = true;
        }
        if !moved {
            break;
        }
    }

    let mut sum = 0.0;
    let mut full_scale = None;
    for (score, tree) in scores.iter().zip(trees) {
        let scale = if tree.mass() == tree.capacity() {
            // Full trees, the usual case, share one logarithm.
            *full_scale.get_or_insert_with(|| (tree.mass() as f64 + 1.0).log2())
        } else {
            (tree.mass() as f64 + 1.0).log2()
        };
        sum += score * scale;
    }
    sum
}

/// A hash of a point's values; equal points (`-0.0` and `0.0` included)
/// have equal fingerprints.
pub(super) fn fingerprint(point: &[f64]) -> u32 {
    let hash = point.iter().fold(0u64, |hash, &value| {
        // Adding 0.0 turns -0.0 into 0.0, which compares equal to it.
        (hash ^ (value + 0.0).to_bits()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    });
    (hash >> 32) as u32
}

/// `1 / (depth + 1)`, from a table for the usual depths.
fn inverse_depth(depth: usize) -> f64 {
    const TABLE_LEN: usize = 64;
    const TABLE: [f64; TABLE_LEN] = {
        let mut table = [0.0; TABLE_LEN];
        let mut depth = 0;
        while depth < TABLE_LEN {
            table[depth] = 1.0 / (depth as f64 + 1.0);
            depth += 1;
        }
        table
    };
    match TABLE.get(depth) {
        Some(&inverse) => inverse,
        None => 1.0 / (depth as f64 + 1.0),
    }
}

/// Draws a cut in the box `low..high` enlarged by `point`; returns it if it
/// separates the point from the box.
fn draw_cut<C: Copy + Into<f64>>(
    point: &[f64],
    low: &[C],
    high: &[C],
    rng: &mut StreamRng,
) -> Option<Cut> {
    let (outside, sides) = outside_and_sides(point, low, high);
    if outside == 0.0 {
        return None;
    }
    let mut target = rng.unit() * sides;
    for (dimension, ((&value, &low), &high)) in point.iter().zip(low).zip(high).enumerate() {
        let (low, high): (f64, f64) = (low.into(), high.into());
        let (from, to) = (low.min(value), high.max(value));
        let side = to - from;
        if target < side {
            let cut = from + target;
            // Only a cut strictly between the point and the box separates;
            // rounding can land a cut on the box's edge.
            let separates = (value <= cut && cut < low) || (high <= cut && cut < value);
            return separates.then_some(Cut {
                dimension,
                value: cut,
            });
        }
        target -= side;
    }
    // Rounding (or an infinite side) left the target past the last side.
    edge_cut(point, low, high)
}

/// A cut that always separates `point` from the box `low..high`, if the
/// point is outside it: at the box's edge, in the last dimension the point
/// sticks out on.
fn edge_cut<C: Copy + Into<f64>>(point: &[f64], low: &[C], high: &[C]) -> Option<Cut> {
    let outside = |d: usize| point[d] < low[d].into() || point[d] > high[d].into();
    let dimension = (0..point.len()).rev().find(|&d| outside(d))?;
    let value = if point[dimension] < low[dimension].into() {
        point[dimension]
    } else {
        high[dimension].into()
    };
    Some(Cut { dimension, value })
}

/// How far `point` lies outside the box `low..high`, summed over
/// dimensions, and the sum of the sides of the box enlarged by the point;
/// [`LANES`] sums, added at the end.
fn outside_and_sides<C: Copy + Into<f64>>(point: &[f64], low: &[C], high: &[C]) -> (f64, f64) {
    let positive = |value: f64| if value > 0.0 { value } else { 0.0 };
    let mut outside = [0.0; LANES];
    let mut sides = [0.0; LANES];
    let points = point.chunks_exact(LANES);
    let lows = low.chunks_exact(LANES);
    let highs = high.chunks_exact(LANES);
    let (point_rest, low_rest, high_rest) =
        (points.remainder(), lows.remainder(), highs.remainder());
    for ((point, low), high) in points.zip(lows).zip(highs) {
        for lane in 0..LANES {
            let (value, low, high): (f64, f64, f64) =
                (point[lane], low[lane].into(), high[lane].into());
            let gap = positive(low - value) + positive(value - high);
            outside[lane] += gap;
            sides[lane] += (high - low) + gap;
        }
    }
    for ((&value, &low), &high) in point_rest.iter().zip(low_rest).zip(high_rest) {
        let (low, high): (f64, f64) = (low.into(), high.into());
        let gap = positive(low - value) + positive(value - high);
        outside[0] += gap;
        sides[0] += (high - low) + gap;
    }
    (
        (outside[0] + outside[1]) + (outside[2] + outside[3]),
        (sides[0] + sides[1]) + (sides[2] + sides[3]),
    )
}

/// Dimensions rounded up to whole groups of [`LANES`]: boxes and rounded
/// points are padded with zeros to this length, so the scoring loop has no
/// remainder.
pub(super) fn padded(n_dimensions: usize) -> usize {
    n_dimensions.next_multiple_of(LANES)
}

/// [`outside_and_sides`] in `f32` arithmetic, for scoring, on padded slices.
fn outside_and_sides_f32(point: &[f32], low: &[f32], high: &[f32]) -> (f32, f32) {
    let positive = |value: f32| if value > 0.0 { value } else { 0.0 };
    let mut outside = [0.0; LANES];
    let mut sides = [0.0; LANES];
    let points = point.chunks_exact(LANES);
    let lows = low.chunks_exact(LANES);
    let highs = high.chunks_exact(LANES);
    let (point_rest, low_rest, high_rest) =
        (points.remainder(), lows.remainder(), highs.remainder());
    for ((point, low), high) in points.zip(lows).zip(highs) {
        for lane in 0..LANES {
            let gap = positive(low[lane] - point[lane]) + positive(point[lane] - high[lane]);
            outside[lane] += gap;
            sides[lane] += (high[lane] - low[lane]) + gap;
        }
    }
    for ((&value, &low), &high) in point_rest.iter().zip(low_rest).zip(high_rest) {
        let gap = positive(low - value) + positive(value - high);
        outside[0] += gap;
        sides[0] += (high - low) + gap;
    }
    (
        (outside[0] + outside[1]) + (outside[2] + outside[3]),
        (sides[0] + sides[1]) + (sides[2] + sides[3]),
    )
}

/// Fills `separation` with, per dimension and side, the probability that a
/// random cut of the box `low..high` enlarged by `point` falls between the
/// point and the box there; returns the total.
fn separation_by_side<C: Copy + Into<f64>>(
    point: &[f64],
    low: &[C],
    high: &[C],
    separation: &mut DiVector,
) -> f64 {
    let mut sides = 0.0;
    for (dimension, ((&value, &low), &high)) in point.iter().zip(low).zip(high).enumerate() {
        let (low, high): (f64, f64) = (low.into(), high.into());
        let above = (value - high).max(0.0);
        let below = (low - value).max(0.0);
        separation.high[dimension] = above;
        separation.low[dimension] = below;
        sides += high - low + above + below;
    }
    let outside = separation.total();
    if outside == 0.0 {
        return 0.0;
    }
    if outside.is_infinite() {
        // Only the infinitely distant sides count, equally.
        for value in separation.high.iter_mut().chain(separation.low.iter_mut()) {
            *value = if value.is_infinite() { 1.0 } else { 0.0 };
        }
        let n_infinite = separation.total();
        separation.scale(1.0 / n_infinite);
        return 1.0;
    }
    let probability = separation_probability(outside, sides);
    if sides.is_finite() {
        separation.scale(1.0 / sides);
    } else {
        separation.scale(0.0);
    }
    probability
}

/// `outside / sides`, kept finite when values near `f64::MAX` overflow the
/// sums: a point infinitely far out is separated for sure.
fn separation_probability(outside: f64, sides: f64) -> f64 {
    if outside.is_infinite() {
        1.0
    } else if sides.is_infinite() {
        0.0
    } else {
        outside / sides
    }
}

/// The largest `f32` not above `value`.
fn round_down(value: f64) -> f32 {
    let rounded = value as f32;
    if f64::from(rounded) > value {
        rounded.next_down()
    } else {
        rounded
    }
}

/// The smallest `f32` not below `value`.
fn round_up(value: f64) -> f32 {
    let rounded = value as f32;
    if f64::from(rounded) < value {
        rounded.next_up()
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::OnlineDetector;
    use super::super::{RandomCutForest, RandomCutForestParams};
    use super::*;

    /// Points from a few Gaussian-ish blobs in `n_features` dimensions.
    fn blobs(n_points: usize, n_features: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = StreamRng::seed_from_u64(seed);
        (0..n_points)
            .map(|index| {
                let centre = (index % 3) as f64;
                (0..n_features)
                    .map(|_| centre + (rng.unit() + rng.unit() + rng.unit() - 1.5) * 0.3)
                    .collect()
            })
            .collect()
    }

    fn small_params() -> RandomCutForestParams {
        RandomCutForestParams {
            n_trees: 30,
            sample_size: 64,
            ..RandomCutForestParams::default()
        }
    }

    /// Each inner node's box is exactly the union of its children's.
    fn assert_boxes_are_tight(tree: &Tree) {
        let mut pending: Vec<u32> = [tree.root].into_iter().filter(|&r| r != NONE).collect();
        while let Some(reference) = pending.pop() {
            if is_leaf(reference) {
                continue;
            }
            let [left, right] = tree.nodes[reference as usize].children;
            let (low, high) = tree.bounds(reference as usize);
            for d in 0..tree.n_dimensions {
                let (left_low, left_high) = tree.rounded_corner(left, d);
                let (right_low, right_high) = tree.rounded_corner(right, d);
                assert_eq!(low[d], left_low.min(right_low));
                assert_eq!(high[d], left_high.max(right_high));
            }
            pending.extend([left, right]);
        }
    }

    #[test]
    fn interleaved_scoring_equals_one_tree_at_a_time() {
        let mut forest = RandomCutForest::new(&small_params(), 3).expect("valid parameters");
        let points = blobs(700, 3, 6);
        for point in &points {
            forest.learn_one(point);
        }
        for probe in [
            vec![4.0, -1.0, 0.5],
            vec![1.0, 1.0, 1.0],
            points[650].clone(),
        ] {
            let one_at_a_time: f64 = forest
                .trees
                .chunks(LOCKSTEP_TREES)
                .map(|group| {
                    group
                        .iter()
                        .map(|tree| {
                            let (leaf, depth) = tree.descend(&probe);
                            tree.score_from_leaf(&probe, leaf, depth)
                        })
                        .sum::<f64>()
                })
                .sum();
            let interleaved = forest.score_one(&probe) * forest.trees.len() as f64;
            assert_eq!(interleaved.to_bits(), one_at_a_time.to_bits(), "{probe:?}");
        }
    }

    #[test]
    fn sample_and_arenas_stay_within_sample_size() {
        let params = RandomCutForestParams {
            n_trees: 8,
            sample_size: 32,
            ..RandomCutForestParams::default()
        };
        let mut forest = RandomCutForest::new(&params, 2).expect("valid parameters");
        let capacities: Vec<(usize, usize)> = forest
            .trees
            .iter()
            .map(|tree| (tree.nodes.capacity(), tree.leaves.capacity()))
            .collect();
        // Rounded values make many duplicates, which share leaves.
        for (index, point) in blobs(5000, 2, 4).into_iter().enumerate() {
            let point: Vec<f64> = point.iter().map(|v| (v * 4.0).round() / 4.0).collect();
            forest.learn_one(&point);
            if index % 500 == 0 {
                forest.check_state().expect("consistent after every update");
            }
        }

        assert!(forest.sample_sizes().iter().all(|&size| size == 32));
        for (tree, capacity) in forest.trees.iter().zip(capacities) {
            assert_eq!((tree.nodes.capacity(), tree.leaves.capacity()), capacity);
            assert!(tree.nodes.len() + tree.leaves.len() <= 2 * 32);
            assert_boxes_are_tight(tree);
        }
        forest.check_state().expect("consistent");
    }

    #[test]
    fn corrupt_state_is_reported_not_used() {
        let mut forest = RandomCutForest::new(&small_params(), 2).expect("valid parameters");
        for point in blobs(300, 2, 5) {
            forest.learn_one(&point);
        }
        let mut cyclic = forest.clone();
        let root = cyclic.trees[0].root as usize;
        let left = cyclic.trees[0].nodes[root].children[0];
        cyclic.trees[0].nodes[root].children[1] = left;
        assert!(matches!(
            cyclic.check_state(),
            Err(OnlineError::CorruptState(_))
        ));

        let mut truncated = forest.clone();
        truncated.trees[3].points.pop();
        assert!(matches!(
            truncated.check_state(),
            Err(OnlineError::CorruptState(_))
        ));

        let mut leaked = forest;
        let live = leaf_index(leaked.trees[1].sampled[0]) as u32;
        leaked.trees[1].free_leaves.push(live);
        assert!(matches!(
            leaked.check_state(),
            Err(OnlineError::CorruptState(_))
        ));
    }
}
