"""Bullseye from the command line, for automation.

    python -m lib.cli check --input FILE [--sep S] [--encoding E] [--sheet NAME]
    python -m lib.cli run --input FILE --out DIR [--target COL] [--positive V] [--id COL] ...
    python -m lib.cli run ... --save-model PATH      (also writes the model file)
    python -m lib.cli score --model PATH --input FILE --out DIR [--id COL] [--top N | --top-pct P] ...
    python -m lib.cli results --campaign NAME --input FILE [--data-dir DIR]
    run/score ... --pseudonymise    (every id replaced by a keyed pseudonym; no personal data written)

The CLI only maps its flags to the settings of ``lib.flow.pipeline``'s steps and writes their results.

Exit codes: 0 done; 2 bad input (one ``error:`` line on stderr saying what and what to do); 1 a bug.
"""

from lib.cli.main import main
from lib.cli.parser import EXIT_BAD_INPUT, EXIT_BUG, EXIT_OK, build_parser

__all__ = ["EXIT_BAD_INPUT", "EXIT_BUG", "EXIT_OK", "build_parser", "main"]
