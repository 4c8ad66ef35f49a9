"""Deterministic text emitters: YAML, JSON and PromQL text, byte for byte the same for the same
data."""
