// The staff page: polls /api/status once a second, keeps an hour of chart samples, refreshes the
// thumbnail a few times a second while the page is visible, and sends controls with the CSRF token.
"use strict";

const STATUS_EVERY_MS = 1000;
const THUMBNAIL_EVERY_MS = 250;
const HOUR_S = 3600;
const charts = {fps: [], latency: [], perception: []};  // [unix seconds, value] pairs, last hour
let csrf = null, lastSampleT = 0, status = null;

const $ = (id) => document.getElementById(id);

function duration(seconds) {
  const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s % 60} s`;
}

function addSample(sample) {
  const [t, fps, latency, perception] = sample;
  if (t <= lastSampleT) return;
  lastSampleT = t;
  for (const [name, value] of [["fps", fps], ["latency", latency], ["perception", perception]]) {
    charts[name].push([t, value]);
    while (charts[name].length && charts[name][0][0] < t - HOUR_S) charts[name].shift();
  }
}

function drawChart(canvas, points, color) {
  const ratio = window.devicePixelRatio || 1, width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const left = 36, bottom = height - 18, top = 8, right = width - 6;
  const newest = points.length ? points[points.length - 1][0] : Date.now() / 1000;
  // the span shown grows with the data, from a minute up to the hour kept
  const span = Math.min(HOUR_S, Math.max(60, points.length ? newest - points[0][0] : 0));
  const peak = Math.max(1, ...points.map((p) => p[1]));
  const step = Math.pow(10, Math.floor(Math.log10(peak))), max = Math.ceil(peak * 1.15 / step) * step;
  g.font = "11px system-ui, sans-serif"; g.fillStyle = "#8a94a3"; g.strokeStyle = "#262d36"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {  // grid lines and their values
    const y = bottom - (bottom - top) * i / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
    g.fillText(String(Math.round(max * i / 4 * 10) / 10), 2, y + 4);
  }
  g.fillText(span >= 120 ? `−${Math.round(span / 60)} min` : `−${Math.round(span)} s`, left, height - 3);
  g.fillText("now", right - 22, height - 3);
  canvas.dataset.points = String(points.length);
  if (!points.length) return;
  const x = (t) => left + (right - left) * (1 - (newest - t) / span), y = (v) => bottom - (bottom - top) * v / max;
  const gradient = g.createLinearGradient(0, top, 0, bottom);
  gradient.addColorStop(0, color + "55"); gradient.addColorStop(1, color + "00");
  g.beginPath(); g.moveTo(x(points[0][0]), bottom);
  for (const [t, v] of points) g.lineTo(x(t), y(v));
  g.lineTo(x(newest), bottom); g.closePath(); g.fillStyle = gradient; g.fill();
  g.beginPath(); g.strokeStyle = color; g.lineWidth = 1.6;
  points.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
  g.stroke();
  canvas.dataset.last = String(points[points.length - 1][1]);
}

function drawCharts() {
  drawChart($("fps-chart"), charts.fps, "#3ccf8e");
  drawChart($("latency-chart"), charts.latency, "#4fa3ff");
  drawChart($("perception-chart"), charts.perception, "#9b8cff");
}

function fillSelect(select, names, current) {
  if (select.dataset.names !== names.join("|")) {
    select.replaceChildren(...names.map((name) => new Option(name.replaceAll("_", " "), name)));
    select.dataset.names = names.join("|");
  }
  if (current && document.activeElement !== select && names.includes(current)) select.value = current;
}

function show(s) {
  status = s;
  const state = s.state.replace(" ", "-");
  $("state").textContent = s.state; $("state").className = `badge state-${state}`;
  $("state-dot").style.background = getComputedStyle($("state")).color;
  $("scene").textContent = s.scene || "–"; $("style").textContent = s.style || "none";
  $("model").textContent = s.model || "–"; $("uptime").textContent = duration(s.uptime_s);
  $("restarts").textContent = s.last_restart_reason ? `${s.restarts} (last: ${s.last_restart_reason})` : String(s.restarts);
  $("visitors").textContent = String(s.visitors); $("frames").textContent = s.frames.toLocaleString();
  $("presence-bar").style.width = `${Math.round(s.presence * 100)}%`;
  $("fps").textContent = s.fps.toFixed(1); $("latency").textContent = Math.round(s.latency_ms.p50);
  $("perception").textContent = Math.round(s.perception_ms); $("source").textContent = s.source;
  fillSelect($("scene-select"), s.scenes, s.scene); fillSelect($("style-select"), s.styles, s.style);
  const rows = Object.entries(s.errors).filter(([, n]) => n > 0).sort();
  $("errors").tBodies[0].replaceChildren(...rows.map(([kind, n]) => {
    const row = document.createElement("tr");
    row.append(Object.assign(document.createElement("td"), {textContent: kind.replaceAll("_", " ")}),
               Object.assign(document.createElement("td"), {textContent: n.toLocaleString()}));
    return row;
  }));
  $("no-errors").hidden = rows.length > 0;
  const log = $("log"), atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = s.log.join("\n");
  if (atEnd) log.scrollTop = log.scrollHeight;
  const you = s.you, operator = you && you.role === "operator";
  csrf = you ? you.csrf : null;
  $("you").textContent = you ? `${you.user} · ${you.role}` : "";
  $("logout").hidden = !you || you.user === "local";
  $("controls-note").textContent = operator ? "" : "viewers see the controls, operators use them";
  for (const button of document.querySelectorAll(".controls button")) {
    const action = button.dataset.action || button.dataset.switch;
    button.disabled = !operator || !s.controls.includes(action);
    if (button.dataset.switch) button.classList.toggle("on", Boolean(s.switches[button.dataset.switch]));
  }
  if (s.sample) addSample(s.sample);
  drawCharts();
}

async function poll() {
  try {
    const response = await fetch("/api/status", {cache: "no-store"});
    if (response.status === 401) { location.href = "/login"; return; }
    if (response.ok) show(await response.json());
  } catch (failure) {
    $("state").textContent = "offline"; $("state").className = "badge state-offline";
  }
  setTimeout(poll, STATUS_EVERY_MS);
}

async function refreshThumbnail() {
  if (!document.hidden) {
    try {
      const response = await fetch(`/api/thumbnail.jpg`, {cache: "no-store"});
      if (response.ok) {
        const image = $("thumbnail"), previous = image.src;
        image.src = URL.createObjectURL(await response.blob());
        image.dataset.sequence = response.headers.get("X-Frame-Sequence") || "0";
        if (previous.startsWith("blob:")) URL.revokeObjectURL(previous);
        $("thumb-note").textContent = "";
      } else {
        $("thumb-note").textContent = response.status === 503 ? "no picture yet" : `(${response.status})`;
      }
    } catch (failure) {
      $("thumb-note").textContent = "offline";
    }
  }
  setTimeout(refreshThumbnail, THUMBNAIL_EVERY_MS);
}

async function send(action, value) {
  if (action === "restart" && !confirm("Restart the runtime? The screen goes dark for a moment.")) return;
  const toast = $("toast");
  const response = await fetch("/api/control", {
    method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf || ""},
    body: JSON.stringify(value === undefined ? {action} : {action, value}),
  });
  const answer = await response.json().catch(() => ({}));
  toast.className = response.ok ? "" : "bad";
  toast.textContent = response.ok ? `${action.replaceAll("_", " ")}: sent` : answer.error || `refused (${response.status})`;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest(".controls button");
  if (!button || button.disabled) return;
  if (button.dataset.switch) send(button.dataset.switch, !(status && status.switches[button.dataset.switch]));
  else send(button.dataset.action, button.dataset.from ? $(button.dataset.from).value : undefined);
});

$("logout").addEventListener("click", async () => {
  await fetch("/logout", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf || ""}, body: "{}"});
  location.href = "/login";
});

window.addEventListener("resize", drawCharts);

(async () => {
  try {
    const response = await fetch("/api/history", {cache: "no-store"});
    if (response.ok) for (const sample of await response.json()) addSample(sample);
  } catch (failure) { /* the charts fill from the status polls */ }
  poll();
  refreshThumbnail();
})();
