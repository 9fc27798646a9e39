# R's sample.int() at population sizes that take one and two 16-bit chunks of random
# bits per attempt, and the stream's position afterwards (the rnorm() that follows).
# Run: Rscript sample_int.R > sample_int.json   (R 4.2.2; checked by tests/test_data.py)
library(jsonlite)
cases <- list(c(42, 1000, 1000), c(7, 65536, 30), c(7, 65537, 30), c(123, 200000, 50),
              c(2024, 10000000, 20))
out <- lapply(cases, function(case) {
  set.seed(case[1])
  drawn <- sample.int(case[2], case[3])
  list(seed = case[1], n = case[2], size = case[3], sample = drawn,
       next_normals = sprintf("%a", rnorm(3)))
})
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
