"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from contextlib import contextmanager


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``); False where the system does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def current_peak_rss_mib() -> float:
    """Peak resident memory since the last :func:`reset_peak_rss` (Linux ``VmHWM``), else since start."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mib()


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
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": f"exit code {out.returncode} (its stderr is above)"}


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
