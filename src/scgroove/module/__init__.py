"""Torch modules: encoders, decoders, likelihoods and the GROOVE module."""

from scgroove.module._adversarial_vae import AdversarialVAEModule
from scgroove.module._base import PairedAutoencoderModule
from scgroove.module._groove_module import GROOVEModule
from scgroove.module._likelihoods import LIKELIHOODS, choose_likelihood

__all__ = ["AdversarialVAEModule", "GROOVEModule", "LIKELIHOODS", "PairedAutoencoderModule", "choose_likelihood"]
