"""
Runs tessera's integration tests (pytest, on tests/integ) and reports them as TAP for
automake's tap-driver: "1..N", then "ok K - name" / "not ok K - name" per test case (a skip
is "ok K - name # SKIP reason"), with pytest's own output as "# " comment lines.  Run by
tests/integ/run from `make check` with TESSERAD (the binary) and TOP_SRCDIR set.

It must not pass silently: if pytest crashes, times out or collects nothing, the plan is
"1..1" and the one test is "not ok".  Exit status 0 only when every test passed.
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from slow import slow

HERE = pathlib.Path(__file__).resolve().parent
OVERALL_TIMEOUT = slow(900)  # seconds; every wait inside the tests has its own, much shorter


def comment(text):
    for line in text.splitlines():
        print(f"# {line}".rstrip())


def tap_name(case):
    cls = case.get("classname", "")
    name = case.get("name", "?")
    module = cls.rsplit(".", 1)[-1] if cls else ""
    text = f"{module}::{name}" if module else name
    # "#" would start a TAP directive; keep names on one line.
    return " ".join(text.replace("#", "_").split())


def results(junit_path):
    """(name, status, reason) per test case, status in ok/fail/skip."""
    root = ET.parse(junit_path).getroot()
    out = []
    for case in root.iter("testcase"):
        status, reason = "ok", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status = "fail"
                reason = child.get("message", "") or child.tag
                break
            if child.tag == "skipped" and status == "ok":
                status = "skip"
                reason = child.get("message", "") or "skipped"
        out.append((tap_name(case), status, " ".join(reason.split())))
    return out


def did_not_run(why):
    print("1..1")
    print("not ok 1 - pytest did not run")
    comment(why)
    return 1


def main():
    env = dict(os.environ)
    env.setdefault("TOP_SRCDIR", str(HERE.parent.parent))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the source tree
    with tempfile.TemporaryDirectory(prefix="tessera-integ-") as tmp:
        junit = pathlib.Path(tmp) / "junit.xml"
        cmd = [
            sys.executable, "-m", "pytest", str(HERE),
            "--rootdir", str(HERE), "-c", os.devnull,
            "-p", "no:cacheprovider",
            "-o", "junit_family=xunit2",
            f"--junitxml={junit}",
            "-q", "-rfEs", "--tb=short", "--durations=5",
            f"--basetemp={pathlib.Path(tmp) / 'pytest'}",
        ]
        try:
            proc = subprocess.run(
                cmd, env=env, cwd=HERE, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace", timeout=OVERALL_TIMEOUT,
            )
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
            return did_not_run(f"pytest timed out after {OVERALL_TIMEOUT} s\n{out or ''}")
        except OSError as e:
            return did_not_run(f"cannot run {sys.executable}: {e}")
        if not junit.exists():
            return did_not_run(f"pytest exited {proc.returncode} without a report\n{proc.stdout}")
        try:
            cases = results(junit)
        except ET.ParseError as e:
            return did_not_run(f"unreadable pytest report: {e}\n{proc.stdout}")
    if not cases:
        return did_not_run(f"pytest collected no tests (exit {proc.returncode})\n{proc.stdout}")
    # pytest's verdict counts too: a failure it reports outside any test case (a crash
    # in a plugin, an internal error) adds one failing line.
    extra = proc.returncode not in (0, 1) or (
        proc.returncode == 1 and all(s != "fail" for _, s, _ in cases)
    )
    print(f"1..{len(cases) + (1 if extra else 0)}")
    failed = 0
    for k, (name, status, reason) in enumerate(cases, 1):
        if status == "ok":
            print(f"ok {k} - {name}")
        elif status == "skip":
            print(f"ok {k} - {name} # SKIP {reason}")
        else:
            failed += 1
            print(f"not ok {k} - {name}")
            comment(f"  {reason[:500]}")
    if extra:
        failed += 1
        print(f"not ok {len(cases) + 1} - pytest exited with status {proc.returncode}")
    comment(proc.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
