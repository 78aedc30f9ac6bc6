"""Reads checkov's JSON report and decides: every failed check is printed (id, resource, file
and lines, what it wants) and fails the run, and so does a skip without a reason: each skip in
template.yaml is `Metadata: checkov: skip: [{id, comment}]`, and the comment is the reason.

usage: checkov_report.py REPORT.json
"""

import json
import os
import sys

# What checkov records for a skip that has an id and no comment.
NO_COMMENT = {"", "no comment provided"}


def reports(document):
    # One framework gives an object, several a list of them; a run with nothing to check can
    # give a bare summary.
    return document if isinstance(document, list) else [document]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            document = json.load(f)
    except (OSError, ValueError) as error:
        print(f"checkov: no readable report ({error}); see its output above", file=sys.stderr)
        return 1
    passed = failed = skipped = parsed = 0
    problems = []
    for report in reports(document):
        summary = report.get("summary", {})
        parsed += summary.get("resource_count", 0)
        if summary.get("parsing_errors"):
            problems.append(f"checkov could not parse {summary['parsing_errors']} file(s)")
        results = report.get("results", {})
        passed += len(results.get("passed_checks", []))
        for check in results.get("failed_checks", []):
            failed += 1
            lines = "-".join(str(n) for n in check.get("file_line_range", []))
            problems.append(
                f"FAILED {check['check_id']} on {check['resource']} ({os.path.basename(check.get('file_path', '?'))}:{lines}): "
                f"{check['check_name']}"
            )
        for check in results.get("skipped_checks", []):
            skipped += 1
            comment = (check.get("check_result", {}).get("suppress_comment") or "").strip()
            if comment.lower() in NO_COMMENT:
                problems.append(
                    f"SKIPPED WITHOUT A REASON {check['check_id']} on {check['resource']} "
                    f"({os.path.basename(check.get('file_path', '?'))}): give the skip a comment"
                )
    if parsed == 0:
        problems.append("checkov found no resources to check")
    for problem in problems:
        print(f"checkov: {problem}")
    print(f"checkov: {failed} failed checks; {passed} passed, {skipped} skipped with a reason each")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
