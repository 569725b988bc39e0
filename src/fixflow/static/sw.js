/* fixflow service worker, served at /app/sw.js (scope /app/) by fixflow.live.views.
 *
 * - Precaches the app shell (CSS, JS, icons, manifest, offline page) on install.
 * - App pages (GET /app/…): network first; every successful page is stored (capped, least recently
 *   fetched dropped first), so the last seen lists and tickets stay readable offline. A page served
 *   from the cache carries <meta name="fixflow-offline">; pwa.js then shows the offline banner.
 * - Anything that is not GET goes to the network; if there is none, it is refused with a clear
 *   message (an HTML page or problem JSON). Nothing is ever queued to be sent later.
 * - The event stream and this script are never intercepted.
 * VERSION and PRECACHE are filled in by the server from the static files present.
 */
"use strict";

const VERSION = "__FIXFLOW_VERSION__";
const PRECACHE = ["__FIXFLOW_PRECACHE__"];
const SHELL_CACHE = "fixflow-shell-" + VERSION;
const PAGES_CACHE = "fixflow-pages-v1";
const MAX_PAGES = 60;
const OFFLINE_URL = "/app/offline";
const OFFLINE_ACTION_URL = "/app/offline?action=1";
const OFFLINE_MARKER = '<meta name="fixflow-offline" content="1">';
// Pages worth keeping for offline reading. Never login, recovery or invitation pages (their URLs
// can carry one-time tokens) and never the stream.
const CACHEABLE_PAGES = [
  /^\/app\/?$/,
  /^\/app\/tickets(\/.*)?$/,
  /^\/app\/chats?(\/.*)?$/,
  /^\/app\/messages(\/.*)?$/,
  /^\/app\/profile\/?$/,
];
const BYPASS = new Set(["/app/events", "/app/sw.js"]);

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // One by one: a missing file must not make the whole installation fail.
      await Promise.all(
        PRECACHE.map(async (url) => {
          try {
            const response = await fetch(url, { cache: "no-cache", credentials: "same-origin" });
            if (response.ok) await cache.put(url, response);
          } catch (error) {
            /* offline during install: the next update will fill it in */
          }
        }),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names
          .filter((name) => name.startsWith("fixflow-shell-") && name !== SHELL_CACHE)
          .map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  // Sent by pwa.js on logout: another person on this device must not read these pages offline.
  if (event.data && event.data.type === "fixflow:clear-pages") {
    event.waitUntil(caches.delete(PAGES_CACHE));
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method !== "GET" && request.method !== "HEAD") {
    event.respondWith(sendOrRefuse(request, url));
    return;
  }
  if (request.method !== "GET" || BYPASS.has(url.pathname)) return;
  if ((request.headers.get("accept") || "").includes("text/event-stream")) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
    return;
  }
  if (url.pathname === "/app" || url.pathname.startsWith("/app/")) {
    event.respondWith(networkFirstPage(event, request, url));
  }
  // Everything else (the API, /q/…) goes to the network untouched.
});

function wantsJson(request, url) {
  const accept = request.headers.get("accept") || "";
  return url.pathname.startsWith("/api/") || (accept.includes("json") && !accept.includes("text/html"));
}

async function sendOrRefuse(request, url) {
  try {
    return await fetch(request);
  } catch (error) {
    if (wantsJson(request, url)) {
      const body = {
        type: "https://fixflow.dev/problems/offline",
        title: "No connection",
        status: 503,
        detail: "No connection: the action was not performed",
      };
      return new Response(JSON.stringify(body), {
        status: 503,
        headers: { "Content-Type": "application/problem+json" },
      });
    }
    return offlineResponse(OFFLINE_ACTION_URL);
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    const cache = await caches.open(SHELL_CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

function isCacheablePage(url, response) {
  const type = response.headers.get("content-type") || "";
  return (
    response.status === 200 &&
    response.type === "basic" &&
    type.includes("text/html") &&
    CACHEABLE_PAGES.some((re) => re.test(url.pathname))
  );
}

// What a proxy in front of fixflow answers while fixflow itself is down or restarting.
const SERVER_UNREACHABLE = new Set([502, 503, 504]);

async function networkFirstPage(event, request, url) {
  let response;
  try {
    response = await fetch(request);
  } catch (error) {
    return unreachablePage(request, url, null);
  }
  if (SERVER_UNREACHABLE.has(response.status) && !isOurs(response)) {
    return unreachablePage(request, url, response);
  }
  const finalUrl = new URL(response.url || request.url);
  if (response.redirected && finalUrl.pathname.startsWith("/app/login")) {
    event.waitUntil(caches.delete(PAGES_CACHE)); // the session is over: forget its pages
  } else if (isCacheablePage(finalUrl, response)) {
    event.waitUntil(storePage(url, finalUrl, response.clone()));
  }
  return response;
}

function isOurs(response) {
  // fixflow's own error pages carry its security policy; a proxy's gateway error does not.
  return response.headers.has("content-security-policy");
}

async function unreachablePage(request, url, proxyAnswer) {
  const cached = await cachedPage(url);
  if (cached) return cached;
  const accept = request.headers.get("accept") || "";
  if (request.mode === "navigate" || accept.includes("text/html")) return offlineResponse(OFFLINE_URL);
  return proxyAnswer || Response.error();
}

async function storePage(url, finalUrl, response) {
  const cache = await caches.open(PAGES_CACHE);
  // A fresh, non-redirected copy: a redirected response cannot answer a navigation.
  const body = await response.blob();
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  const keys = new Set([pageKey(url), pageKey(finalUrl)]);
  for (const key of keys) {
    await cache.delete(key); // re-inserted at the end: the cache keeps insertion order
    await cache.put(key, new Response(body, { status: 200, headers }));
  }
  const stored = await cache.keys();
  for (const old of stored.slice(0, Math.max(0, stored.length - MAX_PAGES))) {
    await cache.delete(old);
  }
}

function pageKey(url) {
  return new Request(url.pathname + url.search);
}

async function cachedPage(url) {
  const cache = await caches.open(PAGES_CACHE);
  const cached = await cache.match(pageKey(url), { ignoreVary: true });
  if (!cached) return null;
  const html = await cached.text();
  const marked = html.includes("<head>")
    ? html.replace("<head>", "<head>" + OFFLINE_MARKER)
    : OFFLINE_MARKER + html;
  const headers = new Headers(cached.headers);
  headers.delete("content-length");
  return new Response(marked, { status: 200, headers });
}

async function lastPageLanguage() {
  // The pages cache keeps insertion order and re-inserts a page on every visit: its last entry is
  // the page seen last, in the language the member reads the app in now.
  const cache = await caches.open(PAGES_CACHE);
  const keys = await cache.keys();
  if (!keys.length) return null;
  const page = await cache.match(keys[keys.length - 1], { ignoreVary: true });
  const found = page ? /<html[^>]*\slang="([a-z]{2})"/.exec(await page.text()) : null;
  return found ? found[1] : null;
}

async function offlineResponse(key) {
  const lang = await lastPageLanguage();
  const inLanguage = lang ? key + (key.includes("?") ? "&" : "?") + "lang=" + lang : null;
  const cached =
    (inLanguage && (await caches.match(inLanguage, { ignoreVary: true }))) ||
    (await caches.match(key, { ignoreVary: true }));
  const message =
    key === OFFLINE_ACTION_URL
      ? "Нет соединения: действие не выполнено. / No connection: the action was not performed."
      : "Нет сети. / No connection.";
  const html = cached
    ? await cached.text()
    : "<!doctype html><meta charset=utf-8><title>fixflow</title><p>" + message + "</p>";
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}
