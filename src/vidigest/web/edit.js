// vidigest web UI: correcting a transcript. Loaded after app.js (whose helpers it uses: api, el,
// $, reloadSummary, reloadTranscript); it attaches to each drawn transcript through
// window.vidigest.hooks.transcriptRendered.
//
// "Correct" turns correction on: a click on a segment's text then opens it in place (Enter
// saves, Esc cancels) with the speaker when the video has speakers (a segment without one
// starts at "no speaker", which leaves it so); off, a click seeks the player as before. An
// editor opens on the segment's latest version (a save's answer, or the fetch after a redraw,
// waited for), so quick successive edits do not conflict with themselves. A stale edit (409)
// keeps what was typed and offers to reload. Find and replace previews first
// (count and changes), then applies exactly what was previewed. The summary is made again by
// the server: the page says so and shows it when it is ready.
"use strict";

const VidigestEdit = (() => {
  let videoId = null;
  let segments = [];  // from /videos/{id}/segments: index, text, speaker, version
  let speakers = [];  // {label, display_name}
  let loaded = Promise.resolve();  // settles once `segments` match the transcript drawn last
  let editing = false;
  let preview = null;  // the last find-and-replace preview {request, revision}
  let summaryTimer = null;

  const json = (method, body) => ({ method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  function say(text) { $("edit-message").textContent = text; }

  function controls() {
    if ($("edit-tools")) return;
    const toggle = el("button", { type: "button", id: "edit-toggle", "aria-pressed": "false" }, "Correct");
    toggle.addEventListener("click", () => setEditing(!editing));
    const find = el("input", { id: "find-input", type: "text", maxlength: "200", "aria-label": "Find", placeholder: "Find" });
    const repl = el("input", { id: "replace-input", type: "text", maxlength: "1000", "aria-label": "Replace with", placeholder: "Replace with" });
    const matchCase = el("input", { id: "match-case", type: "checkbox" });
    const wholeWord = el("input", { id: "whole-word", type: "checkbox" });
    const form = el("form", { id: "replace-form", class: "replace-form" },
      find, repl,
      el("label", {}, matchCase, " Match case"),
      el("label", {}, wholeWord, " Whole words"),
      el("button", { type: "submit", id: "preview-button" }, "Preview"),
      el("button", { type: "button", id: "replace-all", disabled: "" }, "Replace all"));
    form.addEventListener("submit", (e) => { e.preventDefault(); previewReplace(); });
    form.querySelector("#replace-all").addEventListener("click", applyReplace);
    for (const input of [find, repl, matchCase, wholeWord]) input.addEventListener("input", () => { preview = null; $("replace-all").disabled = true; });
    const tools = el("div", { id: "edit-tools", class: "edit-tools" },
      toggle, form,
      el("p", { id: "edit-message", role: "status", "aria-live": "polite" }),
      el("ol", { id: "replace-preview", class: "replace-preview" }));
    $("transcript").before(tools);
    // a click on a segment's text while correcting edits it instead of seeking
    $("transcript").addEventListener("click", onTranscriptClick, true);
    $("transcript").addEventListener("keydown", (e) => {
      if (editing && e.key === "Enter" && e.target.matches("li > button")) onTranscriptClick(e);
    }, true);
  }

  function downloads() {
    const span = $("downloads");
    for (const fmt of ["docx", "pdf"]) {
      let link = $(`dl-${fmt}`);
      if (!link) {
        link = el("a", { id: `dl-${fmt}`, download: "" }, fmt.toUpperCase());
        span.append(" · ", link);
      }
      link.href = `/videos/${videoId}/transcript?format=${fmt}&download=true`;
    }
  }

  function setEditing(on) {
    editing = on;
    $("edit-toggle").setAttribute("aria-pressed", String(on));
    $("edit-toggle").textContent = on ? "Done correcting" : "Correct";
    $("transcript").classList.toggle("editing", on);
    say(on ? "Click a segment's text to correct it: Enter saves, Esc cancels." : "");
  }

  function segmentOf(item) {
    const position = Array.prototype.indexOf.call($("transcript").children, item);
    return segments[position];
  }

  // the segments (and their versions) of the transcript on the page: each redraw fetches them
  // again, and an editor opened before that fetch ends would send a version already replaced
  async function current() {
    let waited;
    do { waited = loaded; await waited; } while (waited !== loaded);
  }

  function onTranscriptClick(event) {
    if (!editing) return;
    const item = event.target.closest("#transcript > li");
    if (!item || event.target.closest(".segment-editor")) return;
    event.preventDefault();
    event.stopPropagation();
    current().then(() => {
      const segment = item.isConnected && editing ? segmentOf(item) : null;
      if (segment) openEditor(item, segment);
    });
  }

  function openEditor(item, segment) {
    if (item.querySelector(".segment-editor")) return;
    const button = item.querySelector("button");
    const input = el("input", { type: "text", class: "segment-text", maxlength: "5000", "aria-label": `Text of segment ${segment.index + 1}` });
    input.value = segment.text.trim();
    const editor = el("div", { class: "segment-editor" }, input);
    let select = null;
    if (speakers.length) {
      // a segment without speaker starts at "no speaker": saving its text alone sends none
      const none = segment.speaker ? [] : [el("option", { value: "" }, "No speaker (unchanged)")];
      select = el("select", { "aria-label": `Speaker of segment ${segment.index + 1}` },
        ...none, ...speakers.map((s) => el("option", { value: s.label }, s.display_name)));
      select.value = segment.speaker || "";
      editor.append(select);
    }
    const note = el("span", { class: "segment-note", role: "status" });
    editor.append(note);
    button.hidden = true;
    item.append(editor);
    input.focus();
    const close = () => { editor.remove(); button.hidden = false; button.focus(); };
    let saving = false;  // one save at a time: a second Enter would send the same version
    const keys = async (e) => {
      if (e.key === "Escape") { e.preventDefault(); close(); }
      else if (e.key === "Enter") {
        e.preventDefault();
        if (saving) return;
        saving = true;
        try { await save(segment, input, select, note, close); } finally { saving = false; }
      }
    };
    input.addEventListener("keydown", keys);
    if (select) select.addEventListener("keydown", keys);
  }

  async function save(segment, input, select, note, close) {
    const body = { version: segment.version };
    if (input.value.trim() !== segment.text.trim()) body.text = input.value;
    if (select && select.value && select.value !== segment.speaker) body.speaker = select.value;
    if (body.text === undefined && body.speaker === undefined) { close(); return; }
    note.textContent = "Saving…";
    try {
      // the answer is the segment as saved: its new version at once, before any refetch
      const saved = await api(`/videos/${videoId}/segments/${segment.index}`, json("PATCH", body));
      Object.assign(segment, { text: saved.text, speaker: saved.speaker, version: saved.version });
    } catch (error) {
      if (error.status === 409) {
        note.replaceChildren("Changed elsewhere, reload to see it (your text is kept here). ",
          el("button", { type: "button", class: "reload", onclick: reload }, "Reload"));
      } else note.textContent = error.message;
      return;
    }
    close();
    await changed("Saved.");
  }

  async function previewReplace() {
    const request = {
      find: $("find-input").value, replace: $("replace-input").value,
      match_case: $("match-case").checked, whole_word: $("whole-word").checked,
    };
    if (!request.find.trim()) { say("Type the text to find."); return; }
    let result;
    try { result = await api(`/videos/${videoId}/transcript/replace`, json("POST", { ...request, preview: true })); }
    catch (error) { say(error.message); return; }
    preview = { request, revision: result.revision };
    $("replace-preview").replaceChildren(...result.changes.map((c) =>
      el("li", {}, el("del", {}, c.before.trim()), " → ", el("ins", {}, c.after))));
    say(`${result.count} occurrence(s) in ${result.segments} segment(s).`);
    $("replace-all").disabled = result.count === 0;
  }

  async function applyReplace() {
    if (!preview) return;
    let result;
    try {
      result = await api(`/videos/${videoId}/transcript/replace`,
        json("POST", { ...preview.request, expected_revision: preview.revision }));
    } catch (error) {
      say(error.status === 409 ? "The transcript changed elsewhere: preview again." : error.message);
      return;
    } finally { preview = null; $("replace-all").disabled = true; }
    $("replace-preview").replaceChildren();
    await changed(`Replaced ${result.count} occurrence(s).`);
  }

  const reload = () => changed("Reloaded.");

  // after a correction: the transcript again (it re-attaches), then the summary once remade
  async function changed(what) {
    await reloadTranscript(videoId);
    say(`${what} The summary is being updated…`);
    watchSummary(videoId);
  }

  function watchSummary(id) {
    clearTimeout(summaryTimer);
    const check = async () => {
      if (id !== videoId) return;
      let summary;
      try { summary = await api(`/videos/${id}/summary`); } catch (_) { summary = null; }
      if (summary && summary.up_to_date) {
        await reloadSummary(id);
        say("The summary is up to date.");
        return;
      }
      summaryTimer = setTimeout(check, 1000);
    };
    summaryTimer = setTimeout(check, 500);
  }

  async function attach(id) {
    if (videoId !== id) { editing = false; preview = null; clearTimeout(summaryTimer); }
    videoId = id;
    controls();
    downloads();
    setEditing(editing);
    const loading = (async () => {
      try {
        const [list, who] = await Promise.all([
          api(`/videos/${id}/segments`),
          api(`/videos/${id}/speakers`).catch(() => ({ speakers: [] })),
        ]);
        if (id !== videoId) return;
        segments = list.segments;
        speakers = who.speakers;
      } catch (error) { say(error.message); }
    })();
    loaded = loading;
    await loading;
  }

  return { attach };
})();
window.vidigest.hooks.transcriptRendered.push((id) => VidigestEdit.attach(id));
