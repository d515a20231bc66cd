"""A short soak (soak.py): a minute of mixed legitimate and hostile load against one
server, after which it must be back within bounds of where it started, with no worker
replaced and no legitimate request failed.  TESSERA_SOAK_SECONDS sets the length;
tools/soak runs it for minutes."""
import os

import soak

SECONDS = int(os.environ.get("TESSERA_SOAK_SECONDS", "60"))


def test_soak(server):
    srv = server(workers=2, config=soak.CONFIG)
    report, problems = soak.run(srv, SECONDS)
    print(report)
    assert not problems, "\n".join(problems) + f"\n{report}"
