"""Registry keys and result keys, in one place."""

from typing import NamedTuple


class _RegistryKeys(NamedTuple):
    X_1: str = "x_1"
    X_2: str = "x_2"
    LABELS_1: str = "labels_1"
    LABELS_2: str = "labels_2"
    # row numbers of a batch's cells in each modality (to look up a guide coupling)
    INDICES_1: str = "indices_1"
    INDICES_2: str = "indices_2"
    # batch (donor) covariate codes of each modality, when set up with batch_key
    BATCH_1: str = "batch_1"
    BATCH_2: str = "batch_2"


class _ResultKeys(NamedTuple):
    LATENT: str = "X_groove"
    JOINT_UMAP: str = "X_groove_umap"
    COUPLED_LATENT: str = "X_groove_coupled"
    UNS: str = "groove"
    LABEL_COLUMN: str = "_groove_perturbation"
    BATCH_COLUMN: str = "_groove_batch"
    DENOISED_LAYER: str = "groove_denoised"
    IMPUTED_PREFIX: str = "groove_imputed_"
    OFF_LABEL_SHARE: str = "groove_off_label_share"


REGISTRY_KEYS = _RegistryKeys()
RESULT_KEYS = _ResultKeys()
#: Registry key of each modality's data and labels, by modality index (1 or 2).
X_KEYS = {1: REGISTRY_KEYS.X_1, 2: REGISTRY_KEYS.X_2}
LABELS_KEYS = {1: REGISTRY_KEYS.LABELS_1, 2: REGISTRY_KEYS.LABELS_2}
BATCH_KEYS = {1: REGISTRY_KEYS.BATCH_1, 2: REGISTRY_KEYS.BATCH_2}
