/* Opsdesk widget frame: talks to widget.js on the host page through postMessage.
 * Messages go only to the host page's origin, which the server checked against the
 * workspace's allowed origins before writing it into the page. */
(function () {
  "use strict";

  var marker = document.getElementById("widget-frame");
  var parentOrigin = marker ? marker.dataset.parentOrigin : "";
  if (!parentOrigin || window.parent === window) {
    return;
  }

  function tell(type, extra) {
    var message = { source: "opsdesk-widget", type: type };
    Object.keys(extra || {}).forEach(function (key) {
      message[key] = extra[key];
    });
    window.parent.postMessage(message, parentOrigin);
  }

  // Focus inside the frame keeps key presses from the host page, so Escape is passed on.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      tell("close");
    }
  });

  // Only the reference is shared with the host page, never the private status link.
  var reference = document.querySelector('[data-testid="sent"] [data-testid="reference"]');
  if (reference) {
    tell("sent", { reference: reference.textContent });
  }
})();
