"""Issue 4's pretraining bench in one run: throughput vs Hugging Face, then time to quality.

The two parts are their own scripts (each documents its method and writes its JSON):

1. bench_pretrain_throughput.py: training tokens/s of Picochat's model vs
   `LlamaForCausalLM` at ~12M parameters (fp32, bf16, bf16 + compile), and MFU at ~27M;
2. bench_pretrain_quality.py: best validation BPB on tinyshakespeare in 5 minutes.

They run one after the other on the same machine, never at once (each needs the cores).

    PYTHONPATH=src python bench/bench_pretrain.py [--quick] [--skip-quality]

`--quick` passes --quick to the throughput part and a 1-minute budget to the quality part.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run of both parts")
    parser.add_argument("--skip-quality", action="store_true", help="throughput only")
    args = parser.parse_args()
    parts = [["bench_pretrain_throughput.py", *(["--quick"] if args.quick else [])]]
    if not args.skip_quality:
        parts.append(["bench_pretrain_quality.py", *(["--minutes", "1"] if args.quick else [])])
    for script, *flags in parts:
        print(f"\n=== {script} {' '.join(flags)}", flush=True)
        code = subprocess.call([sys.executable, str(BENCH / script), *flags])
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
