/* A line plot in SVG: plotCurve(rows, keys) -> <svg>. rows: [{step, key: value}]. */
"use strict";
const PLOT_COLORS = ["#1f5fbf", "#d2691e", "#2e8b57", "#8b3a8b", "#555"];

function plotCurve(rows, keys, id) {
  const ns = "http://www.w3.org/2000/svg";
  const W = 560, H = 260, L = 52, B = 30, T = 10, R = 110;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("class", "curve");
  if (id) svg.id = id;
  const series = keys
    .map((k) => ({ key: k, pts: rows.filter((r) => typeof r[k] === "number" && typeof r.step === "number").map((r) => [r.step, r[k]]) }))
    .filter((s) => s.pts.length);
  const all = series.flatMap((s) => s.pts);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [a, v] of Object.entries(attrs)) e.setAttribute(a, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  if (!all.length) {
    add("text", { x: 20, y: 40 }, "no points yet");
    return svg;
  }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#888" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#888" });
  add("text", { x: L, y: H - 8, "font-size": 11 }, `step ${x0}`);
  add("text", { x: W - R - 60, y: H - 8, "font-size": 11 }, `step ${x1}`);
  add("text", { x: 2, y: T + 10, "font-size": 11 }, y1.toFixed(3));
  add("text", { x: 2, y: H - B, "font-size": 11 }, y0.toFixed(3));
  series.forEach((s, i) => {
    const color = PLOT_COLORS[i % PLOT_COLORS.length];
    const d = s.pts.map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    add("path", { d, fill: "none", stroke: color, "stroke-width": 2, "data-series": s.key });
    s.pts.forEach((p) => add("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.5, fill: color }));
    add("text", { x: W - R + 8, y: T + 14 + 16 * i, fill: color, "font-size": 12 }, s.key);
  });
  return svg;
}
