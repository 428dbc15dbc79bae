// Says so when a change sent in the background (htmx) fails without an answer
// to show: refused (403), gone (404), a server error, or no connection. Without
// this nothing on the page would change and the click would look ignored.
// Forms that answer with their errors (400, 409, 413, 422, 429) are swapped in
// where they are instead (base.html's htmx-config). Background reads (GET:
// polling, live suggestions) fail quietly; the next one retries.
(function () {
  "use strict";

  function describe(status) {
    if (status === 403) { return "you are not allowed to do that"; }
    if (status === 404) { return "it no longer exists"; }
    return "the server could not do it";
  }

  function notice(text) {
    var main = document.getElementById("main") || document.body;
    var stack = main.querySelector(".flash-stack");
    if (!stack) {
      stack = document.createElement("div");
      stack.className = "flash-stack";
      main.insertBefore(stack, main.firstChild);
    }
    // One notice at a time: a second failure replaces the first.
    stack.querySelectorAll("[data-request-error]").forEach(function (old) { old.remove(); });
    var item = document.createElement("div");
    item.className = "flash flash--error";
    item.setAttribute("role", "alert");
    item.setAttribute("data-request-error", "");
    item.textContent = text;
    stack.appendChild(item);
  }

  function isChange(event) {
    var config = event.detail && event.detail.requestConfig;
    return Boolean(config && config.verb && config.verb.toLowerCase() !== "get");
  }

  document.addEventListener("htmx:responseError", function (event) {
    if (!isChange(event)) { return; }
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    notice("That did not work: " + describe(status) + " (HTTP " + status + "). " +
      "Reload the page and try again.");
  });

  document.addEventListener("htmx:sendError", function (event) {
    if (!isChange(event)) { return; }
    notice("The server could not be reached, so nothing was saved. Check the connection and try again.");
  });
})();
