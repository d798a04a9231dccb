"""House rules that keep the shape of the code: lib/ is Streamlit-free, pages are thin, deps are pinned."""

from __future__ import annotations

import ast
import re

from .conftest import ROOT


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_under_lib_imports_streamlit():
    offenders = [p.name for p in (ROOT / "lib").rglob("*.py") if "streamlit" in _imports(p)]
    assert offenders == []


def test_only_the_step_modules_use_streamlit_caching():
    users = [p.name for p in (ROOT / "pages").glob("*.py") if re.search(r"st\.cache_(data|resource)", p.read_text())]
    assert sorted(users) == ["log_steps.py", "scored.py", "steps.py"]


# lib/ is grouped by stage; each stage may import only the stages before it (and itself), so a
# newcomer reads the architecture from the folder names and no rule can sit in two layers at once.
# lib.compute (threads that share the machine) comes before them all: it must load before XGBoost does.
STAGES = ("compute", "errors", "text", "data", "models", "act", "flow", "scale", "cli")


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "lib" and len(parts) > 1 else None


def _lib_imports(path) -> set[str]:
    """Every ``lib.<stage>...`` module a file imports (``from lib import x`` counts as ``lib.x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lib.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lib":
            found |= {f"lib.{a.name}" for a in node.names} if node.module == "lib" else {node.module}
    return found


def test_lib_is_grouped_by_stage_and_each_stage_imports_only_earlier_ones():
    lib = ROOT / "lib"
    folders = {p.name for p in lib.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(STAGES) - {"compute", "errors"}, folders
    loose = {p.stem for p in lib.glob("*.py")} - {"__init__"}
    assert loose == {"compute", "errors"}, loose  # every other module lives in its stage's folder
    offenders = []
    for path in lib.rglob("*.py"):
        rel = path.relative_to(lib)
        mine = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        mine = STAGES[0] if mine == "__init__" else mine  # lib/__init__.py may load lib.compute only
        for module in _lib_imports(path):
            theirs = _stage(module)
            if theirs not in STAGES or STAGES.index(theirs) > STAGES.index(mine):
                offenders.append(f"{rel} imports {module}")
    assert offenders == []


def test_lib_never_imports_the_pages_and_pages_use_lib_through_its_stages():
    for path in (ROOT / "lib").rglob("*.py"):
        assert "pages" not in _imports(path), path
    for path in (ROOT / "pages").glob("*.py"):
        assert all(_stage(m) in STAGES for m in _lib_imports(path)), path


def test_no_lib_module_is_over_600_lines():
    """Big concepts are small packages split by concept (STYLE.md), not one long file."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "lib").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}


def test_pages_compose_no_pipeline_step_themselves():
    """The order of the steps and the hand-offs between them live in lib/flow/pipeline.py: pages call its
    steps (through pages/steps.py), never the modelling functions those steps are made of."""
    step_internals = {"train_propensity", "segment_clusters", "segment_rfm", "customers_from_transactions",
                      "assess_quality", "infer_schema", "explain", "reason_codes", "build_list",
                      "repurchase_training_frame", "pick_id_column"}
    for page in (ROOT / "pages").glob("*.py"):
        tree = ast.parse(page.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lib."):
                used = {a.name for a in node.names} & step_internals
                if page.name == "steps.py":
                    used -= {"infer_schema"}  # the roles of a scored file, for the Target list's column boxes
                assert not used, f"{page.name} imports {used} from {node.module}: call lib.flow.pipeline's step"


def test_requirements_are_pinned_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.]*", line), line


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, pinned = line.strip().split("==")
            assert version(name) == pinned, name


def test_code_is_ruff_clean():
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    ruff = Path(sys.executable).parent / "ruff"
    ruff = str(ruff) if ruff.exists() else shutil.which("ruff")
    assert ruff, "ruff is in requirements-dev.txt"
    proc = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_no_unsafe_deserialisation_anywhere():
    """User files are never unpickled; models live in XGBoost's JSON format."""
    pattern = re.compile(r"pickle|joblib\.load|read_pickle|allow_pickle\s*=\s*True|cloudpickle|dill")
    offenders = [p.name for folder in ("lib", "pages") for p in (ROOT / folder).rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []
