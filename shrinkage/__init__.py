"""Shrinkage in mixed models: data, fits and animations for the book."""
from .data import SCENARIOS, Settings, create_data, simulate
from .fit import ConvergenceError, MixedFit, UnidentifiableError, fit_models, no_pooling

__all__ = ["SCENARIOS", "Settings", "create_data", "simulate", "ConvergenceError",
           "MixedFit", "UnidentifiableError", "fit_models", "no_pooling"]
