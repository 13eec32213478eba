"""`python -m tessera worker ADDRESS ...`: run a Tessera scheduler or worker in this
Python process, so Python kernels (`map_blocks` functions) run next to the data."""

import sys

from tessera import _core


def main() -> None:
    """Run the command line given in `sys.argv`, as the `tessera` binary would."""
    _core.run_cli(["tessera", *sys.argv[1:]])


if __name__ == "__main__":
    main()
