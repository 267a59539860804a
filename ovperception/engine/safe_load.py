"""Deprecated import path (kept for one release): use ``ovperception.utils.safe_load``."""
from ovperception.utils.safe_load import load_checkpoint_safely  # noqa: F401
