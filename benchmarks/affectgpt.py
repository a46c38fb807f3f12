"""AffectGPT training throughput, live vs cached encoders (see zoo/bench/affectgpt.py).

    python benchmarks/affectgpt.py [--quick]
"""
import argparse

from zoo.bench import run_benchmark

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args()
    run_benchmark("affectgpt", quick=args.quick, out_dir=args.out_dir)
