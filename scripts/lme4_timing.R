# Times lme4 on a CSV for scripts/benchmark.py (an optional comparator; R is never needed
# by the book, the tests or CI):  Rscript scripts/lme4_timing.R DATA.csv REPEAT
# Prints the median seconds of lmer(y ~ x + (x | cluster)) after one warm-up fit, and
# its REML criterion.
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
df <- read.csv(args[1])
fit <- function() lmer(y ~ x + (x | cluster), df)
mod <- suppressMessages(fit())
times <- replicate(as.integer(args[2]), system.time(suppressMessages(fit()))[["elapsed"]])
cat(sprintf("%.6f %.6f\n", median(times), -2 * as.numeric(logLik(mod))))
