import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scgroove as sg


def make(n1=30, n2=20, labels1=None, labels2=None, x1=None, x2=None, names2=None):
    rng = np.random.default_rng(0)
    labels1 = labels1 if labels1 is not None else np.array(["a", "b", "c"])[np.arange(n1) % 3]
    labels2 = labels2 if labels2 is not None else np.array(["a", "b", "c"])[np.arange(n2) % 3]
    x1 = x1 if x1 is not None else rng.poisson(2, (n1, 15)).astype(np.float32)
    x2 = x2 if x2 is not None else rng.normal(size=(n2, 4)).astype(np.float32)
    rna = ad.AnnData(
        x1,
        var=pd.DataFrame(index=[f"g{j}" for j in range(x1.shape[1])]),
        obs=pd.DataFrame({"perturbation": labels1}, index=[f"r{i}" for i in range(x1.shape[0])]),
    )
    protein = ad.AnnData(
        x2,
        var=pd.DataFrame(index=[f"adt{j}" for j in range(x2.shape[1])]),
        obs=pd.DataFrame(
            {"perturbation": labels2}, index=names2 if names2 is not None else [f"p{i}" for i in range(x2.shape[0])]
        ),
    )
    return md.MuData({"rna": rna, "protein": protein})


def setup(mdata, **kwargs):
    kwargs.setdefault("perturbation_key", "perturbation")
    kwargs.setdefault("modalities", ("rna", "protein"))
    sg.GROOVE.setup_mudata(mdata, **kwargs)


def test_valid_input_is_accepted():
    mdata = make()
    setup(mdata)
    model = sg.GROOVE(mdata)
    assert model.module.heads["1"].name == "nb" and model.module.heads["2"].name == "normal"


@pytest.mark.parametrize(
    "build, kwargs, error, message",
    [
        (make, {"modalities": ("rna", "atac")}, KeyError, "'atac' not found"),
        (make, {"modalities": ("rna", "rna")}, ValueError, "two different"),
        (make, {"perturbation_key": "guide"}, KeyError, "'guide' not found in mdata\\['rna'\\]"),
        (lambda: make(labels1=np.array(["a", None, "b"] * 10, dtype=object)), {}, ValueError, "10 missing values"),
        (lambda: make(labels2=np.array(["x", "y"] * 10)), {}, ValueError, "No value of 'perturbation' occurs in both"),
        (lambda: make(labels1=np.array(["a"] * 30), labels2=np.array(["a"] * 20)), {}, ValueError, "at least two"),
        (lambda: make(x2=np.full((20, 4), np.nan, dtype=np.float32)), {}, ValueError, "'protein'.*80 NaN"),
        (lambda: make(x1=np.full((30, 15), np.inf, dtype=np.float32)), {}, ValueError, "'rna'.*infinite"),
        (lambda: make(names2=[f"r{i}" for i in range(20)]), {}, ValueError, "20 obs names occur in both"),
        (
            lambda: make(n2=0, labels2=np.array([], dtype=str), x2=np.zeros((0, 4), np.float32)),
            {},
            ValueError,
            "'protein' has no cells",
        ),
        (make, {"layers": {"rna": "counts"}}, KeyError, "Layer 'counts' not found in modality 'rna'"),
        (make, {"layers": {"atac": "counts"}}, KeyError, "not in modalities"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(build, kwargs, error, message):
    mdata = build()
    before = {m: mdata[m].obs.copy() for m in mdata.mod}
    with pytest.raises(error, match=message):
        setup(mdata, **kwargs)
    for m in mdata.mod:
        pd.testing.assert_frame_equal(mdata[m].obs, before[m])


def test_non_numeric_data_is_refused():
    mdata = make()
    mdata["protein"].layers["text"] = np.full((20, 4), "x", dtype=object)
    with pytest.raises(TypeError, match="real numbers"):
        setup(mdata, layers={"protein": "text"})


def test_negative_values_with_count_likelihood():
    mdata = make()
    setup(mdata)
    with pytest.raises(ValueError, match="'protein' has negative values.*'nb'"):
        sg.GROOVE(mdata, likelihoods={"protein": "nb"})
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'"):
        sg.GROOVE(mdata, likelihoods={"rna": "poisson"})
    with pytest.raises(KeyError, match="atac"):
        sg.GROOVE(mdata, likelihoods={"atac": "nb"})
    with pytest.raises(ValueError, match="above 1"):
        sg.GROOVE(mdata, likelihoods={"rna": "bernoulli"})


def test_anndata_is_refused():
    with pytest.raises(TypeError, match="setup_mudata"):
        sg.GROOVE.setup_anndata(ad.AnnData(np.ones((2, 2))))


def test_likelihoods_are_chosen_from_data():
    binary = (np.random.default_rng(0).random((30, 15)) > 0.5).astype(np.float32)
    mdata = make(x1=sp.csr_matrix(binary))
    setup(mdata)
    model = sg.GROOVE(mdata)
    assert model.module.heads["1"].name == "bernoulli"
    assert sg.GROOVE(mdata, likelihoods={"rna": "normal"}).module.heads["1"].name == "normal"
