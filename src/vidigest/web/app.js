// vidigest web UI: plain JavaScript, no build step. Views: #/ (upload queue + video list),
// #/videos/<id>[?t=seconds] (player, summary, chapters, transcript), #/search?q=...
//
// Other scripts plug in through window.vidigest: `api`, `el`, `clock`, `renderTranscript`
// (draws a transcript into #transcript), `reloadTranscript(id)`, `reloadSummary(id)` and
// `hooks.transcriptRendered` (functions called with (videoId, transcript, listElement) after
// each render: the place for tools that work on the transcript, in #transcript-tools).
"use strict";

const TERMINAL = new Set(["COMPLETED", "FAILED"]);
const KEY_STORE = "vidigest_api_key";
const THEME_STORE = "vidigest_theme";
const $ = (id) => document.getElementById(id);
let pollTimer = null;
let currentVideo = null;
let listFilter = "all";
let authNeeded = false;

// what the queue calls each status, and which group of the list it is in
const STATUS_LABEL = {
  DOWNLOADING: "Downloading", REGISTERED: "Waiting", TRANSCRIBING: "Transcribing",
  TRANSCRIBED: "Waiting for summary", SUMMARIZING: "Summarizing", COMPLETED: "Done", FAILED: "Failed",
};
const STATUS_GROUP = {
  DOWNLOADING: "running", REGISTERED: "waiting", TRANSCRIBING: "running", TRANSCRIBED: "waiting",
  SUMMARIZING: "running", COMPLETED: "done", FAILED: "failed",
};

// --- API -----------------------------------------------------------------------------------------

function apiKey() { return localStorage.getItem(KEY_STORE); }

function setApiKey(key) {
  localStorage.setItem(KEY_STORE, key);
  // media and download links cannot send headers: the server accepts this cookie on GET only
  document.cookie = `${KEY_STORE}=${encodeURIComponent(key)}; path=/; SameSite=Strict`;
}

function forgetApiKey() {
  localStorage.removeItem(KEY_STORE);
  document.cookie = `${KEY_STORE}=; path=/; SameSite=Strict; max-age=0`;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = options.key !== undefined ? options.key : apiKey();
  if (key) headers.set("X-API-Key", key);
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && options.key === undefined) needKey(Boolean(key));
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  if (response.status === 204) return null;
  return response.json();
}

// --- helpers -------------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function statusBadge(status) { return el("span", { class: `status status-${status}` }, STATUS_LABEL[status] || status); }

// "Transcribing 42 % · about 0:31 left" (the stage, its percent, the time left at its pace)
function stageText(v) {
  if (TERMINAL.has(v.status) || v.status === "REGISTERED" || v.status === "TRANSCRIBED") return "";
  let text = `${Math.round(v.stage_progress)} % of this stage`;
  if (v.eta_seconds !== null && v.eta_seconds !== undefined) text += ` · about ${clock(v.eta_seconds)} left`;
  return text;
}

function seekButton(start, label, ...extra) {
  return el("button", {
    type: "button", "data-start": String(start),
    "aria-label": `Play from ${clock(start)}: ${label}`,
    onclick: () => seek(start),
  }, el("span", { class: "time" }, clock(start)), el("span", {}, label, ...extra));
}

function seek(seconds) {
  const player = $("player");
  player.currentTime = seconds;
  highlightAt(seconds);
  player.play().catch(() => { /* autoplay may be refused; the position still moved */ });
}

function stopPolling() { if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; } }

// --- theme: the system's unless the toggle chose ---------------------------------------------------

function effectiveTheme() {
  const chosen = localStorage.getItem(THEME_STORE);
  if (chosen === "dark" || chosen === "light") return chosen;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme() {
  const chosen = localStorage.getItem(THEME_STORE);
  if (chosen) document.documentElement.dataset.theme = chosen;
  else delete document.documentElement.dataset.theme;
  const dark = effectiveTheme() === "dark";
  const toggle = $("theme-toggle");
  toggle.setAttribute("aria-pressed", String(dark));
  toggle.textContent = "Dark mode";
}

function toggleTheme() {
  localStorage.setItem(THEME_STORE, effectiveTheme() === "dark" ? "light" : "dark");
  applyTheme();
}

// --- API key -------------------------------------------------------------------------------------

function needKey(refused) {
  authNeeded = true;
  $("auth").hidden = false;
  $("dropzone").hidden = true;
  $("auth-label").textContent = "This server needs an API key";
  $("auth-message").textContent = refused ? "The stored API key was refused: enter a valid one." : "";
  $("forget-key").hidden = !apiKey();
  $("close-key").hidden = true;
  $("key-button").hidden = false;
}

function showKeyForm() {
  $("auth").hidden = false;
  $("auth-label").textContent = apiKey() ? "Change the API key" : "API key";
  $("auth-message").textContent = "";
  $("forget-key").hidden = !apiKey();
  $("close-key").hidden = authNeeded;
  $("api-key").value = "";
  $("api-key").focus();
}

async function submitKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  try {
    await api("/videos?limit=1", { key }); // checked before it is kept
  } catch (error) {
    $("auth-message").textContent = error.status === 401
      ? "That key was not accepted: check it and try again."
      : `The key could not be checked: ${error.message}`;
    $("api-key").select();
    return;
  }
  setApiKey(key);
  authNeeded = false;
  $("auth").hidden = true;
  $("dropzone").hidden = false;
  $("key-button").hidden = false;
  $("api-key").value = "";
  route();
}

function forgetKey() {
  forgetApiKey();
  $("api-key").value = "";
  $("forget-key").hidden = true;
  $("auth-message").textContent = "The key was forgotten in this browser.";
  route();
}

// --- routing -------------------------------------------------------------------------------------

function route() {
  stopPolling();
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  const match = path.match(/^\/videos\/([\w-]+)$/);
  if (match) showVideo(match[1], parseFloat(params.get("t")));
  else if (path === "/search") showSearch(params.get("q") || "");
  else showHome();
}

// --- home: upload queue + list -------------------------------------------------------------------

async function showHome() {
  $("view-home").hidden = false;
  $("dropzone").hidden = authNeeded;
  document.title = "vidigest";
  await refreshList();
}

function videoRow(v) {
  const actions = el("div", { class: "row-actions" });
  if (!TERMINAL.has(v.status)) {
    actions.append(el("button", { type: "button", class: "small danger", "aria-label": `Cancel ${v.filename}`,
      onclick: () => listAction(v, "cancel") }, "Cancel"));
  }
  if (v.status === "FAILED") {
    actions.append(el("button", { type: "button", class: "small", "aria-label": `Retry ${v.filename}`,
      onclick: () => listAction(v, "retry") }, "Retry"));
  }
  if (TERMINAL.has(v.status)) {
    actions.append(el("button", { type: "button", class: "small secondary", "aria-label": `Delete ${v.filename}`,
      onclick: () => listAction(v, "delete") }, "Delete"));
  }
  const details = [];
  const stage = stageText(v);
  if (stage) details.push(el("span", { class: "detail eta" }, stage));
  if (v.error) details.push(el("span", { class: "detail reason" }, v.error));
  if (v.status === "COMPLETED" && (v.language || v.model)) {
    details.push(el("span", { class: "detail" }, [v.language, v.model].filter(Boolean).join(" · ")));
  }
  return el("tr", { "data-id": v.id, "data-status": v.status, "data-group": STATUS_GROUP[v.status] || "" },
    el("td", {}, el("a", { href: `#/videos/${v.id}` }, v.filename)),
    el("td", { "data-label": "Status" }, statusBadge(v.status), ...details),
    el("td", { "data-label": "Progress" },
      el("progress", { max: "100", value: String(v.progress), "aria-label": `${v.filename} progress` }),
      ` ${Math.round(v.progress)}%`),
    el("td", { "data-label": "Duration" }, v.duration ? clock(v.duration) : "–"),
    el("td", { "data-label": "Added" }, new Date(v.created_at).toLocaleString()),
    el("td", {}, actions));
}

async function refreshList() {
  stopPolling();
  let page;
  try { page = await api("/videos?limit=100&sort=created_at%20DESC"); }
  catch (error) {
    $("video-rows").replaceChildren(el("tr", {}, el("td", { colspan: "6" },
      error.status === 401 ? "Enter the API key above to see the videos." : error.message)));
    return;
  }
  const counts = { all: page.items.length, waiting: 0, running: 0, failed: 0, done: 0 };
  for (const v of page.items) counts[STATUS_GROUP[v.status]] += 1;
  for (const [group, n] of Object.entries(counts)) {
    const badge = document.querySelector(`[data-count="${group}"]`);
    if (badge) badge.textContent = `(${n})`;
  }
  const shown = page.items.filter((v) => listFilter === "all" || STATUS_GROUP[v.status] === listFilter);
  const focused = document.activeElement && document.activeElement.getAttribute("aria-label");
  const empty = page.items.length ? "Nothing here." : "No videos yet: upload one above.";
  $("video-rows").replaceChildren(...(shown.length ? shown.map(videoRow) : [el("tr", {}, el("td", { colspan: "6" }, empty))]));
  if (focused) { // keep the keyboard where it was across a refresh
    const again = [...$("video-rows").querySelectorAll("[aria-label]")].find((n) => n.getAttribute("aria-label") === focused);
    if (again) again.focus();
  }
  settleUploads(page.items);
  const busy = page.items.some((v) => !TERMINAL.has(v.status));
  if (!$("view-home").hidden) pollTimer = setTimeout(refreshList, busy ? 1500 : 5000);
}

async function listAction(v, action) {
  if (action === "delete" && !confirm(`Delete ${v.filename}, its transcript and summary?`)) return;
  if (action === "cancel" && !confirm(`Stop processing ${v.filename}?`)) return;
  const message = $("list-message");
  try {
    if (action === "delete") await api(`/videos/${v.id}`, { method: "DELETE" });
    else await api(`/videos/${v.id}/${action}`, { method: "POST" });
    message.textContent = { delete: `${v.filename} deleted.`, cancel: `${v.filename} cancelled.`, retry: `${v.filename} queued again.` }[action];
  } catch (error) { message.textContent = `${v.filename}: ${error.message}`; }
  refreshList();
}

function setFilter(filter) {
  listFilter = filter;
  for (const button of document.querySelectorAll("#queue-filter button")) {
    button.setAttribute("aria-pressed", String(button.dataset.filter === filter));
  }
  refreshList();
}

// Uploads go one after the other, each with its own line and bar; a refused file says why and
// the next one goes on. An uploaded file's line says "processing" until the list shows it done.
const uploadQueue = [];
let uploading = false;
const processing = new Map(); // video id -> its line in the upload list

function enqueueUploads(files) {
  const language = $("upload-language").value, model = $("upload-model").value;
  for (const file of files) {
    const bar = el("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
    const note = el("span", { class: "note" }, "Waiting to upload");
    const item = el("li", { "data-name": file.name }, el("span", { class: "name" }, file.name),
      el("span", { class: "size" }, `${(file.size / 1e6).toFixed(1)} MB`), bar, note);
    $("upload-list").append(item);
    uploadQueue.push({ file, item, bar, note, language, model });
  }
  $("upload-message").textContent = `${files.length} file${files.length === 1 ? "" : "s"} added to the upload queue.`;
  nextUpload();
}

function nextUpload() {
  if (uploading || !uploadQueue.length) return;
  uploading = true;
  upload(uploadQueue.shift()).finally(() => { uploading = false; nextUpload(); });
}

function upload(job) {
  return new Promise((resolve) => {
    const { file, item, bar, note } = job;
    item.classList.add("active");
    note.textContent = "Uploading";
    const form = new FormData();
    if (job.language && job.language !== "auto") form.append("language", job.language);
    if (job.model) form.append("model", job.model);
    form.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", "/videos");
    const key = apiKey();
    if (key) request.setRequestHeader("X-API-Key", key);
    request.upload.onprogress = (e) => {
      if (e.lengthComputable) { bar.value = (100 * e.loaded) / e.total; note.textContent = `Uploading: ${Math.round(bar.value)} %`; }
    };
    request.onload = () => {
      item.classList.remove("active");
      let body = null;
      try { body = JSON.parse(request.responseText); } catch (_) { /* empty */ }
      if (request.status === 201 || request.status === 202) {
        bar.value = 100;
        item.classList.add("uploaded");
        item.dataset.id = body.id;
        note.textContent = "Uploaded: processing (follow it in the list below).";
        processing.set(body.id, item);
        refreshList();
      } else {
        if (request.status === 401) needKey(Boolean(key));
        item.classList.add("rejected");
        bar.hidden = true;
        note.textContent = `Not accepted: ${body && body.error ? body.error.message : `HTTP ${request.status}`}`;
      }
      resolve();
    };
    request.onerror = () => {
      item.classList.add("rejected"); bar.hidden = true;
      note.textContent = "Not uploaded: network error."; resolve();
    };
    request.send(form);
  });
}

// a file that finished processing leaves the upload list (the video list shows it)
function settleUploads(items) {
  for (const v of items) {
    const item = processing.get(v.id);
    if (item && TERMINAL.has(v.status)) { processing.delete(v.id); item.remove(); }
  }
  if (!$("upload-list").children.length) $("upload-message").textContent = "";
}

function setUpUpload() {
  const zone = $("dropzone");
  $("file-input").addEventListener("change", (e) => {
    if (e.target.files.length) enqueueUploads([...e.target.files]);
    e.target.value = "";
  });
  for (const type of ["dragenter", "dragover"]) zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  zone.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) enqueueUploads([...e.dataTransfer.files]); });
}

// --- one video -----------------------------------------------------------------------------------

const RESULT_SECTIONS = ["video-body", "chapters-section", "keywords-section", "summary-section", "key-points-block", "transcript-section", "speakers-section"];

async function showVideo(id, startAt) {
  $("view-video").hidden = false;
  const player = $("player");
  if (!currentVideo || currentVideo.id !== id) {
    for (const list of ["chapters", "keywords", "key-points", "transcript", "speakers"]) $(list).replaceChildren();
    for (const section of RESULT_SECTIONS) $(section).hidden = true;
    $("abstract").textContent = "";
    $("video-title").textContent = "";
    $("video-status").replaceChildren();
    player.removeAttribute("src");
    currentVideo = { id, loaded: false, startAt: null, mediaSet: false };
    $("main").focus({ preventScroll: true });
  }
  currentVideo.startAt = Number.isFinite(startAt) ? startAt : null;
  await refreshVideo(id);
}

function goToStart() {
  const player = $("player"), at = currentVideo && currentVideo.startAt;
  if (at === null || at === undefined) return;
  highlightAt(at);
  const go = () => seek(at);
  if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
}

async function refreshVideo(id) {
  stopPolling();
  let video;
  try { video = await api(`/videos/${id}`); }
  catch (error) {
    if (!currentVideo || currentVideo.id !== id) return;
    $("video-title").textContent = error.status === 404 ? "No such video" : "Error";
    $("video-status").textContent = error.message;
    for (const button of ["cancel-button", "retry-button", "delete-button", "downloads"]) $(button).hidden = true;
    return;
  }
  if (!currentVideo || currentVideo.id !== id) return;
  document.title = `${video.filename} – vidigest`;
  $("video-title").textContent = video.filename;
  const status = $("video-status");
  const stage = stageText(video);
  status.replaceChildren(statusBadge(video.status), ` ${Math.round(video.progress)}%`,
    stage ? ` – ${stage}` : "", video.error ? ` – ${video.error}` : "",
    video.status === "COMPLETED" && video.language ? ` – ${[video.language, video.model].filter(Boolean).join(", ")}` : "");
  status.dataset.status = video.status;
  $("cancel-button").hidden = TERMINAL.has(video.status);
  $("retry-button").hidden = video.status !== "FAILED";
  $("delete-button").hidden = !TERMINAL.has(video.status);
  $("downloads").hidden = video.status !== "COMPLETED";
  if (video.status !== "DOWNLOADING" && !currentVideo.mediaSet) {
    currentVideo.mediaSet = true;
    $("player").src = `/videos/${id}/media`;
    for (const fmt of ["srt", "vtt", "txt", "json"]) $(`dl-${fmt}`).href = `/videos/${id}/transcript?format=${fmt}&download=true`;
  }
  $("video-body").hidden = video.status === "DOWNLOADING";
  if (video.status === "COMPLETED" && !currentVideo.loaded) {
    currentVideo.loaded = true;
    await Promise.all([reloadSummary(id), reloadTranscript(id)]);
    goToStart();
  } else if (video.status !== "COMPLETED" && currentVideo.startAt !== null) {
    goToStart();
  }
  if (!TERMINAL.has(video.status) && !$("view-video").hidden) pollTimer = setTimeout(() => refreshVideo(id), 1500);
}

async function reloadSummary(id) {
  const summary = await api(`/videos/${id}/summary`);
  $("summary-section").hidden = false;
  $("abstract").textContent = summary.abstract || "Nothing was said in this video.";
  $("key-points").replaceChildren(...summary.key_points.map((k) => el("li", {},
    seekButton(k.start, k.speaker ? `${k.speaker}: ${k.text}` : k.text))));
  $("key-points-block").hidden = summary.key_points.length === 0;
  $("chapters").replaceChildren(...summary.chapters.map((c) => el("li", {},
    seekButton(c.start, c.title,
      c.speakers && c.speakers.length ? el("span", { class: "chapter-summary" }, c.speakers.join(", ")) : "",
      c.summary ? el("span", { class: "chapter-summary" }, c.summary) : ""))));
  $("chapters-section").hidden = summary.chapters.length === 0;
  $("keywords").replaceChildren(...summary.keywords.map((k) => el("li", {}, k)));
  $("keywords-section").hidden = summary.keywords.length === 0;
}

// --- speakers: a colour each (classes spk-0..spk-7: the CSP allows no inline style) ---------------

const SPEAKER_COLOURS = 8;

function speakerClass(order, label) {
  const n = order.indexOf(label);
  return n < 0 ? "" : `spk spk-${n % SPEAKER_COLOURS}`;
}

async function reloadTranscript(id) {
  const transcript = await api(`/videos/${id}/transcript?format=json`);
  if (!currentVideo || currentVideo.id !== id) return;
  renderTranscript(id, transcript);
  showSpeakers(id, transcript.speakers || [], (transcript.speakers || []).map((s) => s.label));
}

// Draws `transcript` (GET /videos/{id}/transcript?format=json) into #transcript: one item per
// segment (data-start, data-end, data-index), a seek button each, speaker names where they
// change; then calls every hooks.transcriptRendered function.
function renderTranscript(id, transcript) {
  const order = (transcript.speakers || []).map((s) => s.label);
  let previous = null;
  const list = $("transcript");
  list.replaceChildren(...transcript.segments.map((s, i) => {
    const item = el("li", { class: speakerClass(order, s.speaker) });
    if (s.speaker && s.speaker !== previous) item.append(el("span", { class: "speaker-name" }, s.speaker_name));
    previous = s.speaker || null;
    item.append(seekButton(s.start, s.speaker_name ? `${s.speaker_name}: ${s.text}` : s.text));
    item.querySelector("button span:last-child").textContent = s.text;
    item.dataset.start = s.start; item.dataset.end = s.end;
    item.dataset.index = s.index !== undefined ? s.index : i;
    return item;
  }));
  $("transcript-section").hidden = false;
  for (const hook of window.vidigest.hooks.transcriptRendered) {
    try { hook(id, transcript, list); } catch (error) { console.warn("transcript hook failed", error); }
  }
  highlightAt($("player").currentTime);
}

function showSpeakers(id, speakers, order) {
  $("speakers-section").hidden = speakers.length === 0;
  $("speakers-message").textContent = "";
  $("speakers").replaceChildren(...speakers.map((s) => {
    const input = el("input", {
      type: "text", maxlength: "64", value: s.name || "", placeholder: s.display_name,
      "aria-label": `Name of ${s.display_name}`,
    });
    const form = el("form", { class: "speaker-form" },
      el("span", { class: `swatch ${speakerClass(order, s.label)}` }, ""),
      input,
      el("span", { class: "time" }, clock(s.talk_time)),
      el("button", { type: "submit" }, "Rename"));
    form.addEventListener("submit", (e) => { e.preventDefault(); renameSpeaker(id, s.label, input.value); });
    return el("li", {}, form);
  }));
}

async function renameSpeaker(id, label, value) {
  const name = value.trim() ? value.trim() : null;
  try {
    await api(`/videos/${id}/speakers/${encodeURIComponent(label)}`, {
      method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }),
    });
  } catch (error) { $("speakers-message").textContent = error.message; return; }
  await Promise.all([reloadSummary(id), reloadTranscript(id)]);
  $("speakers-message").textContent = "Name saved: the exports and search show it.";
}

// The line being said at `t` is highlighted and scrolled into view inside the transcript box
// (the page itself does not move).
function highlightAt(t) {
  const list = $("transcript");
  let current = null;
  for (const item of list.children) {
    const on = t >= parseFloat(item.dataset.start) && t < parseFloat(item.dataset.end);
    const button = item.querySelector("button");
    if (!button) continue;
    if (on && !current) current = item;
    if (on !== button.classList.contains("current")) {
      button.classList.toggle("current", on);
      if (on) button.setAttribute("aria-current", "true"); else button.removeAttribute("aria-current");
    }
  }
  if (current && !list.contains(document.activeElement)) {
    const top = current.offsetTop, bottom = top + current.offsetHeight;
    if (top < list.scrollTop || bottom > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 3);
    }
  }
}

async function retryVideo() {
  try { await api(`/videos/${currentVideo.id}/retry`, { method: "POST" }); currentVideo.loaded = false; refreshVideo(currentVideo.id); }
  catch (error) { $("video-status").textContent = error.message; }
}

async function cancelVideo() {
  if (!confirm("Stop processing this video?")) return;
  try { await api(`/videos/${currentVideo.id}/cancel`, { method: "POST" }); refreshVideo(currentVideo.id); }
  catch (error) { $("video-status").textContent = error.message; }
}

async function deleteVideo() {
  if (!confirm("Delete this video, its transcript and summary?")) return;
  try { await api(`/videos/${currentVideo.id}`, { method: "DELETE" }); currentVideo = null; location.hash = "#/"; }
  catch (error) { $("video-status").textContent = error.message; }
}

// --- search --------------------------------------------------------------------------------------

function highlight(text, words) {
  const fragment = document.createDocumentFragment();
  if (!words.length) { fragment.append(text); return fragment; }
  const pattern = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "gi");
  text.split(pattern).forEach((part, i) => fragment.append(i % 2 ? el("mark", {}, part) : part));
  return fragment;
}

async function showSearch(q) {
  $("view-search").hidden = false;
  $("search-input").value = q;
  document.title = `Search: ${q} – vidigest`;
  if (!q.trim()) { $("search-summary").textContent = "Type words to find."; $("search-results").replaceChildren(); return; }
  let found;
  try { found = await api(`/search?q=${encodeURIComponent(q)}&mode=hybrid&limit=50`); }
  catch (error) { $("search-summary").textContent = error.message; return; }
  const words = q.match(/[\p{L}\p{N}_]+/gu) || [];
  $("search-summary").textContent = found.results.length ? `${found.results.length} passages found` : "Nothing found.";
  $("search-results").replaceChildren(...found.results.map((r) => el("li", {},
    el("a", { href: `#/videos/${r.video_id}?t=${Math.floor(r.start)}` }, `${r.filename} at ${clock(r.start)}`),
    r.speaker_name ? el("span", { class: "speaker-name" }, ` ${r.speaker_name}`) : "",
    el("div", {}, highlight(r.text, words)))));
}

// --- start ---------------------------------------------------------------------------------------

window.vidigest = {
  api, el, clock, renderTranscript, reloadTranscript, reloadSummary, seek,
  currentVideoId: () => (currentVideo ? currentVideo.id : null),
  hooks: { transcriptRendered: [] },
};

document.addEventListener("DOMContentLoaded", () => {
  applyTheme();
  if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  $("theme-toggle").addEventListener("click", toggleTheme);
  setUpUpload();
  $("player").addEventListener("timeupdate", () => highlightAt($("player").currentTime));
  $("cancel-button").addEventListener("click", cancelVideo);
  $("retry-button").addEventListener("click", retryVideo);
  $("delete-button").addEventListener("click", deleteVideo);
  for (const button of document.querySelectorAll("#queue-filter button")) {
    button.addEventListener("click", () => setFilter(button.dataset.filter));
  }
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/search?q=${encodeURIComponent($("search-input").value)}`;
  });
  $("auth-form").addEventListener("submit", submitKey);
  $("forget-key").addEventListener("click", forgetKey);
  $("close-key").addEventListener("click", () => { $("auth").hidden = true; });
  $("key-button").addEventListener("click", showKeyForm);
  if (apiKey()) { setApiKey(apiKey()); $("key-button").hidden = false; }
  window.addEventListener("hashchange", route);
  route();
});
