// Opsdesk console: live countdowns and refresh on server-sent events.
//
// Countdowns: every element with data-due (ISO 8601) shows the time left until that
// instant, updated each second. The server's clock is the reference: pages carry
// data-server-now, and the difference to the browser's clock is applied, so a browser
// whose clock is off still counts to the server's due. When a countdown passes its
// data-warn or data-due instant, the badge ([data-live-badge]) of its row
// ([data-live-row]) turns "At risk" or "Breached" without a reload.
//
// Refresh: a page element with data-refresh-on (space-separated event types) listens to
// /console/events. On a matching event it re-reads its data about 300 ms later (several
// events in a burst cause one read):
// - the queue (#queue-table) fetches data-rows-url, a <tbody> alone, and swaps it in;
// - other pages fetch data-refresh-url, the page itself, and swap every [data-live-part]
//   by id, except a part that contains the focus or a form field the user has changed.
// With data-ticket-id, only events of that ticket count.
// Server HTML is parsed with DOMParser and moved in as nodes; data from events is only
// ever written with textContent.
(function () {
  "use strict";

  const DEBOUNCE_MS = 300;
  // Must match BADGE_LABELS in opsdesk/console/agent_clock_display.py.
  const BADGE_LABELS = { at_risk: "At risk", breached: "Breached" };
  let clockSkewMs = 0;

  function readServerNow(root) {
    const holder = root.querySelector("[data-server-now]") ||
      (root.matches && root.matches("[data-server-now]") ? root : null);
    if (!holder) return;
    const serverNow = Date.parse(holder.getAttribute("data-server-now"));
    if (!Number.isNaN(serverNow)) clockSkewMs = serverNow - Date.now();
  }

  function now() {
    return Date.now() + clockSkewMs;
  }

  function pad(value) {
    return String(value).padStart(2, "0");
  }

  // Same format as countdown_text() on the server.
  function formatCountdown(milliseconds) {
    const suffix = milliseconds > 0 ? "left" : "overdue";
    const seconds = Math.floor(Math.abs(milliseconds) / 1000);
    const days = Math.floor(seconds / 86400);
    let rest = seconds % 86400;
    const hours = Math.floor(rest / 3600);
    rest %= 3600;
    const minutes = Math.floor(rest / 60);
    const secs = rest % 60;
    let parts;
    if (days) parts = days + "d " + pad(hours) + "h " + pad(minutes) + "m";
    else if (hours) parts = hours + "h " + pad(minutes) + "m " + pad(secs) + "s";
    else parts = minutes + "m " + pad(secs) + "s";
    return parts + " " + suffix;
  }

  function setBadge(row, state) {
    const badge = row.querySelector("[data-live-badge]");
    if (!badge) return;
    const current = badge.getAttribute("data-state");
    const rank = { on_track: 0, at_risk: 1, breached: 2 };
    if (!(current in rank) || rank[state] <= rank[current]) return;
    badge.classList.remove(current);
    badge.classList.add(state);
    badge.setAttribute("data-state", state);
    badge.textContent = BADGE_LABELS[state];
    if (row.hasAttribute("data-state")) row.setAttribute("data-state", state);
  }

  function tick() {
    const at = now();
    document.querySelectorAll("[data-due]").forEach(function (element) {
      const due = Date.parse(element.getAttribute("data-due"));
      if (Number.isNaN(due)) return;
      element.textContent = formatCountdown(due - at);
      const row = element.closest("[data-live-row]");
      if (!row) return;
      const warn = Date.parse(element.getAttribute("data-warn") || "");
      if (at >= due) setBadge(row, "breached");
      else if (!Number.isNaN(warn) && at >= warn) setBadge(row, "at_risk");
    });
  }

  function announce(text) {
    const region = document.querySelector(".live-status[aria-live]");
    if (region) region.textContent = text;
  }

  function describe(type, payload) {
    const words = type.replace(/[._]/g, " ");
    const reference = payload && payload.data && payload.data.reference;
    const time = new Date().toLocaleTimeString();
    return "Updated at " + time + ": " + words + (reference ? " (" + reference + ")" : "");
  }

  function isBusy(part) {
    if (part.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    const fields = part.querySelectorAll("textarea, input[type=text]");
    for (const field of fields) {
      if (field.value !== field.defaultValue) return true;
    }
    for (const select of part.querySelectorAll("select")) {
      for (const option of select.options) {
        if (option.selected !== option.defaultSelected) return true;
      }
    }
    return false;
  }

  async function fetchHtml(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
      cache: "no-store",
    });
    const expected = new URL(url, window.location.href).pathname;
    if (!response.ok || new URL(response.url).pathname !== expected) {
      throw new Error("refresh failed with status " + response.status);
    }
    return response.text();
  }

  async function refreshQueue(table) {
    const html = await fetchHtml(table.getAttribute("data-rows-url"));
    // A <tbody> parses only inside a table.
    const parsed = new DOMParser().parseFromString("<table>" + html + "</table>", "text/html");
    const fresh = parsed.querySelector("tbody#queue-rows");
    const current = table.querySelector("tbody#queue-rows");
    if (!fresh || !current) return "";
    current.replaceWith(document.adoptNode(fresh));
    readServerNow(table);
    const count = fresh.getAttribute("data-count");
    const more = fresh.getAttribute("data-more") === "true";
    return count + (count === "1" ? " ticket" : " tickets") +
      (more ? " shown; more match, so narrow the filters" : "") + ". Sorted by time to breach. ";
  }

  async function refreshParts(root) {
    const html = await fetchHtml(root.getAttribute("data-refresh-url"));
    const parsed = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live-part][id]").forEach(function (part) {
      const fresh = parsed.getElementById(part.id);
      if (fresh && !isBusy(part)) part.replaceWith(document.adoptNode(fresh));
    });
    const freshRoot = parsed.getElementById(root.id);
    if (freshRoot && freshRoot.hasAttribute("data-server-now")) {
      root.setAttribute("data-server-now", freshRoot.getAttribute("data-server-now"));
    }
    readServerNow(document);
    return "";
  }

  function listen(root) {
    const types = (root.getAttribute("data-refresh-on") || "").split(/\s+/).filter(Boolean);
    if (!types.length || typeof EventSource === "undefined") return;
    const ticketId = root.getAttribute("data-ticket-id");
    const refresh = root.id === "queue-table" ? refreshQueue : refreshParts;
    let timer = null;
    let lastText = "";

    function schedule(text) {
      lastText = text;
      if (timer) clearTimeout(timer);
      timer = setTimeout(function () {
        timer = null;
        refresh(root).then(function (summary) {
          tick();
          announce(summary + lastText);
        }, function () {
          announce("Live updates failed; reload the page to see the latest state.");
        });
      }, DEBOUNCE_MS);
    }

    const source = new EventSource("/console/events");
    let lostConnection = false;
    types.forEach(function (type) {
      source.addEventListener(type, function (event) {
        let payload = null;
        try {
          payload = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (ticketId && String(payload.ticket_id) !== ticketId) return;
        schedule(describe(type, payload));
      });
    });
    source.addEventListener("error", function () {
      lostConnection = true;
    });
    source.addEventListener("open", function () {
      // Events sent while the stream was down are not replayed, so read everything again.
      if (lostConnection) {
        lostConnection = false;
        schedule("Updated after the connection came back.");
      }
    });
  }

  function start() {
    readServerNow(document);
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("[data-refresh-on]").forEach(listen);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
