"""The ML engine's pure half: pandas/numpy in, typed dataclasses out. No Django imports."""

import numpy as np

# numpy asks the kernel for transparent huge pages on every array over 4 MB. With THP defrag on
# "madvise" (Debian's default), the first touch of such an array can stall in page compaction:
# the feature pipeline on 1M bars spent over half its time there (2.6 s against 0.9 s with it
# off; benchmarks/features.py). Every process that runs the pipeline imports this package first.
# (NUMPY_MADVISE_HUGEPAGE=0 does the same, but only if set before numpy is first imported.)
np._core.multiarray._set_madvise_hugepage(False)
