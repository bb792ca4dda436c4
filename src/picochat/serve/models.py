"""What the server serves: a native Transformer plus the text <-> ids functions around it.

Three sources, as on the command line:
- `--checkpoint` + `--tokenizer`: a Picochat checkpoint; chats are rendered by the one
  chat template (`picochat.chat_format.render_prompt`), raw text as `<|bos|>` + text
  (`picochat.generation.text_prompt_ids`), exactly as `picochat chat`/`generate` do.
- `--run runs/x`: the run's final model, the one its summary and release gates scored
  (`summary.json` names it: post-DPO when DPO ran), with the run's tokenizer.json.
- `--hf-model DIR`: a Hugging Face `LlamaForCausalLM` folder (what `picochat export hf`
  writes, or any Llama-layout model). Its weights are loaded into a native Transformer
  by `picochat import hf`'s conversion (`picochat.hf.llama_import.native_model`: fuse
  q/k/v and gate/up), so it joins the same batched decoder; prompts go through the
  folder's own chat template (`apply_chat_template`), like `picochat chat --hf-model`.
  Other architectures are refused with a clear error: the batched decoder runs the
  Llama layout only.

Not here: decoding (`engine.py`), HTTP (`api.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.errors import CheckpointError, InputError


@dataclass
class ServedModel:
    """A model ready for the engine: ids in, ids out, and how text maps to ids."""

    name: str
    model: Any  # picochat.model.transformer.Transformer, eval mode
    chat_ids: Callable[[Sequence[dict[str, Any]]], list[int]]
    text_ids: Callable[[str], list[int]]
    decode: Callable[[Sequence[int]], str]
    stop_ids: tuple[int, ...]
    pad_id: int
    source: str
    info: dict[str, Any] = field(default_factory=dict)
    reply_stop_ids: tuple[int, ...] = ()  # a chat reply's stops, when wider than stop_ids

    def stops(self, *, chat: bool) -> tuple[int, ...]:
        """The ids that end a chat reply (`chat=True`) or a text completion."""
        return (self.reply_stop_ids or self.stop_ids) if chat else self.stop_ids

    @property
    def context_size(self) -> int:
        return int(self.model.config.context_size)

    def exact_prompt(self, messages: Sequence[dict[str, Any]]) -> tuple[str, int]:
        """(text, tokens) of the prompt a chat request renders to, specials included."""
        ids = self.chat_ids(messages)
        return self.decode(ids), len(ids)


def native_model(
    checkpoint: str | Path, tokenizer_path: str | Path, *, name: str | None = None, device="cpu"
) -> ServedModel:
    """A Picochat checkpoint folder and its tokenizer.json."""
    from picochat.chat_format import render_prompt
    from picochat.generation import DEFAULT_PAD_ID, stop_ids_for, text_prompt_ids
    from picochat.model.checkpoint import load_checkpoint
    from picochat.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tokenizer_path))
    model = load_checkpoint(str(checkpoint), device=str(device), tokenizer=tokenizer)
    model.eval()
    pad = getattr(tokenizer, "pad_id", None)
    return ServedModel(
        name=name or Path(checkpoint).resolve().parent.name,
        model=model,
        chat_ids=lambda messages: render_prompt(tokenizer, messages),
        text_ids=lambda prompt: text_prompt_ids(tokenizer, prompt),
        decode=tokenizer.decode,
        stop_ids=stop_ids_for(tokenizer),
        pad_id=DEFAULT_PAD_ID if pad is None else pad,
        source=str(checkpoint),
        info={"kind": getattr(model, "checkpoint_meta", {}).get("kind"), "tokenizer": tokenizer},
        reply_stop_ids=stop_ids_for(tokenizer, reply=True),
    )


def final_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a run's summary and gates scored (post-DPO when DPO ran)."""
    run = Path(run_dir)
    summary_path = run / layout.SUMMARY_JSON
    if not summary_path.is_file():
        raise InputError(
            f"{run} has no summary.json: the run has not finished, or it is not a run folder.",
            file=summary_path,
            fix="Finish it with `picochat run tiny --out-dir ...`, or pass --checkpoint.",
        )
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"summary.json is not JSON: {error}", file=summary_path) from error
    scored = (summary.get("run") or {}).get("final_model")  # e.g. "dpo/checkpoint"
    if not scored:
        raise InputError(
            "summary.json does not name the run's final model (run.final_model).",
            file=summary_path,
            fix="Rerun `picochat run tiny` with this Picochat version, or pass --checkpoint.",
        )
    path = run / scored
    if not (path / "model.safetensors").is_file():
        raise CheckpointError(
            f"the run's final model ({scored}) is missing.", file=path, fix="Rerun the run."
        )
    return path


def run_model(run_dir: str | Path, *, name: str | None = None, device="cpu") -> ServedModel:
    """A run folder's final model with the run's tokenizer."""
    run = Path(run_dir)
    served = native_model(
        final_checkpoint(run),
        run / layout.TOKENIZER,
        name=name or run.resolve().name,
        device=device,
    )
    served.source = str(run)
    return served


def hf_model(model_dir: str | Path, *, name: str | None = None, device="cpu") -> ServedModel:
    """A Llama-layout Hugging Face folder, decoded by the native batched engine."""
    from picochat.hf.adapter import ensure_chat_template, load_hf_model, stop_token_ids
    from picochat.hf.llama_import import native_model

    loaded, tokenizer = load_hf_model(model_dir, device="cpu")
    ensure_chat_template(tokenizer)
    # `import hf`'s conversion with every id kept (the folder's own tokenizer encodes).
    weights = {k: v.detach().float() for k, v in loaded.state_dict().items()}
    ids = list(range(loaded.config.vocab_size))
    model = native_model(loaded.config.to_dict(), weights, ids, Path(model_dir)).to(device)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []

    def chat_ids(messages: Sequence[dict[str, Any]]) -> list[int]:
        text = tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    return ServedModel(
        name=name or Path(model_dir).resolve().name,
        model=model,
        chat_ids=chat_ids,
        text_ids=lambda prompt: bos + tokenizer(prompt, add_special_tokens=False)["input_ids"],
        decode=lambda ids: tokenizer.decode(list(ids), skip_special_tokens=False),
        stop_ids=tuple(stop_token_ids(loaded, tokenizer)),
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        source=str(model_dir),
        info={"kind": "hf"},
    )
