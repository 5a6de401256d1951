#!/usr/bin/env python3
"""Regenerates the "Remaining s3-tests failures" table of docs/s3-compatibility.md (§3)
from tests/s3-tests/expected-failures.txt, so the two never disagree.

Usage: scripts/s3tests-table.py [--check]

One row per distinct reason, in the file's words (header names such as x-amz-acl in
backticks), largest first, with the count and the tests. The last column (kind and
notes) is kept from the current table, matched by reason; a new reason gets
"*not implemented yet*" or "*deliberate difference*" from its wording and a TODO note.
The summary sentence above the table is rewritten too. --check changes nothing and exits
1 if the document is out of date.
"""

import re
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "tests/s3-tests/expected-failures.txt"
DOC = ROOT / "docs/s3-compatibility.md"
HEADER = "| Reason (as in the file) | Count | Tests | Kind |"
SUMMARY = re.compile(r"At the time of writing the file lists .*?\n\n", re.S)


def load_list():
    reasons = OrderedDict()
    for line in LIST.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, reason = line.split(None, 1)
        reasons.setdefault(reason.strip(), []).append(name)
    return reasons


def markup(reason):
    """The reason as the table shows it: header names in backticks."""
    return re.sub(r"(?<![`\w])(x-amz-[a-z0-9*-]+)", r"`\1`", reason)


def plain(cell):
    return cell.replace("`", "").strip()


def main():
    check = "--check" in sys.argv[1:]
    doc = DOC.read_text(encoding="utf-8")
    start = doc.index(HEADER)
    end = doc.index("| **Total** |", start)
    end = doc.index("\n", end) + 1
    notes = {}
    for row in doc[start:end].splitlines()[2:-1]:
        cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
        notes[plain(cells[0])] = cells[-1]
    reasons = load_list()
    rows = sorted(reasons.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = [HEADER, "|---|---:|---|---|"]
    todo, open_work = 0, 0
    for reason, tests in rows:
        is_open = reason.startswith("not implemented yet")
        open_work += len(tests) if is_open else 0
        note = notes.get(plain(reason))
        if note is None:
            todo += 1
            kind = "*not implemented yet*" if is_open else "*deliberate difference*"
            note = f"{kind}. TODO: explain."
        names = ", ".join(f"`{t}`" for t in sorted(tests))
        out.append(f"| {markup(reason)} | {len(tests)} | {names} | {note} |")
    total = sum(len(t) for t in reasons.values())
    out.append(f"| **Total** | **{total}** | | |")
    table = "\n".join(out) + "\n"
    summary = textwrap.fill(
        f"At the time of writing the file lists {total} tests under {len(reasons)} reasons: "
        f"{open_work} *not implemented yet* and {total - open_work} *deliberate differences*.",
        width=90,
    ) + "\n\n"
    new = doc[:start] + table + doc[end:]
    new = SUMMARY.sub(lambda _: summary, new, count=1)
    if check:
        if new != doc:
            print(f"{DOC} is out of date: run scripts/s3tests-table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    if todo:
        print(f"{todo} new reason(s): fill in their TODO notes in {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
