"""`python -m empycustom.cli`: the `empycustom` command."""

from empycustom.cli.main import main

raise SystemExit(main())
