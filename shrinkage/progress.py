"""A one-line progress bar for long work on a terminal (rendering, simulation studies)."""


class ProgressBar:
    """Redraws ``label [#####.....] done/total`` on ``stream`` as work advances.

    Parameters
    ----------
    total : int
        Units of work in all.
    label : str
        What is being done, shown before the bar.
    stream : file-like
        Usually ``sys.stderr``.
    """

    def __init__(self, total, label, stream):
        self.total, self.label, self.stream, self.done = total, label, stream, 0

    def advance(self, count=1):
        """Count ``count`` more units done and redraw; end the line when all are done."""
        self.done += count
        filled = int(30 * self.done / self.total)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                          f"{self.done}/{self.total}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()
