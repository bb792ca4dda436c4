/* The chat playground: streams replies from /v1/chat/completions (the run's final model),
   with the sampling controls and the exact prompt the model reads. */
"use strict";

function playground(run, story) {
  const box = el("section", { id: "playground" }, el("h2", {}, "Chat playground"));
  if (!story.final_model) {
    box.append(el("p", { class: "missing" }, "no final model yet (summary.json names it when the run finishes)"));
    return box;
  }
  const history = [];
  const num = (id, label, value, step) => el("label", {}, `${label} `, el("input", { id, type: "number", value, step }));
  const controls = el("div", { class: "controls" },
    num("temperature", "temperature", 0.8, 0.1), num("top_p", "top_p", 1, 0.05), num("top_k", "top_k", "", 1),
    num("repetition_penalty", "repetition penalty", 1, 0.05), num("max_tokens", "max tokens", 128, 1), num("seed", "seed", "", 1));
  const log = el("div", { id: "chat-log", class: "chat-log" });
  const input = el("textarea", { id: "chat-input", rows: 2, cols: 70, placeholder: "message" });
  const prompt = el("pre", { id: "exact-prompt", hidden: "" });
  const value = (id) => document.getElementById(id).value;
  const showPrompt = async () => {
    const messages = [...history, ...(input.value ? [{ role: "user", content: input.value }] : [])];
    const data = await api(`/api/runs/${encodeURIComponent(run)}/prompt`, { messages: messages.length ? messages : [{ role: "user", content: "" }] });
    prompt.hidden = false;
    prompt.textContent = `${data.tokens} tokens:\n${data.text}`;
  };
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    history.push({ role: "user", content: text });
    input.value = "";
    const reply = el("div", { class: "assistant" });
    log.append(el("div", { class: "user" }, `you: ${text}`), reply);
    const body = { model: run, messages: history, stream: true, temperature: +value("temperature"), top_p: +value("top_p"), repetition_penalty: +value("repetition_penalty"), max_tokens: +value("max_tokens") };
    if (value("top_k")) body.top_k = +value("top_k");
    if (value("seed")) body.seed = +value("seed");
    const r = await fetch("/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) {
      reply.textContent = `error: ${(await r.json()).error.message}`;
      history.pop();
      return;
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", finish = null, content = "";
    for (;;) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(chunk, { stream: true });
      const events = buffer.split("\n\n");
      buffer = events.pop();
      for (const ev of events) {
        const data = ev.replace(/^data: /, "");
        if (data === "[DONE]") continue;
        const parsed = JSON.parse(data);
        if (parsed.error) { reply.append(` [error: ${parsed.error.message}]`); continue; }
        const choice = parsed.choices[0];
        if (choice.delta.content) { reply.append(choice.delta.content); content += choice.delta.content; }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    reply.setAttribute("data-finish", finish || "");
    reply.append(el("small", { class: "finish" }, `  [finish: ${finish}]`));
    history.push({ role: "assistant", content });
    if (!prompt.hidden) showPrompt();
  };
  box.append(el("p", {}, `model: ${story.final_model} (the run's final model)`), controls, log, input, " ",
    el("button", { id: "chat-send", onclick: send }, "Send"), " ",
    el("button", { id: "show-prompt", onclick: showPrompt }, "Show the exact prompt"),
    el("button", { onclick: () => { history.length = 0; log.replaceChildren(); prompt.hidden = true; } }, "Reset"), prompt);
  return box;
}
