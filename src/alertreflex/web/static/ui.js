// Refresh the page on a timer, unless the user is typing into a form: a refresh
// would throw away a half-written reason. Without JavaScript, a <noscript> meta
// refresh does the same every 30 s.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!seconds) { return; }
  function busy() {
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA")) { return true; }
    var inputs = document.querySelectorAll("input[name=reason]");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].value) { return true; }
    }
    return false;
  }
  setInterval(function () {
    if (!busy() && document.visibilityState !== "hidden") { window.location.reload(); }
  }, seconds * 1000);
})();
