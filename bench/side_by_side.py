#!/usr/bin/env python3
"""Runs oddity and scikit-learn's IsolationForest side by side.

Two parts, on the same machine and the same data in one run:

1. Speed and memory on seeded synthetic data (10 features; 10k, 100k and
   1M points): every measured program runs as its own process, timed by
   wall clock, with its peak resident memory reported by GNU time.
2. ROC-AUC under the ADBench protocol on the ADBench CSVs in
   ../shared/data/tabular, next to the published ADBench IForest column.

The results are printed and written to docs/benchmarks.md, which this
script regenerates wholesale. Run from anywhere:

    python3 bench/side_by_side.py [--sizes 10000,100000] [--skip-speed]
                                  [--skip-accuracy] [--data-dir DIR]
"""

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ODDITY = REPO_ROOT / "target" / "release" / "oddity"
TIMING_EXAMPLE = REPO_ROOT / "target" / "release" / "examples" / "fit_score_timing"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "tabular"
GNU_TIME = "/usr/bin/time"

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
N_FEATURES = 10
# Share of synthetic points drawn as outliers, uniform in [-6, 6].
OUTLIER_SHARE = 0.01
SYNTHETIC_SEED = 0
# Threads given to oddity; the machine the doc was made on has 2 cores.
ODDITY_THREADS = 2
# Timed runs per measurement up to this many points (best one kept);
# larger inputs run once to keep the whole script within minutes.
REPEAT_UP_TO = 1_000_000
REPEATS = 3
# Every detector `oddity --detector` knows, for the ADBench suite.
SUITE_DETECTORS = ("iforest", "eif", "ecod", "copod", "hbos")

# ADBench protocol (paper section 4.1, adbench/datasets/data_generator.py).
ADBENCH_SEEDS = (1, 2, 3)
ADBENCH_MAX_POINTS = 10_000
ADBENCH_MIN_POINTS = 1_000
ADBENCH_TEST_SHARE = 0.3
# oddity and sklearn disagreeing by more than this is called out.
DISAGREEMENT = 0.03


# ---------------------------------------------------------------- processes


class Measured:
    """One finished process: wall seconds, peak RSS in MiB, exit status."""

    def __init__(self, wall_s, max_rss_mib, returncode, stderr):
        self.wall_s = wall_s
        self.max_rss_mib = max_rss_mib
        self.returncode = returncode
        self.stderr = stderr

    @property
    def ok(self):
        return self.returncode == 0

    def error_line(self):
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.returncode}"


def run_measured(cmd, cwd=None):
    """Runs cmd to completion under GNU time, which reports its peak RSS.

    GNU time, not os.wait4 here: Linux carries a parent's peak RSS into
    a child across fork and exec, so a child of this Python process
    (which holds numpy, pandas and sklearn) would report at least the
    parent's footprint. A child of the small `time` process does not.
    """
    with tempfile.NamedTemporaryFile("r") as report, \
            tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", report.name]
            + [str(part) for part in cmd],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            check=False,
        )
        wall_s = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        # On failure time writes "Command exited with ..." first.
        max_rss_kib = int(report.read().split()[-1])
    return Measured(wall_s, max_rss_kib / 1024, proc.returncode, stderr)


def best_of(repeats, cmd, cwd=None):
    """The fastest of `repeats` runs, with the largest peak RSS seen."""
    runs = [run_measured(cmd, cwd) for _ in range(repeats)]
    failed = [run for run in runs if not run.ok]
    if failed:
        return failed[0]
    best = min(runs, key=lambda run: run.wall_s)
    best.max_rss_mib = max(run.max_rss_mib for run in runs)
    return best


def ensure_oddity():
    if not ODDITY.exists() or not TIMING_EXAMPLE.exists():
        print("building oddity: cargo build --release -p oddity-cli "
              "-p oddity --example fit_score_timing")
        subprocess.run(
            ["cargo", "build", "--release", "-p", "oddity-cli", "-p", "oddity",
             "--example", "fit_score_timing"],
            cwd=REPO_ROOT,
            check=True,
        )
    return ODDITY


def oddity_in_memory(data, repeats):
    """Fit and score timed inside one process on data already parsed
    (the library's `fit_score_timing` example), best of `repeats`."""
    runs = []
    env = dict(os.environ, RAYON_NUM_THREADS=str(ODDITY_THREADS))
    for _ in range(repeats):
        out = subprocess.run(
            [TIMING_EXAMPLE, data, "label"], capture_output=True, text=True,
            env=env, check=False,
        )
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1:]}
        timings = json.loads(out.stdout)
        timings["fit_score_s"] = timings["fit_s"] + timings["score_s"]
        runs.append(timings)
    return min(runs, key=lambda run: run["fit_score_s"])


def oddity_version():
    out = subprocess.run(
        [ODDITY, "--version"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "unknown"


# ----------------------------------------------------------- sklearn worker


def sklearn_worker(csv_path, n_jobs, out_path):
    """Child-process mode: load, fit and score one CSV; write timings.

    Runs in its own process so that its peak RSS is its own. n_jobs is
    "none" (sklearn's default, one core) or "all": n_jobs=-1 for fit and,
    because score_samples ignores the estimator's n_jobs, a joblib
    parallel_config(n_jobs=-1) around score_samples.
    """
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    rss_after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    start = time.perf_counter()
    frame = pd.read_csv(csv_path)
    labels = frame.pop("label").to_numpy()
    points = frame.to_numpy(dtype=np.float64)
    load_s = time.perf_counter() - start

    forest = IsolationForest(
        n_estimators=100,
        max_samples="auto",
        random_state=0,
        n_jobs=None if n_jobs == "none" else -1,
    )
    start = time.perf_counter()
    forest.fit(points)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    if n_jobs == "none":
        scores = -forest.score_samples(points)
    else:
        with joblib.parallel_config(n_jobs=-1):
            scores = -forest.score_samples(points)
    score_s = time.perf_counter() - start

    result = {
        "load_s": load_s,
        "fit_s": fit_s,
        "score_s": score_s,
        "rss_after_imports_mib": rss_after_imports / 1024,
        "auc": float(roc_auc_score(labels, scores)),
    }
    Path(out_path).write_text(json.dumps(result))


# ------------------------------------------------------------------- speed


def synthetic(n_points):
    """99 % N(0, 1) points and 1 % uniform(-6, 6) outliers, label 1."""
    import numpy as np

    rng = np.random.default_rng(SYNTHETIC_SEED)
    points = rng.standard_normal((n_points, N_FEATURES))
    n_outliers = int(n_points * OUTLIER_SHARE)
    outlier_idx = rng.choice(n_points, n_outliers, replace=False)
    points[outlier_idx] = rng.uniform(-6, 6, (n_outliers, N_FEATURES))
    labels = np.zeros(n_points, dtype=np.int64)
    labels[outlier_idx] = 1
    return points, labels


def write_csv(path, points, labels, float_format=None):
    import pandas as pd

    columns = [f"x{idx}" for idx in range(points.shape[1])]
    frame = pd.DataFrame(points, columns=columns)
    frame["label"] = labels
    frame.to_csv(path, index=False, float_format=float_format)


def f1_from_scored(path, labels):
    """F1 of an oddity scored CSV's `is_anomaly` decisions (its threshold)."""
    import pandas as pd
    from sklearn.metrics import f1_score

    scored = pd.read_csv(path).sort_values("row")
    return float(f1_score(labels, scored["is_anomaly"].to_numpy(), zero_division=0))


def auc_from_scored(path, labels):
    """ROC-AUC of an oddity scored CSV against the known labels."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    scored = pd.read_csv(path)
    # `row` counts data rows from 1 in input order.
    scores = scored.sort_values("row")["score"].to_numpy()
    if len(scores) != len(labels):
        raise ValueError(f"{path}: {len(scores)} scores, {len(labels)} labels")
    if "label" in scored and (
        scored.sort_values("row")["label"].to_numpy() != labels
    ).any():
        raise ValueError(f"{path}: label column does not match the input")
    return float(roc_auc_score(labels, scores))


def speed_one_size(n_points, workdir, cli_errors):
    print(f"speed: {n_points:,} points", flush=True)
    points, labels = synthetic(n_points)
    data = workdir / f"synthetic_{n_points}.csv"
    # Six significant digits: the same file feeds both tools.
    write_csv(data, points, labels, float_format="%.6g")
    repeats = REPEATS if n_points <= REPEAT_UP_TO else 1
    result = {"csv_mib": data.stat().st_size / 2**20, "repeats": repeats}

    for mode in ("none", "all"):
        runs = []
        for _ in range(repeats):
            out = workdir / f"sklearn_{mode}.json"
            cmd = [
                sys.executable, __file__, "--sklearn-worker",
                data, mode, out,
            ]
            proc = run_measured(cmd)
            if not proc.ok:
                raise RuntimeError(f"sklearn worker failed: {proc.stderr}")
            timings = json.loads(out.read_text())
            timings["wall_s"] = proc.wall_s
            timings["max_rss_mib"] = proc.max_rss_mib
            timings["e2e_s"] = (
                timings["load_s"] + timings["fit_s"] + timings["score_s"]
            )
            runs.append(timings)
        best = min(runs, key=lambda run: run["e2e_s"])
        best["max_rss_mib"] = max(run["max_rss_mib"] for run in runs)
        result[f"sklearn_{mode}"] = best

    model = workdir / "model.oddity"
    scored = workdir / "scored.csv"
    commands = {
        "detect_2": [
            ODDITY, "detect", data, "--label", "label", "--format", "csv",
            "-o", scored, "-q", "--threads", ODDITY_THREADS,
        ],
        "detect_1": [
            ODDITY, "detect", data, "--label", "label", "--format", "csv",
            "-o", scored, "-q", "--threads", 1,
        ],
        "fit": [
            ODDITY, "fit", data, "--label", "label", "-o", model, "-q",
            "--threads", ODDITY_THREADS,
        ],
        "score": [
            ODDITY, "score", model, data, "--format", "csv", "-o", scored,
            "-q", "--threads", ODDITY_THREADS,
        ],
    }
    for name, cmd in commands.items():
        if scored.exists():
            scored.unlink()
        proc = best_of(repeats, cmd)
        entry = {"wall_s": proc.wall_s, "max_rss_mib": proc.max_rss_mib}
        if not proc.ok:
            entry["error"] = proc.error_line()
            cli_errors.append((" ".join(map(str, cmd)), proc.error_line()))
        elif name in ("detect_2", "score"):
            entry["auc"] = auc_from_scored(scored, labels)
        result[f"oddity_{name}"] = entry
    result["oddity_in_memory"] = oddity_in_memory(data, repeats)
    return result


# ---------------------------------------------------------------- accuracy


def read_reference(reference_dir):
    """Published IForest AUCROC (x100) and the dataset -> CSV map."""
    import pandas as pd

    published = pd.read_csv(reference_dir / "adbench_unsupervised_aucroc.csv")
    published = dict(zip(published["dataset"], published["IForest"]))
    mapping = pd.read_csv(reference_dir / "dataset_map.csv").fillna("")
    adbench = mapping[mapping["reference_table"].str.startswith("adbench")]
    return published, list(zip(adbench["dataset_name_in_table"],
                                adbench["csv_file"], adbench["note"]))


def adbench_split(points, labels, seed):
    """ADBench's resampling, stratified split and MinMax scaling.

    ADBench calls np.random.seed(seed), np.random.choice for the
    resampling, then train_test_split with no random_state, which draws
    from the same global stream. One RandomState(seed) used for both, in
    that order, gives the same draws.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    rng = np.random.RandomState(seed)
    n_points = len(labels)
    if n_points < ADBENCH_MIN_POINTS:
        idx = rng.choice(np.arange(n_points), ADBENCH_MIN_POINTS, replace=True)
        points, labels = points[idx], labels[idx]
    if n_points > ADBENCH_MAX_POINTS:
        idx = rng.choice(
            np.arange(n_points), ADBENCH_MAX_POINTS, replace=False
        )
        points, labels = points[idx], labels[idx]
    train_x, test_x, train_y, test_y = train_test_split(
        points, labels, test_size=ADBENCH_TEST_SHARE, shuffle=True,
        stratify=labels, random_state=rng,
    )
    scaler = MinMaxScaler().fit(train_x)
    return scaler.transform(train_x), scaler.transform(test_x), train_y, test_y


def accuracy_one_dataset(csv_path, workdir, cli_errors):
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import f1_score, roc_auc_score

    frame = pd.read_csv(csv_path)
    labels = frame.pop("label").to_numpy().astype(np.int64)
    points = frame.to_numpy(dtype=np.float64)
    per_seed = {"sklearn": [], "oddity": [], "sklearn_s": [], "oddity_s": [],
                "sklearn_f1": [], "oddity_f1": []}
    errors = []

    for seed in ADBENCH_SEEDS:
        train_x, test_x, train_y, test_y = adbench_split(points, labels, seed)

        start = time.perf_counter()
        forest = IsolationForest(random_state=seed).fit(train_x)
        scores = -forest.score_samples(test_x)
        per_seed["sklearn_s"].append(time.perf_counter() - start)
        per_seed["sklearn"].append(roc_auc_score(test_y, scores))
        # sklearn's own decision with contamination="auto": anomaly score
        # above 0.5, the paper's rule.
        per_seed["sklearn_f1"].append(
            f1_score(test_y, forest.predict(test_x) == -1, zero_division=0))

        # Default float formatting round-trips, so oddity reads the very
        # arrays sklearn was given.
        train_csv = workdir / "train.csv"
        test_csv = workdir / "test.csv"
        write_csv(train_csv, train_x, train_y)
        write_csv(test_csv, test_x, test_y)
        model = workdir / "adbench.oddity"
        scored = workdir / "adbench_scored.csv"
        for path in (model, scored):
            if path.exists():
                path.unlink()
        fit_cmd = [
            ODDITY, "fit", train_csv, "--label", "label", "--seed", seed,
            "-o", model, "-q", "--threads", ODDITY_THREADS,
        ]
        score_cmd = [
            ODDITY, "score", model, test_csv, "--format", "csv",
            "-o", scored, "-q", "--threads", ODDITY_THREADS,
        ]
        fit = run_measured(fit_cmd)
        score = run_measured(score_cmd) if fit.ok else None
        failed = fit if not fit.ok else score if not score.ok else None
        if failed is not None:
            cmd = fit_cmd if failed is fit else score_cmd
            errors.append(failed.error_line())
            cli_errors.append((" ".join(map(str, cmd)), failed.error_line()))
            continue
        per_seed["oddity_s"].append(fit.wall_s + score.wall_s)
        per_seed["oddity"].append(auc_from_scored(scored, test_y))
        per_seed["oddity_f1"].append(f1_from_scored(scored, test_y))

    def mean(values):
        return sum(values) / len(values) if values else None

    return {
        "n_points": len(labels),
        "n_features": points.shape[1],
        "sklearn": mean(per_seed["sklearn"]),
        "oddity": mean(per_seed["oddity"]) if not errors else None,
        "sklearn_s": mean(per_seed["sklearn_s"]),
        "oddity_s": mean(per_seed["oddity_s"]) if not errors else None,
        "sklearn_f1": mean(per_seed["sklearn_f1"]),
        "oddity_f1": mean(per_seed["oddity_f1"]) if not errors else None,
        "sklearn_seeds": per_seed["sklearn"],
        "oddity_seeds": per_seed["oddity"],
        "errors": errors,
    }


def run_accuracy(data_dir, workdir, cli_errors):
    reference_dir = data_dir.parent / "reference"
    published, mapping = read_reference(reference_dir)
    results, absent = [], []
    for name, csv_file, note in mapping:
        csv_path = data_dir / Path(csv_file).name if csv_file else None
        if csv_path is None or not csv_path.exists():
            if "not in snapshot" in note:
                reason = "ADBench file of 4 MiB or more, not in the snapshot"
            elif note:
                reason = note
            else:
                reason = "mapped to a CSV that the data folder lacks"
            absent.append((name, reason))
            continue
        print(f"accuracy: {name}", flush=True)
        result = accuracy_one_dataset(csv_path, workdir, cli_errors)
        result["name"] = name
        result["published"] = published[name] / 100
        results.append(result)
    return results, absent


# ----------------------------------------------------------------- reports


def fmt(value, spec=".3f", missing="error"):
    return missing if value is None else format(value, spec)


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:.1f}x"


def table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if idx == 0 else "---:"
                       for idx in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def oddity_wall(entry):
    return None if "error" in entry else entry["wall_s"]


def speed_tables(speed):
    """Markdown tables for the speed results, keyed by number of points."""
    sizes = sorted(speed)
    e2e = []
    for n in sizes:
        r = speed[n]
        sk, sk_all = r["sklearn_none"], r["sklearn_all"]
        detect = oddity_wall(r["oddity_detect_2"])
        e2e.append([
            f"{n:,}",
            fmt(sk["e2e_s"], ".2f"),
            fmt(sk["wall_s"], ".2f"),
            fmt(sk_all["e2e_s"], ".2f"),
            fmt(detect, ".2f"),
            fmt(oddity_wall(r["oddity_detect_1"]), ".2f"),
            ratio(sk["e2e_s"], detect),
            ratio(sk_all["e2e_s"], detect),
            ratio(sk["fit_s"] + sk["score_s"], detect),
        ])
    split = []
    for n in sizes:
        r = speed[n]
        sk, sk_all = r["sklearn_none"], r["sklearn_all"]
        fit = oddity_wall(r["oddity_fit"])
        score = oddity_wall(r["oddity_score"])
        both = None if fit is None or score is None else fit + score
        split.append([
            f"{n:,}",
            fmt(sk["load_s"], ".2f"),
            fmt(sk["fit_s"], ".2f"),
            fmt(sk["score_s"], ".2f"),
            fmt(sk["fit_s"] + sk["score_s"], ".2f"),
            fmt(sk_all["fit_s"], ".2f"),
            fmt(sk_all["score_s"], ".2f"),
            fmt(fit, ".2f"),
            fmt(score, ".2f"),
            fmt(both, ".2f"),
        ])
    memory = []
    for n in sizes:
        r = speed[n]
        sk, sk_all = r["sklearn_none"], r["sklearn_all"]
        detect = r["oddity_detect_2"]["max_rss_mib"]
        memory.append([
            f"{n:,}",
            fmt(r["csv_mib"], ".0f"),
            fmt(sk["max_rss_mib"], ".0f"),
            fmt(sk_all["max_rss_mib"], ".0f"),
            fmt(sk["rss_after_imports_mib"], ".0f"),
            fmt(detect, ".0f"),
            fmt(r["oddity_fit"]["max_rss_mib"], ".0f"),
            fmt(r["oddity_score"]["max_rss_mib"], ".0f"),
            ratio(sk["max_rss_mib"], detect),
        ])
    auc = []
    for n in sizes:
        r = speed[n]
        auc.append([
            f"{n:,}",
            fmt(r["sklearn_none"]["auc"], ".4f"),
            fmt(r["oddity_detect_2"].get("auc"), ".4f"),
            fmt(r["oddity_score"].get("auc"), ".4f"),
        ])
    compute = []
    for n in sizes:
        r = speed[n]
        sk = r["sklearn_none"]
        mem = r.get("oddity_in_memory", {})
        both = mem.get("fit_score_s")
        compute.append([
            f"{n:,}",
            fmt(sk["fit_s"], ".3f"),
            fmt(sk["score_s"], ".3f"),
            fmt(sk["fit_s"] + sk["score_s"], ".3f"),
            fmt(mem.get("fit_s"), ".3f"),
            fmt(mem.get("score_s"), ".3f"),
            fmt(both, ".3f"),
            ratio(sk["fit_s"] + sk["score_s"], both),
        ])
    return [
        ("Fit + score on data already in memory (seconds): the headline "
         "comparison",
         table(["points", "sklearn fit", "sklearn score", "sklearn fit+score",
                f"oddity fit, {ODDITY_THREADS} threads", "oddity score",
                "oddity fit+score", "ratio sklearn / oddity"], compute)),
        ("End to end: read the CSV, fit, score every point (seconds)",
         table(["points", "sklearn, 1 core",
                "sklearn, 1 core, whole process", "sklearn, n_jobs=-1",
                f"oddity detect, {ODDITY_THREADS} threads",
                "oddity detect, 1 thread", "ratio sklearn / oddity",
                "ratio sklearn n_jobs=-1 / oddity",
                "ratio sklearn without load / oddity"], e2e)),
        ("Phases (seconds): sklearn inside one process; oddity fit and "
         "score as separate processes, each parsing the CSV",
         table(["points", "sklearn load", "sklearn fit", "sklearn score",
                "sklearn fit+score", "sklearn -1 fit", "sklearn -1 score",
                "oddity fit", "oddity score", "oddity fit+score"], split)),
        ("Peak resident memory (MiB)",
         table(["points", "CSV size", "sklearn, 1 core", "sklearn, n_jobs=-1",
                "sklearn after imports", "oddity detect", "oddity fit",
                "oddity score", "ratio sklearn / oddity detect"], memory)),
        ("ROC-AUC on the synthetic data (sanity check, training data scored)",
         table(["points", "sklearn", "oddity detect",
                "oddity fit, then score"], auc)),
    ]


def accuracy_tables(results, absent):
    rows = []
    for r in results:
        odd = r["oddity"]
        rows.append([
            r["name"],
            f"{r['n_points']:,} x {r['n_features']}",
            fmt(r["published"]),
            fmt(r["sklearn"]),
            fmt(odd),
            fmt(None if odd is None else odd - r["published"], "+.3f"),
            fmt(None if odd is None else odd - r["sklearn"], "+.3f"),
            fmt(r["sklearn_s"], ".2f"),
            fmt(r["oddity_s"], ".2f"),
            fmt(r["sklearn_f1"]),
            fmt(r["oddity_f1"]),
        ])
    complete = [r for r in results if r["oddity"] is not None]
    if complete:
        def mean(key):
            return sum(r[key] for r in complete) / len(complete)

        published, sklearn, oddity = (
            mean("published"), mean("sklearn"), mean("oddity"))
        rows.append([
            f"**mean of {len(complete)}**", "",
            f"**{published:.3f}**", f"**{sklearn:.3f}**", f"**{oddity:.3f}**",
            f"**{oddity - published:+.3f}**", f"**{oddity - sklearn:+.3f}**",
            fmt(mean("sklearn_s"), ".2f"), fmt(mean("oddity_s"), ".2f"),
            f"**{mean('sklearn_f1'):.3f}**", f"**{mean('oddity_f1'):.3f}**",
        ])
    main = table(
        ["dataset", "rows x features (file)", "ADBench IForest",
         "sklearn", "oddity", "oddity - ADBench", "oddity - sklearn",
         "sklearn fit+score s", "oddity fit+score s",
         "F1 sklearn (score > 0.5)", "F1 oddity (auto threshold)"],
        rows,
    )
    disagree = [r for r in complete
                if abs(r["oddity"] - r["sklearn"]) > DISAGREEMENT]
    notes = []
    if disagree:
        notes.append(
            f"Datasets where oddity and sklearn differ by more than "
            f"{DISAGREEMENT}: "
            + ", ".join(f"{r['name']} ({r['oddity'] - r['sklearn']:+.3f})"
                        for r in disagree)
            + "."
        )
    failed = [r for r in results if r["errors"]]
    if failed:
        notes.append(
            "oddity failed on: "
            + "; ".join(f"{r['name']} ({r['errors'][0]})" for r in failed)
            + "."
        )
    reasons = {}
    for name, reason in absent:
        reasons.setdefault(reason, []).append(name)
    for reason, names in reasons.items():
        notes.append(f"Not run ({reason}): {', '.join(names)}.")
    return main, notes


# ------------------------------------------------------------------ driver


def machine_info():
    import numpy
    import pandas
    import sklearn

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return {
        "cores": len(os.sched_getaffinity(0)),
        "load": os.getloadavg()[0],
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "sklearn": sklearn.__version__,
        "oddity": oddity_version(),
    }


PROTOCOL_SPEED = f"""\
Synthetic data: `numpy.random.default_rng({SYNTHETIC_SEED})`, \
{N_FEATURES} features, 99 % N(0, 1) points and 1 % uniform(-6, 6) outliers
(label 1), written once per size as a CSV (`x0..x9,label`, 6 significant
digits) that both tools read.

- **sklearn**: `IsolationForest(n_estimators=100, max_samples="auto" (256),
  random_state=0)`, in a child process that loads the CSV with
  `pandas.read_csv` and times the load, `fit` and `score_samples` on every
  point. "1 core" is sklearn's default `n_jobs=None`. "n_jobs=-1" sets
  `n_jobs=-1` for `fit` and wraps `score_samples` in
  `joblib.parallel_config(n_jobs=-1)`, because `score_samples` ignores the
  estimator's `n_jobs` (sklearn source, PR #28622). sklearn's times are
  measured inside the process, so they leave out interpreter start-up and
  imports, which favours sklearn; "whole process" is the wall clock of the
  same child process including them.
- **oddity**: `oddity detect data.csv --label label --format csv \
-o out.csv -q --threads {ODDITY_THREADS}`
  is the end-to-end run: it parses the CSV once (keeping it in memory
  within `--memory-budget`, 512 MiB by default; larger inputs are parsed
  again to score), fits, thresholds, and writes a scored CSV of every
  point (sklearn writes nothing). "In memory" times the library's
  `fit_score_timing` example (`crates/oddity/examples/`), which parses the
  CSV first and then times `Model::fit_frame` (sampling, preparation, forest,
  calibration on the training scores) and scoring every point (preparation,
  forest, probability, threshold): the counterpart of sklearn's `fit` plus
  `score_samples` on an array already loaded. `oddity fit` and `oddity score` are timed
  as separate processes, each parsing the CSV. oddity's defaults apply: 100
  trees, 256 points per tree, and `--max-fit-rows 100000`: at 1M points
  `fit` keeps a uniform sample of 100,000 rows in memory (sklearn holds all
  1M, though each of its trees also sees only 256).
- Wall-clock time of oddity is that of the whole process. Peak memory is
  the peak resident set size of each process (`%M` of GNU `/usr/bin/time`);
  for sklearn it includes the Python interpreter, pandas and sklearn
  ("after imports" shows that baseline).
- Each number is the best of {REPEATS} runs up to {REPEAT_UP_TO:,} points
  and a single run above (peak memory: the largest of the runs). The
  machine is shared with other work (see the load average above), so
  timings carry noise, and a second core may not be free.
- Ratios are sklearn / oddity: above 1 means oddity is faster or smaller.
"""

PROTOCOL_ACCURACY = f"""\
The ADBench protocol (Han et al., NeurIPS 2022; `adbench/datasets/
data_generator.py`), on the ADBench CSVs of `../shared/data/tabular`
(`../shared/data/reference/dataset_map.csv` names them; the PyOD `odds_*`
copies are not used):

- datasets with more than {ADBENCH_MAX_POINTS:,} rows are subsampled to
  {ADBENCH_MAX_POINTS:,} without replacement; datasets with fewer than
  {ADBENCH_MIN_POINTS:,} rows are resampled with replacement up to
  {ADBENCH_MIN_POINTS:,} (so a test point can also sit in the training set);
- stratified 70/30 train/test split;
- MinMax scaling fitted on the training part;
- fit on the training features (labels unused), score the test part,
  ROC-AUC with `sklearn.metrics.roc_auc_score`;
- seeds {", ".join(map(str, ADBENCH_SEEDS))}, ROC-AUC averaged.

Randomness: one `numpy.random.RandomState(seed)` draws the resampling
(`choice`) and then the split (`train_test_split(..., stratify=y,
test_size=0.3, random_state=<that RandomState>)`), the same sequence of draws
as ADBench's `np.random.seed(seed)` followed by calls on the global stream.
The detectors get the seed too: `IsolationForest(random_state=seed)` with
sklearn's defaults, and `oddity fit train.csv --label label --seed <seed>
--threads {ODDITY_THREADS}` then `oddity score model test.csv --format csv`
on the same scaled arrays written as CSV (full precision, no `--scale`).
Times per dataset are the mean over seeds of fit + score: for sklearn
in-process on arrays in memory, for oddity the two processes, including
CSV parsing and model file I/O.

"ADBench IForest" is the published PyOD IForest column of ADBench's Table D4
(`adbench_unsupervised_aucroc.csv`, divided by 100). It ran on ADBench's
`.npz` arrays with PyOD 0.9.8 on other hardware; the sklearn column is the
same algorithm re-run here on the same splits as oddity.

The F1 columns judge the decisions, not the ranking, with no label used to
choose a threshold: sklearn's `predict` with `contamination="auto"` (anomaly
score above 0.5, the paper's rule) against oddity's default `auto` rule
(more than three robust standard deviations above the median training
score), both on the test part.
"""


def render(args, info, speed, accuracy, suite, cli_errors, runtime_s):
    out = [
        "# Benchmarks: oddity and scikit-learn IsolationForest side by side",
        "",
        "Generated by `python3 bench/side_by_side.py`; the script rewrites "
        "this file wholesale. Rerun it rather than editing the numbers "
        "(`--sizes 10000,100000`, `--skip-speed`, `--skip-accuracy` and "
        "`--data-dir` narrow a run; see `bench/README.md`).",
        "",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(whole run {runtime_s / 60:.1f} min)",
        f"- Machine: {info['cores']} cores available ({info['cpu']}), "
        f"{info['memory']} memory, {info['os']}; shared with other work",
        f"- Versions: {info['oddity']}, scikit-learn {info['sklearn']}, "
        f"numpy {info['numpy']}, pandas {info['pandas']}, "
        f"Python {info['python']}",
        f"- Load average (1 min) at start and end: {info['load']:.2f}, "
        f"{os.getloadavg()[0]:.2f}",
        f"- Threads: oddity `--threads {ODDITY_THREADS}` unless a column says "
        "otherwise; scikit-learn's IsolationForest defaults to `n_jobs=None`,"
        " one core.",
        "",
    ]
    printed = []
    if speed is not None:
        out += ["## Speed and memory", "", PROTOCOL_SPEED]
        for title, body in speed_tables(speed):
            out += [f"### {title}", "", body, ""]
            printed.append((title, body))
    elif not args.skip_speed:
        out += ["## Speed and memory", "", "Not run.", ""]
    if accuracy is not None:
        out += ["## Accuracy under the ADBench protocol", "",
                PROTOCOL_ACCURACY]
        results, absent = accuracy
        if results:
            body, notes = accuracy_tables(results, absent)
            out += ["### ROC-AUC, mean of 3 seeds", "", body, ""]
            out += [f"- {note}" for note in notes] + [""]
            printed.append(("ADBench ROC-AUC, mean of 3 seeds",
                            body + "\n\n" + "\n".join(notes)))
        else:
            out += [accuracy_skip_message(args.data_dir), ""]
    if suite is not None:
        body = suite_table(suite)
        out += ["## Every detector under the ADBench protocol", "", SUITE_TEXT,
                body, ""]
        printed.append(("Every detector, ADBench protocol", body))
    if cli_errors:
        out += ["## oddity command failures seen during this run", ""]
        seen = set()
        for cmd, error in cli_errors:
            if error in seen:
                continue
            seen.add(error)
            out += [f"- `{cmd}`: `{error}`"]
        out += [""]
    return "\n".join(out), printed


def run_detector_suite(data_dir, detectors, workdir, cli_errors):
    """Every listed detector through `oddity bench tabular` (the ADBench
    protocol implemented in Rust); returns the per-dataset rows."""
    import csv

    out = workdir / "suite.csv"
    cmd = [ODDITY, "bench", "tabular", data_dir, "--detectors",
           ",".join(detectors), "-o", out, "--threads", ODDITY_THREADS]
    proc = run_measured(cmd)
    if not proc.ok:
        cli_errors.append((" ".join(map(str, cmd)), proc.error_line()))
        return None
    with open(out, newline="") as handle:
        return list(csv.DictReader(handle))


def suite_table(rows):
    """Mean ROC-AUC and PR-AUC per detector, ours next to ADBench's on the
    datasets where the paper has a value."""
    by_detector = {}
    for row in rows:
        by_detector.setdefault(row["detector"], []).append(row)
    lines = []
    for detector, mine in by_detector.items():
        published = [r for r in mine if r["published_roc_auc"]]

        def mean(key, subset):
            return sum(float(r[key]) for r in subset) / len(subset) if subset else None

        ours_on_published = mean("roc_auc", published)
        paper = mean("published_roc_auc", published)
        lines.append([
            detector,
            str(len(mine)),
            fmt(mean("roc_auc", mine)),
            fmt(mean("average_precision", mine)),
            str(len(published)),
            fmt(ours_on_published, missing="-"),
            fmt(paper, missing="-"),
            fmt(None if paper is None else ours_on_published - paper, "+.3f", missing="-"),
            fmt(mean("fit_seconds", mine), ".4f"),
            fmt(mean("score_seconds", mine), ".4f"),
        ])
    return table(
        ["detector", "datasets", "ROC-AUC", "PR-AUC", "datasets in the paper",
         "ours there", "ADBench there", "difference", "mean fit s",
         "mean score s"],
        lines,
    )


SUITE_TEXT = """\
`oddity bench tabular` implements the same protocol in Rust (its own random
draws, and subsampling that keeps each class's share so that rare-anomaly
sets such as smtp keep anomalies in every test part) and runs each detector
with its defaults on the in-memory arrays, so fit and score times exclude
parsing. "ADBench there" is the paper's mean for the same detector over the
datasets it reports; the comparison is over those datasets only.
"""


def accuracy_skip_message(data_dir):
    return (f"Skipped: no ADBench CSVs under `{data_dir}` "
            "(pass `--data-dir`).")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="comma-separated numbers of synthetic points "
             "(default: 10000,100000,1000000)",
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-suite", action="store_true",
                        help="skip `oddity bench tabular` over every detector")
    parser.add_argument(
        "--detectors",
        default=",".join(SUITE_DETECTORS),
        help="detectors for the suite (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder of the ADBench CSVs; reference tables are read from "
             "its sibling `reference` (default: %(default)s)",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=DOC_PATH,
        help="markdown file to write (default: %(default)s)",
    )
    return parser.parse_args()


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--sklearn-worker":
        sklearn_worker(*sys.argv[2:])
        return
    args = parse_args()
    if not Path(GNU_TIME).exists():
        sys.exit(f"{GNU_TIME} (GNU time) is needed to measure peak memory: "
                 "apt-get install time")
    started = time.perf_counter()
    ensure_oddity()
    info = machine_info()
    cli_errors = []
    workdir = Path(tempfile.mkdtemp(prefix="oddity-bench-"))
    try:
        speed = None
        if not args.skip_speed:
            sizes = [int(size) for size in args.sizes.split(",") if size]
            speed = {n: speed_one_size(n, workdir, cli_errors) for n in sizes}
        accuracy = None
        if not args.skip_accuracy:
            reference = args.data_dir.parent / "reference"
            if args.data_dir.is_dir() and reference.is_dir():
                accuracy = run_accuracy(args.data_dir, workdir, cli_errors)
            else:
                print(accuracy_skip_message(args.data_dir))
        suite = None
        if not args.skip_suite and args.data_dir.is_dir():
            print("detector suite: oddity bench tabular", flush=True)
            suite = run_detector_suite(
                args.data_dir, args.detectors.split(","), workdir, cli_errors)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    runtime_s = time.perf_counter() - started
    doc, printed = render(args, info, speed, accuracy, suite, cli_errors,
                          runtime_s)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(doc)
    print()
    for title, body in printed:
        print(f"{title}\n\n{body}\n")
    for cmd, error in cli_errors[:5]:
        print(f"oddity failed: {cmd}\n  {error}")
    print(f"wrote {args.doc} in {runtime_s / 60:.1f} min")


if __name__ == "__main__":
    main()
