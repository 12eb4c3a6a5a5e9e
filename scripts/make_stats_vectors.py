#!/usr/bin/env python3
"""Print the PyOD numbers that the ECOD, COPOD and HBOS unit tests check.

The fixed dataset (30 points x 5 features, two decimals so that the Rust
literals are the same float64 values) covers the cases where the three
detectors branch: a roughly normal feature with a planted extreme, a
right-skewed and a left-skewed feature, a symmetric integer feature whose
skewness is exactly zero, and a constant feature. Rounding leaves ties.

Output is Rust source; each constant is pasted into a test module:

- `REFERENCE_POINTS` into crates/oddity/src/detector/ecdf.rs (the
  `reference` test module that the three detectors' tests share);
- `ECOD_SCORES` and `COPOD_SCORES`, PyOD's `decision_scores_` after `fit`
  (training scores), into ecod.rs and copod.rs as `PYOD_SCORES`;
- `HBOS_SCORES` into hbos.rs as `PYOD_SCORES`, and `HBOS_NEW_POINTS` with
  PyOD's `decision_function` on them, `HBOS_NEW_SCORES`, as `NEW_POINTS`
  and `PYOD_NEW_SCORES`: points outside the training range by less and by
  more than `tol` bin widths, on an inner bin edge, and the mean.

The tests check every score to 1e-6.

Requires numpy and pyod (tested with pyod 3.6.7, numpy 2.4). Deterministic:

    python3 scripts/make_stats_vectors.py
"""

import numpy as np
from pyod.models.copod import COPOD
from pyod.models.ecod import ECOD
from pyod.models.hbos import HBOS


def reference_points():
    rng = np.random.default_rng(20240601)
    n = 30
    normal = rng.normal(0.0, 1.0, n)
    normal[0] = 4.5
    right = rng.exponential(1.0, n)
    left = -rng.exponential(2.0, n)
    half = rng.integers(-3, 4, n // 2).astype(float)
    symmetric = rng.permutation(np.concatenate([half, -half]))
    constant = np.full(n, 2.5)
    points = np.column_stack([normal, right, left, symmetric, constant])
    return np.round(points, 2)


def new_hbos_points(points, hbos):
    edges = hbos.bin_edges_
    low, high = edges[0], edges[-1]
    width = edges[1] - edges[0]
    rows = [
        low - 0.3 * width,  # below the range, within tol: first bin
        high + 0.3 * width,  # above the range, within tol: last bin
        low - 2.0 * width,  # far below: the sparsest bin
        high + 2.0 * width,  # far above: the sparsest bin
        edges[3],  # on an inner edge: right-closed, so bin 3 (1-based)
        points.mean(axis=0),
    ]
    # repr() below prints every value exactly, edges included.
    return np.array(rows)


def rust_matrix(name, matrix):
    rows = ",\n".join(
        "    [" + ", ".join(repr(float(v)) for v in row) + "]" for row in matrix
    )
    n_rows, n_cols = matrix.shape
    return f"const {name}: [[f64; {n_cols}]; {n_rows}] = [\n{rows},\n];"


def rust_vector(name, vector):
    values = ",\n".join(f"    {float(v)!r}" for v in vector)
    return f"const {name}: [f64; {len(vector)}] = [\n{values},\n];"


def main():
    points = reference_points()
    ecod = ECOD().fit(points)
    copod = COPOD().fit(points)
    hbos = HBOS().fit(points)
    new_points = new_hbos_points(points, hbos)

    print(rust_matrix("REFERENCE_POINTS", points))
    print()
    print(rust_vector("ECOD_SCORES", ecod.decision_scores_))
    print()
    print(rust_vector("COPOD_SCORES", copod.decision_scores_))
    print()
    print(rust_vector("HBOS_SCORES", hbos.decision_scores_))
    print()
    print(rust_matrix("HBOS_NEW_POINTS", new_points))
    print()
    print(rust_vector("HBOS_NEW_SCORES", hbos.decision_function(new_points)))


if __name__ == "__main__":
    main()
