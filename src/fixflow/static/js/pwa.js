// fixflow PWA glue: registers the service worker, says when the page is offline or a saved copy,
// and refuses form submits while offline so nothing typed is lost.
// Hooks: div.offline-banner[data-testid=offline-banner]; p.form-error[data-testid=offline-refused];
// [data-action=history-back] buttons; window.fixflow.clearOfflinePages().

const EN = document.documentElement.lang === "en";
const T = EN
  ? {
      offline: "No connection — you are looking at a saved copy",
      back: "Back online",
      reload: "Refresh",
      refused: "No connection: the action was not performed. What you typed is kept — try again when online.",
    }
  : {
      offline: "Нет сети — вы смотрите сохранённую версию",
      back: "Сеть снова доступна",
      reload: "Обновить",
      refused: "Нет соединения: действие не выполнено. Введённые данные сохранены — повторите, когда появится сеть.",
    };

// Served from the service worker's cache because the server could not be reached.
const savedCopy = Boolean(document.querySelector('meta[name="fixflow-offline"]'));
let banner = null;
let cameBack = false; // an "online" event since this page was shown

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {
    /* the app works without it, just not offline */
  });
}

function ensureBanner() {
  if (banner) return banner;
  banner = document.createElement("div");
  banner.className = "offline-banner";
  banner.dataset.testid = "offline-banner";
  banner.setAttribute("role", "status");
  Object.assign(banner.style, {
    position: "sticky",
    top: "0",
    zIndex: "50",
    padding: "8px 12px",
    background: "#37474f",
    color: "#fff",
    fontSize: "14px",
    textAlign: "center",
  });
  document.body.prepend(banner);
  return banner;
}

function reloadLink() {
  const link = document.createElement("a");
  link.href = location.href;
  link.textContent = T.reload;
  link.style.color = "inherit";
  return link;
}

function updateBanner() {
  if (!document.body) return;
  const offline = !navigator.onLine;
  if (offline) cameBack = false;
  if (offline || savedCopy) {
    const el = ensureBanner();
    el.replaceChildren();
    if (offline || !cameBack) {
      el.append(T.offline);
      if (!offline) el.append(" · ", reloadLink()); // the device is online: maybe the server is back
    } else {
      // A saved copy while the network is back: offer the fresh page, never reload by surprise.
      el.append(T.back + " — ", reloadLink());
    }
    el.hidden = false;
  } else if (banner) {
    banner.hidden = true;
  }
}

function unreachable() {
  // Offline, or this page is a saved copy because the server could not be reached just now.
  return !navigator.onLine || (savedCopy && !cameBack);
}

function submitMethod(event) {
  const form = event.target;
  const submitter = event.submitter;
  const chosen = submitter && submitter.hasAttribute("formmethod") ? submitter.getAttribute("formmethod") : form.getAttribute("method");
  return (chosen || "get").toLowerCase();
}

function refuseOfflineSubmit(event) {
  if (!unreachable()) return;
  // Closing a dialog («Отмена») goes on as usual. A search is refused like an action: the saved
  // copies hold no results for it, and the message keeps the words typed on the page.
  if (submitMethod(event) === "dialog") return;
  const form = event.target;
  event.preventDefault();
  event.stopImmediatePropagation();
  let notice = form.querySelector('[data-testid="offline-refused"]');
  if (!notice) {
    notice = document.createElement("p");
    notice.className = "form-error";
    notice.dataset.testid = "offline-refused";
    notice.setAttribute("role", "alert");
    form.prepend(notice);
  }
  notice.textContent = T.refused;
  updateBanner();
}

function clearOfflinePages() {
  const worker = navigator.serviceWorker && navigator.serviceWorker.controller;
  if (worker) worker.postMessage({ type: "fixflow:clear-pages" });
}

function onSubmit(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  refuseOfflineSubmit(event);
  if (event.defaultPrevented) return;
  const action = new URL(form.action || location.href, location.href);
  if (action.pathname.endsWith("/logout")) clearOfflinePages();
}

function onClick(event) {
  const target = event.target instanceof Element ? event.target.closest("[data-action=history-back]") : null;
  if (!target) return;
  event.preventDefault();
  if (history.length > 1) history.back();
  else location.href = "/app/";
}

window.fixflow = Object.assign(window.fixflow || {}, { clearOfflinePages });
// Capture phase: runs before any other submit handler, so an offline submit never starts.
document.addEventListener("submit", onSubmit, true);
document.addEventListener("click", onClick);
window.addEventListener("online", () => {
  cameBack = true;
  updateBanner();
});
window.addEventListener("offline", updateBanner);
window.addEventListener("pageshow", updateBanner);
registerServiceWorker();
updateBanner();
