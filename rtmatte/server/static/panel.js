// The control panel: the camera with a gallery of backgrounds, and a tab that cuts out photos.
// It talks only to the server that served it; the token travels in an HttpOnly cookie.
// What it shows is read from the server (GET /api/live) on load and after every change, so a
// reload shows the state in use; messages live in one place and go when they no longer apply.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const RUNNING = new Set(["starting", "running"]);
  const PHOTO_SAFE = /[^A-Za-z0-9._-]+/g;
  let previews = 0;
  let timer = null;
  let status = null;
  let items = [];
  let colourTimer = null;

  // the token was in the address once, to set the cookie; keep it out of history and bookmarks
  if (new URLSearchParams(location.search).has("token")) {
    history.replaceState(null, "", location.pathname);
  }

  class Problem extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  async function call(path, options = {}) {
    let response;
    try {
      response = await fetch(path, options);
    } catch {
      throw new Problem("rtmatte does not answer. Is `rtmatte serve` still running? Start it " +
                        "again and reload this page.", 0);
    }
    const json = (response.headers.get("content-type") || "").includes("json");
    const body = json ? await response.json() : null;
    if (!response.ok) {
      throw new Problem((body && body.detail) || `${response.status} ${response.statusText}`,
                        response.status);
    }
    return body;
  }

  function post(path, body) {
    const json = !(body instanceof FormData);
    return call(path, {method: "POST", body: json ? JSON.stringify(body) : body,
                       headers: json ? {"Content-Type": "application/json"} : {}});
  }

  // ---- messages: one place, keyed by what they are about -------------------------------

  const messages = new Map();

  function say(key, text, extra = {}) {
    const message = {text, ...extra};
    const before = messages.get(key);
    if (before && JSON.stringify(before) === JSON.stringify(message)) return;  // said already
    messages.set(key, message);
    drawMessages();
  }

  function unsay(key) {
    if (messages.delete(key)) drawMessages();
  }

  // a new element: its properties (names with a dash, aria-* and data-*, as attributes), then
  // its children (elements or text)
  function element(tag, properties = {}, ...children) {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(properties)) {
      if (name.includes("-")) made.setAttribute(name, value);
      else made[name] = value;
    }
    made.append(...children);
    return made;
  }

  function drawMessages() {
    const area = $("messages");
    area.replaceChildren();
    for (const [key, message] of messages) {
      const box = element("div", {className: `message ${message.kind || "error"}`,
                                  "data-key": key}, element("p", {}, message.text));
      if (message.command) {
        const id = `command-${key}`;
        box.append(element("div", {className: "copyable"},
          element("code", {id, className: "command"}, message.command),
          element("button", {type: "button", className: "copy secondary", "data-copy": id},
                  "Copy")));
      }
      if (message.help) {
        box.append(element("a", {href: message.help, target: "_blank"},
                           "How to set it up, step by step"));
      }
      const close = element("button", {type: "button", className: "dismiss",
                                        "aria-label": "Dismiss this message"}, "×");
      close.addEventListener("click", () => unsay(key));
      box.append(close);
      area.append(box);
    }
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const field = $(button.dataset.copy);
    const text = field instanceof HTMLInputElement ? field.value : field.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {  // no clipboard access: select it, and copy as the keyboard would
      const range = document.createRange();
      range.selectNodeContents(field);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });

  // ---- tabs ------------------------------------------------------------------------------

  const tabs = [$("tab-camera"), $("tab-photos")];

  function choose(tab) {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute("aria-selected", String(on));
      other.tabIndex = on ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !on;
    }
    document.body.dataset.view = tab.id.slice(4);
  }

  for (const tab of tabs) {
    tab.addEventListener("click", () => choose(tab));
    tab.addEventListener("keydown", (event) => {
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      choose(next);
      next.focus();
    });
  }

  // ---- the camera --------------------------------------------------------------------------

  const STATE_TEXT = {
    idle: "The camera is off.", stopped: "The camera is off.", ended: "The video ended.",
    failed: "The camera is off.", starting: "Starting… (the model loads first)",
    running: "The camera is on.", stopping: "Stopping…",
  };

  function figure(id, text) {
    $(id).textContent = text;
  }

  function show(now) {
    status = now;
    const running = RUNNING.has(now.state);
    document.body.dataset.state = now.state;
    $("state-text").textContent = STATE_TEXT[now.state] || now.state;
    const power = $("power");
    power.textContent = running ? "Stop camera" : "Start camera";
    power.disabled = now.state === "starting" || now.state === "stopping" ||
                     (!running && !$("source").value);
    power.classList.toggle("primary", !running);
    power.classList.toggle("secondary", running);
    // the figures of a run only while it runs: none at rest, none left from the last run
    const live = now.state === "running";
    figure("fig-fps", live ? now.fps.toFixed(1) : "–");
    figure("fig-latency", live ? `${now.latency_ms.toFixed(0)} ms` : "–");
    figure("fig-dropped", live ? String(now.dropped) : "–");
    figure("fig-engine", live && now.engine ? now.engine : "–");
    const effect = $("effect");
    effect.setAttribute("aria-checked", String(now.effect));
    effect.querySelector(".switch-state").textContent = now.effect ? "On" : "Off";
    if (running) {
      $("vcam").checked = now.vcam;
      if (now.source && [...$("source").options].some((o) => o.value === now.source)) {
        $("source").value = now.source;
      }
    }
    for (const control of ["source", "size", "vcam"]) $(control).disabled = running;
    if (now.message) {
      say("run", now.message.text, {command: now.message.command, help: now.message.help});
    } else {
      unsay("run");
    }
    if (now.state === "ended") {
      say("run", "The video ended. Press Start camera to play it again.", {kind: "info"});
    }
    tick(now);
    const overlay = $("overlay");
    overlay.hidden = !now.overlay;
    if (now.overlay) $("overlay-url").value = new URL(now.overlay, location.origin).href;
    if (running && $("preview").hidden) startPreview();
    if (!running) stopPreview();
    schedule(running ? 1000 : 3000);
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }

  async function refresh() {
    try {
      show(await call("/api/live"));
      unsay("network");
    } catch (error) {
      say("network", error.message);
      schedule(3000);
    }
  }

  function startPreview() {
    const img = $("preview");
    previews += 1;
    img.src = `/api/live/preview.mjpg?n=${previews}`;
    img.hidden = false;
    $("placeholder").hidden = true;
  }

  function stopPreview() {
    const img = $("preview");
    if (img.hidden) return;
    img.hidden = true;
    img.removeAttribute("src");
    $("placeholder").hidden = false;
  }

  async function loadSources() {
    const select = $("source");
    const sources = await call("/api/live/sources");
    for (const source of sources) select.add(new Option(source.label, source.id));
    if (!sources.length) {
      select.add(new Option("No camera found", ""));
      say("sources", "No camera was found on this computer. Plug one in, then reload this page.");
    }
  }

  $("power").addEventListener("click", async () => {
    const power = $("power");
    power.disabled = true;
    if (status && RUNNING.has(status.state)) {
      try {
        show(await post("/api/live/stop", {}));
      } catch (error) {
        say("start", error.message);
      }
      return;
    }
    unsay("start");
    unsay("run");
    document.body.dataset.state = "starting";
    $("state-text").textContent = STATE_TEXT.starting;
    const request = {source: $("source").value, size: $("size").value || null,
                     vcam: $("vcam").checked};
    try {
      show(await post("/api/live/start", request));
      startPreview();
    } catch (error) {
      // a run that failed says why in the status, in plain words (show puts it up);
      // a request refused before it ran has only its one line
      const now = await call("/api/live").catch(() => null);
      if (now) show(now);
      if (!now || !now.message) say("start", error.message);
      power.disabled = false;
    }
  });

  $("effect").addEventListener("click", async () => {
    const on = $("effect").getAttribute("aria-checked") !== "true";
    try {
      show(await post("/api/live/effect", {on}));
    } catch (error) {
      say("effect", error.message);
    }
  });

  // ---- the gallery -------------------------------------------------------------------------

  function tile(item) {
    const radio = element("input", {type: "radio", name: "bg", value: item.id});
    radio.addEventListener("change", () => apply(item.id));
    const thumbnail = item.thumbnail
      ? [element("img", {src: item.thumbnail, alt: "", loading: "lazy"})] : [];
    const label = element("label", {className: `tile kind-${item.kind}`}, radio,
                          element("span", {className: "thumb", "aria-hidden": "true"},
                                  ...thumbnail),
                          element("span", {className: "name"}, item.label));
    if (!item.own) return label;
    const remove = element("button", {type: "button", className: "remove",
                                      "aria-label": `Remove ${item.label}`}, "×");
    remove.addEventListener("click", () => removeItem(item));
    return element("div", {className: "own"}, label, remove);
  }

  async function loadGallery() {
    items = await call("/api/backgrounds");
    $("tiles").replaceChildren(...items.map(tile));
    const photoBg = $("photo-bg");
    for (const option of [...photoBg.options]) if (option.dataset.gallery) option.remove();
    for (const item of items.filter((i) => i.kind === "picture")) {
      const option = new Option(item.label, `gallery:${item.id}`);
      option.dataset.gallery = item.id;
      photoBg.add(option);
    }
    if (status) tick(status);
  }

  // the tick, the strength and the colour shown are those of the background in use
  function tick(now) {
    for (const radio of document.querySelectorAll("input[name=bg]")) {
      radio.checked = radio.value === now.choice;
    }
    // no background at all is for the OBS overlay only (a virtual camera has no alpha)
    for (const tile of document.querySelectorAll("#tiles .kind-transparent")) {
      tile.hidden = !now.overlay && now.choice !== "transparent";
    }
    $("blur-controls").hidden = now.choice !== "blur";
    $("colour-controls").hidden = now.choice !== "colour";
    if (now.choice === "blur" && now.blur && document.activeElement !== $("blur-strength")) {
      $("blur-strength").value = String(now.blur);
    }
    if (now.choice === "colour" && now.colour && document.activeElement !== $("colour")) {
      $("colour").value = now.colour;
    }
  }

  function choiceForm(id) {
    const form = new FormData();
    if (id === "blur") {
      const strength = Number($("blur-strength").value);
      form.append("bg", strength === 1 ? "blur" : `blur:${strength}`);
    } else if (id === "colour") {
      form.append("bg", $("colour").value);
    } else if (id === "green" || id === "blue" || id === "transparent") {
      form.append("bg", id);
    } else {
      form.append("gallery", id);
    }
    return form;
  }

  async function apply(id) {
    try {
      show(await post("/api/live/background", choiceForm(id)));
      unsay("background");
    } catch (error) {
      say("background", `That background cannot be used: ${error.message}. The one before ` +
                        "stays; choose another.");
      if (status) tick(status);
    }
  }

  async function removeItem(item) {
    try {
      await call(`/api/backgrounds/${encodeURIComponent(item.id)}`, {method: "DELETE"});
      if (status && status.choice === item.id) await apply("blur");
      await loadGallery();
    } catch (error) {
      say("background", error.message);
    }
  }

  $("blur-strength").addEventListener("change", () => apply("blur"));
  $("colour").addEventListener("input", () => {
    clearTimeout(colourTimer);
    colourTimer = setTimeout(() => apply("colour"), 150);
  });

  const UPLOAD_WORDS = {
    413: (name, detail) => `“${name}” is too large for rtmatte: ${detail}. Choose a smaller file.`,
    415: (name) => `“${name}” is not a picture or a video rtmatte can read. Choose a JPEG or ` +
                   "PNG picture, or an MP4 video.",
    429: (name, detail) => `“${name}” was not added: ${detail}.`,
  };

  function uploadWords(name, error) {
    const words = UPLOAD_WORDS[error.code];
    return words ? words(name, error.message) :
      `“${name}” could not be added: ${error.message}. Try another file.`;
  }

  $("bg-upload").addEventListener("change", async () => {
    const file = $("bg-upload").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file, file.name);
    say("upload", `Adding “${file.name}”…`, {kind: "info"});
    try {
      const item = await post("/api/backgrounds", form);
      unsay("upload");
      await loadGallery();
      await apply(item.id);
    } catch (error) {
      say("upload", uploadWords(file.name, error));
    } finally {
      $("bg-upload").value = "";
    }
  });

  // ---- photos ------------------------------------------------------------------------------

  $("photo-bg").addEventListener("change", () => {
    $("photo-colour").hidden = $("photo-bg").value !== "colour";
  });

  async function photoForm(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    const choice = $("photo-bg").value;
    if (choice.startsWith("gallery:")) {
      const id = encodeURIComponent(choice.slice(8));
      const picture = await fetch(`/api/backgrounds/${id}/picture`).then((r) => r.blob());
      form.append("bg_file", picture, "background.png");
    } else {
      form.append("bg", choice === "colour" ? $("photo-colour").value : choice);
    }
    return form;
  }

  function photoWords(name, error) {
    if (error.code === 415) {
      return `This is not a photo rtmatte can read. Choose a JPEG, PNG or WebP picture.`;
    }
    if (error.code === 413) return `The file is too large: ${error.message}.`;
    if (error.code === 0) return error.message;
    return `It could not be cut out: ${error.message}.`;
  }

  async function cutOut(file, card) {
    const state = card.querySelector(".photo-state");
    try {
      const response = await fetch("/api/remove", {method: "POST", body: await photoForm(file)});
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Problem(body.detail || response.statusText, response.status);
      }
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      card.querySelector(".photo-picture").replaceChildren(
        element("img", {src: url, alt: `${file.name}, cut out`}));
      const extension = blob.type === "image/jpeg" ? "jpg" : "png";
      const stem = file.name.replace(/\.[^.]*$/, "").replace(PHOTO_SAFE, "_") || "photo";
      state.replaceChildren(element("a", {href: url, download: `${stem}.rtmatte.${extension}`,
                                          className: "button primary download",
                                          "aria-label": `Download ${file.name}, cut out`},
                                    "Download"));
      card.dataset.state = "done";
    } catch (error) {
      state.textContent = photoWords(file.name, error);
      state.classList.add("error");
      card.dataset.state = "failed";
    }
  }

  async function cutOutAll(files) {
    const list = $("photo-results");
    const jobs = [];
    for (const file of files) {
      const card = element("li", {className: "photo", "data-state": "working"},
                           element("div", {className: "photo-picture"}),
                           element("p", {className: "photo-name"}, file.name),
                           element("p", {className: "photo-state"}, "Cutting out…"));
      list.prepend(card);
      jobs.push([file, card]);
    }
    for (const [file, card] of jobs) await cutOut(file, card);  // one at a time, in order
  }

  $("photos").addEventListener("change", async () => {
    const files = [...$("photos").files];
    $("photos").value = "";
    await cutOutAll(files);
  });

  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    cutOutAll([...event.dataTransfer.files]);
  });

  // ---- start: the state in use, read from the server ------------------------------------

  (async () => {
    try {
      await loadSources();
      await loadGallery();
      show(await call("/api/live"));
    } catch (error) {
      say("network", error.message);
      schedule(3000);
    }
  })();
})();
