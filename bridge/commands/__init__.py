"""One module per ``promptbridge`` subcommand: ``HELP``-less ``add_arguments`` and ``run``."""
