"""``python -m mfa.cli``: the same as the ``mfa`` command."""

import sys

from mfa.cli import main

if __name__ == "__main__":  # imported alone (tests import every module): do nothing
    sys.exit(main())
