// The review list: one item per job, doubtful ones first (the server's order), before and after
// at 1:1, a link to the full output and a redo with a corrected mask. Names are set as text.
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

function paragraph(text, className) {
  const line = document.createElement("p");
  line.textContent = text;
  if (className) line.className = className;
  return line;
}

export function reviewItem(job, redo) {
  const item = document.createElement("li");
  item.className = job.state + (job.doubts.length ? " doubt" : "");
  item.dataset.testid = "review-job";
  const title = document.createElement("h2");
  title.textContent = job.name;
  item.append(title, paragraph(job.state + (job.reason ? `: ${job.reason}` : "")));
  if (job.doubts.length) item.append(paragraph(job.doubts.join("; "), "doubts"));
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
    again.addEventListener("click", () => redo(job.index));
    item.append(again);
  }
  return item;
}
