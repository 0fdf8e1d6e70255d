"""Benchmarks: ``python -m bench.run`` (``make bench``) measures AWS calls per run, engine overhead per node
(against dynamiq and langgraph), parallel http wall time and cold import times, and writes
``bench/results/latest.json``."""
