# lmer(y ~ x + (x | cluster)) by REML with lme4's default optimiser, bobyqa and
# Nelder-Mead, keeping the fit of lowest criterion (lme4's default can stop short).
# Sourced by predict_reference.R and pev_reference.R.
best_fit <- function(df) {
  fits <- list(
    default = lmer(y ~ x + (x | cluster), df),
    bobyqa = lmer(y ~ x + (x | cluster), df, control = lmerControl(optimizer = "bobyqa")),
    nelder_mead = lmer(y ~ x + (x | cluster), df,
                       control = lmerControl(optimizer = "Nelder_Mead")))
  criteria <- sapply(fits, function(f) -2 * as.numeric(logLik(f)))
  fits[[which.min(criteria)]]
}
