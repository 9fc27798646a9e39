"""Shrinkage in mixed models: data, fits and animations for the book.

The modules follow the book's flow, each using only the ones before it:
``rng`` and ``data`` (simulate the article's data; ``csvfile`` reads a user's file)
-> ``fit`` (no-pooling and mixed-model estimates) -> ``report``, ``measure`` and
``verdicts`` (lme4-style output, how much shrinkage and whether it pays, the prose's
draw-dependent words) and ``predict`` (uncertainty and prediction) -> ``study`` (the
same over many seeds) -> ``animate`` (the shrinkage figure and animation) ->
``figures`` (the comparisons across scenarios).  ``output`` writes every file
all-or-none.
"""
from .animate import plot_shrinkage, render_files, shrinkage_paths
from .csvfile import read_columns
from .data import SCENARIOS, Settings, create_data, lme4_fit, simulate, sleepstudy
from .fit import ConvergenceError, MixedFit, UnidentifiableError, fit_models, no_pooling
from .measure import (
                      estimation_error,
                      random_effects_ellipse,
                      shrinkage_fraction,
                      textbook_fraction,
                      textbook_fractions,
)
from .report import parameter_recovery
from .study import simulation_study, summarise_study

__all__ = ["SCENARIOS", "Settings", "create_data", "simulate", "sleepstudy", "lme4_fit", "read_columns",
           "ConvergenceError",
           "MixedFit", "UnidentifiableError", "fit_models", "no_pooling",
           "parameter_recovery", "estimation_error", "random_effects_ellipse",
           "shrinkage_fraction", "textbook_fraction", "textbook_fractions", "simulation_study",
           "summarise_study", "plot_shrinkage", "render_files", "shrinkage_paths"]
