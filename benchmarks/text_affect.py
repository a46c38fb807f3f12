"""Text affect speed: zoo annotate rows/s on 10,000 rows; text model vs bare encoder + heads (zoo/bench/text_affect.py).

    python benchmarks/text_affect.py [--quick]
"""
import argparse

from zoo.bench import run_benchmark

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args()
    run_benchmark("text_affect", quick=args.quick, out_dir=args.out_dir)
