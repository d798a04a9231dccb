"""Bullseye's Streamlit-free library.

Its first import sets the OpenMP wait policy and thread count (``lib.compute``): those are read once,
when XGBoost or scikit-learn loads, so they must be in place before any step runs.
"""

import lib.compute  # noqa: F401  (first, for its side effect: see lib/compute.py)
