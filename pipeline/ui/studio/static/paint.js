// The paint canvas: the photo at full resolution under a mask layer, zoom and pan, brush and
// eraser, undo and redo, and the mask as the project keeps it (black = remove, white = keep).
const MASK_COLOUR = "rgb(255,0,64)";
const MASK_RGBA = [255, 0, 64, 255];
const UNDO_BYTES = 400e6; // how much memory the undo history may hold
const PAINTED = 32; // mask-layer opacity from which a pixel counts as painted

export class Painter {
  constructor({ stage, view, photo, mask }) {
    Object.assign(this, { stage, view, photo, mask });
    this.photoCtx = photo.getContext("2d");
    this.maskCtx = mask.getContext("2d", { willReadFrequently: true });
    Object.assign(this, { tool: "brush", size: 24, zoom: 1, panX: 0, panY: 0 });
    Object.assign(this, { undoes: [], redoes: [], drawing: null, panning: null });
    this.spaceHeld = false;
    stage.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    stage.addEventListener("pointerdown", (event) => this.down(event));
    stage.addEventListener("pointermove", (event) => this.move(event));
    stage.addEventListener("pointerup", () => this.end());
    stage.addEventListener("pointercancel", () => this.end());
  }

  get changed() { return this.undoes.length > 0; }

  // A new photo (an <img>) of `width` x `height`, with an empty mask.
  load(picture, width, height) {
    this.photo.width = this.mask.width = width;
    this.photo.height = this.mask.height = height;
    this.view.style.width = width + "px";
    this.view.style.height = height + "px";
    this.photoCtx.drawImage(picture, 0, 0, width, height);
    this.maskCtx.clearRect(0, 0, width, height);
    this.forget();
    this.fit();
  }

  forget() { this.undoes = []; this.redoes = []; }

  read() { return this.maskCtx.getImageData(0, 0, this.mask.width, this.mask.height); }

  restore(kept) { this.maskCtx.putImageData(kept, 0, 0); }

  // A mask picture (black = remove) drawn as the mask layer.
  showMask(picture) {
    const { width, height } = this.mask;
    const scratch = document.createElement("canvas");
    scratch.width = width; scratch.height = height;
    const ctx = scratch.getContext("2d");
    ctx.drawImage(picture, 0, 0, width, height);
    const saved = ctx.getImageData(0, 0, width, height).data;
    const shown = this.maskCtx.createImageData(width, height);
    for (let i = 0; i < saved.length; i += 4) {
      if (saved[i] < 128) shown.data.set(MASK_RGBA, i);
    }
    this.maskCtx.putImageData(shown, 0, 0);
  }

  // The mask as a PNG blob: black where painted, white elsewhere.
  png() {
    const painted = this.read().data;
    const scratch = document.createElement("canvas");
    scratch.width = this.mask.width; scratch.height = this.mask.height;
    const ctx = scratch.getContext("2d");
    const out = ctx.createImageData(this.mask.width, this.mask.height);
    for (let i = 0; i < painted.length; i += 4) {
      const value = painted[i + 3] > PAINTED ? 0 : 255;
      out.data[i] = out.data[i + 1] = out.data[i + 2] = value;
      out.data[i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    return new Promise((done) => scratch.toBlob(done, "image/png"));
  }

  // Zoom and pan
  apply() {
    this.view.style.transform = `translate(${this.panX}px, ${this.panY}px) scale(${this.zoom})`;
  }

  centre(zoom) {
    this.zoom = zoom;
    this.panX = Math.round(Math.max(0, (this.stage.clientWidth - this.mask.width * zoom) / 2));
    this.panY = Math.round(Math.max(0, (this.stage.clientHeight - this.mask.height * zoom) / 2));
    this.apply();
  }

  fit() {
    const { clientWidth, clientHeight } = this.stage;
    this.centre(Math.min(1, clientWidth / this.mask.width, clientHeight / this.mask.height));
  }

  wheel(event) {
    event.preventDefault();
    const box = this.stage.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    const zoom = Math.min(32, Math.max(0.05, this.zoom * (event.deltaY < 0 ? 1.25 : 0.8)));
    this.panX = x - ((x - this.panX) * zoom) / this.zoom;
    this.panY = y - ((y - this.panY) * zoom) / this.zoom;
    this.zoom = zoom;
    this.apply();
  }

  // Painting
  toImage(event) {
    const box = this.mask.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * this.mask.width) / box.width,
      y: ((event.clientY - box.top) * this.mask.height) / box.height,
    };
  }

  paint(from, to) {
    const ctx = this.maskCtx;
    ctx.save();
    ctx.globalCompositeOperation = this.tool === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = MASK_COLOUR;
    ctx.lineWidth = this.size;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.arc(from.x, from.y, this.size / 2, 0, 2 * Math.PI);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    ctx.restore();
  }

  down(event) {
    if (event.button === 1 || (event.button === 0 && this.spaceHeld)) {
      this.panning = { x: event.clientX, y: event.clientY };
      this.view.classList.add("panning");
    } else if (event.button === 0 && event.target === this.mask) {
      this.remember();
      this.drawing = this.toImage(event);
      this.paint(this.drawing, this.drawing);
    } else {
      return;
    }
    event.preventDefault();
    this.stage.setPointerCapture(event.pointerId);
  }

  move(event) {
    if (this.panning) {
      this.panX += event.clientX - this.panning.x;
      this.panY += event.clientY - this.panning.y;
      this.panning = { x: event.clientX, y: event.clientY };
      this.apply();
    } else if (this.drawing) {
      const here = this.toImage(event);
      this.paint(this.drawing, here);
      this.drawing = here;
    }
  }

  end() {
    this.drawing = null;
    this.panning = null;
    this.view.classList.remove("panning");
  }

  setSize(size) {
    this.size = Math.max(1, Math.min(300, Math.round(size)));
    return this.size;
  }

  // Undo and redo: whole-mask snapshots, as many as UNDO_BYTES holds (at least 3).
  remember() {
    const limit = Math.max(3, Math.floor(UNDO_BYTES / (this.mask.width * this.mask.height * 4)));
    this.undoes.push(this.read());
    if (this.undoes.length > limit) this.undoes.shift();
    this.redoes = [];
  }

  undo() {
    if (!this.undoes.length) return;
    this.redoes.push(this.read());
    this.restore(this.undoes.pop());
  }

  redo() {
    if (!this.redoes.length) return;
    this.undoes.push(this.read());
    this.restore(this.redoes.pop());
  }

  clear() {
    this.remember();
    this.maskCtx.clearRect(0, 0, this.mask.width, this.mask.height);
  }

  // Grow the painted mask by `pixels` (a square max filter, rows then columns).
  grow(pixels) {
    this.remember();
    const { width, height } = this.mask;
    const painted = this.read().data;
    let inside = new Uint8Array(width * height);
    for (let i = 0; i < inside.length; i++) inside[i] = painted[i * 4 + 3] > PAINTED ? 1 : 0;
    for (const [step, length] of [[1, width], [width, height]]) {
      const grown = new Uint8Array(inside.length);
      for (let i = 0; i < inside.length; i++) {
        const at = step === 1 ? i % width : Math.floor(i / width);
        for (let d = Math.max(-pixels, -at); d <= Math.min(pixels, length - 1 - at); d++) {
          if (inside[i + d * step]) { grown[i] = 1; break; }
        }
      }
      inside = grown;
    }
    const shown = this.maskCtx.createImageData(width, height);
    for (let i = 0; i < inside.length; i++) if (inside[i]) shown.data.set(MASK_RGBA, i * 4);
    this.restore(shown);
  }
}
