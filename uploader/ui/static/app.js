// The analyst's workbench. Every action is one call to the local server, which runs the same
// library as the command line; this script only shows what it answers. Text from files and
// answers is always set as text (never as HTML).
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { file: null, page: 0, run: null, samples: [], timer: null };
const ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
  "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Toronto",
  "Europe/London", "Europe/Dublin", "Europe/Madrid", "Europe/Paris", "Europe/Berlin",
  "Australia/Sydney", "UTC"];

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("application/json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new Error(typeof body === "string" ? body.trim() : (body.error || response.statusText));
    error.status = response.status;
    throw error;
  }
  return body;
}

function post(path, data) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data || {}),
  });
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function show(selector, visible = true) { $(selector).hidden = !visible; }

function say(selector, message) {
  const node = $(selector);
  node.textContent = message || "";
  node.hidden = !message;
}

function settings() {
  return {
    profile: $("#profile").value,
    campaign_id: $("#campaign-id").value.trim(),
    timezone: $("#timezone").value.trim(),
    country: $("#country").value.trim().toUpperCase(),
    dayfirst: $("#dayfirst").checked,
  };
}

function counts(selector, values) {
  const list = $(selector);
  list.replaceChildren();
  for (const [status, count] of Object.entries(values)) {
    if (!count) continue;
    const item = element("li", null, { "data-status": status });
    item.append(element("b", count.toLocaleString()), status.replaceAll("_", " "));
    list.append(item);
  }
}

// ------------------------------------------------------------------ 1. file

async function give(file) {
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  say("#file-state", `Reading ${file.name}…`);
  try {
    state.file = await api("/api/files", { method: "POST", body: form });
  } catch (error) {
    say("#file-state", error.message);
    return;
  }
  const { name, headers, suggested, evidence } = state.file;
  say("#file-state", `${name}: ${headers.length} columns` +
    (suggested ? `; looks like the “${suggested}” profile (it has ${evidence.join(", ")})` : ""));
  if (suggested) $("#profile").value = suggested;
  for (const id of ["#step-settings", "#step-upload"]) show(id);
  for (const id of ["#step-check", "#step-results", "#mapping"]) show(id, false);
}

function setUpDrop() {
  const zone = $("#drop-zone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    give(event.dataTransfer.files[0]);
  });
  $("#file-input").addEventListener("change", (event) => give(event.target.files[0]));
}

// ------------------------------------------------------------------ 2-3. check and fix

async function check() {
  if (!state.file) return;
  $("#check-button").disabled = true;
  show("#step-check");
  say("#check-error", "");
  try {
    showCheck(await post(`/api/files/${state.file.id}/check`, settings()));
  } catch (error) {
    failedCheck(error);
  } finally {
    $("#check-button").disabled = false;
  }
}

function failedCheck(error) {
  say("#check-error", error.message);
  $("#counts").replaceChildren();
  show("#problems", false);
  if (/missing column|column/i.test(error.message)) openMapping();
}

function showCheck(result) {
  counts("#counts", result.counts);
  const warnings = $("#warnings");
  warnings.replaceChildren(...result.warnings.map((text) => element("li", text)));
  state.columns = result.columns;
  state.problemsTotal = result.problems_total;
  showPage(result.page);
}

function showPage(page) {
  state.page = page.number;
  show("#problems", page.rows.length > 0);
  const head = $("#problems-table thead");
  const row = element("tr");
  row.append(element("th", "Row"), element("th", "Problem"), ...state.columns.map((c) => element("th", c)));
  head.replaceChildren(row);
  const body = $("#problems-table tbody");
  body.replaceChildren(...page.rows.map(problemRow));
  const more = state.problemsTotal > page.kept ? ` (first ${page.kept.toLocaleString()} shown)` : "";
  $("#page-state").textContent =
    `page ${page.number + 1} of ${page.pages}: ${state.problemsTotal.toLocaleString()} rows with problems${more}`;
  $("#page-previous").disabled = page.number === 0;
  $("#page-next").disabled = page.number + 1 >= page.pages;
}

function problemRow(problem) {
  const line = element("tr", null, { "data-row": problem.row });
  line.append(element("td", problem.row));
  const text = problem.problems.map((p) => `${p.label}: ${p.reason}`).join("; ");
  line.append(element("td", text, { class: "reason" }));
  const reasons = new Map();
  for (const item of problem.problems) {
    for (const column of item.columns) reasons.set(column, `${item.label}: ${item.reason}`);
  }
  for (const column of state.columns) {
    const cell = element("td", problem.cells[column] ?? "", { "data-column": column });
    if (reasons.has(column)) {
      cell.classList.add("bad");
      cell.title = reasons.get(column);
      cell.tabIndex = 0;
      cell.setAttribute("role", "button");
      cell.setAttribute("aria-label", `Fix row ${problem.row}, ${column}: ${reasons.get(column)}`);
      cell.addEventListener("click", () => startEdit(cell, problem.row, column));
      cell.addEventListener("keydown", (event) => {
        if (event.key === "Enter") { event.preventDefault(); startEdit(cell, problem.row, column); }
      });
    }
    line.append(cell);
  }
  return line;
}

function startEdit(cell, row, column) {
  if (cell.querySelector("input")) return;
  const before = cell.textContent;
  const input = element("input", null, { "aria-label": `New value for row ${row}, ${column}` });
  input.value = before;
  cell.replaceChildren(input);
  input.focus();
  input.select();
  input.addEventListener("keydown", async (event) => {
    if (event.key === "Escape") { cell.textContent = before; cell.focus(); }
    if (event.key !== "Enter") return;
    event.preventDefault();
    input.disabled = true;
    try {
      const body = { row, column, value: input.value, settings: settings() };
      showCheck(await post(`/api/files/${state.file.id}/edit`, body));
    } catch (error) {
      cell.textContent = before;
      failedCheck(error);
    }
  });
}

async function page(step) {
  const result = await api(`/api/files/${state.file.id}/problems?page=${state.page + step}`);
  showPage(result.page);
}

// ------------------------------------------------------------------ column mapping

async function openMapping() {
  if (!state.file) return;
  const profile = $("#profile").value;
  const result = await api(`/api/files/${state.file.id}/mapping?profile=${encodeURIComponent(profile)}`);
  const body = $("#mapping-table tbody");
  body.replaceChildren();
  for (const [field, header] of Object.entries(result.fields)) {
    const select = element("select", null, { "data-field": field, "aria-label": field });
    select.append(element("option", "— none —", { value: "" }));
    for (const name of result.headers) {
      if (!name) continue;
      const option = element("option", name, { value: name });
      if (name === header) option.selected = true;
      select.append(option);
    }
    const line = element("tr");
    const cell = element("td");
    cell.append(select);
    line.append(element("th", field), cell);
    body.append(line);
  }
  if (!$("#mapping-name").value) $("#mapping-name").value = `${profile}-${state.file.name.split(".")[0]}`
    .toLowerCase().replace(/[^a-z0-9_-]+/g, "-").slice(0, 60);
  show("#mapping");
}

async function saveMapping() {
  const mapping = {};
  for (const select of document.querySelectorAll("#mapping-table select")) {
    if (select.value) mapping[select.dataset.field] = select.value;
  }
  try {
    const saved = await post("/api/profiles", { name: $("#mapping-name").value.trim(), base: $("#profile").value, mapping });
    await loadProfiles(saved.name);
    show("#mapping", false);
    await check();
  } catch (error) {
    say("#check-error", error.message);
    show("#step-check");
  }
}

async function loadProfiles(selected) {
  const info = await api("/api/state");
  const select = $("#profile");
  const keep = selected || select.value || "invoca";
  select.replaceChildren();
  for (const [label, names] of [["Built in", info.profiles], ["Saved", info.saved_profiles]]) {
    if (!names.length) continue;
    const group = element("optgroup", null, { label });
    for (const name of names) group.append(element("option", name, { value: name }));
    select.append(group);
  }
  select.value = keep;
  $("#base-url").textContent = info.base_url;
  tokenState(info.token);
}

// ------------------------------------------------------------------ 4. upload

function tokenState(source) {
  $("#token-state").textContent = source ? `set (${source})` : "not set: type it below";
}

async function saveToken() {
  const input = $("#token-input");
  try {
    const answer = await post("/api/token", { token: input.value });
    tokenState(answer.token);
    say("#upload-error", "");
  } catch (error) {
    say("#upload-error", error.message);
  } finally {
    input.value = "";
  }
}

async function forgetToken() {
  const answer = await api("/api/token", { method: "DELETE", headers: { "Content-Type": "application/json" } });
  tokenState(answer.token);
}

async function startUpload() {
  say("#upload-error", "");
  show("#step-results", false);
  try {
    const answer = await post(`/api/files/${state.file.id}/upload`, settings());
    state.run = answer.run;
  } catch (error) {
    say("#upload-error", error.message);
    return;
  }
  state.samples = [];
  $("#upload-button").disabled = true;
  show("#stop-button");
  show("#run");
  state.timer = setInterval(poll, 500);
  poll();
}

function describe(progress) {
  const now = progress.elapsed;
  state.samples.push([now, progress.done]);
  while (state.samples.length > 1 && now - state.samples[0][0] > 10) state.samples.shift();
  const [then, doneThen] = state.samples[0];
  const rate = now > then ? (progress.done - doneThen) / (now - then) : 0;
  const total = progress.total || 0;
  let text = `${progress.done.toLocaleString()}${total ? " of " + total.toLocaleString() : ""} rows`;
  text += `, ${rate.toFixed(1)} rows/s, ${progress.delivered.toLocaleString()} delivered, ${progress.failed.toLocaleString()} failed`;
  if (rate > 0 && total > progress.done) {
    const left = Math.round((total - progress.done) / rate);
    text += `, about ${Math.floor(left / 60)}m${String(left % 60).padStart(2, "0")}s left`;
  }
  return text + (progress.stopping ? " — stopping: finishing the requests in flight" : "");
}

async function poll() {
  let run;
  try {
    run = await api(`/api/runs/${state.run}`);
  } catch (error) {
    say("#upload-error", error.message);
    return;
  }
  const progress = run.progress;
  const bar = $("#progress");
  bar.max = Math.max(progress.total || 0, progress.done, 1);
  bar.value = progress.done;
  $("#progress-text").textContent = describe(progress);
  if (!run.finished) return;
  clearInterval(state.timer);
  $("#upload-button").disabled = false;
  show("#stop-button", false);
  if (run.error) {
    say("#upload-error", run.error);
    return;
  }
  bar.value = bar.max;
  $("#progress-text").textContent = `Done: ${run.summary.rows.toLocaleString()} rows in ${run.summary.elapsed_seconds.toFixed(1)} s`;
  showResults(run);
}

async function stopUpload() {
  $("#stop-button").disabled = true;
  await post(`/api/runs/${state.run}/stop`);
  $("#stop-button").disabled = false;
}

// ------------------------------------------------------------------ 5. results and history

async function showResults(run) {
  const summary = run.summary;
  show("#step-results");
  counts("#result-counts", summary.counts);
  const notes = [];
  if (summary.interrupted) notes.push("Stopped: upload again to send the rest (nothing is sent twice).");
  if (summary.stopped) notes.push(`Stopped by the API: ${summary.stopped}`);
  const conflicts = summary.counts.conflict || 0;
  if (conflicts) notes.push(`${conflicts.toLocaleString()} ${conflicts === 1 ? "row has an id" : "rows have ids"} already used for another call: give each call its own id (the rows are listed below).`);
  const changed = summary.changed_since_delivered || 0;
  if (changed) notes.push(`${changed.toLocaleString()} already uploaded ${changed === 1 ? "row has" : "rows have"} changed since ${changed === 1 ? "it was" : "they were"} delivered: Invoca keeps the first version.`);
  $("#result-note").textContent = notes.join(" ");
  const results = $("#download-results");
  results.href = `/api/runs/${run.id}/files/results`;
  results.textContent = `Download the results (${summary.files.results})`;
  const retry = $("#download-retry");
  retry.hidden = !summary.files.retry;
  retry.href = `/api/runs/${run.id}/files/retry`;
  const failed = await api(`/api/runs/${run.id}/failed`);
  show("#failed", failed.rows.length > 0);
  $("#failed-table tbody").replaceChildren(...failed.rows.map((row) => {
    const line = element("tr");
    line.append(element("td", row.row), element("td", row.external_call_unique_id),
      element("td", row.status), element("td", row.error, { class: "reason" }));
    return line;
  }));
  const sent = await api(`/api/runs/${run.id}/sent`);
  show("#sent", sent.rows.length > 0);
  const shown = sent.total > sent.rows.length ? ` The first ${sent.rows.length.toLocaleString()} of ${sent.total.toLocaleString()} are shown; the download has them all.` : "";
  $("#sent-note").textContent = `The start time and the two numbers exactly as Invoca received them: check that they mean what your file meant.${shown}`;
  $("#sent-table tbody").replaceChildren(...sent.rows.map((row) => {
    const line = element("tr");
    line.append(element("td", row.row), element("td", row.external_call_unique_id),
      element("td", row.status.replaceAll("_", " ")), element("td", row.cuid),
      element("td", row["sent start_time"]), element("td", row["sent calling_phone_number"]),
      element("td", row["sent destination_phone_number"]), element("td", row.error, { class: "reason" }));
    return line;
  }));
  history();
}

async function history() {
  const answer = await api("/api/history");
  $("#history-table tbody").replaceChildren(...answer.runs.map((run) => {
    const line = element("tr");
    const outcome = Object.entries(run.counts).map(([s, n]) => `${n} ${s.replaceAll("_", " ")}`).join(", ");
    line.append(element("td", (run.started || "").replace("T", " ").slice(0, 19)),
      element("td", run.input), element("td", outcome || "—"), element("td", run.exit_code ?? "running"));
    return line;
  }));
}

// ------------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", async () => {
  $("#zones").replaceChildren(...ZONES.map((zone) => element("option", null, { value: zone })));
  $("#timezone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  setUpDrop();
  $("#check-button").addEventListener("click", check);
  $("#mapping-button").addEventListener("click", openMapping);
  $("#mapping-save").addEventListener("click", saveMapping);
  $("#page-previous").addEventListener("click", () => page(-1));
  $("#page-next").addEventListener("click", () => page(1));
  $("#token-save").addEventListener("click", saveToken);
  $("#token-input").addEventListener("keydown", (event) => { if (event.key === "Enter") saveToken(); });
  $("#token-forget").addEventListener("click", forgetToken);
  $("#upload-button").addEventListener("click", startUpload);
  $("#stop-button").addEventListener("click", stopUpload);
  await loadProfiles();
  history();
});
