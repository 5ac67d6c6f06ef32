// unmark studio: paint a mask over the photo, preview the fill, run the batch and review it.
// Plain modules, no build step, nothing from the network. Names are always set as text.
import { Painter } from "./paint.js";
import { reviewItem } from "./review.js";

const token = document.querySelector('meta[name="studio-token"]').content;
const $ = (id) => document.getElementById(id);
const painter = new Painter({
  stage: $("stage"), view: $("view"), photo: $("photo-canvas"), mask: $("mask-canvas"),
});
const state = { images: [], current: 0, unsaved: {}, polling: false, awaitedRun: 0 };

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

function show(page) {
  for (const section of document.querySelectorAll(".page")) {
    section.hidden = section.id !== "page-" + page;
  }
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("active", tab.dataset.page === page);
  }
  if (page === "review") guarded(pollBatch)();
}

function loadPicture(url) {
  return new Promise((done, failed) => {
    const picture = new Image();
    picture.onload = () => done(picture);
    picture.onerror = () => failed(new Error("cannot load " + url));
    picture.src = url;
  });
}

// Photos and their masks
async function loadImages() {
  state.images = (await api("GET", "/api/images")).images;
  if (!state.images.length) { say("no photos in this folder"); return; }
  await openImage(0);
}

const currentImage = () => state.images[state.current];

async function openImage(index) {
  const count = state.images.length;
  if (!count) return;
  if (painter.changed) state.unsaved[state.current] = painter.read(); // kept until saved
  state.current = ((index % count) + count) % count;
  const item = currentImage();
  const [picture, saved] = await Promise.all([
    loadPicture(item.url),
    item.has_mask ? loadPicture(item.mask_url + "?t=" + Date.now()) : null,
  ]);
  if (currentImage() !== item) return; // another photo was asked for meanwhile
  painter.load(picture, item.width, item.height);
  const kept = state.unsaved[state.current];
  if (kept) painter.restore(kept);
  else if (saved) painter.showMask(saved);
  // Named only once it can be painted on (a test waits for the name).
  $("image-name").textContent = `${item.name} (${state.current + 1}/${count})`;
}

async function saveMask() {
  const everywhere = $("everywhere").checked ? 1 : 0;
  const answer = await api("POST", `/api/mask/${state.current}?everywhere=${everywhere}`,
    await painter.png());
  for (const index of answer.images) {
    state.images[index].has_mask = true;
    delete state.unsaved[index];
  }
  painter.forget();
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
  const answer = await api("POST", `/api/preview/${state.current}`, await painter.png());
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
  say("looking for the mark (the first time, the folder's mark is learnt: it takes a while)");
  const done = await waitTask(answer.state_url, "suggestion");
  const picture = await loadPicture(done.url);
  if (state.current !== index) return; // the user moved on
  painter.remember();
  painter.showMask(picture);
  say(`suggested from ${done.source}: correct it if needed, then save`);
}

function compare() {
  const shown = Number($("compare").value);
  $("result-image").style.clipPath = `inset(0 ${100 - shown}% 0 0)`;
}

// The batch and its review
async function runBatch() {
  state.awaitedRun = (await api("POST", "/api/batch")).run;
  say("batch running");
  await pollBatch();
}

function showProgress(progress) {
  $("progress").dataset.state = progress.state;
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
        errors += 1;
        if (errors > 2) say(problem.message); // once is a run starting up, not a problem
        await sleep(1000);
        continue;
      }
      const ours = progress.run >= state.awaitedRun;
      if (ours || progress.state === "running") showProgress(progress);
      if (ours && progress.state !== "running") {
        if (state.awaitedRun) say(`batch ${progress.state}: ${progress.message}`);
        break;
      }
      await sleep(500);
    }
  } finally {
    state.polling = false;
  }
  const jobs = (await api("GET", "/api/review")).jobs;
  $("review-list").replaceChildren(...jobs.map((job) => reviewItem(job, redo)));
}

function redo(index) {
  show("paint");
  guarded(openImage)(index).then(() => say(
    "correct the mask and save it, then run the batch again: only changed jobs run again"));
}

// Keys
function original(on) {
  $("view").classList.toggle("original", on);
  $("compare-box").classList.toggle("original", on);
}

function setSize(size) {
  $("brush-size").value = $("brush-size-value").textContent = painter.setSize(size);
}

function setTool(tool) {
  painter.tool = tool;
  document.querySelector(`input[name=tool][value=${tool}]`).checked = true;
}

document.addEventListener("keydown", (event) => {
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  if (command && (key === "z" || key === "y")) {
    event.preventDefault();
    (event.shiftKey || key === "y" ? painter.redo : painter.undo).call(painter);
  } else if (command || event.altKey) {
    return;
  } else if (key === "[" || key === "]") {
    const step = Math.max(1, Math.round(painter.size * 0.15));
    setSize(painter.size + (key === "]" ? step : -step));
  } else if (key === "o") {
    original(true);
  } else if (key === " ") {
    event.preventDefault(); painter.spaceHeld = true;
  } else if (key === "b" || key === "e") {
    setTool(key === "b" ? "brush" : "eraser");
  } else if (key === "," || key === ".") {
    guarded(openImage)(state.current + (key === "." ? 1 : -1));
  }
});

document.addEventListener("keyup", (event) => {
  const key = event.key.toLowerCase();
  if (key === "o") original(false);
  if (key === " ") painter.spaceHeld = false;
});

// Wiring
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => show(tab.dataset.page));
}
for (const choice of document.querySelectorAll("input[name=tool]")) {
  choice.addEventListener("change", () => setTool(choice.value));
}
const clicks = {
  "undo": () => painter.undo(), "redo": () => painter.redo(), "clear": () => painter.clear(),
  "grow": () => painter.grow(3), "zoom-fit": () => painter.fit(),
  "zoom-1": () => painter.centre(1),
  "prev-image": guarded(() => openImage(state.current - 1)),
  "next-image": guarded(() => openImage(state.current + 1)),
  "save-mask": guarded(saveMask), "preview": guarded(preview), "suggest": guarded(suggest),
  "run-batch": guarded(runBatch),
};
for (const [id, action] of Object.entries(clicks)) $(id).addEventListener("click", action);
$("brush-size").addEventListener("input", (event) => setSize(Number(event.target.value)));
$("compare").addEventListener("input", compare);
show("paint");
guarded(loadImages)();
