"""How much within-group geometry do the two modalities share? The hidden pairs' distances, compared.

For each coarse real set (seed 0 of ``unpair``) and each group, the Pearson correlation between the
distances of the hidden pairs' cells in modality 1's PCA and in modality 2's PCA (the cells of
modality 1 with a partner); the cell-weighted mean over groups of at least 10 such cells. Near 0:
the modalities' structures inside a group have little in common, and no aligner that works from
within-group structure (GW, a shared map, a guided latent) can find the partners there.

    python benchmarks/shared_geometry.py
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from within_group_screen import load, make_truth

from scgroove.benchmark._runner import quiet_libraries

SETS = ("bmmc_cite_lineage", "cbmc_cite_1182", "bmmc_multiome_lineage", "papalexi_panels")
MIN_CELLS = 10


def shared_geometry(dataset: str, seed: int = 0) -> tuple[float, dict[str, float]]:
    with quiet_libraries():
        mdata, key, modalities = load(dataset, seed)
        truth = make_truth(mdata, key, modalities)
    (x1, x2), match, labels = truth["pca"], truth["match"], truth["labels"][0]
    per_group, weights = {}, []
    for label in np.unique(labels):
        cells = np.flatnonzero((match >= 0) & (labels == label))
        if len(cells) >= MIN_CELLS:
            per_group[str(label)] = float(np.corrcoef(pdist(x1[cells]), pdist(x2[match[cells]]))[0, 1])
            weights.append(len(cells))
    return float(np.average(list(per_group.values()), weights=weights)), per_group


if __name__ == "__main__":
    for name in SETS:
        mean, groups = shared_geometry(name)
        print(f"{name}: {mean:.3f} over {len(groups)} groups (cell-weighted mean)")
