#!/usr/bin/env python3
"""oddity's autoencoder beside PyOD's AutoEncoder under the ADBench
protocol, written as its own section of docs/benchmarks.md (the other
sections are left as they are).

Protocol (the splits are bench/side_by_side.py's, whose helpers this
script imports):

- data: the ADBench CSVs in ../shared/data/tabular, seeds 1, 2, 3; per seed
  subsample to 10,000 rows or resample up to 1,000, stratified 70/30 split,
  MinMax scaling fitted on the training part. Both tools get the same
  arrays; oddity through CSV files, `oddity fit train.csv --label label
  --detector autoencoder --scale none --seed SEED`, then `oddity score`.
- the same network on both sides: encoder 64 -> 32, decoder 32 -> 64 -> d,
  ReLU, dropout 0.2, Adam (weight decay 1e-5), learning rate 1e-3, 10
  epochs, batches of 32, inputs standardised inside the detector. oddity
  has no batch normalisation, so the counterpart is PyOD's
  `AutoEncoder(batch_norm=False)`; `--pyod-default` adds PyOD's default
  (`batch_norm=True`) as a third column.
- ROC-AUC of the test scores (oddity: mean squared reconstruction error;
  PyOD: its Euclidean norm, which ranks the same).
- times: oddity is two processes (`fit` reads, prepares and trains;
  `score` reads, scores and writes every row) with `--threads 1` (candle's
  matrix products still use every core); PyOD is
  `fit` + `decision_function` inside this process on arrays already in
  memory, torch with 1 thread. Seeds differ between the tools (their
  generators differ), so per-dataset gaps include seed noise.
- speed: both fit and score 10,000 x 30 standard-normal points once with
  the defaults (oddity through the CLI, as above).

The ADBench paper has no autoencoder column (DeepSVDD is its deep
baseline), so there is no published column to compare with.

Needs `pip install torch pyod scikit-learn pandas` and oddity built with
the feature: `cargo build --release -p oddity-cli --features autoencoder`
(`--oddity PATH` points at the binary). Skips cleanly when the data is
absent. Run from anywhere:

    python3 bench/autoencoder.py [--datasets cardio,WBC] [--seeds 1]
        [--pyod-default] [--oddity PATH] [--doc PATH]
"""

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import side_by_side as sbs
from doc_sections import replace_section

SECTION = "autoencoder"
SCRIPT = "bench/autoencoder.py"
# One thread on each side: on a busy 2-core machine torch's thread pool
# spins and slowed 2-thread fits tenfold and erratically.
THREADS = 1
SPEED_SHAPE = (10_000, 30)


def pyod_autoencoder(seed, batch_norm):
    from pyod.models.auto_encoder import AutoEncoder

    return AutoEncoder(batch_norm=batch_norm, random_state=seed, verbose=0)


def warm_up():
    """One small untimed fit, so that torch's one-time start-up (about a
    minute on the first fit here) is not charged to the first dataset."""
    import numpy as np

    points = np.random.default_rng(0).standard_normal((256, 4))
    for batch_norm in (False, True):
        pyod_autoencoder(0, batch_norm).fit(points)


def pyod_fit_score(train_x, test_x, seed, batch_norm):
    """(seconds of fit + decision_function, test scores)."""
    model = pyod_autoencoder(seed, batch_norm)
    start = time.perf_counter()
    model.fit(train_x)
    scores = model.decision_function(test_x)
    return time.perf_counter() - start, scores


def oddity_fit_score(train_x, train_y, test_x, test_y, seed, workdir, errors):
    """(seconds of both processes, ROC-AUC) or (None, error line)."""
    train_csv = workdir / "train.csv"
    test_csv = workdir / "test.csv"
    sbs.write_csv(train_csv, train_x, train_y)
    sbs.write_csv(test_csv, test_x, test_y)
    seconds, scored = sbs.oddity_fit_score(
        train_csv, test_csv, seed, workdir, errors,
        extra_args=("--detector", "autoencoder", "--scale", "none"))
    if seconds is None:
        return None, scored
    return seconds, sbs.auc_from_scored(scored, test_y)


def one_dataset(csv_path, seeds, pyod_default, workdir, errors):
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    frame = pd.read_csv(csv_path)
    labels = frame.pop("label").to_numpy().astype(np.int64)
    points = frame.to_numpy(dtype=np.float64)
    sides = ["oddity", "pyod"] + (["pyod_bn"] if pyod_default else [])
    aucs = {side: [] for side in sides}
    seconds = {side: [] for side in sides}
    failed = {}
    for seed in seeds:
        train_x, test_x, train_y, test_y = sbs.adbench_split(points, labels, seed)
        took, auc = oddity_fit_score(train_x, train_y, test_x, test_y, seed,
                                     workdir, errors)
        if took is None:
            failed["oddity"] = auc
        else:
            aucs["oddity"].append(auc)
            seconds["oddity"].append(took)
        for side in sides[1:]:
            took, scores = pyod_fit_score(train_x, test_x, seed,
                                          batch_norm=side == "pyod_bn")
            aucs[side].append(float(roc_auc_score(test_y, scores)))
            seconds[side].append(took)

    def mean(values):
        return sum(values) / len(values) if values else None

    return {
        "n_points": len(labels),
        "n_features": points.shape[1],
        "auc": {side: None if side in failed else mean(values)
                for side, values in aucs.items()},
        "seconds": {side: mean(values) for side, values in seconds.items()},
        "errors": failed,
    }


def speed(workdir, errors):
    """Fit + score of 10,000 x 30 standard-normal points with the defaults."""
    import numpy as np

    rng = np.random.default_rng(0)
    points = rng.standard_normal(SPEED_SHAPE)
    labels = np.zeros(SPEED_SHAPE[0], dtype=np.int64)
    labels[:100] = 1
    points[:100] += 4.0
    oddity_s, oddity_auc = oddity_fit_score(points, labels, points, labels, 1,
                                            workdir, errors)
    pyod_s, scores = pyod_fit_score(points, points, 1, batch_norm=False)
    from sklearn.metrics import roc_auc_score

    return {"oddity_s": oddity_s, "oddity_auc": oddity_auc,
            "pyod_s": pyod_s, "pyod_auc": float(roc_auc_score(labels, scores))}


def fmt(value, spec=".3f"):
    return "error" if value is None else format(value, spec)


def render(results, absent, speed_result, seeds, pyod_default, runtime_s):
    import pyod
    import torch

    sides = ["oddity", "pyod"] + (["pyod_bn"] if pyod_default else [])
    titles = {"oddity": "oddity autoencoder",
              "pyod": "PyOD AutoEncoder (batch_norm=False)",
              "pyod_bn": "PyOD AutoEncoder (default, batch_norm=True)"}
    lines = [
        "## Autoencoder beside PyOD's AutoEncoder",
        "",
        f"Generated by `{SCRIPT}` on {dt.date.today().isoformat()} "
        f"({platform.machine()}, {sbs.machine_info().get('cpu', 'unknown cpu')}; "
        f"PyOD {pyod.__version__}, torch {torch.__version__} on CPU, "
        f"{runtime_s / 60:.0f} min in all).",
        "",
        "ADBench protocol (the splits of the accuracy section above: "
        f"seeds {', '.join(map(str, seeds))}, subsample to 10,000 rows or "
        "resample up to 1,000, stratified 70/30 split, MinMax scaling on "
        "train). Both sides train the same network: 64 -> 32 -> 64 -> d, "
        "ReLU, dropout 0.2, Adam with weight decay 1e-5, learning rate 1e-3, "
        "10 epochs of batches of 32, standardised inputs. oddity has no "
        "batch normalisation, so its counterpart is PyOD's "
        "`AutoEncoder(batch_norm=False)`"
        + ("; PyOD's default with batch normalisation is the third column."
           if pyod_default else ".")
        + " The ADBench paper has no autoencoder column (its deep baseline "
        "is DeepSVDD), so there is no published value to compare with.",
        "",
        "Times per split: oddity is `oddity fit` + `oddity score` as two "
        "processes (reading the CSV, preparing, training, scoring and "
        "writing every row) with `--threads 1` (candle's matrix products still "
        "use every core unless `RAYON_NUM_THREADS=1`, see the README); PyOD is "
        "`fit` + `decision_function` "
        "on arrays already in memory, torch with one thread. The two tools "
        "draw different random numbers for the same seed, so per-dataset "
        "gaps include seed noise.",
        "",
    ]
    header = ["dataset", "points", "features"]
    header += [f"{titles[side]} ROC-AUC" for side in sides]
    header += ["oddity s", "PyOD s"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    totals = {side: [] for side in sides}
    for result in results:
        row = [result["name"], str(result["n_points"]), str(result["n_features"])]
        for side in sides:
            value = result["auc"][side]
            row.append(fmt(value))
            if value is not None:
                totals[side].append(value)
        row += [fmt(result["seconds"]["oddity"], ".1f"),
                fmt(result["seconds"]["pyod"], ".1f")]
        lines.append("| " + " | ".join(row) + " |")
    complete = [result for result in results
                if all(result["auc"][side] is not None for side in sides)]
    means = ["**mean**", "", f"{len(complete)} sets"]
    for side in sides:
        values = [result["auc"][side] for result in complete]
        means.append(fmt(sum(values) / len(values) if values else None))
    total_odd = sum(r["seconds"]["oddity"] or 0 for r in complete)
    total_pyod = sum(r["seconds"]["pyod"] or 0 for r in complete)
    means += [f"{total_odd:.1f} (sum)", f"{total_pyod:.1f} (sum)"]
    lines.append("| " + " | ".join(means) + " |")
    lines.append("")
    if complete:
        gaps = [result["auc"]["oddity"] - result["auc"]["pyod"]
                for result in complete]
        wins = sum(gap > 0 for gap in gaps)
        lines.append(
            f"oddity minus PyOD (same network): mean {sum(gaps) / len(gaps):+.3f}, "
            f"largest {max(gaps, key=abs):+.3f}; oddity higher on {wins} of "
            f"{len(gaps)} sets.")
        lines.append("")
    for result in results:
        for side, error in result["errors"].items():
            lines.append(f"- {result['name']}: {side} failed: {error}")
    if absent:
        lines.append(
            f"- not run: {len(absent)} ADBench sets that the data folder lacks "
            f"({', '.join(name for name, _ in absent)}).")
    if speed_result:
        lines += [
            "",
            f"Speed, {SPEED_SHAPE[0]:,} x {SPEED_SHAPE[1]} standard-normal "
            "points (1 % shifted by 4), defaults, fit + score of the same "
            f"points: oddity {fmt(speed_result['oddity_s'], '.1f')} s "
            f"(ROC-AUC {fmt(speed_result['oddity_auc'])}), PyOD "
            f"{fmt(speed_result['pyod_s'], '.1f')} s (ROC-AUC "
            f"{fmt(speed_result['pyod_auc'])}).",
        ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=sbs.DEFAULT_DATA_DIR)
    parser.add_argument("--datasets", type=sbs.csv_list, default=None)
    parser.add_argument("--seeds", type=sbs.int_list,
                        default=list(sbs.ADBENCH_SEEDS))
    parser.add_argument("--pyod-default", action="store_true",
                        help="also run PyOD's default AutoEncoder (batch norm)")
    parser.add_argument("--oddity", type=Path, default=sbs.ODDITY,
                        help="an oddity binary built with --features autoencoder")
    parser.add_argument("--doc", type=Path, default=sbs.DOC_PATH)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()

    if not args.data.exists():
        print(f"skipped: no ADBench data at {args.data}")
        return 0
    import tempfile

    import torch

    torch.set_num_threads(THREADS)
    warm_up()
    sbs.ODDITY = args.oddity
    sbs.ODDITY_THREADS = THREADS
    errors = []
    started = time.perf_counter()
    published, mapping = sbs.read_reference(args.data.parent / "reference")
    del published
    wanted = None if not args.datasets else {n.lower() for n in args.datasets}
    results, absent = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        speed_result = None if args.skip_speed else speed(workdir, errors)
        if speed_result:
            print(f"speed: {speed_result}", flush=True)
        for name, csv_file, note in mapping:
            if wanted is not None and name.lower() not in wanted:
                continue
            csv_path = args.data / Path(csv_file).name if csv_file else None
            if csv_path is None or not csv_path.exists():
                absent.append((name, note or "no CSV in the data folder"))
                continue
            result = one_dataset(csv_path, args.seeds, args.pyod_default,
                                 workdir, errors)
            result["name"] = name
            print(f"{name}: {result['auc']} {result['seconds']}", flush=True)
            results.append(result)
    body = render(results, absent, speed_result, args.seeds, args.pyod_default,
                  time.perf_counter() - started)
    print(body)
    replace_section(args.doc, SECTION, SCRIPT, body)
    for cmd, line in errors:
        print(f"error: {cmd}: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
