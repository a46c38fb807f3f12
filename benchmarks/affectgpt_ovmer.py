"""OV-MER metrics on the shipped MER2024 baseline outputs vs the published figures (see zoo/bench/affectgpt_ovmer.py).

    ZOO_DATA=../shared/datasets python benchmarks/affectgpt_ovmer.py
"""
from zoo.bench import script

if __name__ == "__main__":
    script("affectgpt_ovmer", __doc__)
