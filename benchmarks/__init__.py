"""Benchmarks: `python -m benchmarks` runs all; `python -m benchmarks.<name>` one.

Results go to bench-results/<name>.json.
"""
