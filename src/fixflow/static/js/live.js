// fixflow live updates: listens to /app/events and refreshes the live regions of the page.
//
// Contract with the page: an element with an id and data-live="list" is refreshed on any event;
// data-live="ticket:<id>" only on events of that ticket. On an event the page URL is fetched again
// and each such region is replaced by the element with the same id in the fresh page. A region
// holding typed text, the focused text field, an open dialog or data-live-hold is left alone; a notice
// «Обновлено — обновить» applies the update when the user wants it. After a swap,
// document receives a "fixflow:live-updated" event ({detail: {ids}}) to re-bind behaviour.

const EN = document.documentElement.lang === "en";
const T = EN ? { updated: "Updated", apply: "refresh" } : { updated: "Обновлено", apply: "обновить" };
const DEBOUNCE_MS = 100;
const HIDDEN_GRACE_MS = 60_000;
const SEEN_LIMIT = 500;

const seen = new Set();
let source = null;
let wanted = { all: false, tickets: new Set() };
let timer = null;
let busy = false;
let hiddenTimer = null;
let retryDelay = 1000;
let reconnecting = false;
let forced = false; // the user asked for the update: swap even regions in use
let notice = null;

const regions = () => Array.from(document.querySelectorAll("[data-live][id]"));

function ticketOf(region) {
  const value = region.dataset.live || "";
  return value.startsWith("ticket:") ? Number(value.slice(7)) : null;
}

function isTarget(region, want) {
  return region.dataset.live === "list" || want.all || want.tickets.has(ticketOf(region));
}

function remember(eventId) {
  seen.add(eventId);
  if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value);
}

function schedule(ticketId) {
  if (ticketId === null) wanted.all = true;
  else wanted.tickets.add(ticketId);
  if (!timer) timer = setTimeout(refresh, DEBOUNCE_MS);
}

function isDirty(el) {
  if (el.type === "hidden" || el.disabled) return false;
  if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
  if (el.tagName === "SELECT") return Array.from(el.options).some((o) => o.selected !== o.defaultSelected);
  if (el.type === "file") return el.files && el.files.length > 0;
  return el.value !== el.defaultValue;
}

function isTyping(el) {
  return Boolean(el) && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable ||
    (el.tagName === "INPUT" && !["button", "submit", "reset", "checkbox", "radio"].includes(el.type)));
}

function inUse(region) {
  // data-live-hold: the page changed the region itself (e.g. appended «Показать ещё» pages), and a
  // swap would throw that away.
  if (region.hasAttribute("data-live-hold")) return true;
  const active = document.activeElement;
  if (active && region.contains(active) && isTyping(active)) return true;
  if (region.querySelector("dialog[open]")) return true;
  return Array.from(region.querySelectorAll("input, textarea, select")).some(isDirty);
}

function showNotice() {
  if (!notice) {
    notice = document.createElement("div");
    notice.className = "live-notice";
    notice.dataset.testid = "live-notice";
    notice.setAttribute("role", "status");
    Object.assign(notice.style, {
      position: "fixed", left: "50%", bottom: "88px", transform: "translateX(-50%)", zIndex: "60",
      padding: "8px 14px", borderRadius: "18px", background: "#263238", color: "#fff", fontSize: "14px",
    });
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = "live-apply";
    Object.assign(button.style, {
      background: "none", border: "0", color: "#90caf9", font: "inherit", padding: "0", cursor: "pointer",
      textDecoration: "underline",
    });
    button.textContent = T.apply;
    button.addEventListener("click", () => {
      notice.hidden = true;
      forced = true;
      schedule(null);
    });
    notice.append(T.updated + " — ", button);
    document.body.append(notice);
  }
  notice.hidden = false;
}

async function refresh() {
  timer = null;
  if (busy) {
    timer = setTimeout(refresh, DEBOUNCE_MS);
    return;
  }
  const force = forced;
  forced = false;
  const want = wanted;
  wanted = { all: false, tickets: new Set() };
  const targets = regions().filter((r) => isTarget(r, want));
  if (!targets.length) return;
  busy = true;
  try {
    const response = await fetch(location.href, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html", "X-Fixflow-Live": "1" },
    });
    if (!response.ok || new URL(response.url).pathname !== location.pathname) {
      showNotice(); // gone, no longer visible or logged out: let the user decide
      return;
    }
    // Without its <style> blocks: their nonce is the fresh page's, not ours, and Chromium reports
    // them as CSP violations even in a parsed, never-rendered document. Only the regions are used.
    const html = (await response.text()).replace(/<style\b[^>]*>[\s\S]*?<\/style>/gi, "");
    const fresh = new DOMParser().parseFromString(html, "text/html");
    if (fresh.querySelector('meta[name="fixflow-offline"]')) return; // a saved copy: nothing new
    swap(targets, fresh, force);
  } catch (error) {
    /* offline or aborted: the next event or reconnect refreshes */
  } finally {
    busy = false;
  }
}

function swap(targets, fresh, force) {
  const swapped = [];
  let held = false;
  const focusedId = document.activeElement && document.activeElement.id;
  for (const region of targets) {
    const replacement = fresh.getElementById(region.id);
    if (!replacement) {
      if (ticketOf(region) !== null) held = true; // the ticket left this page: say so, keep it
      continue;
    }
    if (replacement.isEqualNode(region)) continue;
    if (!force && inUse(region)) {
      held = true;
      continue;
    }
    region.replaceWith(document.importNode(replacement, true));
    swapped.push(region.id);
  }
  if (focusedId) {
    const again = document.getElementById(focusedId);
    if (again && again !== document.activeElement) again.focus({ preventScroll: true });
  }
  if (held) showNotice();
  else if (notice) notice.hidden = true;
  if (swapped.length) {
    document.dispatchEvent(new CustomEvent("fixflow:live-updated", { detail: { ids: swapped } }));
  }
}

function onTicket(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch (error) {
    return;
  }
  if (seen.has(data.event_id)) return; // the same change may be announced twice
  remember(data.event_id);
  schedule(Number(data.ticket_id));
}

function connect() {
  if (source || !regions().length || !("EventSource" in window)) return;
  source = new EventSource("/app/events");
  source.addEventListener("ready", () => {
    document.documentElement.dataset.liveState = "connected"; // for tests and debugging
    retryDelay = 1000;
    if (reconnecting) schedule(null); // whatever changed while we were away
    reconnecting = false;
  });
  source.addEventListener("ticket", onTicket);
  source.addEventListener("resync", () => schedule(null));
  source.addEventListener("error", () => {
    // CONNECTING: the browser retries by itself. CLOSED (e.g. 401): retry later, slower and slower.
    if (source && source.readyState === EventSource.CLOSED) {
      disconnect();
      reconnecting = true;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 60_000);
    } else {
      reconnecting = true;
    }
  });
}

function disconnect() {
  if (source) source.close();
  source = null;
  document.documentElement.dataset.liveState = "closed";
}

// Hidden tabs let go of their stream after a while (browsers allow ~6 connections per host over
// HTTP/1.1); coming back reconnects and refreshes.
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    hiddenTimer = setTimeout(() => {
      if (source) {
        disconnect();
        reconnecting = true;
      }
    }, HIDDEN_GRACE_MS);
  } else {
    clearTimeout(hiddenTimer);
    connect();
  }
});
window.addEventListener("pagehide", () => {
  if (source) {
    disconnect();
    reconnecting = true;
  }
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) connect();
});

window.fixflow = Object.assign(window.fixflow || {}, { liveRefresh: () => schedule(null) });
connect();
