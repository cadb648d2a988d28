"""``python -m bench.faults``: the same as ``python -m bench faults``."""
import sys

from . import main

sys.exit(main())
