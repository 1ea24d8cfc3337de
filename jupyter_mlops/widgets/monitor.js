// Monitor dashboard: one panel per signal, threshold line, alert markers.
function panel(title, xs, ys, line, alerts, name) {
  const W = 300, H = 120, P = 30;
  const g = s("svg", {width: W, height: H + 30, class: "jm-monitor-panel", "data-signal": name});
  g.appendChild(s("text", {x: P, y: 12, "font-weight": "bold", "font-size": 12}, title));
  const vals = ys.filter(v => v !== null && v !== undefined && isFinite(v));
  const all = vals.concat(line === null || line === undefined ? [] : [line]);
  if (!all.length) return g;
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi === lo) { hi += 1; lo -= lo === 0 ? 0 : 1; }
  const n = Math.max(xs.length - 1, 1);
  const X = i => P + (i / n) * (W - 2 * P), Y = v => 18 + (1 - (v - lo) / (hi - lo)) * (H - 20);
  if (line !== null && line !== undefined) {
    g.appendChild(s("line", {x1: P, x2: W - P, y1: Y(line), y2: Y(line), stroke: "#d62728",
      "stroke-dasharray": "4 3", class: "jm-threshold"}));
  }
  const pts = ys.map((v, i) => (v === null || v === undefined ? null : `${X(i)},${Y(v)}`)).filter(Boolean);
  g.appendChild(s("polyline", {points: pts.join(" "), fill: "none", stroke: "#1f77b4", "stroke-width": 1.5}));
  ys.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const fired = alerts[i] && alerts[i].includes(name);
    const c = s("circle", {cx: X(i), cy: Y(v), r: fired ? 5 : 2.5, fill: fired ? "#d62728" : "#1f77b4",
      class: fired ? "jm-alert" : "jm-point"});
    c.appendChild(s("title", {}, `batch ${xs[i]}: ${fmt(v)}${fired ? " (alert)" : ""}`));
    g.appendChild(c);
  });
  g.appendChild(s("text", {x: 2, y: Y(hi) + 4, "font-size": 9}, fmt(hi)));
  g.appendChild(s("text", {x: 2, y: Y(lo), "font-size": 9}, fmt(lo)));
  g.appendChild(s("text", {x: W / 2, y: H + 14, "font-size": 10, "text-anchor": "middle"}, "batch"));
  return g;
}

function render({ model, el }) {
  const box = h("div", {class: "jm-monitor", style: STYLE});
  el.appendChild(box);
  function draw() {
    const t = model.get("timeline");
    box.replaceChildren(h("div", {style: "font-weight:bold"}, model.get("summary")));
    const grid = h("div", {style: "display:grid;grid-template-columns:repeat(2,310px);gap:4px"});
    grid.append(
      panel("Data drift (share of columns)", t.batches, t.data_drift_share, t.thresholds.data_drift, t.alerts, "data_drift"),
      panel("Prediction drift (" + (t.prediction_drift_test || "score") + ")", t.batches, t.prediction_drift_score, t.prediction_drift_line, t.alerts, "prediction_drift"),
      panel("Quality (" + t.metric + ")", t.batches, t.quality, t.quality_threshold, t.alerts, "quality_drop"),
      panel("Latency p95 (ms)", t.batches, t.latency_p95_ms, t.latency_threshold_ms, t.alerts, "latency_spike"));
    box.appendChild(grid);
  }
  model.on("change:timeline", draw);
  model.on("change:summary", draw);
  draw();
}
export default { render };
