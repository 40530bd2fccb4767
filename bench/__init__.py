"""Benchmarks: deterministic data, the real daemon and receiver on loopback, figures and ratios."""
