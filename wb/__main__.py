"""python3 -m wb COMMAND: the workbench's stages, one command each.

Every expected failure is a WorkbenchError, printed as one paragraph with a
non-zero exit; a traceback means a bug in the workbench itself.
"""

import argparse
import os
import sys

import contextlib

from . import commands
from .errors import WorkbenchError
from .lock import for_command
from .layout import Layout
from .util import die


def main(argv=None):
    p = argparse.ArgumentParser(prog="wb", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("JOBS") or
                                                         os.cpu_count() or 2))
    sub = p.add_subparsers(dest="command", required=True)
    for name, fn in commands.COMMANDS.items():
        sp = sub.add_parser(name, help=fn.__doc__.strip().split("\n")[0])
        for args, kwargs in getattr(fn, "options", ()):
            sp.add_argument(*args, **kwargs)
        sp.set_defaults(fn=fn)
    args = p.parse_args(argv)
    layout = Layout.from_env()
    try:
        with for_command(layout, args.command) or contextlib.nullcontext():
            return args.fn(layout, args) or 0
    except WorkbenchError as e:
        die(e)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == "__main__":
    sys.exit(main())
