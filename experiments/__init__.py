"""Benchmarks and reproduction configs (run as scripts; not tests)."""
