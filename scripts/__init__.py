"""Operator and CI scripts (run as files; importable by the tests)."""
