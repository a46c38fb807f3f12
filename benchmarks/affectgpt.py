"""AffectGPT training throughput, live vs cached encoders (see zoo/bench/affectgpt.py).

    python benchmarks/affectgpt.py [--quick]
"""
from zoo.bench import script

if __name__ == "__main__":
    script("affectgpt", __doc__)
