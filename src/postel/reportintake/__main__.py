"""The report intake child process (see postel.reportintake.child)."""

import sys

from postel.reportintake.child import main

sys.exit(main(sys.argv))
