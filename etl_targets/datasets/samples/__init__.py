"""Deterministic generators of realistic landing files, one module per dataset.

They use the standard library only, so they never depend on the code they
exercise (tests, the shipped sample data and the benchmark all use them).
"""
