"""The ids of the scores against a hidden truth, and how figures and printouts name them."""

#: Every metric scored against the truth, by its id (the ``metric`` column of benchmark tables),
#: with the words shown in figures and printouts.
METRIC_NAMES = {
    "latent_foscttm": "FOSCTTM of the latents",
    "within_label_foscttm": "within-label FOSCTTM of the latents",
    "label_transfer_accuracy": "label transfer accuracy (kNN in the latent)",
    "modality_mixing": "modality mixing inside labels (1: ideal)",
    "coupled_modality_mixing": "modality mixing of the coupled latent (1: ideal)",
    "trace": "trace (mass on the true partner)",
    "trace_chance": "trace at chance (uniform within label)",
    "bary_foscttm": "barycentric FOSCTTM (target PCA)",
    "imputation_feature_pearson": "imputation: per-feature Pearson",
    "imputation_cell_pearson": "imputation: per-cell Pearson",
}
