"""Hugging Face causal LMs behind the same reply interface as native checkpoints.

`load_hf_model(source)` loads a model folder, a hub id, or a single `.gguf` file
(transformers' GGUF support dequantises it to float) together with its tokenizer.
`HFChatModel` wraps the pair so that `picochat eval chat --hf-model` and `picochat chat
--hf-model` call the same reply functions as for a native checkpoint:
`replies(conversations, max_new_tokens)` (batched greedy) and `reply(messages, ...)`
(one sampled reply). Prompts go through the tokenizer's own chat template; a tokenizer
without one gets Picochat's template (`ensure_chat_template`).

Not for: training (`picochat.hf.sft`) or exporting native checkpoints
(`picochat.hf.export`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.errors import CheckpointError
from picochat.hf.support import require

# End-of-turn markers of common chat templates; generation also stops on these.
END_OF_TURN_TOKENS = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>")


def ensure_chat_template(tokenizer: Any) -> bool:
    """Give a tokenizer without a chat template Picochat's; True when it was added."""
    if getattr(tokenizer, "chat_template", None):
        return False
    from picochat.chat_format import JINJA_TEMPLATE

    tokenizer.chat_template = JINJA_TEMPLATE
    return True


def _source_kwargs(source: str | Path) -> tuple[str, dict[str, Any]]:
    """(path or id for from_pretrained, extra kwargs); a .gguf file loads from its folder."""
    path = Path(source).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise CheckpointError("GGUF file not found.", file=path)
        require("gguf", purpose="Loading a .gguf model")
        return str(path.parent), {"gguf_file": path.name}
    return str(source), {}


def refuse_native_checkpoint(source: str | Path) -> None:
    """A Picochat checkpoint passed where a Hugging Face model goes: say so (transformers
    would complain about sentencepiece/tiktoken instead)."""
    config = Path(source).expanduser() / "config.json"
    try:
        native = '"picochat-checkpoint"' in config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    if native:
        raise CheckpointError(
            "this is a Picochat checkpoint, not a Hugging Face model folder.",
            file=source,
            fix="Pass it as --checkpoint DIR with --tokenizer TOKENIZER.json (or convert it "
            "with `picochat export hf` first).",
        )


# Weight files that are pickles: unpickling can run code, so Picochat never loads them.
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def refuse_pickle_weights(folder: Path) -> None:
    """A local model folder must hold safetensors weights; a pickle-only one is refused."""
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern))
    if pickles:
        raise CheckpointError(
            f"The model folder holds only pickle weights ({', '.join(pickles[:3])}); Picochat "
            "never unpickles model files, because loading a pickle can run any code in it.",
            file=folder,
            fix="Convert it once where you trust the file: load it and save it again with "
            "`model.save_pretrained(folder, safe_serialization=True)` (writes model.safetensors).",
        )


def load_hf_model(
    source: str | Path, *, device: Any = "cpu", dtype: Any = None, trainable: bool = False
) -> tuple[Any, Any]:
    """(model, tokenizer) from a hub id, a local folder or a .gguf file, on `device`."""
    transformers = require("transformers")
    torch = require("torch")
    refuse_native_checkpoint(source)
    name, extra = _source_kwargs(source)
    transformers.logging.disable_progress_bar()  # per-shard bars drown the stage's output
    model_extra = dict(extra)
    if "gguf_file" in extra:  # plain dense float weights: trainable and save_pretrained-able
        model_extra["quantization_config"] = transformers.GgufConfig(dequantize=True)
    else:
        refuse_pickle_weights(Path(name).expanduser())
        model_extra["use_safetensors"] = True  # never fall back to a pickle (hub ids too)
    tokenizer = load_hf_tokenizer(source)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            name, dtype=dtype or torch.float32, **model_extra
        )
    except (OSError, ValueError) as error:
        raise _load_error(source, error) from error
    model.to(device)
    model.train(trainable)
    return model, tokenizer


def load_hf_tokenizer(source: str | Path) -> Any:
    """The tokenizer of `source` alone (as `load_hf_model` returns it: a pad token set)."""
    transformers = require("transformers")
    name, extra = _source_kwargs(source)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name, **extra)
    except (OSError, ValueError) as error:
        raise _load_error(source, error) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_error(source: str | Path, error: Exception) -> CheckpointError:
    return CheckpointError(
        f"Cannot load a Hugging Face causal LM from {source}: {error}",
        file=source if Path(source).exists() else None,
        fix="Pass a folder written by save_pretrained (config.json, weights, tokenizer "
        "files), a .gguf file, or a hub id reachable from here.",
    )


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Token ids that end a reply: eos ids of the model and tokenizer, plus end-of-turn."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        ids.extend(value if isinstance(value, list) else [value] if value is not None else [])
    vocab = tokenizer.get_vocab()
    ids.extend(vocab[token] for token in END_OF_TURN_TOKENS if token in vocab)
    return sorted(set(ids))


@dataclass
class HFChatModel:
    """A Hugging Face model + tokenizer answering chat conversations."""

    model: Any
    tokenizer: Any
    name: str

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def render_prompt(self, messages: list[dict[str, Any]]) -> str:
        """The exact prompt text the model sees (ends where the reply begins)."""
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def prompt_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        return self.tokenizer(self.render_prompt(messages), add_special_tokens=False)["input_ids"]

    def replies(
        self,
        conversations: list[list[dict[str, Any]]],
        max_new_tokens: int = 96,
        batch_size: int = 8,
    ) -> list[str]:
        """Greedy replies, batched with left padding; the same order as `conversations`."""
        torch = require("torch")
        pad = self.tokenizer.pad_token_id
        stops = stop_token_ids(self.model, self.tokenizer)
        was_training = self.model.training
        self.model.eval()
        out: list[str] = []
        for start in range(0, len(conversations), batch_size):
            prompts = [self.prompt_ids(c) for c in conversations[start : start + batch_size]]
            width = max(len(p) for p in prompts)
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
            with torch.no_grad():
                generated = self.model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    eos_token_id=stops,
                )
            for row in generated[:, width:].tolist():
                out.append(self._decode_reply(row, stops))
        self.model.train(was_training)
        return out

    def reply(
        self,
        messages: list[dict[str, Any]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        seed: int | None = None,
    ) -> str:
        """One reply with `picochat chat`'s sampling controls (temperature 0: greedy)."""
        stops = stop_token_ids(self.model, self.tokenizer)
        options = dict(temperature=temperature, top_k=top_k, top_p=top_p,
                       repetition_penalty=repetition_penalty, seed=seed)  # fmt: skip
        new = self._sample(self.prompt_ids(messages), stops, max_new_tokens, **options)
        return self._decode_reply(new, stops)

    def continue_text(self, prompt: str, *, max_new_tokens: int = 128, **options: Any) -> str:
        """The continuation of raw text (`picochat generate --hf-model`): the tokenizer's
        own special tokens (an export adds `<|bos|>` as Picochat does), stops at EOS."""
        stops = stop_token_ids(self.model, self.tokenizer)
        new = self._sample(self.tokenizer(prompt)["input_ids"], stops, max_new_tokens, **options)
        return self._decode_reply(new, stops, strip=False)

    def _sample(
        self,
        prompt_ids: list[int],
        stops: list[int],
        max_new_tokens: int,
        *,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        seed: int | None = None,
    ) -> list[int]:
        torch = require("torch")
        if seed is not None:
            torch.manual_seed(seed)
        ids = torch.tensor([prompt_ids], device=self.device)
        sampling: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            sampling.update(temperature=temperature, top_k=top_k or 0, top_p=top_p or 1.0)
        with torch.no_grad():
            generated = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                repetition_penalty=repetition_penalty,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=stops,
                **sampling,
            )
        return generated[0, ids.shape[1] :].tolist()

    def _decode_reply(self, ids: list[int], stops: list[int], strip: bool = True) -> str:
        for index, token in enumerate(ids):
            if token in stops:
                ids = ids[:index]
                break
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text.strip() if strip else text


def load_hf_chat_model(source: str | Path, *, device: Any = "cpu") -> HFChatModel:
    """An `HFChatModel` ready to answer (eval mode; Picochat's template if it has none)."""
    model, tokenizer = load_hf_model(source, device=device)
    ensure_chat_template(tokenizer)
    return HFChatModel(model=model, tokenizer=tokenizer, name=str(source))


def hf_chat_replies(
    model_dir: str | Path, conversations: list[list[dict[str, Any]]], max_new_tokens: int = 96
) -> list[str]:
    """Batched greedy replies of the Hugging Face model in `model_dir` (CPU)."""
    return load_hf_chat_model(model_dir).replies(conversations, max_new_tokens)
