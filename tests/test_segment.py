"""Segmentation recovers planted segments, names them in words, and keeps names across re-runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from lib.models.segment import rfm_group, rfm_scores, segment_clusters, segment_rfm

BEHAVIOUR = ["tenure_days", "recency_days", "orders", "total_spend", "avg_order_value", "discount_share"]


@pytest.fixture(scope="module")
def clusters(shop):
    customers, _, _ = shop
    return segment_clusters(customers, BEHAVIOUR, seed=3)


def test_planted_segments_are_recovered_with_k_chosen_from_the_data(shop, clusters):
    _, _, truth = shop
    assert clusters.k == 5
    assert adjusted_rand_score(truth["segment"], clusters.labels) >= 0.8
    # k is looked for in the range a marketing team can act on, 3 to 8 segments.
    assert set(clusters.silhouette_by_k) == set(range(3, 9))
    assert clusters.k_reason.startswith("5 segments") and list(clusters.k_table["k"]) == list(range(3, 9))


def test_segments_are_stable_across_bootstrap_reruns(clusters):
    assert clusters.stability is not None and clusters.stability >= 0.9


def test_every_segment_has_a_plain_words_name_and_description(shop, clusters):
    customers, _, truth = shop
    names = [s.name for s in clusters.segments]
    assert len(set(names)) == len(names)
    assert not any(n.lower().startswith("cluster") for n in names)
    # The loyal big spenders are called what they are.
    loyal = pd.Series(clusters.names().to_numpy())[truth["segment"].to_numpy() == "loyal_big_spenders"].mode()[0]
    assert "big spenders" in loyal.lower()
    bargain = pd.Series(clusters.names().to_numpy())[truth["segment"].to_numpy() == "bargain_hunters"].mode()[0]
    assert "bargain" in bargain.lower()
    for s in clusters.segments:
        assert "% of customers" in s.description and "overall" in s.description
    assert sum(s.size for s in clusters.segments) == len(customers)


def test_same_seed_gives_identical_segments(shop, clusters):
    again = segment_clusters(shop[0], BEHAVIOUR, seed=3)
    assert np.array_equal(again.labels, clusters.labels)
    assert [s.name for s in again.segments] == [s.name for s in clusters.segments]


def test_names_stay_attached_to_the_same_customers_when_the_seed_changes(shop, clusters):
    renamed = clusters.segments[0].name
    from lib.models.segment import rename_segments

    before = rename_segments(clusters, {clusters.segments[0].id: "My VIPs"})
    after = segment_clusters(shop[0], BEHAVIOUR, seed=99, previous=before)
    agree = (before.names().to_numpy() == after.names().to_numpy()).mean()
    assert agree >= 0.95
    assert "My VIPs" in {s.name for s in after.segments} and renamed not in {s.name for s in after.segments}


def test_user_can_fix_k(shop):
    seg = segment_clusters(shop[0], BEHAVIOUR, k=3, seed=1, stability_runs=0)
    assert seg.k == 3 and len(seg.segments) == 3 and seg.silhouette_by_k == {}
    assert seg.k_reason == "3 segments, as chosen." and seg.k_table is None


def test_minibatch_is_used_on_large_tables_and_stays_deterministic():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [8, 8], [0, 8]])
    x = np.vstack([c + rng.normal(size=(20_000, 2)) for c in centers])
    frame = pd.DataFrame(x, columns=["a", "b"])
    one = segment_clusters(frame, ["a", "b"], k=3, seed=5, stability_runs=0)
    two = segment_clusters(frame, ["a", "b"], k=3, seed=5, stability_runs=0)
    assert np.array_equal(one.labels, two.labels)
    truth = np.repeat([0, 1, 2], 20_000)
    assert adjusted_rand_score(truth, one.labels) > 0.95


def test_rfm_scores_of_a_small_table_match_hand_computed_quintiles():
    frame = pd.DataFrame({
        "recency_days": [1, 5, 10, 50, 100, 200, 300, 365, 20, 2],
        "frequency": [20, 10, 8, 2, 1, 1, 3, 1, 5, 12],
        "monetary": [900, 500, 400, 80, 20, 10, 150, 5, 300, 700],
    })
    scores = rfm_scores(frame["recency_days"], frame["frequency"], frame["monetary"])
    # 10 customers -> 2 per quintile. Most recent (1, 2 days) get R=5, the oldest (300, 365) R=1.
    assert scores["R"].tolist() == [5, 4, 4, 3, 2, 2, 1, 1, 3, 5]
    assert scores.loc[[0, 9], "R"].tolist() == [5, 5]
    assert scores.loc[[6, 7], "R"].tolist() == [1, 1]
    assert scores.loc[[0, 9], "F"].tolist() == [5, 5]
    assert scores.loc[0, "M"] == 5 and scores.loc[7, "M"] == 1
    groups = rfm_group(scores)
    assert groups[0] == "Champions"
    assert groups[7] == "Lost"


def test_rfm_segmentation_shows_the_rule_behind_each_group(shop):
    customers = shop[0]
    seg = segment_rfm(customers, "recency_days", "orders", "total_spend")
    assert seg.method == "rfm" and seg.rules is not None
    assert {"Champions", "Lost", "At risk"} <= set(seg.rules["group"])
    assert {s.name for s in seg.segments} <= set(seg.rules["group"])
    assert sum(s.size for s in seg.segments) == len(customers)


def test_choosing_k_over_two_forked_processes_gives_the_same_choice_and_evidence_as_one(monkeypatch):
    """The ks are shared out over processes on large files (issue 28); nothing about the choice may change,
    and the work really leaves this process (the children's pids are recorded)."""
    import importlib
    import os

    choose = importlib.import_module("lib.models.segment.choose_k")
    rng = np.random.default_rng(3)
    x = np.vstack([c + rng.normal(size=(700, 4)) for c in rng.normal(scale=4, size=(4, 4))])
    one = choose.choose_k(x, seed=5, workers=1)  # this process's OpenMP pool is up: the children must not wait on it
    pids = []
    real = choose._try_k
    monkeypatch.setattr(choose, "_try_k", lambda *a, **k: (pids.append(os.getpid()), real(*a, **k))[1])
    two = choose.choose_k(x, seed=5, workers=2)
    assert two.k == one.k and two.reason == one.reason
    pd.testing.assert_frame_equal(two.table, one.table)
    assert np.array_equal(two.centers, one.centers)
    assert pids == []  # every k was tried in a child, none here
