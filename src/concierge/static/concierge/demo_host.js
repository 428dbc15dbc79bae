/* The demo host page: queue calls to the widget before it loads, as a customer's site would. */
(function () {
  var queue = [];
  window.Concierge = window.Concierge || {
    q: queue,
    open: function () { queue.push(["open", []]); },
  };
  var identity = JSON.parse(document.getElementById("concierge-identity").textContent || "{}");
  if (identity && identity.user_id) queue.push(["identify", [identity]]);
  queue.push(["setAttributes", [{ page: "Trail Runner 2 tent" }]]);
  document.getElementById("open-chat").addEventListener("click", function () {
    window.Concierge.open();
  });
})();
