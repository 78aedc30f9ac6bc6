// The AwakNow session API for the front end. Every type comes from openapi.yaml through
// src/generated/api.ts (`npm run generate`, run by every build and test); nothing here restates
// a field, so a field added to openapi.yaml reaches callers by regenerating.
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./generated/api.js";

type Schemas = components["schemas"];
type Json<Op extends keyof operations, Status extends keyof operations[Op]["responses"]> =
  operations[Op]["responses"][Status] extends { content: { "application/json": infer T } } ? T : never;

export type { components, operations, paths };
export type CreateSessionInput = operations["createSession"]["requestBody"]["content"]["application/json"];
export type CreatedSession = Json<"createSession", 201>;
export type Session = Json<"getSession", 200>;
export type SessionList = Json<"listSessions", 200>;
export type Usage = Json<"getUsage", 200>;
export type Transcript = Json<"getTranscript", 200>;
export type Notes = Json<"getNotes", 200>;
/** A session's recording: `status`, and when `ready` a playback `url` until `expires_at`. */
export type Recording = Json<"getRecording", 200>;
export type UsageHistory = Json<"getUsageHistory", 200>;
export type UsageHistoryQuery = NonNullable<operations["getUsageHistory"]["parameters"]["query"]>;
/** `GET /me/export` as answered: the document itself, or a short-lived link to it. */
export type AccountExportAnswer = Json<"exportAccount", 200>;
/** A copy of everything kept about the caller, in their own view of each session. */
export type AccountExport = Extract<AccountExportAnswer, { kind: "document" }>;
/** A link to the export (too large for a response): a presigned GET valid until `expires_at`. */
export type ExportDownload = Extract<AccountExportAnswer, { kind: "download" }>;
/** Where `DELETE /me` stands: `deleted` (204: nothing is kept), or `in_progress` (202) with
 *  the seconds after which asking again is worth it (its Retry-After). */
export type AccountDeletion =
  | { status: "deleted" }
  | (Json<"deleteAccount", 202> & { retryAfterSeconds: number });
export interface DeleteAccountWaitOptions {
  /** How long to keep asking (default 60,000 ms); then the last `in_progress` is returned. */
  maxWaitMs?: number;
}
/** Notes and their entity tag: send `etag` back to `saveNotes`, so a write never silently
 *  replaces one made elsewhere (another tab) since this one was read. */
export interface TaggedNotes {
  notes: Notes;
  etag: string;
}
export type ListSessionsQuery = NonNullable<operations["listSessions"]["parameters"]["query"]>;
export type Problem = Schemas["Problem"];
export type MinutesExhausted = Schemas["MinutesExhausted"];
/** A problem's `code` (`rate_limited`: this user's pace of creates, with `retryAfterSeconds`);
 *  `throttled` is also API Gateway's own 429 and `gateway_error` its 5xx, which carry no body
 *  of ours; `download_failed`: the link of an export answered with an error (S3's `status`). */
export type ErrorCode = Problem["code"] | "gateway_error" | "download_failed";

/** Any answer that is not a success: `code`, `status` and `detail` say what went wrong. */
export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    readonly detail: string | undefined,
    /** The problem body (application/problem+json), when the API sent one. */
    readonly problem: Problem | undefined,
    /** Seconds to wait before retrying (429 `rate_limited`, and `throttled` from the local gateway: API Gateway's own 429 has none; 503 `tavus_at_capacity`, `tavus_out_of_credits`, `dependency_unavailable`). */
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(`${status} ${code}${detail ? `: ${detail}` : ""}`);
  }

  /** The problem of a 402: minutes left, plan, when they reset. */
  get minutesExhausted(): MinutesExhausted | undefined {
    return this.code === "minutes_exhausted" ? (this.problem as MinutesExhausted) : undefined;
  }

  static from(response: Response, body: unknown): ApiError {
    const problem = isProblem(body) ? body : undefined;
    const retryAfter = Number(response.headers.get("Retry-After"));
    const code: ErrorCode =
      problem?.code ??
      (response.status === 401 ? "unauthenticated" : response.status === 429 ? "throttled" : "gateway_error");
    const detail =
      problem?.detail ?? (typeof body === "object" && body && "message" in body ? String(body.message) : undefined);
    return new ApiError(response.status, code, detail, problem, retryAfter > 0 ? retryAfter : undefined);
  }
}

function isProblem(body: unknown): body is Problem {
  return typeof body === "object" && body !== null && typeof (body as { code?: unknown }).code === "string";
}

export interface ClientOptions {
  /** e.g. https://<api-id>.execute-api.<region>.amazonaws.com (the stack's ApiUrl output). */
  baseUrl: string;
  /** The signed-in user's JWT (a Cognito ID token, a Supabase access token); asked per request. */
  getToken: () => string | Promise<string>;
  fetch?: typeof globalThis.fetch;
}

/** A new Idempotency-Key: make one per user action and send it again when retrying that action. */
export function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/** Seconds to wait after a 202 of `DELETE /me` without a usable Retry-After. */
const DELETION_RETRY_SECONDS = 30;

export function createAwakNowClient(options: ClientOptions) {
  // Called unbound, as openapi-fetch calls it (a browser's fetch refuses another `this`).
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  client.use({
    async onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${await options.getToken()}`);
      return request;
    },
  });

  async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
    const { data, error, response } = await call;
    if (!response.ok || data === undefined) throw ApiError.from(response, error);
    return data;
  }

  async function tagged(call: Promise<{ data?: Notes; error?: unknown; response: Response }>): Promise<TaggedNotes> {
    const { data, error, response } = await call;
    const etag = response.headers.get("ETag");
    if (!response.ok || data === undefined || etag === null) throw ApiError.from(response, error);
    return { notes: data, etag };
  }

  /** For answers without a body (204). */
  async function done(call: Promise<{ error?: unknown; response: Response }>): Promise<void> {
    const { error, response } = await call;
    if (!response.ok) throw ApiError.from(response, error);
  }

  async function exportAccountAnswer(): Promise<AccountExportAnswer> {
    return unwrap(client.GET("/me/export"));
  }

  async function exportAccount(): Promise<AccountExport> {
    const answer = await exportAccountAnswer();
    if (answer.kind === "document") return answer;
    // A presigned S3 URL: it carries its own credential, so no Authorization header.
    const response = await fetchImpl(answer.url);
    if (!response.ok) {
      const detail = `the export's link answered ${response.status}`;
      throw new ApiError(response.status, "download_failed", detail, undefined, undefined);
    }
    return (await response.json()) as AccountExport;
  }

  async function deleteAccount(): Promise<AccountDeletion> {
    const { data, error, response } = await client.DELETE("/me");
    if (response.status === 204) return { status: "deleted" };
    if (response.status !== 202 || data === undefined) throw ApiError.from(response, error);
    const retryAfter = Number(response.headers.get("Retry-After"));
    return { ...data, retryAfterSeconds: retryAfter > 0 ? retryAfter : DELETION_RETRY_SECONDS };
  }

  async function deleteAccountAndWait({ maxWaitMs = 60_000 }: DeleteAccountWaitOptions = {}): Promise<AccountDeletion> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      let deletion: AccountDeletion;
      try {
        deletion = await deleteAccount();
      } catch (e) {
        // The route's throttle (shared by every caller): the deletion is under way regardless.
        if (!(e instanceof ApiError) || e.status !== 429) throw e;
        deletion = { status: "in_progress", retryAfterSeconds: e.retryAfterSeconds ?? DELETION_RETRY_SECONDS };
      }
      if (deletion.status === "deleted") return deletion;
      const wait = Math.min(deletion.retryAfterSeconds * 1000, deadline - Date.now());
      if (wait <= 0) return deletion;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  return {
    /** Reserves minutes and starts the Tavus conversation (201); join its private room at `join_url`.
     *  The same key with the same input returns the same session, so a retry never charges twice. */
    createSession: (input: CreateSessionInput, idempotencyKey: string = newIdempotencyKey()) =>
      unwrap(client.POST("/sessions", { body: input, params: { header: { "Idempotency-Key": idempotencyKey } } })),
    usage: () => unwrap(client.GET("/usage")),
    listSessions: (query: ListSessionsQuery = {}) =>
      unwrap(client.GET("/sessions", { params: { query } })),
    getSession: (id: string) => unwrap(client.GET("/sessions/{id}", { params: { path: { id } } })),
    endSession: (id: string) => unwrap(client.POST("/sessions/{id}/end", { params: { path: { id } } })),
    transcript: (id: string) => unwrap(client.GET("/sessions/{id}/transcript", { params: { path: { id } } })),
    /** The caller's own notes on a session (empty, `updated_at: null`, before the first write). */
    notes: (id: string) => tagged(client.GET("/sessions/{id}/notes", { params: { path: { id } } })),
    /** Replaces the caller's notes. With `etag` (from `notes` or the last `saveNotes`), a write
     *  made elsewhere since is never overwritten: 412 `precondition_failed` instead. */
    saveNotes: (id: string, text: string, etag?: string) =>
      tagged(
        client.PUT("/sessions/{id}/notes", {
          params: { path: { id }, ...(etag === undefined ? {} : { header: { "If-Match": etag } }) },
          body: { text },
        }),
      ),
    /** The session's recording (sessions created with `record: true`): `none`, `pending`,
     *  `failed`, or `ready` with a playback `url` valid until `expires_at` (at most 5 minutes):
     *  set it as a <video>'s `src`, and ask again for a new one when it has expired. */
    recording: (id: string) => unwrap(client.GET("/sessions/{id}/recording", { params: { path: { id } } })),
    /** Erases a closed session (owner only): the session, its recording, its transcript,
     *  everyone's notes. */
    eraseSession: (id: string) => done(client.DELETE("/sessions/{id}", { params: { path: { id } } })),
    /** Usage by period, newest first, the current period included. */
    usageHistory: (query: UsageHistoryQuery = {}) => unwrap(client.GET("/usage/history", { params: { query } })),
    /** Everything kept about the caller, as one document: the account, its history, every
     *  session they own or take part in with the transcript, their own notes and the
     *  recording as a link (expiring within 5 minutes: export again for new ones). A document
     *  too large for a response is fetched from its link here, so this is always the document;
     *  413 `export_too_large` when the deployment cannot hand it over. */
    exportAccount,
    /** `GET /me/export` as answered: `kind: "document"`, or `kind: "download"` with a `url`
     *  valid until `expires_at` (at most 5 minutes), for a caller that fetches it itself. */
    exportAccountAnswer,
    /** Deletes the caller's account and everything kept about them: `{ status: "deleted" }`
     *  (204), or `{ status: "in_progress", retryAfterSeconds }` (202: it finishes on its own
     *  within minutes; calling again is safe). Meanwhile a create is 409 `account_being_deleted`. */
    deleteAccount,
    /** `deleteAccount`, asked again after each Retry-After until `deleted` or `maxWaitMs`
     *  (default 60 s) has passed; then the last `in_progress`. Errors are thrown as they come. */
    deleteAccountAndWait,
  };
}

export type AwakNowClient = ReturnType<typeof createAwakNowClient>;
