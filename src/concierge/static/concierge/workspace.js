/* Agent workspace behaviour: Alpine components (CSP build) and keyboard shortcuts.
 *
 * Loaded before Alpine (see workspace/layout.html) so the components exist
 * when Alpine starts. No inline script, no eval: x- attributes only name the
 * properties and methods defined here.
 */
(function () {
  "use strict";

  var INBOX_KEY = "concierge.inbox.order";

  // --- Alpine components ----------------------------------------------------

  document.addEventListener("alpine:init", function () {
    var Alpine = window.Alpine;

    // The header navigation on narrow screens.
    Alpine.data("navToggle", function () {
      return {
        open: false,
        get expanded() { return this.open ? "true" : "false"; },
        get navClass() { return this.open ? "is-open" : ""; },
        toggle: function () { this.open = !this.open; },
      };
    });

    // The inbox views sidebar, collapsed on narrow screens.
    Alpine.data("sidebarToggle", function () {
      return {
        open: false,
        get expanded() { return this.open ? "true" : "false"; },
        get sidebarClass() { return this.open ? "is-open" : ""; },
        toggle: function () { this.open = !this.open; },
      };
    });

    // Row selection for bulk actions: a count and a select-all box.
    Alpine.data("bulkSelect", function () {
      return {
        count: 0,
        get barClass() { return this.count > 0 ? "is-active" : "is-idle"; },
        boxes: function () {
          return Array.prototype.slice.call(this.$root.querySelectorAll('input[name="ticket_ids"]'));
        },
        refresh: function () {
          this.count = this.boxes().filter(function (box) { return box.checked; }).length;
          this.boxes().forEach(function (box) {
            var row = box.closest("tr");
            if (row) { row.classList.toggle("is-selected", box.checked); }
          });
        },
        toggleAll: function (event) {
          var checked = event.target.checked;
          this.boxes().forEach(function (box) { box.checked = checked; });
          this.refresh();
        },
      };
    });

    // The keyboard shortcut overlay: a modal dialog that returns focus on close.
    Alpine.data("shortcutHelp", function () {
      return {
        open: false,
        returnFocus: null,
        show: function () {
          this.returnFocus = document.activeElement;
          this.open = true;
          var self = this;
          this.$nextTick(function () { self.$refs.closeButton.focus(); });
        },
        close: function () {
          if (!this.open) { return; }
          this.open = false;
          if (this.returnFocus && this.returnFocus.focus) { this.returnFocus.focus(); }
        },
      };
    });
  });

  // --- helpers ----------------------------------------------------------------

  function isTyping(target) {
    if (!target) { return false; }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function mainPage() {
    var main = document.getElementById("main");
    return main ? main.getAttribute("data-page") || "" : "";
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-ticket-list] [data-ticket-row]"));
  }

  function rememberInboxOrder() {
    // The ticket page steps through the list the agent came from (j / k).
    var list = rows();
    if (!list.length) { return; }
    var order = {
      back: window.location.pathname + window.location.search,
      items: list.map(function (row) {
        return { id: row.getAttribute("data-ticket-id"), url: row.getAttribute("data-url") };
      }),
    };
    try { window.sessionStorage.setItem(INBOX_KEY, JSON.stringify(order)); } catch (e) { /* storage off */ }
  }

  function inboxOrder() {
    try { return JSON.parse(window.sessionStorage.getItem(INBOX_KEY) || "null"); } catch (e) { return null; }
  }

  function neighbours() {
    var main = document.getElementById("main");
    var order = inboxOrder();
    if (!main || !order) { return {}; }
    var id = main.getAttribute("data-ticket-id");
    var index = order.items.findIndex(function (item) { return item.id === id; });
    if (index < 0) { return {}; }
    return { previous: order.items[index - 1], next: order.items[index + 1], back: order.back };
  }

  function setUpTicketNav() {
    var near = neighbours();
    var previous = document.querySelector("[data-ticket-prev]");
    var next = document.querySelector("[data-ticket-next]");
    var back = document.querySelector("[data-back-to-inbox]");
    if (previous && near.previous) { previous.href = near.previous.url; previous.hidden = false; }
    if (next && near.next) { next.href = near.next.url; next.hidden = false; }
    if (back && near.back) { back.href = near.back; }
  }

  var current = -1;

  function highlight(index) {
    var list = rows();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (row, i) { row.classList.toggle("is-current", i === current); });
    var link = list[current].querySelector("[data-ticket-link]") || list[current].querySelector("a");
    if (link) { link.focus(); }
  }

  function step(delta) {
    if (mainPage() === "ticket") {
      var near = neighbours();
      var target = delta > 0 ? near.next : near.previous;
      if (target) { window.location.href = target.url; }
      return;
    }
    var list = rows();
    if (!list.length) { return; }
    if (current < 0) {
      var focused = list.findIndex(function (row) { return row.contains(document.activeElement); });
      current = focused >= 0 ? focused : (delta > 0 ? -1 : list.length);
    }
    highlight(current + delta);
  }

  function chooseComposer(kind) {
    var radio = document.querySelector('#composer input[name="kind"][value="' + kind + '"]');
    if (!radio) { return; }
    radio.checked = true;
    var body = document.querySelector('#composer textarea[name="body"]');
    if (body) { body.focus(); body.scrollIntoView({ block: "center" }); }
  }

  function submitForm(id) {
    var form = document.getElementById(id);
    if (form) {
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }
  }

  // --- keyboard shortcuts --------------------------------------------------------

  var pendingG = false;
  var pendingTimer = null;

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isTyping(event.target)) { event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) { return; }
    var overlay = document.querySelector(".help-overlay");
    // While the help dialog is open it handles its own keys (Escape).
    if (overlay && window.getComputedStyle(overlay).display !== "none") { return; }
    var key = event.key;
    if (pendingG) {
      pendingG = false;
      window.clearTimeout(pendingTimer);
      if (key === "i") { event.preventDefault(); window.location.href = "/inbox/"; }
      return;
    }
    switch (key) {
      case "j": event.preventDefault(); step(1); break;
      case "k": event.preventDefault(); step(-1); break;
      case "Enter":
        if (mainPage() !== "ticket" && current >= 0 && rows()[current]) {
          event.preventDefault();
          window.location.href = rows()[current].getAttribute("data-url");
        }
        break;
      case "o":
        if (current >= 0 && rows()[current]) { window.location.href = rows()[current].getAttribute("data-url"); }
        break;
      case "r": if (mainPage() === "ticket") { event.preventDefault(); chooseComposer("reply"); } break;
      case "n": if (mainPage() === "ticket") { event.preventDefault(); chooseComposer("note"); } break;
      case "a": if (mainPage() === "ticket") { event.preventDefault(); submitForm("quick-assign"); } break;
      case "s": if (mainPage() === "ticket") { event.preventDefault(); submitForm("quick-solve"); } break;
      case "g":
        pendingG = true;
        pendingTimer = window.setTimeout(function () { pendingG = false; }, 1200);
        break;
      case "/": {
        var search = document.getElementById("search-input");
        if (search) { event.preventDefault(); search.focus(); search.select(); }
        break;
      }
      case "?": event.preventDefault(); window.dispatchEvent(new CustomEvent("concierge-help")); break;
      default: break;
    }
  });

  // --- small progressive enhancements -------------------------------------------

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute("data-autosubmit") && target.form) {
      if (target.form.requestSubmit) { target.form.requestSubmit(); } else { target.form.submit(); }
    }
  });

  // Routing rule builder: an action row shows only the parts its type uses (app.css
  // keys on data-type; without this script every part stays visible and still works).
  document.addEventListener("change", function (event) {
    var target = event.target;
    var row = target && target.closest && target.closest(".rule-row--action");
    if (row && target.name && /-type$/.test(target.name)) { row.setAttribute("data-type", target.value); }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute("data-select-on-focus")) { target.select(); }
  });

  document.addEventListener("click", function (event) {
    var opener = event.target && event.target.closest && event.target.closest("[data-help-open]");
    if (opener) { window.dispatchEvent(new CustomEvent("concierge-help")); }
  });

  // A field that applies for one value of a select only (data-shown-with="<select id>:<value>",
  // e.g. the organizations of an article "for chosen organizations") hides for the others;
  // without this script it stays visible and its hint says when it applies.
  function showDependentFields() {
    document.querySelectorAll("[data-shown-with]").forEach(function (element) {
      var spec = element.getAttribute("data-shown-with").split(":");
      var control = document.getElementById(spec[0]);
      if (!control) { return; }
      var update = function () { element.hidden = control.value !== spec[1]; };
      control.addEventListener("change", update);
      update();
    });
  }

  // A long multiple choice (an article's organizations) gets a filter by name and a count of
  // what is chosen (data-option-filter="<select id>"); chosen options always stay in view.
  function setUpOptionFilters() {
    document.querySelectorAll("[data-option-filter]").forEach(function (box) {
      var select = document.getElementById(box.getAttribute("data-option-filter"));
      var input = box.querySelector("input");
      var count = box.querySelector("[data-chosen-count]");
      if (!select || !input) { return; }
      var filter = function () {
        var query = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(select.options, function (option) {
          option.hidden = Boolean(query) && !option.selected &&
            option.text.toLowerCase().indexOf(query) === -1;
        });
      };
      var counted = function () {
        if (count) { count.textContent = select.selectedOptions.length + " chosen"; }
      };
      input.addEventListener("input", filter);
      select.addEventListener("change", counted);
      box.hidden = false;
      counted();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showDependentFields();
    setUpOptionFilters();
    var page = mainPage();
    if (page === "inbox" || page === "list") { rememberInboxOrder(); }
    if (page === "ticket") { setUpTicketNav(); }
  });
})();
