// The front end's use of the client, run inside Chromium by test/browser.test.ts from a page on
// another origin than the API: every call below is a cross-origin fetch, so each passes only if
// the gateway's CORS (template.yaml's CorsConfiguration) allows it, and a header of an answer is
// readable only if that configuration exposes it. The client is the real one (src/index.ts).
import { ApiError, createAwakNowClient, newIdempotencyKey } from "../../src/index.js";

export interface FlowInput {
  /** The API (the local gateway). */
  baseUrl: string;
  /** A dev JWT, signed by the test (the browser has no DEV_JWT_SECRET). */
  token: string;
}

/** What a call that had to fail answered, as the client surfaces it. */
export interface Failure {
  status: number;
  code: string;
  retryAfterSeconds: number | null;
}

function client({ baseUrl, token }: FlowInput) {
  return createAwakNowClient({ baseUrl, getToken: () => token });
}

async function failure(call: Promise<unknown>): Promise<Failure> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiError) {
      return { status: error.status, code: error.code, retryAfterSeconds: error.retryAfterSeconds ?? null };
    }
    throw error;
  }
  throw new Error("expected the call to fail");
}

/** Create (an Idempotency-Key, sent twice), read, notes saved with If-Match from the ETag
 *  read, a stale If-Match refused, end: what each step answered, for the test to check. */
export async function sessionFlow(input: FlowInput) {
  const api = client(input);
  const key = newIdempotencyKey();
  const body = { session_type: "reflect_alone", prompt: "Reflecting from a browser", max_minutes: 2 } as const;
  const created = await api.createSession(body, key);
  const retried = await api.createSession(body, key);
  const read = await api.getSession(created.session_id);
  const empty = await api.notes(created.session_id);
  const saved = await api.saveNotes(created.session_id, "written in Chromium", empty.etag);
  const stale = await failure(api.saveNotes(created.session_id, "from a stale tab", empty.etag));
  const reread = await api.notes(created.session_id);
  const ended = await api.endSession(created.session_id);
  return {
    pageOrigin: location.origin,
    sessionId: created.session_id,
    retriedSessionId: retried.session_id,
    read: { sessionId: read.session_id, status: read.status },
    emptyEtag: empty.etag,
    saved: { text: saved.notes.text, etag: saved.etag },
    stale,
    reread: { text: reread.notes.text, etag: reread.etag },
    ended: { status: ended.status, chargedMinutes: ended.charged_minutes },
  };
}

/** A create that Tavus refuses for now (the test arms the simulator for this prompt): the
 *  client reads the 503's Retry-After only if the API exposes it to this origin. */
export async function refusedCreate(input: FlowInput & { prompt: string }): Promise<Failure> {
  return failure(client(input).createSession({ session_type: "reflect_alone", prompt: input.prompt }));
}

export type Flows = { sessionFlow: typeof sessionFlow; refusedCreate: typeof refusedCreate };
// For the test's page.evaluate: the page's module script has run once the page has loaded.
Object.assign(globalThis, { awaknowFlows: { sessionFlow, refusedCreate } satisfies Flows });
