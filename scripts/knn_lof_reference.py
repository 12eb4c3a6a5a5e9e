"""Reference scores for the kNN and LOF detectors' agreement tests.

Fits PyOD's KNN (largest, mean, median; n_neighbors=5) and scikit-learn's
LocalOutlierFactor(novelty=True) (n_neighbors=20 and 7) on a small fixed
dataset and prints the training points, new points, training scores
(decision_scores_, -negative_outlier_factor_) and new-point scores
(decision_function, -score_samples) as Rust literals for the tests in
crates/oddity/src/detector/{knn,lof}.rs.

Run: python3 scripts/knn_lof_reference.py

With `--time N D` it instead times PyOD's KNN and LOF (defaults) fitting
and scoring N standard Gaussian points in D features, the shapes of
`benches/neighbors.rs`: python3 scripts/knn_lof_reference.py --time 100000 10
"""

import sys
import time

import numpy as np
import pyod
import sklearn
from pyod.models.knn import KNN
from sklearn.neighbors import LocalOutlierFactor

if len(sys.argv) == 4 and sys.argv[1] == "--time":
    from pyod.models.lof import LOF

    n_points, n_features = int(sys.argv[2]), int(sys.argv[3])
    X = np.random.default_rng(0).standard_normal((n_points, n_features))
    for name, make in [("knn", KNN), ("lof", LOF)]:
        start = time.perf_counter()
        model = make().fit(X)
        fit = time.perf_counter() - start
        start = time.perf_counter()
        model.decision_function(X)
        score = time.perf_counter() - start
        print(f"pyod {name} {n_points} x {n_features}: fit {fit:.2f} s, score {score:.2f} s")
    sys.exit(0)

rng = np.random.default_rng(20240601)
train = np.vstack([rng.normal(0.0, 1.0, (30, 3)), rng.normal(4.0, 0.5, (10, 3))])
train[7] = [6.0, -5.0, 1.0]
new = np.vstack([rng.normal(0.0, 1.5, (4, 3)), [[4.0, 4.0, 4.0]], train[3:4]])


def literal(values):
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def matrix(name, rows):
    print(f"const {name}: [[f64; 3]; {len(rows)}] = [")
    for row in rows:
        print(f"    {literal(row)},")
    print("];")


print(f"// pyod {pyod.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}")
matrix("TRAIN", train)
matrix("NEW", new)
for method in ["largest", "mean", "median"]:
    knn = KNN(n_neighbors=5, method=method).fit(train)
    print(f"// KNN(n_neighbors=5, method={method!r})")
    print(f"const KNN_{method.upper()}_TRAIN: [f64; {len(train)}] = {literal(knn.decision_scores_)};")
    print(f"const KNN_{method.upper()}_NEW: [f64; {len(new)}] = {literal(knn.decision_function(new))};")
for k in [20, 7]:
    lof = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(train)
    print(f"// LocalOutlierFactor(n_neighbors={k}, novelty=True)")
    print(f"const LOF_{k}_TRAIN: [f64; {len(train)}] = {literal(-lof.negative_outlier_factor_)};")
    print(f"const LOF_{k}_NEW: [f64; {len(new)}] = {literal(-lof.score_samples(new))};")
