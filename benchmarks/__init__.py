"""Benchmarks of metriclearn against metric-learn, pylmnn and NCA: ``python -m benchmarks``."""
