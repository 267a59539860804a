"""Refiners: take and return data samples (DINO, SAM, PAMR)."""
