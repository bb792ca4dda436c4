/* The workbench page: runs list, a run's story, comparisons, and the chat playground.
   Plain DOM; every value shown comes from /api (the run folder's files) or /v1. */
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
const app = document.getElementById("app");
const fmt = (v) => (v === null || v === undefined ? "—" : typeof v === "number" ? (Number.isInteger(v) ? v : v.toFixed(4)) : typeof v === "object" ? JSON.stringify(v) : v);
const missing = (what) => el("p", { class: "missing" }, `not written yet: ${what}`);
async function api(path, body) {
  const r = await fetch(path, body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {});
  const data = await r.json();
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}
function kvTable(obj, keys) {
  if (!obj) return null;
  const rows = (keys || Object.keys(obj)).filter((k) => k in obj).map((k) => el("tr", {}, el("th", {}, k), el("td", {}, fmt(obj[k]))));
  return el("table", {}, rows);
}
let pollTimer = null;

async function showRuns() {
  const data = await api("/api/runs");
  const pick = (id) => el("select", { id }, data.runs.map((r) => el("option", { value: r.name }, r.name)));
  const go = () => (location.hash = `#/compare/${encodeURIComponent(document.getElementById("cmp-a").value)}/${encodeURIComponent(document.getElementById("cmp-b").value)}`);
  app.replaceChildren(
    el("h2", {}, `Runs in ${data.runs_dir}`),
    data.runs.length ? el("table", { id: "runs" },
      el("tr", {}, el("th", {}, "run"), el("th", {}, "stages"), el("th", {}, "gates"), el("th", {}, "final model")),
      data.runs.map((r) => el("tr", {},
        el("td", {}, el("a", { href: `#/run/${encodeURIComponent(r.name)}`, class: "run-link" }, r.name)),
        el("td", {}, Object.entries(r.stages).map(([s, st]) => `${s}: ${st}`).join(", ")),
        el("td", { class: r.gates || "" }, r.gates || "—"),
        el("td", {}, r.final_model || "—")))) : missing("no run folder (with stages.json) here"),
    el("section", {}, el("h2", {}, "Compare two runs"), pick("cmp-a"), " vs ", pick("cmp-b"), " ", el("button", { id: "cmp-go", onclick: go }, "Compare")));
}

function filesTable(files) {
  if (!files || !files.length) return null;
  const head = ["file", "label", "included", "reason", "quality score", "flags"];
  return el("details", {}, el("summary", {}, `files (${files.length})`),
    el("table", { id: "corpus-files" }, el("tr", {}, head.map((h) => el("th", {}, h))),
      files.map((f) => el("tr", {}, el("td", {}, f.path), el("td", {}, f.label || ""), el("td", {}, f.included ? "yes" : "no"),
        el("td", {}, f.reason || ""), el("td", {}, fmt(f.quality_score)), el("td", {}, (f.quality_flags || []).join(", "))))));
}

function curveSection(sec, keys, id) {
  const body = [el("p", {}, `from ${sec.curve_source === "metrics.jsonl" ? sec.file.replace(/[^/]*$/, "metrics.jsonl") + " (live)" : sec.file}`)];
  body.push(sec.curve && sec.curve.length ? plotCurve(sec.curve, keys, id) : missing(sec.file));
  if (sec.final) body.push(el("h3", {}, "final"), kvTable(sec.final));
  if (sec.best) body.push(el("h3", {}, "best"), kvTable(sec.best));
  if (sec.stop_reason) body.push(el("p", {}, `stop reason: ${sec.stop_reason}${sec.stop_message ? " — " + sec.stop_message : ""}`));
  if (sec.memorization_risk) body.push(el("h3", {}, "memorisation risk"), kvTable(sec.memorization_risk));
  if (sec.diverged !== undefined) body.push(el("p", {}, `validation diverged while train loss fell: ${fmt(sec.diverged)}`));
  return body;
}

function evalSection(sec) {
  const names = Object.keys(sec.evals || {});
  if (!names.length) return [missing("eval/*/eval_report.json")];
  const out = [];
  const level = el("select", { id: "eval-level" }, el("option", { value: "" }, "all levels"));
  const result = el("select", { id: "eval-result" }, ["all", "pass", "fail"].map((v) => el("option", { value: v }, v)));
  const levels = new Set();
  const rows = [];
  for (const name of names) {
    const ev = sec.evals[name];
    out.push(el("h3", {}, `${name} (${ev.file})`), kvTable(ev.summary, ["items", "passed", "pass_rate", "pass_rate_wilson_ci", "unsupported_claim_rate", "refusal_rate", "prompt_echo_rate"]));
    for (const it of ev.items) {
      levels.add(it.level || "");
      rows.push(el("tr", { class: "eval-item", "data-level": it.level || "", "data-passed": it.passed ? "pass" : "fail" },
        el("td", {}, name), el("td", {}, it.level || "—"), el("td", { class: it.passed ? "pass" : "fail" }, it.passed ? "pass" : "fail"),
        el("td", {}, it.user || ""), el("td", {}, it.reply || ""), el("td", {}, (it.reasons || []).join("; "))));
    }
  }
  [...levels].sort().forEach((l) => level.append(el("option", { value: l }, l || "(none)")));
  const count = el("span", { id: "eval-count" });
  const apply = () => {
    let shown = 0;
    for (const r of rows) {
      const ok = (!level.value || r.dataset.level === level.value) && (result.value === "all" || r.dataset.passed === result.value);
      r.style.display = ok ? "" : "none";
      shown += ok;
    }
    count.textContent = `${shown} of ${rows.length} items`;
  };
  level.addEventListener("change", apply);
  result.addEventListener("change", apply);
  out.push(el("p", {}, "level ", level, " result ", result, " ", count),
    el("table", { id: "eval-items" }, el("tr", {}, ["eval", "level", "result", "prompt", "reply", "why"].map((h) => el("th", {}, h))), rows));
  apply();
  return out;
}

function tokenizerSection(sec, run) {
  const out = [sec.report ? kvTable(sec.report, ["type", "vocab_size", "bytes_per_token", "corpus_tokens", "sha256"]) : missing("tokenizer_report.json")];
  const input = el("textarea", { id: "tok-input", rows: 2, cols: 60, placeholder: "type text to see its tokens" });
  const shown = el("div", { id: "tok-output", class: "tokens" });
  input.addEventListener("input", async () => {
    const data = await api(`/api/runs/${encodeURIComponent(run)}/tokenize`, { text: input.value });
    shown.replaceChildren(el("p", {}, `${data.characters} characters -> ${data.tokens.length} tokens`),
      ...data.tokens.map((t) => el("span", { class: "token" }, t.text, el("small", {}, t.id))));
  });
  out.push(el("h3", {}, "How text maps to tokens"), input, shown);
  return out;
}

function renderSection(sec, run) {
  const body = {
    corpus: () => [sec.stats ? kvTable(sec.stats) : missing("corpus_manifest.json"), filesTable(sec.files), sec.report_md ? el("details", {}, el("summary", {}, "corpus_report.md"), el("pre", {}, sec.report_md)) : null],
    tokenizer: () => tokenizerSection(sec, run),
    base: () => curveSection(sec, ["train_loss", "val_loss"], "loss-curve"),
    memorization: () => [sec.report ? kvTable(sec.report) : missing("base/train_report.json (memorization)")],
    sft: () => curveSection(sec, ["train_loss", "val_loss"], "sft-curve"),
    dpo: () => (sec.written || (sec.curve && sec.curve.length) ? curveSection(sec, ["train_loss", "val_loss", "loss"], "dpo-curve") : [el("p", {}, "DPO did not run (no dpo/dpo_report.json).")]),
    eval: () => evalSection(sec),
    gates: () => (sec.findings ? [el("p", {}, "status: ", el("span", { class: sec.status, id: "gates-status" }, sec.status), ` (preset ${sec.preset})`),
      el("table", { id: "gates" }, el("tr", {}, ["gate", "value", "threshold", "status", "evidence"].map((h) => el("th", {}, h))),
        sec.findings.map((f) => el("tr", {}, el("td", {}, f.gate), el("td", {}, fmt(f.value)), el("td", {}, fmt(f.threshold)), el("td", { class: f.status }, f.status), el("td", {}, f.evidence || ""))))]
      : [missing("summary.json (gates)")]),
    samples: () => Object.entries(sec.samples).map(([stage, text]) => (text ? [el("h3", {}, `${stage}/sample.txt`), el("pre", {}, text)] : null)),
  }[sec.id];
  return el("section", { id: `sec-${sec.id}` }, el("h2", {}, sec.title), body ? body() : null);
}

async function showRun(run) {
  const story = await api(`/api/runs/${encodeURIComponent(run)}`);
  const stages = el("p", { id: "stages" }, Object.entries(story.stages).map(([s, st]) => `${s}: ${st}`).join(" · "),
    story.live ? el("span", { class: "live" }, " — still running: this page updates as the run writes its files") : null);
  const sections = el("div", { id: "sections" }, story.sections.map((s) => renderSection(s, run)));
  app.replaceChildren(el("h2", {}, `Run ${story.name}`), stages, sections, playground(run, story));
  schedulePoll(run, story.live, sections, stages);
}

function schedulePoll(run, live, sections, stages) {
  clearTimeout(pollTimer);
  if (!live) return;
  pollTimer = setTimeout(async () => {
    if (location.hash !== `#/run/${encodeURIComponent(run)}`) return;
    const story = await api(`/api/runs/${encodeURIComponent(run)}`);
    const keep = ["tokenizer"]; // do not wipe what the user is typing
    for (const sec of story.sections) {
      if (keep.includes(sec.id) && document.getElementById(`sec-${sec.id}`)) continue;
      const old = document.getElementById(`sec-${sec.id}`);
      if (old) old.replaceWith(renderSection(sec, run));
    }
    stages.firstChild.textContent = Object.entries(story.stages).map(([s, st]) => `${s}: ${st}`).join(" · ");
    schedulePoll(run, story.live, sections, stages);
  }, 2000);
}

async function showCompare(a, b) {
  const data = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const blocks = data.blocks.map((blk) => {
    if (blk.kind === "Heading") return el(blk.level === 1 ? "h2" : "h3", {}, blk.text);
    if (blk.kind === "Paragraph") return el("p", {}, blk.text);
    if (blk.kind === "Table") return el("table", { class: "compare" }, el("tr", {}, blk.headers.map((h) => el("th", {}, h))), blk.rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, fmt(c))))));
    return null;
  });
  app.replaceChildren(el("section", { id: "compare" }, blocks));
}

async function route() {
  clearTimeout(pollTimer);
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "run" && parts[1]) await showRun(parts[1]);
    else if (parts[0] === "compare" && parts[2]) await showCompare(parts[1], parts[2]);
    else await showRuns();
  } catch (err) {
    app.replaceChildren(el("p", { class: "missing" }, `error: ${err.message}`));
  }
}
window.addEventListener("hashchange", route);
route();
