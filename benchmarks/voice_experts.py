"""Empathic-Insight-Voice: fused vs one-by-one experts (time, peak memory) and clips/s end to end.

    python benchmarks/voice_experts.py [--quick] [--out-dir benchmarks/results]

Same as ``zoo bench voice_experts``; see zoo/bench/voice_experts.py for what is measured and how.
"""
from zoo.bench import script

if __name__ == "__main__":
    script("voice_experts", __doc__)
