"""Segmentors with their own architecture (not backbone + dense head)."""
from ovperception.models.segmentors.fcclip import FCCLIP

__all__ = ['FCCLIP']
