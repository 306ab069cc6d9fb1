"""Multilayer perceptrons used as encoders and decoders."""

from __future__ import annotations

from torch import nn


def mlp(
    n_input: int, n_output: int, n_hidden: int = 256, n_layers: int = 2, dropout_rate: float = 0.1
) -> nn.Sequential:
    """Linear -> LayerNorm -> ReLU -> Dropout blocks, then a final linear layer.

    Parameters
    ----------
    n_input, n_output
        Input and output widths.
    n_hidden
        Width of each hidden layer.
    n_layers
        Number of hidden layers (0 gives a linear map).
    dropout_rate
        Dropout after each hidden layer.
    """
    layers: list[nn.Module] = []
    width = n_input
    for _ in range(n_layers):
        layers += [nn.Linear(width, n_hidden), nn.LayerNorm(n_hidden), nn.ReLU(), nn.Dropout(dropout_rate)]
        width = n_hidden
    layers.append(nn.Linear(width, n_output))
    return nn.Sequential(*layers)
