# Reference fits for the fit object's methods: lme4 on three real data sets, the random
# slope model y ~ x + (x | cluster) and the random intercept model y ~ x + (1 | cluster),
# each by REML and by maximum likelihood.
#
#   Rscript fit_object.R OUTDIR
#
# Writes OUTDIR/NAME.csv (the data, as R has it) and OUTDIR/NAME_object.json with, per
# model and method: logLik, AIC, BIC, the criterion (-2 logLik), fixed effects with
# standard errors, the standard deviations, correlation and residual SD, Wald intervals
# for the fixed effects (confint(fit, method = "Wald")) and profile intervals for the
# standard deviations, the correlation and sigma (confint(fit, parm = "theta_",
# method = "profile", oldNames = FALSE)).  Each model is fitted with lme4's default
# optimiser, bobyqa and Nelder-Mead, and the lowest criterion is kept: lme4's default
# can stop short of the optimum (as on BodyWeight).
#
# Made with R 4.2.2, lme4 1.1-31 and nlme 3.1-162 (Debian packages r-base-core
# r-cran-lme4 r-cran-jsonlite). The data: lme4's sleepstudy (Belenky et al. 2003),
# nlme's Orthodont (Potthoff and Roy 1964) and BodyWeight (Hand and Crowder 1996).
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(nlme)})
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]

sets <- list(
  sleepstudy = list(data = lme4::sleepstudy, y = "Reaction", x = "Days", cluster = "Subject",
                    prefix = "S"),
  Orthodont = list(data = nlme::Orthodont, y = "distance", x = "age", cluster = "Subject",
                   prefix = ""),
  BodyWeight = list(data = nlme::BodyWeight, y = "weight", x = "Time", cluster = "Rat",
                    prefix = "R"))

best_fit <- function(formula, df, reml) {
  fits <- list(
    default = lmer(formula, df, REML = reml),
    bobyqa = lmer(formula, df, REML = reml, control = lmerControl(optimizer = "bobyqa")),
    nelder_mead = lmer(formula, df, REML = reml, control = lmerControl(optimizer = "Nelder_Mead")))
  criteria <- sapply(fits, function(f) -2 * as.numeric(logLik(f)))
  list(fit = fits[[which.min(criteria)]], optimiser = names(fits)[which.min(criteria)],
       criteria = as.list(criteria))
}

interval_rows <- function(ci) {
  lapply(setNames(seq_len(nrow(ci)), rownames(ci)),
         function(i) list(lower = unname(ci[i, 1]), upper = unname(ci[i, 2])))
}

describe <- function(chosen) {
  fit <- chosen$fit
  fe <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  wald <- confint(fit, method = "Wald", parm = "beta_")
  profile_ci <- tryCatch(
    interval_rows(suppressWarnings(confint(fit, parm = "theta_", method = "profile",
                                           oldNames = FALSE))),
    error = function(e) list(error = conditionMessage(e)))
  list(
    optimiser = chosen$optimiser, criteria_by_optimiser = chosen$criteria,
    criterion = -2 * as.numeric(logLik(fit)), logLik = as.numeric(logLik(fit)),
    df = attr(logLik(fit), "df"), AIC = AIC(fit), BIC = BIC(fit),
    nobs = nobs(fit), singular = isSingular(fit),
    fixed_effects = list(
      Intercept = list(estimate = fe[1, 1], std_error = fe[1, 2], t_value = fe[1, 3]),
      x = list(estimate = fe[2, 1], std_error = fe[2, 2], t_value = fe[2, 3])),
    sd_intercept = vc$sdcor[which(vc$grp == "cluster" & vc$var1 == "(Intercept)" & is.na(vc$var2))],
    sd_slope = if (length(which(vc$grp == "cluster" & vc$var1 == "x" & is.na(vc$var2))))
      vc$sdcor[which(vc$grp == "cluster" & vc$var1 == "x" & is.na(vc$var2))] else NULL,
    correlation = if (length(which(!is.na(vc$var2)))) vc$sdcor[which(!is.na(vc$var2))] else NULL,
    sigma = sigma(fit),
    wald = interval_rows(wald),
    profile = profile_ci)
}

for (name in names(sets)) {
  s <- sets[[name]]
  raw <- as.data.frame(s$data)
  df <- data.frame(y = raw[[s$y]], x = raw[[s$x]],
                   cluster = paste0(s$prefix, as.character(raw[[s$cluster]])))
  csv <- setNames(df, c(s$y, s$x, s$cluster))
  write.csv(csv, file.path(out, paste0(name, ".csv")), row.names = FALSE)
  result <- list(source = name, columns = list(y = s$y, x = s$x, cluster = s$cluster))
  for (model in c("slope", "intercept")) {
    formula <- if (model == "slope") y ~ x + (x | cluster) else y ~ x + (1 | cluster)
    for (method in c("REML", "ML")) {
      result[[paste(model, method, sep = "_")]] <- describe(best_fit(formula, df, method == "REML"))
    }
  }
  result$lme4 <- as.character(packageVersion("lme4"))
  result$R <- R.version.string
  writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
             file.path(out, paste0(name, "_object.json")))
  cat(name, "done\n")
}
