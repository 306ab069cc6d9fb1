from pathlib import Path

import mudata as md
import pytest
import torch

import scgroove as sg

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

md.set_options(pull_on_update=False)


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available (expects ../shared/data beside the checkout)")
    return path


@pytest.fixture
def small_mdata():
    """A small simulated screen: 6 perturbations + control, counts RNA and continuous protein, n1 != n2."""
    return sg.datasets.simulate(
        n_perturbations=6,
        cells_per_perturbation=40,
        n_features={"rna": 60, "protein": 12},
        keep_fraction=(0.9, 0.8),
        seed=1,
    )


@pytest.fixture
def gpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device("cuda")
