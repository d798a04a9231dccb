"""Hyper-parameters tuned on the earlier split only (never on the window that reports the scores)."""

from __future__ import annotations

from dataclasses import replace

from lib.models.recommend.data import _Events
from lib.models.recommend.evaluation import _better, _evaluate, _Holdout
from lib.models.recommend.matrix import _weighted
from lib.models.recommend.methods import _fit, _Repeat
from lib.models.recommend.settings import Hyper

_HALF_LIVES = (30.0, 90.0, 365.0, float("inf"))
_NEIGHBOURS_K = (10, 20, 50)
_OWN_SLOTS_SHARE = (1.0, 0.7, 0.5)


def _als_grid(nnz: int) -> list[list[dict]]:
    """ALS settings to try, as stages of a coordinate search (each stage varies one thing around the
    best so far: base 64 factors, regularisation 1, alpha 2, 6 iterations). Fixed per log size so the
    same file always gets the same search. On small logs 128 factors never beat 64 on the discovery
    hit rate (Online Retail, both splits) and cost twice the time, so 32 is tried instead; a log with
    millions of purchases has room for more factors but no time for a third stage."""
    if nnz > 1_000_000:
        return [[{"als_factors": 128}], [{"als_regularization": 10.0}]]
    return [[{"als_factors": 32}], [{"als_regularization": 10.0}], [{"als_alpha": 4.0}]]


def _tune(ev: _Events, h: _Holdout, k: int, seed: int) -> tuple[Hyper, dict]:
    """Hyper-parameters chosen on the validation split ``h`` only. Returns them and, per method, the
    validation metrics with the chosen settings (used to choose the method)."""
    hyper = Hyper(blend_own_slots=k)
    best: dict = {}
    # Repeat: the recency half-life (also the neighbours' customer profile).
    trains = {}
    for hl in _HALF_LIVES:
        train = replace(h.train, weighted=_weighted(ev, h.train.cutoff, hl))
        trains[hl] = train
        m = _evaluate(_Repeat(train), replace(h, train=train), k)
        if _better(m["all"], best.get("repeat", {}).get("all")):
            best["repeat"], hyper = m, replace(hyper, half_life_days=hl)
    h = replace(h, train=trains[hyper.half_life_days])
    cache: dict = {}
    best["popularity"] = _evaluate(_fit("popularity", h.train, hyper, seed, cache), h, k)
    # Neighbours and ALS are discovery methods: tuned on the "new" mode (never an owned item).
    for nk in _NEIGHBOURS_K:
        m = _evaluate(_fit("neighbours", h.train, replace(hyper, neighbours_k=nk), seed, cache), h, k)
        if _better(m["new"], best.get("neighbours", {}).get("new")):
            best["neighbours"], hyper = m, replace(hyper, neighbours_k=nk)
    best["als"] = _evaluate(_fit("als", h.train, hyper, seed, cache), h, k)
    for stage in _als_grid(h.train.counts.nnz):
        base = hyper
        for change in stage:
            trial = replace(base, **change)
            if trial == base:
                continue
            m = _evaluate(_fit("als", h.train, trial, seed, cache), h, k)
            if _better(m["new"], best["als"]["new"]):
                best["als"], hyper = m, trial
    # Blend: how many of the list's slots the customer's own items may take ("all" mode).
    for share in _OWN_SLOTS_SHARE:
        trial = replace(hyper, blend_own_slots=max(1, int(round(share * k))))
        m = _evaluate(_fit("blend", h.train, trial, seed, cache), h, k)
        if _better(m["all"], best.get("blend", {}).get("all")):
            best["blend"], hyper = m, trial
    return hyper, best
