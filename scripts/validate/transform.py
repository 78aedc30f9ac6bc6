"""Runs the SAM transform offline and writes the CloudFormation it produces, so cfn-lint can
check what SAM generates (schedules, roles, permissions), which it does not check before the
transform. No AWS credentials are needed.

usage: transform.py TEMPLATE OUTPUT.json
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicyLoader:
    """The transform only asks for managed policy ARNs when a function names one by its short
    name; this template names none, so an empty map is the truth, not a stub."""

    def load(self):
        return {}


def local_code_to_s3(template):
    # The transform wants an S3 location where `sam build`/`sam deploy` would upload the code.
    globals_fn = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_fn:
        globals_fn["CodeUri"] = "s3://awaknow-artifacts/code.zip"
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if isinstance(props.get("CodeUri"), str) and not props["CodeUri"].startswith("s3://"):
                props["CodeUri"] = "s3://awaknow-artifacts/code.zip"


CRON_FIELDS = [
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 1, 7),
    ("year", 1970, 2199),
]
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()


def cron_errors(expression):
    """What is wrong with an EventBridge cron(...) expression (its documented rules): six
    fields, values in range, and exactly one of day-of-month and day-of-week given as '?'."""
    fields = expression.split()
    if len(fields) != 6:
        return [f"{expression!r} has {len(fields)} fields, EventBridge cron needs 6"]
    errors = []
    for (name, low, high), field in zip(CRON_FIELDS, fields):
        if field == "?":
            if name not in ("day-of-month", "day-of-week"):
                errors.append(f"'?' is only allowed in day-of-month and day-of-week, not {name}")
            continue
        for part in field.split(","):
            base, _, step = part.partition("/")
            if step and not step.isdigit():
                errors.append(f"{name}: bad step {step!r}")
            if base == "*" or (name in ("day-of-month", "day-of-week") and base in ("L", "LW")):
                continue
            if name == "day-of-week" and "#" in base:
                base = base.split("#")[0]
            if name == "day-of-month" and base.endswith("W"):
                base = base[:-1]
            for value in base.split("-"):
                names = MONTHS if name == "month" else DAYS if name == "day-of-week" else []
                number = names.index(value.upper()) + 1 if value.upper() in names else int(value) if value.isdigit() else None
                if number is None or not low <= number <= high:
                    errors.append(f"{name}: {value!r} is not in {low}-{high}")
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        errors.append("exactly one of day-of-month and day-of-week must be '?' (this one specifies both or neither)")
    return errors


def schedule_errors(template):
    errors = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") not in ("AWS::Scheduler::Schedule", "AWS::Events::Rule"):
            continue
        expression = resource.get("Properties", {}).get("ScheduleExpression")
        if not isinstance(expression, str):
            continue
        if expression.startswith("cron(") and expression.endswith(")"):
            errors += [f"{name}: {e}" for e in cron_errors(expression[5:-1])]
        elif expression.startswith("rate(") and expression.endswith(")"):
            value, _, unit = expression[5:-1].partition(" ")
            if not value.isdigit() or int(value) < 1 or unit not in ("minute", "minutes", "hour", "hours", "day", "days"):
                errors.append(f"{name}: bad rate expression {expression!r}")
            elif (int(value) == 1) != (unit in ("minute", "hour", "day")):
                errors.append(f"{name}: {expression!r} (1 takes a singular unit, more a plural)")
        elif not expression.startswith("at("):
            errors.append(f"{name}: {expression!r} is not cron(), rate() or at()")
    return errors


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method")


def http_api_errors(template):
    """What CloudFormation would only refuse at deploy time, or not at all: a RouteSettings key
    naming no route of its API ("Unable to find Route by key"), and an access log format that is
    not one JSON object with the request id, or that names a header (Authorization must never be
    logged)."""
    resources = template.get("Resources", {})
    errors = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::ApiGatewayV2::Stage":
            continue
        props = resource.get("Properties", {})
        api_ref = props.get("ApiId", {})
        api = resources.get(api_ref.get("Ref", ""), {}) if isinstance(api_ref, dict) else {}
        paths = api.get("Properties", {}).get("Body", {}).get("paths", {})
        routes = {
            f"{'ANY' if method == 'x-amazon-apigateway-any-method' else method.upper()} {path}"
            for path, operations in paths.items()
            for method in operations
            if method in HTTP_METHODS
        }
        for key in props.get("RouteSettings", {}) or {}:
            if key not in routes and key != "$default":
                errors.append(f"{name}: RouteSettings names {key!r}, which is no route of the API ({', '.join(sorted(routes))})")
        log_format = (props.get("AccessLogSettings") or {}).get("Format")
        if isinstance(log_format, str):
            try:
                fields = json.loads(log_format)
            except ValueError as error:
                errors.append(f"{name}: the access log format is not JSON ({error})")
                continue
            if not isinstance(fields, dict) or "$context.requestId" not in fields.values():
                errors.append(f"{name}: the access log format has no $context.requestId")
            lowered = log_format.lower()
            if "authorization" in lowered or "header" in lowered:
                errors.append(f"{name}: the access log format names a header; Authorization must never be logged")
    return errors


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(sys.argv[1]) as f:
        template = yaml_parse(f.read())
    local_code_to_s3(template)
    try:
        output = transform(template, {}, OfflinePolicyLoader())
    except Exception as error:  # the translator raises its own InvalidDocumentException & co.
        print(f"SAM transform failed: {error}", file=sys.stderr)
        return 1
    with open(sys.argv[2], "w") as f:
        json.dump(output, f, indent=1, default=str)
    # cfn-lint checks cron fields of EventBridge rules only; schedules are checked here.
    errors = schedule_errors(output)
    for error in errors:
        print(f"schedule: {error}", file=sys.stderr)
    api_errors = http_api_errors(output)
    for error in api_errors:
        print(f"http api: {error}", file=sys.stderr)
    errors += api_errors
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
