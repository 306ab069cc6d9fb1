"""Refuse dense problems that would not fit in memory, saying how much they need."""

from __future__ import annotations

DEFAULT_MAX_DENSE_BYTES = 4 * 2**30


def check_dense_budget(method: str, shapes: list[tuple[int, int]], max_dense_bytes: int | None = None) -> None:
    """Raise ``MemoryError`` if dense float64 matrices of ``shapes`` exceed the budget.

    Parameters
    ----------
    method
        Aligner name, for the message.
    shapes
        Shapes of the dense matrices the method must hold at once.
    max_dense_bytes
        Budget in bytes (default 4 GiB).
    """
    budget = DEFAULT_MAX_DENSE_BYTES if max_dense_bytes is None else max_dense_bytes
    needed = sum(8 * r * c for r, c in shapes)
    if needed > budget:
        pretty = " + ".join(f"{r:,} x {c:,}" for r, c in shapes)
        raise MemoryError(
            f"Method {method!r} needs dense matrices of {pretty} entries: {needed / 2**30:.2f} GiB, "
            f"above the budget of {budget / 2**30:.2f} GiB. "
            "Use a labeled method (block sparse), subsample, or raise max_dense_bytes."
        )
