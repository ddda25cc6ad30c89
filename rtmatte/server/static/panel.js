// The control panel: start and stop the camera, pick a background, watch the preview.
// It talks only to the server that served it; the token travels in an HttpOnly cookie.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const RUNNING = new Set(["starting", "running"]);
  let previews = 0;
  let polling = null;

  // the token was in the address once, to set the cookie; keep it out of history and bookmarks
  if (new URLSearchParams(location.search).has("token")) {
    history.replaceState(null, "", location.pathname);
  }

  async function call(path, options = {}) {
    const response = await fetch(path, options);
    const json = (response.headers.get("content-type") || "").includes("json");
    const body = json ? await response.json() : null;
    if (!response.ok) {
      throw new Error((body && body.detail) || `${response.status} ${response.statusText}`);
    }
    return body;
  }

  function say(text, error = false) {
    const message = $("message");
    message.textContent = text;
    message.classList.toggle("error", error);
  }

  function show(status) {
    const running = RUNNING.has(status.state);
    document.body.dataset.state = status.state;
    $("fig-fps").textContent = running ? status.fps.toFixed(1) : "–";
    $("fig-latency").textContent = running ? `${status.latency_ms.toFixed(0)} ms` : "–";
    $("fig-dropped").textContent = status.frames ? String(status.dropped) : "–";
    $("fig-engine").textContent = status.engine || "–";
    $("bg-now").textContent = status.background;
    $("start").disabled = running;
    $("stop").disabled = !running;
    const effect = $("effect");
    effect.disabled = status.state !== "running";
    effect.setAttribute("aria-pressed", String(status.effect));
    effect.textContent = status.effect ? "Effect on" : "Effect off";
    if (!running) {
      poll(false);
      if (status.error) say(status.error, true);
      else if (status.state === "ended") say("The source ended.");
    }
  }

  async function refresh() {
    try {
      show(await call("/api/live"));
    } catch (error) {
      say(error.message, true);
    }
  }

  function poll(on) {
    clearInterval(polling);
    polling = on ? setInterval(refresh, 1000) : null;
  }

  function startPreview() {
    const img = $("preview");
    previews += 1;
    img.src = `/api/live/preview.mjpg?n=${previews}`;
    img.hidden = false;
    $("placeholder").hidden = true;
  }

  async function loadSources() {
    const select = $("source");
    for (const source of await call("/api/live/sources")) {
      select.add(new Option(source.label, source.id));
    }
  }

  function backgroundForm() {
    const form = new FormData();
    const kind = document.querySelector("input[name=kind]:checked").value;
    if (kind === "file") {
      const file = $("bg-file").files[0];
      if (!file) throw new Error("Choose a picture or a video file first.");
      form.append("bg_file", file, file.name);
    } else if (kind === "blur") {
      const strength = Number($("blur-strength").value);
      form.append("bg", strength === 1 ? "blur" : `blur:${strength}`);
    } else if (kind === "colour") {
      form.append("bg", $("colour").value);
    } else {
      form.append("bg", kind);
    }
    return form;
  }

  $("camera-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("start").disabled = true;
    say("Starting… (the model loads first)");
    const request = {source: $("source").value, size: $("size").value || null,
                     vcam: $("vcam").checked};
    try {
      const status = await call("/api/live/start", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(request),
      });
      startPreview();
      show(status);
      poll(true);
      say("Running.");
    } catch (error) {
      $("start").disabled = false;
      say(error.message, true);
    }
  });

  $("stop").addEventListener("click", async () => {
    try {
      show(await call("/api/live/stop", {method: "POST"}));
      say("Stopped.");
    } catch (error) {
      say(error.message, true);
    }
  });

  $("effect").addEventListener("click", async () => {
    const on = $("effect").getAttribute("aria-pressed") !== "true";
    try {
      show(await call("/api/live/effect", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({on}),
      }));
    } catch (error) {
      say(error.message, true);
    }
  });

  $("bg-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const status = await call("/api/live/background", {method: "POST", body: backgroundForm()});
      show(status);
      say(`Background: ${status.background}`);
    } catch (error) {
      say(error.message, true);
    }
  });

  // touching a choice's own control selects that choice
  for (const [control, kind] of [["blur-strength", "blur"], ["colour", "colour"], ["bg-file", "file"]]) {
    $(control).addEventListener("input", () => {
      document.querySelector(`input[name=kind][value=${kind}]`).checked = true;
    });
  }

  (async () => {
    try {
      await loadSources();
      const status = await call("/api/live");
      show(status);
      if (RUNNING.has(status.state)) {
        startPreview();
        poll(true);
      }
    } catch (error) {
      say(error.message, true);
    }
  })();
})();
