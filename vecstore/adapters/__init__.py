"""Backends: the seam (base), the NumPy reference store and its helpers."""
