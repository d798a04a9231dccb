"""Compute that shares the machine (lib/compute.py): OpenMP threads that sleep while they wait, set
before XGBoost loads and never over the user's own choice, and thread counts from the machine."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from lib.compute import share_the_machine, usable_cores

from .conftest import ROOT


def _env_after(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "KMP_"))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**clean, **env}, check=True)
    return proc.stdout.strip()


def test_importing_the_cli_sets_the_passive_wait_policy_before_xgboost_loads():
    code = ("import sys, os; import lib.cli; import lib.models.model; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['OMP_NUM_THREADS'], 'xgboost' in sys.modules)")
    policy, threads, loaded = _env_after(code).split()
    assert policy == "PASSIVE" and int(threads) == usable_cores() and loaded == "True"
    # lib.compute ran first: the policy is there even when only the package is imported
    assert _env_after("import sys, os, lib; print(os.environ['OMP_WAIT_POLICY'], 'xgboost' in sys.modules)") \
        == "PASSIVE False"


def test_a_wait_policy_the_user_set_is_kept():
    assert _env_after("import os, lib.cli; print(os.environ['OMP_WAIT_POLICY'], os.environ['OMP_NUM_THREADS'])",
                      OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1") == "ACTIVE 1"
    env = {"OMP_WAIT_POLICY": "active"}
    added = share_the_machine(env, cores=3)
    assert env == {"OMP_WAIT_POLICY": "active", "KMP_BLOCKTIME": "0", "OMP_NUM_THREADS": "3"}
    assert "OMP_WAIT_POLICY" not in added


def test_the_app_and_the_engines_load_lib_compute_first():
    first = ast.parse((ROOT / "app.py").read_text()).body[1]  # after the module docstring
    assert isinstance(first, ast.Import) and first.names[0].name == "lib.compute"
    init = ast.parse((ROOT / "lib" / "__init__.py").read_text()).body
    assert any(isinstance(n, ast.Import) and n.names[0].name == "lib.compute" for n in init)


def test_usable_cores_follow_the_cgroup_quota(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert usable_cores(v2) == min(2, len(os.sched_getaffinity(0)))
    (v2 / "cpu.max").write_text("max 100000\n")
    assert usable_cores(v2) == len(os.sched_getaffinity(0))
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(tmp_path / "v1") == 1
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cores(tmp_path / "v1") == len(os.sched_getaffinity(0))


def test_model_threads_come_from_the_machine_not_a_fixed_number():
    from lib.models.model import XGB_PARAMS

    assert XGB_PARAMS["n_jobs"] == usable_cores()
    code = ("import os; os.sched_setaffinity(0, {0}); import lib.models.model as m; "
            "print(m.XGB_PARAMS['n_jobs'], os.environ['OMP_NUM_THREADS'])")
    assert _env_after(code) == "1 1"
