// Live view of a model server: headline numbers, requests/s, latency percentiles with version
// swaps marked, shadow comparison. Every data string goes through textContent (h / s helpers).
const COLORS = {p50: "#1f77b4", p95: "#ff7f0e", p99: "#d62728", rps: "#2ca02c"};

function chart(title, series, keys, swaps, name) {
  const W = 420, H = 130, P = 34;
  const g = s("svg", {width: W, height: H + 24, class: "jm-serving-chart", "data-chart": name});
  g.appendChild(s("text", {x: P, y: 12, "font-weight": "bold", "font-size": 12}, title));
  const t = series.t || [];
  const vals = [];
  keys.forEach(k => (series[k] || []).forEach(v => { if (v !== null && isFinite(v)) vals.push(v); }));
  if (!t.length || !vals.length) {
    g.appendChild(s("text", {x: P, y: H / 2, "font-size": 11, class: "jm-empty"}, "no requests yet"));
    return g;
  }
  const t0 = t[0], t1 = Math.max(t[t.length - 1], t0 + 1);
  let lo = 0, hi = Math.max(...vals);
  if (hi <= lo) hi = lo + 1;
  const X = v => P + ((v - t0) / (t1 - t0)) * (W - 2 * P);
  const Y = v => 18 + (1 - (v - lo) / (hi - lo)) * (H - 24);
  swaps.forEach((sw, i) => {
    if (i === 0 || sw.t < t0) return;
    const x = X(sw.t);
    g.appendChild(s("line", {x1: x, x2: x, y1: 16, y2: H - 6, stroke: "#9467bd",
      "stroke-dasharray": "3 3", class: "jm-swap"}));
    g.appendChild(s("text", {x: x + 2, y: 26, "font-size": 9, fill: "#9467bd"}, "v" + sw.version));
  });
  keys.forEach(k => {
    const ys = series[k] || [];
    const pts = ys.map((v, i) => (v === null || !isFinite(v) ? null : `${X(t[i])},${Y(v)}`)).filter(Boolean);
    g.appendChild(s("polyline", {points: pts.join(" "), fill: "none", stroke: COLORS[k] || "#333",
      "stroke-width": 1.5, class: "jm-line", "data-key": k}));
  });
  g.appendChild(s("text", {x: 2, y: Y(hi) + 4, "font-size": 9}, fmt(hi)));
  g.appendChild(s("text", {x: 2, y: Y(lo), "font-size": 9}, fmt(lo)));
  let lx = P;
  keys.forEach(k => {
    g.appendChild(s("text", {x: lx, y: H + 16, "font-size": 10, fill: COLORS[k] || "#333"}, k));
    lx += 40;
  });
  return g;
}

function numbers(entries) {
  const row = h("div", {class: "jm-serving-numbers", style: "display:flex;gap:14px;margin:4px 0"});
  entries.forEach(([k, v]) => {
    const cell = h("div", {"data-number": k});
    cell.append(h("div", {style: "font-size:10px;opacity:.7"}, k), h("div", {style: "font-size:15px;font-weight:bold", class: "jm-value"}, fmt(v)));
    row.appendChild(cell);
  });
  return row;
}

function render({ model, el }) {
  const box = h("div", {class: "jm-serving", style: STYLE});
  el.appendChild(box);
  function draw() {
    const v = model.get("view") || {};
    const n = v.numbers || {};
    const head = h("div", {style: "font-weight:bold", class: "jm-serving-head"},
      `${v.model_uri || ""} · v${v.version ?? "?"} · ${v.running ? "serving" : "stopped"} at ${v.url || ""}`);
    const parts = [head, numbers(Object.entries(n))];
    const grid = h("div", {style: "display:flex;flex-wrap:wrap;gap:6px"});
    grid.append(
      chart("Requests / s", v.series || {}, ["rps"], v.swaps || [], "rps"),
      chart("Latency (ms)", v.series || {}, ["p50", "p95", "p99"], v.swaps || [], "latency"));
    parts.push(grid);
    const versions = (v.swaps || []).map(sw => "v" + sw.version).join(" → ");
    parts.push(h("div", {class: "jm-serving-versions"}, "versions served: " + versions));
    if (v.shadow) {
      const sh = v.shadow;
      const cmp = sh.agreement !== null && sh.agreement !== undefined
        ? ["agreement", (100 * sh.agreement).toFixed(1) + "%"] : ["MAE", sh.mae];
      const box2 = h("div", {class: "jm-serving-shadow", style: "margin-top:4px"});
      box2.append(h("div", {style: "font-weight:bold"}, `shadow ${sh.uri} · v${sh.version ?? "?"}`),
        numbers([cmp, ["shadow p50", sh.p50], ["champion p50", sh.champion_p50],
                 ["shadow requests", sh.requests], ["shadow errors", sh.errors], ["dropped", sh.dropped]]));
      parts.push(box2);
    }
    box.replaceChildren(...parts);
  }
  model.on("change:view", draw);
  draw();
}
export default { render };
