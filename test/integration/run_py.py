"""Runs one Python test module and prints a closing "N passed, N failed" line."""

import os
import sys
import unittest

path = sys.argv[1]
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
name = os.path.splitext(os.path.basename(path))[0]
suite = unittest.defaultTestLoader.loadTestsFromName(name)
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors)
skipped = len(result.skipped)
print("%d passed, %d failed, %d skipped" % (result.testsRun - failed - skipped, failed, skipped))
sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
