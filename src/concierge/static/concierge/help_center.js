// Help center: reports what the visitor saw (article view, search) by posting back the
// signed event token the server put in the page. Loaded as a static file (strict CSP).
(function () {
  "use strict";

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function send(element) {
    var token = element.getAttribute("data-help-event");
    var url = element.getAttribute("data-help-event-url");
    if (!token || !url) return;
    var body = new FormData();
    body.append("token", token);
    // keepalive: the visitor may leave the page at once; the event still arrives.
    window.fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      keepalive: true,
      headers: { "X-CSRFToken": csrfToken() },
    }).catch(function () { /* analytics must never disturb reading */ });
  }

  function init() {
    document.querySelectorAll("[data-help-event]").forEach(send);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
