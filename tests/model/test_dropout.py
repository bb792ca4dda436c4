"""`--dropout`: residual and embedding dropout while training, never when scoring."""

from __future__ import annotations

import torch

from tiny_models import tiny_model


def test_dropout_draws_new_masks_in_training_and_is_off_in_eval():
    model = tiny_model(n_layer=2)
    plain = tiny_model(n_layer=2)  # the same seed: the same weights
    idx = torch.randint(0, 61, (2, 16))
    model.set_dropout(0.3)
    assert [b.dropout for b in model.blocks] == [0.3, 0.3]
    model.train()
    plain.train()
    first, second = model(idx)[0], model(idx)[0]
    assert not torch.allclose(first, second)  # a fresh mask per forward
    assert not torch.allclose(first, plain(idx)[0])
    model.eval()
    assert torch.equal(model(idx)[0], plain(idx)[0])


def test_dropout_zero_leaves_training_bit_identical():
    model, plain = tiny_model(n_layer=2), tiny_model(n_layer=2)
    model.set_dropout(0.0)
    idx = torch.randint(0, 61, (2, 16))
    _, loss = model.train()(idx[:, :-1], idx[:, 1:])
    _, plain_loss = plain.train()(idx[:, :-1], idx[:, 1:])
    assert torch.equal(loss, plain_loss)


def test_recompute_replays_the_same_masks():
    model = tiny_model(n_layer=2)
    model.set_dropout(0.3)
    idx = torch.randint(0, 61, (2, 16))
    torch.manual_seed(5)
    _, loss = model(idx[:, :-1], idx[:, 1:])
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.activation_checkpointing = True
    torch.manual_seed(5)
    _, recomputed = model(idx[:, :-1], idx[:, 1:])
    recomputed.backward()
    assert torch.allclose(loss, recomputed)
    assert all(torch.allclose(g, p.grad) for g, p in zip(grads, model.parameters(), strict=True))
