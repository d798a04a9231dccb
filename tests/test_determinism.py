"""lib/ never mutates its inputs (cached objects are shared read-only), and repeats itself exactly."""

from __future__ import annotations

import pandas as pd

from lib.act.targeting import ListSpec, build_list
from lib.data.quality import assess_quality
from lib.data.schema import infer_schema
from lib.flow.pipeline import RunSettings, SegmentSettings, UnderstandSettings, run
from lib.models.explain import explain, reason_codes
from lib.models.propensity import train_propensity
from lib.models.segment import segment_clusters, segment_rfm


def _digest(frame: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(frame, index=True).sum()) ^ hash(tuple(map(str, frame.dtypes)))


def test_no_lib_function_mutates_its_input_frame(shop_loaded):
    frame = shop_loaded.frame
    before = _digest(frame)
    schema = infer_schema(frame)
    assess_quality(frame, schema, "responded", "yes")
    segment_clusters(frame, ["recency_days", "orders", "total_spend"], k=3, stability_runs=0)
    segment_rfm(frame, "recency_days", "orders", "total_spend")
    model = train_propensity(frame, schema, "responded", "yes", cv_folds=0)
    expl = explain(model.model, frame)
    reason_codes(expl, frame)
    scored = pd.DataFrame({"id": frame["customer_id"].astype(str), "score": model.scores})
    scored_before = _digest(scored)
    build_list(scored, ListSpec(top_n=100, control_pct=10))
    assert _digest(frame) == before
    assert _digest(scored) == scored_before


def test_same_file_and_settings_give_identical_results(shop_loaded):
    settings = RunSettings(understand=UnderstandSettings(target="responded"), segment=SegmentSettings(seed=5),
                           target_list=ListSpec(top_pct=10, control_pct=20, seed=5))
    one = run(shop_loaded, settings)
    two = run(shop_loaded, settings)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.targets.table, two.targets.table)
