// dramaemo labelling page: one crop at a time, keys 1-7 label, S skips, U undoes,
// F toggles the frame, D (or a click) edits the description. Every action is posted
// for the crop on screen; the server answers with the next crop and the progress.
"use strict";
(() => {
  const settings = window.DRAMAEMO;
  const $ = (id) => document.getElementById(id);
  const description = $("description");
  let current = null;   // the item on screen
  let busy = false;     // one action at a time: a key pressed meanwhile is ignored, not queued
  let showFrame = false;

  async function call(method, url, body) {
    const options = { method, headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function say(text, kind = "") {
    $("message").textContent = text;
    $("message").className = kind;
  }

  function renderProgress(progress, agreement, dropped) {
    const skipped = progress.skipped ? ` · ${progress.skipped} skipped` : "";
    $("progress").textContent = `${progress.done} done · ${progress.left} left of ${progress.total}${skipped}`;
    const most = Math.max(1, ...Object.values(progress.per_emotion));
    $("per-emotion").innerHTML = "";
    settings.emotions.forEach((emotion, index) => {
      const count = progress.per_emotion[emotion];
      const row = $("per-emotion").insertRow();
      row.insertCell().textContent = `${index + 1} ${emotion}`;
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${(100 * count) / most}%`;
      const barCell = row.insertCell();
      barCell.style.width = "40%";
      barCell.appendChild(bar);
      const countCell = row.insertCell();
      countCell.className = "count";
      countCell.textContent = count;
    });
    $("agreement").innerHTML = "";
    for (const entry of agreement) {
      const line = document.createElement("p");
      const name = entry.file.split("/").pop();
      if (entry.error) line.textContent = `${name}: ${entry.error}`;
      else if (!entry.shared) line.textContent = `Agreement with ${name}: no shared crops yet`;
      else line.textContent = `Agreement with ${name}: Cohen's κ ` +
        `${entry.kappa === null ? "undefined" : entry.kappa.toFixed(2)} over ${entry.shared} shared crops`;
      $("agreement").appendChild(line);
    }
    if (dropped) {
      const line = document.createElement("p");
      line.textContent = `${dropped} manifest row(s) were dropped (see the server log).`;
      $("agreement").appendChild(line);
    }
  }

  function placeBox() {
    const frame = $("frame");
    if (!current || !frame.naturalWidth) return;
    const box = current.box, style = $("face-box").style;
    style.left = `${(100 * box.x) / frame.naturalWidth}%`;
    style.top = `${(100 * box.y) / frame.naturalHeight}%`;
    style.width = `${(100 * box.w) / frame.naturalWidth}%`;
    style.height = `${(100 * box.h) / frame.naturalHeight}%`;
  }

  function renderFrame() {
    const figure = $("frame-figure");
    const available = Boolean(current && current.frame_url);
    $("toggle-frame").disabled = !available;
    $("toggle-frame").querySelector("span").textContent = showFrame ? "Hide frame" : "Show frame";
    figure.hidden = !(showFrame && available);
    if (!figure.hidden && $("frame").dataset.src !== current.frame_url) {
      $("frame").dataset.src = current.frame_url;
      $("frame").src = current.frame_url;
    } else placeBox();
  }

  function render(state) {
    current = state.item;
    renderProgress(state.progress, state.agreement, state.dropped);
    document.body.classList.toggle("finished", !current);
    document.querySelectorAll(".emotion, #skip").forEach((button) => { button.disabled = !current; });
    if (!current) {
      $("crop").removeAttribute("src");
      $("meta").textContent = "";
      description.value = "";
      $("description-note").textContent = "";
      renderFrame();
      say(`All ${state.progress.total} crops are labelled. Thank you!`, "done");
      return;
    }
    $("crop").src = current.crop_url;
    $("crop").dataset.item = current.item_id;
    $("meta").textContent = `${current.episode} · second ${current.second} · face ${current.face_index}` +
      ` · crop ${current.position} of ${state.progress.total}` + (current.skipped_before ? " · skipped before" : "");
    description.value = current.description;
    $("description-note").textContent = current.prefilled_from !== null
      ? `pre-filled from second ${current.prefilled_from}; edit it if the situation changed` : "";
    renderFrame();
  }

  async function act(url, body, done) {
    if (busy) return;
    busy = true;
    try {
      const state = await call("POST", url, body);
      render(state);
      say(done);
    } catch (error) {
      say(error.message, "error");
    } finally {
      busy = false;
    }
  }

  function label(emotion) {
    if (!current) return;
    const item = current;
    act("/api/label", { item_id: item.item_id, emotion, description: description.value },
      `saved: ${item.episode} second ${item.second} → ${emotion}`);
  }
  function skip() {
    if (current) act("/api/skip", { item_id: current.item_id }, "skipped; it comes back at the end");
  }
  function undo() { act("/api/undo", {}, "undone"); }
  function toggleFrame() { showFrame = !showFrame; renderFrame(); }

  document.querySelectorAll(".emotion").forEach((button) => {
    button.addEventListener("click", () => label(button.dataset.emotion));
  });
  $("skip").addEventListener("click", skip);
  $("undo").addEventListener("click", undo);
  $("toggle-frame").addEventListener("click", toggleFrame);
  $("frame").addEventListener("load", placeBox);

  document.addEventListener("keydown", (event) => {
    if (event.target === description) {
      if (event.key === "Enter" || event.key === "Escape") {
        event.preventDefault();
        description.blur();
      }
      return;
    }
    if (event.altKey || event.metaKey) return;
    if (event.ctrlKey) {
      if (event.key === "z") { event.preventDefault(); undo(); }
      return;
    }
    const index = "1234567".indexOf(event.key);
    if (event.key.length === 1 && index >= 0) label(settings.emotions[index]);
    else if (event.key === "s" || event.key === "S") skip();
    else if (event.key === "u" || event.key === "U") undo();
    else if (event.key === "f" || event.key === "F") toggleFrame();
    else if (event.key === "d" || event.key === "D") { event.preventDefault(); description.focus(); }
    else return;
    event.preventDefault();
  });

  call("GET", "/api/state").then(render).catch((error) => say(error.message, "error"));
})();
