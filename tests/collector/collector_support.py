"""Constants of the collector tests: the admin token and the write key their servers use."""

from __future__ import annotations

ADMIN_TOKEN = "admin-token-for-the-collector-tests"
WRITE_KEY = "WK_TEST_123"
