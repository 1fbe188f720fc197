"""The status and control API and its web page (``--status HOST:PORT``). See ``server``."""
