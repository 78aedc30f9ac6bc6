// The client in a real browser (make test runs it through scripts/client-browser.sh): headless
// Chromium, Debian's chromium package (CHROMIUM names its command), loads a page from a static
// server on a free loopback port of its own, so another origin than the API's, and runs the
// front end's flow through the client (test/browser/page.ts) against the running local gateway,
// which takes its CORS settings from template.yaml's CorsConfiguration. So what deploys is
// checked by a browser: the preflights with Authorization, Idempotency-Key and If-Match pass, and
// the page reads the ETag and the Retry-After of cross-origin answers.
//
// The browser is driven with playwright-core: Playwright's driver alone, which downloads no
// browser (no install script, no dependencies) and launches the system's Chromium by its path.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { chromium, type Browser, type Page } from "playwright-core";

import type { FlowInput, Flows } from "./browser/page.js";
import { startStaticSite, type StaticSite } from "./browser/static-site.js";
import { devToken, env, freshUser } from "./dev-token.js";

const baseUrl = env("GATEWAY_URL");
const secret = env("DEV_JWT_SECRET");
const tavusUrl = env("TAVUS_URL");

let site: StaticSite;
let browser: Browser;
let page: Page;
/** What the page logged (a CORS refusal is only explained there), for a failure's message. */
const browserConsole: string[] = [];

before(async () => {
  site = await startStaticSite();
  browser = await chromium.launch({ executablePath: env("CHROMIUM"), headless: true });
  page = await browser.newPage();
  page.on("console", (message) => browserConsole.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => browserConsole.push(`page error: ${error.message}`));
  const loaded = await page.goto(`${site.origin}/`);
  assert.equal(loaded?.status(), 200);
  // Module scripts run before the load event goto waits for: the flows are there, or failed.
  const ready = await page.evaluate(() => "awaknowFlows" in globalThis);
  assert.ok(ready, `the page's script did not load:\n${browserConsole.join("\n")}`);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** Runs one of the page's flows in the browser; a failure carries the browser's console. */
async function inPage<Name extends keyof Flows>(
  name: Name,
  input: Parameters<Flows[Name]>[0],
): Promise<Awaited<ReturnType<Flows[Name]>>> {
  // Serialized and run in the page: it reaches the flows the page's script registered.
  const call = ({ flow, arg }: { flow: keyof Flows; arg: unknown }): Promise<unknown> =>
    (globalThis as unknown as { awaknowFlows: Flows }).awaknowFlows[flow](arg as never);
  const request: { flow: keyof Flows; arg: unknown } = { flow: name, arg: input };
  try {
    return (await page.evaluate(call, request)) as Awaited<ReturnType<Flows[Name]>>;
  } catch (error) {
    throw new Error(`${name} failed in the browser: ${String(error)}\nbrowser console:\n${browserConsole.join("\n")}`);
  }
}

function inputFor(user: string): FlowInput {
  return { baseUrl, token: devToken(secret, user) };
}

test("the page is served from another origin than the API", () => {
  assert.notEqual(site.origin, new URL(baseUrl).origin);
});

test("create, read, notes with If-Match and end run cross-origin in Chromium", { timeout: 120_000 }, async () => {
  const result = await inPage("sessionFlow", inputFor(freshUser("browser")));
  assert.equal(result.pageOrigin, site.origin, "the flow ran in the page, on its own origin");
  assert.equal(result.retriedSessionId, result.sessionId, "the Idempotency-Key reached the API: one session");
  assert.deepEqual(result.read, { sessionId: result.sessionId, status: "active" });
  // Each ETag below was read by the page from a cross-origin answer (the client throws without
  // one), and sent back as If-Match after a preflight that allowed it.
  assert.ok(result.emptyEtag, "the ETag of the empty notes");
  assert.deepEqual(result.saved.text, "written in Chromium");
  assert.notEqual(result.saved.etag, result.emptyEtag, "every write has a new ETag");
  assert.deepEqual(
    [result.stale.status, result.stale.code],
    [412, "precondition_failed"],
    "the stale If-Match reached the API and was refused",
  );
  assert.deepEqual(result.reread, { text: "written in Chromium", etag: result.saved.etag });
  assert.deepEqual(result.ended, { status: "ended", chargedMinutes: 1 });
});

test("a 503's Retry-After is readable cross-origin", { timeout: 60_000 }, async () => {
  const user = freshUser("browser-busy");
  const marker = `marker-${user}`;
  // The simulator answers the next create whose body carries the marker as Tavus at capacity:
  // the API's 503 tavus_at_capacity, with Retry-After.
  const armed = await fetch(`${tavusUrl}/_sim/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ when_body_contains: marker, at_capacity_next: 1 }),
  });
  assert.equal(armed.status, 204, await armed.text());
  const refused = await inPage("refusedCreate", { ...inputFor(user), prompt: `busy ${marker}` });
  assert.deepEqual([refused.status, refused.code], [503, "tavus_at_capacity"]);
  assert.ok(
    refused.retryAfterSeconds !== null && refused.retryAfterSeconds > 0,
    `the page read Retry-After (${refused.retryAfterSeconds})`,
  );
});
