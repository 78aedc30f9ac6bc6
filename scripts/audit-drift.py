#!/usr/bin/env python3
"""Makes the books drift on a local stack, one kind at a time, so `make audit` has something to
find: what a bug, a lost callback, an operator's manual change or a restore from a backup would
leave. Never for a deployed stack: it writes behind the ledger's back.

    AWAKNOW_ENV=dev scripts/audit-drift.py KIND [KIND ...]

KIND is one of:
  unheld          a session item is lost (a restore from an old backup); its call runs on
  ended           Tavus ends a call and its shutdown callback never comes
  stray-object    an object no session references appears in the recordings bucket
  missing-object  a recorded call's file disappears from the bucket
  stuck-erasure   an erasure is cut short after its mark
  figures         an account's used minutes are changed by hand
  all             each of the above

It reads the stack from .local/$AWAKNOW_ENV/endpoints.env (written by `make dev-up`), calls the
API with a dev token, the simulator's control routes, and DynamoDB Local and moto with boto3 from
the project's venv (scripts/local-stack.sh installs it). Prints what it made, by ids.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ["unheld", "ended", "stray-object", "missing-object", "stuck-erasure", "figures"]


def die(message):
    print(f"audit-drift: {message}", file=sys.stderr)
    sys.exit(1)


def stack_env():
    name = os.environ.get("AWAKNOW_ENV", "dev")
    path = os.path.join(ROOT, ".local", name, "endpoints.env")
    if not os.path.exists(path):
        die(f"no running stack named {name!r} ({path}): run make dev-up first")
    env = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.strip().partition("=")
            if sep:
                env[key] = value.strip("'")
    return name, env


def boto3_clients(env):
    try:
        import boto3
    except ImportError:
        die("boto3 is missing: run with the venv's python ($AWAKNOW_CACHE/venv/bin/python)")
    common = dict(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    ddb = boto3.client("dynamodb", endpoint_url=env["DYNAMODB_ENDPOINT"], **common)
    s3 = boto3.client("s3", endpoint_url=env["MOTO_ENDPOINT"], **common)
    return ddb, s3


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


class Stack:
    def __init__(self):
        self.name, self.env = stack_env()
        self.ddb, self.s3 = boto3_clients(self.env)
        self.table = self.env["TABLE_NAME"]
        self.bucket = self.env.get("RECORDINGS_BUCKET")

    def token(self, user):
        out = subprocess.run(
            [os.path.join(ROOT, "scripts", "dev.sh"), "token", user],
            env={**os.environ, "AWAKNOW_ENV": self.name},
            capture_output=True, text=True, check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def create(self, user, record=False):
        body = {"session_type": "reflect_alone", "prompt": "audit drift", "max_minutes": 5}
        if record:
            body["record"] = True
        headers = {"authorization": f"Bearer {self.token(user)}"}
        return http("POST", f"{self.env['GATEWAY_URL']}/sessions", body, headers)

    def end_at_tavus(self, conversation, shutdown_event, recorded=False):
        # Without a shutdown event there is no transcript either (Tavus sends it after the end).
        body = {
            "duration_seconds": 120,
            "shutdown_reason": "participant_left_timeout",
            "shutdown_event": shutdown_event,
            "transcript": shutdown_event,
            "recorded": recorded,
        }
        http("POST", f"{self.env['TAVUS_URL']}/_sim/conversations/{conversation}/end", body)

    def end(self, user, session_id):
        headers = {"authorization": f"Bearer {self.token(user)}"}
        http("POST", f"{self.env['GATEWAY_URL']}/sessions/{session_id}/end", {}, headers)

    def key(self, user, sk):
        return {"pk": {"S": f"USER#{user}"}, "sk": {"S": sk}}

    def session_item(self, user, session_id):
        item = self.ddb.get_item(
            TableName=self.table, Key=self.key(user, f"SESSION#{session_id}"), ConsistentRead=True
        ).get("Item")
        return item or {}


def fresh_user(kind):
    return f"drift-{kind}-{uuid.uuid4().hex[:8]}"


def unheld(stack):
    user = fresh_user("unheld")
    session = stack.create(user)
    stack.ddb.delete_item(TableName=stack.table, Key=stack.key(user, f"SESSION#{session['session_id']}"))
    print(f"unheld: user={user} session={session['session_id']} lost; "
          f"conversation={session['conversation_id']} runs on at Tavus")


def ended(stack):
    user = fresh_user("ended")
    session = stack.create(user)
    stack.end_at_tavus(session["conversation_id"], shutdown_event=False)
    print(f"ended: user={user} session={session['session_id']} stays active; "
          f"Tavus ended conversation={session['conversation_id']} without a callback")


def stray_object(stack):
    if not stack.bucket:
        die("this stack has no recordings bucket")
    key = f"recordings/stray-{uuid.uuid4().hex[:8]}.mp4"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"nobody's video")
    print(f"stray-object: key={key} put in the bucket")


def missing_object(stack):
    if not stack.bucket:
        die("this stack has no recordings bucket")
    user = fresh_user("missing")
    session = stack.create(user, record=True)
    stack.end_at_tavus(session["conversation_id"], shutdown_event=True, recorded=True)
    for _ in range(100):
        item = stack.session_item(user, session["session_id"])
        keys = item.get("recording_keys", {}).get("SS", [])
        if keys:
            break
        time.sleep(0.1)
    else:
        die("the recording's callback did not arrive within 10 s")
    for key in keys:
        versions = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix=key)
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            if v["Key"] == key:
                stack.s3.delete_object(Bucket=stack.bucket, Key=key, VersionId=v["VersionId"])
        print(f"missing-object: user={user} session={session['session_id']} key={key} removed")


def shard_of(user):
    h = 0x811C9DC5
    for byte in user.encode():
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h % 32


def stuck_erasure(stack):
    user = fresh_user("erasure")
    session = stack.create(user)
    stack.end(user, session["session_id"])
    # An erasure deletes Tavus's copy before its mark: wait until the transcript's callback has
    # had it deleted (the session leaves the sweeper's index).
    for _ in range(100):
        if "open_shard" not in stack.session_item(user, session["session_id"]):
            break
        time.sleep(0.1)
    else:
        die("Tavus's copy was not deleted within 10 s")
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    # What an erasure cut short after its first step leaves: the mark, in the erasures' shard.
    stack.ddb.update_item(
        TableName=stack.table,
        Key=stack.key(user, f"SESSION#{session['session_id']}"),
        UpdateExpression="SET erasing = :yes, open_shard = :shard, open_until = :now",
        ExpressionAttributeValues={
            ":yes": {"BOOL": True},
            ":shard": {"S": f"ERASE#{shard_of(user):02d}"},
            ":now": {"S": now},
        },
    )
    print(f"stuck-erasure: user={user} session={session['session_id']} marked, never erased")


def figures(stack):
    user = fresh_user("figures")
    session = stack.create(user)
    stack.end(user, session["session_id"])
    stack.ddb.update_item(
        TableName=stack.table,
        Key=stack.key(user, "ACCOUNT"),
        UpdateExpression="ADD used_minutes :five",
        ExpressionAttributeValues={":five": {"N": "5"}},
    )
    print(f"figures: user={user} used_minutes raised by 5 by hand")


def main(argv):
    kinds = argv[1:]
    if not kinds or any(k not in KINDS + ["all"] for k in kinds):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if "all" in kinds:
        kinds = KINDS
    stack = Stack()
    for kind in kinds:
        globals()[kind.replace("-", "_")](stack)


if __name__ == "__main__":
    main(sys.argv)
