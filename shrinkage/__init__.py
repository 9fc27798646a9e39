"""Shrinkage in mixed models: data, fits and animations for the book.

The modules are layered; each imports only modules of the layers before it:

1. data: ``rng`` and ``data`` (the article's data), ``csvfile`` (a user's file),
   ``columns`` (the columns of one fit), ``formula`` (lme4's formulas), ``output`` and
   ``progress``;
2. engine: ``reml`` (the REML/ML criterion and its optimum) and ``pooling`` (no and
   complete pooling, by least squares);
3. on a fit's parts: ``report`` (lme4-style output), ``intervals`` (confidence
   intervals) and ``predict`` (conditional variances and predictions); they read a
   fit's attributes and never import ``fit``;
4. the fit: ``fit`` (``fit_models`` and ``MixedFit``, whose methods use layer 3);
5. on fits: ``measure`` (how much shrinkage, whether it pays), ``verdicts`` (the
   prose's draw-dependent words) and ``study`` (many seeds);
6. pictures: ``animate``, ``figures`` and ``explorer``; and ``cli``, the command line.
"""
from importlib.metadata import version as _version

from .animate import plot_shrinkage, render_files, shrinkage_paths
from .csvfile import read_columns
from .data import SCENARIOS, Settings, create_data, hsb, lme4_fit, simulate, sleepstudy
from .fit import ConvergenceError, MixedFit, UnidentifiableError, fit_models
from .measure import (
                      estimation_error,
                      random_effects_ellipse,
                      shrinkage_fraction,
                      textbook_fraction,
                      textbook_fractions,
)
from .pooling import no_pooling
from .report import parameter_recovery
from .study import simulation_study, summarise_study

# The version is set once, in pyproject.toml, and read from the installed metadata.
__version__ = _version("shrinkage")

__all__ = ["__version__", "SCENARIOS", "Settings", "create_data", "simulate", "sleepstudy", "hsb",
           "lme4_fit", "read_columns", "ConvergenceError",
           "MixedFit", "UnidentifiableError", "fit_models", "no_pooling",
           "parameter_recovery", "estimation_error", "random_effects_ellipse",
           "shrinkage_fraction", "textbook_fraction", "textbook_fractions", "simulation_study",
           "summarise_study", "plot_shrinkage", "render_files", "shrinkage_paths"]
