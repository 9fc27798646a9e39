# Writes lme4's sleepstudy data set as CSV (shrinkage/datasets/sleepstudy.csv):
#   Rscript export_sleepstudy.R ../../shrinkage/datasets/sleepstudy.csv
# Made with R 4.2.2 and lme4 1.1-31 (Debian packages r-base-core r-cran-lme4).
args <- commandArgs(trailingOnly = TRUE)
data(sleepstudy, package = "lme4")
df <- data.frame(Reaction = sleepstudy$Reaction, Days = sleepstudy$Days,
                 Subject = paste0("S", as.character(sleepstudy$Subject)))
write.csv(df, args[1], row.names = FALSE)
