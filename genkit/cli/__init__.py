"""The `genkit` command: run | validate | inspect | train | evaluate | export | sample.

Stages are imported inside each command so `genkit sample` (onnxruntime only) never
imports TensorFlow. A `GenkitError` (bad spec, flags or files) is printed as a paragraph
and exits with code 2; `--debug` shows the traceback instead, and TensorFlow's log lines
(hidden otherwise, see `genkit.quiet_tf`). Output piped into a reader that stops early
(`genkit layers | head`) ends the command quietly, as a Unix tool does.
"""

from __future__ import annotations

import os
import sys

from genkit.cli.common import DEBUG
from genkit.cli.parser import build_parser
from genkit.errors import GenkitError, SpecError
from genkit.quiet_tf import tensorflow_logs

__all__ = ["build_parser", "main"]

PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a process a closed pipe ended


def main(argv=None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # here, so a closed pipe shows inside the try and not at interpreter exit
    except BrokenPipeError:
        # The reader closed the pipe (`genkit layers | head`). Python ignores SIGPIPE, so the
        # write raised instead of ending the process; point stdout at devnull so the exit's own
        # flush cannot raise again, and exit as a process ended by SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED


def _run(argv) -> int:
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
