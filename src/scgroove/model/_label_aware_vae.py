"""LabelAwareVAE: the adversarial VAE baseline as a model with GROOVE's data handling and results API."""

from __future__ import annotations

from scgroove.model._base import WeaklyPairedModel
from scgroove.module import AdversarialVAEModule


class LabelAwareVAE(WeaklyPairedModel):
    """Label-aware VAE with an adversarial modality classifier (a baseline for GROOVE).

    One VAE per modality into one latent space; a label classifier shared by both modalities
    and a modality classifier behind a gradient-reversal layer pull the modalities together (see
    :class:`scgroove.module.AdversarialVAEModule`). Set up, trained and used exactly like
    :class:`~scgroove.GROOVE` (``setup_mudata``, ``train``, ``get_latent_representation``,
    ``align``, ``impute`` ...); the latent representation is the posterior mean.

    Parameters
    ----------
    mdata
        MuData registered with :meth:`setup_mudata`.
    n_latent, likelihoods, registry, contrast_groups
        As in :class:`~scgroove.GROOVE`.
    **module_kwargs
        Hyperparameters of :class:`scgroove.module.AdversarialVAEModule`: ``n_hidden``,
        ``n_layers``, ``dropout_rate``, ``kl_weight`` (1: the ELBO, per feature), ``label_weight``
        (shared label classifier), ``adversarial_weight`` (modality adversary).

    Examples
    --------
    >>> import scgroove as sg
    >>> mdata = sg.datasets.simulate(seed=0)
    >>> sg.LabelAwareVAE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    >>> model = sg.LabelAwareVAE(mdata)
    >>> model.train(max_epochs=20)
    """

    _module_cls = AdversarialVAEModule

    def _registry_module_kwargs(self) -> dict:
        return {"n_labels": len(self._label_categories())}
