"""Time each exact SHAP path on every row of generated tables, and their agreement.

    python -m bench.explain_paths [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import shap

from bench.generate import make_table
from lib.data.schema import infer_schema
from lib.models.explain import encoded_matrix, reference_contributions, woodelf_contributions
from lib.models.propensity import train_propensity


def time_exact_paths(model, x: np.ndarray) -> tuple[float, float, float]:
    """Seconds for WOODELF (one worker) and XGBoost pred_contribs on every row, and their max abs diff."""
    t = time.perf_counter()
    fast = woodelf_contributions(model, x)
    fast_s = time.perf_counter() - t
    t = time.perf_counter()
    ref = reference_contributions(model, x)[:, :-1]
    ref_s = time.perf_counter() - t
    return fast_s, ref_s, float(np.abs(fast - ref).max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--with-shap", action="store_true", help="also time shap.TreeExplainer")
    args = parser.parse_args()
    print("| rows | trees | WOODELF s | XGBoost pred_contribs s | shap.TreeExplainer s | max abs diff |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        frame, _ = make_table(n, seed=0)
        model = train_propensity(frame, infer_schema(frame), "responded", "yes", cv_folds=0)
        x = encoded_matrix(model.model, frame)
        fast_s, ref_s, diff = time_exact_paths(model.model, x)
        shap_s = float("nan")
        if args.with_shap:
            t = time.perf_counter()
            shap.TreeExplainer(model.model.booster_).shap_values(x)
            shap_s = time.perf_counter() - t
        print(f"| {n:,} | {model.best_iteration + 1} | {fast_s:.1f} | {ref_s:.1f} | {shap_s:.1f} "
              f"| {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
