// intake web UI: create and trigger jobs, watch them progress, open one and
// download its documents and see what changed since its previous job;
// pause and resume schedules. Plain DOM, no framework, no external
// requests.
"use strict";

const KEY_STORAGE = "intake.apiKey";
const POLL_MS = 1500;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

const $ = (id) => document.getElementById(id);

// ---- API access with the bearer key --------------------------------------

let keyPrompt = null; // the pending key dialog, shared by concurrent calls

function askForKey() {
  if (keyPrompt) return keyPrompt;
  const dialog = $("key-dialog");
  keyPrompt = new Promise((resolve, reject) => {
    $("key-input").value = "";
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      keyPrompt = null;
      const key = $("key-input").value.trim();
      if (dialog.returnValue === "save" && key) {
        sessionStorage.setItem(KEY_STORAGE, key);
        showKeyState();
        state.polling = true;
        resolve();
      } else {
        // Stop asking on every refresh; the header button asks again.
        state.polling = false;
        reject(new Error("An API key is needed."));
      }
    });
    dialog.showModal();
  });
  return keyPrompt;
}

// api fetches path with the stored key; on 401 it asks for a key and retries.
async function api(path, options = {}) {
  for (;;) {
    const headers = new Headers(options.headers || {});
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.set("Authorization", "Bearer " + key);
    let body = options.body;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    }
    const res = await fetch(path, { method: options.method || "GET", headers, body });
    if (res.status !== 401) return res;
    sessionStorage.removeItem(KEY_STORAGE);
    showKeyState();
    await askForKey();
  }
}

// problemText turns an error response (problem+json or {"error"}) into text
// and a list of field errors.
async function problemText(res) {
  try {
    const p = await res.json();
    const fields = (p.errors || []).map((e) => `${e.location || "request"}: ${e.message}`);
    return { text: p.detail || p.error || p.title || res.statusText, fields };
  } catch {
    return { text: `${res.status} ${res.statusText}`, fields: [] };
  }
}

function showKeyState() {
  const has = !!sessionStorage.getItem(KEY_STORAGE);
  const b = $("key-button");
  b.textContent = has ? "API key ✓" : "API key";
  b.classList.toggle("has-key", has);
}

// ---- Small DOM helpers ----------------------------------------------------

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function flash(target, kind, text, fields = []) {
  target.className = "flash " + kind;
  target.replaceChildren(text);
  if (fields.length) target.append(el("ul", {}, ...fields.map((f) => el("li", {}, f))));
}

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d";
}

function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

function badge(status) {
  return el("span", { class: "badge " + status }, status);
}

function progressBar(job) {
  const p = job.progress;
  const pct = Math.min(100, p.percent || 0);
  const bar = el("div", { class: "bar " + job.status }, el("span"));
  bar.firstChild.style.width = pct + "%";
  const label = p.total == null ? `${p.collected} / ?` : `${p.collected}/${p.total} · ${pct}%`;
  return el("div", { class: "progress" }, bar, el("span", { class: "pct" }, label));
}

// ---- Jobs table -----------------------------------------------------------

const state = { selected: null, pages: 1, polling: true };

async function loadJobs() {
  const filter = $("status-filter").value;
  let cursor = "";
  const jobs = [];
  let next = "";
  for (let i = 0; i < state.pages; i++) {
    const q = new URLSearchParams({ limit: "50" });
    if (filter) q.set("status", filter);
    if (cursor) q.set("cursor", cursor);
    const res = await api("api/v1/jobs?" + q);
    if (!res.ok) throw new Error((await problemText(res)).text);
    const page = await res.json();
    jobs.push(...page.jobs);
    next = page.next_cursor || "";
    if (!next) break;
    cursor = next;
  }
  renderJobs(jobs, next);
}

function renderJobs(jobs, next) {
  const rows = jobs.map((j) =>
    el("tr", {
      dataset: { jobId: j.job_id, status: j.status, percent: String(j.progress.percent) },
      class: j.job_id === state.selected ? "selected" : "",
      onclick: () => openJob(j.job_id),
    },
    el("td", {}, el("code", { title: j.job_id }, j.job_id.slice(-12))),
    el("td", { class: "col-source" }, j.source_type),
    el("td", {}, badge(j.status)),
    el("td", { class: "col-progress" }, progressBar(j)),
    el("td", { class: "num" }, j.runs),
    el("td", { class: "num col-age", title: j.created_at }, age(j.created_at))));
  $("jobs-body").replaceChildren(...rows);
  $("jobs-empty").hidden = jobs.length > 0;
  $("jobs-more").hidden = !next;
}

async function poll() {
  try {
    if (!document.hidden && state.polling) {
      await loadJobs();
      await loadSchedules();
      if (state.selected) await refreshDetail();
    }
    $("live").classList.toggle("paused", !state.polling);
  } catch (err) {
    $("live").classList.add("paused");
    console.warn("refresh failed:", err.message);
  }
  setTimeout(poll, POLL_MS);
}

// ---- Schedules ------------------------------------------------------------

const schedules = { pages: 1 };

async function loadSchedules() {
  let cursor = "";
  const list = [];
  let next = "";
  for (let i = 0; i < schedules.pages; i++) {
    const q = new URLSearchParams({ limit: "20" });
    if (cursor) q.set("cursor", cursor);
    const res = await api("api/v1/schedules?" + q);
    if (!res.ok) throw new Error((await problemText(res)).text);
    const page = await res.json();
    list.push(...page.schedules);
    next = page.next_cursor || "";
    if (!next) break;
    cursor = next;
  }
  renderSchedules(list, next);
}

// when describes a schedule's timing: its cron expression and zone, or
// its interval.
function when(s) {
  if (s.cron) return s.cron + (s.time_zone ? ` (${s.time_zone})` : " (UTC)");
  return "every " + s.interval;
}

function renderSchedules(list, next) {
  const rows = list.map((s) =>
    el("tr", { dataset: { scheduleId: s.id, state: s.state } },
      el("td", { title: s.id }, s.name || el("code", {}, s.id.slice(-12))),
      el("td", { class: "col-source" }, s.source_type),
      el("td", {}, el("code", {}, when(s))),
      el("td", { title: s.next_job_at }, new Date(s.next_job_at).toLocaleString()),
      el("td", {}, s.last_fire_at ? new Date(s.last_fire_at).toLocaleString() : "—",
        s.last_job_id ? el("div", {}, el("a", { href: "#", class: "last-job", onclick: (ev) => { ev.preventDefault(); openJob(s.last_job_id); } }, "last job")) : ""),
      el("td", {}, badge(s.state)),
      el("td", {}, el("button", { type: "button", class: "ghost toggle", onclick: (ev) => toggleSchedule(s, ev.currentTarget) },
        s.paused ? "Resume" : "Pause"))));
  $("schedules-body").replaceChildren(...rows);
  $("schedules-empty").hidden = list.length > 0;
  $("schedules-more").hidden = !next;
  $("schedules-count").textContent = list.length ? `${list.length}${next ? "+" : ""}` : "";
}

// toggleSchedule pauses or resumes a schedule, at the version shown: a
// schedule changed meanwhile is a 409, and the list is refreshed.
async function toggleSchedule(s, button) {
  const target = $("schedules-flash");
  button.disabled = true;
  try {
    const res = await api("api/v1/schedules/" + encodeURIComponent(s.id), {
      method: "PATCH", headers: { "If-Match": `"${s.version}"` }, json: { paused: !s.paused },
    });
    if (!res.ok) {
      const p = await problemText(res);
      flash(target, "err", p.text, p.fields);
    } else {
      flash(target, "ok", `${s.name || "Schedule"} ${s.paused ? "resumed" : "paused"}.`);
    }
    await loadSchedules();
  } catch (err) {
    flash(target, "err", err.message);
  } finally {
    button.disabled = false;
  }
}

// ---- Job detail -----------------------------------------------------------

const detail = { job: null, docsCursor: "", docsLoaded: false, changesCursor: "", removedCursor: "", changesLoaded: false };

async function openJob(id) {
  state.selected = id;
  detail.job = null;
  detail.docsCursor = "";
  detail.docsLoaded = false;
  detail.changesCursor = "";
  detail.removedCursor = "";
  detail.changesLoaded = false;
  $("changes-body").replaceChildren();
  $("changes-table").hidden = true;
  $("docs-body").replaceChildren();
  $("docs-table").hidden = true;
  $("detail").hidden = false;
  for (const tr of $("jobs-body").children) tr.classList.toggle("selected", tr.dataset.jobId === id);
  await refreshDetail();
  $("detail").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function refreshDetail() {
  const id = state.selected;
  const res = await api("api/v1/jobs/status/" + encodeURIComponent(id));
  if (!res.ok) {
    flashDetailError((await problemText(res)).text);
    return;
  }
  const job = await res.json();
  if (state.selected !== id) return;
  detail.job = job;
  renderDetail(job);
  if (job.status === "completed" && !detail.docsLoaded) await loadDocuments(false);
  if (job.status === "completed" && job.previous_job_id && !detail.changesLoaded) await loadChanges(false);
  if (job.status !== "completed") {
    $("docs-note").textContent = job.status === "failed" || job.status === "cancelled"
      ? `The job is ${job.status}; its result is not available.`
      : "Documents are listed once the job has completed.";
  }
}

function renderDetail(job) {
  $("detail-id").textContent = job.job_id;
  const p = job.progress;
  const facts = [
    ["Status", badge(job.status)],
    ["Source", job.source_type],
    ["Progress", p.total == null ? `${p.collected} collected` : `${p.collected} of ${p.total} (${p.percent}%)`],
    ["Runs", job.runs],
    ["Attempts", job.attempts],
    ["Created", new Date(job.created_at).toLocaleString()],
    ["Started", job.started_at ? new Date(job.started_at).toLocaleString() : "—"],
    ["Finished", job.completed_at ? new Date(job.completed_at).toLocaleString() : "—"],
  ];
  if (job.schedule_id) facts.push(["Schedule", el("code", { title: job.schedule_id }, job.schedule_id.slice(-12))]);
  if (job.notify) facts.push(["Webhook", el("span", { title: (job.notify.events || []).join(", ") || "all events" }, job.notify.url)]);
  $("detail-facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
  const errBox = $("detail-error");
  errBox.hidden = !job.last_error;
  errBox.textContent = job.last_error ? "Last error: " + job.last_error : "";
  $("detail-cancel").hidden = TERMINAL.has(job.status);
  renderRuns(job.run_history || []);
  renderChangeCounts(job);
}

// renderChangeCounts shows, for a job with a previous job, the four counts
// of its documents against the previous job's.
function renderChangeCounts(job) {
  $("changes").hidden = !job.previous_job_id;
  if (!job.previous_job_id) return;
  const prev = $("changes-prev");
  prev.textContent = job.previous_job_id.slice(-12);
  prev.title = job.previous_job_id;
  prev.onclick = (ev) => { ev.preventDefault(); openJob(job.previous_job_id); };
  const c = job.changes;
  if (!c) {
    $("changes-counts").replaceChildren();
    $("changes-note").textContent = "Changes are counted once the job has completed.";
    return;
  }
  const counts = [["new", c.new], ["changed", c.changed], ["unchanged", c.unchanged], ["removed", c.removed]];
  $("changes-counts").replaceChildren(...counts.map(([k, v]) =>
    el("div", { dataset: { change: k } }, el("dt", {}, k), el("dd", {}, v))));
  $("changes-note").textContent = c.new + c.changed + c.removed === 0
    ? "Nothing changed since the previous job."
    : "New, changed and removed documents (removed ones are the previous job's):";
}

// loadChanges lists the job's new, changed and removed documents
// (GET /api/v1/jobs/{job_id}/changes), a page at a time.
async function loadChanges(more) {
  const id = state.selected;
  const q = new URLSearchParams({ limit: "100" });
  if (more) {
    if (detail.changesCursor) q.set("cursor", detail.changesCursor);
    q.set("removed_cursor", detail.removedCursor || String(Number.MAX_SAFE_INTEGER));
  }
  const res = await api(`api/v1/jobs/${encodeURIComponent(id)}/changes?${q}`);
  if (!res.ok) {
    $("changes-note").textContent = (await problemText(res)).text;
    return;
  }
  const ch = await res.json();
  if (state.selected !== id) return;
  detail.changesLoaded = true;
  if (more && !detail.changesCursor) ch.documents = [];
  detail.changesCursor = ch.next_cursor || "";
  detail.removedCursor = ch.next_removed_cursor || "";
  const rows = [...ch.documents, ...ch.removed].map((d) =>
    el("tr", { dataset: { change: d.change, seq: String(d.seq) } },
      el("td", {}, badge(d.change)),
      el("td", { class: "num" }, d.seq),
      el("td", {}, d.name),
      el("td", {}, el("code", {}, d.identity || "")),
      el("td", { class: "col-sha" }, el("span", { class: "sha", title: d.sha256 }, d.sha256.slice(0, 16) + "…"))));
  if (more) $("changes-body").append(...rows);
  else $("changes-body").replaceChildren(...rows);
  $("changes-table").hidden = $("changes-body").children.length === 0;
  $("changes-more").hidden = !detail.changesCursor && !detail.removedCursor;
}

// renderRuns shows the job's run history: which worker collected what,
// when, and how each run ended.
function renderRuns(runs) {
  const rows = runs.map((r) =>
    el("tr", { dataset: { run: String(r.number) } },
      el("td", { class: "num" }, r.number),
      el("td", {}, el("code", {}, r.worker)),
      el("td", { title: r.lease_owner }, new Date(r.started_at).toLocaleTimeString()),
      el("td", { class: "num" }, r.duration_seconds == null ? age(r.started_at) : r.duration_seconds.toFixed(1) + " s"),
      el("td", { class: "num" }, r.batch),
      el("td", { class: "num" }, r.collected),
      el("td", {}, badge(r.outcome), r.error ? el("div", { class: "err" }, r.error) : "")));
  $("runs-body").replaceChildren(...rows);
  $("runs-table").hidden = runs.length === 0;
  $("runs-note").textContent = runs.length === 0
    ? "No worker has claimed the job yet."
    : "Each run is one claim of the job by a worker, which collects one batch.";
}

function flashDetailError(text) {
  const errBox = $("detail-error");
  errBox.hidden = false;
  errBox.textContent = text;
}

async function loadDocuments(more) {
  const id = state.selected;
  const q = new URLSearchParams({ limit: "100" });
  if (more && detail.docsCursor) q.set("cursor", detail.docsCursor);
  const res = await api(`api/v1/jobs/result/${encodeURIComponent(id)}?${q}`);
  if (!res.ok) {
    $("docs-note").textContent = (await problemText(res)).text;
    return;
  }
  const result = await res.json();
  if (state.selected !== id) return;
  detail.docsLoaded = true;
  detail.docsCursor = result.next_cursor || "";
  const rows = result.documents.map((d) =>
    el("tr", { dataset: { seq: String(d.seq) } },
      el("td", { class: "num" }, d.seq),
      el("td", {}, d.name),
      el("td", {}, d.document_type),
      el("td", { class: "num" }, bytes(d.size_bytes)),
      el("td", { class: "col-sha" }, el("span", { class: "sha", title: d.sha256 }, d.sha256.slice(0, 16) + "…")),
      el("td", {}, el("a", { class: "download", href: d.links.content, onclick: (ev) => download(ev, d) }, "Download"))));
  if (more) $("docs-body").append(...rows);
  else $("docs-body").replaceChildren(...rows);
  $("docs-table").hidden = false;
  $("docs-more").hidden = !detail.docsCursor;
  const s = result.summary;
  $("docs-note").textContent = `${s.documents} documents collected in ${s.runs} runs, ${s.duration_seconds.toFixed(1)} s from creation to completion.`;
}

// download fetches a document with the key (a plain link cannot send it)
// and saves it under its name.
async function download(ev, doc) {
  ev.preventDefault();
  const res = await api(doc.links.content);
  if (!res.ok) {
    flashDetailError((await problemText(res)).text);
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: doc.name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function cancelSelected() {
  const id = state.selected;
  if (!id || !confirm("Cancel this job? A running batch stops at its next document.")) return;
  const res = await api(`api/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
  if (!res.ok) flashDetailError((await problemText(res)).text);
  await refreshDetail();
  await loadJobs();
}

// ---- Create and trigger ---------------------------------------------------

async function createJobs(num, button) {
  const target = $("create-flash");
  document.querySelectorAll(".create-buttons button").forEach((b) => (b.disabled = true));
  try {
    const res = await api("create-job", { method: "POST", json: { num_jobs: num } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      flash(target, "err", body.error || body.detail || `${res.status} ${res.statusText}`);
      return;
    }
    const names = body.jobs.map((j) => j.companyName).join(", ");
    flash(target, "ok", `${body.message}: ${names}`);
    await loadJobs();
  } catch (err) {
    flash(target, "err", err.message);
  } finally {
    document.querySelectorAll(".create-buttons button").forEach((b) => (b.disabled = false));
    button.blur();
  }
}

let examples = {};

async function loadSources() {
  const select = $("source-type");
  const res = await api("api/v1/sources");
  if (!res.ok) return;
  const { sources } = await res.json();
  examples = Object.fromEntries(sources.map((s) => [s.type, s.example || {}]));
  select.replaceChildren(...sources.map((s) => el("option", { value: s.type }, s.type)));
  showExample();
}

function showExample() {
  const ex = examples[$("source-type").value];
  $("source-config").value = JSON.stringify(ex || {}, null, 2);
}

async function trigger(ev) {
  ev.preventDefault();
  const target = $("trigger-flash");
  let config;
  try {
    config = JSON.parse($("source-config").value || "{}");
  } catch (err) {
    flash(target, "err", "Config is not valid JSON: " + err.message);
    return;
  }
  const headers = {};
  const idem = $("idem-key").value.trim();
  if (idem) headers["Idempotency-Key"] = idem;
  $("trigger-submit").disabled = true;
  try {
    const res = await api("api/v1/jobs/trigger", {
      method: "POST", headers, json: { source_type: $("source-type").value, config },
    });
    if (!res.ok) {
      const p = await problemText(res);
      flash(target, "err", p.text, p.fields);
      return;
    }
    const body = await res.json();
    flash(target, "ok", `Job ${body.job_id.slice(-12)} is ${body.status}.`);
    await loadJobs();
    await openJob(body.job_id);
  } catch (err) {
    flash(target, "err", err.message);
  } finally {
    $("trigger-submit").disabled = false;
  }
}

// ---- Wiring ---------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  showKeyState();
  document.querySelectorAll(".create-buttons button").forEach((b) =>
    b.addEventListener("click", () => createJobs(Number(b.dataset.num), b)));
  $("trigger-form").addEventListener("submit", trigger);
  $("source-type").addEventListener("change", showExample);
  $("status-filter").addEventListener("change", () => { state.pages = 1; loadJobs().catch(() => {}); });
  $("jobs-more").addEventListener("click", () => { state.pages++; loadJobs().catch(() => {}); });
  $("docs-more").addEventListener("click", () => loadDocuments(true));
  $("changes-more").addEventListener("click", () => loadChanges(true));
  $("schedules-more").addEventListener("click", () => { schedules.pages++; loadSchedules().catch(() => {}); });
  $("detail-close").addEventListener("click", () => {
    state.selected = null;
    $("detail").hidden = true;
    for (const tr of $("jobs-body").children) tr.classList.remove("selected");
  });
  $("detail-cancel").addEventListener("click", cancelSelected);
  $("key-button").addEventListener("click", () => askForKey().then(() => loadSources()).catch(() => {}));
  loadSources().catch(() => {});
  poll();
});
