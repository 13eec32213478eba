// Tessera dashboard: reads /api/events (server-sent events) and draws workers, the task
// stream, progress per computation and group, errors and small graphs. No dependencies.
"use strict";

const MAX_RUNS = 5000;          // task runs kept in the page
const WINDOW_US = 60e6;         // task stream time window
const NS = "http://www.w3.org/2000/svg";
const runs = [];                // newest last
let totalRuns = 0;
let lastGraph = { computation: -1, at: 0 };
let threadsByWorker = new Map();

const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}

function duration(us) {
  if (us < 1000) return us + " µs";
  if (us < 1e6) return (us / 1000).toFixed(1) + " ms";
  return (us / 1e6).toFixed(2) + " s";
}

// Each operation keeps the color it first got: hues spaced by the golden angle, so
// operations seen together stay apart (a hash of the name can give two the same hue).
const groupColors = new Map();
function color(group) {
  if (!groupColors.has(group)) {
    const hue = Math.round((groupColors.size * 137.508 + 12) % 360);
    groupColors.set(group, `hsl(${hue}, 62%, 52%)`);
  }
  return groupColors.get(group);
}

function drawWorkers(workers) {
  const body = $("workers").querySelector("tbody");
  body.replaceChildren();
  threadsByWorker = new Map();
  for (const w of workers) {
    const r = w.registration, m = w.metrics;
    threadsByWorker.set(w.id, { threads: r.threads, name: r.name });
    const tr = el("tr", { class: "worker-row", "data-id": w.id, "data-address": r.data_address });
    tr.append(el("td", {}, r.name === r.data_address ? r.data_address : `${r.name} (${r.data_address})`));
    tr.append(el("td", { class: "num" }, r.threads));
    const limit = Math.max(1, r.memory_limit);
    const spilled = m.spilled_bytes || 0;
    const mem = el("div", { class: "mem", title: `held ${bytes(m.stored_bytes)}, process ${bytes(m.process_memory)}, spilled to disk ${bytes(spilled)}, limit ${bytes(r.memory_limit)}` });
    mem.append(el("div", { class: "proc", style: `width:${Math.min(100, 100 * m.process_memory / limit)}%` }));
    mem.append(el("div", { class: "held", style: `width:${Math.min(100, 100 * m.stored_bytes / limit)}%` }));
    mem.append(el("span", {}, `${bytes(m.stored_bytes)} / ${bytes(m.process_memory)} / ${bytes(r.memory_limit)}`));
    const td = el("td"); td.append(mem);
    // Spilled bytes as their own bar, on the same scale as the limit.
    const disk = el("div", { class: "mem spill", title: `spilled to disk ${bytes(spilled)}` });
    disk.append(el("div", { class: "held", style: `width:${Math.min(100, 100 * spilled / limit)}%` }));
    disk.append(el("span", {}, `${bytes(spilled)} spilled`));
    td.append(disk); tr.append(td);
    tr.append(el("td", { class: "num running" }, m.executing));
    tr.append(el("td", { class: "num queued" }, Math.max(m.queued, w.processing - m.executing)));
    tr.append(el("td", { class: "num" }, bytes(m.bytes_sent)));
    tr.append(el("td", { class: "num" }, bytes(m.bytes_received)));
    tr.append(el("td", { class: "num done" }, m.tasks_done));
    body.append(tr);
  }
}

function drawStream(nowUs) {
  const svg = $("task-stream");
  const width = svg.clientWidth || 1000;
  const bands = [];
  for (const [id, w] of [...threadsByWorker.entries()].sort((a, b) => a[0] - b[0]))
    for (let t = 0; t < w.threads; t++) bands.push({ id, t, label: `${w.name} #${t}` });
  for (const r of runs)           // workers that left still have their runs
    if (!threadsByWorker.has(r.worker) && !bands.some((b) => b.id === r.worker && b.t === r.thread))
      bands.push({ id: r.worker, t: r.thread, label: `worker ${r.worker} #${r.thread}` });
  const bandH = Math.max(6, Math.min(22, 150 / Math.max(1, bands.length)));
  const height = bands.length * bandH + 16;
  svg.setAttribute("height", height);
  svg.style.height = height + "px";
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const row = new Map(bands.map((b, i) => [b.id + ":" + b.t, i]));
  const latest = runs.reduce((m, r) => Math.max(m, r.start_us + r.duration_us), 0);
  const end = Math.max(latest, Math.min(nowUs, latest + 2e6));
  const start = end - WINDOW_US;
  const left = 120, scale = (width - left) / WINDOW_US;
  bands.forEach((b, i) => svg.append(el("svg:text", { x: 2, y: i * bandH + bandH * 0.75 }, b.label)));
  let shown = 0;
  const groups = new Set();
  for (const r of runs) {
    if (r.start_us + r.duration_us < start || r.start_us === 0) continue;
    const i = row.get(r.worker + ":" + r.thread);
    if (i === undefined) continue;
    const x = left + Math.max(0, r.start_us - start) * scale;
    const rect = el("svg:rect", {
      class: "run", x: x.toFixed(1), y: i * bandH + 1, height: bandH - 2,
      width: Math.max(1, r.duration_us * scale).toFixed(1), fill: color(r.group), "data-group": r.group,
    });
    rect.append(el("svg:title", {}, `${r.key}\n${duration(r.duration_us)}, ${bytes(r.nbytes)}`));
    svg.append(rect);
    groups.add(r.group);
    shown++;
  }
  svg.append(el("svg:text", { x: left, y: height - 3 }, `last ${WINDOW_US / 1e6} s`));
  svg.dataset.totalRuns = totalRuns;
  svg.dataset.shownRuns = shown;
  $("stream-info").textContent = `(${totalRuns} runs since start; ${shown} drawn)`;
  const legend = $("legend");
  legend.replaceChildren();
  for (const g of [...groups].sort()) {
    const s = el("span", { "data-group": g });
    s.append(el("i", { style: `background:${color(g)}` }), g);
    legend.append(s);
  }
}

function drawProgress(list) {
  const box = $("progress");
  if (!list.length) return;
  box.replaceChildren();
  for (const c of [...list].reverse()) {
    const div = el("div", {
      class: "computation", "data-seq": c.seq, "data-total": c.total, "data-done": c.done, "data-erred": c.erred,
    });
    const state = c.finished_ms === null ? "running" : "finished";
    div.append(el("div", { class: "title" }, `computation ${c.seq} (client ${c.client}, submission ${c.submission}): ${c.done} / ${c.total} done, ${c.erred} erred — ${state}`));
    for (const g of c.groups) {
      const row = el("div", { class: "group", "data-name": g.name, "data-total": g.total, "data-done": g.done, "data-erred": g.erred });
      row.append(el("span", {}, g.name));
      const bar = el("div", { class: "pbar" });
      bar.append(el("div", { class: "done", style: `width:${100 * g.done / Math.max(1, g.total)}%` }));
      bar.append(el("div", { class: "erred", style: `width:${100 * g.erred / Math.max(1, g.total)}%` }));
      row.append(bar);
      row.append(el("span", { class: "count" }, `${g.done} / ${g.total}`));
      div.append(row);
    }
    box.append(div);
  }
}

function drawErrors(errors) {
  const ul = $("errors");
  ul.replaceChildren();
  if (!errors.length) { ul.append(el("li", { class: "muted" }, "none")); return; }
  for (const e of [...errors].reverse()) {
    const li = el("li", { class: "error", "data-key": e.key });
    li.append(el("span", { class: "key" }, e.key), " on ", e.worker || "?", ": ", el("span", { class: "msg" }, e.message));
    ul.append(li);
  }
}

async function maybeGraph(progress) {
  const latest = [...progress].reverse().find((c) => c.has_graph);
  if (!latest) return;
  const now = Date.now();
  if (latest.seq === lastGraph.computation && (latest.finished_ms !== null && lastGraph.final || now - lastGraph.at < 2000)) return;
  lastGraph = { computation: latest.seq, at: now, final: latest.finished_ms !== null };
  const res = await fetch(`/api/graph?computation=${latest.seq}`);
  if (!res.ok) return;
  drawGraph(await res.json());
}

function drawGraph(g) {
  const svg = $("graph");
  const n = g.nodes.length;
  const depth = new Array(n).fill(0);
  for (const [a, b] of g.edges) depth[b] = Math.max(depth[b], depth[a] + 1); // edges follow submission order
  const layers = [];
  depth.forEach((d, i) => (layers[d] = layers[d] || []).push(i));
  const width = svg.clientWidth || 600, height = 260;
  const pos = new Array(n);
  layers.forEach((layer, d) => layer.forEach((i, j) => {
    pos[i] = [20 + d * (width - 40) / Math.max(1, layers.length - 1), 10 + (j + 0.5) * (height - 20) / layer.length];
  }));
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  for (const [a, b] of g.edges)
    svg.append(el("svg:line", { x1: pos[a][0], y1: pos[a][1], x2: pos[b][0], y2: pos[b][1] }));
  const fill = { memory: "var(--bar)", erred: "var(--bad)", processing: "var(--ok)" };
  g.nodes.forEach((node, i) => {
    const c = el("svg:circle", { class: "node", cx: pos[i][0], cy: pos[i][1], r: 4, fill: fill[node.state] || "var(--muted)", "data-state": node.state });
    c.append(el("svg:title", {}, `${node.key} (${node.state})`));
    svg.append(c);
  });
  svg.dataset.nodes = n;
  $("graph-info").textContent = `(computation ${g.computation}: ${n} tasks)`;
}

function onUpdate(u) {
  for (const r of u.stream.runs) runs.push(r);
  if (runs.length > MAX_RUNS) runs.splice(0, runs.length - MAX_RUNS);
  totalRuns = u.stream.next_seq;
  const byState = Object.fromEntries(u.tasks_by_state);
  $("summary").textContent = `${u.workers.length} workers · ${u.tasks_completed} tasks completed · ` +
    Object.entries(byState).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(" · ");
  drawWorkers(u.workers);
  drawStream(u.now_us);
  drawProgress(u.progress);
  drawErrors(u.errors);
  maybeGraph(u.progress).catch(() => {});
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("update", (e) => {
    $("live").textContent = "live"; $("live").className = "badge on";
    try { onUpdate(JSON.parse(e.data)); } catch (err) { console.error(err); }
  });
  es.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "badge"; };
}

connect();
