"""Serve a model as an LMQL inference server for runs on `lmql-serve:<model>@host:port,...`.

    python -m promptbreeder.serve [--model smollm2-135m] [--host 127.0.0.1] --port 8080

The same as `lmql serve-model <folder>`, but the model is named the way promptbreeder names models (the
embedded default, a Hugging Face folder or a .gguf file, converted once), nothing is downloaded, and the
patches promptbreeder applies to LMQL 0.7.3 are applied here too.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m promptbreeder.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="model to serve (default: smollm2-135m)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--cuda", action="store_true", help="load the model on the GPU")
    args = parser.parse_args(argv)

    from promptbreeder.backends import lmql_fixes, models
    from promptbreeder.errors import PromptbreederError

    try:
        models.offline()
        spec = models.resolve_model(args.model)
        folder = spec.local_dir()
    except PromptbreederError as exc:
        print(f"promptbreeder.serve: error: {exc}", file=sys.stderr)
        return exc.exit_code
    lmql_fixes.apply()
    from lmql.models.lmtp.lmtp_serve import serve

    print(f"serving {folder} on {args.host}:{args.port}", flush=True)
    serve(folder, host=args.host, port=args.port, cuda=args.cuda, static=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
