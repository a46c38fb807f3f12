"""EmoLLMs/AEB-style evaluation on SemEval-2018 Task 1: ``python benchmarks/emollms_semeval.py [--quick]``."""
from zoo.bench import script

if __name__ == "__main__":
    script("emollms_semeval", __doc__)
