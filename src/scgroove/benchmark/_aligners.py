"""The benchmark's aligners: methods of :func:`scgroove.align.align` with fixed options, and peers' solvers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scgroove.align import METHODS, default_params

#: Structure weights tried by ``labeled_fgw_auto`` in the benchmark.
AUTO_ALPHAS = (0.0, 0.5, 1.0)
#: Epsilon grids are the aligner's default times these factors (quadratic methods regularise a
#: normalised structure cost and need smaller values).
EPSILON_FACTORS = {"linear": (0.2, 1.0, 4.0), "quadratic": (0.5, 1.0, 5.0)}


@dataclass(frozen=True)
class BenchmarkAligner:
    """How the benchmark runs one aligner.

    Attributes
    ----------
    method
        The method of :func:`scgroove.align.align`.
    options
        Fixed keyword arguments of that method.
    fused
        The latent cost is fused with each modality's own 30-PC geometry (``structure1``/``2``).
    relearn_rule
        ``alpha="auto"`` scored on latents re-learnt from the merged labels, so the held-out
        label resolution rule is fair to learners trained on the labels.
    solver
        A peer tool's solver instead of :func:`scgroove.align.align` (an optional dependency):
        ``solver(x1, x2, labels1, labels2, epsilon=...)`` returns a
        :class:`~scgroove.align.Coupling`. ``method`` then names it, and ``epsilon`` is its
        default.
    epsilon
        The default epsilon of a ``solver``; methods of :func:`~scgroove.align.align` read theirs
        from the aligner's signature.
    """

    method: str
    options: dict = field(default_factory=dict)
    fused: bool = False
    relearn_rule: bool = False
    solver: Callable | None = None
    epsilon: float | None = None

    @property
    def default_epsilon(self) -> float | None:
        """The method's own default epsilon (``None``: it has none, e.g. kNN)."""
        if self.solver is not None:
            return self.epsilon
        return default_params(self.method).get("epsilon")

    @property
    def epsilon_grid(self) -> list[float | None]:
        """The epsilons the benchmark tries: the default and a smaller and a larger value."""
        default = self.default_epsilon
        if default is None:
            return [None]
        family = "quadratic" if "gw" in self.method or self.method in PEER_ALIGNERS else "linear"
        return [float(f"{default * factor:.6g}") for factor in EPSILON_FACTORS[family]]


def _moscot_solver(mode: str) -> Callable:
    """A solver posing moscot's translation problem in ``mode``, imported when it runs.

    See :func:`scgroove.benchmark._external.moscot_coupling`.
    """

    def solve(x1, x2, labels1, labels2, epsilon: float):  # the grid passes the aligner's epsilon
        from scgroove.benchmark._external import moscot_coupling

        return moscot_coupling(x1, x2, labels1, labels2, mode=mode, epsilon=epsilon)

    return solve


#: moscot's translation problem as a peer aligner, in the three ways a user could pose it.
PEER_ALIGNERS = {f"moscot_{mode}": mode for mode in ("gw", "fgw_labels", "per_label")}

ALIGNERS: dict[str, BenchmarkAligner] = {
    **{method: BenchmarkAligner(method) for method in METHODS if method != "labeled_fgw"},
    "labeled_fgw": BenchmarkAligner("labeled_fgw", fused=True),
    "labeled_fgw_auto": BenchmarkAligner(
        "labeled_fgw",
        {"alpha": "auto", "alpha_grid": AUTO_ALPHAS, "selection_repeats": 2},
        fused=True,
        relearn_rule=True,
    ),
    **{name: BenchmarkAligner(name, solver=_moscot_solver(mode), epsilon=0.01) for name, mode in PEER_ALIGNERS.items()},
}
#: Default epsilon of every benchmark aligner that has one, read from the aligners' signatures.
DEFAULT_EPSILON: dict[str, float] = {
    name: aligner.default_epsilon for name, aligner in ALIGNERS.items() if aligner.default_epsilon is not None
}
#: Epsilon grid of every benchmark aligner that has an epsilon.
DEFAULT_EPSILONS: dict[str, list[float]] = {name: ALIGNERS[name].epsilon_grid for name in DEFAULT_EPSILON}
