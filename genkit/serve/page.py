"""The web page `genkit serve` answers at `/`: plain HTML and a little JavaScript, no build step.

It reads GET /v1/models and shows, for the chosen model, only the controls it accepts: class,
seed, count, sampler and steps (diffusion), a latent map (models with a 2-D latent: the
page decodes a grid of up to 16 x 16 latents (as many as --max-n allows) over the prior's box as the map, and a click decodes that point
through the `z` field of /sample), an upload for translation exports and one for anomaly scores.
"""

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>genkit serve</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 2em; max-width: 60em; }
  fieldset { margin: 0 0 1em; border: 1px solid #ccc; }
  label { margin-right: 1em; }
  input[type=number] { width: 6em; }
  img { image-rendering: pixelated; border: 1px solid #ddd; margin-top: .5em; }
  #error { color: #b00; white-space: pre-wrap; }
  #map { cursor: crosshair; width: 384px; height: 384px; background-size: 100% 100%; border: 1px solid #999; position: relative; }
  #dot { position: absolute; width: 8px; height: 8px; margin: -4px; border-radius: 4px; background: #e33; display: none; }
  .hidden { display: none; }
</style>
</head>
<body>
<h1>genkit serve</h1>
<p><label>Model <select id="model"></select></label> <span id="about"></span></p>
<p id="error" role="alert"></p>

<fieldset id="sample-box" class="hidden"><legend>Sample</legend>
  <label id="label-box">Class <select id="label"><option value="">all in turn</option></select></label>
  <label>Seed <input id="seed" type="number" min="0" value="0"></label>
  <label>Images <input id="n" type="number" min="1" value="16"></label>
  <span id="diffusion-box"><label>Sampler <select id="sampler"></select></label>
    <label>Steps <input id="steps" type="number" min="1"></label></span>
  <button id="draw">Draw</button><br>
  <img id="grid" alt="samples">
</fieldset>

<fieldset id="map-box" class="hidden"><legend>Latent map: click a point to decode it</legend>
  <div id="map"><div id="dot"></div></div>
  <p>z = <span id="z">-</span></p><img id="point" alt="decoded point" width="112">
</fieldset>

<fieldset id="translate-box" class="hidden"><legend>Translate an image</legend>
  <input id="translate-file" type="file" accept=".png,.jpg,.jpeg,.npz">
  <label>Direction <select id="direction"></select></label>
  <button id="translate">Translate</button><br><img id="translated" alt="translation">
</fieldset>

<fieldset id="score-box" class="hidden"><legend>Anomaly scores</legend>
  <input id="score-file" type="file" accept=".png,.jpg,.jpeg,.npz">
  <button id="score">Score</button> <span id="scores"></span>
</fieldset>

<script>
const $ = (id) => document.getElementById(id);
let models = {}, current = null, GRID = 16;

function show(id, on) { $(id).classList.toggle("hidden", !on); }
function fail(message) { $("error").textContent = message || ""; }

async function call(path, body) {
  const response = await fetch(path, body instanceof FormData ? {method: "POST", body: body}
    : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error; } catch (e) {}
    throw new Error(message);
  }
  return response;
}

async function image(path, body, img) {
  fail("");
  try {
    const blob = await (await call(path, body)).blob();
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    return img.src;
  } catch (e) { fail(e.message); }
}

function options(select, values, chosen) {
  select.replaceChildren(...values.map((v) => new Option(v, v, false, v === chosen)));
}

function choose(name) {
  const m = models[name], s = m.sample;
  current = m;
  $("about").textContent = `${m.family}, images ${m.data.shape.join("x")} in [${m.data.range.join(", ")}]` +
    (m.data.num_classes ? `, ${m.data.num_classes} classes` : "") + (m.latent_dim ? `, latent_dim ${m.latent_dim}` : "");
  show("sample-box", !!s);
  if (s) {
    show("label-box", !!s.labels);
    const label = $("label");
    label.replaceChildren(new Option("all in turn", ""), ...(s.labels || []).map((k) => new Option(k, k)));
    show("diffusion-box", !!s.steps);
    if (s.steps) { options($("sampler"), s.samplers, s.sampler); $("steps").value = s.steps.default; $("steps").max = s.steps.max; }
  }
  show("map-box", !!(s && s.z && m.latent_dim === 2));
  if (s && s.z && m.latent_dim === 2) drawMap();
  show("translate-box", !!m.translate);
  if (m.translate) options($("direction"), m.translate.directions, m.translate.directions[0]);
  show("score-box", !!m.score);
}

function sampleBody(extra) {
  const body = {seed: Number($("seed").value || 0), format: "png", ...extra};
  if ($("label").value !== "" && current.sample.labels) body.label = Number($("label").value);
  if (current.sample.steps) { body.sampler = $("sampler").value; body.steps = Number($("steps").value); }
  return body;
}

async function drawMap() {
  const [[x0, x1], [y0, y1]] = current.latent_box, z = [];
  for (let r = 0; r < GRID; r++)            // top row: the largest z[1]
    for (let c = 0; c < GRID; c++)
      z.push([x0 + (c + 0.5) / GRID * (x1 - x0), y1 - (r + 0.5) / GRID * (y1 - y0)]);
  const img = new Image();
  const url = await image(`/v1/models/${current.name}/sample`, sampleBody({z: z}), img);
  if (url) $("map").style.backgroundImage = `url(${url})`;
}

$("map").addEventListener("click", async (event) => {
  const box = $("map").getBoundingClientRect(), [[x0, x1], [y0, y1]] = current.latent_box;
  const fx = (event.clientX - box.left) / box.width, fy = (event.clientY - box.top) / box.height;
  const z = [x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)];
  Object.assign($("dot").style, {display: "block", left: `${fx * 100}%`, top: `${fy * 100}%`});
  $("z").textContent = z.map((v) => v.toFixed(2)).join(", ");
  await image(`/v1/models/${current.name}/sample`, sampleBody({z: [z]}), $("point"));
});

$("draw").addEventListener("click", () =>
  image(`/v1/models/${current.name}/sample`, sampleBody({n: Number($("n").value || 1)}), $("grid")));
$("label").addEventListener("change", () => { if (current.sample && current.sample.z && current.latent_dim === 2) drawMap(); });

function upload(fileInput, fields) {
  const form = new FormData();
  if (!fileInput.files.length) { fail("Choose a file first."); return null; }
  form.append("file", fileInput.files[0]);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

$("translate").addEventListener("click", () => {
  const form = upload($("translate-file"), {direction: $("direction").value, format: "png"});
  if (form) image(`/v1/models/${current.name}/translate`, form, $("translated"));
});

$("score").addEventListener("click", async () => {
  const form = upload($("score-file"), {});
  if (!form) return;
  fail("");
  try {
    const result = await (await call(`/v1/models/${current.name}/score`, form)).json();
    $("scores").textContent = result.scores.map((s) => s.toFixed(4)).join(", ");
  } catch (e) { fail(e.message); }
});

(async () => {
  try {
    const answer = await (await fetch("/v1/models")).json(), listed = answer.models;
    GRID = Math.min(16, Math.floor(Math.sqrt(answer.limits.max_n)));  // the map: GRID x GRID latents in one request
    for (const m of listed) models[m.name] = m;
    options($("model"), listed.map((m) => m.name), listed.length ? listed[0].name : null);
    $("model").addEventListener("change", () => choose($("model").value));
    if (listed.length) choose(listed[0].name);
    document.body.dataset.ready = "1";
  } catch (e) { fail(e.message); }
})();
</script>
</body>
</html>
"""
