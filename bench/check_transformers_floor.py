"""Does an `export hf` folder load right in an older transformers (the floor of the range)?

Exports a tiny model (rope theta 500000, GQA, untied) with a LoRA adapter using the
installed transformers, then loads the folder in a subprocess whose PYTHONPATH puts an
older transformers/tokenizers/huggingface_hub/peft first, and compares with Picochat:
logits, the rope theta it read, `tok(text)` ids (with <|bos|>), the chat template ids,
and the PEFT adapter's logits.

    pip install --no-deps --target /tmp/tf457 "transformers==4.57.*" "tokenizers==0.22.*" \\
        "huggingface_hub==0.36.*" "peft==0.17.*" requests  # (+ urllib3 idna certifi ...)
    PYTHONPATH=src python bench/check_transformers_floor.py --site /tmp/tf457

Writes bench/results/check_transformers_floor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from bench_paths import RESULTS_DIR
from picochat.chat_format import render_prompt
from picochat.configs import ExportHFConfig
from picochat.generation import text_prompt_ids
from picochat.hf.export import export_hf
from picochat.model.checkpoint import save_checkpoint
from picochat.model.config import ModelConfig
from picochat.model.lora import apply_lora, merge_lora, save_adapter
from picochat.model.transformer import Transformer
from picochat.tokenizer import ByteTokenizer, save_tokenizer

TEXT = "ROMEO: But soft, what light through yonder window breaks?"
CHAT = [{"role": "user", "content": "hello"}]

LOADER = r"""
import json, sys, torch, transformers, peft
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
folder, text, chat = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
ids = tok(text, return_tensors="pt")["input_ids"]
with torch.no_grad():
    logits = model(ids).logits[0]
    adapted = PeftModel.from_pretrained(model, folder + "/adapter").eval()(ids).logits[0]
torch.save({"logits": logits, "adapted": adapted}, folder + "/old_logits.pt")
print(json.dumps({
    "transformers": transformers.__version__, "peft": peft.__version__,
    "tokenizer_class": type(tok).__name__,
    "rope_theta": getattr(model.config, "rope_theta", None)
        or (getattr(model.config, "rope_parameters", None) or {}).get("rope_theta"),
    "ids": ids[0].tolist(),
    "chat_ids": list(tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)),
}))
"""


def build(work: Path) -> tuple[Path, Transformer, Transformer, ByteTokenizer]:
    tok = ByteTokenizer()
    save_tokenizer(tok, work / "tokenizer.json")
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, n_kv_head=2, n_embd=64,
                         context_size=128, tie_embeddings=False, rope_theta=500000.0)  # fmt: skip
    base = Transformer(config).eval()
    checkpoint = save_checkpoint(work / "base", base, tokenizer_sha256=tok.sha256)
    lora = Transformer(config).eval()
    lora.load_state_dict(base.state_dict())
    apply_lora(lora, "all", rank=4, alpha=8)
    with torch.no_grad():
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.2)
    save_adapter(lora, work / "sft", base_checkpoint=checkpoint)
    merged = merge_lora(lora).eval()
    out = work / "hf"
    export_hf(ExportHFConfig(checkpoint=checkpoint, tokenizer=work / "tokenizer.json",
                             out_dir=out, adapter=work / "sft"))  # fmt: skip
    return out, base, merged, tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True, help="PYTHONPATH entries with the old libraries")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tf_floor_"))
    out, base, merged, tok = build(work)
    env = {**os.environ, "PYTHONPATH": args.site, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", LOADER, str(out), TEXT, json.dumps(CHAT)],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    old = torch.load(out / "old_logits.pt", weights_only=True)
    ids = torch.tensor([text_prompt_ids(tok, TEXT)])
    with torch.no_grad():
        logits_diff = (base(ids)[0][0] - old["logits"]).abs().max().item()
        adapter_diff = (merged(ids)[0][0] - old["adapted"]).abs().max().item()
    ids_equal = seen.pop("ids") == ids[0].tolist()
    chat_equal = seen.pop("chat_ids") == render_prompt(tok, CHAT)
    record = {
        **seen,
        "ids_equal_picochat": ids_equal,
        "chat_ids_equal_picochat": chat_equal,
        "max_logit_difference": logits_diff,
        "peft_adapter_max_logit_difference": adapter_diff,
    }
    print(json.dumps(record, indent=2))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "check_transformers_floor.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
