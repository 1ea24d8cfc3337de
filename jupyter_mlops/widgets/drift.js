// Drift widget: summary, column picker, overlaid pre-binned distributions, sortable table.
const COLS = [["column", "Column"], ["column_type", "Type"], ["test", "Test"],
  ["score", "Score"], ["threshold", "Threshold"], ["drift", "Drift"],
  ["reference_missing", "Missing ref"], ["current_missing", "Missing cur"], ["note", "Note"]];

function chart(hist) {
  const W = 560, H = 190, P = 28;
  const g = s("svg", {width: W, height: H + 40, role: "img", class: "jm-drift-chart"});
  if (!hist) return g;
  const n = hist.reference.length;
  const top = Math.max(...hist.reference, ...hist.current, 1e-12);
  const bw = (W - 2 * P) / Math.max(n, 1);
  hist.reference.forEach((v, i) => {
    const x = P + i * bw;
    for (const [vals, color] of [[hist.reference, "#1f77b4"], [hist.current, "#ff7f0e"]]) {
      const hgt = (vals[i] / top) * H;
      const r = s("rect", {x: x + 0.5, y: H - hgt + 5, width: Math.max(bw - 1, 1), height: hgt,
        fill: color, "fill-opacity": 0.5});
      r.appendChild(s("title", {}, `${hist.labels[i]}: ${fmt(vals[i])}`));
      g.appendChild(r);
    }
    if (hist.kind === "categorical") {
      const t = s("text", {x: x + bw / 2, y: H + 18, "text-anchor": "middle", "font-size": 10},
        String(hist.labels[i]).slice(0, 10));
      g.appendChild(t);
    }
  });
  if (hist.kind === "numeric") {
    g.appendChild(s("text", {x: P, y: H + 18, "font-size": 10}, fmt(hist.edges[0])));
    g.appendChild(s("text", {x: W - P, y: H + 18, "font-size": 10, "text-anchor": "end"},
      fmt(hist.edges[hist.edges.length - 1])));
  }
  g.appendChild(s("rect", {x: P, y: H + 26, width: 10, height: 10, fill: "#1f77b4", "fill-opacity": 0.5}));
  g.appendChild(s("text", {x: P + 14, y: H + 35, "font-size": 11}, "reference"));
  g.appendChild(s("rect", {x: P + 90, y: H + 26, width: 10, height: 10, fill: "#ff7f0e", "fill-opacity": 0.5}));
  g.appendChild(s("text", {x: P + 104, y: H + 35, "font-size": 11}, "current"));
  return g;
}

function render({ model, el }) {
  const box = h("div", {class: "jm-drift", style: STYLE});
  el.appendChild(box);
  let key = "score", desc = true;
  function table() {
    const t = h("table", {class: "jm-drift-table", style: "border-collapse:collapse;margin-top:6px"});
    const head = h("tr");
    for (const [k, label] of COLS) {
      const th = h("th", {style: "cursor:pointer;border-bottom:1px solid #999;padding:2px 6px;text-align:left",
        "data-key": k}, label + (k === key ? (desc ? " \u25bc" : " \u25b2") : ""));
      th.onclick = () => { desc = k === key ? !desc : true; key = k; draw(); };
      head.appendChild(th);
    }
    t.appendChild(head);
    const rows = [...model.get("rows")].sort((a, b) => {
      const x = a[key], y = b[key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * (desc ? -1 : 1);
    });
    for (const r of rows) {
      const tr = h("tr", {style: "cursor:pointer" + (r.drift ? ";background:#fde2e1" : ""),
        "data-column": r.column});
      for (const [k] of COLS) tr.appendChild(h("td", {style: "padding:2px 6px"}, fmt(r[k])));
      tr.onclick = () => { model.set("selected", r.column); model.save_changes(); };
      t.appendChild(tr);
    }
    return t;
  }
  function draw() {
    box.replaceChildren();
    box.appendChild(h("div", {class: "jm-drift-summary", style: "font-weight:bold"}, model.get("summary")));
    const bar = h("div", {style: "margin:6px 0"});
    const pick = h("select", {class: "jm-drift-picker", "aria-label": "column"});
    for (const r of model.get("rows")) {
      if (!model.get("hists")[r.column]) continue;
      const o = h("option", {}, r.column);
      o.value = r.column;
      if (r.column === model.get("selected")) o.selected = true;
      pick.appendChild(o);
    }
    pick.onchange = () => { model.set("selected", pick.value); model.save_changes(); };
    const btn = h("button", {class: "jm-drift-log", style: "margin-left:8px"}, "Log to MLflow");
    btn.onclick = () => { model.set("log_clicks", model.get("log_clicks") + 1); model.save_changes(); };
    bar.append(pick, btn, h("span", {class: "jm-drift-status", style: "margin-left:8px"}, model.get("log_status")));
    box.appendChild(bar);
    box.appendChild(chart(model.get("hists")[model.get("selected")]));
    box.appendChild(table());
  }
  for (const name of ["rows", "hists", "selected", "summary", "log_status"]) model.on(`change:${name}`, draw);
  draw();
}
export default { render };
