# Times lme4 on a CSV for scripts/benchmark.py (an optional comparator; R is never needed
# by the book, the tests or CI):  Rscript scripts/lme4_timing.R DATA.csv REPEAT [FORMULA]
# Prints the median seconds of lmer(FORMULA) after one warm-up fit (default formula
# y ~ x + (x | cluster)), and its REML criterion.  Text columns are read as factors.
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
df <- read.csv(args[1], stringsAsFactors = TRUE)
formula <- as.formula(if (length(args) >= 3) args[3] else "y ~ x + (x | cluster)")
fit <- function() lmer(formula, df)
mod <- suppressMessages(fit())
times <- replicate(as.integer(args[2]), system.time(suppressMessages(fit()))[["elapsed"]])
cat(sprintf("%.6f %.6f\n", median(times), -2 * as.numeric(logLik(mod))))
