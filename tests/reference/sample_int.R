# R's sample.int() at population sizes that take one and two 16-bit chunks of random
# bits per attempt, and the stream's position afterwards (the rnorm() that follows).
# The last case draws more words than one block of the Python side holds; it is kept
# as a checksum, sum(i * drawn[i]) (exact in a double), and its last draws.
# Run: Rscript sample_int.R > sample_int.json   (R 4.2.2; checked by tests/test_data.py)
library(jsonlite)
cases <- list(c(42, 1000, 1000), c(7, 65536, 30), c(7, 65537, 30), c(123, 200000, 50),
              c(2024, 10000000, 20), c(11, 100000, 100000))
out <- lapply(cases, function(case) {
  set.seed(case[1])
  drawn <- sample.int(case[2], case[3])
  result <- list(seed = case[1], n = case[2], size = case[3],
                 checksum = sum(as.numeric(drawn) * seq_along(drawn)), last = tail(drawn, 5),
                 next_normals = sprintf("%a", rnorm(3)))
  if (case[3] <= 1000) result$sample <- drawn
  result
})
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
