"""Interop tests: the real clients, unchanged, against a running ``audience serve``."""
