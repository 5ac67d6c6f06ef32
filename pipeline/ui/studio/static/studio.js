// unmark studio: paint a mask over the photo, preview the fill, run the batch and review it.
// Plain script, no build step, nothing from the network. Names are always set as text.
"use strict";
(() => {
  const token = document.querySelector('meta[name="studio-token"]').content;
  const $ = (id) => document.getElementById(id);
  const photo = $("photo-canvas"), mask = $("mask-canvas"), view = $("view"), stage = $("stage");
  const photoCtx = photo.getContext("2d");
  const maskCtx = mask.getContext("2d", { willReadFrequently: true });
  const MASK_COLOUR = "rgb(255,0,64)";
  const UNDO_BYTES = 400e6; // how much memory the undo history may hold
  const state = {
    images: [], current: 0, tool: "brush", size: 24, zoom: 1, panX: 0, panY: 0,
    undo: [], redo: [], drawing: null, panning: null, spaceHeld: false, unsaved: {},
    polling: false, awaitedRun: 0,
  };

  const say = (text) => { $("status").textContent = text; $("status").title = text; };
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  async function api(method, url, body) {
    const headers = method === "GET" ? {} : { "X-Studio-Token": token };
    if (body) headers["Content-Type"] = "image/png";
    const answer = await fetch(url, { method, headers, body, cache: "no-store" });
    if (!answer.ok) throw new Error((await answer.text()) || answer.statusText);
    return answer.json();
  }

  function guarded(action) {
    return (...args) => action(...args).catch((problem) => say(problem.message));
  }

  // Pages
  function show(page) {
    for (const section of document.querySelectorAll(".page")) {
      section.hidden = section.id !== "page-" + page;
    }
    for (const tab of document.querySelectorAll(".tab")) {
      tab.classList.toggle("active", tab.dataset.page === page);
    }
    if (page === "review") guarded(pollBatch)();
  }

  // Photos
  function loadPicture(url) {
    return new Promise((done, failed) => {
      const picture = new Image();
      picture.onload = () => done(picture);
      picture.onerror = () => failed(new Error("cannot load " + url));
      picture.src = url;
    });
  }

  async function loadImages() {
    const data = await api("GET", "/api/images");
    state.images = data.images;
    if (!state.images.length) { say("no photos in this folder"); return; }
    await openImage(0);
  }

  function currentImage() { return state.images[state.current]; }

  async function openImage(index) {
    const count = state.images.length;
    if (!count) return;
    if (state.images.length && mask.width) keepUnsaved();
    state.current = ((index % count) + count) % count;
    const item = currentImage();
    $("image-name").textContent = `${item.name} (${state.current + 1}/${count})`;
    const picture = await loadPicture(item.url);
    photo.width = mask.width = item.width;
    photo.height = mask.height = item.height;
    view.style.width = item.width + "px";
    view.style.height = item.height + "px";
    photoCtx.drawImage(picture, 0, 0, item.width, item.height);
    maskCtx.clearRect(0, 0, item.width, item.height);
    state.undo = []; state.redo = [];
    const kept = state.unsaved[state.current];
    if (kept) {
      maskCtx.putImageData(kept, 0, 0);
    } else if (item.has_mask) {
      drawSavedMask(await loadPicture(item.mask_url + "?t=" + Date.now()));
    }
    fit();
  }

  function keepUnsaved() {
    if (state.undo.length) state.unsaved[state.current] = readMask();
  }

  function readMask() { return maskCtx.getImageData(0, 0, mask.width, mask.height); }

  function drawSavedMask(picture) {
    const scratch = document.createElement("canvas");
    scratch.width = mask.width; scratch.height = mask.height;
    const ctx = scratch.getContext("2d");
    ctx.drawImage(picture, 0, 0, mask.width, mask.height);
    const saved = ctx.getImageData(0, 0, mask.width, mask.height).data;
    const shown = maskCtx.createImageData(mask.width, mask.height);
    for (let i = 0; i < saved.length; i += 4) {
      if (saved[i] < 128) shown.data.set([255, 0, 64, 255], i);
    }
    maskCtx.putImageData(shown, 0, 0);
  }

  // Zoom and pan
  function applyView() {
    view.style.transform = `translate(${state.panX}px, ${state.panY}px) scale(${state.zoom})`;
  }

  function centre(zoom) {
    state.zoom = zoom;
    state.panX = Math.round(Math.max(0, (stage.clientWidth - mask.width * zoom) / 2));
    state.panY = Math.round(Math.max(0, (stage.clientHeight - mask.height * zoom) / 2));
    applyView();
  }

  function fit() {
    centre(Math.min(1, stage.clientWidth / mask.width, stage.clientHeight / mask.height));
  }

  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = stage.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    const zoom = Math.min(32, Math.max(0.05, state.zoom * (event.deltaY < 0 ? 1.25 : 0.8)));
    state.panX = x - ((x - state.panX) * zoom) / state.zoom;
    state.panY = y - ((y - state.panY) * zoom) / state.zoom;
    state.zoom = zoom;
    applyView();
  }, { passive: false });

  // Painting
  function toImage(event) {
    const box = mask.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * mask.width) / box.width,
      y: ((event.clientY - box.top) * mask.height) / box.height,
    };
  }

  function paint(from, to) {
    maskCtx.save();
    maskCtx.globalCompositeOperation = state.tool === "eraser" ? "destination-out" : "source-over";
    maskCtx.strokeStyle = maskCtx.fillStyle = MASK_COLOUR;
    maskCtx.lineWidth = state.size;
    maskCtx.lineCap = maskCtx.lineJoin = "round";
    maskCtx.beginPath();
    maskCtx.arc(from.x, from.y, state.size / 2, 0, 2 * Math.PI);
    maskCtx.fill();
    maskCtx.beginPath();
    maskCtx.moveTo(from.x, from.y);
    maskCtx.lineTo(to.x, to.y);
    maskCtx.stroke();
    maskCtx.restore();
  }

  function remember() {
    const limit = Math.max(3, Math.floor(UNDO_BYTES / (mask.width * mask.height * 4)));
    state.undo.push(readMask());
    if (state.undo.length > limit) state.undo.shift();
    state.redo = [];
  }

  function undo() {
    if (!state.undo.length) return;
    state.redo.push(readMask());
    maskCtx.putImageData(state.undo.pop(), 0, 0);
  }

  function redo() {
    if (!state.redo.length) return;
    state.undo.push(readMask());
    maskCtx.putImageData(state.redo.pop(), 0, 0);
  }

  stage.addEventListener("pointerdown", (event) => {
    if (event.button === 1 || (event.button === 0 && state.spaceHeld)) {
      state.panning = { x: event.clientX, y: event.clientY };
      view.classList.add("panning");
    } else if (event.button === 0 && event.target === mask) {
      remember();
      state.drawing = toImage(event);
      paint(state.drawing, state.drawing);
    } else {
      return;
    }
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
  });

  stage.addEventListener("pointermove", (event) => {
    if (state.panning) {
      state.panX += event.clientX - state.panning.x;
      state.panY += event.clientY - state.panning.y;
      state.panning = { x: event.clientX, y: event.clientY };
      applyView();
    } else if (state.drawing) {
      const here = toImage(event);
      paint(state.drawing, here);
      state.drawing = here;
    }
  });

  function endGesture() {
    state.drawing = null;
    state.panning = null;
    view.classList.remove("panning");
  }
  stage.addEventListener("pointerup", endGesture);
  stage.addEventListener("pointercancel", endGesture);

  function setSize(size) {
    state.size = Math.max(1, Math.min(300, Math.round(size)));
    $("brush-size").value = state.size;
    $("brush-size-value").textContent = state.size;
  }

  // The mask as the project keeps it: black = remove, white = keep.
  function maskPng() {
    const painted = readMask().data;
    const scratch = document.createElement("canvas");
    scratch.width = mask.width; scratch.height = mask.height;
    const ctx = scratch.getContext("2d");
    const out = ctx.createImageData(mask.width, mask.height);
    for (let i = 0; i < painted.length; i += 4) {
      const value = painted[i + 3] > 32 ? 0 : 255;
      out.data[i] = out.data[i + 1] = out.data[i + 2] = value;
      out.data[i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    return new Promise((done) => scratch.toBlob(done, "image/png"));
  }

  async function saveMask() {
    const everywhere = $("everywhere").checked ? 1 : 0;
    const answer = await api("POST", `/api/mask/${state.current}?everywhere=${everywhere}`,
      await maskPng());
    const saved = new Set(answer.saved.map((path) => path.split("/").pop()));
    for (const item of state.images) {
      const stem = item.name.replace(/\.[^.]*$/, "");
      if (saved.has(stem + ".png")) { item.has_mask = true; delete state.unsaved[item.index]; }
    }
    state.undo = []; state.redo = [];
    say(`saved ${answer.saved.join(", ")}; ${answer.manifest} lists every masked photo`);
  }

  // A preview or a suggestion: poll until it is done; a failure ends as an error.
  async function waitTask(stateUrl, what) {
    for (;;) {
      await sleep(300);
      const progress = await api("GET", stateUrl);
      if (progress.state === "failed") throw new Error(`${what} failed: ${progress.error}`);
      if (progress.state === "done") return progress;
    }
  }

  async function preview() {
    const item = currentImage();
    const answer = await api("POST", `/api/preview/${state.current}`, await maskPng());
    $("preview-state").textContent = "filling " + item.name + "...";
    say("preview running: keep painting if you like");
    const done = await waitTask(answer.state_url, "preview");
    $("before-image").src = item.url;
    $("result-image").src = done.url;
    $("preview-state").textContent = `${item.name}: filled in ${done.seconds} s`;
    say("preview ready");
    show("preview");
  }

  async function suggest() {
    const index = state.current;
    const answer = await api("POST", `/api/suggest/${index}`);
    say("looking for the mark (the first time, the folder's mark is learnt: seconds)...");
    const done = await waitTask(answer.state_url, "suggestion");
    const picture = await loadPicture(done.url);
    if (state.current !== index) return; // the user moved on
    remember();
    drawSavedMask(picture);
    say(`suggested from ${done.source}: correct it if needed, then save`);
  }

  // Grow the painted mask by a few pixels (a rim the preview shows left around the mark).
  function grow(pixels) {
    remember();
    const painted = readMask();
    const grown = maskCtx.createImageData(mask.width, mask.height);
    const { width, height } = mask;
    const inside = new Uint8Array(width * height);
    for (let i = 0; i < inside.length; i++) inside[i] = painted.data[i * 4 + 3] > 32 ? 1 : 0;
    const rows = new Uint8Array(inside.length);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let hit = 0;
        for (let d = -pixels; d <= pixels && !hit; d++) {
          const at = x + d;
          if (at >= 0 && at < width) hit = inside[y * width + at];
        }
        rows[y * width + x] = hit;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let hit = 0;
        for (let d = -pixels; d <= pixels && !hit; d++) {
          const at = y + d;
          if (at >= 0 && at < height) hit = rows[at * width + x];
        }
        if (hit) grown.data.set([255, 0, 64, 255], (y * width + x) * 4);
      }
    }
    maskCtx.putImageData(grown, 0, 0);
  }

  function compare() {
    const shown = Number($("compare").value);
    $("result-image").style.clipPath = `inset(0 ${100 - shown}% 0 0)`;
  }

  // Batch and review
  async function runBatch() {
    const answer = await api("POST", "/api/batch");
    state.awaitedRun = answer.run;
    say("batch running");
    await pollBatch();
  }

  function showProgress(progress) {
    const box = $("progress");
    box.dataset.state = progress.state;
    $("progress-bar").max = Math.max(1, progress.total);
    $("progress-bar").value = progress.done + progress.failed;
    $("progress-text").textContent = `${progress.state}: ${progress.message}`;
  }

  // Until the run this page started (if any) has ended; a passing error is retried.
  async function pollBatch() {
    if (state.polling) return;
    state.polling = true;
    try {
      for (let errors = 0; errors < 30;) {
        let progress;
        try {
          progress = await api("GET", "/api/batch");
        } catch (problem) {
          errors += 1; say(problem.message); await sleep(1000); continue;
        }
        const ours = progress.run >= state.awaitedRun;
        if (ours || progress.state === "running") showProgress(progress);
        if (ours && progress.state !== "running") break;
        await sleep(500);
      }
    } finally {
      state.polling = false;
    }
    await refreshReview();
  }

  function figure(url, caption) {
    const box = document.createElement("figure");
    const picture = document.createElement("img");
    picture.src = url + "?t=" + Date.now();
    picture.alt = caption;
    const text = document.createElement("figcaption");
    text.textContent = caption;
    box.append(picture, text);
    return box;
  }

  function reviewItem(job) {
    const item = document.createElement("li");
    item.className = job.state + (job.doubts.length ? " doubt" : "");
    item.dataset.testid = "review-job";
    const title = document.createElement("h2");
    title.textContent = job.name;
    const facts = document.createElement("p");
    facts.textContent = job.state + (job.reason ? `: ${job.reason}` : "");
    item.append(title, facts);
    if (job.doubts.length) {
      const doubts = document.createElement("p");
      doubts.className = "doubts";
      doubts.textContent = job.doubts.join("; ");
      item.append(doubts);
    }
    const pair = document.createElement("div");
    pair.className = "pair";
    if (job.before) pair.append(figure(job.before, "before (1:1)"));
    if (job.after) pair.append(figure(job.after, "after (1:1)"));
    item.append(pair);
    if (job.after) {
      const link = document.createElement("a");
      link.href = job.after; link.target = "_blank"; link.rel = "noopener";
      link.textContent = "full output";
      item.append(link, " ");
    }
    if (job.index !== null) {
      const again = document.createElement("button");
      again.textContent = "Redo with a corrected mask";
      again.dataset.testid = "redo-job";
      again.addEventListener("click", guarded(async () => {
        show("paint");
        await openImage(job.index);
        say("correct the mask and save it, then run the batch again: only changed jobs rerun");
      }));
      item.append(again);
    }
    return item;
  }

  async function refreshReview() {
    const data = await api("GET", "/api/review");
    $("review-list").replaceChildren(...data.jobs.map(reviewItem));
  }

  // Keys
  function typing(event) { return event.target instanceof HTMLInputElement && event.target.type === "text"; }

  document.addEventListener("keydown", (event) => {
    if (typing(event)) return;
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") {
      event.preventDefault();
      (event.shiftKey ? redo : undo)();
    } else if ((event.ctrlKey || event.metaKey) && key === "y") {
      event.preventDefault(); redo();
    } else if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    } else if (key === "[" || key === "]") {
      const step = Math.max(1, Math.round(state.size * 0.15));
      setSize(state.size + (key === "]" ? step : -step));
    } else if (key === "o") {
      view.classList.add("original"); $("compare-box").classList.add("original");
    } else if (key === " ") {
      event.preventDefault(); state.spaceHeld = true;
    } else if (key === "b" || key === "e") {
      state.tool = key === "b" ? "brush" : "eraser";
      document.querySelector(`input[name=tool][value=${state.tool}]`).checked = true;
    } else if (key === "," || key === ".") {
      guarded(openImage)(state.current + (key === "." ? 1 : -1));
    }
  });

  document.addEventListener("keyup", (event) => {
    const key = event.key.toLowerCase();
    if (key === "o") { view.classList.remove("original"); $("compare-box").classList.remove("original"); }
    if (key === " ") state.spaceHeld = false;
  });

  // Wiring
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => show(tab.dataset.page));
  }
  for (const choice of document.querySelectorAll("input[name=tool]")) {
    choice.addEventListener("change", () => { state.tool = choice.value; });
  }
  $("brush-size").addEventListener("input", (event) => setSize(Number(event.target.value)));
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("clear").addEventListener("click", () => {
    remember(); maskCtx.clearRect(0, 0, mask.width, mask.height);
  });
  $("zoom-fit").addEventListener("click", fit);
  $("zoom-1").addEventListener("click", () => centre(1));
  $("prev-image").addEventListener("click", guarded(() => openImage(state.current - 1)));
  $("next-image").addEventListener("click", guarded(() => openImage(state.current + 1)));
  $("save-mask").addEventListener("click", guarded(saveMask));
  $("preview").addEventListener("click", guarded(preview));
  $("suggest").addEventListener("click", guarded(suggest));
  $("grow").addEventListener("click", () => grow(3));
  $("compare").addEventListener("input", compare);
  $("run-batch").addEventListener("click", guarded(runBatch));
  show("paint");
  guarded(loadImages)();
})();
