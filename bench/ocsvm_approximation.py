#!/usr/bin/env python3
"""How close oddity's approximate (Nyström) one-class SVM comes to the exact
one, on ADBench splits.

For each dataset and seed it makes the ADBench split of
bench/side_by_side.py, fits `oddity fit --detector ocsvm` with
`solver=exact` and with `solver=approximate` (for each landmark count
asked for) on the train part, scores the test part, and prints both
ROC-AUCs, their difference, Spearman's rank correlation between the two
score vectors, and the fit + score seconds of each.

Run from anywhere (needs target/release/oddity):

    python3 bench/ocsvm_approximation.py [--datasets cardio,satellite]
        [--seeds 1] [--landmarks 250,500,1000]
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import side_by_side as sbs  # noqa: E402

DEFAULT_DATASETS = ("Cardiotocography", "satellite", "pendigits", "thyroid",
                    "magic.gamma", "mnist")


def main():
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--landmarks", default="500")
    parser.add_argument("--data-dir", default=str(sbs.DEFAULT_DATA_DIR))
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    landmarks = [int(value) for value in args.landmarks.split(",")]
    print("dataset seed n_train d | exact AUC s | landmarks approx AUC "
          "diff spearman s")
    diffs = {m: [] for m in landmarks}
    rhos = {m: [] for m in landmarks}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in args.datasets.split(","):
            csv_path = data_dir / f"{name}.csv"
            if not csv_path.exists():
                print(f"{name}: no {csv_path}, skipped")
                continue
            frame = pd.read_csv(csv_path)
            labels = frame.pop("label").to_numpy().astype(np.int64)
            points = frame.to_numpy(dtype=np.float64)
            for seed in [int(value) for value in args.seeds.split(",")]:
                train_x, test_x, train_y, test_y = sbs.adbench_split(
                    points, labels, seed)
                csvs = (workdir / "train.csv", workdir / "test.csv")
                sbs.write_csv(csvs[0], train_x, train_y)
                sbs.write_csv(csvs[1], test_x, test_y)

                def run(*params):
                    extra = ["--detector", "ocsvm", "--scale", "none"]
                    for param in params:
                        extra += ["--param", param]
                    errors = []
                    seconds, scored = sbs.oddity_fit_score(
                        csvs[0], csvs[1], seed, workdir, errors, extra)
                    if seconds is None:
                        raise RuntimeError(errors)
                    scores = pd.read_csv(scored).sort_values("row")["score"]
                    return seconds, scores.to_numpy(), sbs.auc_from_scored(
                        scored, test_y)

                exact_s, exact, exact_auc = run("solver=exact")
                line = (f"{name} {seed} {len(train_y)} {train_x.shape[1]} | "
                        f"{exact_auc:.4f} {exact_s:.1f}")
                for m in landmarks:
                    approx_s, approx, approx_auc = run(
                        "solver=approximate", f"n_landmarks={m}")
                    rho = spearmanr(exact, approx).statistic
                    diffs[m].append(approx_auc - exact_auc)
                    rhos[m].append(rho)
                    line += (f" | {m} {approx_auc:.4f} "
                             f"{approx_auc - exact_auc:+.4f} {rho:.6f} "
                             f"{approx_s:.1f}")
                print(line, flush=True)
    for m in landmarks:
        if diffs[m]:
            print(f"landmarks {m}: mean AUC difference "
                  f"{np.mean(diffs[m]):+.4f}, mean |difference| "
                  f"{np.mean(np.abs(diffs[m])):.4f}, max |difference| "
                  f"{np.max(np.abs(diffs[m])):.4f}, mean Spearman "
                  f"{np.mean(rhos[m]):.6f}, min {np.min(rhos[m]):.6f}")


if __name__ == "__main__":
    main()
