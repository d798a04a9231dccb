"""The entry point: parse, set the language, run the command, one error line and an exit code."""

from __future__ import annotations

import logging
import sys
import traceback
import uuid

from lib.cli.commands import cmd_check, cmd_results, cmd_run, cmd_score
from lib.cli.parser import EXIT_BAD_INPUT, EXIT_BUG, EXIT_OK, build_parser
from lib.errors import DataValidationError
from lib.text.i18n import set_language, t


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    set_language(args.lang)
    handler = {"check": cmd_check, "run": cmd_run, "score": cmd_score, "results": cmd_results}[args.command]
    try:
        return handler(args)
    except BrokenPipeError:
        return _reader_left()
    except DataValidationError as exc:
        sys.stderr.write("error: " + " ".join(str(exc).split()) + "\n")
        return EXIT_BAD_INPUT
    except MemoryError:
        sys.stderr.write("error: " + t("the file is too large for the memory of this machine; split it or drop columns.") + "\n")
        return EXIT_BAD_INPUT
    except OSError as exc:  # the system refused a file (read or write) outside what the steps check
        where = f" {exc.filename}" if exc.filename else ""
        sys.stderr.write("error: " + t("cannot use the file{where}: {reason}.", where=where,
                                       reason=exc.strerror or exc) + "\n")
        return EXIT_BAD_INPUT
    except Exception:  # a bug: keep the traceback for the developer, one line for the user
        error_id = uuid.uuid4().hex[:8]
        sys.stderr.write(traceback.format_exc())
        sys.stderr.write(f"error: internal error {error_id}; please report it with the traceback above.\n")
        return EXIT_BUG


def _reader_left() -> int:
    """The output was piped into a reader that stopped early (``| head``): end quietly, as ``cat`` does.
    stdout is pointed at /dev/null so that Python's own flush at exit does not fail a second time."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_OK
