"""A chosen scikit-learn learner as the propensity model: the same face as ``PropensityModel`` (features,
column specs, ``decision_function`` in log-odds, ``calibrate``, ``predict_proba``, ``rebase_dates``,
``to_state``/``from_state``), so scoring, explaining, the drift check and the model file treat every
learner alike.

Saved with skops, never as a serialised Python object: skops stores the estimator as a JSON schema plus numpy arrays and, on
loading, builds only the types on ``TRUSTED_TYPES`` (scikit-learn's own are trusted by skops itself).
A file that names any other type is refused before anything is built.

Reasons: the logistic model gets exact linear attributions (coefficient × (encoded value − training
mean), summed back per user column: they add up to the log-odds exactly). The tree and the forest get
exact TreeSHAP (shap's path-dependent ``TreeExplainer``, the algorithm XGBoost's own ``pred_contribs``
runs): it is exact in probability, and each customer's values are scaled by one factor, the secant
``(log-odds − base log-odds) / (probability − base probability)``, so they add up to the log-odds
exactly while keeping SHAP's proportions between columns. Exact TreeSHAP costs rows × Σ(leaves × depth²)
over the trees; a forest beyond ``TREE_SHAP_BUDGET`` (200 deep trees on bank marketing's 45k customers:
seconds a customer, hours in all) falls back, saying so, to the approximation the SVM and MLP get: **two-sided occlusion against
a typical customer** (median numbers, most frequent
levels): each column's effect is the mean of "this customer minus this customer with the column set
to typical" and "typical customer with this customer's column minus typical". It is the exact Shapley
value for a model additive in the columns and costs 2 × columns predictions; its additivity error
(mean |log-odds − base − Σ effects|) is reported with the explanation.
"""

from __future__ import annotations

import copy
import zipfile

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin

from lib.errors import DataValidationError
from lib.models.learners.catalogue import make_learner
from lib.models.model import ColumnSpec, FrameEncoder, _rebased
from lib.text.i18n import t

# Types beyond scikit-learn's and numpy's defaults that a saved learner may hold (measured by
# skops.io.get_untrusted_types on every learner of the catalogue).
TRUSTED_TYPES = (
    "lib.models.learners.catalogue.Encoded", "lib.models.model.ColumnSpec", "lib.models.model.FrameEncoder",
    "numpy.dtype", "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer", "sklearn.tree._tree.Tree",
)
EPS = 1e-6
TREE_SHAP_LEARNERS = ("tree", "forest")
# rows × Σ over trees of (leaves × depth²) that exact TreeSHAP may cost: measured on the 2-core dev machine,
# shap ran about 1e8 of these a second (a 200-tree forest of depth 8: 23 ms a customer; bank marketing's
# forest, ~3,000 leaves a tree at depth ~30, did not finish 300 customers in 500 s), so about a minute.
TREE_SHAP_BUDGET = 6e9


class LearnerModel(ClassifierMixin, BaseEstimator):
    """One of the catalogue's scikit-learn learners (``name``), fitted on the user's columns."""

    def __init__(self, name: str = "logistic", features: tuple[str, ...] = (), seed: int = 42):
        self.name = name
        self.features = features
        self.seed = seed

    @property
    def algorithm(self) -> str:
        return self.name

    def fit(self, X: pd.DataFrame, y) -> LearnerModel:
        y = np.asarray(y).astype(int)
        self.pipeline_ = make_learner(self.name, tuple(self.features), self.seed).fit(X, y)
        self.typical_ = _typical_row(X[list(self.features)])
        if self.name == "logistic":  # the training mean of each encoded column: where linear effects start
            self.encoded_mean_ = self.pipeline_.named_steps["encode"].transform(X).mean(axis=0)
        self.classes_ = np.array([0, 1])
        self.platt_ = (1.0, 0.0)  # the learner's probabilities are its calibrated scores
        self.best_iteration_ = -1
        return self

    # --- using it ---------------------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.pipeline_.predict_proba(X[list(self.features)])[:, 1].astype("float64")
        return np.column_stack([1 - p, p])

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the score (the scale of the reasons)."""
        return logit(np.clip(self.predict_proba(X)[:, 1], EPS, 1 - EPS))

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        return expit(np.asarray(margin, dtype="float64"))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    # --- what it is -------------------------------------------------------------------------------
    @property
    def frame_encoder_(self) -> FrameEncoder:
        return self.pipeline_.named_steps["encode"].frame_

    @property
    def column_specs(self) -> tuple[ColumnSpec, ...]:
        return self.frame_encoder_.specs_

    def rebase_dates(self, frame: pd.DataFrame) -> LearnerModel:
        """A copy counting date columns back from ``frame``'s latest dates (see ``PropensityModel``)."""
        specs = _rebased(self.column_specs, frame)
        if specs == self.column_specs:
            return self
        rebased = copy.deepcopy(self)
        rebased.__dict__.pop("payload_", None)
        rebased.pipeline_.named_steps["encode"].frame_.specs_ = tuple(specs)
        return rebased

    # --- reasons ----------------------------------------------------------------------------------
    def attributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, float, str, float]:
        """(effects per user column in log-odds, base value, method, additivity error)."""
        x = frame[list(self.features)]
        margin = self.decision_function(x)
        if self.name == "logistic":
            values, base = self._linear(x)
            method = "exact linear (coefficient x (value - mean))"
        elif self.name in TREE_SHAP_LEARNERS and tree_shap_cost(self.pipeline_.named_steps["model"], len(x)) <= TREE_SHAP_BUDGET:
            values, base = self._tree_shap(x, margin)
            method = "exact TreeSHAP (shap, path-dependent), scaled to log-odds per customer"
        else:
            values, base = self._occlusion(x, margin)
            method = "two-sided occlusion against a typical customer (approximate)"
        error = float(np.mean(np.abs(margin - base - values.sum(axis=1)))) if len(x) else 0.0
        return values.astype(np.float32), base, method, error

    def _linear(self, x: pd.DataFrame) -> tuple[np.ndarray, float]:
        encode = self.pipeline_.named_steps["encode"]
        lr = self.pipeline_.named_steps["model"]
        coef = lr.coef_[0]
        effects = (encode.transform(x) - self.encoded_mean_) * coef
        return self._by_column(effects), float(lr.intercept_[0] + coef @ self.encoded_mean_)

    def _by_column(self, encoded: np.ndarray) -> np.ndarray:
        """Effects of the encoded columns summed back to the user's columns (one-hot levels, missing flags)."""
        owners = self.pipeline_.named_steps["encode"].owners()
        out = np.zeros((len(encoded), len(self.features)))
        for j, col in enumerate(self.features):
            cols = [i for i, o in enumerate(owners) if o == col]
            out[:, j] = encoded[:, cols].sum(axis=1)
        return out

    def _tree_shap(self, x: pd.DataFrame, margin: np.ndarray) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP of the tree or forest (probability), scaled per customer to the log-odds."""
        import shap

        explainer = shap.TreeExplainer(self.pipeline_.named_steps["model"], feature_perturbation="tree_path_dependent")
        values = np.asarray(explainer.shap_values(self.pipeline_.named_steps["encode"].transform(x),
                                                  check_additivity=False))
        values = values[..., 1] if values.ndim == 3 else values  # the positive class
        p_base = float(np.clip(np.atleast_1d(explainer.expected_value)[-1], EPS, 1 - EPS))
        base = float(logit(p_base))
        total = values.sum(axis=1)  # = probability − base probability, exactly
        p = np.clip(p_base + total, EPS, 1 - EPS)
        tangent = 1 / (p * (1 - p))  # where the probability barely moves, the secant is the tangent
        big = np.abs(total) > 1e-9
        factor = np.where(big, (margin - base) / np.where(big, total, 1.0), tangent)
        return self._by_column(values * factor[:, None]), base

    def _occlusion(self, x: pd.DataFrame, margin: np.ndarray) -> tuple[np.ndarray, float]:
        typical = pd.DataFrame({c: [v] for c, v in self.typical_.items()})
        base = float(self.decision_function(typical)[0])
        out = np.zeros((len(x), len(self.features)))
        for j, col in enumerate(self.features):
            without = x.copy()
            without[col] = typical[col].iloc[0]
            only = pd.DataFrame({c: np.repeat(typical[c].to_numpy(), len(x)) for c in self.features}, index=x.index)
            only[col] = x[col].to_numpy()
            out[:, j] = 0.5 * ((margin - self.decision_function(without)) + (self.decision_function(only) - base))
        return out, base

    # --- the model file ---------------------------------------------------------------------------
    def to_state(self) -> tuple[dict, bytes]:
        """(JSON-ready description, skops bytes). The bytes are made once and kept, so the model's id
        (a digest of them) and the file agree."""
        import skops.io as sio

        if "payload_" not in self.__dict__:
            self.payload_ = sio.dumps(self.pipeline_)
        state = {"algorithm": self.name, "features": list(self.features), "seed": int(self.seed),
                 "columns": [s.to_dict() for s in self.column_specs], "typical": self.typical_,
                 "encoded_mean": None if self.name != "logistic" else [float(v) for v in self.encoded_mean_]}
        return state, self.payload_

    @classmethod
    def from_state(cls, state: dict, payload: bytes, name: str = "") -> LearnerModel:
        """Rebuild a saved learner, refusing a file that asks for a type outside ``TRUSTED_TYPES``."""
        import skops.io as sio

        try:
            asked = sio.get_untrusted_types(data=payload)
        except (zipfile.BadZipFile, ValueError, KeyError) as exc:
            raise DataValidationError(t("{name}: its learner cannot be read ({exc}); the file is damaged.",
                                        name=name, exc=exc)) from None
        untrusted = [a for a in asked if a not in TRUSTED_TYPES]
        if untrusted:
            raise DataValidationError(t("{name} asks to load types Bullseye does not trust ({items}): refused. "
                                        "Use a model file saved by Bullseye.", name=name, items=", ".join(untrusted[:3])))
        model = cls(str(state["algorithm"]), tuple(state["features"]), int(state["seed"]))
        model.pipeline_ = sio.loads(bytes(payload), trusted=list(asked))
        model.typical_ = dict(state["typical"])
        if state.get("encoded_mean") is not None:
            model.encoded_mean_ = np.asarray(state["encoded_mean"], dtype="float64")
        model.classes_, model.platt_, model.best_iteration_ = np.array([0, 1]), (1.0, 0.0), -1
        model.payload_ = bytes(payload)
        return model


def tree_shap_cost(model, rows: int) -> float:
    """rows × Σ over the trees of (leaves × depth²): what exact TreeSHAP's time grows with."""
    trees = getattr(model, "estimators_", [model])
    return float(rows) * sum(float(tr.tree_.n_leaves) * max(tr.tree_.max_depth, 1) ** 2 for tr in trees)


def _typical_row(x: pd.DataFrame) -> dict:
    """A typical customer as plain JSON values: median of each number, most frequent value otherwise."""
    out: dict = {}
    for col in x.columns:
        s = x[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            med = s.median()
            out[col] = None if pd.isna(med) else float(med)
        else:
            mode = s.dropna().mode()
            v = mode.iloc[0] if len(mode) else None
            out[col] = v.isoformat() if isinstance(v, pd.Timestamp) else (v.item() if isinstance(v, np.generic) else v)
    return out
