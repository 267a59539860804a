"""Small shared utilities (image I/O, atomic file writes, RLE)."""
