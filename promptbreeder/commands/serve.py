"""`promptbreeder serve [--model smollm2-135m] [--host 127.0.0.1] [--port 8080] [--cuda]`: serve a model as an
LMQL inference server for runs on `lmql-serve:<model>@host:port,...`.

The same as `lmql serve-model <folder>`, but the model is named the way promptbreeder names models (the
embedded default, a Hugging Face folder or a .gguf file, converted once), nothing is downloaded, and the
patches promptbreeder applies to LMQL 0.7.3 are applied here too. `main` blocks while serving; a model that
cannot be resolved is a `ModelError`. `python -m promptbreeder.commands.serve ...` works too.
"""

from __future__ import annotations

import argparse
import sys

PROG = "promptbreeder serve"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serve a model as an LMQL inference server for runs on"
                               " lmql-serve:<model>@host:port,... (nothing is downloaded).")
    parser.add_argument("--model", default="smollm2-135m", help="model to serve (default: smollm2-135m)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--cuda", action="store_true", help="load the model on the GPU")
    parser.add_argument("--verbose", action="store_true", help="show a traceback when something fails")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from promptbreeder.backends import models  # deferred: --help should not wait for the backends

    models.offline()
    folder = models.resolve_model(args.model).local_dir()  # before LMQL loads: a bad name fails fast
    from promptbreeder.backends.lmql import fixes

    fixes.apply()
    from lmql.models.lmtp.lmtp_serve import serve

    print(f"serving {folder} on {args.host}:{args.port}", flush=True)
    serve(folder, host=args.host, port=args.port, cuda=args.cuda, static=True)
    return 0


if __name__ == "__main__":
    from promptbreeder import cli  # errors become one line and an exit code there, as for `promptbreeder serve`

    sys.exit(cli.main(["serve", *sys.argv[1:]]))
