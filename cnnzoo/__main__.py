"""``python -m cnnzoo``: the ``cnnzoo`` console script, for an interpreter whose scripts
folder is not on ``PATH`` (a venv used without activating it, a tool launching runs)."""

import sys

from cnnzoo.cli import main

sys.exit(main())
