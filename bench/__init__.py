"""Benchmarks with their own entry point (``python -m bench``); not part of the test run."""
