# lme4's default confidence intervals, confint(fit): the profile of the
# maximum-likelihood deviance for every parameter, fixed effects included.
#
#   Rscript confint_reference.R REFERENCE_DIR SLEEPSTUDY_CSV
#
# For the three real data sets of fit_object.R (lme4's sleepstudy, SLEEPSTUDY_CSV, and
# nlme's Orthodont and BodyWeight, REFERENCE_DIR/NAME.csv) and both models, y ~ x + (x | cluster) and
# y ~ x + (1 | cluster), fitted by REML (lme4's default optimiser, or bobyqa or
# Nelder-Mead where the default stops more than 1e-4 above the lowest of the three: on
# Orthodont's random-slope model lme4's profile of an equally good bobyqa fit fails,
# with a sigma interval of width 0.017), writes REFERENCE_DIR/NAME_confint.json with
# confint(fit, oldNames = FALSE) at the 95% level: for each parameter its lower and upper
# end, under lme4's names.
#
# Made with R 4.2.2 and lme4 1.1-31 (Debian packages r-base-core r-cran-lme4
# r-cran-jsonlite).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
sets <- list(sleepstudy = c("Reaction", "Days", "Subject"),
             Orthodont = c("distance", "age", "Subject"),
             BodyWeight = c("weight", "Time", "Rat"))

best_fit <- function(formula, df) {
  fits <- list(
    default = lmer(formula, df),
    bobyqa = lmer(formula, df, control = lmerControl(optimizer = "bobyqa")),
    nelder_mead = lmer(formula, df, control = lmerControl(optimizer = "Nelder_Mead")))
  criteria <- sapply(fits, function(f) -2 * as.numeric(logLik(f)))
  if (criteria[["default"]] - min(criteria) < 1e-4) fits$default else fits[[which.min(criteria)]]
}

for (name in names(sets)) {
  columns <- sets[[name]]
  raw <- read.csv(if (name == "sleepstudy") args[2] else file.path(dir, paste0(name, ".csv")))
  df <- data.frame(y = raw[[columns[1]]], x = raw[[columns[2]]],
                   cluster = as.character(raw[[columns[3]]]))
  result <- list(source = name)
  for (model in c("slope", "intercept")) {
    formula <- if (model == "slope") y ~ x + (x | cluster) else y ~ x + (1 | cluster)
    ci <- suppressWarnings(confint(best_fit(formula, df), oldNames = FALSE))
    result[[model]] <- lapply(setNames(seq_len(nrow(ci)), rownames(ci)),
                              function(i) list(lower = unname(ci[i, 1]), upper = unname(ci[i, 2])))
  }
  write_json(result, file.path(dir, paste0(name, "_confint.json")), digits = NA,
             auto_unbox = TRUE, pretty = TRUE)
}
