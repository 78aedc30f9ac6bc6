// Development tokens as the local gateway accepts them (tools/local-gateway): HS256 JWTs with
// issuer awaknow-local, audience awaknow, sub = the user id, signed with DEV_JWT_SECRET's text.
import { createHmac, randomUUID } from "node:crypto";

const base64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");

export function devToken(secret: string, user: string, ttlSeconds = 600): string {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const claims = base64url(
    JSON.stringify({ sub: user, iss: "awaknow-local", aud: "awaknow", iat: now, exp: now + ttlSeconds }),
  );
  const signature = createHmac("sha256", secret).update(`${header}.${claims}`).digest("base64url");
  return `${header}.${claims}.${signature}`;
}

/** A user id no other test (or run) uses. */
export function freshUser(name: string): string {
  return `ts-${name}-${randomUUID()}`;
}

export function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run through make test, or beside make dev-up with .local/dev/endpoints.env`);
  }
  return value;
}
