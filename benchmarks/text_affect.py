"""Text affect speed: zoo annotate rows/s on 10,000 rows; text model vs bare encoder + heads (zoo/bench/text_affect.py).

    python benchmarks/text_affect.py [--quick]
"""
from zoo.bench import script

if __name__ == "__main__":
    script("text_affect", __doc__)
