// The analyst's workbench. Every action is one call to the local server, which runs the same
// library as the command line; this script only shows what it answers. Text from files and
// answers is always set as text (never as HTML).
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { file: null, page: 0, run: null, samples: [], timer: null, checked: null };
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
  const chosen = {
    profile: $("#profile").value,
    campaign_id: $("#campaign-id").value.trim(),
    timezone: $("#timezone").value.trim(),
    country: $("#country").value.trim().toUpperCase(),
    dayfirst: $("#dayfirst").checked,
    recording_by_id: $("#recording-by-id").checked,
    check_recordings: $("#check-recordings").checked,
    presign_recordings: $("#presign-recordings").checked ? 7 : null,
    sheet: $("#sheet").value.trim(),
  };
  const headerRow = parseInt($("#header-row").value, 10);
  if (headerRow > 0) chosen.header_row = headerRow;
  return chosen;
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

let given = 0;  // the latest file given: an earlier one's answer, arriving late, is not shown

async function give(file) {
  if (!file) return;
  const mine = ++given;
  const form = new FormData();
  form.append("file", file, file.name);
  say("#file-state", `Reading ${file.name}…`);
  let received;
  try {
    received = await api("/api/files", { method: "POST", body: form });
  } catch (error) {
    if (mine === given) say("#file-state", error.message);
    return;
  }
  if (mine !== given) return;
  state.file = received;
  const { name, headers, suggested, evidence } = state.file;
  say("#file-state", `${name}: ${headers.length} columns` +
    (suggested ? `; looks like the “${suggested}” profile (it has ${evidence.join(", ")})` : ""));
  if (suggested) $("#profile").value = suggested;
  show("#step-settings");
  for (const id of ["#step-check", "#step-upload", "#step-results", "#mapping"]) show(id, false);
  state.checked = null;
}

// Upload is offered only for the file and settings a check has just seen.
function checkedNow() {
  return JSON.stringify({ file: state.file && state.file.id, settings: settings() });
}

function uploadReady() {
  const current = state.checked !== null && state.checked === checkedNow();
  const running = state.timer !== null;
  $("#upload-button").disabled = !current || running;
  say("#upload-state", state.checked !== null && !current && !running
    ? "The settings changed since the check: check the file again before uploading." : "");
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
  say("#fix-state", "");
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
  state.checked = null;
  show("#step-upload", false);
  $("#counts").replaceChildren();
  show("#problems", false);
  if (/missing column|column/i.test(error.message)) openMapping();
}

function showCheck(result) {
  counts("#counts", result.counts);
  state.checked = checkedNow();
  show("#step-upload");
  uploadReady();
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
      keepPlace(row, column);
    } catch (error) {
      cell.textContent = before;
      failedCheck(error);
    }
  });
}

// After a fix: the focus goes to the same cell if it still has a problem (its new reason shown),
// else to the next marked cell in reading order, else to a message that all are fixed.
function keepPlace(row, column) {
  const order = (cell) => [Number(cell.closest("tr").dataset.row), state.columns.indexOf(cell.dataset.column)];
  const here = [Number(row), state.columns.indexOf(column)];
  const cells = [...document.querySelectorAll("#problems-table td.bad")];
  const next = cells.find((cell) => {
    const [r, c] = order(cell);
    return r > here[0] || (r === here[0] && c >= here[1]);
  }) || cells[0];
  const stillBad = next && order(next)[0] === here[0] && order(next)[1] === here[1];
  say("#fix-state", stillBad ? `Row ${row}, ${column} still has a problem: ${next.title}`
    : `Row ${row}, ${column} fixed.` + (next ? "" : " No problems left on this page."));
  if (next) {
    next.focus();
    next.scrollIntoView({ block: "nearest", inline: "nearest" });
  } else {
    $("#fix-state").focus();
  }
}

async function page(step) {
  const result = await api(`/api/files/${state.file.id}/problems?page=${state.page + step}`);
  showPage(result.page);
}

// ------------------------------------------------------------------ column mapping

// The mapping form: the profile language's parts, built from the file's own columns.
const FIELD_ROWS = [
  ["external_call_unique_id", "Call id", "template"],
  ["start_time", "Start time"],
  ["timezone", "Each row's time zone (a column)"],
  ["call_direction", "Direction (inbound/outbound)"],
  ["recording", "Recording (a URL or a storage key)", "template"],
  ["advertiser_campaign_id_from_network", "Campaign (a column)"],
  ["language_code", "Language (a column)"],
];
const NUMBER_ROWS = {
  from_to: [["from_number", "From (who placed the call)"], ["to_number", "To (who was called)"]],
  sides: [["calling_phone_number", "Customer's number"], ["destination_phone_number", "Business number"]],
};

function columnSelect(field, label, chosen) {
  const select = element("select", null, { "data-field": field, "aria-label": label });
  select.append(element("option", "— none —", { value: "" }));
  for (const name of state.mapping.headers) {
    if (!name) continue;
    const sample = (state.mapping.samples[name] || []).slice(0, 2).join(", ");
    const option = element("option", sample ? `${name} — e.g. ${sample}` : name, { value: name });
    if (name === chosen) option.selected = true;
    select.append(option);
  }
  return select;
}

function fieldRow(field, label, chosen, template) {
  const line = element("div", null, { class: "mapping-row", "data-row": field });
  const name = element("label", label);
  name.append(columnSelect(field, label, chosen));
  line.append(name);
  if (template) {
    const built = element("label", "or built from columns");
    const target = field === "recording" ? "recording_url" : field;
    const input = element("input", null, {
      "data-template": target, "aria-label": `${label} built from columns`,
      placeholder: field === "recording" ? "https://rec.example.com/{Call ID}.wav" : "{DID}-{Start Time}",
    });
    const select = name.querySelector("select");
    input.addEventListener("input", () => { select.disabled = Boolean(input.value.trim()); });  // one or the other
    built.append(input);
    line.append(built);
  }
  return line;
}

function directionValues() {
  const column = $("#mapping-form select[data-field=call_direction]").value;
  const box = $("#direction-values");
  box.replaceChildren();
  const values = state.mapping.distinct[column] || [];
  for (const value of values) {
    const select = element("select", null, { "data-direction-value": value, "aria-label": `${value} means` });
    for (const [choice, text] of [["", "as written"], ["inbound", "inbound"], ["outbound", "outbound"]]) {
      const option = element("option", text, { value: choice });
      if (choice === (/out/i.test(value) ? "outbound" : "inbound")) option.selected = true;  // a guess, shown
      select.append(option);
    }
    const line = element("label", `“${value}” means `);
    line.append(select);
    box.append(line);
  }
}

function numberRows() {
  const mode = document.querySelector("input[name=numbers]:checked").value;
  const box = $("#number-rows");
  box.replaceChildren(...NUMBER_ROWS[mode].map(([field, label]) =>
    fieldRow(field, label, state.mapping.fields[field])));
}

function addPair(kind, name = "", column = "") {
  const line = element("div", null, { class: "mapping-row", "data-pair": kind });
  const label = element("label", kind === "signals" ? "Signal" : "Custom field");
  label.append(element("input", null, { value: name, "aria-label": `${kind} name`, "data-pair-name": "" }));
  const from = element("label", "from column");
  from.append(columnSelect("", `${kind} column`, column));
  const remove = element("button", "Remove", { type: "button", class: "secondary" });
  remove.addEventListener("click", () => line.remove());
  line.append(label, from, remove);
  $(`#${kind}-rows`).append(line);
}

function addSkip() {
  const line = element("div", null, { class: "mapping-row", "data-skip": "" });
  const column = element("label", "Leave out rows whose");
  column.append(columnSelect("", "column of the rule", ""));
  const values = element("label", "is one of");
  values.append(element("input", null, { "aria-label": "values, separated by commas", placeholder: "Internal, Voicemail", "data-skip-values": "" }));
  const reason = element("label", "because");
  reason.append(element("input", null, { "aria-label": "reason", placeholder: "not a customer call", "data-skip-reason": "" }));
  const remove = element("button", "Remove", { type: "button", class: "secondary" });
  remove.addEventListener("click", () => line.remove());
  line.append(column, values, reason, remove);
  $("#skip-rows").append(line);
}

function section(title, ...children) {
  const box = element("fieldset");
  box.append(element("legend", title), ...children);
  return box;
}

async function openMapping() {
  if (!state.file) return;
  const base = $("#mapping-base");
  if (base.options.length === 1) {
    for (const option of $("#profile").querySelectorAll("option")) base.append(element("option", option.value, { value: option.value }));
  }
  const profile = base.value;
  state.mapping = await api(`/api/files/${state.file.id}/mapping?profile=${encodeURIComponent(profile)}`);
  const fields = state.mapping.fields;
  const form = $("#mapping-form");
  form.replaceChildren();
  const mode = fields.calling_phone_number || fields.destination_phone_number ? "sides" : "from_to";
  const modes = element("div", null, { role: "radiogroup", "aria-label": "how the file writes the two numbers" });
  for (const [value, text] of [["from_to", "The file says who called whom (from / to)"], ["sides", "The file says which is the customer and which the business"]]) {
    const label = element("label", null, { class: "inline" });
    const radio = element("input", null, { type: "radio", name: "numbers", value });
    radio.checked = value === mode;
    radio.addEventListener("change", numberRows);
    label.append(radio, document.createTextNode(` ${text}`));
    modes.append(label);
  }
  const zone = element("label", "or one zone for every row");
  zone.append(element("input", null, { id: "mapping-timezone", list: "zones", "aria-label": "one time zone for every row" }));
  form.append(
    section("The call", ...FIELD_ROWS.slice(0, 3).map(([f, l, t]) => fieldRow(f, l, fields[f], t)), zone),
    section("The two numbers", modes, element("div", null, { id: "number-rows" })),
    section("Direction", fieldRow("call_direction", "Direction column", fields.call_direction), element("div", null, { id: "direction-values" })),
    section("Recording and more", ...FIELD_ROWS.slice(4).map(([f, l, t]) => fieldRow(f, l, fields[f], t))),
    section("Signals and custom data", element("div", null, { id: "signals-rows" }), element("div", null, { id: "custom-rows" }),
      button("Add a signal", () => addPair("signals")), button("Add a custom field", () => addPair("custom"))),
    section("Rows to leave out", element("div", null, { id: "skip-rows" }), button("Add a rule", addSkip)),
  );
  numberRows();
  $("#mapping-form select[data-field=call_direction]").addEventListener("change", directionValues);
  directionValues();
  if (!$("#mapping-name").value) $("#mapping-name").value = `${state.file.name.split(".")[0]}`
    .toLowerCase().replace(/[^a-z0-9_-]+/g, "-").slice(0, 60);
  show("#mapping-preview", false);
  show("#mapping");
}

function button(text, action) {
  const node = element("button", text, { type: "button", class: "secondary" });
  node.addEventListener("click", action);
  return node;
}

function mappingSpec() {
  const spec = { base: $("#mapping-base").value, columns: {}, templates: {}, values: {}, signals: {}, custom: {}, skip: [] };
  for (const select of document.querySelectorAll("#mapping-form select[data-field]")) {
    const built = select.closest(".mapping-row").querySelector("input[data-template]");
    if (built && built.value.trim()) spec.templates[built.dataset.template] = built.value.trim();
    else if (select.dataset.field && select.value) spec.columns[select.dataset.field] = select.value;
  }
  const directions = {};
  for (const select of document.querySelectorAll("#direction-values select")) {
    if (select.value) directions[select.dataset.directionValue] = select.value;
  }
  if (Object.keys(directions).length) spec.values.call_direction = directions;
  for (const kind of ["signals", "custom"]) {
    for (const line of document.querySelectorAll(`[data-pair=${kind}]`)) {
      const name = line.querySelector("[data-pair-name]").value.trim();
      const column = line.querySelector("select").value;
      if (name && column) spec[kind][name] = column;
    }
  }
  for (const line of document.querySelectorAll("[data-skip]")) {
    const column = line.querySelector("select").value;
    const values = line.querySelector("[data-skip-values]").value.split(",").map((v) => v.trim()).filter(Boolean);
    if (column && values.length) spec.skip.push({ column, values, reason: line.querySelector("[data-skip-reason]").value.trim() });
  }
  spec.timezone = $("#mapping-timezone").value.trim();
  return spec;
}

async function previewMapping() {
  say("#mapping-error", "");
  try {
    const result = await post(`/api/files/${state.file.id}/preview`, { mapping: mappingSpec(), settings: settings() });
    counts("#mapping-counts", result.counts);
    $("#mapping-problems").replaceChildren(...[...result.warnings, ...result.problems].map((text) => element("li", text)));
    $("#mapping-bodies").textContent = result.bodies.map((body) => JSON.stringify(body, null, 2)).join("\n\n") || "(no valid row yet)";
    $("#mapping-toml").textContent = result.profile;
    show("#mapping-preview");
  } catch (error) {
    say("#mapping-error", error.message);
  }
}

async function saveMapping() {
  say("#mapping-error", "");
  try {
    const saved = await post("/api/profiles", { name: $("#mapping-name").value.trim(), mapping: mappingSpec() });
    await loadProfiles(saved.name);
    show("#mapping", false);
    await check();
  } catch (error) {
    say("#mapping-error", error.message);
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
  $("#run").dataset.state = progress.stopping ? "stopping" : "running";
  $("#progress-text").textContent = describe(progress);
  if (!run.finished) return;
  clearInterval(state.timer);
  state.timer = null;
  uploadReady();
  show("#stop-button", false);
  if (run.error) {
    $("#run").dataset.state = "failed";
    $("#progress-text").textContent = "The upload could not run: see below.";
    say("#upload-error", run.error);
    return;
  }
  const end = ending(run.summary);
  $("#run").dataset.state = end.state;
  // the bar shows the rows dealt with: a stop leaves the rows not sent out of it
  bar.max = Math.max(run.summary.rows, 1);
  bar.value = run.summary.rows - (run.summary.counts.not_sent || 0);
  $("#progress-text").textContent = end.text;
  showResults(run);
}

// A finished run in words, as the truth of what happened: stopped (by the person or by the API)
// with what was and was not sent, finished with problems, or finished clean.
function ending(summary) {
  const c = summary.counts;
  const went = (c.created || 0) + (c.already_received || 0) + (c.already_uploaded || 0);
  const left = (c.not_sent || 0);
  const wrong = (c.invalid || 0) + (c.rejected || 0) + (c.conflict || 0) + (c.failed || 0);
  const seconds = `${summary.elapsed_seconds.toFixed(1)} s`;
  if (summary.stopped) {
    return { state: "stopped-by-api", text: `Stopped by the API after ${seconds}: ${summary.stopped}. ${went.toLocaleString()} went in, ${left.toLocaleString()} not sent.` };
  }
  if (summary.interrupted) {
    return { state: "stopped", text: `Stopped after ${seconds}: ${went.toLocaleString()} went in, ${left.toLocaleString()} not sent: upload again to send the rest (nothing is sent twice).` };
  }
  if (wrong || left) {
    return { state: "problems", text: `Finished in ${seconds} with problems: ${went.toLocaleString()} went in, ${(wrong + left).toLocaleString()} did not (see below).` };
  }
  return { state: "clean", text: `Finished in ${seconds}: all ${went.toLocaleString()} calls went in.` };
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
  const c = summary.counts;
  const toFix = (c.invalid || 0) + (c.rejected || 0) + (c.conflict || 0);
  const toSend = (c.not_sent || 0) + (c.failed || 0);
  retry.textContent = toFix && toSend
    ? `Download the ${(toFix + toSend).toLocaleString()} rows that did not go in (${toFix.toLocaleString()} to fix, ${toSend.toLocaleString()} to send again)`
    : toFix ? `Download the ${toFix.toLocaleString()} rows to fix and upload again`
      : `Download the ${toSend.toLocaleString()} rows not sent yet, to upload again`;
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

const STATUS_WORDS = {
  created: "went in", already_received: "already received", already_uploaded: "already uploaded",
  invalid: "invalid", skipped: "left out", rejected: "refused by the API", conflict: "id used by another call",
  failed: "failed", not_sent: "not sent",
};

function pastOutcome(run) {
  if (run.exit_code === null || run.exit_code === undefined) return run.finished ? "ended without a summary" : "running";
  if (run.stopped) return `stopped by the API: ${run.stopped}`;
  if (run.interrupted) return "stopped: upload again to send the rest";
  return { 0: "finished clean", 1: "finished: some rows need a look", 3: "stopped: the run could not go on", 4: "stopped", 5: "finished, but a file could not be written" }[run.exit_code] || `ended (${run.exit_code})`;
}

async function history() {
  const answer = await api("/api/history");
  $("#history-table tbody").replaceChildren(...answer.runs.map((run) => {
    const line = element("tr");
    const counted = Object.entries(run.counts).map(([s, n]) => `${n.toLocaleString()} ${STATUS_WORDS[s] || s.replaceAll("_", " ")}`).join(", ");
    const files = element("td");
    for (const [kind, name] of Object.entries(run.files || {})) {
      files.append(element("a", kind === "results" ? "results" : "rows to upload again", {
        href: `/api/history/${run.id}/files/${kind}`, download: name, title: name,
      }), document.createTextNode(" "));
    }
    line.append(element("td", (run.started || "").replace("T", " ").slice(0, 19)),
      element("td", run.input), element("td", counted || "—"), element("td", pastOutcome(run)), files);
    return line;
  }));
}

// The template's extra columns: the names typed (remembered in this browser for next time).
function templateLink() {
  const names = (id) => $(id).value.split(",").map((n) => n.trim()).filter(Boolean);
  const query = new URLSearchParams();
  for (const name of names("#template-signals")) query.append("signal", name);
  for (const name of names("#template-custom")) query.append("custom", name);
  $("#template-link").href = `/api/template${query.toString() ? "?" + query : ""}`;
  localStorage.setItem("template-signals", $("#template-signals").value);
  localStorage.setItem("template-custom", $("#template-custom").value);
}

// ------------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", async () => {
  $("#zones").replaceChildren(...ZONES.map((zone) => element("option", null, { value: zone })));
  $("#timezone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  setUpDrop();
  $("#template-signals").value = localStorage.getItem("template-signals") || "";
  $("#template-custom").value = localStorage.getItem("template-custom") || "";
  if ($("#template-signals").value || $("#template-custom").value) $("#template-extras").open = true;
  templateLink();
  $("#template-signals").addEventListener("input", templateLink);
  $("#template-custom").addEventListener("input", templateLink);
  $("#check-button").addEventListener("click", check);
  $("#mapping-button").addEventListener("click", openMapping);
  $("#mapping-save").addEventListener("click", saveMapping);
  $("#mapping-preview-button").addEventListener("click", previewMapping);
  $("#mapping-base").addEventListener("change", openMapping);
  $("#page-previous").addEventListener("click", () => page(-1));
  $("#page-next").addEventListener("click", () => page(1));
  $("#token-save").addEventListener("click", saveToken);
  $("#token-input").addEventListener("keydown", (event) => { if (event.key === "Enter") saveToken(); });
  $("#token-forget").addEventListener("click", forgetToken);
  $("#upload-button").addEventListener("click", startUpload);
  $("#settings").addEventListener("input", uploadReady);
  $("#settings").addEventListener("change", uploadReady);
  $("#stop-button").addEventListener("click", stopUpload);
  await loadProfiles();
  history();
});
