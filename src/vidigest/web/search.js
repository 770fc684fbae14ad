// Ask: a question to the whole library, answered with quoted, timestamped moments.
// Uses app.js's helpers ($, api, el, clock). The search box searches by words and meaning
// (hybrid, the server's default); "Ask" shows the same moments with an answer above them.
"use strict";

function momentLink(videoId, seconds, label) {
  return el("a", { href: `#/videos/${videoId}?t=${Math.floor(seconds)}` }, label);
}

async function askQuestion(question) {
  const box = $("ask-answer");
  box.hidden = false;
  box.replaceChildren(el("p", {}, "Looking for the answer…"));
  let answer;
  try {
    answer = await api("/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question }),
    });
  } catch (error) { box.replaceChildren(el("p", {}, error.message)); return; }
  const parts = [el("h2", {}, "Answer")];
  if (!answer.answer) parts.push(el("p", {}, "Nothing in your videos answers that."));
  else if (answer.method === "llm") {
    parts.push(el("p", { class: "answer-text" }, answer.answer));
    parts.push(el("ul", { class: "citations" }, ...answer.citations.map((c) =>
      el("li", {}, momentLink(c.video_id, c.at, `${c.filename} at ${clock(c.at)}`)))));
  } else {
    parts.push(el("ul", { class: "quotes" }, ...answer.quotes.map((q) =>
      el("li", {}, el("q", {}, q.text), " ", momentLink(q.video_id, q.start, `${q.filename} at ${clock(q.start)}`)))));
  }
  if (answer.fallback_reason) parts.push(el("p", { class: "note" }, `Quoted answer: ${answer.fallback_reason}`));
  box.replaceChildren(...parts);
}

document.addEventListener("DOMContentLoaded", () => {
  $("ask-button").addEventListener("click", () => {
    const question = $("search-input").value.trim();
    if (!question) { $("search-input").focus(); return; }
    location.hash = `#/search?q=${encodeURIComponent(question)}`;  // the moments, below
    askQuestion(question);
  });
  // a new search hides the previous answer
  $("search-form").addEventListener("submit", () => { $("ask-answer").hidden = true; });
});
