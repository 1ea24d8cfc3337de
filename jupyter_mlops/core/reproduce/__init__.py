"""Reproduce and iterate: the code slice of a run, re-running it, and stale runs."""
