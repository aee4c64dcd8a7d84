"""`python -m promptbreeder`: the same as the `promptbreeder` command (breeding and every other command)."""

from promptbreeder.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
