"""The workbench in a real browser: headless Chromium (Debian's package) driven by Playwright.

Skipped, with the reason printed under `pytest -rs` (and by `make test`), when Chromium
or Playwright is missing: `apt-get install chromium` and `pip install playwright`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "browser tests skipped: Chromium is not installed (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests skipped: no playwright")


@pytest.fixture(scope="module")
def live_runs(runs_dir: Path, tmp_path_factory) -> Path:
    """The finished runs plus "training": a run whose base stage is still running and has
    written only two metrics.jsonl rows so far (no report, no summary)."""
    folder = tmp_path_factory.mktemp("live")
    for name in ("first", "second"):
        shutil.copytree(runs_dir / name, folder / name)
    training = folder / "training"
    (training / "base").mkdir(parents=True)
    stages = {"corpus": {"status": "complete"}, "base": {"status": "running"}}
    (training / "stages.json").write_text(json.dumps(stages))
    rows = [{"step": s, "train_loss": 4.0 - 0.1 * s, "val_loss": 4.1 - 0.1 * s} for s in (0, 2)]
    (training / "base" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="module")
def page(live_runs, start_server):
    from picochat.serve.workbench import workbench_app

    app = workbench_app(live_runs, max_batch=2)
    with start_server(app) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.base_url = url
        yield page
        browser.close()


def test_run_page_shows_loss_curve_gates_and_filters_eval_items(page, runs_dir):
    page.goto(page.base_url + "/")
    page.click("a.run-link:text('first')")
    page.wait_for_selector("#loss-curve path[data-series='val_loss']")
    report = json.loads((runs_dir / "first" / "base" / "train_report.json").read_text())
    assert page.locator("#loss-curve path[data-series='train_loss'] ~ circle").count() >= len(
        report["history"]
    )
    findings = json.loads((runs_dir / "first" / "summary.json").read_text())["gates"]["findings"]
    assert page.locator("#gates tr").count() == len(findings) + 1  # + header
    assert page.inner_text("#gates-status") in ("approved", "warn", "blocked")
    items = page.locator("tr.eval-item")
    total = items.count()
    assert total > 0 and page.inner_text("#eval-count") == f"{total} of {total} items"
    page.select_option("#eval-result", "fail")
    failing = sum(1 for i in range(total) if items.nth(i).get_attribute("data-passed") == "fail")
    assert page.inner_text("#eval-count") == f"{failing} of {total} items"
    page.select_option("#eval-level", "smoke")
    shown = [i for i in range(total) if items.nth(i).is_visible()]
    assert all(items.nth(i).get_attribute("data-level") == "smoke" for i in shown)
    manifest = json.loads((runs_dir / "first" / "corpus_manifest.json").read_text())
    assert page.locator("#corpus-files tr").count() == len(manifest["files"]) + 1
    page.fill("#tok-input", "Picochat")
    page.wait_for_selector("#tok-output .token")
    assert page.locator("#tok-output .token").count() == len("Picochat")  # a char tokenizer


def test_chat_playground_streams_a_reply_and_shows_the_exact_prompt(page):
    page.goto(page.base_url + "/#/run/first")
    page.wait_for_selector("#chat-input")
    page.fill("#temperature", "0")
    page.fill("#max_tokens", "12")
    page.fill("#chat-input", "What is a tokenizer?")
    page.click("#chat-send")
    reply = page.wait_for_selector("#chat-log .assistant[data-finish]")
    assert reply.get_attribute("data-finish") in ("stop", "length")
    page.click("#show-prompt")
    page.wait_for_selector("#exact-prompt:not([hidden])")
    assert "<|user|>What is a tokenizer?<|end|>" in page.inner_text("#exact-prompt")


def test_compare_two_runs_lists_the_differing_setting_first(page):
    page.goto(page.base_url + "/")
    page.select_option("#cmp-a", "first")
    page.select_option("#cmp-b", "second")
    page.click("#cmp-go")
    first_table = page.wait_for_selector("#compare table.compare")
    assert first_table.inner_text().splitlines()[1].split("\t") == ["run.seed", "1337", "7"]


def test_a_run_still_training_updates_as_metrics_are_written(page, live_runs):
    page.goto(page.base_url + "/#/run/training")
    page.wait_for_selector("#loss-curve path[data-series='train_loss']")
    assert page.locator("#loss-curve circle").count() == 4  # 2 rows x 2 series
    with (live_runs / "training" / "base" / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 4, "train_loss": 3.5, "val_loss": 3.7}) + "\n")
    page.wait_for_function("document.querySelectorAll('#loss-curve circle').length === 6")
