// Compile-time checks (tsc --strict runs them; nothing here executes): the generated types are
// precise, not `any`. Each @ts-expect-error must meet an error, or tsc fails on it.
import type { AwakNowClient, ApiError, ErrorCode } from "../src/index.js";

export async function typesArePrecise(api: AwakNowClient, error: ApiError): Promise<void> {
  const created = await api.createSession({ session_type: "reflect_alone", prompt: "p", max_minutes: 5 });
  const minutes: number = created.usage.remaining_minutes;
  const url: string | null = created.conversation_url;
  // @ts-expect-error not a field of a session
  void created.no_such_field;
  // @ts-expect-error not a session type
  await api.createSession({ session_type: "group_therapy", prompt: "p" });
  // @ts-expect-error resolve_together needs participants
  await api.createSession({ session_type: "resolve_together", prompt: "p" });
  // @ts-expect-error the query has no such parameter
  await api.listSessions({ page: 2 });

  const { notes, etag } = await api.notes("s1");
  const written: string | null = notes.updated_at;
  await api.saveNotes("s1", notes.text, etag);
  // @ts-expect-error notes are text
  await api.saveNotes("s1", 42);
  const history = await api.usageHistory({ limit: 6 });
  const sessions: number | undefined = history.periods[0]?.sessions;
  // @ts-expect-error the history has no cursor
  await api.usageHistory({ cursor: "x" });
  const session = await api.getSession("s1");
  const left: number | undefined = session.remaining_seconds;
  const recorded: boolean = session.record;
  const recording = await api.recording("s1");
  const status: "none" | "pending" | "ready" | "failed" = recording.status;
  const playback: string | undefined = recording.url;
  // @ts-expect-error record is a boolean
  await api.createSession({ session_type: "reflect_alone", prompt: "p", record: "yes" });
  const unavailable: ErrorCode = "recording_unavailable";
  void [written, sessions, left, recorded, status, playback, unavailable];

  const exported = await api.exportAccount();
  const kind: "document" = exported.kind;
  const notesText: string | undefined = exported.sessions[0]?.notes?.text;
  const answer = await api.exportAccountAnswer();
  // @ts-expect-error the answer may be a download, without sessions
  void answer.sessions;
  const link: string | undefined = answer.kind === "download" ? answer.url : undefined;
  const deletion = await api.deleteAccountAndWait({ maxWaitMs: 1000 });
  // @ts-expect-error only an unfinished deletion says when to ask again
  void deletion.retryAfterSeconds;
  const again: number | undefined = deletion.status === "in_progress" ? deletion.retryAfterSeconds : undefined;
  const deleting: ErrorCode = "account_being_deleted";
  void [kind, notesText, link, again, deleting];

  const code: ErrorCode = error.code;
  // @ts-expect-error codes are a closed set
  const wrong: typeof code = "teapot";
  const conflict: ErrorCode = "precondition_failed";
  void conflict;
  const plan: "free" | "reflect_plus" | "resolve_together" | undefined = error.minutesExhausted?.plan;
  void [minutes, url, wrong, plan];
}
