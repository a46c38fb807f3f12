"""Reusable layers: encoder adapters, pooling, fusion, heads."""
