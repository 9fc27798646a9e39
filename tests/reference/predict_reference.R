# Reference predictions and conditional variances: lme4 on the six article settings and
# the sleep study.
#
#   Rscript predict_reference.R REFERENCE_DIR SLEEPSTUDY_CSV
#
# For each data set, fits lmer(y ~ x + (x | cluster)) by REML (lme4's default optimiser,
# bobyqa and Nelder-Mead; the lowest criterion is kept) and writes
# REFERENCE_DIR/NAME_predict.json with:
#   ranef(fit, condVar = TRUE): each cluster's random effects and the 2 x 2 "postVar";
#   vcov(fit), VarCorr(fit) and sigma(fit);
#   for NEWDATA (x = -1, 0, 2, or Days 0, 5, 11 for the sleep study, in the first three
#   clusters and in a cluster "new" that the fit has not seen):
#     predict(fit, newdata, re.form = NA) and
#     predict(fit, newdata, re.form = NULL, allow.new.levels = TRUE),
#     and the standard deviation of a new observation, computed from R's own numbers as
#     sqrt(x' vcov x + z' S z + sigma^2), S = VarCorr for a new cluster and the cluster's
#     postVar for a fitted one;
#   fitted(fit) and residuals(fit) for the first 20 rows;
#   for the sleep study, the forecast of day 9 from a fit to days 0 to 8 by lme4 (partial
#   pooling), lm on all rows (complete pooling) and lm per subject (no pooling).
#
# Made with R 4.2.2 and lme4 1.1-31 (Debian packages r-base-core r-cran-lme4
# r-cran-jsonlite).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
sleep_csv <- args[2]

source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))),
                 "best_fit.R"))  # best_fit(df)

describe <- function(df, xs) {
  fit <- best_fit(df)
  re <- ranef(fit, condVar = TRUE)$cluster
  post <- attr(re, "postVar")
  clusters <- rownames(re)
  effects <- lapply(seq_along(clusters), function(j) list(
    cluster = clusters[j], intercept = re[j, 1], slope = re[j, 2],
    var_intercept = post[1, 1, j], var_slope = post[2, 2, j], covariance = post[1, 2, j]))
  levels_used <- c(head(clusters, 3), "new")
  newdata <- expand.grid(x = xs, cluster = levels_used, stringsAsFactors = FALSE)
  population <- predict(fit, newdata, re.form = NA)
  conditional <- predict(fit, newdata, re.form = NULL, allow.new.levels = TRUE)
  v_beta <- as.matrix(vcov(fit))
  s <- VarCorr(fit)$cluster
  s <- matrix(as.numeric(s), 2, 2)
  sd_new <- sapply(seq_len(nrow(newdata)), function(i) {
    z <- c(1, newdata$x[i])
    j <- match(newdata$cluster[i], clusters)
    cond <- if (is.na(j)) s else post[, , j]
    sqrt(drop(t(z) %*% v_beta %*% z + t(z) %*% cond %*% z) + sigma(fit)^2)
  })
  list(
    reml_criterion = -2 * as.numeric(logLik(fit)),
    vcov = unname(v_beta), varcorr = unname(s), sigma = sigma(fit),
    random_effects = effects,
    newdata = list(x = newdata$x, cluster = newdata$cluster,
                   population = unname(population), conditional = unname(conditional),
                   sd_new_observation = unname(sd_new)),
    fitted = unname(head(fitted(fit), 20)), residuals = unname(head(residuals(fit), 20)))
}

for (name in c("baseline", "more_variance", "more_slope_variance", "few_obs", "many_obs",
               "unbalanced")) {
  df <- read.csv(file.path(dir, paste0(name, ".csv")))
  df$cluster <- as.character(df$cluster)
  write_json(describe(df, c(-1, 0, 2)), file.path(dir, paste0(name, "_predict.json")),
             digits = NA, auto_unbox = TRUE, pretty = TRUE)
}
sleep <- read.csv(sleep_csv)
sleep <- data.frame(y = sleep$Reaction, x = sleep$Days, cluster = sleep$Subject)
result <- describe(sleep, c(0, 5, 11))
# Forecasting the last day: fitted on days 0 to 8, lme4's prediction for day 9 and the
# complete-pooling line's (lm on the same rows), in the data's row order.
train <- sleep[sleep$x < 9, ]
test <- sleep[sleep$x == 9, ]
result$forecast_day9 <- list(
  cluster = test$cluster, observed = test$y,
  partial = unname(predict(best_fit(train), test)),
  complete = unname(predict(lm(y ~ x, train), test)),
  none = unname(sapply(seq_len(nrow(test)), function(i) {
    own <- lm(y ~ x, train[train$cluster == test$cluster[i], ])
    predict(own, test[i, ])
  })))
write_json(result, file.path(dir, "sleepstudy_predict.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
