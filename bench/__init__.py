"""slake-forensics benchmarks: ``python -m bench`` (see ``bench/README.md``).

Every measurement runs in fresh child processes (:mod:`bench.child`), is timed with
``time.perf_counter`` and reported as the median of repeated runs, with ratios against
baselines measured in the same run.
"""
