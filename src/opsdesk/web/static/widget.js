/* Opsdesk request widget. Embed it with one line:
 *
 *   <script src="https://desk.example.com/widget.js" data-service-type="solar_repair"
 *           data-label="Need help?" data-position="right" defer></script>
 *
 * It adds a floating button that opens the request form of that Opsdesk server in a frame.
 * The button is in a shadow root, and its styles are set on the elements with !important,
 * so the host page's CSS cannot restyle it. The form itself is a separate document in the
 * frame. Opening and closing are also available as OpsdeskWidget.open()
 * and OpsdeskWidget.close(), and a sent request fires an "opsdesk:request-sent" event on
 * the document with the reference in event.detail.reference. */
(function () {
  "use strict";

  if (window.OpsdeskWidget) {
    return;
  }
  var script = document.currentScript;
  if (!script) {
    var scripts = document.querySelectorAll('script[src*="/widget.js"]');
    script = scripts[scripts.length - 1];
  }
  if (!script) {
    return;
  }

  var server = new URL(script.src, window.location.href).origin;
  var serviceType = script.dataset.serviceType || "";
  var label = script.dataset.label || "Request service";
  var side = script.dataset.position === "left" ? "left" : "right";

  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var ACCENT = "#1f5fbf";

  function styles(element, properties) {
    Object.keys(properties).forEach(function (name) {
      element.style.setProperty(name, properties[name], "important");
    });
  }

  var host;
  var button;
  var panel;
  var frame = null;

  function build() {
    if (host) {
      return;
    }
    host = document.createElement("opsdesk-widget");
    styles(host, {
      all: "initial",
      display: "block",
      position: "fixed",
      bottom: "16px",
      "z-index": "2147483000"
    });
    host.style.setProperty(side, "16px", "important");
    // The root is open because a closed one would not stop the host page's scripts anyway,
    // and an open root lets browser tests reach the button.
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

    button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.setAttribute("data-testid", "opsdesk-widget-button");
    button.setAttribute("aria-haspopup", "dialog");
    button.setAttribute("aria-expanded", "false");
    styles(button, {
      all: "initial",
      cursor: "pointer",
      display: "inline-block",
      "font-family": FONT,
      "font-size": "16px",
      "font-weight": "600",
      "line-height": "1.2",
      color: "#ffffff",
      background: ACCENT,
      border: "2px solid #ffffff",
      "border-radius": "999px",
      padding: "12px 20px",
      "box-shadow": "0 4px 14px rgba(0, 0, 0, 0.25)"
    });
    button.addEventListener("focus", function () {
      styles(button, { outline: "3px solid #f2b705", "outline-offset": "2px" });
    });
    button.addEventListener("blur", function () {
      button.style.removeProperty("outline");
    });
    button.addEventListener("click", function () {
      if (panel.style.getPropertyValue("display") === "none") {
        open();
      } else {
        close();
      }
    });

    panel = document.createElement("div");
    panel.setAttribute("role", "dialog");
    panel.setAttribute("data-testid", "opsdesk-widget-panel");
    panel.setAttribute("aria-label", label);
    styles(panel, {
      all: "initial",
      display: "none",
      "flex-direction": "column",
      position: "fixed",
      bottom: "80px",
      width: "min(420px, calc(100vw - 16px))",
      height: "min(680px, calc(100vh - 96px))",
      background: "#ffffff",
      border: "1px solid #d9dee6",
      "border-radius": "10px",
      "box-shadow": "0 10px 30px rgba(0, 0, 0, 0.3)",
      overflow: "hidden"
    });
    panel.style.setProperty(side, "8px", "important");

    var bar = document.createElement("div");
    styles(bar, {
      all: "initial",
      display: "flex",
      "align-items": "center",
      "justify-content": "space-between",
      padding: "6px 8px 6px 14px",
      background: "#1d2430",
      color: "#ffffff",
      "font-family": FONT,
      "font-size": "15px",
      "font-weight": "600"
    });
    var title = document.createElement("span");
    title.textContent = label;
    var closeButton = document.createElement("button");
    closeButton.type = "button";
    closeButton.textContent = "×";
    closeButton.setAttribute("aria-label", "Close");
    closeButton.setAttribute("data-testid", "opsdesk-widget-close");
    styles(closeButton, {
      all: "initial",
      cursor: "pointer",
      color: "#ffffff",
      "font-family": FONT,
      "font-size": "24px",
      "line-height": "1",
      padding: "4px 10px",
      "border-radius": "6px"
    });
    closeButton.addEventListener("focus", function () {
      styles(closeButton, { outline: "3px solid #f2b705" });
    });
    closeButton.addEventListener("blur", function () {
      closeButton.style.removeProperty("outline");
    });
    closeButton.addEventListener("click", close);
    bar.appendChild(title);
    bar.appendChild(closeButton);
    panel.appendChild(bar);

    root.appendChild(panel);
    root.appendChild(button);
    document.body.appendChild(host);
  }

  function formAddress() {
    var query = new URLSearchParams();
    if (serviceType) {
      query.set("service_type", serviceType);
    }
    query.set("origin", window.location.origin);
    return server + "/widget/form?" + query.toString();
  }

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = formAddress();
      frame.title = label;
      frame.setAttribute("data-testid", "opsdesk-widget-frame");
      frame.setAttribute("allow", "clipboard-write");
      styles(frame, {
        all: "initial",
        display: "block",
        flex: "1 1 auto",
        width: "100%",
        border: "0",
        background: "#ffffff"
      });
      panel.appendChild(frame);
    }
    styles(panel, { display: "flex" });
    button.setAttribute("aria-expanded", "true");
    frame.focus();
  }

  function close() {
    if (!panel || panel.style.getPropertyValue("display") === "none") {
      return;
    }
    styles(panel, { display: "none" });
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  // Escape pressed on the host page. The frame reports its own Escape by message.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      close();
    }
  });

  window.addEventListener("message", function (event) {
    if (event.origin !== server || !frame || event.source !== frame.contentWindow) {
      return;
    }
    var data = event.data;
    if (!data || data.source !== "opsdesk-widget") {
      return;
    }
    if (data.type === "close") {
      close();
    } else if (data.type === "sent") {
      document.dispatchEvent(
        new CustomEvent("opsdesk:request-sent", { detail: { reference: String(data.reference) } })
      );
    }
  });

  window.OpsdeskWidget = {
    open: function () {
      if (!host) {
        build();
      }
      open();
    },
    close: close
  };

  if (document.body) {
    build();
  } else {
    document.addEventListener("DOMContentLoaded", build);
  }
})();
