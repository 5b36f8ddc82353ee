// Live parts of the supervisor pages (dashboard and boards).
//
// An element with data-live-src is re-read from that URL, a server-rendered and
// autoescaped partial, when one of the event types in data-live-events arrives on
// /console/events, and every POLL_MS in any case (an acknowledgement by another
// supervisor sends no event). The partial is parsed with DOMParser and its nodes
// replace the element's children, so no text from the data is ever treated as markup
// here. A region that holds the keyboard focus is left alone until the focus leaves,
// so nobody loses their place in a form.
(function () {
  "use strict";

  var POLL_MS = 30000;
  var DEBOUNCE_MS = 300;
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-src]"));
  if (!regions.length) {
    return;
  }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function eventsOf(region) {
    return (region.getAttribute("data-live-events") || "").split(/\s+/).filter(Boolean);
  }

  function announce(region) {
    var statusId = region.getAttribute("data-live-status");
    var status = statusId ? document.getElementById(statusId) : null;
    var count = region.querySelector("[data-count]");
    if (!status || !count) {
      return;
    }
    var text = count.textContent.trim();
    if (status.getAttribute("data-last") !== text) {
      status.setAttribute("data-last", text);
      status.textContent = text;
    }
  }

  function refresh(region) {
    if (region.contains(document.activeElement) && document.activeElement !== document.body) {
      region.setAttribute("data-stale", "1");
      return Promise.resolve();
    }
    region.removeAttribute("data-stale");
    return fetch(region.getAttribute("data-live-src"), {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
      cache: "no-store"
    }).then(function (response) {
      if (response.redirected && response.url.indexOf("/console/login") !== -1) {
        // The session ended: let the sign-in page take over.
        window.location.assign(response.url);
        return;
      }
      if (!response.ok) {
        return;
      }
      return response.text().then(function (html) {
        if (region.getAttribute("data-live-html") === html) {
          return;
        }
        var parsed = new DOMParser().parseFromString(html, "text/html");
        region.replaceChildren.apply(region, Array.prototype.slice.call(parsed.body.childNodes));
        region.setAttribute("data-live-html", html);
        region.setAttribute("data-refreshed", String(Date.now()));
        announce(region);
      });
    }).catch(function () {
      // Offline or the server restarted; the next event or poll tries again.
    });
  }

  var timers = new Map();
  function schedule(region) {
    clearTimeout(timers.get(region));
    timers.set(region, setTimeout(function () { refresh(region); }, DEBOUNCE_MS));
  }

  regions.forEach(function (region) {
    region.addEventListener("focusout", function () {
      setTimeout(function () {
        if (region.getAttribute("data-stale") && !region.contains(document.activeElement)) {
          refresh(region);
        }
      }, 0);
    });
  });

  if (window.EventSource) {
    var source = new EventSource("/console/events");
    var types = new Set();
    regions.forEach(function (region) { eventsOf(region).forEach(function (type) { types.add(type); }); });
    types.forEach(function (type) {
      source.addEventListener(type, function () {
        regions.forEach(function (region) {
          if (eventsOf(region).indexOf(type) !== -1) {
            schedule(region);
          }
        });
      });
    });
  }
  // A hidden tab skips the poll and catches up as soon as it is shown again.
  setInterval(function () {
    if (!document.hidden) {
      regions.forEach(refresh);
    }
  }, POLL_MS);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      regions.forEach(refresh);
    }
  });

  // Acknowledge without leaving the page; without JavaScript the form posts and reloads.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("ack-form")) {
      return;
    }
    var region = form.closest("[data-live-src]");
    if (!region) {
      return;
    }
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) {
      button.disabled = true;
    }
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken },
      body: new FormData(form),
      redirect: "manual"
    }).then(function () {
      var heading = document.getElementById("alerts-heading");
      if (heading) {
        heading.focus();
      }
      return refresh(region);
    }).then(function () {
      var summary = document.getElementById("dashboard-summary");
      if (summary) {
        return refresh(summary);
      }
    }).catch(function () {
      if (button) {
        button.disabled = false;
      }
    });
  });
})();
