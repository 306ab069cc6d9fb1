"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from contextlib import contextmanager


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timer():
    """``with timer() as t: ...; t()`` gives the elapsed seconds."""
    start = time.perf_counter()
    elapsed = {}
    yield lambda: elapsed.get("s", time.perf_counter() - start)
    elapsed["s"] = time.perf_counter() - start


def in_fresh_process(module: str, function: str, **kwargs) -> dict:
    """Run ``module.function(**kwargs)`` in a new interpreter, so its peak memory is its own."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r}); "
        f"from {module} import {function}; print('RESULT', json.dumps({function}(**{kwargs!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
