"""openlfr benchmarks: `python -m benchmarks` (or `make bench`).

Every ratio is against a baseline measured in the same run.
"""
