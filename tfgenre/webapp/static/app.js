// tfgenre's page: upload or record a clip, POST it to /api/predict, draw the answer.
// Plain ES module, no dependencies, no network beyond this server.

const $ = (id) => document.getElementById(id);

const ui = {
  modelField: $("model-field"),
  model: $("model"),
  topK: $("top-k"),
  hop: $("hop"),
  drop: $("drop"),
  file: $("file"),
  record: $("record"),
  busy: $("busy"),
  busyText: $("busy-text"),
  error: $("error"),
  result: $("result"),
  fileName: $("file-name"),
  barsHeading: $("bars-heading"),
  bars: $("bars"),
  facts: $("track-facts"),
  modelInfo: $("model-info-body"),
  timeline: $("timeline"),
  waveform: $("waveform"),
  heatmap: $("heatmap"),
  cursor: $("cursor"),
  legend: $("legend"),
  player: $("player"),
};

const state = {
  models: [],          // entries of GET /api/models
  limits: null,        // the server's limits (GET /api/models), when it says them
  prediction: null,    // the last /api/predict answer
  rows: [],            // labels drawn as heatmap rows
  samples: null,       // Float32Array of the decoded file (mono), or null
  duration: 0,         // seconds spanned by the timeline
  objectUrl: null,
  pendingSeek: null,  // a seek asked for before the audio's metadata loaded
  busy: false,
  recorder: null,
};

// Row colours of the heatmap legend (one hue per row; intensity = probability).
const HUES = [210, 12, 130, 45, 280, 175, 330, 95, 250, 25];

// ----------------------------------------------------------------------------- messages

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.textContent = "";
  ui.error.hidden = true;
}

function setBusy(on, text = "Listening…") {
  state.busy = on;
  ui.busy.hidden = !on;
  ui.busyText.textContent = text;
  document.body.classList.toggle("is-busy", on);
  ui.drop.setAttribute("aria-busy", String(on));
  ui.file.disabled = on;
  ui.model.disabled = on;
}

// Turns a failed response into a sentence a person can act on.
async function errorMessage(response) {
  let code = "";
  let message = "";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || "";
      message = body.error.message || "";
    } else if (body && body.detail) {
      message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    }
  } catch (_) {
    // not JSON: fall through to the status line
  }
  const status = response.status;
  let lead;
  if (status === 503) {
    const retry = response.headers.get("Retry-After");
    lead = "The server is busy" + (retry ? `; try again in ${retry} s` : "; try again shortly");
  } else if (status === 413) {
    lead = "The file is too large";
  } else if (/too_long|too long|longer than/i.test(code + " " + message)) {
    lead = "The audio is too long";
  } else if (status === 415 || /decode|undecodable|not audio/i.test(code + " " + message)) {
    lead = "The file could not be read as audio";
  } else if (status >= 500) {
    lead = `The server failed (HTTP ${status})`;
  } else {
    lead = `The request was refused (HTTP ${status})`;
  }
  const detail = message ? `: ${message}` : ".";
  return lead + detail + (code ? ` [${code}]` : "");
}

// ----------------------------------------------------------------------------- models

function currentModel() {
  return state.models.find((m) => m.name === ui.model.value) || state.models[0] || null;
}

function megabytes(bytes) {
  return String(Math.round((10 * bytes) / (1024 * 1024)) / 10);
}

function minutes(seconds) {
  return seconds >= 120 ? `${Math.round(seconds / 6) / 10} min` : `${seconds} s`;
}

function percent(x, digits = 1) {
  return `${(100 * x).toFixed(digits)}%`;
}

// A fraction (0..1) or already a percentage (>1) shown as a percentage.
function asPercent(x) {
  if (typeof x !== "number" || !isFinite(x)) return String(x);
  return x <= 1 ? percent(x) : `${x.toFixed(1)}%`;
}

function describeModel(model) {
  const box = ui.modelInfo;
  box.replaceChildren();
  if (!model) {
    box.textContent = "No model information.";
    return;
  }
  const dl = document.createElement("dl");
  const add = (term, value) => {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  };
  add("Name", model.name);
  add("Predicts", model.kind === "tag"
    ? `${model.labels.length} tags`
    : `${model.labels.length} genres`);
  // The description repeats the name, licence, protocol and accuracy, which have their
  // own rows here: keep what it says beyond them (a run's "mel_cnn on mel").
  let about = model.description || "";
  if (about.startsWith(`${model.name}: `)) about = about.slice(model.name.length + 2);
  if (model.licence && about.includes(model.licence)) {
    about = about.replace(model.licence, "").replace(/[\s;,]+$/, "");
  }
  if (model.protocol || model.accuracy) about = about.split("; ")[0];
  add("About", about);
  const p = model.protocol;
  if (p && typeof p === "object") {
    let text = [p.name, p.description].filter(Boolean).join(": ");
    if (p.leaks_artists === true) text += " (the same artists on both sides: optimistic)";
    if (p.citation) text += `; ${p.citation}`;
    add("Protocol", text);
  }
  if (model.accuracy) {
    const a = model.accuracy;
    let text = asPercent(a.value);
    const bits = [];
    if (typeof a.low === "number" && typeof a.high === "number") {
      const level = typeof a.level === "number"
        ? `${Math.round(a.level <= 1 ? a.level * 100 : a.level)}% ` : "";
      bits.push(`${level}interval ${asPercent(a.low)} – ${asPercent(a.high)}`);
    }
    if (a.scope) bits.push(`per ${a.scope}`);
    if (bits.length) text += ` (${bits.join(", ")})`;
    add("Test accuracy", text);
  }
  add("Licence", model.licence);
  add("Windows", model.window_seconds
    ? `${model.window_seconds} s every ${model.hop_seconds} s at ${model.sample_rate} Hz`
    : (model.sample_rate ? `whole track at ${model.sample_rate} Hz` : null));
  box.append(dl);
}

async function loadModels() {
  try {
    const response = await fetch("/api/models");
    if (!response.ok) {
      showError("Could not list the models: " + (await errorMessage(response)));
      return;
    }
    const body = await response.json();
    state.models = body.models || [];
    state.limits = body.limits || null;
  } catch (err) {
    showError(`Could not reach the server to list the models (${err.message}).`);
    return;
  }
  ui.model.replaceChildren(...state.models.map((m) => {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${m.kind})`;
    return option;
  }));
  ui.modelField.hidden = state.models.length < 2;
  const limits = state.limits;
  if (limits && limits.max_upload_bytes && limits.max_seconds) {
    $("drop-limits").textContent =
      `Up to ${megabytes(limits.max_upload_bytes)} MB and ${minutes(limits.max_seconds)} of audio.`;
  }
  describeModel(currentModel());
  document.body.dataset.models = String(state.models.length);
}

// ----------------------------------------------------------------------------- audio in the browser

async function decodeInBrowser(blob) {
  // An OfflineAudioContext decodes without a user gesture and resamples to its rate.
  const ctx = new OfflineAudioContext(1, 1, 22050);
  const buffer = await ctx.decodeAudioData(await blob.arrayBuffer());
  return buffer;
}

function mono(buffer) {
  const out = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i++) out[i] += data[i] / buffer.numberOfChannels;
  }
  return out;
}

// 16-bit PCM WAV of a decoded buffer (mono), so that any server decoder reads recordings.
function wavBlob(buffer) {
  const samples = mono(buffer);
  const rate = buffer.sampleRate;
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([view], { type: "audio/wav" });
}

// ----------------------------------------------------------------------------- upload

async function analyse(file) {
  if (!file) return;
  if (state.busy) {
    showError("Still working on the previous file; wait for its result.");
    return;
  }
  clearError();
  const limit = state.limits && state.limits.max_upload_bytes;
  if (limit && file.size > limit) {
    // Refused here rather than after sending megabytes the server would refuse (413).
    showError(`The file is too large: ${file.name} is ${megabytes(file.size)} MB, over the ` +
      `server's limit of ${megabytes(limit)} MB (its --max-upload-mb).`);
    return;
  }
  setBusy(true, `Listening to ${file.name}…`);
  ui.result.hidden = true;
  delete document.body.dataset.ready;

  const model = currentModel();
  const topK = Math.max(1, parseInt(ui.topK.value, 10) || 5);
  const form = new FormData();
  form.append("file", file, file.name);
  if (model) form.append("model", model.name);
  // Ask for every label so that the timeline rows have a value in every segment.
  form.append("top_k", String(model ? Math.max(topK, model.labels.length) : topK));
  form.append("segments", "true");
  const hop = parseFloat(ui.hop.value);
  if (isFinite(hop) && hop > 0) form.append("hop_seconds", String(hop));

  // The browser decodes the same file for the waveform while the server works.
  const decoding = decodeInBrowser(file).then(mono, () => null);

  let response;
  try {
    response = await fetch("/api/predict", { method: "POST", body: form });
  } catch (err) {
    setBusy(false);
    showError(`Could not reach the server (${err.message}). Is \`python -m tfgenre.serve\` still running?`);
    return;
  }
  if (!response.ok) {
    const message = await errorMessage(response);
    setBusy(false);
    showError(message);
    return;
  }
  let prediction;
  try {
    prediction = await response.json();
  } catch (err) {
    setBusy(false);
    showError(`The server's answer was not JSON (${err.message}).`);
    return;
  }
  state.samples = await decoding;
  setBusy(false);
  show(file, prediction, model, topK);
}

// ----------------------------------------------------------------------------- result

function labelKey(prediction) {
  return "tags" in prediction ? "tags" : "genres";
}

function show(file, prediction, model, topK) {
  state.prediction = prediction;
  const key = labelKey(prediction);
  const top = (prediction[key] || []).slice(0, topK);
  ui.barsHeading.textContent = key === "tags" ? "Top tags" : "Top genres";
  ui.fileName.textContent = `— ${file.name}`;

  ui.bars.replaceChildren(...top.map(([label, p], i) => {
    const li = document.createElement("li");
    li.className = "bar-row";
    const name = document.createElement("span");
    name.className = "bar-label";
    name.textContent = label;
    if (i === 0) name.id = "top-label";
    const track = document.createElement("span");
    track.className = "bar-track";
    track.setAttribute("role", "meter");
    track.setAttribute("aria-valuemin", "0");
    track.setAttribute("aria-valuemax", "100");
    track.setAttribute("aria-valuenow", (100 * p).toFixed(1));
    track.setAttribute("aria-label", `${label}: ${percent(p)}`);
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
    fill.style.background = `hsl(${HUES[i % HUES.length]} 65% 50%)`;
    track.append(fill);
    const pct = document.createElement("span");
    pct.className = "bar-pct";
    pct.textContent = percent(p);
    li.append(name, track, pct);
    return li;
  }));

  const facts = [`${prediction.duration_seconds.toFixed(1)} s`,
    `${prediction.num_segments} segment${prediction.num_segments === 1 ? "" : "s"}`];
  if (prediction.padded) facts.push("shorter than one window: zero-padded");
  if (prediction.silent) facts.push("silent: the answer means little");
  ui.facts.textContent = facts.join(" · ");
  describeModel(model);

  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(file);
  state.pendingSeek = null;
  ui.player.src = state.objectUrl;

  state.rows = top.map(([label]) => label);
  state.duration = Math.max(prediction.duration_seconds || 0,
    ...(prediction.segments || []).map((s) => s.end_seconds));
  ui.timeline.setAttribute("aria-valuemax", state.duration.toFixed(2));
  ui.result.hidden = false;
  drawLegend();
  drawTimeline();
  moveCursor();
  document.body.dataset.ready = "true";
}

function drawLegend() {
  ui.legend.replaceChildren(...state.rows.map((label, i) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `hsl(${HUES[i % HUES.length]} 65% 50%)`;
    li.append(swatch, document.createTextNode(label));
    return li;
  }));
}

function sizeCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(ui.timeline.clientWidth));
  const height = canvas.height / (canvas.dataset.ratio ? Number(canvas.dataset.ratio) : 1);
  canvas.dataset.ratio = String(ratio);
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}

function drawTimeline() {
  if (!state.prediction) return;
  drawWaveform();
  drawHeatmap();
  ui.timeline.dataset.segments = String((state.prediction.segments || []).length);
}

function drawWaveform() {
  const { ctx, width, height } = sizeCanvas(ui.waveform);
  ctx.clearRect(0, 0, width, height);
  const mid = height / 2;
  ctx.fillStyle = "#f3f5f8";
  ctx.fillRect(0, 0, width, height);
  const samples = state.samples;
  if (!samples || !samples.length) {
    ctx.fillStyle = "#666";
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillText("This browser cannot decode the file for a waveform; the server could.", 8, mid + 4);
    return;
  }
  // The envelope spans the decoded length; the timeline spans state.duration.
  const seconds = samples.length / 22050;
  const span = Math.max(1, Math.round(width * Math.min(1, seconds / (state.duration || seconds))));
  const per = samples.length / span;
  ctx.fillStyle = "#4a6fa5";
  for (let x = 0; x < span; x++) {
    let lo = 0;
    let hi = 0;
    const end = Math.min(samples.length, Math.floor((x + 1) * per));
    for (let i = Math.floor(x * per); i < end; i++) {
      const v = samples[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const top = mid - hi * (mid - 2);
    const bottom = mid - lo * (mid - 2);
    ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

function drawHeatmap() {
  const { ctx, width, height } = sizeCanvas(ui.heatmap);
  ctx.clearRect(0, 0, width, height);
  const segments = state.prediction.segments || [];
  const key = labelKey(state.prediction);
  const rows = state.rows;
  if (!segments.length || !rows.length) return;
  const rowHeight = height / rows.length;
  const scale = width / (state.duration || 1);
  segments.forEach((seg, s) => {
    const probs = new Map(seg[key] || []);
    // Overlapping windows tile: each is drawn until the next one starts.
    const next = segments[s + 1];
    const end = next ? Math.min(seg.end_seconds, next.start_seconds) : seg.end_seconds;
    const x0 = seg.start_seconds * scale;
    const w = Math.max(1, (end - seg.start_seconds) * scale);
    rows.forEach((label, r) => {
      const p = probs.get(label) || 0;
      // sqrt: a 10% probability stays visible next to a 90% one.
      ctx.fillStyle = `hsl(${HUES[r % HUES.length]} 70% ${Math.round(97 - 55 * Math.sqrt(p))}%)`;
      ctx.fillRect(x0, r * rowHeight, w + 0.5, rowHeight);
    });
  });
  ctx.strokeStyle = "rgba(255,255,255,0.9)";
  ctx.lineWidth = 1;
  for (let r = 1; r < rows.length; r++) {
    ctx.beginPath();
    ctx.moveTo(0, r * rowHeight);
    ctx.lineTo(width, r * rowHeight);
    ctx.stroke();
  }
}

// ----------------------------------------------------------------------------- playback

function timelineSeconds() {
  return state.duration || ui.player.duration || 0;
}

function playerTime() {
  return state.pendingSeek !== null ? state.pendingSeek : (ui.player.currentTime || 0);
}

function moveCursor() {
  const total = timelineSeconds();
  const t = playerTime();
  const x = total ? (t / total) * ui.timeline.clientWidth : 0;
  ui.cursor.style.transform = `translateX(${x}px)`;
  ui.timeline.setAttribute("aria-valuenow", t.toFixed(2));
  ui.timeline.setAttribute("aria-valuetext", `${t.toFixed(1)} s of ${total.toFixed(1)} s`);
}

function followPlayback() {
  moveCursor();
  if (!ui.player.paused && !ui.player.ended) requestAnimationFrame(followPlayback);
}

function seek(seconds) {
  const limit = isFinite(ui.player.duration) ? ui.player.duration : timelineSeconds();
  const t = Math.max(0, Math.min(limit, seconds));
  if (ui.player.readyState < HTMLMediaElement.HAVE_METADATA) {
    state.pendingSeek = t;  // applied once the audio's metadata is in
  } else {
    state.pendingSeek = null;
    ui.player.currentTime = t;
  }
  moveCursor();
}

ui.player.addEventListener("loadedmetadata", () => {
  if (state.pendingSeek !== null) seek(state.pendingSeek);
});

ui.timeline.addEventListener("click", (event) => {
  const box = ui.timeline.getBoundingClientRect();
  const fraction = (event.clientX - box.left) / box.width;
  seek(fraction * timelineSeconds());
});

ui.timeline.addEventListener("keydown", (event) => {
  const step = event.shiftKey ? 10 : 1;
  if (event.key === "ArrowRight") seek(playerTime() + step);
  else if (event.key === "ArrowLeft") seek(playerTime() - step);
  else if (event.key === "Home") seek(0);
  else if (event.key === " ") (ui.player.paused ? ui.player.play() : ui.player.pause());
  else return;
  event.preventDefault();
});

ui.player.addEventListener("play", () => requestAnimationFrame(followPlayback));
ui.player.addEventListener("timeupdate", moveCursor);
ui.player.addEventListener("seeked", moveCursor);

// ----------------------------------------------------------------------------- choosing a file

ui.file.addEventListener("change", () => {
  const file = ui.file.files && ui.file.files[0];
  ui.file.value = "";  // choosing the same file again analyses it again
  analyse(file);
});

for (const type of ["dragenter", "dragover"]) {
  ui.drop.addEventListener(type, (event) => {
    event.preventDefault();
    ui.drop.classList.add("over");
  });
}
for (const type of ["dragleave", "drop"]) {
  ui.drop.addEventListener(type, () => ui.drop.classList.remove("over"));
}
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) analyse(file);
});
// A file dropped beside the zone must not navigate away from the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

ui.model.addEventListener("change", () => describeModel(currentModel()));
window.addEventListener("resize", () => { drawTimeline(); moveCursor(); });

// ----------------------------------------------------------------------------- microphone

async function toggleRecording() {
  if (state.recorder && state.recorder.state === "recording") {
    state.recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError("This browser cannot record (no MediaRecorder); choose a file instead.");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError(`The microphone is not available (${err.message}).`);
    return;
  }
  clearError();
  const chunks = [];
  const recorder = new MediaRecorder(stream);
  state.recorder = recorder;
  recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
  recorder.addEventListener("stop", async () => {
    stream.getTracks().forEach((track) => track.stop());
    ui.record.textContent = "Record from microphone";
    ui.record.setAttribute("aria-pressed", "false");
    const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
    let file;
    try {
      // The server is sure to read WAV; the browser's own container may not be.
      file = new File([wavBlob(await decodeInBrowser(blob))], "recording.wav", { type: "audio/wav" });
    } catch (_) {
      file = new File([blob], "recording.webm", { type: blob.type });
    }
    analyse(file);
  });
  recorder.start();
  ui.record.textContent = "Stop recording";
  ui.record.setAttribute("aria-pressed", "true");
}

ui.record.addEventListener("click", toggleRecording);

loadModels();
