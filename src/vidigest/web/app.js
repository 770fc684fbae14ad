// vidigest web UI: plain JavaScript, no build step. Views: #/ (upload + list),
// #/videos/<id>[?t=seconds] (player, summary, chapters, transcript), #/search?q=...
"use strict";

const TERMINAL = new Set(["COMPLETED", "FAILED"]);
const KEY_STORE = "vidigest_api_key";
const $ = (id) => document.getElementById(id);
let pollTimer = null;
let currentVideo = null;

// --- API -----------------------------------------------------------------------------------------

function apiKey() { return localStorage.getItem(KEY_STORE); }

function setApiKey(key) {
  localStorage.setItem(KEY_STORE, key);
  // media and download links cannot send headers: the server accepts this cookie on GET only
  document.cookie = `${KEY_STORE}=${encodeURIComponent(key)}; path=/; SameSite=Strict`;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key) headers.set("X-API-Key", key);
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) $("auth").hidden = false;
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

function statusBadge(status) { return el("span", { class: `status status-${status}` }, status); }

function seekButton(start, label, ...extra) {
  const button = el("button", {
    type: "button", "data-start": String(start),
    "aria-label": `Play from ${clock(start)}: ${label}`,
    onclick: () => seek(start),
  }, el("span", { class: "time" }, clock(start)), el("span", {}, label, ...extra));
  return button;
}

function seek(seconds) {
  const player = $("player");
  player.currentTime = seconds;
  player.play().catch(() => { /* autoplay may be refused; the position still moved */ });
}

function stopPolling() { if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; } }

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

// --- home: upload + list -------------------------------------------------------------------------

async function showHome() {
  $("view-home").hidden = false;
  document.title = "vidigest";
  await refreshList();
}

async function refreshList() {
  stopPolling();
  let page;
  try { page = await api("/videos?limit=100&sort=created_at%20DESC"); }
  catch (error) { $("video-rows").replaceChildren(el("tr", {}, el("td", { colspan: "5" }, error.message))); return; }
  const rows = page.items.map((v) => el("tr", { "data-id": v.id, "data-status": v.status },
    el("td", {}, el("a", { href: `#/videos/${v.id}` }, v.filename)),
    el("td", {}, statusBadge(v.status), v.error ? el("div", { class: "chapter-summary" }, v.error) : ""),
    el("td", {}, el("progress", { max: "100", value: String(v.progress), "aria-label": `${v.filename} progress` }), ` ${Math.round(v.progress)}%`),
    el("td", {}, v.duration ? clock(v.duration) : "–"),
    el("td", {}, new Date(v.created_at).toLocaleString())));
  $("video-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5" }, "No videos yet: upload one above."))]));
  const busy = page.items.some((v) => !TERMINAL.has(v.status));
  if (!$("view-home").hidden) pollTimer = setTimeout(refreshList, busy ? 1500 : 5000);
}

function upload(file) {
  const bar = $("upload-bar"), message = $("upload-message");
  $("upload-progress").hidden = false;
  $("upload-label").textContent = `Uploading ${file.name}`;
  bar.value = 0;
  message.textContent = "";
  const form = new FormData();
  form.append("file", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", "/videos");
  const key = apiKey();
  if (key) request.setRequestHeader("X-API-Key", key);
  request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
  request.onload = () => {
    $("upload-progress").hidden = true;
    let body = null;
    try { body = JSON.parse(request.responseText); } catch (_) { /* empty */ }
    if (request.status === 201) { message.textContent = `${body.filename} uploaded: processing.`; refreshList(); }
    else {
      if (request.status === 401) $("auth").hidden = false;
      message.textContent = `Upload failed: ${body && body.error ? body.error.message : request.status}`;
    }
  };
  request.onerror = () => { $("upload-progress").hidden = true; message.textContent = "Upload failed: network error."; };
  request.send(form);
}

function setUpUpload() {
  const zone = $("dropzone");
  $("file-input").addEventListener("change", (e) => { if (e.target.files.length) upload(e.target.files[0]); e.target.value = ""; });
  for (const type of ["dragenter", "dragover"]) zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  zone.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]); });
}

// --- one video -----------------------------------------------------------------------------------

async function showVideo(id, startAt) {
  $("view-video").hidden = false;
  const player = $("player");
  if (!currentVideo || currentVideo.id !== id) {
    for (const list of ["chapters", "keywords", "key-points", "transcript", "speakers"]) $(list).replaceChildren();
    $("speakers-section").hidden = true;
    $("abstract").textContent = "";
    player.src = `/videos/${id}/media`;
    for (const fmt of ["srt", "vtt", "txt", "json"]) $(`dl-${fmt}`).href = `/videos/${id}/transcript?format=${fmt}&download=true`;
    currentVideo = { id, loaded: false };
    $("main").focus();
  }
  if (Number.isFinite(startAt)) {
    const go = () => seek(startAt);
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }
  await refreshVideo(id);
}

async function refreshVideo(id) {
  stopPolling();
  let video;
  try { video = await api(`/videos/${id}`); }
  catch (error) { $("video-title").textContent = error.status === 404 ? "No such video" : "Error"; $("video-status").textContent = error.message; return; }
  if (!currentVideo || currentVideo.id !== id) return;
  document.title = `${video.filename} – vidigest`;
  $("video-title").textContent = video.filename;
  const status = $("video-status");
  status.replaceChildren(statusBadge(video.status), ` ${Math.round(video.progress)}%`, video.error ? ` – ${video.error}` : "");
  status.dataset.status = video.status;
  $("retry-button").hidden = video.status !== "FAILED";
  $("delete-button").hidden = !TERMINAL.has(video.status);
  $("downloads").hidden = video.status !== "COMPLETED";
  if (video.status === "COMPLETED" && !currentVideo.loaded) {
    currentVideo.loaded = true;
    await Promise.all([loadSummary(id), loadTranscript(id)]);
  }
  if (!TERMINAL.has(video.status) && !$("view-video").hidden) pollTimer = setTimeout(() => refreshVideo(id), 1500);
}

async function loadSummary(id) {
  const summary = await api(`/videos/${id}/summary`);
  $("abstract").textContent = summary.abstract || "Nothing was said in this video.";
  $("key-points").replaceChildren(...summary.key_points.map((k) => el("li", {},
    seekButton(k.start, k.speaker ? `${k.speaker}: ${k.text}` : k.text))));
  $("chapters").replaceChildren(...summary.chapters.map((c) => el("li", {},
    seekButton(c.start, c.title,
      c.speakers && c.speakers.length ? el("span", { class: "chapter-summary" }, c.speakers.join(", ")) : "",
      c.summary ? el("span", { class: "chapter-summary" }, c.summary) : ""))));
  $("keywords").replaceChildren(...summary.keywords.map((k) => el("li", {}, k)));
}

// --- speakers: a colour each (classes spk-0..spk-7: the CSP allows no inline style) ---------------

const SPEAKER_COLOURS = 8;

function speakerClass(order, label) {
  const n = order.indexOf(label);
  return n < 0 ? "" : `spk spk-${n % SPEAKER_COLOURS}`;
}

async function loadTranscript(id) {
  const transcript = await api(`/videos/${id}/transcript?format=json`);
  const speakers = transcript.speakers || [];
  const order = speakers.map((s) => s.label);
  let previous = null;
  $("transcript").replaceChildren(...transcript.segments.map((s) => {
    const item = el("li", { class: speakerClass(order, s.speaker) });
    if (s.speaker && s.speaker !== previous) item.append(el("span", { class: "speaker-name" }, s.speaker_name));
    previous = s.speaker || null;
    item.append(seekButton(s.start, s.speaker_name ? `${s.speaker_name}: ${s.text}` : s.text));
    item.querySelector("button span:last-child").textContent = s.text;
    item.dataset.start = s.start; item.dataset.end = s.end;
    return item;
  }));
  showSpeakers(id, speakers, order);
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
  await Promise.all([loadSummary(id), loadTranscript(id)]);
  $("speakers-message").textContent = "Name saved: the exports and search show it.";
}

function highlightSegment() {
  const t = $("player").currentTime;
  for (const item of $("transcript").children) {
    const on = t >= parseFloat(item.dataset.start) && t < parseFloat(item.dataset.end);
    const button = item.querySelector("button");
    if (on !== button.classList.contains("current")) {
      button.classList.toggle("current", on);
      if (on) button.setAttribute("aria-current", "true"); else button.removeAttribute("aria-current");
    }
  }
}

async function retryVideo() {
  try { await api(`/videos/${currentVideo.id}/retry`, { method: "POST" }); currentVideo.loaded = false; refreshVideo(currentVideo.id); }
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

document.addEventListener("DOMContentLoaded", () => {
  setUpUpload();
  $("player").addEventListener("timeupdate", highlightSegment);
  $("retry-button").addEventListener("click", retryVideo);
  $("delete-button").addEventListener("click", deleteVideo);
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/search?q=${encodeURIComponent($("search-input").value)}`;
  });
  $("auth-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setApiKey($("api-key").value);
    $("auth").hidden = true;
    route();
  });
  if (apiKey()) setApiKey(apiKey());
  window.addEventListener("hashchange", route);
  route();
});
