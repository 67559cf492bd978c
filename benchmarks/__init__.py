"""Performance measurements of tinytorch, each run side by side with its baseline.

Run one with ``python -m benchmarks.<name>`` from the repository root; results are written
to ``benchmarks/results/`` (a build product, not committed).
"""
