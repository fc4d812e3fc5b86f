// The replay report as one self-contained HTML page (replay_report.h).
//
// The page is a fixed template plus the report itself as JSON in a
// non-executed <script type="application/json"> block; an inline script
// builds everything else from that data with DOM calls (createElement,
// textContent, setAttribute), never by parsing data as markup. Text from the
// report comes from logs and is hostile by assumption, so two walls stand
// between it and the page:
//   1. the embedded JSON has '<', '>', '&', U+2028 and U+2029 written as
//      \uXXXX escapes, so nothing in it can close the <script> element or
//      start markup (JSON.parse reads the escapes back);
//   2. a Content-Security-Policy allows no fetch of any kind and runs only
//      the one inline script and style whose SHA-256 it names, so even a
//      broken wall 1 could neither run injected script nor load anything.
#include "replay_report.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "cmkwatch/common/hash.h"

namespace cmkwatch::cli {
namespace {

// The style sheet. Screen: a centred column readable at 1280x800. Print:
// A4 landscape, colours kept, the interactive details panel left out.
constexpr std::string_view kStyle = R"css(
:root {
  --ink: #1f2933; --muted: #5f6b7a; --line: #d9dee5; --panel: #ffffff; --bg: #f3f5f8;
  --accent: #1d4ed8;
  --critical: #b42318; --high: #e8590c; --medium: #d19a00; --low: #2f6fdb; --info: #7a8594;
  --failed: #d92d20; --ok: #3b7a57; --other: #8a94a3;
}
* { box-sizing: border-box; }
html { background: var(--bg); }
body {
  margin: 0; color: var(--ink); background: var(--bg);
  font: 14px/1.45 "Segoe UI", "Helvetica Neue", Lato, "DejaVu Sans", Arial, sans-serif;
}
.mono, code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
header.top {
  background: #172033; color: #f5f7fa; padding: 14px 0 12px;
  border-bottom: 3px solid var(--critical);
}
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
header.top h1 { margin: 0; font-size: 20px; font-weight: 600; letter-spacing: .2px; }
header.top .sub { margin-top: 2px; font-size: 12.5px; color: #b8c2d1; }
header.top .sub span + span::before { content: "\00b7"; margin: 0 8px; color: #6d7a8f; }
main { padding: 16px 0 40px; }
section.card {
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 16px 14px; margin-bottom: 14px;
}
section.card > h2 {
  margin: 0 0 10px; font-size: 13px; text-transform: uppercase; letter-spacing: .8px;
  color: var(--muted); font-weight: 600;
}
.summary { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px 18px; }
.stat { border-left: 3px solid var(--line); padding: 2px 0 2px 10px; min-width: 0; }
.stat .label { font-size: 11.5px; color: var(--muted); text-transform: uppercase; letter-spacing: .5px; }
.stat .value { font-size: 20px; font-weight: 600; line-height: 1.25; }
.stat .value.small { font-size: 14px; font-weight: 600; }
.stat .note { font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
.stat.warn { border-left-color: var(--high); }
.stat.alarm { border-left-color: var(--critical); }
.stat.wide { grid-column: span 2; }
.stat.full { grid-column: 1 / -1; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
.chip {
  display: inline-flex; align-items: center; gap: 6px; border: 1px solid var(--line);
  border-radius: 11px; padding: 1px 9px 1px 7px; font-size: 12.5px; background: #fafbfc;
}
.chip .n { font-weight: 700; }
.dot { width: 9px; height: 9px; border-radius: 50%; display: inline-block; }
.sev { display: inline-block; white-space: nowrap; padding: 0 7px; border-radius: 3px; color: #fff; font-size: 11.5px;
       font-weight: 700; text-transform: uppercase; letter-spacing: .4px; }
.sev-critical, .dot.sev-critical { background: var(--critical); }
.sev-high, .dot.sev-high { background: var(--high); }
.sev-medium, .dot.sev-medium { background: var(--medium); }
.sev-low, .dot.sev-low { background: var(--low); }
.sev-info, .dot.sev-info { background: var(--info); }
.hash { font-size: 12.5px; overflow-wrap: anywhere; }
details.files { margin-top: 4px; font-size: 12.5px; }
details.files table { margin-top: 6px; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12.5px; color: var(--muted); margin: 0 0 8px; }
.legend .item { display: inline-flex; align-items: center; gap: 6px; }
.legend svg { overflow: visible; }
.notice { font-size: 12.5px; color: #8a4b00; background: #fff6e5; border: 1px solid #f3d9a4;
          border-radius: 4px; padding: 4px 10px; margin: 0 0 8px; }
.empty { color: var(--muted); font-style: italic; padding: 8px 0; }
.axis-scroll { overflow-x: auto; }
svg.axis { display: block; font-size: 11.5px; }
svg.axis .lane-bg { fill: #ffffff; }
svg.axis .lane-bg.alt { fill: #f7f9fb; }
svg.axis .group-bg { fill: #eef1f5; }
svg.axis .group-label { fill: var(--muted); font-size: 10.5px; font-weight: 700; letter-spacing: .8px; }
svg.axis .lane-name { fill: var(--ink); font-weight: 600; }
svg.axis .lane-kind { fill: var(--muted); font-size: 10.5px; }
svg.axis .grid { stroke: #e4e8ee; stroke-width: 1; }
svg.axis .tick { fill: var(--muted); font-size: 11px; }
svg.axis .axis-line { stroke: #9aa5b4; stroke-width: 1; }
svg.axis .divider { stroke: var(--line); stroke-width: 1; }
svg.axis .binding { fill: none; stroke: #6b4fbb; stroke-width: 1.6; }
svg.axis .binding-end { fill: #6b4fbb; }
svg.axis .mark { cursor: pointer; stroke: #ffffff; stroke-width: 1; }
svg.axis .mark.failed { stroke: #7a1010; }
svg.axis .mark:hover, svg.axis .span:hover { filter: brightness(0.85); }
svg.axis .span { cursor: pointer; stroke-width: 1.2; }
svg.axis .span-label { font-size: 10.5px; font-weight: 700; pointer-events: none;
                       paint-order: stroke; stroke: #ffffff; stroke-width: 3px; stroke-linejoin: round; }
svg.axis .selected { stroke: #111827 !important; stroke-width: 2.4 !important; }
.layout { display: block; }
#details .placeholder { color: var(--muted); font-size: 13px; }
#details h3 { margin: 0 0 8px; font-size: 15px; }
table.kv { border-collapse: collapse; width: 100%; font-size: 13px; }
table.kv th { text-align: left; color: var(--muted); font-weight: 600; width: 150px; vertical-align: top;
              padding: 3px 10px 3px 0; white-space: nowrap; }
table.kv td { padding: 3px 0; overflow-wrap: anywhere; }
pre.raw { background: #0f172a; color: #e2e8f0; border-radius: 5px; padding: 10px 12px; font-size: 12px;
          max-height: 420px; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; margin: 8px 0 0; }
button.link { background: none; border: 0; padding: 0; color: var(--accent); cursor: pointer;
              font: inherit; text-decoration: underline; }
table.data { border-collapse: collapse; width: 100%; font-size: 12.5px; table-layout: fixed; }
table.data th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .4px;
                color: var(--muted); border-bottom: 2px solid var(--line); padding: 5px 6px; }
table.data td { border-bottom: 1px solid #edf0f4; padding: 6px; vertical-align: top; overflow-wrap: anywhere; }
table.data tbody tr { cursor: pointer; }
table.data tbody tr:hover { background: #f5f8ff; }
table.data tbody tr.selected-row { background: #eaf1ff; }
.status-open { color: var(--critical); font-weight: 700; }
.status-resolved { color: var(--ok); font-weight: 700; }
.status-suppressed { color: var(--muted); font-weight: 700; }
.ids { font-size: 11px; color: var(--muted); }
.small { font-size: 12px; color: var(--muted); }
footer { font-size: 12px; color: var(--muted); text-align: center; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  html, body { background: #fff; font-size: 10pt; }
  header.top { background: #fff; color: #000; border-bottom: 2px solid #000; padding: 0 0 6px; }
  header.top .sub { color: #333; }
  .wrap { max-width: none; padding: 0; }
  main { padding: 8px 0 0; }
  section.card { border: 0; padding: 0; margin: 0 0 10px; break-inside: auto; }
  #details-card, button, details.files summary::marker { display: none; }
  details.files { display: none; }
  .summary, .axis-scroll { break-inside: avoid; }
  .axis-scroll { overflow: visible; }
  svg.axis { width: 100%; height: auto; }
  table.data { font-size: 8pt; }
  table.data thead { display: table-header-group; }
  table.data tr { break-inside: avoid; }
  table.data tbody tr:hover { background: none; }
}
)css";

// The renderer. It reads #report-data, builds the page, and ends by setting
// body[data-rendered="ok"]; it does not catch its own errors, so a failure
// is an uncaught exception in the console, and "ok" is never set.
constexpr std::string_view kScript = R"js(
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_MARKS = 4000;
  const SEVERITIES = ["critical", "high", "medium", "low", "info"];
  const GROUPS = [
    { kind: "vault", title: "Key vaults" },
    { kind: "key", title: "Keys" },
    { kind: "ai_account", title: "AI accounts" },
    { kind: "ai_workspace", title: "AI workspaces" },
    { kind: "*", title: "Other resources" },
  ];

  const arr = (v) => (Array.isArray(v) ? v : []);
  const obj = (v) => (v !== null && typeof v === "object" && !Array.isArray(v) ? v : {});
  const str = (v) => (v === null || v === undefined ? "" : String(v));
  const num = (v) => (typeof v === "number" && isFinite(v) ? v : 0);

  // RFC 3339 UTC text to milliseconds; fractions beyond milliseconds are
  // cut so every engine reads them. NaN when it is not a time.
  function parseTime(t) {
    if (typeof t !== "string" || t === "") return NaN;
    return Date.parse(t.replace(/(\.\d{3})\d+/, "$1"));
  }
  function fmtTime(ms) {
    if (!isFinite(ms)) return "\u2014";
    return new Date(ms).toISOString().replace("T", " ").replace(/\.000Z$/, "Z");
  }
  function fmtDuration(ms) {
    if (!isFinite(ms) || ms < 0) return "";
    const s = Math.round(ms / 1000);
    if (s < 60) return s + " s";
    const m = Math.round(s / 60);
    if (m < 120) return m + " min";
    const h = Math.round(m / 6) / 10;
    if (h < 48) return h + " h";
    return Math.round(h / 2.4) / 10 + " days";
  }
  function fmtBytes(n) {
    n = num(n);
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    if (n < 1073741824) return (n / 1048576).toFixed(1) + " MiB";
    return (n / 1073741824).toFixed(2) + " GiB";
  }
  const fmtInt = (n) => num(n).toLocaleString("en-US");

  // Elements: el("div", {class: "x"}, child, "text", ...). Attributes are
  // set with setAttribute and text goes in as text nodes: no data is ever
  // parsed as markup.
  function build(doc, ns, tag, attrs, kids) {
    const e = ns ? doc.createElementNS(ns, tag) : doc.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      e.appendChild(typeof k === "object" ? k : doc.createTextNode(String(k)));
    }
    return e;
  }
  const el = (tag, attrs, ...kids) => build(document, null, tag, attrs, kids);
  const sv = (tag, attrs, ...kids) => build(document, SVG, tag, attrs, kids);
  // Colours live in the style sheet; SVG attributes take them resolved.
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue("--" + name).trim();
  const clear = (e) => { while (e.firstChild) e.removeChild(e.firstChild); };

  const report = obj(JSON.parse(document.getElementById("report-data").textContent || "null"));
  const input = obj(report.input);
  const counts = obj(report.counts);
  const alerts = arr(report.alerts).map(obj);
  const bindings = arr(report.bindings).map(obj);
  const resources = arr(report.resources).map(obj);
  const rules = new Map(arr(report.rules).map(obj).map((r) => [str(r.id), r]));

  // Resources by id; alerts and bindings may name ids the report carries no
  // resource for, and those get a lane of their own among the others.
  const byId = new Map();
  for (const r of resources) byId.set(str(r.id), r);
  function lastSegment(id) {
    const parts = id.split("/").filter((p) => p !== "");
    return parts.length ? parts[parts.length - 1] : id;
  }
  function ensureResource(id, kind) {
    id = str(id);
    if (id === "" || byId.has(id)) return;
    const r = { id: id, kind: kind || "other", name: lastSegment(id), events: [], synthetic: true };
    byId.set(id, r);
    resources.push(r);
  }
  for (const a of alerts) {
    ensureResource(a.resource_id);
    for (const x of arr(a.affected)) ensureResource(x, "ai_account");
  }
  for (const b of bindings) { ensureResource(b.vault, "vault"); ensureResource(b.ai_resource, "ai_account"); }
  const nameOf = (id) => { const r = byId.get(str(id)); return r ? str(r.name) || str(id) : str(id); };

  // Every event, with its resource, and an index by event id for evidence.
  const events = [];
  const eventById = new Map();
  for (const r of resources) {
    for (const e of arr(r.events).map(obj)) {
      const item = { ev: e, res: r, t: parseTime(e.time) };
      events.push(item);
      if (str(e.id) !== "") eventById.set(str(e.id), item);
    }
  }
  const isFailed = (e) => /fail|error|denied|forbidden|unauthori/i.test(str(e.status)) || num(e.http_status) >= 400;
  const isSucceeded = (e) => /succe|ok|complete/i.test(str(e.status)) || (num(e.http_status) >= 200 && num(e.http_status) < 300);

  // ---- header -------------------------------------------------------------
  document.title = "cmkwatch replay report" +
    (input.first_event ? " \u2014 " + str(input.first_event).slice(0, 10) : "");
  const sub = document.getElementById("subtitle");
  if (report.version) sub.appendChild(el("span", {}, "cmkwatch " + str(report.version)));
  if (report.cmkwatch_replay_report !== undefined) sub.appendChild(el("span", {}, "report schema " + str(report.cmkwatch_replay_report)));
  sub.appendChild(el("span", {}, alerts.length + (alerts.length === 1 ? " alert" : " alerts")));
  const openCount = alerts.filter((a) => str(a.status) === "open").length;
  sub.appendChild(el("span", {}, openCount + " open"));

  // ---- summary ------------------------------------------------------------
  const summary = document.getElementById("summary");
  function stat(label, value, note, cls) {
    return el("div", { class: "stat" + (cls ? " " + cls : "") },
      el("div", { class: "label" }, label),
      typeof value === "object" ? value : el("div", { class: "value" }, value),
      note ? el("div", { class: "note" }, note) : null);
  }
  const t0text = input.first_event, t1text = input.last_event;
  const rangeValue = el("div", { class: "value small" },
    t0text ? fmtTime(parseTime(t0text)) : "no events", t0text ? " \u2192 " : "",
    t1text ? fmtTime(parseTime(t1text)) : "");
  const filters = [];
  if (input.since) filters.push("since " + str(input.since));
  if (input.until) filters.push("until " + str(input.until));
  const dur = fmtDuration(parseTime(t1text) - parseTime(t0text));
  summary.appendChild(stat("Input range (first \u2192 last event)", rangeValue,
    [dur ? "spans " + dur : "", filters.length ? "filters: " + filters.join(", ") : "no time filters"]
      .filter((x) => x).join(" \u00b7 "), "wide"));

  const files = arr(input.files).map(obj);
  const totalBytes = files.reduce((s, f) => s + num(f.bytes), 0);
  const filesBox = stat("Input files", fmtInt(files.length), fmtBytes(totalBytes) + " read");
  if (files.length) {
    const tb = el("tbody", {});
    for (const f of files) {
      tb.appendChild(el("tr", {}, el("td", { class: "mono" }, str(f.path)),
        el("td", {}, fmtBytes(f.bytes)), el("td", { class: "mono ids" }, str(f.sha256))));
    }
    filesBox.appendChild(el("details", { class: "files" }, el("summary", {}, "list"),
      el("table", { class: "data" },
        el("thead", {}, el("tr", {}, el("th", {}, "path"), el("th", {}, "size"), el("th", {}, "sha-256"))), tb)));
  }
  summary.appendChild(filesBox);
  const bySource = Object.entries(obj(counts.by_source)).map(([k, v]) => k + " " + fmtInt(v)).join(", ");
  summary.appendChild(stat("Events", fmtInt(counts.events),
    fmtInt(counts.records) + " records \u00b7 " + fmtInt(counts.duplicates) + " duplicates" +
    (bySource ? " \u00b7 " + bySource : "")));

  summary.appendChild(stat("Stored", fmtInt(counts.stored), "events kept in the timeline"));
  const quarantined = num(counts.quarantined);
  summary.appendChild(stat("Quarantined", fmtInt(quarantined),
    quarantined ? "records that did not parse (listed below)" : "every record parsed", quarantined ? "warn" : ""));

  const sevChips = el("div", { class: "chips" });
  const bySev = obj(counts.alerts_by_severity);
  let sevTotal = 0;
  for (const s of SEVERITIES) {
    const n = num(bySev[s]);
    sevTotal += n;
    if (n) sevChips.appendChild(el("span", { class: "chip" }, el("span", { class: "dot sev-" + s }),
      el("span", { class: "n" }, fmtInt(n)), s));
  }
  for (const [s, n] of Object.entries(bySev)) {
    if (!SEVERITIES.includes(s) && num(n)) {
      sevTotal += num(n);
      sevChips.appendChild(el("span", { class: "chip" }, el("span", { class: "n" }, fmtInt(n)), s));
    }
  }
  if (!sevTotal) sevChips.appendChild(el("span", { class: "small" }, "no alerts raised"));
  summary.appendChild(stat("Alerts by severity", sevChips, null, "wide" + (num(bySev.critical) ? " alarm" : sevTotal ? " warn" : "")));

  const ruleChips = el("div", { class: "chips" });
  const byRule = Object.entries(obj(counts.alerts_by_rule)).filter(([, n]) => num(n));
  for (const [rule, n] of byRule) {
    const r = obj(rules.get(rule));
    ruleChips.appendChild(el("span", { class: "chip", title: str(r.title) },
      el("span", { class: "n" }, fmtInt(n)), rule + (r.title ? " \u2014 " + str(r.title) : "")));
  }
  if (!byRule.length) ruleChips.appendChild(el("span", { class: "small" }, "none"));
  summary.appendChild(stat("Alerts by rule", ruleChips, null, "wide"));
  summary.appendChild(stat("Run hash (equal for the same input, in any order)",
    el("div", { class: "value small mono hash" }, str(report.run_hash) || "\u2014"), null, "wide"));

  // ---- details panel ------------------------------------------------------
  const details = document.getElementById("details");
  let selected = [];
  function select(nodes) {
    for (const n of selected) n.classList.remove("selected", "selected-row");
    selected = nodes.filter((n) => n);
    for (const n of selected) n.classList.add(n.tagName === "TR" ? "selected-row" : "selected");
  }
  function kvTable(rows) {
    const tb = el("tbody", {});
    for (const [k, v] of rows) {
      if (v === undefined || v === null || v === "") continue;
      tb.appendChild(el("tr", {}, el("th", {}, k), typeof v === "object" ? el("td", {}, v) : el("td", {}, String(v))));
    }
    return el("table", { class: "kv" }, tb);
  }
  function rawText(raw) {
    if (raw === undefined || raw === null) return "(no raw record)";
    if (typeof raw === "string") {
      try { return JSON.stringify(JSON.parse(raw), null, 2); } catch (e) { return raw; }
    }
    return JSON.stringify(raw, null, 2);
  }
  function actorText(a) {
    a = obj(a);
    return ["upn", "object_id", "app_id", "ip"].filter((k) => a[k]).map((k) => k + " " + str(a[k])).join(" \u00b7 ");
  }
  function showEvent(item) {
    const e = item.ev;
    select([marksById.get(str(e.id))]);
    clear(details);
    details.appendChild(el("h3", {}, "Event \u2014 " + (str(e.operation) || "(no operation)")));
    const citing = alerts.filter((a) => arr(a.evidence).includes(e.id) || a.resolved_by === e.id);
    const citeBox = el("span", {});
    citing.forEach((a, i) => {
      if (i) citeBox.appendChild(document.createTextNode(", "));
      const b = el("button", { class: "link", type: "button", title: str(a.title) }, str(a.id));
      b.addEventListener("click", () => showAlert(a));
      citeBox.appendChild(b);
    });
    details.appendChild(kvTable([
      ["time", fmtTime(item.t) + (str(e.time) ? "  (" + str(e.time) + ")" : "")],
      ["resource", nameOf(item.res.id) + " \u2014 " + str(item.res.id)],
      ["source", str(e.source)],
      ["operation", str(e.operation)],
      ["status", str(e.status) + (e.http_status !== undefined && e.http_status !== null ? "  (HTTP " + str(e.http_status) + ")" : "")],
      ["actor", actorText(e.actor)],
      ["summary", str(e.summary)],
      ["event id", str(e.id)],
      ["cited by alerts", citing.length ? citeBox : ""],
    ]));
    details.appendChild(el("pre", { class: "raw", "data-raw-of": str(e.id) }, rawText(e.raw)));
  }
  function showAlert(a) {
    select([spansById.get(str(a.id)), rowsById.get(str(a.id))]);
    clear(details);
    details.appendChild(el("h3", {}, el("span", { class: "sev sev-" + str(a.severity) }, str(a.severity)),
      " " + str(a.rule) + " \u2014 " + str(a.title)));
    const ev = el("div", { class: "mono ids" });
    arr(a.evidence).forEach((id, i) => {
      if (i) ev.appendChild(document.createTextNode(" "));
      const item = eventById.get(str(id));
      if (item) {
        const b = el("button", { class: "link", type: "button" }, str(id));
        b.addEventListener("click", () => showEvent(item));
        ev.appendChild(b);
      } else {
        ev.appendChild(document.createTextNode(str(id)));
      }
    });
    details.appendChild(kvTable([
      ["alert id", str(a.id)],
      ["status", str(a.status) + (a.suppression ? " (" + str(a.suppression) + ")" : "")],
      ["resource", nameOf(a.resource_id) + " \u2014 " + str(a.resource_id)],
      ["affected", arr(a.affected).map((x) => nameOf(x) + " (" + str(x) + ")").join("; ")],
      ["subject", str(a.subject)],
      ["first seen", fmtTime(parseTime(a.first_seen))],
      ["last seen", fmtTime(parseTime(a.last_seen))],
      ["resolved", a.resolved_at ? fmtTime(parseTime(a.resolved_at)) + " by " + str(a.resolved_by) : ""],
      ["count", fmtInt(a.count)],
      ["latest operation", str(a.operation)],
      ["actor", actorText(a.actor)],
      ["why it matters", str(a.why)],
      ["remediation", str(a.remediation)],
      ["evidence", ev],
    ]));
  }

  // ---- time axis ----------------------------------------------------------
  const axisBox = document.getElementById("axis");
  const marksById = new Map();
  const spansById = new Map();
  const rowsById = new Map();

  // The span drawn: first_event..last_event, widened to what alerts need,
  // and padded when it is a single instant.
  let tMin = parseTime(input.first_event), tMax = parseTime(input.last_event);
  const seen = events.map((x) => x.t).filter(isFinite);
  if (!isFinite(tMin) && seen.length) tMin = Math.min(...seen);
  if (!isFinite(tMax) && seen.length) tMax = Math.max(...seen);
  for (const a of alerts) {
    const f = parseTime(a.first_seen);
    if (isFinite(f)) { if (!isFinite(tMin) || f < tMin) tMin = f; if (!isFinite(tMax) || f > tMax) tMax = f; }
  }
  const groupsOut = GROUPS.map((g) => ({ title: g.title, lanes: [] }));
  for (const r of [...resources].sort((a, b) => (str(a.id) < str(b.id) ? -1 : str(a.id) > str(b.id) ? 1 : 0))) {
    let gi = GROUPS.findIndex((g) => g.kind === str(r.kind));
    if (gi < 0) gi = GROUPS.length - 1;
    groupsOut[gi].lanes.push(r);
  }
  const laneCount = groupsOut.reduce((s, g) => s + g.lanes.length, 0);

  let notDrawn = 0;
  const omitted = resources.reduce((s, r) => s + num(r.events_omitted), 0);
  if (!laneCount || !isFinite(tMin)) {
    axisBox.appendChild(el("div", { class: "empty" }, "No events and no alerts in this report: nothing to draw."));
  } else {
    if (tMax <= tMin) { tMin -= 5 * 60000; tMax += 5 * 60000; }
    const pad = (tMax - tMin) * 0.015;
    tMin -= pad; tMax += pad;

    const W = Math.max(980, Math.min(axisBox.clientWidth || 1200, 1600));
    const LABEL_W = 230, GUTTER_W = 58, RIGHT = 14, TOP = 30, LANE_H = 30, GROUP_H = 20;
    const X0 = LABEL_W + GUTTER_W, X1 = W - RIGHT;
    const x = (t) => X0 + ((t - tMin) / (tMax - tMin)) * (X1 - X0);

    // Lane rows, top to bottom.
    const laneY = new Map();
    let y = TOP;
    const rowsOut = [];
    for (const g of groupsOut) {
      if (!g.lanes.length) continue;
      rowsOut.push({ group: g.title, y: y });
      y += GROUP_H;
      g.lanes.forEach((r, i) => { laneY.set(str(r.id), y); rowsOut.push({ lane: r, y: y, alt: i % 2 === 1 }); y += LANE_H; });
    }
    const H = y + 8;
    const svg = sv("svg", { class: "axis", width: W, height: H, viewBox: "0 0 " + W + " " + H,
      role: "img", "aria-label": "Timeline of events and alerts per resource" });
    const gLanes = sv("g", {}), gGrid = sv("g", {}), gSpans = sv("g", {}), gMarks = sv("g", {}), gBind = sv("g", {});
    const gLabels = sv("g", {});

    for (const row of rowsOut) {
      if (row.group) {
        gLanes.appendChild(sv("rect", { class: "group-bg", x: 0, y: row.y, width: W, height: GROUP_H }));
        gLanes.appendChild(sv("text", { class: "group-label", x: 8, y: row.y + 14 }, row.group.toUpperCase()));
        continue;
      }
      const r = row.lane;
      const total = num(r.events_total);
      const name = str(r.name) || lastSegment(str(r.id));
      const lane = sv("g", { "data-lane": str(r.id), "data-kind": str(r.kind) },
        sv("title", {}, str(r.id)),
        sv("rect", { class: "lane-bg" + (row.alt ? " alt" : ""), x: 0, y: row.y, width: W, height: LANE_H }),
        sv("text", { class: "lane-name", x: 10, y: row.y + 19, "data-fit": LABEL_W - 92 }, name),
        sv("text", { class: "lane-kind", x: LABEL_W - 6, y: row.y + 19, "text-anchor": "end" },
          r.synthetic ? "" : fmtInt(total) + (num(r.events_omitted) ? "+" : "") + (total === 1 ? " event" : " events")));
      gLanes.appendChild(lane);
    }
    gLanes.appendChild(sv("line", { class: "divider", x1: X0, y1: TOP, x2: X0, y2: H - 8 }));
    gLanes.appendChild(sv("line", { class: "divider", x1: LABEL_W, y1: TOP, x2: LABEL_W, y2: H - 8 }));

    // Ticks: the first step from the ladder that gives at most ~9 of them.
    const steps = [1e3, 5e3, 15e3, 30e3, 6e4, 3e5, 9e5, 18e5, 36e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5, 2592e6, 7776e6, 31536e6];
    const span = tMax - tMin;
    const step = steps.find((s) => span / s <= 9) || steps[steps.length - 1];
    const withDate = span > 864e5 || new Date(tMin).getUTCDate() !== new Date(tMax).getUTCDate();
    gGrid.appendChild(sv("line", { class: "axis-line", x1: X0, y1: TOP - 0.5, x2: X1, y2: TOP - 0.5 }));
    let lastDay = "";
    for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) {
      const iso = new Date(t).toISOString();
      const day = iso.slice(0, 10);
      let label = step >= 864e5 ? day : iso.slice(11, step < 6e4 ? 19 : 16);
      if (withDate && step < 864e5 && day !== lastDay) label = day.slice(5) + " " + label;
      lastDay = day;
      gGrid.appendChild(sv("line", { class: "grid", x1: x(t), y1: TOP, x2: x(t), y2: H - 8 }));
      const anchor = x(t) > X1 - 36 ? "end" : "middle";
      gGrid.appendChild(sv("text", { class: "tick", x: anchor === "end" ? X1 : x(t), y: TOP - 9, "text-anchor": anchor }, label));
    }
    gGrid.appendChild(sv("text", { class: "tick", x: 10, y: TOP - 9 }, "UTC" + (withDate ? "" : "  " + new Date(tMin).toISOString().slice(0, 10))));

    // Alert spans: first_seen to resolved_at, or to the end while open.
    const sevColor = (s) => cssVar(SEVERITIES.includes(s) ? s : "info");
    for (const a of alerts) {
      const f = parseTime(a.first_seen);
      if (!isFinite(f)) continue;
      const resolved = parseTime(a.resolved_at);
      const end = isFinite(resolved) ? resolved : tMax;
      const xa = x(f), xb = Math.max(x(end), xa + 4);
      const color = sevColor(str(a.severity));
      const tip = str(a.rule) + " " + str(a.severity) + ": " + str(a.title) + "\n" + fmtTime(f) + " \u2192 " +
        (isFinite(resolved) ? fmtTime(resolved) : "still open");
      const ly = laneY.get(str(a.resource_id));
      if (ly !== undefined) {
        const g = sv("g", { "data-alert": str(a.id), class: "span", tabindex: 0, role: "button" },
          sv("title", {}, tip),
          sv("rect", { x: xa, y: ly + 5, width: xb - xa, height: LANE_H - 10, rx: 3,
            fill: color, "fill-opacity": 0.22, stroke: color }),
          sv("rect", { x: xa, y: ly + 5, width: 3, height: LANE_H - 10, fill: color }));
        if (!isFinite(resolved)) {
          g.appendChild(sv("path", { d: "M" + xb + " " + (ly + 5) + " l6 " + (LANE_H - 10) / 2 + " l-6 " + (LANE_H - 10) / 2 + "z", fill: color }));
        }
        if (xb - xa > 56) gLabels.appendChild(sv("text", { class: "span-label", x: xa + 7, y: ly + 19, fill: color }, str(a.rule)));
        g.addEventListener("click", () => showAlert(a));
        g.addEventListener("keydown", (k) => { if (k.key === "Enter") showAlert(a); });
        gSpans.appendChild(g);
        spansById.set(str(a.id), g);
      }
      for (const id of arr(a.affected)) {
        const ay = laneY.get(str(id));
        if (ay === undefined || str(id) === str(a.resource_id)) continue;
        const g = sv("g", { "data-alert-affected": str(a.id), class: "span" },
          sv("title", {}, tip + "\n(blast radius: this AI resource depends on " + nameOf(a.resource_id) + ")"),
          sv("rect", { x: xa, y: ay + LANE_H - 9, width: xb - xa, height: 5, rx: 2, fill: color, "fill-opacity": 0.85 }));
        g.addEventListener("click", () => showAlert(a));
        gSpans.appendChild(g);
      }
    }

    // Event marks, capped; failures drawn last so they stay on top.
    const drawable = events.filter((it) => isFinite(it.t) && laneY.has(str(it.res.id)));
    notDrawn = events.length - drawable.length;
    drawable.sort((p, q) => (isFailed(p.ev) ? 1 : 0) - (isFailed(q.ev) ? 1 : 0));
    if (drawable.length > MAX_MARKS) {
      const failed = drawable.filter((it) => isFailed(it.ev));
      const rest = drawable.filter((it) => !isFailed(it.ev));
      // The rest evenly thinned, so every lane keeps the shape of its activity.
      const quota = Math.max(0, MAX_MARKS - failed.length);
      const kept = [];
      for (let j = 0; j < quota; ++j) kept.push(rest[Math.floor((j * rest.length) / quota)]);
      const keep = kept.concat(failed.slice(0, MAX_MARKS));
      notDrawn += drawable.length - keep.length;
      drawable.length = 0;
      drawable.push(...keep);
    }
    const colFailed = cssVar("failed"), colOk = cssVar("ok"), colOther = cssVar("other");
    for (const it of drawable) {
      const e = it.ev;
      const cx = x(it.t), cy = laneY.get(str(it.res.id)) + LANE_H / 2;
      const failed = isFailed(e);
      const cls = "mark" + (failed ? " failed" : "");
      const fill = failed ? colFailed : isSucceeded(e) ? colOk : colOther;
      const m = failed
        ? sv("path", { class: cls, d: "M" + cx + " " + (cy - 6.5) + " l6.5 6.5 l-6.5 6.5 l-6.5 -6.5z", fill: fill })
        : sv("circle", { class: cls, cx: cx, cy: cy, r: 4.5, fill: fill });
      m.setAttribute("data-event", str(e.id));
      m.appendChild(sv("title", {}, fmtTime(it.t) + "  " + str(e.operation) + "  " + str(e.status) +
        (str(e.summary) ? "\n" + str(e.summary) : "")));
      m.addEventListener("click", () => showEvent(it));
      gMarks.appendChild(m);
      marksById.set(str(e.id), m);
    }

    // Bindings: a bracket in the gutter from the AI resource's lane to its
    // vault's lane, one column per binding so they do not overlap.
    const drawnBindings = bindings.filter((b) => laneY.has(str(b.ai_resource)) && laneY.has(str(b.vault)));
    const cols = Math.max(1, Math.min(drawnBindings.length, 8));
    drawnBindings.forEach((b, i) => {
      const ya = laneY.get(str(b.ai_resource)) + LANE_H / 2, yv = laneY.get(str(b.vault)) + LANE_H / 2;
      const bx = LABEL_W + 10 + (i % cols) * ((GUTTER_W - 20) / cols);
      const gx = LABEL_W + 2;
      const g = sv("g", { "data-binding": str(b.ai_resource) + " -> " + str(b.vault) },
        sv("title", {}, nameOf(b.ai_resource) + " is encrypted with a key in " + nameOf(b.vault)),
        sv("path", { class: "binding", d: "M" + gx + " " + ya + " H" + bx + " V" + yv + " H" + gx }),
        sv("circle", { class: "binding-end", cx: gx + 2, cy: ya, r: 3 }),
        sv("path", { class: "binding-end", d: "M" + (gx + 1) + " " + yv + " l6 -4 v8z" }));
      gBind.appendChild(g);
    });

    // Marks above the span labels: a failure must never be hidden.
    svg.append(gLanes, gGrid, gBind, gSpans, gLabels, gMarks);
    if (notDrawn) {
      axisBox.appendChild(el("div", { class: "notice", "data-not-drawn": notDrawn },
        fmtInt(notDrawn) + " of " + fmtInt(events.length) + " events are not drawn (the axis draws at most " +
        fmtInt(MAX_MARKS) + " marks; failures first)."));
    }
    axisBox.appendChild(el("div", { class: "axis-scroll" }, svg));
    // Lane names cut to their column once the text can be measured; the
    // lane's tooltip keeps the whole id.
    for (const t of svg.querySelectorAll("text[data-fit]")) {
      const max = Number(t.getAttribute("data-fit"));
      const full = t.textContent;
      let n = full.length;
      while (n > 4 && t.getComputedTextLength() > max) t.textContent = full.slice(0, --n) + "\u2026";
    }
  }
  if (omitted) {
    axisBox.appendChild(el("div", { class: "small" }, fmtInt(omitted) +
      " further events that mattered were left out of the report itself (at most 500 per resource)."));
  }

  // ---- legend -------------------------------------------------------------
  const legend = document.getElementById("legend");
  const li = (icon, text) => el("span", { class: "item" }, icon, text);
  const icon = (...kids) => { const s = sv("svg", { width: 16, height: 14, viewBox: "-8 -7 16 14" }); s.append(...kids); return s; };
  legend.append(
    li(icon(sv("circle", { r: 4.5, fill: cssVar("ok") })), "succeeded"),
    li(icon(sv("path", { d: "M0 -6 l6 6 l-6 6 l-6 -6z", fill: cssVar("failed") })), "failed"),
    li(icon(sv("circle", { r: 4.5, fill: cssVar("other") })), "other status"));
  for (const s of SEVERITIES) {
    legend.appendChild(li(el("span", { class: "dot sev-" + s }), s + " alert"));
  }
  legend.append(
    li(icon(sv("rect", { x: -7, y: 1, width: 14, height: 4, fill: cssVar("critical") })), "on an affected AI resource"),
    li(icon(sv("path", { d: "M7 -5 H-4 V5 H7", class: "binding", fill: "none", stroke: "#6b4fbb", "stroke-width": 1.6 })), "AI resource \u2192 its vault"));

  // ---- alert table --------------------------------------------------------
  const table = document.getElementById("alerts");
  if (!alerts.length) {
    table.appendChild(el("div", { class: "empty" }, "No alerts were raised for this input."));
  } else {
    const cols = [["Severity", "8%"], ["Rule", "6%"], ["Title", "12%"], ["Status", "7%"], ["First seen", "9%"],
      ["Last seen", "9%"], ["Count", "5%"], ["Affected", "10%"], ["Why", "13%"], ["Remediation", "13%"], ["Evidence", "8%"]];
    const colgroup = el("colgroup", {});
    for (const [, w] of cols) colgroup.appendChild(el("col", { width: w }));
    const head = el("tr", {});
    for (const [c] of cols) head.appendChild(el("th", {}, c));
    const body = el("tbody", {});
    for (const a of alerts) {
      const resolved = a.resolved_at ? "resolved " + fmtTime(parseTime(a.resolved_at)) : "";
      const tr = el("tr", { "data-alert-row": str(a.id) },
        el("td", {}, el("span", { class: "sev sev-" + str(a.severity) }, str(a.severity))),
        el("td", { class: "mono" }, str(a.rule)),
        el("td", {}, str(a.title), el("div", { class: "ids mono" }, nameOf(a.resource_id))),
        el("td", {}, el("span", { class: "status-" + str(a.status) }, str(a.status)),
          resolved ? el("div", { class: "ids" }, resolved) : null),
        el("td", {}, fmtTime(parseTime(a.first_seen))),
        el("td", {}, fmtTime(parseTime(a.last_seen))),
        el("td", {}, fmtInt(a.count)),
        el("td", {}, arr(a.affected).map(nameOf).join(", ") || "\u2014"),
        el("td", {}, str(a.why)),
        el("td", {}, str(a.remediation)),
        el("td", { class: "mono ids" }, arr(a.evidence).map(str).join(" ")));
      tr.addEventListener("click", () => showAlert(a));
      body.appendChild(tr);
      rowsById.set(str(a.id), tr);
    }
    table.appendChild(el("table", { class: "data" }, colgroup, el("thead", {}, head), body));
  }

  // ---- quarantine ---------------------------------------------------------
  const quarantine = arr(report.quarantine).map(obj);
  if (quarantine.length) {
    const card = document.getElementById("quarantine-card");
    card.hidden = false;
    const body = el("tbody", {});
    for (const q of quarantine) {
      body.appendChild(el("tr", {}, el("td", { class: "mono" }, str(q.path)), el("td", {}, str(q.offset)),
        el("td", {}, str(q.line)), el("td", {}, str(q.format)), el("td", {}, str(q.reason))));
    }
    card.appendChild(el("table", { class: "data" }, el("colgroup", {}, el("col", { width: "34%" }), el("col", { width: "9%" }),
      el("col", { width: "7%" }), el("col", { width: "12%" }), el("col", { width: "38%" })),
      el("thead", {}, el("tr", {}, el("th", {}, "file"), el("th", {}, "offset"), el("th", {}, "line"),
        el("th", {}, "format"), el("th", {}, "reason"))), body));
    if (quarantined > quarantine.length) {
      card.appendChild(el("div", { class: "small" }, "First " + quarantine.length + " of " + fmtInt(quarantined) + " shown."));
    }
  }

  // Deep links: #event=<id> or #alert=<id> opens that item's details.
  function openFromHash() {
    const m = /^#(event|alert)=(.+)$/.exec(location.hash);
    if (!m) return;
    const id = decodeURIComponent(m[2]);
    if (m[1] === "event" && eventById.has(id)) showEvent(eventById.get(id));
    const a = alerts.find((x) => str(x.id) === id);
    if (m[1] === "alert" && a) showAlert(a);
  }
  window.addEventListener("hashchange", openFromHash);
  openFromHash();

  document.body.dataset.lanes = String(laneCount);
  document.body.dataset.marks = String(marksById.size);
  document.body.dataset.rendered = "ok";
})();
)js";

// The body the script fills in. Static text only.
constexpr std::string_view kBody = R"html(
<header class="top"><div class="wrap">
  <h1>Customer-managed key incident report</h1>
  <div class="sub" id="subtitle"><span>cmkwatch replay</span></div>
</div></header>
<main class="wrap">
  <section class="card"><h2>Summary</h2><div class="summary" id="summary"></div></section>
  <section class="card"><h2>Timeline</h2><div class="legend" id="legend"></div><div id="axis"></div></section>
  <section class="card" id="details-card"><h2>Details</h2>
    <div id="details"><div class="placeholder">Select an event mark, an alert span or a table row to see its fields and raw record.</div></div>
  </section>
  <section class="card"><h2>Alerts</h2><div id="alerts"></div></section>
  <section class="card" id="quarantine-card" hidden><h2>Quarantined records</h2></section>
  <noscript><p>This report is drawn by its inline script; enable JavaScript to read it. The data is in the page source.</p></noscript>
  <footer>Generated by cmkwatch replay. Self-contained: this page loads nothing from the network.</footer>
</main>
)html";

// The report as JSON that can sit inside a <script> element: the
// characters that could end it or be read as markup become \uXXXX escapes,
// valid in JSON because they can only occur inside strings there. Invalid
// UTF-8 from logs becomes U+FFFD instead of an exception.
std::string EmbeddableJson(const nlohmann::json& report) {
  const std::string text = report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      // U+2028/U+2029: line terminators to older script parsers.
      out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string Base64(const Sha256Digest& digest) {
  constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < digest.size(); i += 3) {
    const uint32_t n = (uint32_t{digest[i]} << 16) | (uint32_t{digest[i + 1]} << 8) | digest[i + 2];
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  // 32 bytes: one pair left over.
  if (i + 2 == digest.size()) {
    const uint32_t n = (uint32_t{digest[i]} << 16) | (uint32_t{digest[i + 1]} << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  } else if (i + 1 == digest.size()) {
    const uint32_t n = uint32_t{digest[i]} << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  }
  return out;
}

}  // namespace

std::string RenderReportHtml(const nlohmann::json& report) {
  // The policy names the exact bytes of the one style and the one script.
  const std::string policy = "default-src 'none'; base-uri 'none'; form-action 'none'; img-src data:; "
                             "style-src 'sha256-" + Base64(Sha256(kStyle)) + "'; "
                             "script-src 'sha256-" + Base64(Sha256(kScript)) + "'";
  std::string html;
  html.reserve(kStyle.size() + kScript.size() + kBody.size() + 1024 + report.size() * 256);
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + policy + "\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>cmkwatch replay report</title>\n<style>";
  html += kStyle;
  html += "</style>\n</head>\n<body>";
  html += kBody;
  html += "<script type=\"application/json\" id=\"report-data\">";
  html += EmbeddableJson(report);
  html += "</script>\n<script>";
  html += kScript;
  html += "</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace cmkwatch::cli
