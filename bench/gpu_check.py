"""The parts of bench/gpu_check.sh (run that; it times and orders them).

    python bench/gpu_check.py throughput [--smoke]   tokens/s + MFU vs LlamaForCausalLM
    python bench/gpu_check.py decode [--smoke]       eager vs compiled decoding
    torchrun --nproc_per_node=N bench/gpu_check.py dist [--smoke]   DDP + FSDP smoke

Each part prints one JSON line (`RESULT {...}`) that gpu_check.sh collects. `--smoke`
shrinks every shape so the script runs in seconds on a CPU: it checks the code, not the
speed. Throughput: Picochat bf16 + `compile_blocks` and bf16 eager against transformers'
`LlamaForCausalLM` (bf16 autocast, SDPA attention, eager) at the identical shape, A/B
alternated in one process; MFU = 6 x matmul parameters + 12 x layers x width x context
FLOPs per token over (a) the fastest measured bf16 matmul and (b) the GPU's nominal
dense bf16 peak when known.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from picochat.model.config import ModelConfig
from picochat.model.transformer import Transformer
from picochat.runtime import autocast, resolve_device

try:  # the helpers moved into model/compile.py in a refactor; either place works
    from picochat.model.compile import compile_blocks, compile_for_decoding
except ImportError:
    from picochat.model.transformer import compile_blocks, compile_for_decoding

# GPT-2 small's size (124M): depth 12 (width 768, 12 heads of 64, no GQA), GPT-2's
# vocabulary padded to a multiple of 64, context 1024.
GPT2_SHAPE = dict(
    vocab_size=50304, n_layer=12, n_head=12, n_kv_head=12, n_embd=768, context_size=1024
)
SMOKE_SHAPE = dict(vocab_size=512, n_layer=2, n_head=2, n_kv_head=2, n_embd=64, context_size=64)
# Nominal dense bf16 tensor-core peaks (vendor data sheets), FLOP/s.
NOMINAL_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
                "A10G": 125e12, "RTX 4090": 165e12}  # fmt: skip


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def shape(smoke: bool) -> ModelConfig:
    return ModelConfig(**(SMOKE_SHAPE if smoke else GPT2_SHAPE))


def llama_twin(config: ModelConfig) -> torch.nn.Module:
    try:
        from picochat.hf.export import llama_config
    except ImportError:
        from picochat.export_hf import llama_config
    from transformers import LlamaForCausalLM

    from picochat.tokenizer.special import SPECIAL_TOKENS

    ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    return LlamaForCausalLM(llama_config(config, ids))


def step_fn(model, kind: str, batch: torch.Tensor, device: torch.device):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")

    def step() -> None:
        with autocast(device, "bf16"):
            if kind == "picochat":
                loss = model(batch[:, :-1], batch[:, 1:])[1]
            else:  # HF shifts labels itself
                loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def matmul_peak(device: torch.device) -> float:
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(10):
        sync(device)
        started = time.perf_counter()
        for _ in range(10):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - started) / 10)
    return 2 * n**3 / best


def throughput(smoke: bool, device: torch.device) -> dict:
    config = shape(smoke)
    batch_size = 2 if smoke else 16
    steps, repeats, warmup = (2, 2, 1) if smoke else (10, 3, 3)
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, config.vocab_size, (batch_size, config.context_size + 1), generator=g)
    batch = batch.to(device)
    torch.manual_seed(0)
    eager = Transformer(config).to(device).train()
    compiled = compile_blocks(Transformer(config).to(device).train())
    hf = llama_twin(config).to(device).train()
    sides = {
        "picochat bf16+compile": step_fn(compiled, "picochat", batch, device),
        "picochat bf16": step_fn(eager, "picochat", batch, device),
        "transformers Llama bf16 (eager)": step_fn(hf, "hf", batch, device),
    }
    compile_seconds = {}
    for name, step in sides.items():
        started = time.perf_counter()
        for _ in range(warmup):
            step()
        sync(device)
        compile_seconds[name] = round(time.perf_counter() - started, 1)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            sync(device)
            started = time.perf_counter()
            for _ in range(steps):
                sides[name]()
            sync(device)
            samples[name].append(
                steps * batch_size * config.context_size / (time.perf_counter() - started)
            )
    tps = {name: statistics.median(values) for name, values in samples.items()}
    matmul_params = sum(p.numel() for p in eager.parameters() if p.dim() == 2)
    flops = 6 * matmul_params + 12 * config.n_layer * config.n_embd * config.context_size
    peak = matmul_peak(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    nominal = next((v for k, v in NOMINAL_BF16.items() if k in gpu), None)
    best = tps["picochat bf16+compile"]
    return {
        "part": "throughput",
        "device": gpu,
        "parameters": eager.num_parameters(),
        "batch": batch_size,
        "context": config.context_size,
        "tokens_per_sec": tps,
        "samples": samples,
        "warmup_seconds": compile_seconds,
        "speedup_vs_llama_eager": best / tps["transformers Llama bf16 (eager)"],
        "eager_speedup_vs_llama_eager": tps["picochat bf16"]
        / tps["transformers Llama bf16 (eager)"],
        "measured_bf16_matmul_flops": peak,
        "mfu_vs_measured_matmul": best * flops / peak,
        "nominal_bf16_flops": nominal,
        "mfu_vs_nominal": best * flops / nominal if nominal else None,
    }


def decode(smoke: bool, device: torch.device) -> dict:
    from picochat.generation import generate_ids

    config = shape(smoke)
    new_tokens = 16 if smoke else 256
    torch.manual_seed(0)
    model = Transformer(config).to(device).eval()
    prompt = [[5, 6, 7, 8, 9, 10, 11, 12]]
    rates, outputs = {}, {}
    for name in ("eager", "compiled"):
        if name == "compiled":
            compile_for_decoding(model)
        with torch.inference_mode():
            started = time.perf_counter()
            generate_ids(model, prompt, max_new_tokens=new_tokens, temperature=0.0, stop_ids=())
            sync(device)
            first = time.perf_counter() - started
            started = time.perf_counter()
            outputs[name] = generate_ids(
                model, prompt, max_new_tokens=new_tokens, temperature=0.0, stop_ids=()
            )[0]
            sync(device)
            rates[name] = {"tokens_per_sec": new_tokens / (time.perf_counter() - started),
                           "first_call_seconds": round(first, 1)}  # fmt: skip
    return {
        "part": "decode",
        "batch": 1,
        "new_tokens": new_tokens,
        "rates": rates,
        "speedup": rates["compiled"]["tokens_per_sec"] / rates["eager"]["tokens_per_sec"],
        "same_greedy_tokens": outputs["eager"] == outputs["compiled"],
    }


def dist_smoke(smoke: bool, device: torch.device) -> dict:
    """Under torchrun: DDP then FSDP, 3 steps each from the same weights; the FSDP
    model's sharded checkpoint is written and read back whole."""
    import torch.distributed as dist

    from picochat.model.checkpoint import load_checkpoint, save_checkpoint
    from picochat.training.parallel import shard_model

    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    config = shape(smoke)
    g = torch.Generator().manual_seed(rank)
    batch = torch.randint(0, config.vocab_size, (2, config.context_size + 1), generator=g).to(
        device
    )
    losses = {}
    for mode in ("ddp", "fsdp"):
        torch.manual_seed(0)
        model = Transformer(config).to(device)
        ids = [device.index] if device.type == "cuda" else None
        train = (
            torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
            if mode == "ddp"
            else shard_model(model, device)
        )
        optimizer = torch.optim.AdamW(train.parameters(), lr=1e-3)
        losses[mode] = []
        for _ in range(3):
            with autocast(device, "bf16"):
                loss = train(batch[:, :-1], batch[:, 1:])[1]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses[mode].append(loss.item())
    folder = Path(os.environ.get("GPU_CHECK_TMP", tempfile.gettempdir())) / "gpu_check_fsdp_ckpt"
    save_checkpoint(folder, train, tokenizer_sha256=None)
    whole = load_checkpoint(folder)
    full = {n: t.full_tensor().cpu() for n, t in train.state_dict().items()}
    same = all(torch.equal(whole.state_dict()[n], full[n].float()) for n in whole.state_dict())
    dist.destroy_process_group()
    return {
        "part": "dist",
        "backend": backend,
        "world_size": world,
        "rank": rank,
        "losses": losses,
        "ddp_equals_fsdp": all(
            abs(a - b) < 1e-2 * abs(a) for a, b in zip(losses["ddp"], losses["fsdp"], strict=True)
        ),
        "sharded_checkpoint_reads_back_whole": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=("throughput", "decode", "dist"))
    parser.add_argument("--smoke", action="store_true", help="Tiny shapes (a CPU code check).")
    args = parser.parse_args()
    device = resolve_device("auto")
    if args.part == "dist" and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    result = {"throughput": throughput, "decode": decode, "dist": dist_smoke}[args.part](
        args.smoke, device
    )
    if result.get("rank", 0) == 0:
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
