"""``python -m bitscale`` runs the ``bitscale`` command line."""

from bitscale.cli import main

main()
