"""Fixture package for export tests (imported from tests/python/packages)."""

VERSION = "1.0"
