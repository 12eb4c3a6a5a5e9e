#!/usr/bin/env python3
"""Generate crates/oddity/tests/data/eval_vectors.json from scikit-learn.

Each case holds labels (true = anomaly), scores (higher = more anomalous) and
what scikit-learn says about them: roc_auc_score, average_precision_score,
precision at several k (a stable descending sort, ties broken by position),
and, for a few thresholding rules, the confusion matrix with precision,
recall, f1 (zero_division=0) and accuracy. The Rust tests in
crates/oddity/src/eval.rs check every value to 1e-9.

A metric that scikit-learn cannot compute is null: roc_auc when the labels
hold a single class, average_precision when there is no anomaly (scikit-learn
warns and returns 0 there; oddity returns an error).

Requires numpy and scikit-learn. Output is deterministic for given versions:

    python3 scripts/make_eval_vectors.py
"""

import json
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "crates/oddity/tests/data/eval_vectors.json"
)
SEED = 20240611
# Continuous scores keep this many decimals: still practically tie-free,
# and the JSON stays small.
CONTINUOUS_DECIMALS = 6
# Contamination levels turned into "score >= quantile(1 - c)" predictions.
CONTAMINATIONS = (0.01, 0.1, 0.3)


def continuous(rng, labels, signal):
    """Normal noise shifted up by `signal` for anomalies."""
    scores = rng.normal(size=labels.size) + signal * labels
    return np.round(scores, CONTINUOUS_DECIMALS)


def random_labels(rng, n, anomaly_rate):
    labels = rng.random(n) < anomaly_rate
    # Keep both classes so the ranking metrics are defined.
    labels[rng.integers(n)] = True
    labels[rng.integers(n)] = False
    return labels


def build_cases(rng):
    """(name, labels, scores) for every case."""
    cases = []

    def add(name, labels, scores):
        labels = np.asarray(labels, dtype=bool)
        scores = np.asarray(scores, dtype=np.float64)
        assert labels.shape == scores.shape
        cases.append((name, labels, scores))

    labels = random_labels(rng, 100, 0.1)
    add("continuous_no_signal_n100", labels, continuous(rng, labels, 0.0))
    labels = random_labels(rng, 400, 0.15)
    add("continuous_signal_n400", labels, continuous(rng, labels, 1.5))
    labels = random_labels(rng, 200, 0.5)
    add("continuous_balanced_n200", labels, continuous(rng, labels, 0.7))

    labels = random_labels(rng, 200, 0.1)
    add("ties_one_decimal_n200", labels, np.round(rng.normal(size=200), 1))
    labels = random_labels(rng, 300, 0.2)
    add("ties_one_decimal_signal_n300", labels, np.round(continuous(rng, labels, 1.0), 1))
    labels = random_labels(rng, 60, 0.3)
    add("ties_five_levels_n60", labels, rng.integers(0, 5, size=60))
    labels = random_labels(rng, 80, 0.25)
    add("ties_uniform_one_decimal_n80", labels, np.round(rng.random(80), 1))

    labels = random_labels(rng, 20, 0.3)
    add("all_tied_n20", labels, np.full(20, 0.5))
    labels = random_labels(rng, 500, 0.02)
    add("all_tied_n500", labels, np.full(500, -3.0))

    labels = random_labels(rng, 50, 0.2)
    ranks = np.where(labels, rng.random(50) + 1.0, rng.random(50))
    add("perfect_ranking_n50", labels, np.round(ranks, CONTINUOUS_DECIMALS))
    add("inverted_ranking_n50", labels, -np.round(ranks, CONTINUOUS_DECIMALS))

    add("tiny_n2_ordered", [True, False], [0.9, 0.1])
    add("tiny_n2_inverted", [True, False], [0.1, 0.9])
    add("tiny_n2_tied", [False, True], [0.4, 0.4])
    add("tiny_n3_partial_tie", [False, True, True], [0.2, 0.2, 0.7])
    add("tiny_n3_middle", [False, True, False], [0.1, 0.5, 0.9])

    labels = np.zeros(1000, dtype=bool)
    labels[rng.integers(1000)] = True
    add("imbalanced_1_in_1000", labels, continuous(rng, labels, 2.0))
    labels = np.zeros(1000, dtype=bool)
    labels[rng.integers(1000)] = True
    scores = np.round(rng.normal(size=1000), 1)
    add("imbalanced_1_in_1000_ties", labels, scores)

    add(
        "signed_zero_ties",
        [True, False, True, False, False, True],
        [0.0, -0.0, 1.0, -0.0, -1.0, -0.0],
    )
    add(
        "extreme_magnitudes",
        [True, False, True, False, True, False],
        [1e300, -1e300, 1e-300, -1e-300, 5e-324, 0.0],
    )

    add("all_normal_n10", np.zeros(10, dtype=bool), np.round(rng.random(10), 2))
    add("all_anomalies_n10", np.ones(10, dtype=bool), np.round(rng.random(10), 2))
    return cases


def precision_at_k(labels, scores, k):
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].mean())


def predictions(labels, scores):
    """Thresholding rules, each with scikit-learn's confusion metrics."""
    rules = [
        (f"contamination_{c}", scores >= np.quantile(scores, 1.0 - c))
        for c in CONTAMINATIONS
    ]
    rules.append(("nothing_flagged", np.zeros(labels.size, dtype=bool)))
    rules.append(("everything_flagged", np.ones(labels.size, dtype=bool)))

    out = []
    for rule, predicted in rules:
        tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[False, True]).ravel()
        out.append(
            {
                "rule": rule,
                "predicted": predicted.tolist(),
                "confusion": {
                    "true_positives": int(tp),
                    "false_positives": int(fp),
                    "true_negatives": int(tn),
                    "false_negatives": int(fn),
                },
                "precision": float(precision_score(labels, predicted, zero_division=0)),
                "recall": float(recall_score(labels, predicted, zero_division=0)),
                "f1": float(f1_score(labels, predicted, zero_division=0)),
                "accuracy": float(accuracy_score(labels, predicted)),
            }
        )
    return out


def describe(name, labels, scores):
    n_points = labels.size
    n_anomalies = int(labels.sum())
    both_classes = 0 < n_anomalies < n_points

    ks = sorted({1, max(n_anomalies, 1), max(n_points // 2, 1), n_points})
    return {
        "name": name,
        "labels": labels.tolist(),
        "scores": scores.tolist(),
        "roc_auc": float(roc_auc_score(labels, scores)) if both_classes else None,
        "average_precision": (
            float(average_precision_score(labels, scores)) if n_anomalies > 0 else None
        ),
        "precision_at_k": [
            {"k": k, "precision": precision_at_k(labels, scores, k)} for k in ks
        ],
        "predictions": predictions(labels, scores),
    }


def main():
    rng = np.random.default_rng(SEED)
    with warnings.catch_warnings():
        # Zero-division and single-class warnings are expected in some cases.
        warnings.simplefilter("ignore")
        cases = [describe(*case) for case in build_cases(rng)]

    fixture = {
        "generator": "scripts/make_eval_vectors.py",
        "seed": SEED,
        "numpy_version": np.__version__,
        "sklearn_version": sklearn.__version__,
        "cases": cases,
    }
    OUTPUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases, {OUTPUT.stat().st_size} bytes to {OUTPUT}")


if __name__ == "__main__":
    main()
