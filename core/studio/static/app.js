// glyph studio's page: plain JavaScript over the studio's JSON API (no framework, nothing fetched from elsewhere).
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
};

// ---- talking to the server --------------------------------------------------------------------------------------
async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  let response;
  try { response = await fetch(url, init); } catch (e) {
    throw new Error("the studio does not answer; is glyph serve still running?");
  }
  let data = {};
  try { data = await response.json(); } catch (e) { /* an empty or non-JSON body */ }
  if (!response.ok) throw new Error(data.error || `the studio answered ${response.status}`);
  return data;
}

// ---- messages ---------------------------------------------------------------------------------------------------
function say(text, kind = "note", items = []) {
  const p = el("p", { className: kind, textContent: text });
  if (items.length) p.append(el("ul", {}, ...items.map((t) => el("li", { textContent: t }))));
  $("#messages").append(p);
  while ($("#messages").children.length > 6) $("#messages").firstChild.remove();
  p.scrollIntoView({ block: "nearest" });
  return p;
}
function clearMessages() { $("#messages").replaceChildren(); }
class Cancelled extends Error { constructor() { super("cancelled"); } }
function sayError(e) { if (e instanceof Cancelled) say("cancelled; nothing was kept"); else say(e.message || String(e), "error"); }
function saySkipped(skipped, what = "left out") {
  if (!skipped || !skipped.length) return;
  const byWhy = new Map();  // one line per reason: "'H', 'e', 'l': not a CJK ideograph…"
  for (const s of skipped) byWhy.set(s.why, [...(byWhy.get(s.why) || []), s.what]);
  const lines = [...byWhy].map(([why, whats]) =>
    `${whats.length > 6 ? whats.slice(0, 6).join(", ") + ` and ${whats.length - 6} more` : whats.join(", ")}: ${why}`);
  say(`${skipped.length} ${what}:`, "error", lines);
}

// ---- jobs: queued work on the server, polled with a progress bar -------------------------------------------------
async function follow(job, box) {
  box.hidden = false;
  const bar = box.querySelector("progress"), status = box.querySelector(".status"), cancel = box.querySelector(".cancel");
  cancel.onclick = () => api("POST", `/api/jobs/${job.id}/cancel`).catch(sayError);
  try {
    for (;;) {
      if (job.status === "queued") {
        bar.removeAttribute("value");
        status.textContent = job.position > 1 ? `waiting (${job.position - 1} ahead)` : "waiting";
      } else if (job.status === "running") {
        if (job.total > 0) { bar.max = job.total; bar.value = job.done; } else bar.removeAttribute("value");
        status.textContent = job.total > 0 ? `${job.task}: ${job.done} of ${job.total}` : (job.task || "working…");
      } else break;
      await new Promise((r) => setTimeout(r, 400));
      job = await api("GET", `/api/jobs/${job.id}`);
    }
  } finally { box.hidden = true; }
  if (job.notes && job.notes.length) say(job.notes.join(" · "));
  saySkipped(job.skipped);
  if (job.status === "failed") throw new Error(job.error);
  if (job.status === "cancelled") throw new Cancelled();
  return job.result;
}

function busy(button, on) { button.disabled = on; }

// ---- tabs -------------------------------------------------------------------------------------------------------
function showTab(name) {
  clearMessages();
  for (const tab of document.querySelectorAll("nav [role=tab]")) {
    const mine = tab.getAttribute("aria-controls") === name;
    tab.setAttribute("aria-selected", mine);
    $("#" + tab.getAttribute("aria-controls")).hidden = !mine;
  }
  if (name === "explore" && !$("#methods tbody").children.length) loadMethods().catch(sayError);
}

// ---- write like me ----------------------------------------------------------------------------------------------
let adaptTouched = false;

function showRefs(refs) {
  const list = $("#refs");
  list.replaceChildren(...refs.map((r) => {
    const remove = el("button", { className: "remove", textContent: "×", title: `remove ${r.name}` });
    remove.setAttribute("aria-label", `remove ${r.name}`);
    remove.onclick = async () => {
      try { showRefs((await api("DELETE", `/api/refs/${encodeURIComponent(r.id)}`)).refs); } catch (e) { sayError(e); }
    };
    return el("li", { title: r.name }, el("img", { src: r.url, alt: r.char || r.name }), remove,
      el("span", { className: "name", textContent: r.char ? `${r.char}` : r.name }));
  }));
  const named = refs.filter((r) => r.char).length;
  $("#refs-bar").hidden = refs.length === 0;
  $("#refs-count").textContent = `${refs.length} reference${refs.length === 1 ? "" : "s"}` +
    (named ? `, ${named} named after their character` : "");
  // Adapting to a single named reference wrote less alike than not adapting (dsfgan's card): two or more.
  $("#adapt").disabled = named < 2;
  if (named >= 2 && !adaptTouched) $("#adapt").checked = true;  // the likeness comes from adapting: on unless turned off
  $("#adapt-hint").textContent = named >= 2 ? `(learns from the ${named} named; about a minute on a 2-core CPU)`
    : "(needs 2 references named after their character)";
  if (named < 2) $("#adapt").checked = false;
  $("#geometry").disabled = named < 4;  // the habits are measured on 4 or more named references
  $("#geometry-hint").textContent = named >= 4 ? "(measured on the named references)" : "(needs 4 named references)";
  if (named < 4) $("#geometry").checked = false;
}

async function uploadRefs(files) {
  if (!files.length) return;
  clearMessages();
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const p = say(`reading ${files.length} photo${files.length === 1 ? "" : "s"}…`);
  try {
    const r = await api("POST", "/api/refs", form);
    p.remove();
    showRefs(r.refs);
    if (r.added) say(`${r.added} reference${r.added === 1 ? "" : "s"} added`);
    saySkipped(r.skipped, "not used");
  } catch (e) { p.remove(); sayError(e); }
}

async function cutSheet() {
  const file = $("#sheet-file").files[0];
  if (!file) { say("choose the photo of the sheet first", "error"); return; }
  clearMessages();
  const form = new FormData();
  form.append("sheet", file, file.name);
  form.append("text", $("#sheet-text").value);
  form.append("grid", $("#sheet-grid").value);
  busy($("#sheet-go"), true);
  try {
    const r = await api("POST", "/api/refs", form);
    showRefs(r.refs);
    say(`${r.added} reference${r.added === 1 ? "" : "s"} cut from the sheet`);
    saySkipped(r.skipped, "cells not used");
  } catch (e) { sayError(e); } finally { busy($("#sheet-go"), false); }
}

let lastRun = null;

function showWritten(result) {
  lastRun = result.run;
  $("#preview").src = result.preview;
  $("#glyphs").replaceChildren(...result.glyphs.map((g) =>
    el("li", { title: g.char }, el("img", { src: g.url, alt: g.char }))));
  $("#zip").href = result.zip + "?download=1&name=glyphs.zip";
  $("#font-done").hidden = true;
  $("#write-result").hidden = false;
  $("#write-result").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function writeText() {
  clearMessages();
  busy($("#write-go"), true);
  try {
    await track(await api("POST", "/api/write", { text: $("#text").value, adapt: $("#adapt").checked,
                                                  geometry: $("#geometry").checked }));
  } catch (e) { sayError(e); } finally { busy($("#write-go"), false); }
}

function showFont(result) {
  const link = $("#font-link");
  link.href = result.font + "?download=1&name=" + encodeURIComponent(result.file);
  link.download = result.file;
  link.textContent = `Download ${result.file}`;
  $("#font-info").textContent = `'${result.family}', ${result.glyphs} characters in your hand, with punctuation, ` +
    "digits and Latin letters added; install it by opening the file.";
  $("#font-done").hidden = false;
  $("#write-result").hidden = false;
}

async function buildFont() {
  clearMessages();
  $("#font-done").hidden = true;
  const scope = $("#font-scope").value;
  const body = { name: $("#font-name").value, run: lastRun, adapt: $("#adapt").checked,
                 geometry: $("#geometry").checked };
  if (scope) body.charset = scope;
  busy($("#font-go"), true);
  try { await track(await api("POST", "/api/font", body)); } catch (e) { sayError(e); } finally { busy($("#font-go"), false); }
}

// ---- restore ----------------------------------------------------------------------------------------------------
function showRestored(result) {
  saySkipped(result.upload_skipped, "not restored");
  const img = (src, alt) => src ? el("img", { src, alt }) : el("span", { textContent: "–" });
  $("#restore-table tbody").replaceChildren(...result.rows.map((r) => {
    const read = r.read_as ? `${r.read_as} (${Math.round(100 * r.read_prob)} %)` : "–";
    const from = r.char ? `${r.char} (${r.char_from === "given" ? "given" : "from the file name"}); ` : "";
    const verdict = el("td", {}, el("span", { textContent: `${from}read as ${read}` }));
    if (r.flags.length) verdict.append(el("div", { className: "flags", textContent: r.flags.join("; ") }));
    const row = el("tr", {},
      el("td", {}, img(r.damaged, `damaged ${r.name}`)), el("td", {}, img(r.restored, `restored ${r.name}`)),
      el("td", {}, img(r.uncertainty_map, "uncertainty")), verdict);
    if (r.flags.length) row.className = "flagged";
    row.title = r.name;
    return row;
  }));
  $("#restore-zip").href = result.zip + "?download=1&name=restored.zip";
  $("#restore-result").hidden = false;
  const flagged = result.rows.filter((r) => r.flags.length).length;
  say(`${result.rows.length} restored` + (flagged ? `, ${flagged} to check by eye (framed in red)` : ""));
}

async function restoreImages() {
  clearMessages();
  const files = $("#restore-files").files;
  if (!files.length) { say("choose images of damaged characters first", "error"); return; }
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  form.append("chars", $("#restore-chars").value);
  busy($("#restore-go"), true);
  try { await track(await api("POST", "/api/restore", form)); } catch (e) { sayError(e); } finally { busy($("#restore-go"), false); }
}

// ---- jobs by kind: where their progress shows and how their result is shown -------------------------------------
const KINDS = {
  write: { box: "#write-job", button: "#write-go", show: showWritten },
  font: { box: "#font-job", button: "#font-go", show: showFont },
  restore: { box: "#restore-job", button: "#restore-go", show: showRestored },
  sample: { box: "#sample-job", button: "#sample-go", show: showSamples },
};

async function track(job) {
  const kind = KINDS[job.kind];
  busy($(kind.button), true);  // (also for a job a reloaded page follows again)
  try { kind.show(await follow(job, $(kind.box))); } finally { busy($(kind.button), false); }
}

async function resumeJobs() {  // a reloaded page follows the jobs it had started
  const { jobs } = await api("GET", "/api/jobs");
  for (const job of jobs) {
    if (job.kind === "restore") showTab("restore");
    if (job.kind === "sample") showTab("explore");
    say(`following your ${job.kind} job started before the page was reloaded`);
    track(job).catch(sayError);
  }
}

// ---- explore ----------------------------------------------------------------------------------------------------
async function loadMethods() {
  const { methods } = await api("GET", "/api/methods");
  $("#methods tbody").replaceChildren(...methods.map((m) => {
    const actions = el("div", { className: "actions" });
    if (m.card) {
      const b = el("button", { textContent: "model card", className: "quiet" });
      b.onclick = () => showCard(m.name).catch(sayError);
      actions.append(b);
    }
    if (m.can.includes("sample") && m.ready) {
      const b = el("button", { textContent: "samples" });
      b.onclick = () => { $("#sample-name").textContent = m.name; $("#sample-box").hidden = false;
        $("#samples").replaceChildren(); $("#sample-box").scrollIntoView({ behavior: "smooth" }); };
      actions.append(b);
    }
    const name = el("td", {}, el("strong", { textContent: m.name }), el("br"),
      el("span", { className: "hint", textContent: m.summary }), actions);
    return el("tr", {}, name, el("td", { textContent: m.task }), el("td", { textContent: m.status }),
      el("td", { className: "wide", textContent: m.builtin ? "glyph" : `${m.provider} ${m.version}` }));
  }));
}

function showSamples(result) {
  $("#sample-name").textContent = result.method;
  $("#sample-box").hidden = false;
  $("#samples").replaceChildren(...result.images.map((u) => el("li", {}, el("img", { src: u, alt: "sample" }))));
}

async function drawSamples() {
  clearMessages();
  busy($("#sample-go"), true);
  try {
    await track(await api("POST", "/api/sample", { method: $("#sample-name").textContent,
      seed: Number($("#sample-seed").value), n: Number($("#sample-n").value) }));
  } catch (e) { sayError(e); } finally { busy($("#sample-go"), false); }
}

async function showCard(name) {
  const { markdown } = await api("GET", `/api/methods/${encodeURIComponent(name)}/card`);
  const card = $("#card");
  const close = el("button", { className: "quiet close", textContent: "close the card" });
  close.onclick = () => { card.hidden = true; };
  card.replaceChildren(close, ...renderMarkdown(markdown));
  card.hidden = false;
  card.scrollIntoView({ behavior: "smooth" });
}

// A small Markdown reader for the model cards: headings, paragraphs, lists, tables, code; pictures by their
// caption (the card's images are not shipped). Text is set with textContent, never as HTML.
function inline(text) {
  const out = [];
  const re = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*|!\[[^\]]*\]\([^)]*\)|\[[^\]]+\]\([^)]*\))/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    if (t[0] === "`") out.push(el("code", { textContent: t.slice(1, -1) }));
    else if (t.startsWith("**")) out.push(el("strong", { textContent: t.slice(2, -2) }));
    else if (t[0] === "*") out.push(el("em", { textContent: t.slice(1, -1) }));
    else if (t[0] === "!") out.push(el("em", { textContent: `[picture: ${t.slice(2, t.indexOf("]"))}]` }));
    else {
      const label = t.slice(1, t.indexOf("]")), href = t.slice(t.indexOf("](") + 2, -1);
      out.push(/^https?:\/\//.test(href) ? el("a", { href, textContent: label, rel: "noreferrer" })
        : document.createTextNode(label));
    }
    last = re.lastIndex;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

function renderMarkdown(md) {
  const blocks = [], lines = md.split("\n");
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      blocks.push(el("pre", {}, el("code", { textContent: code.join("\n") }))); i++;
    } else if (/^#{1,6} /.test(line)) {
      const level = Math.min(6, line.indexOf(" "));
      blocks.push(el(`h${level}`, {}, ...inline(line.slice(line.indexOf(" ") + 1)))); i++;
    } else if (line.startsWith("|")) {
      const rows = [];
      for (; i < lines.length && lines[i].startsWith("|"); i++) {
        if (/^\|[\s:|-]+\|?$/.test(lines[i])) continue;
        rows.push(lines[i].replace(/^\||\|$/g, "").split("|").map((c) => c.trim()));
      }
      const [head, ...body] = rows;
      blocks.push(el("div", { className: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, ...head.map((c) => el("th", {}, ...inline(c))))),
        el("tbody", {}, ...body.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, ...inline(c)))))))));
    } else if (/^\s*([-*]|\d+\.) /.test(line)) {
      const ordered = /^\s*\d+\./.test(line), items = [];
      for (; i < lines.length && /^\s*([-*]|\d+\.) /.test(lines[i]); i++) {
        let item = lines[i].replace(/^\s*([-*]|\d+\.) /, "");
        while (i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1]) && !/^\s*([-*]|\d+\.) /.test(lines[i + 1])) {
          item += " " + lines[++i].trim();
        }
        items.push(el("li", {}, ...inline(item)));
      }
      blocks.push(el(ordered ? "ol" : "ul", {}, ...items));
    } else if (!line.trim()) { i++; } else {
      const para = [];
      for (; i < lines.length && lines[i].trim() && !/^(#|\||```|\s*([-*]|\d+\.) )/.test(lines[i]); i++) para.push(lines[i]);
      blocks.push(el("p", {}, ...inline(para.join(" "))));
    }
  }
  return blocks;
}

// ---- start ------------------------------------------------------------------------------------------------------
function dropZone(label, input, onFiles) {
  label.addEventListener("dragover", (e) => { e.preventDefault(); label.classList.add("over"); });
  label.addEventListener("dragleave", () => label.classList.remove("over"));
  label.addEventListener("drop", (e) => { e.preventDefault(); label.classList.remove("over"); onFiles(e.dataTransfer.files); });
  input.addEventListener("change", () => { onFiles(input.files); });
}

async function start() {
  for (const tab of document.querySelectorAll("nav [role=tab]")) tab.onclick = () => showTab(tab.getAttribute("aria-controls"));
  dropZone($("#refs-drop"), $("#refs-files"), (files) => uploadRefs([...files]).then(() => { $("#refs-files").value = ""; }));
  const restoreInput = $("#restore-files");
  dropZone(restoreInput.parentElement, restoreInput, (files) => {
    if (files !== restoreInput.files) { const dt = new DataTransfer(); for (const f of files) dt.items.add(f); restoreInput.files = dt.files; }
    $("#restore-chosen").textContent = `${restoreInput.files.length} chosen: ` +
      [...restoreInput.files].map((f) => f.name).join(", ");
  });
  $("#sheet-go").onclick = cutSheet;
  $("#adapt").addEventListener("change", () => { adaptTouched = true; });
  $("#refs-clear").onclick = async () => {
    if (!confirm("Remove every reference?")) return;
    try { showRefs((await api("DELETE", "/api/refs")).refs); } catch (e) { sayError(e); } };
  $("#write-go").onclick = writeText;
  $("#font-go").onclick = buildFont;
  $("#restore-go").onclick = restoreImages;
  $("#sample-go").onclick = drawSamples;
  $("#end").onclick = async () => {
    if (!confirm("Remove your references and results from the studio and start over?")) return;
    try { await api("DELETE", "/api/session"); } catch (e) { /* ended anyway */ }
    location.reload();
  };
  try {
    const inf = await api("GET", "/api/info");
    $("#version").textContent = `glyph ${inf.version} · ${inf.device}`;
    for (const c of inf.charsets) {
      $("#font-scope").append(el("option", { value: c.name,
        textContent: `the whole ${c.name} charset (${c.count.toLocaleString("en")} characters)` }));
    }
    showRefs((await api("GET", "/api/refs")).refs);
    await resumeJobs();
  } catch (e) { sayError(e); }
}

document.addEventListener("DOMContentLoaded", start);
