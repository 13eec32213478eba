"""`python -m tessera worker ADDRESS ...`: run a Tessera scheduler or worker in this
Python process, so Python kernels (`map_blocks` functions) run next to the data."""

import signal
import sys

from tessera import _core

# Processes started by a LocalCluster get this flag: they ignore Ctrl-C (the terminal
# sends SIGINT to the whole process group) and are stopped by their cluster instead.
MANAGED_FLAG = "--managed-by-cluster"


def main() -> None:
    """Run the command line given in `sys.argv`, as the `tessera` binary would."""
    args = sys.argv[1:]
    if args and args[0] == MANAGED_FLAG:
        args = args[1:]
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        # The Rust role holds the main thread, so Python's handler would never run:
        # let Ctrl-C stop a worker started by hand.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    _core.run_cli(["tessera", *args])


if __name__ == "__main__":
    main()
