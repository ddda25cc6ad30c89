"use strict";
// The OBS overlay: reads the live run's pictures from /api/overlay/stream (one long answer of
// frames, see rtmatte/server/routes/overlay.py) and draws each, with its alpha, on a canvas in
// a fully transparent page. Each picture is drawn as soon as it has arrived, the newest only
// when several arrive at once. window.rtmatteOverlay counts what the page drew and how late,
// for a check from outside (the tests, tools/overlay_bench.py).
(() => {
  const HEADER_BYTES = 24;
  const RAW = 0;
  const WEBP = 1;
  const RETRY_MS = 1000;
  const KEEP = 600;

  const canvas = document.getElementById("overlay");
  const context = canvas.getContext("2d");
  const query = new URLSearchParams(location.search);
  const address = `/api/overlay/stream?format=${encodeURIComponent(query.get("format") || "raw")}`;
  // received: frames read (some skipped for a newer one); drawn: frames put on the canvas;
  // draws: [performance.now(), sequence] and latencies: capture to draw in ms, of the last ones
  const stats = {received: 0, drawn: 0, draws: [], latencies: [], width: 0, height: 0};
  window.rtmatteOverlay = stats;
  let newestDrawn = 0;

  function draw(sequence, width, height, captured, image) {
    if (sequence <= newestDrawn) return; // a newer one was drawn while this one decoded
    newestDrawn = sequence;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      stats.width = width;
      stats.height = height;
    }
    if (image instanceof ImageData) {
      context.putImageData(image, 0, 0);
    } else {
      context.clearRect(0, 0, width, height);
      context.drawImage(image, 0, 0);
      image.close();
    }
    const now = performance.now();
    stats.drawn += 1;
    keep(stats.draws, [now, sequence]);
    if (captured > 0) keep(stats.latencies, performance.timeOrigin + now - captured);
  }

  function keep(list, item) {
    list.push(item);
    if (list.length > KEEP) list.shift();
  }

  function show(frame) {
    const header = new DataView(frame.buffer, frame.byteOffset, HEADER_BYTES);
    const sequence = header.getUint32(4, true);
    const width = header.getUint16(8, true);
    const height = header.getUint16(10, true);
    const format = header.getUint8(12);
    const captured = header.getFloat64(16, true);
    const payload = frame.subarray(HEADER_BYTES);
    if (format === RAW) {
      const pixels = new Uint8ClampedArray(payload.buffer, payload.byteOffset, payload.length);
      draw(sequence, width, height, captured, new ImageData(pixels, width, height));
      return;
    }
    if (format !== WEBP) return;
    createImageBitmap(new Blob([payload], {type: "image/webp"}))
      .then((bitmap) => draw(sequence, width, height, captured, bitmap))
      .catch(() => {}); // a picture that cannot be decoded is skipped; the next one comes
  }

  // The bytes read so far that do not yet make a whole frame.
  let pending = new Uint8Array(1 << 20);
  let filled = 0;

  function take(chunk) {
    if (filled + chunk.length > pending.length) {
      const larger = new Uint8Array(Math.max(pending.length * 2, filled + chunk.length));
      larger.set(pending.subarray(0, filled));
      pending = larger;
    }
    pending.set(chunk, filled);
    filled += chunk.length;
    let start = 0;
    let newest = null;
    while (filled - start >= HEADER_BYTES) {
      const length = new DataView(pending.buffer, start, 4).getUint32(0, true);
      const end = start + HEADER_BYTES + length;
      if (end > filled) break;
      newest = [start, end];
      start = end;
      stats.received += 1;
    }
    if (newest !== null) show(pending.slice(newest[0], newest[1]));
    if (start > 0) {
      pending.copyWithin(0, start, filled);
      filled -= start;
    }
  }

  async function watch() {
    for (;;) {
      try {
        const answer = await fetch(address, {cache: "no-store"});
        if (answer.ok && answer.body) {
          const reader = answer.body.getReader();
          for (;;) {
            const {done, value} = await reader.read();
            if (done) break;
            take(value);
          }
        }
      } catch (error) {
        // the server stopped or is restarting: try again below
      }
      filled = 0;
      newestDrawn = 0; // a restarted server counts its pictures from 1 again
      context.clearRect(0, 0, canvas.width, canvas.height); // no frozen person once it ended
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  watch();
})();
