#!/usr/bin/env python3
"""IAM proven both ways: each function's policy in the SAM-transformed template against the AWS
calls its code made while `make test` ran (recorded by the functions themselves when
AWAKNOW_AWS_CALL_LOG is set: one JSON line per permission a call needs, see the core's
`aws::call_log`).

  - a permission called but not granted fails: the first deploy would answer AccessDenied;
  - a permission granted but never called fails: privilege nothing needs, or a path no test
    takes. A function's `Metadata: IamNotCalled:` entry (`Action`, `Reason`) excuses one.

The template's resources are resolved to the local stack's (TABLE_NAME, RECORDINGS_BUCKET,
TAVUS_SECRET_ID from the environment), with the stack's optional features on (Recordings), the
way make test runs it. The AWS managed policy every function has (AWSLambdaBasicExecutionRole:
Lambda's own log delivery) is not the code's and is left out.

usage: iam-check.py TRANSFORMED.json CALLS.jsonl
       iam-check.py --selftest
"""

import json
import os
import re
import sys

REGION, ACCOUNT = "REGION", "ACCOUNT"
FEATURES_ON = {"Recordings": "on"}


class Resolver:
    """Evaluates the intrinsic functions a policy uses, against the local stack's names."""

    def __init__(self, template, names):
        self.template = template
        self.params = {
            name: FEATURES_ON.get(name, spec.get("Default", ""))
            for name, spec in template.get("Parameters", {}).items()
        }
        self.names = names  # logical id -> (Ref value, Arn)
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "stack",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return str(self.params[name])
        if name in self.names:
            return self.names[name][0]
        return f"unknown-{name}"

    def attribute(self, name, attribute):
        if attribute == "Arn" and name in self.names:
            return self.names[name][1]
        return f"arn:unknown:{name}.{attribute}"

    def sub(self, text, variables):
        def one(match):
            key = match.group(1)
            if key in variables:
                return str(self.value(variables[key]))
            if "." in key:
                return self.attribute(*key.split(".", 1))
            return self.ref(key)

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def value(self, node):
        """The value of a node, or None for AWS::NoValue."""
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return None if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attribute(name, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self.sub(text, variables)
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                a, b = (self.value(x) for x in arg)
                return a == b
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(x) for x in arg)
            if key == "Fn::Or":
                return any(self.value(x) for x in arg)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.value(parts))
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not None}


def local_names(env):
    table, bucket, secret = env["TABLE_NAME"], env.get("RECORDINGS_BUCKET", ""), env["TAVUS_SECRET_ID"]
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    secret_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}"
    return {
        "SessionsTable": (table, table_arn),
        "RecordingsBucket": (bucket, f"arn:aws:s3:::{bucket}"),
        "TavusSecret": (secret_arn, secret_arn),
    }


def pattern(glob, ignore_case=False):
    """An IAM wildcard (`*`, `?`, matching across `/` too) as a regular expression: actions
    match whatever their case, resources (ARNs) exactly."""
    flags = re.I if ignore_case else 0
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + r"\Z", flags)


def as_list(x):
    return x if isinstance(x, list) else [x]


def grants(resolver, role):
    """(action pattern, resource pattern) of every Allow in the role's own policies."""
    found = []
    for policy in as_list(resolver.value(role["Properties"].get("Policies", []))):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            unsupported = {"NotAction", "NotResource", "Condition"} & set(statement)
            if unsupported or statement.get("Effect") != "Allow":
                # This check reads Allow statements of actions on resources; anything else
                # would be judged wrongly, so it is refused rather than skipped.
                what = sorted(unsupported) or statement.get("Effect")
                raise SystemExit(f"iam-check: a statement this check cannot judge ({what}): {statement}")
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    found.append((action, resource))
    return found


def functions(template):
    """binary name -> (logical id, role logical id, excused actions with their reasons)."""
    found = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        metadata = resource.get("Metadata", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
        role = resource["Properties"]["Role"]
        if not binary or not (isinstance(role, dict) and "Fn::GetAtt" in role):
            continue
        excused = {e["Action"]: e["Reason"] for e in metadata.get("IamNotCalled", [])}
        found[binary] = (logical, role["Fn::GetAtt"][0], excused)
    return found


def check(template, calls, env, out=sys.stdout):
    """Returns the list of failures; prints each function's table."""
    resolver = Resolver(template, local_names(env))
    failures = []
    by_function = {}
    for call in calls:
        by_function.setdefault(call["function"], set()).add((call["action"], call["resource"]))
    known = functions(template)
    for name in sorted(set(by_function) - set(known)):
        failures.append(f"{name}: calls recorded for a function the template does not have")
    for binary, (logical, role, excused) in sorted(known.items()):
        called = by_function.get(binary, set())
        granted = grants(resolver, template["Resources"][role])
        matchers = [(a, r, pattern(a, ignore_case=True), pattern(r)) for a, r in granted]
        print(f"\n{binary} ({logical}): {len(called)} permissions called, {len(granted)} granted", file=out)
        for action, resource in sorted(called):
            ok = any(pa.match(action) and pr.match(resource) for _, _, pa, pr in matchers)
            print(f"  {'ok ' if ok else 'NO '} called  {action}  {resource}", file=out)
            if not ok:
                failures.append(f"{binary}: calls {action} on {resource}, which its policy does not grant")
        for action, resource, pa, pr in matchers:
            used = any(pa.match(a) and pr.match(r) for a, r in called)
            if used:
                continue
            if action in excused:
                print(f"  --  granted {action}  {resource}  (not called: {excused[action]})", file=out)
                continue
            print(f"  NO  granted {action}  {resource}  (never called)", file=out)
            failures.append(f"{binary}: is granted {action} on {resource}, which no call needed "
                            f"(remove it, test the path that needs it, or excuse it in IamNotCalled)")
    return failures


def selftest():
    template = {
        "Parameters": {"Recordings": {"Default": "off"}},
        "Conditions": {"HasRecordings": {"Fn::Equals": [{"Ref": "Recordings"}, "on"]}},
        "Resources": {
            "F": {"Type": "AWS::Lambda::Function",
                  "Metadata": {"BuildProperties": {"Binary": "f"},
                               "IamNotCalled": [{"Action": "sqs:SendMessage", "Reason": "Lambda's"}]},
                  "Properties": {"Role": {"Fn::GetAtt": ["FRole", "Arn"]}}},
            "FRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
                {"PolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Action": ["dynamodb:GetItem"],
                     "Resource": {"Fn::GetAtt": ["SessionsTable", "Arn"]}},
                    {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:*"}]}},
                {"Fn::If": ["HasRecordings",
                            {"PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "s3:Get*",
                             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${RecordingsBucket}/*"}}}},
                            {"Ref": "AWS::NoValue"}]}]}},
        },
    }
    env = {"TABLE_NAME": "t", "RECORDINGS_BUCKET": "b", "TAVUS_SECRET_ID": "s"}
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"
    get = {"function": "f", "action": "dynamodb:GetItem", "resource": table}
    s3 = {"function": "f", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k/v.mp4"}
    quiet = open(os.devnull, "w")
    cases = [
        ("every grant called, the rest excused", [get, s3], 0),
        ("a call not granted", [get, s3, {"function": "f", "action": "dynamodb:PutItem", "resource": table}], 1),
        ("a call on another table", [get, s3, {"function": "f", "action": "dynamodb:GetItem", "resource": table + "x"}], 1),
        ("a grant never called (with the feature on)", [get], 1),
        ("a function the template does not have", [get, s3, dict(get, function="g")], 1),
    ]
    for name, calls, expected in cases:
        got = len(check(template, calls, env, out=quiet))
        if got != expected:
            print(f"iam-check selftest: {name}: {got} failures, expected {expected}", file=sys.stderr)
            return 1
    print("iam-check selftest: ok")
    return 0


def main(argv):
    if argv[1:] == ["--selftest"]:
        return selftest()
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        template = json.load(f)
    with open(argv[2]) as f:
        calls = [json.loads(line) for line in f if line.strip()]
    if not calls:
        print("iam-check: no calls were recorded (was AWAKNOW_AWS_CALL_LOG given to the functions?)", file=sys.stderr)
        return 1
    failures = check(template, calls, os.environ)
    if failures:
        print(f"\niam-check: {len(failures)} differences between the policies and the calls:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print("\niam-check: every call is granted and every grant is called (or excused)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
