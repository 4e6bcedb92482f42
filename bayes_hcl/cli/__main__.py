"""``python -m bayes_hcl.cli``: the same as the ``bayes-hcl`` command."""

import sys

from bayes_hcl.cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
