// The client against the running local API (make test starts it and sets GATEWAY_URL and
// DEV_JWT_SECRET). Every test has users of its own.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";

import { ApiError, createAwakNowClient, newIdempotencyKey, type CreateSessionInput } from "../src/index.js";
import { devToken, env, freshUser } from "./dev-token.js";

const baseUrl = env("GATEWAY_URL");
const secret = env("DEV_JWT_SECRET");

function clientFor(user: string, signingSecret = secret) {
  return createAwakNowClient({ baseUrl, getToken: () => devToken(signingSecret, user) });
}

const reflect = (max_minutes: number): CreateSessionInput => ({
  session_type: "reflect_alone",
  prompt: "I want to reflect on my week",
  max_minutes,
});

async function apiError(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  return assert.fail("expected the call to fail with an ApiError");
}

test("a new session reserves its minutes, and usage shows them", async () => {
  const user = freshUser("create");
  const api = clientFor(user);
  const before = await api.usage();
  assert.equal(before.user_id, user);
  assert.equal(before.plan, "free");
  assert.deepEqual([before.used_minutes, before.reserved_minutes], [0, 0]);
  assert.equal(before.remaining_minutes, before.limit_minutes);
  assert.ok(before.limit_minutes > 10, `the free plan has more than 10 minutes (${before.limit_minutes})`);

  const created = await api.createSession(reflect(10));
  assert.equal(created.status, "active");
  assert.equal(created.session_type, "reflect_alone");
  assert.equal(created.role, "owner");
  assert.equal(created.owner_id, user);
  assert.equal(created.reserved_minutes, 10);
  assert.equal(created.charged_minutes, null);
  assert.match(created.conversation_url ?? "", /^https:\/\//);
  assert.equal(created.join_url, `${created.conversation_url}?t=${created.meeting_token}`, "the private room's link");
  const read = await api.getSession(created.session_id);
  assert.equal(read.join_url, created.join_url);
  assert.equal(created.usage.reserved_minutes, 10);
  assert.equal(created.usage.remaining_minutes, before.limit_minutes - 10);

  const after = await api.usage();
  assert.deepEqual(
    [after.used_minutes, after.reserved_minutes, after.remaining_minutes],
    [0, 10, before.limit_minutes - 10],
  );
  assert.ok(Date.parse(after.resets_at) > Date.now(), `resets_at ${after.resets_at} is ahead`);
});

test("a retry with the same Idempotency-Key returns the same session; another body with it is 409", async () => {
  const api = clientFor(freshUser("idempotent"));
  const key = newIdempotencyKey();
  const first = await api.createSession(reflect(5), key);
  const retry = await api.createSession(reflect(5), key);
  assert.equal(retry.session_id, first.session_id);
  assert.equal((await api.usage()).reserved_minutes, 5, "reserved once");

  const conflict = await apiError(api.createSession(reflect(6), key));
  assert.deepEqual([conflict.status, conflict.code], [409, "idempotency_conflict"]);
  assert.equal(conflict.problem?.status, 409);
});

test("spent minutes are a 402 minutes_exhausted problem with what the app shows", async () => {
  const api = clientFor(freshUser("spent"));
  const { limit_minutes } = await api.usage();
  const all = await api.createSession(reflect(60));
  assert.equal(all.reserved_minutes, Math.min(60, limit_minutes), "what is left is reserved");
  assert.equal(all.usage.remaining_minutes, 0);

  const refused = await apiError(api.createSession(reflect(1)));
  assert.ok(refused instanceof Error);
  assert.deepEqual([refused.status, refused.code], [402, "minutes_exhausted"]);
  assert.match(refused.detail ?? "", /minute/);
  const exhausted = refused.minutesExhausted;
  assert.ok(exhausted, "the 402 carries its problem");
  assert.equal(exhausted.remaining_minutes, 0);
  assert.equal(exhausted.plan, "free");
  assert.ok(Date.parse(exhausted.resets_at) > Date.now());
  assert.equal((await api.usage()).reserved_minutes, limit_minutes, "the refusal reserved nothing");
});

test("sessions are listed newest first, a page at a time", async () => {
  const api = clientFor(freshUser("list"));
  const older = await api.createSession(reflect(2));
  const newer = await api.createSession(reflect(2));
  const first = await api.listSessions({ limit: 1 });
  assert.deepEqual(
    first.sessions.map((s) => s.session_id),
    [newer.session_id],
  );
  assert.ok(first.next_cursor, "a second page");
  const second = await api.listSessions({ limit: 1, cursor: first.next_cursor });
  assert.deepEqual(
    second.sessions.map((s) => s.session_id),
    [older.session_id],
  );
  const one = await api.getSession(older.session_id);
  assert.deepEqual([one.session_id, one.status, one.role], [older.session_id, "active", "owner"]);
});

test("another user's session is 404 not_found, and stays untouched", async () => {
  const owner = clientFor(freshUser("owner"));
  const stranger = clientFor(freshUser("stranger"));
  const { session_id } = await owner.createSession(reflect(3));
  for (const call of [stranger.getSession, stranger.endSession, stranger.transcript]) {
    const error = await apiError(call(session_id));
    assert.deepEqual([error.status, error.code], [404, "not_found"], call.name);
  }
  assert.equal((await owner.getSession(session_id)).status, "active");
});

test("ending a call settles it (a few seconds is one minute) and the transcript follows", async () => {
  const api = clientFor(freshUser("end"));
  const { session_id } = await api.createSession(reflect(10));
  const early = await apiError(api.transcript(session_id));
  assert.deepEqual([early.status, early.code], [404, "not_found"], "no transcript before the call ended");

  const ended = await api.endSession(session_id);
  assert.deepEqual(
    [ended.status, ended.charged_minutes, ended.end_reason],
    ["ended", 1, "user_ended"],
  );
  const usage = await api.usage();
  assert.deepEqual([usage.used_minutes, usage.reserved_minutes], [1, 0]);

  // The Tavus simulator sends the transcript callback right after the call ends.
  let transcript;
  for (let attempt = 0; attempt < 60 && !transcript; attempt++) {
    try {
      transcript = await api.transcript(session_id);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "not_found")) throw error;
      await sleep(250);
    }
  }
  assert.ok(transcript, "the transcript arrived within 15 s");
  assert.equal(transcript.session_id, session_id);
  assert.ok(transcript.transcript.length > 0);
  assert.ok(
    transcript.transcript.every((turn) => turn.role !== "system" && typeof turn.content === "string"),
    "system turns (the prompt) are not stored",
  );
});

test("an invalid body is a 400 invalid_request whose detail names the field", async () => {
  const api = clientFor(freshUser("invalid"));
  const error = await apiError(api.createSession({ session_type: "reflect_alone", prompt: "   " }));
  assert.deepEqual([error.status, error.code], [400, "invalid_request"]);
  assert.match(error.detail ?? "", /prompt/);
  assert.equal((await api.usage()).reserved_minutes, 0);
});

test("a token the API does not trust is a 401, surfaced as unauthenticated", async () => {
  const forged = clientFor(freshUser("forged"), "not-the-dev-secret-not-the-dev-secret");
  const error = await apiError(forged.usage());
  assert.deepEqual([error.status, error.code, error.problem], [401, "unauthenticated", undefined]);
});

test("notes are private to each person, and a stale ETag is 412 precondition_failed", async () => {
  const owner = freshUser("notes-owner");
  const partner = freshUser("notes-partner");
  const ownerApi = clientFor(owner);
  const partnerApi = clientFor(partner);
  const { session_id } = await ownerApi.createSession({
    session_type: "resolve_together",
    prompt: "chores",
    participants: [partner],
    max_minutes: 3,
  });

  const empty = await ownerApi.notes(session_id);
  assert.deepEqual(empty.notes, { session_id, text: "", updated_at: null });
  const saved = await ownerApi.saveNotes(session_id, "ask about the budget first", empty.etag);
  assert.equal(saved.notes.text, "ask about the budget first");
  assert.notEqual(saved.etag, empty.etag, "every write has a new ETag");
  await partnerApi.saveNotes(session_id, "listen more");
  assert.equal((await ownerApi.notes(session_id)).notes.text, "ask about the budget first");
  assert.equal((await partnerApi.notes(session_id)).notes.text, "listen more");

  // Another tab still holding the first ETag: refused, nothing overwritten.
  const stale = await apiError(ownerApi.saveNotes(session_id, "from the other tab", empty.etag));
  assert.deepEqual([stale.status, stale.code], [412, "precondition_failed"]);
  const current = await ownerApi.notes(session_id);
  assert.deepEqual([current.notes.text, current.etag], ["ask about the budget first", saved.etag]);

  const stranger = await apiError(clientFor(freshUser("notes-stranger")).notes(session_id));
  assert.deepEqual([stranger.status, stranger.code], [404, "not_found"]);
  const tooLong = await apiError(ownerApi.saveNotes(session_id, "x".repeat(20_001), current.etag));
  assert.deepEqual([tooLong.status, tooLong.code], [400, "invalid_request"]);
  assert.equal((await ownerApi.notes(session_id)).notes.text, "ask about the budget first");
});

test("an active session counts down; an ended one can be erased, and is gone", async () => {
  const api = clientFor(freshUser("erase"));
  const created = await api.createSession(reflect(4));
  const read = await api.getSession(created.session_id);
  assert.ok(read.ends_at && read.remaining_seconds !== undefined, "the countdown of an active call");
  assert.equal(Date.parse(read.ends_at) - Date.parse(read.created_at), 4 * 60_000);
  assert.ok(read.remaining_seconds > 0 && read.remaining_seconds <= 4 * 60, `${read.remaining_seconds}`);

  const active = await apiError(api.eraseSession(created.session_id));
  assert.deepEqual([active.status, active.code], [409, "session_active"]);
  const ended = await api.endSession(created.session_id);
  assert.equal(ended.status, "ended");
  const used = (await api.usage()).used_minutes;
  await api.eraseSession(created.session_id);
  const gone = await apiError(api.getSession(created.session_id));
  assert.deepEqual([gone.status, gone.code], [404, "not_found"]);
  assert.equal((await api.usage()).used_minutes, used, "what was charged stays charged");
});

test("usage history lists the current period first with its sessions", async () => {
  const api = clientFor(freshUser("history"));
  await api.createSession(reflect(1));
  await api.createSession(reflect(1));
  const { periods } = await api.usageHistory({ limit: 3 });
  const usage = await api.usage();
  assert.deepEqual(periods, [
    { period: usage.period, plan: "free", limit_minutes: usage.limit_minutes, used_minutes: 0, sessions: 2 },
  ]);
  const refused = await apiError(api.usageHistory({ limit: 25 }));
  assert.deepEqual([refused.status, refused.code], [400, "invalid_request"]);
});

test("a recorded session plays back through a short-lived link; others get 404", async () => {
  const owner = freshUser("recorded");
  const api = clientFor(owner);
  const unrecorded = await api.createSession(reflect(1));
  assert.equal(unrecorded.record, false);
  assert.deepEqual(await api.recording(unrecorded.session_id), { status: "none" });

  const created = await api.createSession({ ...reflect(2), record: true });
  assert.equal(created.record, true);
  assert.deepEqual(await api.recording(created.session_id), { status: "pending" });
  // Someone joins (Tavus records only a call a person started recording in: the simulator, one
  // somebody joined), then the call ends; the simulator writes the file and announces it.
  const joined = await fetch(`${env("TAVUS_URL")}/_sim/conversations/${created.conversation_id}/join`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ url: created.join_url }),
  });
  assert.equal(joined.status, 204, await joined.text());
  await api.endSession(created.session_id);
  let recording = await api.recording(created.session_id);
  for (let i = 0; i < 75 && recording.status === "pending"; i++) {
    await sleep(200);
    recording = await api.recording(created.session_id);
  }
  assert.equal(recording.status, "ready");
  assert.ok(recording.url && recording.expires_at, "a link, and when it expires");
  const left = Date.parse(recording.expires_at) - Date.now();
  assert.ok(left > 0 && left <= 5 * 60_000, `the link lives at most 5 minutes (${left} ms)`);
  const video = await fetch(recording.url);
  assert.equal(video.status, 200);
  const bytes = new Uint8Array(await video.arrayBuffer());
  assert.ok(bytes.length > 1000, `${bytes.length} bytes`);
  assert.equal(new TextDecoder().decode(bytes.slice(4, 8)), "ftyp", "an MP4 file");

  const stranger = await apiError(clientFor(freshUser("recorded-stranger")).recording(created.session_id));
  assert.deepEqual([stranger.status, stranger.code], [404, "not_found"]);
  await api.eraseSession(created.session_id);
  assert.equal((await fetch(recording.url)).status, 404, "erased with the session");
});

test("an account exports as one document, then is deleted, and starts afresh", async () => {
  const user = freshUser("leaving");
  const api = clientFor(user);
  const { session_id } = await api.createSession(reflect(3));
  await api.endSession(session_id);
  await api.saveNotes(session_id, "what I want to keep");

  assert.equal((await api.exportAccountAnswer()).kind, "document", "a small export comes in the answer");
  const exported = await api.exportAccount();
  assert.deepEqual([exported.kind, exported.user_id, exported.usage.used_minutes], ["document", user, 1]);
  assert.deepEqual(
    exported.sessions.map((s) => [s.session_id, s.role, s.status, s.notes?.text]),
    [[session_id, "owner", "ended", "what I want to keep"]],
  );

  assert.deepEqual(await api.deleteAccountAndWait({ maxWaitMs: 60_000 }), { status: "deleted" });
  const gone = await apiError(api.getSession(session_id));
  assert.deepEqual([gone.status, gone.code], [404, "not_found"]);
  const afresh = await api.exportAccount();
  assert.deepEqual(afresh.sessions, []);
  assert.deepEqual([afresh.usage.plan, afresh.usage.used_minutes], ["free", 0]);
  assert.deepEqual(await api.deleteAccount(), { status: "deleted" }, "deleting again is safe");
});
