"""EmoSet attribute classifier: zoo.load()-ed model vs bare timm modules (images/s), Lightning vs plain loop.

    python benchmarks/emoset.py [--quick] [--out-dir benchmarks/results]

Same as ``zoo bench emoset``; see zoo/bench/emoset.py for what is measured and how.
"""
from zoo.bench import script

if __name__ == "__main__":
    script("emoset", __doc__)
