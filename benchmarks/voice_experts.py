"""Empathic-Insight-Voice: fused vs one-by-one experts (time, peak memory) and clips/s end to end.

    python benchmarks/voice_experts.py [--quick] [--out-dir benchmarks/results]

Same as ``zoo bench voice_experts``; see zoo/bench/voice_experts.py for what is measured and how.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.bench.voice_experts import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out_dir)
