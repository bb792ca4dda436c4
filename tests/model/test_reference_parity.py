"""Cross-check against the reference implementation: the same weights in Hugging Face
`LlamaForCausalLM` give the same logits and loss (RoPE, RMSNorm, GQA, SwiGLU agree)."""

from __future__ import annotations

import pytest
import torch

from tiny_models import tiny_model

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("tie, n_kv_head", [(True, 2), (False, 4)])
def test_same_logits_and_loss_as_hf_llama(tie, n_kv_head):
    from picochat.hf.export import llama_state_dict

    ours = tiny_model(50, n_kv_head=n_kv_head, context_size=24, tie_embeddings=tie,
                      rope_theta=500.0)  # fmt: skip
    config = ours.config
    hf_config = transformers.LlamaConfig(
        vocab_size=50, hidden_size=32, intermediate_size=config.mlp_hidden, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=n_kv_head, head_dim=8,
        max_position_embeddings=24, rms_norm_eps=config.norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": 500.0},
        tie_word_embeddings=tie, attention_bias=False, mlp_bias=False,
        attn_implementation="eager",
    )  # fmt: skip
    hf = transformers.LlamaForCausalLM(hf_config).eval()
    missing, unexpected = hf.load_state_dict(llama_state_dict(ours), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}

    idx = torch.randint(0, 50, (2, 24))
    with torch.no_grad():
        theirs = hf(input_ids=idx, labels=idx)
        logits, _ = ours(idx)
        _, loss = ours(idx[:, :-1], idx[:, 1:])
    assert torch.allclose(logits, theirs.logits, atol=1e-5)
    assert abs(loss.item() - theirs.loss.item()) < 1e-5
