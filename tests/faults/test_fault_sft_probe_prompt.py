"""The SFT memorisation probe asks exactly what training showed before the answer."""

from __future__ import annotations

from picochat.chat_format import fit_to_context, render_training
from picochat.data.chat import ChatExample
from picochat.training.sft import training_prompt


def test_long_prompt_is_cut_like_training_and_keeps_bos(tiny_files):
    from picochat.tokenizer import load_tokenizer

    tok = load_tokenizer(tiny_files[0])
    messages = [
        {"role": "user", "content": "the quick brown fox " * 30},
        {"role": "assistant", "content": "the lazy dog"},
        {"role": "user", "content": "jumps over the fox"},
        {"role": "assistant", "content": "the dog"},
    ]
    example = ChatExample(1, messages, "k")
    context = 64
    prompt = training_prompt(tok, example, context)
    ids, mask = fit_to_context(*render_training(tok, messages), context + 1)
    assert prompt[0] == tok.bos_id
    assert ids[: len(prompt)] == prompt and mask[len(prompt)] == 1  # the answer comes next
    assert len(prompt) < context
