"""Benchmarks: each prints its figures and a ratio against a limit measured in the same run."""
