"""LabelAwareVAE: the adversarial VAE baseline as a model with GROOVE's data handling and results API."""

from __future__ import annotations

from collections.abc import Mapping

from mudata import MuData

from scgroove._constants import REGISTRY_KEYS
from scgroove.model._groove import GROOVE
from scgroove.module._adversarial_vae import AdversarialVAEModule


class LabelAwareVAE(GROOVE):
    """Label-aware VAE with an adversarial modality classifier (a baseline for GROOVE).

    One VAE per modality into one latent space; a label classifier shared by both modalities
    and a modality classifier behind a gradient-reversal layer pull the modalities together (see
    :class:`scgroove.module.AdversarialVAEModule`). Set up, trained and used exactly like
    :class:`GROOVE` (``setup_mudata``, ``train``, ``get_latent_representation``, ``align``,
    ``impute`` ...); the latent representation is the posterior mean.

    Parameters
    ----------
    mdata
        MuData registered with :meth:`setup_mudata`.
    n_latent, n_hidden, n_layers, dropout_rate, likelihoods
        As in :class:`GROOVE`.
    kl_weight
        Weight of the KL term (1: the ELBO, per feature).
    label_weight
        Weight of the shared label classifier's cross-entropy.
    adversarial_weight
        Weight of the modality adversary's cross-entropy.
    registry
        A saved registry, used by :meth:`load`.

    Examples
    --------
    >>> import scgroove as sg
    >>> mdata = sg.datasets.simulate(seed=0)
    >>> sg.LabelAwareVAE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    >>> model = sg.LabelAwareVAE(mdata)
    >>> model.train(max_epochs=20)
    """

    _module_cls = AdversarialVAEModule

    def __init__(
        self,
        mdata: MuData | None = None,
        n_latent: int = 32,
        n_hidden: int = 256,
        n_layers: int = 2,
        dropout_rate: float = 0.1,
        likelihoods: Mapping[str, str] | None = None,
        kl_weight: float = 1.0,
        label_weight: float = 1.0,
        adversarial_weight: float = 1.0,
        registry: dict | None = None,
    ):
        likelihoods = self._start(mdata, registry, likelihoods)
        self._save_init_params(locals(), likelihoods)
        n_labels = len(self.adata_manager.get_state_registry(REGISTRY_KEYS.LABELS_1).categorical_mapping)
        self.module = self._build_module(
            likelihoods,
            n_labels=n_labels,
            n_latent=n_latent,
            n_hidden=n_hidden,
            n_layers=n_layers,
            dropout_rate=dropout_rate,
            kl_weight=kl_weight,
            label_weight=label_weight,
            adversarial_weight=adversarial_weight,
        )
        self._model_summary_string = (
            f"LabelAwareVAE: {self.modalities[0]} ({likelihoods[self.modalities[0]]}) + "
            f"{self.modalities[1]} ({likelihoods[self.modalities[1]]}), n_latent={n_latent}; "
            f"kl_weight={kl_weight}, label_weight={label_weight}, adversarial_weight={adversarial_weight}."
        )
