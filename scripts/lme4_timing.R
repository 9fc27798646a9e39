# Times lme4 for scripts/benchmark.py (an optional comparator; R is never needed by the
# book, the tests or CI):  Rscript scripts/lme4_timing.R
# Reads lines "DATA.csv<TAB>FORMULA<TAB>N" on standard input and answers each with the
# mean seconds of N lmer fits in a row and the last fit's REML criterion.  One waiting R
# process lets the benchmark alternate short rounds of its fits and lme4's.  Text
# columns are read as factors; each file is read once.
suppressPackageStartupMessages(library(lme4))
tables <- list()
input <- file("stdin", "r")
while (length(line <- readLines(input, n = 1)) > 0) {
  parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
  if (is.null(tables[[parts[1]]])) tables[[parts[1]]] <- read.csv(parts[1], stringsAsFactors = TRUE)
  df <- tables[[parts[1]]]
  formula <- as.formula(parts[2])
  n <- as.integer(parts[3])
  start <- proc.time()[["elapsed"]]
  # Messages and warnings (a singular fit) are lme4's to give; only the time is wanted.
  for (i in seq_len(n)) mod <- suppressWarnings(suppressMessages(lmer(formula, df)))
  seconds <- (proc.time()[["elapsed"]] - start) / n
  cat(sprintf("%.6f %.6f\n", seconds, -2 * as.numeric(logLik(mod))))
  flush(stdout())
}
