"""Which tree depth keeps AUC and cuts exact-SHAP cost? Trains depth 3/4/6 on a generated table and
times training, WOODELF and XGBoost pred_contribs on every row.  python -m bench.depth [--rows N]"""

from __future__ import annotations

import argparse
import time

import lib.models.model
import lib.models.propensity as propensity
from bench.explain_paths import time_exact_paths
from bench.generate import make_table
from lib.data.schema import infer_schema
from lib.models.explain import encoded_matrix


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    frame, optimal = make_table(args.rows, seed=1)
    schema = infer_schema(frame)
    print(f"{args.rows:,} rows, optimal AUC {optimal:.4f}")
    print("| depth | trees | holdout AUC | train s | WOODELF s | pred_contribs s | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for depth in (3, 4, 6):
        lib.models.model.XGB_PARAMS["max_depth"] = depth
        t = time.perf_counter()
        model = propensity.train_propensity(frame, schema, "responded", "yes", cv_folds=0)
        train_s = time.perf_counter() - t
        fast_s, ref_s, diff = time_exact_paths(model.model, encoded_matrix(model.model, frame))
        print(f"| {depth} | {model.best_iteration + 1} | {model.metrics.roc_auc:.4f} | {train_s:.1f} | {fast_s:.1f} "
              f"| {ref_s:.1f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
