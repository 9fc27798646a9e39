# R's random numbers in hexadecimal (sprintf("%a")), to check shrinkage.rng bit for bit.
# Run from the repository root with R 4.2.2: Rscript tests/reference/rng_hex.R
# Each line: kind seed first-index then the draws, space-separated.
cases <- list(
  list(kind = "runif", seed = 11795L, n = 200L),
  list(kind = "rnorm", seed = 11795L, n = 6264L, keep = 5201:5300),
  list(kind = "rnorm", seed = 888L, n = 3000L),
  list(kind = "rnorm", seed = 1L, n = 1000L),
  list(kind = "rnorm", seed = -7L, n = 1000L),
  list(kind = "rnorm", seed = 2147483647L, n = 1000L),
  list(kind = "rnorm", seed = 20190514L, n = 1000L)
)
lines <- vapply(cases, function(case) {
  set.seed(case$seed)
  draws <- if (case$kind == "runif") runif(case$n) else rnorm(case$n)
  keep <- if (is.null(case$keep)) seq_len(case$n) else case$keep
  paste(case$kind, case$seed, keep[1], paste(sprintf("%a", draws[keep]), collapse = " "))
}, "")
writeLines(c(paste("#", R.version.string), lines), "tests/reference/rng_hex.txt")
