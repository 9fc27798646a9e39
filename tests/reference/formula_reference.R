# Reference fits for formulas beyond y ~ x: lme4 on four real data sets, with a factor,
# an interaction, cluster-level predictors and uncorrelated random effects (x || g).
#
#   Rscript formula_reference.R OUTDIR
#
# Writes OUTDIR/formula_NAME.csv (the columns the formulas use, as R has them) and
# OUTDIR/formula_NAME.json.  Each model is fitted to the CSV as read back by read.csv,
# so that text columns become factors as R's factor() makes them (levels sorted), exactly
# what a user of the CSV gets.  Per formula, by REML and by ML: the criterion, logLik,
# AIC, BIC, the fixed effects with standard errors (names as lme4 prints them), VarCorr,
# sigma, isSingular, coef() of every cluster, predict() for the first rows and for a new
# cluster, and confint(fit, method = "profile", oldNames = FALSE) for the REML fit.
# Each fit is made with lme4's default optimiser, bobyqa, Nelder-Mead and bobyqa with a
# tight final trust radius (rhoend 1e-10), keeping the lowest criterion (lme4's default
# can stop short, and its tolerances leave flat directions about 1e-6 from the optimum);
# the median time of lme4's default fit over 11 runs is kept as lme4_seconds (a
# benchmark comparator, not a test value).
#
# Made with R 4.2.2, lme4 1.1-31 and nlme 3.1-162 (Debian packages r-base-core
# r-cran-lme4 r-cran-jsonlite).  The data:
#   Orthodont   nlme (GPL >= 2): Potthoff and Roy (1964), Biometrika 51, 313-326.
#   sleepstudy  lme4 (GPL >= 2): Belenky et al. (2003), J. Sleep Res. 12, 1-12.
#   BodyWeight  nlme (GPL >= 2): Hand and Crowder (1996), Practical Longitudinal Data
#               Analysis, table A.1.
#   MathAchieve nlme (GPL >= 2), with Sector from MathAchSchool: the 1982 High School
#               and Beyond survey as in Raudenbush and Bryk (2002), Hierarchical Linear
#               Models, chapter 4.
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(nlme)})
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]

math <- merge(as.data.frame(nlme::MathAchieve),
              as.data.frame(nlme::MathAchSchool)[, c("School", "Sector")], by = "School")
sets <- list(
  Orthodont = list(
    data = as.data.frame(nlme::Orthodont)[, c("distance", "age", "Subject", "Sex")],
    formulas = c(factor = "distance ~ age + Sex + (age | Subject)",
                 interaction = "distance ~ age * Sex + (age | Subject)",
                 intercept = "distance ~ age + Sex + (1 | Subject)")),
  sleepstudy = list(
    data = lme4::sleepstudy,
    formulas = c(uncorrelated = "Reaction ~ Days + (Days || Subject)")),
  BodyWeight = list(
    data = as.data.frame(nlme::BodyWeight)[, c("weight", "Time", "Rat", "Diet")],
    formulas = c(interaction = "weight ~ Time * Diet + (Time | Rat)",
                 uncorrelated = "weight ~ Time * Diet + (Time || Rat)")),
  MathAchieve = list(
    data = math[, c("MathAch", "SES", "MEANSES", "Sector", "School")],
    formulas = c(cluster_level = "MathAch ~ SES + MEANSES + Sector + (SES | School)",
                 contextual = "MathAch ~ SES + MEANSES + (1 | School)")))

best_fit <- function(formula, df, reml) {
  fits <- list(
    default = lmer(formula, df, REML = reml),
    bobyqa = lmer(formula, df, REML = reml, control = lmerControl(optimizer = "bobyqa")),
    nelder_mead = lmer(formula, df, REML = reml, control = lmerControl(optimizer = "Nelder_Mead")),
    tight = lmer(formula, df, REML = reml,
                 control = lmerControl(optimizer = "bobyqa",
                                       optCtrl = list(rhoend = 1e-10, maxfun = 1e5))))
  criteria <- sapply(fits, function(f) -2 * as.numeric(logLik(f)))
  list(fit = fits[[which.min(criteria)]], optimiser = names(fits)[which.min(criteria)],
       criteria = as.list(criteria))
}

rows_of <- function(m) {
  lapply(setNames(seq_len(nrow(m)), rownames(m)),
         function(i) as.list(setNames(unname(m[i, ]), colnames(m))))
}

describe <- function(chosen, df, cluster) {
  fit <- chosen$fit
  fe <- summary(fit)$coefficients
  colnames(fe) <- c("estimate", "std_error", "t_value")
  vc <- as.data.frame(VarCorr(fit))
  newdata <- head(df, 5)
  unseen <- newdata[1, , drop = FALSE]
  unseen[[cluster]] <- "no such cluster"
  newdata <- rbind(newdata, unseen)
  coefs <- coef(fit)[[cluster]]
  list(
    optimiser = chosen$optimiser, criteria_by_optimiser = chosen$criteria,
    criterion = -2 * as.numeric(logLik(fit)), logLik = as.numeric(logLik(fit)),
    df = attr(logLik(fit), "df"), AIC = AIC(fit), BIC = BIC(fit),
    nobs = nobs(fit), ngroups = ngrps(fit)[[1]], singular = isSingular(fit),
    fixed_effects = rows_of(fe),
    varcorr = lapply(seq_len(nrow(vc)), function(i) as.list(vc[i, ])),
    sigma = sigma(fit),
    coef = list(cluster = rownames(coefs), columns = as.list(coefs)),
    predict = list(rows = 0:5, fit = unname(predict(fit, newdata, allow.new.levels = TRUE)),
                   population = unname(predict(fit, newdata, re.form = NA))))
}

timing <- function(formula, df) {
  times <- replicate(11, system.time(lmer(formula, df))[["elapsed"]])
  median(times)
}

for (name in names(sets)) {
  set <- sets[[name]]
  csv <- file.path(out, paste0("formula_", name, ".csv"))
  df <- set$data
  for (column in names(df)) if (is.factor(df[[column]])) df[[column]] <- as.character(df[[column]])
  write.csv(df, csv, row.names = FALSE)
  df <- read.csv(csv, stringsAsFactors = TRUE)
  models <- list()
  for (label in names(set$formulas)) {
    text <- set$formulas[[label]]
    formula <- as.formula(text)
    cluster <- sub(".*\\|\\|?\\s*([A-Za-z.]+)\\s*\\).*", "\\1", text)
    reml <- best_fit(formula, df, TRUE)
    ml <- best_fit(formula, df, FALSE)
    profile_ci <- tryCatch(
      rows_of(suppressWarnings(confint(reml$fit, method = "profile", oldNames = FALSE))),
      error = function(e) list(error = conditionMessage(e)))
    models[[label]] <- list(formula = text, REML = describe(reml, df, cluster),
                            ML = describe(ml, df, cluster), profile = profile_ci,
                            lme4_seconds = timing(formula, df))
  }
  result <- list(source = name, models = models,
                 R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 nlme = as.character(packageVersion("nlme")))
  writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
             file.path(out, paste0("formula_", name, ".json")))
}
