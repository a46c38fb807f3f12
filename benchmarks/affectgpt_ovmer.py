"""OV-MER metrics on the shipped MER2024 baseline outputs vs the published figures (see zoo/bench/affectgpt_ovmer.py).

    ZOO_DATA=../shared/datasets python benchmarks/affectgpt_ovmer.py
"""
import argparse

from zoo.bench import run_benchmark

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args()
    run_benchmark("affectgpt_ovmer", out_dir=args.out_dir)
