"""`python -m postel`: the same as the `postel` command."""

from postel.cli.main import main

main()
