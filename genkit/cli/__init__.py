"""The `genkit` command: run | validate | inspect | train | evaluate | export | sample.

Stages are imported inside each command so `genkit sample` (onnxruntime only) never
imports TensorFlow. A `GenkitError` (bad spec, flags or files) is printed as a paragraph
and exits with code 2; `--debug` shows the traceback instead, and TensorFlow's log lines
(hidden otherwise, see `genkit.quiet_tf`).
"""

from __future__ import annotations

import sys

from genkit.cli.common import DEBUG
from genkit.cli.parser import build_parser
from genkit.errors import GenkitError, SpecError
from genkit.quiet_tf import tensorflow_logs

__all__ = ["build_parser", "main"]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    families = None
    if argv[:1] in (["new"], ["layers"]):
        from genkit.spec.card import family_names

        families = ", ".join(family_names())
    args = (build_parser(families) if families else build_parser()).parse_args(argv)
    DEBUG["on"] = args.debug
    # Before any command imports TensorFlow, which reads its C++ log level once, at import.
    tensorflow_logs(show=args.debug)
    try:
        args.func(args)
    except GenkitError as err:
        if args.debug:
            raise
        lines = [p.format() for p in err.problems] if isinstance(err, SpecError) else [str(err)]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as err:
        # Ctrl-C during training says where its checkpoint is and how to resume.
        print(f"interrupted: {err}" if str(err) else "interrupted", file=sys.stderr)
        return 130
    return 0
