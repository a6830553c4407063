#!/usr/bin/python3
"""Fail when ctest skipped a test that must run.

    check_skips.py JUNIT.xml [ALLOW_REGEX]

JUNIT.xml is ctest's --output-junit report. A test skips by exiting 77 (SKIP_RETURN_CODE): it
could not do its check (no tmpfs without root, say). ctest counts that as "not run" and still
exits 0, so run-tests.sh calls this to turn a skip into a failure, unless the test's name matches
ALLOW_REGEX (run-tests.sh passes TOKFS_ALLOW_SKIP; empty: nothing may skip, as in CI).
"""
import re
import sys
import xml.etree.ElementTree as ET

report, allow = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
skipped = [tc.get("name") for tc in ET.parse(report).getroot().iter("testcase")
           if tc.find("skipped") is not None or tc.get("status") == "notrun"]
bad = [name for name in skipped if not (allow and re.search(allow, name))]
for name in skipped:
    print("check_skips: %s was skipped%s" % (name, "" if name in bad else " (allowed by TOKFS_ALLOW_SKIP)"))
if bad:
    sys.exit("check_skips: %d test(s) skipped that must run: %s (see 'SKIP:' in their output; "
             "TOKFS_ALLOW_SKIP=REGEX allows named skips on a machine that cannot run them)"
             % (len(bad), ", ".join(bad)))
