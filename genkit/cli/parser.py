"""The `genkit` command line: its sub-commands, their flags and help."""

from __future__ import annotations

import argparse

from genkit.cli.commands import (
    SAMPLES,
    cmd_explore,
    cmd_inspect,
    cmd_layers,
    cmd_new,
    cmd_sample,
    cmd_schema,
    cmd_score,
    cmd_validate,
)
from genkit.cli.stages import cmd_evaluate, cmd_export, cmd_run, cmd_train
from genkit.serve.cli import add_serve_parser

__all__ = ["build_parser"]


_FORCE_HELP = "replace an export of another spec or name in the export folder, keeping it under <folder>/.previous/"
_ALLOW_SPEC_CHANGE_HELP = "with --resume: continue even though the spec changed (e.g. a lower learning rate); the changed fields are printed"
# genkit.schedules.SAMPLERS, written out so that parsing arguments does not import NumPy (tests/test_solvers.py holds them equal).
_SAMPLERS = ("ancestral", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "euler", "heun")


def _resume_flag(verb: str) -> dict:
    # An optional value: `SPEC --resume` (the newest run of SPEC) stays valid beside `--resume RUN_FOLDER`.
    return {
        "nargs": "?",
        "const": True,
        "default": False,
        "metavar": "RUN_FOLDER",
        "help": (
            f"continue a run from its last checkpoint and {verb} it: the run folder RUN_FOLDER (runs/<name>/<time>; "
            "no spec needed, it holds the spec the run was started with), or, given after SPEC without a folder, "
            "the newest run of SPEC"
        ),
    }


def build_parser(families: str = "a family name; `genkit new --help` lists them") -> argparse.ArgumentParser:
    """The command-line parser. `families`: the family list the help of `new` and `layers` shows
    (read from the cards only for those commands, so `genkit sample` starts without pydantic)."""
    parser = argparse.ArgumentParser(prog="genkit", description="Declarative deep generative models from YAML specs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors, and TensorFlow's own log lines (hidden otherwise)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_spec(p, optional=False):
        if optional:  # `genkit run|train --resume RUN_FOLDER` needs no spec: the run folder holds it
            p.add_argument("spec", nargs="?", help="the spec YAML file (not with --resume RUN_FOLDER)")
        else:
            p.add_argument("spec", help="the spec YAML file")
        p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE", help="override a spec field (repeatable); a relative data.path or evaluate.feature_extractor is read from the spec's folder, as the same line in the file would be")
        p.add_argument(
            "--allow-outside-paths", action="store_true", help="let the spec file name paths outside the working folder"
        )
        return p

    p = with_spec(sub.add_parser("run", help="validate, train, evaluate and export a spec"), optional=True)
    p.add_argument("--resume", **_resume_flag("finish"))
    p.add_argument("--allow-spec-change", action="store_true", help=_ALLOW_SPEC_CHANGE_HELP)
    p.add_argument("--out", help="export folder (default: exports/<name>)")
    p.add_argument("--force", action="store_true", help=_FORCE_HELP)
    p.add_argument(
        "--reuse", action="store_true", help="pipelines: keep runs whose identical spec already finished and exported"
    )
    p.set_defaults(func=cmd_run)
    p = with_spec(sub.add_parser("validate", help="check a spec and build its networks"))
    p.add_argument("--print", action="store_true", help="print the fully resolved spec (every default filled in)")
    p.set_defaults(func=cmd_validate)
    with_spec(sub.add_parser("inspect", help="show the built networks and parameter counts")).set_defaults(func=cmd_inspect)
    p = with_spec(sub.add_parser("train", help="train only (writes a run folder)"), optional=True)
    p.add_argument("--resume", **_resume_flag("train"))
    p.add_argument("--allow-spec-change", action="store_true", help=_ALLOW_SPEC_CHANGE_HELP)
    p.set_defaults(func=cmd_train)
    for name, helptext, func in (("evaluate", "held-out metrics of a run", cmd_evaluate), ("export", "export a run to ONNX", cmd_export)):
        p = sub.add_parser(name, help=helptext)
        target = "a run folder (runs/<name>/<time>) or a spec (its newest run)"
        p.add_argument("target", help=target + (", or an export folder (scored through onnxruntime)" if name == "evaluate" else ""))
        p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE", help="override a spec field (repeatable); relative paths as in the spec file")
        p.add_argument("--allow-outside-paths", action="store_true", help="let the spec name paths outside the working folder")
        if name == "export":
            p.add_argument("--out", help="export folder (default: exports/<name>)")
            p.add_argument("--force", action="store_true", help=_FORCE_HELP)
        else:
            p.add_argument("--steps", type=int, help="diffusion export: sampler steps")
            p.add_argument("--sampler", choices=_SAMPLERS, help="diffusion export: sampler")
            p.add_argument("--eta", type=float, help="diffusion export: DDIM eta")
            p.add_argument("--guidance-scale", type=float, help="diffusion export: classifier-free guidance scale")
            p.add_argument("--guidance-interval", type=int, nargs=2, metavar=("LOW", "HIGH"), help="diffusion export: guide only at timesteps LOW..HIGH")
        p.set_defaults(func=func)
    sub.add_parser("schema", help="print the JSON Schema of specs (for editors)").set_defaults(func=cmd_schema)
    p = sub.add_parser("layers", help="list the layer names a spec may use, with their inputs and arguments")
    p.add_argument("name", nargs="?", help="one layer: its documentation (genkit blocks: inputs, parameters, an example)")
    p.add_argument("--blocks", action="store_true", help="only genkit's own blocks")
    p.add_argument("--family", help=f"only the layers that fit that family, with its networks and loss options ({families})")
    p.set_defaults(func=cmd_layers)
    p = sub.add_parser("new", help="write a commented starter spec that runs as written")
    p.add_argument("family", help=families)
    p.add_argument("--dataset", default="mnist", help="mnist, fashion_mnist, cifar10 or shapes (coloured sprites with known factors)")
    p.add_argument("--out", help="file to write (default: print)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=cmd_new)
    p = sub.add_parser("explore", help="pictures of an export's latent space (onnxruntime only)")
    p.add_argument("export_dir")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    t = tools.add_parser("interpolate", help="strips between the latents of two images (--data) or two prior draws")
    t.add_argument("--data", help="FILE.npz with x (and y), as `genkit sample --out` writes")
    t.add_argument("--pair", dest="pairs", action="append", nargs=2, type=int, metavar=("I", "J"), help="indices into --data")
    t.add_argument("--rows", type=int, help="strips to draw")
    t.add_argument("--steps", type=int, help="images per strip")
    t.add_argument("--method", metavar="{linear,slerp}")
    t.add_argument("--label", type=int, help="class to decode with (conditional exports)")
    t.add_argument("--seed", type=int)
    t = tools.add_parser("arithmetic", help="decode mean(A) - mean(B) + mean(C) of encoded classes")
    for k in "abc":
        t.add_argument(k, type=int, metavar=k.upper())
    t.add_argument("--data", required=True, help="FILE.npz with x and y")
    t.add_argument("--n", type=int, help="images averaged per class")
    t.add_argument("--label", type=int, help="class to decode the result with (conditional exports)")
    t = tools.add_parser("manifold", help="decode a grid over a 2-D latent space")
    t.add_argument("--n", type=int, help="grid side")
    t.add_argument("--span", nargs=2, type=float, metavar=("LOW", "HIGH"), help="Gaussian quantiles covered")
    t.add_argument("--label", type=int)
    t = tools.add_parser("traverse", help="vary one factor per row, the rest fixed: each InfoGAN code, else each dimension of z (VAE exports: highest KL first)")
    t.add_argument("--rows", type=int, help="InfoGAN exports: rows per code, each with its own z and other codes")
    t.add_argument("--steps", type=int, help="values of a continuous code or latent dimension per row")
    t.add_argument("--span", nargs=2, type=float, metavar=("LOW", "HIGH"), help="range of those values (default -2 2)")
    t.add_argument("--dims", type=int, nargs="+", metavar="D", help="exports without codes: the latent dimensions, one row each")
    t.add_argument("--label", type=int, help="class to decode with (conditional exports)")
    t.add_argument("--seed", type=int)
    t = tools.add_parser("scatter", help="PCA or t-SNE of encoded data, coloured by label")
    t.add_argument("--data", required=True, help="FILE.npz with x (and y)")
    t.add_argument("--method", metavar="{pca,tsne}")
    t.add_argument("--max-points", type=int)
    t.add_argument("--seed", type=int)
    for t in tools.choices.values():
        t.add_argument("--out", required=True, help="FILE.png")
    p.set_defaults(func=cmd_explore)
    p = sub.add_parser("score", help="anomaly scores (reconstruction error) of images, onnxruntime only")
    p.add_argument("export_dir")
    p.add_argument("--data", required=True, metavar="FILE.npz", help="images to score: x, optional integer labels y")
    p.add_argument("--normal", metavar="FILE.npz", help="held-out normal images to set the threshold on")
    p.add_argument("--anomalous-classes", type=int, nargs="+", metavar="K", help="labels in --data that are anomalies (adds AUC, roc.png)")
    p.add_argument("--fpr", type=float, help="share of normal examples above the threshold (default 0.05)")
    p.add_argument("--metric", help="mse or bce (default mse)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for scores.csv, report.json, roc.png, histogram.png")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("sample", help="draw samples from an export, or translate or reconstruct images, with onnxruntime only")
    p.add_argument("export_dir")
    p.add_argument("--n", type=int, help=f"number of samples (default {SAMPLES}); with --input, at most N input images (default all)")
    p.add_argument(
        "--input", metavar="FILE.npz|IMAGE|FOLDER",
        help="images (npz array x, or PNG/JPEG files) to translate (pix2pix, cyclegan) or to reconstruct through an encoder and decoder (autoencoders, VAEs; a denoising_ae first corrupts them)",
    )
    p.add_argument("--direction", choices=("ab", "ba"), help="translation exports: ab (default) or ba (cyclegan's second generator)")
    p.add_argument("--resize", action="store_true", help="with --input: resize images of another size (else resized with a warning) and turn colour images gray for a grayscale export (else refused)")
    p.add_argument("--corruption", metavar="{masking,gaussian}", help="with --input: corrupt the images before reconstructing them (default: a denoising_ae export's own)")
    p.add_argument("--noise", type=float, metavar="LEVEL", help="with --input: the corruption's masking rate or Gaussian sigma (default: a denoising_ae export's own)")
    p.add_argument("--label", type=int, help="class to draw (conditional models); with --input, the class of every image (cvae)")
    p.add_argument(
        "--code", action="append", metavar="NAME=VALUE", help="InfoGAN exports: set a latent code for every sample, e.g. digit=3 or c1=-1.0 (repeatable; the others are drawn)"
    )
    p.add_argument("--steps", type=int, help="sampler steps (diffusion exports)")
    p.add_argument("--sampler", choices=_SAMPLERS, help="diffusion exports: sampler (default: the export's); dpmpp_2m_sde or dpmpp_2m for 10-20 steps")
    p.add_argument("--eta", type=float, help="diffusion exports: DDIM noise, 0 (deterministic) to 1")
    p.add_argument("--guidance-scale", type=float, help="conditional diffusion exports: classifier-free guidance; 1 = none")
    p.add_argument(
        "--guidance-interval", type=int, nargs=2, metavar=("LOW", "HIGH"), help="conditional diffusion exports: guide only at timesteps LOW..HIGH (default: the export's)"
    )
    p.add_argument(
        "--truncation", type=float, metavar="PSI", help="style exports: w = w_avg + PSI (w - w_avg); 1 none (default), 0.5-0.7 cleaner but less varied"
    )
    p.add_argument("--mix", type=int, metavar="SEED", help="style exports: take the fine styles from the latents of this seed, the coarse ones from --seed")
    p.add_argument("--crossover", type=int, metavar="K", help="style exports with --mix: styles K and later come from --mix (default: the first fine style)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="FILE.png (grid) or FILE.npz (arrays x, y; with --input: x translated or reconstructed, source, corrupted)")
    p.set_defaults(func=cmd_sample)
    add_serve_parser(sub)
    return parser


