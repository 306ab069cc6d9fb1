"""Re-execute the tutorials at full size, in place, from the current code: the release routine.

Each notebook runs top to bottom in a fresh kernel. The run fails on any error, and on any
warning that scgroove's own code issued or that a tutorial cell's call raised (a line
``.../scgroove/...py:N: ...Warning`` or ``ipykernel_.../....py:N: ...Warning`` in a cell's output);
warnings raised inside other libraries are listed but allowed. Each notebook that passes is written back
with its outputs and stamped with the hash of its code cells and the run's time, in
``metadata["scgroove"]``; ``tests/test_tutorials.py`` fails when a committed notebook's code no
longer matches its stamp, so no stale output goes unnoticed.

    python scripts/execute_tutorials.py              # every tutorial
    python scripts/execute_tutorials.py screens      # the named ones
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
#: scgroove's own warnings: issued in its code, or attributed to the tutorial's cell that called it
#: (scgroove warns with ``stacklevel`` pointing at the caller, which in a kernel is ``ipykernel_N/M.py``).
OWN_WARNING = re.compile(r"(scgroove/[\w/]+\.py|ipykernel_\d+/\d+\.py):\d+: \w*Warning.*")
ANY_WARNING = re.compile(r"\S+\.py:\d+: \w*Warning.*")


def code_hash(notebook) -> str:
    """What the stamp records: the SHA-256 of the code cells' sources, in order."""
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def warnings_in(notebook) -> list[str]:
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                found += ANY_WARNING.findall(output.get("text", ""))
    return found


def figures_without_image(notebook) -> int:
    """Outputs that name a matplotlib figure but carry no image (a non-inline backend was active)."""
    missing = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "<Figure size" in data.get("text/plain", "") and "image/png" not in data:
                missing += 1
    return missing


def execute(path: Path) -> tuple[float, list[str]]:
    notebook = nbformat.read(path, as_version=4)
    os.environ.pop("MPLBACKEND", None)  # the kernel inherits it; figures need the inline backend
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    seconds = time.perf_counter() - start
    found = warnings_in(notebook)
    if figures_without_image(notebook):
        raise RuntimeError(f"{path.name}: figures were drawn without images (is MPLBACKEND set?)")
    own = [w for w in found if OWN_WARNING.search(w)]
    if own:
        raise RuntimeError(f"{path.name}: scgroove warned while the tutorial ran:\n  " + "\n  ".join(own))
    notebook.metadata["scgroove"] = {
        "code_sha256": code_hash(notebook),
        "executed": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
    }
    nbformat.write(notebook, path)
    return seconds, found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="tutorial names without .ipynb (default: all)")
    args = parser.parse_args(argv)
    paths = [TUTORIALS / f"{name}.ipynb" for name in args.names] or sorted(TUTORIALS.glob("*.ipynb"))
    for path in paths:
        seconds, found = execute(path)
        print(f"{path.name}: {seconds:.0f} s, {len(found)} third-party warning(s)")
        for warning in sorted(set(found)):
            print("   ", warning[:160])
    return 0


if __name__ == "__main__":
    sys.exit(main())
