"""BAH pipeline speed: decoded frames/s, face detection frames/s, end-to-end clips/s with and without the caches
(see zoo/bench/bah.py).

    python benchmarks/bah.py [--quick]
"""
from zoo.bench import script

if __name__ == "__main__":
    script("bah", __doc__)
