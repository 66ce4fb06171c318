"""Fixtures and settings every test module shares (helpers live in helpers.py)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
