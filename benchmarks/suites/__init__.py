"""The suites of ``python -m benchmarks``, one module each."""
