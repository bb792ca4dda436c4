"""`python -m picochat` runs the CLI."""

import sys

from picochat.cli.main import main

sys.exit(main())
