"""One propensity model object: the user's columns in, a calibrated probability out.

``PropensityModel`` is a scikit-learn estimator (``fit`` / ``predict_proba`` / ``decision_function``)
that owns every step between a customer table and a score, fitted together:

1. ``FrameEncoder``: dates become "days before the training data's latest date", text becomes level
   numbers (up to ``MAX_CATEGORIES`` levels) or, for a column with more levels, each level's smoothed
   outcome rate in log-odds (see ``RATED_SMOOTHING``), numbers become float32. Its fitted state is
   plain data (lists, strings, numbers), so it can be saved as JSON.
2. A ``ColumnTransformer``: numbers pass through (XGBoost handles gaps), level numbers are one-hot
   encoded with the categories given explicitly, so the encoder is fully described by its constructor.
3. ``XGBClassifier``: depth-4 trees, early stopping on a validation fold, truncated at the best tree.
4. Platt scaling of the margin on that validation fold: ``score = expit(a * margin + b)``. Calibrating
   the margin keeps SHAP's log-odds scale linear in the score's logit.

No Python object serialisation here (loading it would run code): ``to_state`` / ``from_state`` turn the model into JSON plus the booster's own
JSON, and back (see ``lib.flow.model_file``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder
from xgboost import XGBClassifier

from lib.compute import usable_cores
from lib.models.columns import column_kind

MAX_CATEGORIES = 20
# A text column with more levels than MAX_CATEGORIES, when the outcome is known (training), is one number
# instead of 20 one-hot slots: each level's outcome rate, smoothed towards the overall rate as if it had
# RATED_SMOOTHING more rows at that rate, in log-odds (levels beyond RATED_MAX_LEVELS, the rarest, and
# levels never seen read as the overall rate). A tree splits the levels by rate as XGBoost's own
# categorical splits do; one-hot kept only the 19 most frequent levels and lumped the rest. On
# bench/generate_wide.py's 1M table (six text columns of 25-300 levels) that was 150 columns instead of
# 36 for the trees, ~4x the training and SHAP work, and 0.009 AUC below the Bayes-optimal 0.712 (issue 28).
# The training rows get out-of-fold rates (RATED_FOLDS): a row's own outcome never feeds its own value,
# so the trees cannot learn the labels back through a rare level's rate.
RATED_SMOOTHING = 20.0
RATED_MAX_LEVELS = 5_000
RATED_FOLDS = 5
MISSING_LEVEL = "(missing)"
XGB_PARAMS = dict(
    n_estimators=600, max_depth=4, learning_rate=0.08, subsample=0.8, colsample_bytree=0.8,
    min_child_weight=5, reg_lambda=1.0, tree_method="hist", max_bin=256, eval_metric="logloss",
    early_stopping_rounds=25, n_jobs=usable_cores(),  # the cores this process may use (lib.compute), not a fixed 2
)

# From this many fit rows the trees learn at a faster rate: with that much data a bigger step loses
# nothing and early stopping needs half the trees or fewer, which halves both training and exact SHAP
# (SHAP's cost is per tree). Measured (issue 28), learning rate 0.08 -> 0.15, holdout AUC and trees:
# bench/generate.py 100k 0.6906 (76) -> 0.6909 (40); bench/generate_wide.py 100k 0.7168 (198) -> 0.7170
# (38). Below it the smaller step is kept: bank marketing (36k fit rows) lost 0.0014 AUC with 0.15 and
# the 5,000-row shop sample 0.0046.
FAST_RATE_MIN_ROWS = 50_000
FAST_LEARNING_RATE = 0.15


def learning_rate_for(rows: int) -> float:
    """The boosting step for a fit on ``rows`` rows (see FAST_RATE_MIN_ROWS)."""
    return FAST_LEARNING_RATE if rows >= FAST_RATE_MIN_ROWS else float(XGB_PARAMS["learning_rate"])


@dataclass(frozen=True)
class ColumnSpec:
    """How one of the user's columns becomes a model input. ``kind``: number, flag, date or category
    (``lib.models.columns.column_kind``); a column with ``levels`` is one-hot encoded on them (or, with
    ``rates``, read as its level's rate: see RATED_SMOOTHING), any other
    passes through as a number (dates as days). Model files written before the kinds were decided in one
    place call yes/no text "category" and 0/1 numbers "number": read the same way, they score the same."""

    name: str
    kind: str
    levels: tuple[str, ...] = ()  # text (categories, yes/no text): kept levels, most frequent first
    has_other: bool = False  # text: rarer levels were seen in training and share one "other" slot
    reference: str | None = None  # date: ISO timestamp the days are counted back from
    rates: tuple[float, ...] = ()  # rated text (RATED_SMOOTHING): each level's smoothed log-odds ...
    other_rate: float = 0.0  # ... and the overall one, for levels not among them

    def to_dict(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "levels": list(self.levels), "has_other": self.has_other,
               "reference": self.reference}
        if self.rates:
            out |= {"rates": [float(r) for r in self.rates], "other_rate": float(self.other_rate)}
        return out

    @staticmethod
    def from_dict(d: dict) -> ColumnSpec:
        return ColumnSpec(str(d["name"]), str(d["kind"]), tuple(str(v) for v in d.get("levels") or ()),
                          bool(d.get("has_other", False)), d.get("reference"),
                          tuple(float(r) for r in d.get("rates") or ()), float(d.get("other_rate", 0.0)))

    @property
    def text(self) -> bool:
        """A text column read by its levels (one-hot or rated), not as a number the file holds."""
        return bool(self.levels) or self.has_other

    @property
    def one_hot(self) -> bool:
        """Read as one-hot levels (text: categories and yes/no text alike); rated text is one number."""
        return self.text and not self.rates

    def rate_of(self, codes: np.ndarray) -> np.ndarray:
        """The rated value of each row's level position (-1: not a kept level -> the overall rate)."""
        table = np.append(np.asarray(self.rates, dtype="float32"), np.float32(self.other_rate))
        return table[np.where(codes < 0, len(self.rates), codes)]

    @property
    def slots(self) -> int:
        """One-hot columns of a text column (its levels, plus "other" when there is one)."""
        return len(self.levels) + int(self.has_other)


def as_level_text(s: pd.Series) -> pd.Series:
    """A column's values as the text its levels are matched by ("(missing)" for gaps). Whole numbers
    read as floats (a code column with a gap) print as 12, not 12.0, so next month's file matches."""
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(v) & (np.abs(v) < 2**53)
        whole[whole] = np.mod(v[whole], 1) == 0
        text = s.astype("str").to_numpy(dtype=object)
        text[whole] = v[whole].astype("int64").astype("str")
        return pd.Series(text, index=s.index).where(s.notna(), MISSING_LEVEL)
    return s.astype("str").str.strip().where(s.notna(), MISSING_LEVEL)


def _distinct(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code of each row, the text of each distinct value): ``as_level_text`` of the column is
    ``text[codes]``, but the per-value string work (astype, strip, whole-number text) is done once per
    distinct value instead of once per row, which on 1M rows of a 300-level column is ~100× less."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if s.dtype == object and not all(isinstance(u, str) for u in uniques):
        # Mixed Python objects (1, 1.0 and True are one value to a hash, three texts): row by row.
        codes, uniques = pd.factorize(as_level_text(s))
        return codes, pd.Series([*uniques, MISSING_LEVEL], dtype=object)
    text = as_level_text(pd.Series(uniques, dtype=s.dtype) if len(uniques) else s.iloc[:0])
    return codes, pd.concat([text.reset_index(drop=True), pd.Series([MISSING_LEVEL])], ignore_index=True)


def level_codes(s: pd.Series, levels: tuple[str, ...] | list[str]) -> np.ndarray:
    """Each row's position in ``levels`` (-1: not among them), matched by ``as_level_text``: the same
    numbers as ``pd.Categorical(as_level_text(s), categories=levels).codes``, from the distinct values."""
    codes, text = _distinct(s)
    positions = pd.Index(list(levels), dtype=object).get_indexer(text.astype(object).to_numpy())
    return positions[codes].astype(np.int32)  # a gap's code is -1: the last entry, "(missing)"


def level_counts(s: pd.Series) -> pd.Series:
    """How many rows read as each level text (``as_level_text(s).value_counts()``), from the distinct values."""
    codes, text = _distinct(s)
    counts = np.bincount(codes[codes >= 0], minlength=len(text))
    counts[-1] = int((codes < 0).sum())  # gaps: the last entry, "(missing)"
    per_text = pd.Series(counts, index=text.astype(object).to_numpy())
    per_text = per_text[per_text > 0]
    return per_text.groupby(level=0, sort=False).sum()


def fit_column_spec(name: str, s: pd.Series, y: np.ndarray | None = None) -> ColumnSpec:
    """How the model reads one column: its kind (``column_kind``, the one rule segments use too) and,
    for text, its levels; with the outcome ``y`` (0/1 per row), a text column of more than
    ``MAX_CATEGORIES`` levels is rated instead (``RATED_SMOOTHING``).

    Text is read as one-hot levels: categories, and yes/no text too ("email_consent = yes"), as every
    model file has read it, so the trees and the reason codes stay what they were. Whatever is stored as
    numbers or true/false passes through as a number: a 0/1 flag, and a two-valued code (1/2) whose
    kind is "category", so a value training never saw still falls on one side of a split.
    """
    kind = column_kind(s)
    if kind == "date":
        latest = _as_dates(s).max()
        return ColumnSpec(name, kind, reference=None if pd.isna(latest) else pd.Timestamp(latest).isoformat())
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return ColumnSpec(name, kind)
    counts = level_counts(s)
    # Ties in frequency are broken by the text itself, so the same data always gives the same levels.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    levels = [str(v) for v, _ in ordered]
    if len(levels) > MAX_CATEGORIES and y is not None:
        kept = tuple(levels[:RATED_MAX_LEVELS])
        rates, overall = _level_rates(level_codes(s, kept), len(kept), np.asarray(y, dtype="float64"))
        return ColumnSpec(name, kind, kept, has_other=len(levels) > len(kept), rates=tuple(rates.tolist()),
                          other_rate=overall)
    if len(levels) > MAX_CATEGORIES:
        return ColumnSpec(name, kind, tuple(levels[:MAX_CATEGORIES - 1]), has_other=True)
    return ColumnSpec(name, kind, tuple(levels))


def _level_rates(codes: np.ndarray, n_levels: int, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Each level's outcome rate smoothed towards the overall rate (RATED_SMOOTHING), as log-odds, and
    the overall rate's log-odds."""
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6)) if len(y) else 0.5
    kept = codes >= 0
    rows = np.bincount(codes[kept], minlength=n_levels)
    positives = np.bincount(codes[kept], weights=y[kept], minlength=n_levels)
    rate = (positives + RATED_SMOOTHING * prior) / (rows + RATED_SMOOTHING)
    return np.log(rate / (1 - rate)), float(np.log(prior / (1 - prior)))


class FrameEncoder(TransformerMixin, BaseEstimator):
    """The user's columns -> numbers the trees can split on (see the module docstring)."""

    def __init__(self, features: tuple[str, ...] = ()):
        self.features = features

    def fit(self, X: pd.DataFrame, y=None, reference: pd.DataFrame | None = None) -> FrameEncoder:
        """``y``: the 0/1 outcome per row, when known (training): text columns of many levels are rated.
        ``reference``: the frame whose latest dates the date columns count back from (the whole frame
        being scored; by default ``X``), so scoring that frame again later gives the same numbers."""
        y = None if y is None else np.asarray(y, dtype="float64")
        self.specs_ = tuple(fit_column_spec(c, X[c], y) for c in self.features)
        if reference is not None:
            self.specs_ = _rebased(self.specs_, reference)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None, reference: pd.DataFrame | None = None) -> pd.DataFrame:
        """``fit`` then ``transform``, except that the rated columns of these training rows get out-of-fold
        rates: each row's value comes from the other RATED_FOLDS - 1 folds' outcomes, never its own."""
        out = self.fit(X, y, reference).transform(X)
        rated = [s for s in self.specs_ if s.rates]
        if not rated:
            return out
        y = np.asarray(y, dtype="float64")
        fold = np.random.default_rng(len(y)).permutation(len(y)) % RATED_FOLDS
        for spec in rated:
            codes = level_codes(X[spec.name], spec.levels)
            values = np.empty(len(y), dtype="float32")
            for f in range(RATED_FOLDS):
                mine = fold == f
                rates, overall = _level_rates(codes[~mine], len(spec.levels), y[~mine])
                values[mine] = replace(spec, rates=tuple(rates), other_rate=overall).rate_of(codes[mine])
            out[spec.name] = values
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for spec in self.specs_:
            s = X[spec.name]
            if spec.rates:
                out[spec.name] = spec.rate_of(level_codes(s, spec.levels))
            elif spec.one_hot:
                codes = level_codes(s, spec.levels)
                if spec.has_other:
                    codes = np.where(codes < 0, len(spec.levels), codes).astype(np.int32)
                out[spec.name] = codes  # -1: a level never seen in training and no "other" slot (all zeros)
            elif spec.kind == "date":
                dates = _as_dates(s)
                ref = pd.Timestamp(spec.reference) if spec.reference else dates.max()
                out[spec.name] = (ref - dates).dt.days.astype("float32")
            else:
                out[spec.name] = pd.to_numeric(s, errors="coerce").astype("float32")
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(self.features, dtype=object)


def one_hot_encoder(specs: tuple[ColumnSpec, ...]) -> ColumnTransformer:
    """Numbers pass through; categories one-hot with explicit categories (0..slots-1), unknown -> zeros."""
    numeric = [s.name for s in specs if not s.one_hot]
    categorical = [s for s in specs if s.one_hot]
    parts: list = []
    if numeric:
        parts.append(("num", "passthrough", numeric))
    if categorical:
        parts.append(("cat", OneHotEncoder(categories=[list(range(s.slots)) for s in categorical],
                                           handle_unknown="ignore", sparse_output=False, dtype=np.float32),
                      [s.name for s in categorical]))
    return ColumnTransformer(parts, verbose_feature_names_out=False)


def encoded_names(specs: tuple[ColumnSpec, ...]) -> tuple[list[str], list[str]]:
    """Names of the encoded columns in the encoder's output order, and the user column of each."""
    names, owners = [], []
    for s in specs:
        if not s.one_hot:
            names.append(s.name)
            owners.append(s.name)
    for s in specs:
        if s.one_hot:
            labels = [*s.levels, "(other)"] if s.has_other else list(s.levels)
            names += [f"{s.name} = {lv}" for lv in labels]
            owners += [s.name] * len(labels)
    return names, owners


class PropensityModel(ClassifierMixin, BaseEstimator):
    """Frame encoding + one-hot + XGBoost + Platt calibration, fitted together as one estimator.

    ``fit(X, y, eval_set=(X_val, y_val))``: the validation rows stop the boosting early and calibrate
    the scores; without them 15% of ``X`` is set aside for that.
    """

    algorithm = "xgboost"  # the learner's name in reports and the learner comparison

    def __init__(self, features: tuple[str, ...] = (), seed: int = 42, scale_pos_weight: float = 1.0):
        self.features = features
        self.seed = seed
        self.scale_pos_weight = scale_pos_weight

    # --- fitting ----------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y, eval_set: tuple[pd.DataFrame, np.ndarray] | None = None,
            reference: pd.DataFrame | None = None) -> PropensityModel:
        """``reference``: the frame the model will score (see ``FrameEncoder.fit``)."""
        y = np.asarray(y).astype(int)
        if eval_set is None:
            from sklearn.model_selection import train_test_split

            fit_idx, val_idx = train_test_split(np.arange(len(y)), test_size=0.15, stratify=y, random_state=self.seed)
            X, eval_set, y = X.iloc[fit_idx], (X.iloc[val_idx], y[val_idx]), y[fit_idx]
        x_val, y_val = eval_set[0], np.asarray(eval_set[1]).astype(int)
        self.frame_encoder_ = FrameEncoder(tuple(self.features))
        framed = self.frame_encoder_.fit_transform(X, y, reference=reference)  # out-of-fold rates
        self.one_hot_ = _fitted_one_hot(self.frame_encoder_.specs_)
        xf = np.asarray(self.one_hot_.transform(framed), dtype=np.float32)
        xv = self.encode(x_val)
        self.learning_rate_ = learning_rate_for(len(y))
        booster = XGBClassifier(**{**XGB_PARAMS, "learning_rate": self.learning_rate_}, random_state=self.seed,
                                scale_pos_weight=self.scale_pos_weight)
        booster.fit(xf, y, eval_set=[(xv, y_val)], verbose=False)
        self.best_iteration_ = int(booster.best_iteration)
        self.booster_ = _load_booster(booster.get_booster()[: self.best_iteration_ + 1].save_raw("json"))
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(self._margin_of(xv).reshape(-1, 1), y_val)
        self.platt_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        self.classes_ = np.array([0, 1])
        return self

    # --- using it ---------------------------------------------------------------------------------
    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """The matrix the trees see (float32): what exact SHAP is computed on."""
        return np.asarray(self.one_hot_.transform(self.frame_encoder_.transform(X)), dtype=np.float32)

    def _margin_of(self, x_enc: np.ndarray) -> np.ndarray:
        return self.booster_.predict(x_enc, output_margin=True).astype("float64")

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds before calibration (the scale of the SHAP values)."""
        return self._margin_of(self.encode(X))

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        a, b = self.platt_
        return expit(a * np.asarray(margin, dtype="float64") + b)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.calibrate(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    # --- what it is -------------------------------------------------------------------------------
    @property
    def column_specs(self) -> tuple[ColumnSpec, ...]:
        return self.frame_encoder_.specs_

    @property
    def encoded_features(self) -> tuple[str, ...]:
        return tuple(encoded_names(self.column_specs)[0])

    @property
    def encoded_owner(self) -> tuple[str, ...]:
        """For each encoded column, the user's column it came from (one-hot columns sum back to it)."""
        return tuple(encoded_names(self.column_specs)[1])

    def refit(self, X: pd.DataFrame, y, reference: pd.DataFrame | None = None) -> PropensityModel:
        """A copy trained again on ``X`` (every labelled row, once validation is over) with the number of
        trees early stopping found and the calibration fitted on the validation fold: no rows are left
        to stop or calibrate on, and both depend on the trees' count and scale, which stay the same."""
        model = copy.copy(self)
        model.frame_encoder_ = FrameEncoder(tuple(self.features))
        framed = model.frame_encoder_.fit_transform(X, np.asarray(y).astype(int), reference=reference)
        model.one_hot_ = _fitted_one_hot(model.frame_encoder_.specs_)
        # The step the trees were counted with: the same number of trees at another rate is another model.
        rate = getattr(self, "learning_rate_", XGB_PARAMS["learning_rate"])
        params = {**XGB_PARAMS, "n_estimators": self.best_iteration_ + 1, "early_stopping_rounds": None,
                  "learning_rate": rate}
        booster = XGBClassifier(**params, random_state=self.seed, scale_pos_weight=self.scale_pos_weight)
        booster.fit(np.asarray(model.one_hot_.transform(framed), dtype=np.float32), np.asarray(y).astype(int),
                    verbose=False)
        model.booster_ = _load_booster(booster.get_booster().save_raw("json"))
        return model

    def rebase_dates(self, frame: pd.DataFrame) -> PropensityModel:
        """A copy whose date columns count days back from ``frame``'s own latest dates, so next month's
        export is read as "days before its snapshot", like the training file was. The same file gives
        the same model (and the same scores)."""
        specs = _rebased(self.column_specs, frame)
        if specs == self.column_specs:
            return self
        rebased = copy.copy(self)
        rebased.frame_encoder_ = FrameEncoder(tuple(self.features))
        rebased.frame_encoder_.specs_ = tuple(specs)
        return rebased

    def to_state(self) -> tuple[dict, bytes]:
        """(JSON-ready description, booster JSON bytes): everything needed to rebuild this model."""
        state = {
            "features": list(self.features), "seed": int(self.seed), "scale_pos_weight": float(self.scale_pos_weight),
            "columns": [s.to_dict() for s in self.column_specs], "platt": list(self.platt_),
            "best_iteration": self.best_iteration_,
        }
        return state, bytes(self.booster_.get_booster().save_raw("json"))

    @classmethod
    def from_state(cls, state: dict, booster_json: bytes) -> PropensityModel:
        model = cls(tuple(state["features"]), int(state["seed"]), float(state["scale_pos_weight"]))
        enc = FrameEncoder(tuple(state["features"]))
        enc.specs_ = tuple(ColumnSpec.from_dict(c) for c in state["columns"])
        model.frame_encoder_ = enc
        model.one_hot_ = _fitted_one_hot(enc.specs_)
        model.booster_ = _load_booster(booster_json)
        model.platt_ = (float(state["platt"][0]), float(state["platt"][1]))
        model.best_iteration_ = int(state["best_iteration"])
        model.classes_ = np.array([0, 1])
        return model


def _as_dates(s: pd.Series) -> pd.Series:
    """Dates as naive UTC timestamps (a file with "Z" times and one without compare like for like)."""
    dates = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce", format="mixed")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


def _rebased(specs: tuple[ColumnSpec, ...], frame: pd.DataFrame) -> tuple[ColumnSpec, ...]:
    """``specs`` with each date column counting back from ``frame``'s latest date (when it has one)."""
    out = []
    for spec in specs:
        if spec.kind == "date" and spec.name in frame.columns:
            latest = fit_column_spec(spec.name, _as_dates(frame[spec.name])).reference
            if latest is not None:
                spec = replace(spec, reference=latest)
        out.append(spec)
    return tuple(out)


def _fitted_one_hot(specs: tuple[ColumnSpec, ...]) -> ColumnTransformer:
    """The one-hot step, fitted. Its categories are explicit, so fitting it on one made-up row gives
    exactly the encoder training had: the same code rebuilds it when a model file is loaded."""
    row = pd.DataFrame({s.name: [0 if s.one_hot else 0.0] for s in specs})
    return one_hot_encoder(specs).fit(row)


def _load_booster(raw: bytes | bytearray) -> XGBClassifier:
    model = XGBClassifier()
    model.load_model(bytearray(raw))
    model.set_params(n_jobs=XGB_PARAMS["n_jobs"])
    return model
