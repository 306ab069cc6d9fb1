"""Training plans."""

from scgroove.train._training_plan import GROOVETrainingPlan

__all__ = ["GROOVETrainingPlan"]
