"""Every tutorial notebook executes (on reduced sizes) and the documentation builds without warnings."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))


def test_there_are_tutorials():
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "real_data", "benchmark"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SCGROOVE_TUTORIAL_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_committed_notebooks_have_outputs():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name} is committed without outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_come_from_the_committed_code(path):
    """scripts/execute_tutorials.py stamps the hash of the code it ran; code edited since is stale output."""
    notebook = nbformat.read(path, as_version=4)
    stamp = notebook.metadata.get("scgroove", {}).get("code_sha256")
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    now = hashlib.sha256(json.dumps(sources).encode()).hexdigest()
    assert stamp == now, (
        f"{path.name}: its code changed after it was executed (or it never was by the release routine); "
        f"run python scripts/execute_tutorials.py {path.stem}"
    )


def test_docs_build_without_warnings(tmp_path):
    if shutil.which("sphinx-build") is None and not _has_sphinx():
        pytest.fail("sphinx is not installed; install the test extra: pip install -e '.[test]'")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "api.html").exists() and (tmp_path / "tutorials" / "quickstart.html").exists()


def _has_sphinx() -> bool:
    try:
        import sphinx  # noqa: F401
    except ImportError:
        return False
    return True
