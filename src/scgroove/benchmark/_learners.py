"""Representation learners compared by the benchmark: GROOVE, its ablations, and baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from mudata import MuData

from scgroove._mudata import relabelled_copy
from scgroove.align import one_hot_labels
from scgroove.model._guide import pca_per_modality


@dataclass
class Representation:
    """One representation per modality; ``shared`` says whether both live in one space.

    ``relearn(labels1, labels2)``, for learners that use the labels, learns the representation
    again from the same data with other labels (the held-out label resolution rule needs a
    representation that never saw the labels it is scored on); ``None`` for label-blind learners.
    """

    x1: np.ndarray
    x2: np.ndarray
    shared: bool
    relearn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None


Learner = Callable[[MuData, str, tuple[str, str], int, int], Representation]

#: GROOVE and its ablations: constructor flags of :class:`scgroove.GROOVE`. ``"groove"`` is the
#: default model (structure-guided GroupCLIP on a projection head); ``"groupclip"`` is the default
#: up to 0.1 (plain GroupCLIP on the latent itself); the contrast alternatives are variants of it.
_PLAIN = {"contrast": "group", "projection_head": False}
GROOVE_VARIANTS: dict[str, dict] = {
    "groove": {},
    "groupclip": _PLAIN,
    "no_guide": {"contrast": "group"},
    "no_projection_head": {"projection_head": False},
    "groove_out": {**_PLAIN, "variant": "out"},
    "instance_clip": {**_PLAIN, "contrast": "instance"},
    "supcon_within": {**_PLAIN, "contrast": "within"},
    "no_backtranslation": {"use_backtranslation": False},
    "no_contrast": {"use_contrast": False},
    "autoencoder": {"use_contrast": False, "use_backtranslation": False},
}


#: GROOVE options for matching cells inside groups, as benchmark learners.
WITHIN_GROUP_OPTIONS: dict[str, dict] = {
    "groove_ot_refined": {**_PLAIN, "contrast": "ot_refined"},
    "groove_geometry": {**_PLAIN, "geometry_weight": 1.0},
    "groove_tau0.5": {**_PLAIN, "temperature": 0.5},
    "groove_distribution": {"distribution_weight": 1.0},
    "groove_cycle": {"cycle_weight": 1.0},
}


def groove_learner(model_class: str = "GROOVE", **flags) -> Learner:
    """A learner that trains ``scgroove.<model_class>`` (GROOVE or LabelAwareVAE) with ``flags``."""

    def learn(mdata: MuData, key: str, modalities: tuple[str, str], seed: int, epochs: int) -> Representation:
        import scvi

        from scgroove import model as models

        scvi.settings.seed = seed
        model_cls = getattr(models, model_class)
        model_cls.setup_mudata(mdata, perturbation_key=key, modalities=modalities)
        model = model_cls(mdata, **flags)
        model.train(max_epochs=epochs, enable_progress_bar=False, seed=seed)
        z = model.get_latent_representation(mdata)

        def relearn(labels1: np.ndarray, labels2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            again = learn(relabelled_copy(mdata, key, modalities, labels1, labels2), key, modalities, seed, epochs)
            return again.x1, again.x2

        return Representation(z[modalities[0]], z[modalities[1]], shared=True, relearn=relearn)

    return learn


def pca_learner(mdata: MuData, key: str, modalities: tuple[str, str], seed: int, epochs: int) -> Representation:
    """PCA per modality: two unrelated spaces (to be matched by GW-type aligners, Ryu et al. 2024)."""
    x1, x2 = pca_per_modality(mdata, modalities)
    return Representation(x1, x2, shared=False)


def label_only_learner(mdata: MuData, key: str, modalities: tuple[str, str], seed: int, epochs: int) -> Representation:
    """One-hot labels as the 'representation': knows the group, nothing inside it (a floor)."""
    labels = [mdata.mod[m].obs[key].astype(str).to_numpy() for m in modalities]
    return Representation(*one_hot_labels(*labels), shared=True, relearn=one_hot_labels)


def uniport_learner(mdata: MuData, key: str, modalities: tuple[str, str], seed: int, epochs: int) -> Representation:
    """The external integrator uniPort (optional dependency), with the labels as its OT cost prior."""
    from scgroove.benchmark._external import uniport_latents

    x1, x2 = uniport_latents(mdata, key, modalities, seed=seed, epochs=epochs)

    def relearn(labels1, labels2):
        relabelled = relabelled_copy(mdata, key, modalities, labels1, labels2)
        return uniport_latents(relabelled, key, modalities, seed=seed, epochs=epochs)

    return Representation(x1, x2, shared=True, relearn=relearn)


def scconfluence_learner(
    mdata: MuData, key: str, modalities: tuple[str, str], seed: int, epochs: int
) -> Representation:
    """The integrator scConfluence (optional dependency), with the labels as its cross-modal cost.

    ``epochs`` is its ``max_epochs`` (it stops early on its validation loss). It needs far more
    than GROOVE: give it its own with the benchmark's ``learner_epochs = {scconfluence = 300}``,
    the setting of the comparison in ``benchmarks/results/pipelines_and_peers``.
    """
    from scgroove.benchmark._external import scconfluence_latents

    def relearn(labels1, labels2):
        relabelled = relabelled_copy(mdata, key, modalities, labels1, labels2)
        return scconfluence_latents(relabelled, key, modalities, seed=seed, epochs=epochs)

    x1, x2 = scconfluence_latents(mdata, key, modalities, seed=seed, epochs=epochs)
    return Representation(x1, x2, shared=True, relearn=relearn)


def scglue_learner(mdata: MuData, key: str, modalities: tuple[str, str], seed: int, epochs: int) -> Representation:
    """The integrator scGLUE (optional dependency), with the labels as its cell-type supervision.

    ``epochs`` caps each of its two training stages (it stops early on its validation loss);
    no feature links, so the labels are its only cross-modal information, as for every learner.
    """
    from scgroove.benchmark._external import scglue_latents

    def relearn(labels1, labels2):
        relabelled = relabelled_copy(mdata, key, modalities, labels1, labels2)
        return scglue_latents(relabelled, key, modalities, seed=seed, max_epochs=epochs)

    x1, x2 = scglue_latents(mdata, key, modalities, seed=seed, max_epochs=epochs)
    return Representation(x1, x2, shared=True, relearn=relearn)


LEARNERS: dict[str, Learner] = {
    **{name: groove_learner(**flags) for name, flags in GROOVE_VARIANTS.items()},
    **{name: groove_learner(**flags) for name, flags in WITHIN_GROUP_OPTIONS.items()},
    "label_aware_vae": groove_learner("LabelAwareVAE"),
    "pca": pca_learner,
    "label_only": label_only_learner,
    "uniport": uniport_learner,
    "scconfluence": scconfluence_learner,
    "scglue": scglue_learner,
}
#: Published integrators (optional installs; see :mod:`scgroove.benchmark._external`).
PEER_LEARNERS = ("uniport", "scconfluence", "scglue")
#: Learners that are not GROOVE or one of its ablations: GROOVE is tested against the best of these.
BASELINES = ("pca", "label_only", "autoencoder", "label_aware_vae", *PEER_LEARNERS)
