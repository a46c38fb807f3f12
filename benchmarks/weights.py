"""Pretrained assets: conversion time (cold / cached) and encoder speed vs the same architecture built directly
(see zoo/bench/weights.py).

    python benchmarks/weights.py [--quick]
"""
from zoo.bench import script

if __name__ == "__main__":
    script("weights", __doc__)
