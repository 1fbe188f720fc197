"""``python -m bridge`` runs the ``promptbridge`` command line."""

from bridge.cli import main

raise SystemExit(main())
