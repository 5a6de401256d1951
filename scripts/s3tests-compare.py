#!/usr/bin/env python3
"""Compares an s3-tests run (results.tsv of ../shared/tools/s3tests.sh) with the
committed list of expected failures (tests/s3-tests/expected-failures.txt).

Usage: s3tests-compare.py RESULTS_TSV EXPECTED_FAILURES [--suite S3TESTS_DIR] [--write]

The list holds one test per line, `test_name<whitespace>reason`; `#` starts a comment.
Every listed test needs a reason. The run fails (exit 1) when
  * a test fails that is not listed (a regression, or a new test to triage), or
  * a listed test passes (remove it from the list: the list only ever shrinks), or
  * a listed test was not run at all (stale entry), or an entry has no reason.
Skipped tests are neither. Prints the pass rate over the tests that ran, with and
without SigV2 (refused by design): the SigV2 header tests (marker `auth_aws2`) and, with
--suite, also the form-upload tests signed with SigV2 (those whose source in the suite
sends an `AWSAccessKeyId` form field), whatever their outcome.

--write rewrites nothing; it prints list lines for unlisted failures (reason TODO) to
paste after triage.
"""

import ast
import pathlib
import sys


def load_expected(path):
    expected, problems = {}, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
            if not line:
                continue
            parts = line.split(None, 1)
            name = parts[0]
            reason = parts[1].strip() if len(parts) > 1 else ""
            if not reason:
                problems.append(f"{path}:{n}: {name} has no reason")
            if name in expected:
                problems.append(f"{path}:{n}: {name} is listed twice")
            expected[name] = reason
    return expected, problems


def load_results(path):
    results = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 2 or cols[0] == "test":
                continue
            # Keyed by the bare test name (unique across test_s3.py and test_headers.py).
            results[cols[0].rsplit("::", 1)[-1]] = (cols[1], cols[2] if len(cols) > 2 else "")
    return results


def sigv2_form_tests(suite):
    """Tests of the s3-tests checkout `suite` that sign a form upload with SigV2."""
    names = set()
    for path in pathlib.Path(suite).glob("s3tests*/functional/test_*.py"):
        src = path.read_text(encoding="utf-8")
        lines = src.splitlines()
        for node in ast.parse(src).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                # Sliced by line numbers: ast.get_source_segment rescans the whole
                # file per call (minutes on test_s3.py).
                body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                if "AWSAccessKeyId" in body:
                    names.add(node.name)
    return names


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    results = load_results(argv[1])
    expected, problems = load_expected(argv[2])
    if not results:
        print(f"no results in {argv[1]}", file=sys.stderr)
        return 1
    failed = {t for t, (o, _) in results.items() if o in ("failed", "error")}
    passed = {t for t, (o, _) in results.items() if o == "passed"}
    ran = failed | passed
    sigv2 = {t for t, (_, m) in results.items() if "auth_aws2" in m.split(",")}

    unexpected_fail = sorted(failed - expected.keys())
    unexpected_pass = sorted(passed & expected.keys())
    stale = sorted(expected.keys() - results.keys())
    for t in unexpected_fail:
        problems.append(f"REGRESSION (or new, untriaged): {t} failed and is not listed")
    for t in unexpected_pass:
        problems.append(f"UNEXPECTED PASS: {t} passed; remove it from the list")
    for t in stale:
        problems.append(f"STALE: {t} is listed but did not run")

    d = len(ran - sigv2)
    p = len(passed - sigv2)
    line = (
        f"s3-tests: {len(passed)} passed, {len(failed)} failed of {len(ran)} run; "
        f"without the SigV2 header tests: {p}/{d} = {100.0 * p / max(d, 1):.2f}%"
    )
    if "--suite" in argv:
        forms = sigv2_form_tests(argv[argv.index("--suite") + 1]) & ran
        d2 = len(ran - sigv2 - forms)
        p2 = len(passed - sigv2 - forms)
        line += (
            f"; without any SigV2 ({len(forms)} SigV2 form uploads too): "
            f"{p2}/{d2} = {100.0 * p2 / max(d2, 1):.2f}%"
        )
    print(line)
    if "--write" in argv:
        for t in unexpected_fail:
            print(f"{t}\tTODO")
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
