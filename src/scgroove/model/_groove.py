"""GROOVE: the scvi-tools model class that users call."""

from __future__ import annotations

from scgroove.model._base import WeaklyPairedModel
from scgroove.module import GROOVEModule


class GROOVE(WeaklyPairedModel):
    """GroupCLIP + backtranslating autoencoder for two weakly paired modalities.

    The two modalities hold different cells, linked only by the perturbation label of each cell.
    One encoder and one decoder per modality map into one shared latent space, trained on
    group-balanced batches with two optimizer steps each: (1) reconstruction of both modalities
    plus ``alpha`` times the contrast, by default structure-guided GroupCLIP
    (:func:`scgroove.losses.guided_clip_loss`), whose positives are cells of the other modality
    with the same label, weighted by a guide coupling; (2) ``beta`` times the backtranslation
    loss: cells are translated to the other modality in inference mode and must be reconstructed
    when translated back.

    Parameters
    ----------
    mdata
        MuData registered with :meth:`setup_mudata`.
    n_latent
        Dimension of the shared latent space.
    likelihoods
        Reconstruction likelihood per modality name: ``"nb"`` (counts, library-size aware),
        ``"normal"`` (continuous, standardised per feature) or ``"bernoulli"`` (binary). Modalities
        not given are chosen from the data: binary -> bernoulli, non-negative integers -> nb,
        anything else -> normal.
    registry
        A saved registry, used by :meth:`load` to build the model without data.
    contrast_groups
        Perturbation label -> contrast group (``None``: not trained on), the unit GroupCLIP and
        the group-balanced batches work on. Default: what :meth:`setup_mudata` decided from
        ``group_key``, ``control_label`` and ``null_perturbations`` (``mdata.uns["groove"]["screen"]``);
        labels not named are their own group. Saved with the model.
    **module_kwargs
        Hyperparameters of :class:`scgroove.module.GROOVEModule`, documented there once:
        ``n_hidden``, ``n_layers``, ``dropout_rate`` (network shape); ``alpha`` (contrast weight,
        paper default 1), ``beta`` (backtranslation weight); ``temperature``, ``variant``,
        ``similarity``; ``contrast`` (``"guided"`` default, ``"group"``: plain GroupCLIP, the
        default up to 0.1; ``"instance"``, ``"within"``, ``"ot_refined"`` for ablations) with
        ``ot_warmup_epochs``/``ot_epsilon``; ``projection_head`` (default ``True``);
        ``geometry_weight``, ``distribution_weight``/``distribution_epsilon``, ``cycle_weight``
        (optional within-group terms, 0 = off); ``use_reconstruction``, ``use_contrast``,
        ``use_backtranslation`` (ablations).

    Examples
    --------
    >>> import scgroove as sg
    >>> mdata = sg.datasets.simulate(seed=0)
    >>> sg.GROOVE.setup_mudata(mdata, perturbation_key="perturbation", modalities=("rna", "protein"))
    >>> model = sg.GROOVE(mdata, n_latent=16)
    >>> model.train(max_epochs=20)
    >>> model.write_latent()  # mdata["rna"].obsm["X_groove"], mdata["protein"].obsm["X_groove"]
    """

    _module_cls = GROOVEModule
