"""``python -m openlfr.cli``: the same command as the ``openlfr`` script."""

from openlfr.cli.main import main

main()
