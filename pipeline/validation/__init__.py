"""Checking parsed returns: Great Expectations suites and the verification rules."""
