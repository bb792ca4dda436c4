"""DPO: the loss and TRL's metrics on known log-probs, answer log-probs of a real model,
training on starter pairs, the frozen reference, resume and the real CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from picochat.artifacts import sha256_file
from picochat.chat_format import fit_to_context, render_training
from picochat.configs import (
    BaseTrainConfig,
    DPOConfig,
    PreferenceStarterConfig,
    TokenizerTrainConfig,
)
from picochat.data.chat import read_chat_jsonl
from picochat.data.preference_starter import build_preference_starter
from picochat.data.preferences import read_preferences_jsonl
from picochat.model.checkpoint import load_checkpoint, save_checkpoint
from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.tokenizer import load_tokenizer, train_tokenizer
from picochat.training.dpo import REFERENCE_FILE, train_dpo
from picochat.training.dpo_data import (
    EncodedPair,
    PairBatches,
    answer_logps,
    collate,
    encode_pairs,
    sequence_logps,
)
from picochat.training.dpo_loss import dpo_terms
from picochat.training.dpo_ties import TIE_RTOL_FLOOR, measure_tie_rtol
from picochat.training.pretrain import train_base

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONTEXT = 256
CPU = {"device": "cpu", "precision": "fp32"}


# --- the loss on hand-set log-probs ---------------------------------------------------


def trl_sigmoid_dpo(pi_c, pi_r, ref_c, ref_r, beta):
    """TRL's DPOTrainer definitions (trl 1.16 `_compute_loss`, loss_type "sigmoid"),
    rewritten with Python floats: its loss lives inside a Trainer method, so it cannot be
    called without building a whole trainer and model."""
    chosen_logratios = [a - b for a, b in zip(pi_c, ref_c, strict=True)]
    rejected_logratios = [a - b for a, b in zip(pi_r, ref_r, strict=True)]
    deltas = [c - r for c, r in zip(chosen_logratios, rejected_logratios, strict=True)]
    losses = [math.log1p(math.exp(-beta * d)) for d in deltas]  # -logsigmoid(beta * d)
    chosen_rewards = [beta * c for c in chosen_logratios]
    rejected_rewards = [beta * r for r in rejected_logratios]
    n = len(deltas)
    pairs = list(zip(chosen_rewards, rejected_rewards, strict=True))
    return {
        "loss": sum(losses) / n,
        "rewards/chosen": sum(chosen_rewards) / n,
        "rewards/rejected": sum(rejected_rewards) / n,
        "rewards/margins": sum(c - r for c, r in pairs) / n,
        "rewards/accuracies": sum(c > r for c, r in pairs) / n,
        "logps/chosen": sum(pi_c) / n,
        "logps/rejected": sum(pi_r) / n,
    }


def test_loss_rewards_margins_accuracy_on_known_logps():
    pi_c, pi_r = [-10.0, -4.0, -7.5, -3.0], [-12.0, -3.0, -7.5, -9.0]
    ref_c, ref_r = [-11.0, -5.0, -7.0, -3.0], [-11.0, -5.0, -7.0, -8.0]
    beta = 0.5
    t = [torch.tensor(x, dtype=torch.float64) for x in (pi_c, pi_r, ref_c, ref_r)]
    terms = dpo_terms(*t, beta)
    # By hand, pair 0: chosen ratio +1, rejected ratio -1 -> delta 2, loss -log sigmoid(1).
    assert terms.losses[0].item() == pytest.approx(math.log(1 + math.exp(-1.0)), abs=1e-6)
    assert terms.chosen_rewards.tolist() == pytest.approx([0.5, 0.5, -0.25, 0.0])
    assert terms.rejected_rewards.tolist() == pytest.approx([-0.5, 1.0, -0.25, -0.5])
    metrics = terms.metrics()
    # Pair 2 is a tie (-0.25 vs -0.25): not counted as a win, as in TRL (strict >).
    assert metrics["rewards/accuracies"] == pytest.approx(0.5)
    assert metrics["rewards/margins"] == pytest.approx((1.0 - 0.5 + 0.0 + 0.5) / 4)
    expected = trl_sigmoid_dpo(pi_c, pi_r, ref_c, ref_r, beta)
    assert metrics.keys() == expected.keys()
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-6), name


def test_gradient_pushes_chosen_up_and_rejected_down():
    pi = torch.tensor([-5.0, -6.0], requires_grad=True)
    terms = dpo_terms(pi[:1], pi[1:], torch.tensor([-5.0]), torch.tensor([-6.0]), beta=0.1)
    terms.losses.sum().backward()
    # d/d pi_c of -logsigmoid(beta * delta) at delta 0 = -beta * sigmoid(0) = -0.05.
    assert pi.grad.tolist() == pytest.approx([-0.05, 0.05])


# --- a tiny tokenizer, base run, SFT-like steps and starter pairs (shared) ----------------


def sft_like_steps(model, tokenizer, steps: int, seed: int = 0) -> None:
    """A few supervised steps on the example chat rows' answers (what SFT does)."""
    rows = []
    for example in read_chat_jsonl(EXAMPLES / "tiny_chat.jsonl").examples:
        fitted = fit_to_context(*render_training(tokenizer, example.messages), CONTEXT + 1)
        if fitted is not None:
            rows.append(fitted)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = [rows[int(i)] for i in torch.randint(len(rows), (8,), generator=generator)]
        width = max(len(ids) for ids, _ in batch) - 1
        inputs = torch.full((8, width), tokenizer.pad_id)
        targets = torch.full((8, width), IGNORE_INDEX)
        for r, (ids, mask) in enumerate(batch):
            inputs[r, : len(ids) - 1] = torch.tensor(ids[:-1])
            scored = torch.tensor(mask[1:]).bool()
            targets[r, : len(ids) - 1] = torch.where(scored, torch.tensor(ids[1:]), IGNORE_INDEX)
        loss = model(inputs, targets)[1]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dpo")
    tok_path = root / "tokenizer.json"
    train_tokenizer(TokenizerTrainConfig(input=EXAMPLES / "tiny_corpus.txt", out=tok_path))
    base = train_base(
        BaseTrainConfig(
            corpus=EXAMPLES / "tiny_corpus.txt",
            tokenizer=tok_path,
            out_dir=root / "base",
            preset="smoke",
            n_layer=1,
            context_size=CONTEXT,
            max_steps=4,
            eval_every=4,
            eval_batches=1,
            batch_size=8,
            **CPU,
        ),
        show_progress=False,
    )
    tokenizer = load_tokenizer(tok_path)
    model = load_checkpoint(base.checkpoint, tokenizer=tokenizer)
    torch.manual_seed(0)
    sft_like_steps(model, tokenizer, steps=20)
    sft = save_checkpoint(
        root / "sft", model, tokenizer_sha256=tokenizer.sha256, kind="sft", metadata={}
    )
    prefs = root / "preferences.jsonl"
    build_preference_starter(PreferenceStarterConfig(input=EXAMPLES / "tiny_chat.jsonl", out=prefs))
    # A 24-pair slice for the tests that check mechanics, not learning (keeps them fast).
    few = root / "few_preferences.jsonl"
    few.write_text("".join(prefs.read_text().splitlines(keepends=True)[:24]))
    return {
        "root": root,
        "tokenizer": tok_path,
        "base": base.checkpoint,
        "sft": sft,
        "prefs": prefs,
        "few": few,
    }


def dpo_config(setup, out_dir, **overrides) -> DPOConfig:
    values = dict(
        input=setup["prefs"],
        tokenizer=setup["tokenizer"],
        checkpoint=setup["sft"],
        out_dir=out_dir,
        max_steps=16,
        eval_every=8,
        batch_size=8,
        learning_rate=2e-3,
        warmup_steps=2,
        beta=0.1,
        **CPU,
    )
    values.update(overrides)
    return DPOConfig(**values)


@pytest.fixture(scope="module")
def trained(setup):
    sft_weights = sha256_file(setup["sft"] / "model.safetensors")
    result = train_dpo(dpo_config(setup, setup["root"] / "dpo"), show_progress=False)
    return result, sft_weights


def test_answer_logps_are_sums_over_the_answer_tokens_only(setup):
    tokenizer = load_tokenizer(setup["tokenizer"])
    model = load_checkpoint(setup["sft"], tokenizer=tokenizer)
    pairs = read_preferences_jsonl(setup["prefs"]).pairs[:3]
    encoded, _ = encode_pairs(pairs, tokenizer, CONTEXT)
    with torch.no_grad():
        chosen, rejected = sequence_logps(model, collate(encoded, tokenizer.pad_id))
        for got, side in ((chosen, "chosen"), (rejected, "rejected")):
            for row, pair in enumerate(encoded):
                ids, mask = getattr(pair, side)
                # Alone, unpadded, from full logits: padding and masking must not matter.
                logits = model(torch.tensor([ids[:-1]]))[0][0].double()
                logp = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])
                expected = (logp[:, 0] * torch.tensor(mask[1:])).sum().item()
                assert got[row].item() == pytest.approx(expected, abs=1e-3)


def test_answer_logp_gradients_match_full_logits(setup):
    """The model's chunked per-token loss (loss_reduction="none") against autograd
    through the full logits: same gradients for every weight."""
    tokenizer = load_tokenizer(setup["tokenizer"])
    model = load_checkpoint(setup["sft"], tokenizer=tokenizer).double()
    encoded, _ = encode_pairs(read_preferences_jsonl(setup["prefs"]).pairs[:3], tokenizer, CONTEXT)
    batch = collate(encoded, tokenizer.pad_id)
    chosen, rejected = sequence_logps(model, batch)
    (chosen.sum() - 2 * rejected.sum()).backward()
    chunked = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    logp = torch.log_softmax(model(batch.inputs)[0], -1)
    scored = batch.targets != IGNORE_INDEX
    picked = logp.gather(2, torch.where(scored, batch.targets, 0)[..., None])[..., 0]
    sums = (picked * scored).sum(-1)
    assert torch.allclose(sums.float(), torch.cat([chosen, rejected]), atol=1e-4)
    (sums[:3].sum() - 2 * sums[3:].sum()).backward()
    for name, param in model.named_parameters():
        # The chunked path works in fp32 (like training), so agreement is to fp32 rounding.
        assert torch.allclose(chunked[name], param.grad, rtol=1e-4, atol=1e-6), name


def test_policy_equal_to_reference_gives_ln2(setup):
    tokenizer = load_tokenizer(setup["tokenizer"])
    model = load_checkpoint(setup["sft"], tokenizer=tokenizer)
    encoded, _ = encode_pairs(read_preferences_jsonl(setup["prefs"]).pairs[:8], tokenizer, CONTEXT)
    reference = answer_logps(
        model, encoded, pad_id=tokenizer.pad_id, batch_size=3, device=torch.device("cpu"),
        precision="fp32",
    )  # fmt: skip
    model.train()
    chosen, rejected = sequence_logps(model, collate(encoded, tokenizer.pad_id))
    metrics = dpo_terms(chosen, rejected, reference[:, 0], reference[:, 1], 0.1).metrics()
    assert metrics["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert metrics["rewards/margins"] == pytest.approx(0.0, abs=1e-5)
    # Other padding, other rounding: without a tie tolerance some pairs "win" on noise.
    assert metrics["rewards/accuracies"] > 0 and metrics["rewards/margins"] != 0.0
    ties = measure_tie_rtol(
        model, encoded, reference, batch_size=3, pad_id=tokenizer.pad_id,
        device=torch.device("cpu"), precision="fp32",
    )  # fmt: skip
    assert ties["pairs_measured"] == 8 and ties["measured_relative_noise"] < 1e-6
    tied = dpo_terms(
        chosen, rejected, reference[:, 0], reference[:, 1], 0.1, tie_rtol=ties["rtol"]
    ).metrics()
    for name in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert tied[name] == 0.0, name  # exactly: the policy is the reference (issue 15)


def test_a_margin_beyond_float_noise_still_wins():
    pi_c, pi_r = torch.tensor([-10.0, -10.0]), torch.tensor([-10.0, -10.0])
    ref_c, ref_r = torch.tensor([-10.001, -10.00001]), torch.tensor([-10.0, -10.0])
    metrics = dpo_terms(pi_c, pi_r, ref_c, ref_r, 1.0, tie_rtol=TIE_RTOL_FLOOR).metrics()
    # Pair 0: margin 1e-3 (2.5e-5 of the sums) wins; pair 1: 1e-5 (2.5e-7) is float noise.
    assert metrics["rewards/accuracies"] == 0.5
    assert metrics["rewards/margins"] == pytest.approx(1e-3 / 2, rel=1e-3)


def test_training_on_starter_pairs_raises_validation_reward_accuracy(trained):
    result, _ = trained
    report = result.report
    assert report["dataset"]["val_pairs"] > 0
    # Before any update the policy is its own reference: ln 2, zero margins, no pair won.
    start = report["history"][0]
    assert start["step"] == 0
    assert start["val_loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert start["val_rewards/margins"] == 0.0
    assert start["val_rewards/accuracies"] == 0.0
    final = report["history"][-1]
    assert final["val_rewards/accuracies"] > 0.5
    assert final["val_loss"] < math.log(2)
    assert final["val_rewards/margins"] > 0
    assert report["best"]["step"] in [h["step"] for h in report["history"]]


def test_report_has_the_spec_keys_and_says_pairs_are_synthetic(trained):
    result, _ = trained
    report = json.loads(result.report_path.read_text())
    for key in ("config", "inputs", "versions", "seed", "wall_seconds", "history", "best"):
        assert key in report
    assert report["stop_reason"] == "max_steps" and report["beta"] == 0.1
    dataset = report["dataset"]
    assert dataset["pairs"] == dataset["train_pairs"] + dataset["val_pairs"] == 92
    assert isinstance(dataset["skipped"], int) and isinstance(dataset["skipped_rows"], list)
    assert dataset["all_synthetic"] is True
    # The tie tolerance was measured on this device and saved with the reference (issue 15).
    ties = report["reference"]["tie_tolerance"]
    assert ties["rtol"] >= TIE_RTOL_FLOOR and ties["pairs_measured"] > 0
    saved = load_file(str(result.out_dir / REFERENCE_FILE))["tie_rtol"]
    assert float(saved[0]) == ties["rtol"]
    # history[0] is the loop's step-0 baseline (validation only); the first trained step follows.
    assert report["history"][0]["step"] == 0
    entry = next(e for e in report["history"] if e["step"] > 0)
    for key in (
        "step", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
        "rewards/accuracies", "logps/chosen", "logps/rejected", "val_loss",
        "val_rewards/accuracies", "val_rewards/margins",
    ):  # fmt: skip
        assert isinstance(entry[key], (int, float)), key
    markdown = (result.out_dir / "report.md").read_text()
    assert "not alignment" in markdown and "not a substitute for pretraining" in markdown
    for name in ("checkpoint", "best_checkpoint"):
        info = json.loads((result.out_dir / name / "config.json").read_text())
        assert info["kind"] == "dpo"
    assert (result.out_dir / "dpo_curve.png").stat().st_size > 0


def test_reference_is_computed_once_and_never_updated(setup, trained):
    result, sft_weights = trained
    tokenizer = load_tokenizer(setup["tokenizer"])
    # The starting weights on disk are untouched ...
    assert sha256_file(setup["sft"] / "model.safetensors") == sft_weights
    # ... and the stored reference log-probs are exactly theirs, recomputed after training.
    saved = load_file(str(result.out_dir / REFERENCE_FILE))["logps"]
    prefs = read_preferences_jsonl(setup["prefs"])
    train, val = prefs.split(0.2, 1337)
    encoded, _ = encode_pairs(train, tokenizer, CONTEXT)
    encoded_val, _ = encode_pairs(val, tokenizer, CONTEXT, first_index=len(encoded))
    args = dict(pad_id=tokenizer.pad_id, batch_size=8, device=torch.device("cpu"), precision="fp32")
    start = load_checkpoint(setup["sft"], tokenizer=tokenizer)
    assert torch.allclose(saved, answer_logps(start, encoded + encoded_val, **args), atol=1e-4)
    trained_model = load_checkpoint(result.checkpoint, tokenizer=tokenizer)
    moved = answer_logps(trained_model, encoded + encoded_val, **args)
    assert (moved - saved).abs().max() > 1e-2  # the policy did move away from it


def test_reference_checkpoint_is_used_instead_of_the_policy(setup, tmp_path):
    config = dpo_config(
        setup, tmp_path / "dpo", input=setup["few"], reference_checkpoint=setup["base"], max_steps=1
    )
    result = train_dpo(config, show_progress=False)
    tokenizer = load_tokenizer(setup["tokenizer"])
    saved = load_file(str(tmp_path / "dpo" / REFERENCE_FILE))["logps"]
    reference = load_checkpoint(setup["base"], tokenizer=tokenizer)
    prefs = read_preferences_jsonl(setup["few"])
    train, val = prefs.split(0.2, 1337)
    encoded, _ = encode_pairs(train + val, tokenizer, CONTEXT)
    expected = answer_logps(
        reference, encoded, pad_id=tokenizer.pad_id, batch_size=8,
        device=torch.device("cpu"), precision="fp32",
    )  # fmt: skip
    assert torch.allclose(saved, expected, atol=1e-4)
    assert result.report["reference"]["source"] == "--reference-checkpoint"
    assert result.report["reference"]["sha256"] == sha256_file(setup["base"] / "model.safetensors")


def test_resume_continues_exactly(setup, tmp_path):
    def run(folder, max_steps, resume=False):
        config = dpo_config(
            setup, tmp_path / folder, input=setup["few"], max_steps=max_steps, eval_every=1,
            batch_size=4, resume=resume,
        )  # fmt: skip
        return train_dpo(config, show_progress=False)

    straight = run("straight", 2)
    run("resumed", 1)
    resumed = run("resumed", 2, resume=True)
    a = load_file(str(straight.checkpoint / "model.safetensors"))
    b = load_file(str(resumed.checkpoint / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.report["reference"]["computed"].startswith("read back")
    losses = [h.get("loss") for h in resumed.report["history"]]  # None at the step-0 baseline
    assert losses == pytest.approx([h.get("loss") for h in straight.report["history"]])


def test_without_validation_pairs_figures_are_null_with_a_reason(setup, tmp_path):
    config = dpo_config(
        setup, tmp_path / "noval", input=setup["few"], val_fraction=0.0, max_steps=1, batch_size=4
    )
    report = train_dpo(config, show_progress=False).report
    assert report["dataset"]["val_pairs"] == 0
    assert report["best"] is None and "no validation pairs" in report["best_reason"]
    entry = report["history"][-1]
    assert entry["val_loss"] is None and "no validation pairs" in entry["val_loss_reason"]
    assert entry["loss"] == pytest.approx(math.log(2), abs=1e-4)  # one step: still the start
    assert (tmp_path / "noval" / "checkpoint" / "model.safetensors").is_file()


def test_lora_trains_only_adapters_and_saves_merged_weights(setup, tmp_path):
    config = dpo_config(
        setup, tmp_path / "lora", input=setup["few"], max_steps=2, eval_every=2, peft="lora",
        lora_targets="attn_qkv", learning_rate=1e-2,
    )  # fmt: skip
    result = train_dpo(config, show_progress=False)
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert result.report["peft"]["type"] == "lora"
    model = result.report["model"]
    assert 0 < model["trainable_parameters"] < model["num_parameters"]
    start = load_file(str(setup["sft"] / "model.safetensors"))
    merged = load_file(str(result.checkpoint / "model.safetensors"))
    assert merged.keys() == start.keys()  # plain weights: later stages need nothing special
    for name, tensor in start.items():
        if "attn_qkv" in name:
            assert not torch.equal(tensor, merged[name]), name
        else:
            assert torch.equal(tensor, merged[name]), name


# --- the real CLI -------------------------------------------------------------------------


def test_spec_command_runs_on_starter_pairs_from_the_example_pack(setup, tmp_path, run_cli):
    prefs = tmp_path / "preferences.jsonl"
    code, out, err = run_cli(
        "data", "preference-starter", "--input", EXAMPLES / "tiny_chat.jsonl", "--out", prefs
    )
    assert code == 0, err
    code, out, err = run_cli(
        "train", "dpo", "--input", prefs, "--tokenizer", setup["tokenizer"],
        "--checkpoint", setup["base"], "--out-dir", tmp_path / "dpo", "--max-steps", "4",
        "--learning-rate", "0.000005", "--beta", "0.1", "--early-stop-patience", "4",
        "--eval-every", "2", "--device", "cpu", "--precision", "fp32",
    )  # fmt: skip
    assert code == 0, err
    assert "stopped: max_steps" in out and "not alignment" in out
    for name in ("checkpoint", "best_checkpoint", "dpo_report.json", "report.md"):
        assert (tmp_path / "dpo" / name).exists(), name


def test_cli_rejects_a_file_without_usable_pairs(setup, tmp_path, run_cli):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user": "hi", "chosen": "same", "rejected": "same"}\n{"oops": 1}\n')
    code, out, err = run_cli(
        "train", "dpo", "--input", bad, "--tokenizer", setup["tokenizer"],
        "--checkpoint", setup["base"], "--out-dir", tmp_path / "dpo", "--device", "cpu",
    )  # fmt: skip
    assert code == 2
    assert "bad.jsonl" in err and "no usable preference pairs" in err
    assert "Traceback" not in err
    assert not (tmp_path / "dpo" / "checkpoint").exists()


def test_ranks_slice_one_stream_of_pairs():
    """2 ranks at batch 2 train, together, on the pairs one process gets at batch 4, across
    the end of a pass; resume restores a rank's place."""
    pairs = [EncodedPair(i, None, ([1, 2, 3], [0, 1, 1]), ([1, 2, 4], [0, 1, 1]), False)
             for i in range(10)]  # fmt: skip
    whole = PairBatches(pairs, pad_id=0, batch_size=4, seed=3)
    ranks = [
        PairBatches(pairs, pad_id=0, batch_size=2, seed=3, rank=rank, world_size=2)
        for rank in (0, 1)
    ]
    for _ in range(6):  # 24 pairs: past two passes of 10
        together = torch.cat([source.next_batch().indices for source in ranks])
        assert together.tolist() == whole.next_batch().indices.tolist()
    resumed = PairBatches(pairs, pad_id=0, batch_size=2, seed=3, rank=1, world_size=2)
    resumed.load_state_dict(ranks[1].state_dict())
    assert resumed.next_batch().indices.tolist() == ranks[1].next_batch().indices.tolist()
