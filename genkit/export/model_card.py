"""The export's README.md: what the model is and how to sample it, with or without genkit."""

from __future__ import annotations

from pathlib import Path

from genkit.atomic import atomic_write_text

__all__ = ["model_card", "write_model_card"]


def write_model_card(export_dir: str | Path, manifest: dict, *, shown_dir: str | Path | None = None) -> Path:
    """Write `export_dir/README.md` for the export described by `manifest`.

    `shown_dir` is the folder named in the card's `genkit sample` command (the final
    export folder when `export_dir` is a temporary one); default `exports/<name>`.
    """
    return atomic_write_text(Path(export_dir) / "README.md", model_card(manifest, shown_dir=shown_dir))


def model_card(manifest: dict, *, shown_dir: str | Path | None = None) -> str:
    """The model card's Markdown text."""
    m = manifest
    data = m.get("data", {})
    shape = "x".join(str(s) for s in data.get("shape", []))
    low, high = data.get("range", [0.0, 1.0])
    versions = m.get("versions", {})
    lines = [
        f"# {m['name']}",
        "",
        f"A `{m['family']}` model exported by genkit {versions.get('genkit', '?')} "
        f"on {m.get('created_utc', '?')}: images {shape} with values in [{low}, {high}]"
        + (f", latent size {m['latent_dim']}" if m.get("latent_dim") else "")
        + (_diffusion_summary(m["diffusion"]) if m.get("diffusion") else "")
        + (f", conditioned on {data['num_classes']} classes" if _conditional(m) else "")
        + ".",
        "",
        "| file | inputs | outputs | parity (max abs diff vs Keras) |",
        "| --- | --- | --- | --- |",
    ]
    for entry in m.get("networks", {}).values():
        lines.append(
            f"| {entry['file']} | {_io(entry['inputs'])} | {_io(entry['outputs'])} "
            f"| {entry['parity_max_abs_diff']:.1e} |"
        )
    lines.append("")
    if m.get("quantize"):
        lines += _quantized(m["quantize"])
    if m.get("sample_grid"):
        lines += [f"![samples]({m['sample_grid']})", ""]
    if m.get("translation"):
        directions = m["translation"]
        lines += ["## Translate", "", "```"]
        for direction, t in directions.items():
            flag = "" if direction == "ab" else f" --direction {direction}"
            lines.append(f"genkit sample {shown_dir or Path('exports', m['name'])} --input images.npz{flag} --out {direction}.png   # {t['network']}")
        lines += ["```", "", "With onnxruntime only (run in this folder; images in the data range, shape (N, " + ", ".join(map(str, data.get("shape", []))) + ")):", "", "```python"]
        t = next(iter(directions.values()))
        lines += [
            "import json, numpy as np, onnxruntime as ort",
            'm = json.load(open("manifest.json")); t = m["translation"]["ab"]',
            'session = ort.InferenceSession(m["networks"][t["network"]]["file"])',
            f'y = session.run([t["output"]], {{t["input"]: x.astype(np.float32)}})[0]   # {t["input"]} -> {t["output"]}',
            "```",
            "",
        ]
        return "\n".join(lines)
    if not m.get("sampling"):
        lines += ["This family cannot sample from a prior: `manifest.json` has `sampling: null`.", ""]
        return "\n".join(lines)
    lines += [
        "## Sample",
        "",
        "```",
        f"genkit sample {shown_dir or Path('exports', m['name'])} --n 16 "
        + (f"--label {min(3, data['num_classes'] - 1)} " if _conditional(m) else "")
        + ("--truncation 0.7 " if m.get("style") else "")
        + "--out x.png",
        "```",
        "",
        "With onnxruntime only (run in this folder; `manifest.json` documents every name):",
        "",
        "```python",
        *(_diffusion_snippet(m) if m.get("diffusion") else _style_snippet(m) if m.get("style") else _snippet(m)),
        "```",
        "",
    ]
    return "\n".join(lines)


def _snippet(m: dict) -> list[str]:
    s = m["sampling"]
    lines = [
        "import json, numpy as np, onnxruntime as ort",
        'm = json.load(open("manifest.json")); s = m["sampling"]',
        'net = ort.InferenceSession(m["networks"][s["network"]]["file"], providers=["CPUExecutionProvider"])',
        'z = np.random.default_rng(0).standard_normal((16, m["latent_dim"]))',
    ]
    if m.get("prior", {}).get("kind") == "gaussian":
        lines.append('z = np.asarray(m["prior"]["mean"]) + z @ np.asarray(m["prior"]["scale_tril"]).T')
    if m.get("prior", {}).get("kind") == "mixture" and m["prior"].get("per_class"):  # the label's Gaussian
        lines.append('p = m["prior"]; c = np.arange(16) % m["data"]["num_classes"]  # the labels fed below')
    elif m.get("prior", {}).get("kind") == "mixture":  # a component per sample, then its Gaussian
        lines.append('p = m["prior"]; c = np.random.default_rng(1).choice(len(p["weights"]), 16, p=p["weights"])')
        lines.append('z = np.asarray(p["means"])[c] + np.einsum("nij,nj->ni", np.asarray(p["scale_trils"])[c], z)')
    lines.append('feeds = {s["latent_input"]: z.astype(np.float32)}')
    if s.get("label_input"):
        lines.append('feeds[s["label_input"]] = np.arange(16, dtype=np.int32) % m["data"]["num_classes"]')
    lines.append('x = np.clip(net.run([s["output"]], feeds)[0], *m["data"]["range"])  # (16, H, W, C)')
    return lines


def _style_snippet(m: dict) -> list[str]:
    """z -> mapping -> truncation (psi 0.7) -> one style per layer -> synthesis with drawn noise (genkit.runtime.style)."""
    return [
        "import json, numpy as np, onnxruntime as ort",
        'm = json.load(open("manifest.json")); s = m["style"]',
        'net = {k: ort.InferenceSession(m["networks"][s[k]]["file"], providers=["CPUExecutionProvider"]) for k in ("mapping", "synthesis")}',
        "rng = np.random.default_rng(0)",
        'w = net["mapping"].run([s["w_output"]], {s["latent_input"]: rng.standard_normal((16, m["latent_dim"])).astype(np.float32)})[0]',
        'w_avg = np.asarray(s["w_avg"], np.float32); w = w_avg + 0.7 * (w - w_avg)  # truncation',
        'feeds = {s["ws_input"]: np.repeat(w[:, None], s["num_ws"], axis=1)}  # (16, num_ws, w_dim)',
        'feeds.update({n["name"]: rng.standard_normal((16, *n["shape"])).astype(np.float32) for n in s["noise_inputs"]})',
        'x = np.clip(net["synthesis"].run([s["output"]], feeds)[0], *m["data"]["range"])  # (16, H, W, C)',
    ]


def _diffusion_summary(d: dict) -> str:
    s = d["sample"]
    return (
        f", a denoiser predicting {d['prediction']} over {d['timesteps']} {d['schedule']} noise levels "
        f"(sampled by default with {s['sampler']}, {s['steps']} steps)"
    )


def _diffusion_snippet(m: dict) -> list[str]:
    """DDIM with eta = 0 (Song et al. 2021, eq. 12) in plain NumPy: what `genkit sample` runs by default."""
    predicts_v = m["diffusion"]["prediction"] == "v"
    lines = [
        "import json, numpy as np, onnxruntime as ort",
        'm = json.load(open("manifest.json")); s, d = m["sampling"], m["diffusion"]',
        'net = ort.InferenceSession(m["networks"][s["network"]]["file"], providers=["CPUExecutionProvider"])',
        'ab = np.asarray(d["alphas_cumprod"], np.float64)  # alpha-bar_t',
        'steps = np.linspace(len(ab) - 1, 0, d["sample"]["steps"]).round().astype(int)',
        'x = np.random.default_rng(0).standard_normal((16, *m["data"]["shape"])).astype(np.float32)',
        "for i, t in enumerate(steps):",
        '    feeds = {s["image_input"]: x, s["time_input"]: np.full(16, t, np.float32)}',
    ]
    if m["sampling"].get("label_input"):
        lines.append('    feeds[s["label_input"]] = np.arange(16, dtype=np.int32) % m["data"]["num_classes"]')
    lines += [
        '    out = net.run([s["output"]], feeds)[0]',
        "    a, a_prev = ab[t], (ab[steps[i + 1]] if i + 1 < len(steps) else 1.0)",
        "    x0 = np.clip(np.sqrt(a) * x - np.sqrt(1 - a) * out, -1, 1)"
        if predicts_v
        else "    x0 = np.clip((x - np.sqrt(1 - a) * out) / np.sqrt(a), -1, 1)",
        "    eps = (x - np.sqrt(a) * x0) / np.sqrt(1 - a)",
        "    x = (np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps).astype(np.float32)  # (16, H, W, C) in [-1, 1]",
    ]
    return lines


def _quantized(q: dict) -> list[str]:
    """The quantised export's comparison with its float32 networks (`genkit.export.quantize`)."""
    lines = [
        f"## Quantised: {q['mode']}",
        "",
        f"The files above are the {q['mode']} copies the runtime loads; the float32 originals are beside them "
        + "(manifest `float32_file`).",
    ]
    if q.get("samples"):
        f32, qz = q.get("float32") or {}, q.get("quantized") or {}
        rows = [("max abs difference vs float32", f"{q['sample_max_abs_diff']:.3g}", "")]
        rows.append(("mean abs difference vs float32", f"{q['sample_mean_abs_diff']:.3g}", ""))
        for key, what in (("seconds", "sampling time, s (CPU)"), ("fid", "FID"), ("class_accuracy", "class accuracy")):
            if qz.get(key) is not None:
                rows.append((what, f"{qz[key]:.4g}", f"{f32[key]:.4g}"))
        lines += ["", f"{q['samples']} samples, seed {q['seed']}:", "", f"| | {q['mode']} | float32 |", "| --- | --- | --- |"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if q.get("quality"):
        lines += ["", f"Scores: {q['quality']}."]
    return [*lines, ""]


def _conditional(m: dict) -> bool:
    return bool((m.get("sampling") or {}).get("label_input") and m.get("data", {}).get("num_classes"))


def _io(entries: list[dict]) -> str:
    def shape(s):
        return "[" + ", ".join("batch" if d is None else str(d) for d in s) + "]"

    return ", ".join(f"`{e['name']}` {e['dtype']} {shape(e['shape'])}" for e in entries)
