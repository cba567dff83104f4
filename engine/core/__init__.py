"""Shared primitives every layer may use: errors, analyst expressions, provenance, stop requests."""
