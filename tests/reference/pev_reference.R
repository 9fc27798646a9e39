# The exact prediction-error covariance of each cluster's line, from Henderson's
# mixed-model equations, for real data sets.
#
#   Rscript pev_reference.R REFERENCE_DIR SLEEPSTUDY_CSV
#
# For lme4's sleepstudy (Reaction ~ Days + (Days | Subject)) and nlme's Orthodont
# (distance ~ age + (age | Subject), REFERENCE_DIR/Orthodont.csv), fits the model by REML
# (lme4's default optimiser, bobyqa and Nelder-Mead; the lowest criterion is kept) and
# builds the mixed-model equations from lme4's own matrices:
#
#   C = sigma^2 [X'X, X'Z; Z'X, Z'Z + (Lambda Lambda')^-1]^-1,
#
# X = getME(fit, "X"), Z = getME(fit, "Z"), Lambda = getME(fit, "Lambda"). For cluster j,
# with L_j = [I_2, E_j] picking the fixed effects and cluster j's two random effects, the
# prediction-error covariance of coef(fit)[j, ] is L_j C L_j'. Writes
# REFERENCE_DIR/NAME_pev.json with, per cluster, coef(fit) and that 2 x 2 matrix; and for
# new rows in fitted clusters, predict(fit, newdata) and the standard deviation of a new
# observation, sqrt(z' L_j C L_j' z + sigma^2).
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
  stopifnot(!isSingular(fit))
  X <- as.matrix(getME(fit, "X"))
  Z <- as.matrix(getME(fit, "Z"))
  Lambda <- as.matrix(getME(fit, "Lambda"))
  s2 <- sigma(fit)^2
  lhs <- rbind(cbind(crossprod(X), crossprod(X, Z)),
               cbind(crossprod(Z, X), crossprod(Z) + solve(tcrossprod(Lambda))))
  C <- s2 * solve(lhs)
  coefs <- coef(fit)$cluster
  clusters <- rownames(coefs)
  # lme4 orders the random effects cluster by cluster: (intercept, slope) of each.
  pev <- lapply(seq_along(clusters), function(j) {
    L <- matrix(0, 2, ncol(C))
    L[, 1:2] <- diag(2)
    L[1, 2 + 2 * j - 1] <- 1
    L[2, 2 + 2 * j] <- 1
    L %*% C %*% t(L)
  })
  rows <- expand.grid(x = xs, cluster = head(clusters, 3), stringsAsFactors = FALSE)
  sd_new <- sapply(seq_len(nrow(rows)), function(i) {
    z <- c(1, rows$x[i])
    j <- match(rows$cluster[i], clusters)
    sqrt(drop(t(z) %*% pev[[j]] %*% z) + s2)
  })
  list(
    reml_criterion = -2 * as.numeric(logLik(fit)), sigma = sigma(fit),
    clusters = lapply(seq_along(clusters), function(j) list(
      cluster = clusters[j], intercept = coefs[j, 1], slope = coefs[j, 2],
      pev = unname(pev[[j]]))),
    newdata = list(x = rows$x, cluster = rows$cluster,
                   prediction = unname(predict(fit, rows)),
                   sd_new_observation = unname(sd_new)))
}

sleep <- read.csv(sleep_csv)
sleep <- data.frame(y = sleep$Reaction, x = sleep$Days, cluster = as.character(sleep$Subject))
write_json(describe(sleep, c(0, 9)), file.path(dir, "sleepstudy_pev.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
orthodont <- read.csv(file.path(dir, "Orthodont.csv"))
orthodont <- data.frame(y = orthodont$distance, x = orthodont$age,
                        cluster = as.character(orthodont$Subject))
write_json(describe(orthodont, c(8, 14)), file.path(dir, "Orthodont_pev.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
