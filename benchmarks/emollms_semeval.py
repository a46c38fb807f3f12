"""EmoLLMs/AEB-style evaluation on SemEval-2018 Task 1: ``python benchmarks/emollms_semeval.py [--quick]``."""
import sys

from zoo.bench import run_benchmark

if __name__ == "__main__":
    run_benchmark("emollms_semeval", quick="--quick" in sys.argv)
