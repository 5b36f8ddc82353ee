// The demo site's own script: a second way to open the widget, and a note when a request
// was sent. OpsdeskWidget and the "opsdesk:request-sent" event come from widget.js.
document.getElementById("open-widget").addEventListener("click", function () {
  if (window.OpsdeskWidget) {
    window.OpsdeskWidget.open();
  }
});
document.addEventListener("opsdesk:request-sent", function (event) {
  document.getElementById("sent-note").textContent =
    "Thank you! Your request " + event.detail.reference + " has been sent.";
});
