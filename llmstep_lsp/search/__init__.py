"""Proof search: best-first search over verified tactics, and whole-proof sampling."""
