"""``python -m lib.cli``."""

from lib.cli.main import main

raise SystemExit(main())
