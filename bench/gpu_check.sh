#!/usr/bin/env bash
# The GPU check of issue 19, in one go: at most 8 minutes (each part has a time limit:
# 210 + 120 + 60 + 90 s; a part that runs out reports an error, the others still run):
#   1. training tokens/s and MFU at ~124M parameters (GPT-2 small's shape: depth 12, vocab
#      50304), context 1024, bf16 + torch.compile, against transformers' LlamaForCausalLM
#      at the same shape in the same process (bench/gpu_check.py throughput);
#   2. compiled vs eager decoding, batch 1, 256 new tokens (gpu_check.py decode);
#   3. a 1-process DDP and FSDP smoke under torchrun with NCCL, including a sharded
#      checkpoint read back whole (gpu_check.py dist);
#   4. the real launcher: `torchrun -m picochat train base --preset d12 --dry-run 10` on
#      tinyshakespeare: preflight memory estimate vs the measured peak, tokens/s, ETA.
# Writes bench/results/gpu_check.json (every part's figures, the GPU's name).
#
#   bench/gpu_check.sh            # on a machine with a CUDA GPU
#   bench/gpu_check.sh --smoke    # tiny shapes on whatever is here (a CPU: checks the
#                                 # script and code paths in ~1-2 minutes, not speed)
# Environment: TIME_SCALE (multiplies the limits; 6 with --smoke), PYTHON (default: python3; torch, numpy, safetensors, transformers needed),
# DATA (default: ../shared/data/tinyshakespeare.txt, else part 4 uses the README).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SMOKE=""
[[ "${1:-}" == "--smoke" ]] && SMOKE="--smoke"
# A CPU smoke run on a busy machine needs longer limits than the GPU run (TIME_SCALE).
SCALE=${TIME_SCALE:-1}
[[ -n "$SMOKE" ]] && SCALE=${TIME_SCALE:-6}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
export GPU_CHECK_TMP=$WORK
LOG=$WORK/log.txt
RESULTS=bench/results/gpu_check${SMOKE:+_smoke}.json
started=$(date +%s)

part() {  # part NAME TIMEOUT COMMAND...: run it, keep its RESULT line (or the failure)
  local name=$1 limit=$(( $2 * SCALE )); shift 2
  echo "== $name (limit ${limit}s)" | tee -a "$LOG"
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$WORK/$name.out" 2>&1
  local rc=$?
  tail -n 5 "$WORK/$name.out" | tee -a "$LOG"
  local line
  line=$(grep '^RESULT ' "$WORK/$name.out" | tail -n 1 | cut -c8-)
  [[ -z "$line" ]] && line="{\"part\": \"$name\", \"error\": \"exit $rc, see $WORK/$name.out\"}"
  echo "{\"name\": \"$name\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - t0 )), \"result\": $line}" >> "$WORK/parts.jsonl"
}

NPROC=1
$PYTHON -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" || NPROC=2  # CPU: 2 gloo processes
part throughput 210 $PYTHON bench/gpu_check.py throughput $SMOKE
part decode 120 $PYTHON bench/gpu_check.py decode $SMOKE
part dist 60 $PYTHON -m torch.distributed.run --standalone --nproc_per_node=$NPROC bench/gpu_check.py dist $SMOKE

DATA=${DATA:-../shared/data/tinyshakespeare.txt}
[[ -f "$DATA" ]] || DATA=README.md
SHAPE=(--preset d12)
[[ -n "$SMOKE" ]] && SHAPE=(--preset smoke --batch-size 2)
$PYTHON -m picochat --quiet tok train --input "$DATA" --out "$WORK/tok.json" > /dev/null
cat > "$WORK/dry_run.py" <<'EOF'
import json, subprocess, sys
out = sys.argv[1]
done = subprocess.run(sys.argv[2:], capture_output=True, text=True)
print(done.stdout[-2000:], done.stderr[-2000:])
report = json.load(open(out + "/dry_run.json")) if done.returncode == 0 else {"error": done.returncode}
print("RESULT " + json.dumps({"part": "launcher", **report}))
EOF
part launcher 90 $PYTHON "$WORK/dry_run.py" "$WORK/run" $PYTHON -m torch.distributed.run --standalone \
  --nproc_per_node=1 -m picochat --quiet train base --corpus "$DATA" --tokenizer "$WORK/tok.json" \
  --out-dir "$WORK/run" "${SHAPE[@]}" --max-steps 5000 --dry-run 10 --compile

$PYTHON - "$WORK/parts.jsonl" "$RESULTS" "$(( $(date +%s) - started ))" <<'EOF'
import json, platform, sys
import torch
parts = [json.loads(line) for line in open(sys.argv[1])]
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)"
summary = {"gpu": gpu, "torch": torch.__version__, "platform": platform.platform(),
           "smoke": "smoke" in sys.argv[2], "total_seconds": int(sys.argv[3]), "parts": parts}
json.dump(summary, open(sys.argv[2], "w"), indent=2)
for p in parts:
    r = {**p["result"], **p["result"].get("dry_run", {})}
    print(f"{p['name']:<11} rc={p['rc']} {p['seconds']:>4}s  " + ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in r.items() if k in ("speedup_vs_llama_eager", "mfu_vs_measured_matmul",
        "mfu_vs_nominal", "speedup", "same_greedy_tokens", "ddp_equals_fsdp",
        "sharded_checkpoint_reads_back_whole", "tokens_per_sec", "estimate_over_measured", "error")))
print(f"GPU: {gpu}; wrote {sys.argv[2]}")
EOF
