"""EmoSet attribute classifier: zoo.load()-ed model vs bare timm modules (images/s), Lightning vs plain loop.

    python benchmarks/emoset.py [--quick] [--out-dir benchmarks/results]

Same as ``zoo bench emoset``; see zoo/bench/emoset.py for what is measured and how.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.bench.emoset import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out_dir)
