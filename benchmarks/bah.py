"""BAH pipeline speed: decoded frames/s, face detection frames/s, end-to-end clips/s with and without the caches
(see zoo/bench/bah.py).

    python benchmarks/bah.py [--quick]
"""
import argparse

from zoo.bench import run_benchmark

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args()
    run_benchmark("bah", quick=args.quick, out_dir=args.out_dir)
