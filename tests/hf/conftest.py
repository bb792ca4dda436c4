"""Tiny Hugging Face models and tokenizers built locally (nothing is downloaded)."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEXT = (
    "the tide comes in and the tide goes out. the moon pulls the sea. "
    "what is the capital of france? paris is the capital of france. hello there. "
    "how are you? i am fine, thank you. tell me about bees. bees make honey. "
)

CHAT_ROWS = [
    {"user": f"question {i}: what is {i} plus {i}?", "assistant": f"{i} plus {i} is {2 * i}."}
    for i in range(14)
] + [
    {
        "messages": [
            {"role": "system", "content": "be brief."},
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "hello."},
            {"role": "user", "content": "tell me about bees"},
            {"role": "assistant", "content": "bees make honey."},
        ]
    }
]


def build_tokenizer(chat_template: str | None = CHATML):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator([TEXT] * 4 + [json.dumps(r) for r in CHAT_ROWS], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
    )
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def build_llama(vocab_size: int, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def tiny_hf_model(tmp_path_factory):
    """A folder with a tiny Llama and a ChatML tokenizer saved with save_pretrained."""
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny_llama")
    tokenizer = build_tokenizer()
    build_llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def make_tokenizer():
    """`build_tokenizer` itself, for tests that need a tokenizer with another template."""
    pytest.importorskip("transformers")
    return build_tokenizer


@pytest.fixture
def chat_file(tmp_path):
    path = tmp_path / "chat.jsonl"
    lines = [json.dumps(r) for r in CHAT_ROWS] + ['{"user": "no answer"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
