"""
Deadlines of the integration tests, stretched for slow builds: TESSERA_TEST_SLOW=N (tools/test
sets 3 for its AddressSanitizer pass, whose tesserad runs several times slower) multiplies
every time a test waits for something to happen, never a time it watches for something not
to happen (an idle connection staying open, a timeout not firing early).
"""
import os

SLOW = float(os.environ.get("TESSERA_TEST_SLOW") or 1)


def slow(seconds):
    """seconds, stretched by TESSERA_TEST_SLOW: for deadlines only."""
    return seconds * SLOW
