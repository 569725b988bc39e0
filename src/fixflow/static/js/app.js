// fixflow customer app: small progressive enhancements. Every screen works without this file.
//
// - [data-dialog="<id>"] links open the <dialog> with that id (the comment step of a transition);
//   without JavaScript the link opens the same form as a page.
// - details.menu closes on an outside click or Escape.
// - a[data-more] («Показать ещё») appends the next page to the list instead of navigating.
// - select[data-refresh-on-change] re-submits its form through the [name=_refresh] button, so the
//   server shows the fields of the chosen ticket type while keeping what was typed.
// - details[data-children-url] loads the children of an object-tree node when opened.
// - a submit button is marked busy once its form is really being sent (no double posts).
// Handlers are delegated to the document, so content swapped in by live.js keeps working.

document.documentElement.classList.add("js");

const parser = new DOMParser();

async function fetchDocument(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok || response.redirected) throw new Error(`HTTP ${response.status}`);
  // Without its <style> blocks: their nonce belongs to that response, not to this page, and
  // Chromium reports a CSP violation for parsing them even though they are never applied.
  const html = (await response.text()).replace(/<style\b[^>]*>[\s\S]*?<\/style>/gi, "");
  return parser.parseFromString(html, "text/html");
}

function openDialog(event, trigger) {
  const dialog = document.getElementById(trigger.dataset.dialog);
  if (!dialog || typeof dialog.showModal !== "function") return; // the link still works
  event.preventDefault();
  dialog.showModal();
  const field = dialog.querySelector("textarea, input:not([type=hidden])");
  if (field) field.focus();
}

async function loadMore(event, link) {
  const list = link.closest("#ticket-list");
  const items = list && list.querySelector(".ticket-list__items");
  if (!items) return;
  event.preventDefault();
  link.setAttribute("aria-busy", "true");
  // The list now holds more than one page: a live refresh (one page) would drop what was appended,
  // so live.js offers a «refresh» notice instead of swapping it.
  list.setAttribute("data-live-hold", "");
  try {
    const page = await fetchDocument(link.href);
    const fresh = page.querySelector("#ticket-list");
    fresh.querySelectorAll(".ticket-list__items > li").forEach((li) => items.append(document.importNode(li, true)));
    const next = fresh.querySelector("a[data-more]");
    if (next) {
      link.href = next.getAttribute("href");
      link.removeAttribute("aria-busy");
    } else {
      link.remove();
    }
  } catch {
    window.location.assign(link.href); // let the browser show the page (or the offline notice)
  }
}

function closeMenus(except) {
  document.querySelectorAll("details.menu[open]").forEach((menu) => {
    if (menu !== except) menu.open = false;
  });
}

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;
  const dialogLink = target.closest("[data-dialog]");
  if (dialogLink) openDialog(event, dialogLink);
  const more = target.closest("a[data-more]");
  if (more) loadMore(event, more);
  closeMenus(target.closest("details.menu"));
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeMenus(null);
});

document.addEventListener("change", (event) => {
  const select = event.target;
  if (!(select instanceof HTMLSelectElement) || !select.hasAttribute("data-refresh-on-change")) return;
  const button = select.form && select.form.querySelector("[name=_refresh]");
  if (button && typeof select.form.requestSubmit === "function") select.form.requestSubmit(button);
});

// toggle does not bubble: listen in the capture phase.
document.addEventListener(
  "toggle",
  async (event) => {
    const node = event.target;
    if (!(node instanceof HTMLDetailsElement) || !node.open || !node.dataset.childrenUrl) return;
    if (node.dataset.loaded) return;
    node.dataset.loaded = "1";
    const holder = node.querySelector(".tree-node__children");
    try {
      const fragment = await fetchDocument(node.dataset.childrenUrl);
      holder.replaceChildren(...Array.from(fragment.body.childNodes).map((n) => document.importNode(n, true)));
    } catch {
      delete node.dataset.loaded; // the «show what is inside» link is still there
    }
  },
  true,
);

document.addEventListener("submit", (event) => {
  const button = event.submitter;
  if (!button || button.getAttribute("formmethod") === "dialog") return;
  // Later listeners (pwa.js refuses posts while offline) may cancel the submit: look after them.
  setTimeout(() => {
    if (!event.defaultPrevented) button.setAttribute("aria-busy", "true");
  }, 0);
});

window.addEventListener("pageshow", () => {
  document.querySelectorAll("[aria-busy=true]").forEach((el) => el.removeAttribute("aria-busy"));
});
