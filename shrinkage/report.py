"""Text, JSON and table views of a fit (:class:`shrinkage.fit.MixedFit`).

The functions read a fit's attributes only, so this module imports nothing from
:mod:`shrinkage.fit`; the fit's ``summary()`` and ``to_dict()`` call into it.
"""

import math

import numpy as np


def _number_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def json_ready(data):
    """``data`` with every float that JSON cannot hold (NaN, infinities) as ``None``.

    JSON has no NaN or Infinity; ``json.dumps`` would write them all the same, and many
    readers then fail on the file.
    """
    if isinstance(data, dict):
        return {key: json_ready(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_ready(value) for value in data]
    if isinstance(data, (bool, np.bool_)):
        return bool(data)
    if isinstance(data, (int, np.integer)):
        return int(data)
    if isinstance(data, (float, np.floating)):
        return _number_or_none(data)
    return data


def _label(value):
    """A cluster label as plain JSON data, kept as it is (text, integer or float)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value) if abs(value) < 2**53 else value
    return value if isinstance(value, (int, float, str)) else str(value)


def fit_to_dict(fit):
    """Return ``fit`` as plain data, in the layout of lme4's reference JSON.

    Keys: ``formula, model, method, nobs, ngroups, converged, singular,
    criterion, loglik, df, aic, bic, scaled_residual_quantiles, fixed_effects,
    variance, clusters``, and ``reml_criterion`` for a REML fit; the fixed effects
    are named ``Intercept`` and after the predictor.  Estimates that do not exist (a
    slope for a one-observation cluster, a correlation when a variance is zero) are
    ``None``.
    """
    fixed = {name: {key: _number_or_none(row[key]) for key in ("estimate", "std_error", "t_value")}
             for name, row in fit.fixed_effects.iterrows()}
    clusters = [
        {"cluster": _label(row.cluster), "n": int(row.n),
         "ols_intercept": _number_or_none(row.ols_intercept),
         "ols_slope": _number_or_none(row.ols_slope),
         "mixed_intercept": float(row.mixed_intercept),
         "mixed_slope": float(row.mixed_slope)}
        for row in fit.clusters.itertuples()]
    return {
        "columns": dict(fit.names),
        "formula": fit.formula,
        "model": fit.model,
        "method": fit.method,
        "dropped": fit.dropped,
        "nobs": fit.nobs,
        "ngroups": fit.ngroups,
        "converged": fit.converged,
        "singular": fit.singular,
        "criterion": fit.criterion,
        **({"reml_criterion": fit.criterion} if fit.method == "REML" else {}),
        "loglik": fit.loglik,
        "df": fit.df,
        "aic": fit.aic,
        "bic": fit.bic,
        "scaled_residual_quantiles": [float(q) for q in fit.scaled_residual_quantiles],
        "fixed_effects": fixed,
        "variance": {key: _number_or_none(value) for key, value in fit.variance.items()},
        "clusters": clusters,
    }


def _number(value, width, digits):
    """Fixed-point like R's print, switching to scientific where fixed point shows nothing."""
    value = float(value)
    text = f"{value:{width}.{digits}f}"
    if value != 0 and (abs(value) < 10 ** -digits or len(text) > width):
        text = f"{value:{width}.{max(digits - 2, 2)}e}"
    return f"{text:>{width}}"


def lme4_label(name):
    """A fixed effect's name as lme4 prints it: ``Intercept`` is ``(Intercept)``."""
    return "(Intercept)" if name == "Intercept" else str(name)


def summary_text(fit):
    """Return ``fit`` laid out like R's ``summary(lmer(y ~ x + (x | cluster)))``.

    Precision follows the article's printed table: criterion to 0.1, variances
    and standard deviations to 4 decimals, the correlation to 2, fixed effects
    and their standard errors to 5, t values to 2.
    """
    v = fit.variance
    corr = "" if math.isnan(v["correlation"]) else f"{v['correlation']:.2f}"
    q = fit.scaled_residual_quantiles
    fe = fit.fixed_effects
    x, cluster = fit.names["x"], fit.names["cluster"]
    labels = [lme4_label(name) for name in fe.index]
    # Columns as wide as the data's own names need, at least as wide as lme4's.
    group = max(9, len(cluster) + (3 if fit.model == "uncorrelated" else 1))
    name = max(12, len(str(x)) + 1)
    label_width = max(12, *(len(label) + 1 for label in labels))
    if fit.method == "REML":
        lines = ["Linear mixed model fit by REML", f"Formula: {fit.formula}", "",
                 f"REML criterion at convergence: {fit.criterion:.1f}", ""]
    else:  # lme4's information-criteria table for ML fits
        lines = ["Linear mixed model fit by maximum likelihood", f"Formula: {fit.formula}", "",
                 "".join(f"{label:>9}" for label in ("AIC", "BIC", "logLik", "deviance",
                                                      "df.resid")),
                 "".join(f"{value:9.1f}" for value in (fit.aic, fit.bic, fit.loglik,
                                                       fit.criterion))
                 + f"{fit.nobs - fit.df:9d}", ""]
    slope_row = {
        "slope": f" {'':<{group}}{x:<{name}}" if fit.model == "slope" else "",
        # lme4 prints uncorrelated terms as two groups, the second named "cluster.1".
        "uncorrelated": f" {cluster + '.1':<{group}}{x:<{name}}" if x else "",
    }.get(fit.model, "")
    lines += [
        "Scaled residuals:",
        "".join(f"{label:>9}" for label in ("Min", "1Q", "Median", "3Q", "Max")),
        "".join(f"{value:9.4f}" for value in q),
        "",
        "Random effects:",
        f" {'Groups':<{group}}{'Name':<{name}}{'Variance':>9}{'Std.Dev.':>9}"
        + (f"{'Corr':>6}" if fit.model == "slope" else ""),
        f" {cluster:<{group}}{'(Intercept)':<{name}}{_number(v['intercept'], 9, 4)}"
        f"{_number(math.sqrt(v['intercept']), 9, 4)}",
        *([f"{slope_row}{_number(v['slope'], 9, 4)}"
           f"{_number(math.sqrt(v['slope']), 9, 4)}"
           + (f"{corr:>6}" if fit.model == "slope" else "")] if slope_row else []),
        f" {'Residual':<{group + name}}{_number(v['residual'], 9, 4)}"
        f"{_number(math.sqrt(v['residual']), 9, 4)}",
        f"Number of obs: {fit.nobs}, groups:  {cluster}, {fit.ngroups}",
        "",
        "Fixed effects:",
        f"{'':<{label_width}}{'Estimate':>9}{'Std. Error':>11}{'t value':>8}",
    ]
    for (_, row), label in zip(fe.iterrows(), labels):
        lines.append(f"{label:<{label_width}}{_number(row.estimate, 9, 5)}"
                     f"{_number(row.std_error, 11, 5)}{row.t_value:8.2f}")
    if fit.dropped:
        rows = "1 row" if fit.dropped == 1 else f"{fit.dropped} rows"
        lines += ["", f"{rows} with missing values left out"]
    if fit.singular:
        lines += ["", "boundary (singular) fit: a variance is estimated at zero or the "
                  "correlation at +-1"]
    return "\n".join(lines)


def parameter_recovery(fit, settings):
    """Compare the mixed model's estimates with the values the data were drawn from.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    settings : shrinkage.Settings
        The settings the data came from.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, columns ``true`` and ``estimate``.  The true
        correlation is ``cor / (sd_int * sd_slope)``, since ``cor`` is a covariance.
    """
    import pandas as pd

    v = fit.variance
    sd_product = settings.sd_int * settings.sd_slope
    rows = {
        "intercept": (settings.intercept, fit.fixed_effects["estimate"].iloc[0]),
        "beta (slope of x)": (settings.beta, fit.fixed_effects["estimate"].iloc[1]),
        "sd_int": (settings.sd_int, math.sqrt(v["intercept"])),
        "sd_slope": (settings.sd_slope, math.sqrt(v["slope"])),
        "correlation": (settings.cor / sd_product if sd_product else float("nan"),
                        v["correlation"]),
        "sigma": (settings.sigma, math.sqrt(v["residual"])),
    }
    table = pd.DataFrame(rows, index=["true", "estimate"]).T
    table.index.name = "parameter"
    return table


# What the validation compares, and the tolerance the tests hold each group to.
TOLERANCES = {"REML criterion": 0.01, "fixed effect": 1e-3, "standard error": 1e-3,
              "variance component": 2e-3, "cluster estimate": 5e-3}


def compare_fits(fit, reference):
    """Set a fit beside another fit's numbers, quantity by quantity.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    reference : dict
        Another fit in the layout of :func:`fit_to_dict` (lme4's reference JSON has
        it), or the part of it that exists: ``reml_criterion``, ``fixed_effects``,
        ``variance`` and optionally ``clusters``.

    Returns
    -------
    pandas.DataFrame
        One row per quantity: ``group`` (a key of ``TOLERANCES``), ``ours``,
        ``reference`` and ``difference`` (ours minus reference).  Cluster estimates
        appear as one row, the largest absolute difference over clusters.
    """
    import pandas as pd

    rows = [("REML criterion", "REML criterion", fit.reml_criterion,
             reference["reml_criterion"])]
    # By position: a reference may name the slope "x" (lme4's files) or after the predictor.
    theirs = list(reference["fixed_effects"].values())
    for (name, ours), other in zip(fit.fixed_effects.iterrows(), theirs):
        label = lme4_label(name)
        rows.append(("fixed effect", f"{label}", ours["estimate"], other["estimate"]))
        rows.append(("standard error", f"SE {label}", ours["std_error"], other["std_error"]))
    for key in ("intercept", "slope", "covariance", "residual"):
        rows.append(("variance component", f"{key} variance" if key != "covariance"
                     else "covariance", fit.variance[key], reference["variance"][key]))
    rows = [(*row, row[2] - row[3]) for row in rows]
    if reference.get("clusters"):
        ref = pd.DataFrame(reference["clusters"]).set_index("cluster")
        ours = fit.clusters.set_index("cluster")
        columns = ["mixed_intercept", "mixed_slope"]
        gap = (ours[columns] - ref.loc[ours.index, columns]).abs().to_numpy().max()
        rows.append(("cluster estimate", "largest cluster estimate gap", None, None, gap))
    return pd.DataFrame(rows, columns=["group", "quantity", "ours", "reference", "difference"]
                        ).set_index("quantity")


def statsmodels_to_dict(result):
    """A statsmodels ``MixedLMResults`` of ``y ~ x`` with ``re_formula="~x"`` as plain data.

    The keys are those :func:`compare_fits` reads (the layout of :func:`fit_to_dict`):
    ``reml_criterion`` is ``-2 * result.llf``; the cluster estimates are
    ``fe_params`` plus each group's ``random_effects``.
    """
    fe, se, cov = result.fe_params, result.bse_fe, result.cov_re.to_numpy()
    names = list(fe.index)
    clusters = [{"cluster": group, "mixed_intercept": float(fe.iloc[0] + effects.iloc[0]),
                 "mixed_slope": float(fe.iloc[1] + effects.iloc[1])}
                for group, effects in result.random_effects.items()]
    return {
        "reml_criterion": -2 * float(result.llf),
        "fixed_effects": {key: {"estimate": float(fe[name]), "std_error": float(se[name])}
                          for key, name in zip(("Intercept", "x"), names)},
        "variance": {"intercept": float(cov[0, 0]), "slope": float(cov[1, 1]),
                     "covariance": float(cov[0, 1]), "residual": float(result.scale)},
        "clusters": clusters,
    }
