"""Ray, where a user asks for it: one way to join (or start) a Ray cluster for every caller."""

from __future__ import annotations

from types import ModuleType

#: Where per-label work runs: in this process, or as Ray tasks.
BACKENDS = ("local", "ray")


def check_backend(backend: str) -> None:
    """Refuse a backend other than ``"local"`` or ``"ray"``, naming the choices."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")


def ray_session(address: str | None = None) -> ModuleType:
    """The ``ray`` module, connected: the running session if there is one, else ``ray.init(address)``.

    ``address=None`` starts a local Ray on this machine's cores; ``"auto"`` or ``"ray://host:port"``
    joins a cluster. Raises an ImportError that says how to install Ray when it is missing.
    """
    try:
        import ray
    except ImportError as error:
        raise ImportError("backend='ray' needs Ray: pip install 'scgroove[ray]' (or 'ray[default]').") from error
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    return ray
