"""The learners Bullseye compares, each one estimator with its encoding fitted inside it.

Every scikit-learn learner is ``Pipeline([("encode", Encoded(...)), ("model", <learner>)])``: the frame
encoding (``lib.models.model.FrameEncoder``: levels, dates) and the one-hot / imputation / scaling are
fitted in ``fit``, so cross-validation refits them inside every fold and no fold sees the levels or the
means of the rows it is scored on (PyCaret's 20-point optimistic gap came from the opposite). XGBoost
is ``lib.models.model.PropensityModel``, the same estimator ``run`` has always trained (it sets 15% of
its rows aside to stop early and calibrate).

``LEARNERS`` is also the order of simplicity the tie rule uses (``lib.models.learners.compare``): a
learner that is not significantly worse than the best and simpler than it is preferred.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from lib.compute import usable_cores
from lib.models.model import ColumnSpec, FrameEncoder, PropensityModel, one_hot_encoder

# Simplest first: ties go to the learner earlier in this tuple.
LEARNERS = ("logistic", "tree", "forest", "svm", "mlp", "xgboost")
# `auto` keeps run's speed: XGBoost and the logistic baseline always, the others only when the
# comparison sample is small. Measured on the 2-core dev machine (busy) with the comparison's folds:
# on the shop sample (5,000 rows × 14 columns) tree + forest + svm + mlp added ~28 s to a run of ~15 s,
# so they join `auto` only below 30,000 cells (rows × columns, e.g. 2,000 × 15), where they take a few
# seconds. Above, they are left to `--learners all` or a named list.
AUTO_ALWAYS = ("logistic", "xgboost")
AUTO_SMALL_CELLS = 30_000
# SVM: an RBF kernel SVM is O(n²); instead a Nystroem approximation of the RBF kernel (200 components)
# feeds a linear SVM, whose decision function is turned into probabilities by sigmoid calibration
# (3-fold CalibratedClassifierCV): linear in rows, so it runs on big files without a subsample.
SVM_COMPONENTS = 200


class Encoded(TransformerMixin, BaseEstimator):
    """The user's columns -> a numeric matrix, all fitted in ``fit``.

    ``scaled``: numbers median-imputed (with missing-value flags) and standardised, as linear models,
    SVMs and networks need; otherwise numbers pass through with their gaps (trees split on them).
    Categories are one-hot encoded either way."""

    def __init__(self, features: tuple[str, ...] = (), scaled: bool = False):
        self.features = features
        self.scaled = scaled

    def fit(self, X: pd.DataFrame, y=None) -> Encoded:
        self._fit(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None) -> np.ndarray:
        """The training rows' matrix: rated text columns get out-of-fold rates (``FrameEncoder.fit_transform``)."""
        framed = self._fit(X, y)
        return np.asarray(self.columns_.transform(framed), dtype=np.float64)

    def _fit(self, X: pd.DataFrame, y) -> pd.DataFrame:
        self.frame_ = FrameEncoder(tuple(self.features))
        framed = self.frame_.fit_transform(X, y)
        self.columns_ = (scaled_encoder if self.scaled else one_hot_encoder)(self.frame_.specs_).fit(framed)
        return framed

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.columns_.transform(self.frame_.transform(X)), dtype=np.float64)

    def owners(self) -> list[str]:
        """The user's column behind each output column (one-hot and missing flags sum back to it)."""
        out: list[str] = []
        for _, step, cols in self.columns_.transformers_:
            if step == "drop" or not len(cols):
                continue
            if isinstance(step, OneHotEncoder):
                for col, cats in zip(cols, step.categories_):
                    out += [col] * len(cats)
            elif isinstance(step, Pipeline):  # impute (+ missing flags) then scale
                imputer = step.named_steps["impute"]
                out += list(cols)
                if imputer.indicator_ is not None:
                    out += [cols[i] for i in imputer.indicator_.features_]
            else:
                out += list(cols)
        return out


def scaled_encoder(specs: tuple[ColumnSpec, ...]) -> ColumnTransformer:
    """Numbers median-imputed with missing flags and standardised; categories one-hot (the logistic
    baseline's encoding, ``lib.models.propensity.logistic_baseline``)."""
    numeric = [s.name for s in specs if not s.one_hot]
    categorical = [s for s in specs if s.one_hot]
    parts: list = []
    if numeric:
        parts.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler())]), numeric))
    if categorical:
        parts.append(("cat", OneHotEncoder(categories=[list(range(s.slots)) for s in categorical],
                                           handle_unknown="ignore", sparse_output=False, dtype=np.float32),
                      [s.name for s in categorical]))
    return ColumnTransformer(parts, verbose_feature_names_out=False)


def make_learner(name: str, features: tuple[str, ...], seed: int, spw: float = 1.0):
    """An unfitted estimator for ``name`` (one of ``LEARNERS``): ``fit(X, y)`` on the user's columns,
    ``predict_proba`` out. ``spw``: XGBoost's positive-class weight (``scale_pos_weight``)."""
    if name == "xgboost":
        return PropensityModel(tuple(features), seed, spw)
    if name == "logistic":
        learner, scaled = LogisticRegression(max_iter=1000, class_weight="balanced"), True
    elif name == "tree":
        # Depth and leaf size chosen so a single tree generalises instead of memorising the rows.
        learner, scaled = DecisionTreeClassifier(max_depth=6, min_samples_leaf=50, random_state=seed), False
    elif name == "forest":
        learner, scaled = RandomForestClassifier(n_estimators=200, min_samples_leaf=5, max_features="sqrt",
                                                 n_jobs=usable_cores(), random_state=seed), False
    elif name == "svm":
        # No predict_proba on a linear SVM: sigmoid calibration of its decision function gives
        # probabilities, so its metrics are real, never a placeholder.
        svm = Pipeline([("kernel", Nystroem(kernel="rbf", n_components=SVM_COMPONENTS, random_state=seed)),
                        ("svm", LinearSVC(C=0.1, class_weight="balanced", random_state=seed))])
        learner, scaled = CalibratedClassifierCV(svm, method="sigmoid", cv=3), True
    elif name == "mlp":
        learner, scaled = MLPClassifier(hidden_layer_sizes=(32, 16), alpha=1e-3, early_stopping=True,
                                        max_iter=200, random_state=seed), True
    else:
        raise ValueError(name)
    return Pipeline([("encode", Encoded(tuple(features), scaled)), ("model", learner)])
