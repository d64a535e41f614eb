"""``python -m hub`` is ``mpp-hub``."""

from hub.cli import main

main()
