"""Shared test fixtures: paths to shipped samples and ../shared datasets, and the trained sample model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
SHARED = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(SAMPLES))

requires_shared = pytest.mark.skipif(
    not SHARED.exists(), reason="../shared/datasets is not present (it is in CI; a user's clone has no ../shared)"
)


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Campaign history goes to a fresh folder per test, never to the user's ~/.bullseye."""
    monkeypatch.setenv("BULLSEYE_DATA_DIR", str(tmp_path / "bullseye-data"))


@pytest.fixture(scope="session")
def shop():
    from make_samples import make_shop

    return make_shop()


@pytest.fixture(scope="session")
def shop_loaded():
    from lib.data.io import load_table

    return load_table(SAMPLES / "shop_customers.csv")


@pytest.fixture(scope="session")
def shop_model(shop_loaded):
    from lib.data.schema import infer_schema
    from lib.models.propensity import train_propensity

    schema = infer_schema(shop_loaded.frame)
    return train_propensity(shop_loaded.frame, schema, "responded", "yes", seed=7)


@pytest.fixture(scope="session")
def shop_explanation(shop_model, shop_loaded):
    from lib.models.explain import explain

    return explain(shop_model.model, shop_loaded.frame)
