// The front end's stand-in for the browser test: a static server on a free loopback port (so
// another origin than the API's) serving one page and the ES modules it loads, as compiled by
// tsc, with an import map for the client's one dependency. No bundler: the browser loads the
// very files the client's build produces.
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

export interface StaticSite {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  close(): Promise<void>;
}

const dist = new URL("../../", import.meta.url); // dist/, from dist/test/browser/

/** URL path → the file it serves; nothing else is served (404), so no path reaches the disk. */
function files(): Map<string, string> {
  return new Map([
    ["/src/index.js", fileURLToPath(new URL("src/index.js", dist))],
    ["/test/browser/page.js", fileURLToPath(new URL("test/browser/page.js", dist))],
    ["/vendor/openapi-fetch.js", fileURLToPath(import.meta.resolve("openapi-fetch"))],
  ]);
}

const page = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>AwakNow client in a browser</title>
<link rel="icon" href="data:,">
<script type="importmap">{"imports": {"openapi-fetch": "/vendor/openapi-fetch.js"}}</script>
<script type="module" src="/test/browser/page.js"></script>
</html>
`;

async function answer(served: Map<string, string>, request: IncomingMessage, response: ServerResponse) {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  if (request.method !== "GET") {
    response.writeHead(405).end();
  } else if (path === "/") {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  } else if (served.has(path)) {
    const body = await readFile(served.get(path) as string);
    response.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(body);
  } else {
    response.writeHead(404).end();
  }
}

export async function startStaticSite(): Promise<StaticSite> {
  const served = files();
  const server = createServer((request, response) => {
    answer(served, request, response).catch((error: unknown) => {
      response.writeHead(500, { "content-type": "text/plain" }).end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
