# Fits lmer(y ~ x + (x | cluster)) by REML to a CSV and writes the fit as JSON, in the
# layout of make_reference.R (the same keys), for data that did not come from create_data().
#
#   Rscript fit_csv.R DATA.csv Y X CLUSTER OUT.json
#
# Made with R 4.2.2 and lme4 1.1-31 (Debian packages r-base-core r-cran-lme4 r-cran-jsonlite).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
df <- read.csv(args[1], stringsAsFactors = FALSE)
df <- data.frame(y = df[[args[2]]], x = df[[args[3]]], cluster = df[[args[4]]])
mod <- lmer(y ~ x + (x | cluster), df)
vc <- as.data.frame(VarCorr(mod))
fe <- summary(mod)$coefficients
mixed <- coef(mod)$cluster
bc <- suppressWarnings(coef(lmList(y ~ x | cluster, df)))
n <- table(df$cluster)
labels <- rownames(mixed)
numeric_labels <- is.numeric(df$cluster)
cl <- data.frame(cluster = if (numeric_labels) as.numeric(labels) else labels,
  n = as.integer(n[labels]), ols_intercept = bc[labels, 1], ols_slope = bc[labels, 2],
  mixed_intercept = mixed[, 1], mixed_slope = mixed[, 2])
out <- list(source = basename(args[1]), columns = list(y = args[2], x = args[3], cluster = args[4]),
  nobs = nrow(df), ngroups = length(unique(df$cluster)),
  reml_criterion = as.numeric(-2 * logLik(mod)), singular = isSingular(mod),
  scaled_residual_quantiles = unname(quantile(residuals(mod, scaled = TRUE))),
  fixed_effects = list(Intercept = list(estimate = fe[1,1], std_error = fe[1,2], t_value = fe[1,3]),
                       x = list(estimate = fe[2,1], std_error = fe[2,2], t_value = fe[2,3])),
  variance = list(intercept = vc$vcov[1], slope = vc$vcov[2], covariance = vc$vcov[3],
                  correlation = vc$sdcor[3], residual = vc$vcov[4]),
  clusters = cl, lme4 = as.character(packageVersion('lme4')), R = R.version.string)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = 'null'), args[5])
cat(basename(args[1]), 'REML', out$reml_criterion, 'singular', out$singular, '\n')
