"""The measurements of ``tools/benchmark.py``, one job a module: timing
(interleaved rounds and paired ratios), models (recognizers and synthetic
clips), speed (figures 1, 2 and 4), memory (figure 3), segments (figure 5)
and report."""
