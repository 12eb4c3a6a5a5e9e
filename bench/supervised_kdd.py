#!/usr/bin/env python3
"""Supervised detectors on KDD Cup 1999 (10 % file), oddity beside
scikit-learn, written as its own section of docs/benchmarks.md (the other
sections are left as they are).

Protocol:

- data: ../shared/data/kddcup99/kddcup.data_10_percent.gz (494,021 rows,
  no header, 41 features of which protocol_type, service and flag are
  categorical; the label is `normal.` or an attack name). Anomaly = any
  attack (about 80 % of rows: this is attack classification, not rare-event
  detection).
- split: stratified 70/30 on attack vs normal, seed 42 (scikit-learn's
  train_test_split); both parts are written once as CSV with the standard
  column names, and both tools read those files.
- oddity: `oddity fit train.csv --label label --negative normal.
  --detector NAME --encode onehot --max-fit-rows <all training rows>`, then
  `oddity score model test.csv`; the categorical columns go through
  oddity's own preparation (one-hot, the 16 most frequent values per column
  plus "(other)"), numbers are unscaled (the logistic model standardises
  internally). Decision: oddity's `is_anomaly` (probability > 0.5).
  Times are wall clock of each process: fit includes reading and preparing
  the CSV, score includes reading, preparing and writing every scored row.
- scikit-learn: pandas reads the same CSVs; OneHotEncoder(max_categories=17)
  (16 frequent values plus one infrequent bucket, like oddity) on the three
  categorical columns, the numbers as they are (StandardScaler in front of
  LogisticRegression only). Same parameters: LogisticRegression(C=1),
  DecisionTreeClassifier() and RandomForestClassifier(n_estimators=100,
  max_features="sqrt", n_jobs=-1), random_state 42. Times: fit = encode +
  fit; score = encode + predict_proba (not the CSV read).
- few labels: the forest again with only 1 % of the training attacks
  labelled (the other attacks unlabelled, every normal row labelled
  normal), with and without oddity's few-labels mode (`iforest_feature`),
  beside oddity's unsupervised Isolation Forest (contamination 0.5, the
  largest oddity accepts; attacks are about 80 %) on the same split.

Skips cleanly (exit 0, with a message) when the data is absent. Run from
anywhere:

    python3 bench/supervised_kdd.py [--data DIR] [--doc PATH] [--skip-sklearn]
"""

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_sections import replace_section

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "kddcup99"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
FILE_NAME = "kddcup.data_10_percent.gz"
SEED = 42

COLUMNS = (
    "duration protocol_type service flag src_bytes dst_bytes land wrong_fragment urgent hot "
    "num_failed_logins logged_in num_compromised root_shell su_attempted num_root "
    "num_file_creations num_shells num_access_files num_outbound_cmds is_host_login "
    "is_guest_login count srv_count serror_rate srv_serror_rate rerror_rate srv_rerror_rate "
    "same_srv_rate diff_srv_rate srv_diff_host_rate dst_host_count dst_host_srv_count "
    "dst_host_same_srv_rate dst_host_diff_srv_rate dst_host_same_src_port_rate "
    "dst_host_srv_diff_host_rate dst_host_serror_rate dst_host_srv_serror_rate "
    "dst_host_rerror_rate dst_host_srv_rerror_rate label"
).split()
CATEGORICAL = ["protocol_type", "service", "flag"]


def oddity_binary():
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    binary = target / "release" / "oddity"
    if not binary.exists():
        subprocess.run(
            ["cargo", "build", "--release", "-p", "oddity-cli"], cwd=REPO_ROOT, check=True
        )
    return binary


def timed(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{result.stderr}")
    return elapsed


def metrics(truth, predicted):
    import numpy as np

    truth = np.asarray(truth, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    tn = int(np.sum(~truth & ~predicted))
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def run_oddity(binary, work, name, train, test, truth, detector, label, params=(), extra=()):
    import pandas as pd

    model = work / f"{name}.oddity"
    scored = work / f"{name}.csv"
    other_label = "few" if label == "label" else "label"
    command = [
        binary, "fit", train, "-o", model, "--label", label, "--negative", "normal.",
        "--exclude", other_label, "--detector", detector, "--encode", "onehot",
        "--max-fit-rows", "1000000", "--quiet", *extra,
    ]
    for param in params:
        command += ["--param", param]
    fit_s = timed(command)
    score_s = timed([binary, "score", model, test, "--format", "csv", "-o", scored, "--quiet"])
    column = pd.read_csv(scored, usecols=["is_anomaly"])["is_anomaly"]
    predicted = column.astype(str).str.lower().isin(["1", "true"])
    return {"tool": "oddity", "name": name, "fit_s": fit_s, "score_s": score_s,
            **metrics(truth, predicted.to_numpy())}


def run_sklearn(name, model, train_df, test_df, scale):
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in COLUMNS[:-1] if c not in CATEGORICAL]
    encoder = ColumnTransformer([
        ("categories", OneHotEncoder(max_categories=17, handle_unknown="infrequent_if_exist",
                                     sparse_output=False), CATEGORICAL),
        ("numbers", StandardScaler() if scale else "passthrough", numeric),
    ])
    pipeline = make_pipeline(encoder, model)
    y_train = (train_df["label"] != "normal.").to_numpy()
    y_test = (test_df["label"] != "normal.").to_numpy()
    start = time.perf_counter()
    pipeline.fit(train_df[COLUMNS[:-1]], y_train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    probability = pipeline.predict_proba(test_df[COLUMNS[:-1]])[:, 1]
    score_s = time.perf_counter() - start
    return {"tool": "scikit-learn", "name": name, "fit_s": fit_s, "score_s": score_s,
            **metrics(y_test, np.asarray(probability) > 0.5)}


def render(rows, few_rows, n_train, n_test, n_attacks_test, notes):
    def fmt(row):
        return (
            f"| {row['name']} | {row['tool']} | {row['precision']:.4f} | {row['recall']:.4f} | "
            f"{row['f1']:.4f} | {row['tp']:,} | {row['fn']:,} | {row['fp']:,} | {row['tn']:,} | "
            f"{row['fit_s']:.1f} | {row['score_s']:.1f} |"
        )

    header = (
        "| detector | tool | precision | recall | F1 | TP | FN | FP | TN | fit s | score s |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        "## Supervised detectors on KDD Cup 1999",
        "",
        "Generated by `bench/supervised_kdd.py`; do not edit by hand. Protocol in the",
        "script's docstring: the 10 % KDD Cup 1999 file (494,021 rows, 41 features, 3",
        "categorical), anomaly = any attack, stratified 70/30 split with seed 42",
        f"({n_train:,} training rows, {n_test:,} held-out rows of which {n_attacks_test:,} attacks).",
        "Metrics are on the held-out rows with the decision probability > 0.5; the",
        "confusion matrix counts attacks as positives. oddity times are whole",
        "processes (CSV read, preparation, fit or score, output); scikit-learn times",
        "are encoding plus fit or predict_proba on data already in pandas.",
        "",
        header,
        *[fmt(row) for row in rows],
        "",
        "### Few labels",
        "",
        "Only 1 % of the training attacks keep their label (the rest are unlabelled;",
        "every normal row is labelled normal). `forest + iforest_feature` is oddity's",
        "few-labels mode: an Isolation Forest fitted on every training row, labelled or",
        "not, adds its score as a feature. `iforest` is unsupervised, with the largest",
        "contamination oddity accepts (0.5; attacks are about 80 % of rows).",
        "",
        header,
        *[fmt(row) for row in few_rows],
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()} Python; "
        f"run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.",
    ]
    lines += [f"{note}" for note in notes]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with " + FILE_NAME)
    parser.add_argument("--doc", type=Path, default=DOC_PATH, help="markdown output")
    parser.add_argument("--skip-sklearn", action="store_true", help="oddity only")
    args = parser.parse_args()

    source = args.data / FILE_NAME
    if not source.exists():
        print(f"skipping: {source} is absent (see ../shared/data/kddcup99/README.md)")
        return 0

    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(source, header=None, names=COLUMNS)
    is_attack = (frame["label"] != "normal.").to_numpy()
    train_df, test_df = train_test_split(
        frame, test_size=0.3, stratify=is_attack, random_state=SEED
    )
    # Few labels: 1 % of the training attacks keep their label.
    rng = np.random.default_rng(SEED)
    train_attack = (train_df["label"] != "normal.").to_numpy()
    keep = train_attack & (rng.uniform(size=len(train_df)) < 0.01)
    few = np.where(train_attack, np.where(keep, "attack.", ""), "normal.")
    train_df = train_df.assign(few=few)
    test_df = test_df.assign(few="")
    truth = (test_df["label"] != "normal.").to_numpy()

    binary = oddity_binary()
    rows, few_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train, test = work / "train.csv", work / "test.csv"
        train_df.to_csv(train, index=False)
        test_df.to_csv(test, index=False)

        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.tree import DecisionTreeClassifier

        counterparts = {
            "logistic": (LogisticRegression(C=1.0, max_iter=1000), True),
            "tree": (DecisionTreeClassifier(random_state=SEED), False),
            "forest": (
                RandomForestClassifier(n_estimators=100, max_features="sqrt", n_jobs=-1,
                                       random_state=SEED),
                False,
            ),
        }
        for name, (model, scale) in counterparts.items():
            row = run_oddity(binary, work, name, train, test, truth, name, "label")
            print(row, flush=True)
            rows.append(row)
            if not args.skip_sklearn:
                row = run_sklearn(name, model, train_df, test_df, scale)
                print(row, flush=True)
                rows.append(row)

        for name, detector, params, extra in [
            ("forest", "forest", (), ()),
            ("forest + iforest_feature", "forest", ("iforest_feature=true",), ()),
            ("iforest", "iforest", (), ("--contamination", "0.5")),
        ]:
            row = run_oddity(binary, work, name.replace(" + ", "_"), train, test, truth,
                             detector, "few", params, extra)
            row["name"] = name
            print(row, flush=True)
            few_rows.append(row)
        shutil.rmtree(work, ignore_errors=True)

    notes = []
    if args.skip_sklearn:
        notes.append("scikit-learn rows skipped (--skip-sklearn).")
    text = render(rows, few_rows, len(train_df), len(test_df), int(truth.sum()), notes)
    replace_section(args.doc, "supervised", "bench/supervised_kdd.py", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
