/* Live workspace: one WebSocket per page (/ws/agent/) keeps the inbox, the ticket page,
 * presence and collision hints current without reloading.
 *
 * - Reconnects with exponential backoff (1 s doubling to 30 s, with jitter) and resumes
 *   from the last event id it saw, so a dropped connection loses nothing; a page that was
 *   away too long for a replay is told to reload ("resync").
 * - Updates are re-rendered by the server: on an event, the page fetches itself and swaps
 *   the elements marked data-live-region="..." (inbox list, view counts, timeline, ticket
 *   properties). Nothing the agent is working on is swapped under them: a region with
 *   focus, an open popover or selected rows waits behind a "Show updates" button.
 * - Collision detection: who else has this ticket open and who is typing; sending a reply
 *   after someone else wrote asks first (the server checks again: seen_last_entry_id).
 * No inline script or style, no eval (strict CSP): this file only.
 */
(function () {
  "use strict";

  var MIN_BACKOFF_MS = 1000;
  var MAX_BACKOFF_MS = 30000;
  var TYPING_SEND_EVERY_MS = 3000;
  var TYPING_IDLE_MS = 4000;
  var TYPING_SHOWN_MS = 7000;
  var ACTIVITY_EVERY_MS = 30000;
  var REFRESH_DEBOUNCE_MS = 400;
  var COUNTS_CACHE_MS = 15000;  // tickets.services.COUNT_CACHE_SECONDS

  var config = null;
  var socket = null;
  var lastEventId = 0;
  var seenIds = {};
  var backoff = MIN_BACKOFF_MS;
  var reconnectTimer = null;
  var watchdogTimer = null;
  var heartbeatMs = 25000;
  var refreshTimer = null;
  var countsTimer = null;
  var pendingRefresh = false;
  var lastActivitySent = 0;
  var viewers = [];
  var typists = {};  // user_id -> {name, isPublic, until}
  var newerEntries = [];  // entries by others that arrived after the page loaded
  var typingSentAt = 0;
  var typingIdleTimer = null;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function page() {
    var main = document.getElementById("main");
    return main ? main.getAttribute("data-page") || "" : "";
  }

  function ticketId() {
    var main = document.getElementById("main");
    var id = main && main.getAttribute("data-ticket-id");
    return id ? parseInt(id, 10) : null;
  }

  // --- connection -------------------------------------------------------------

  function setStatus(state, text) {
    var status = $("[data-live-status]");
    if (!status) { return; }
    status.textContent = text;
    status.className = "live-status live-status--" + state;
    document.documentElement.setAttribute("data-live", state);
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + config.socketPath;
  }

  function connect() {
    window.clearTimeout(reconnectTimer);
    setStatus("connecting", "Connecting…");
    try {
      socket = new WebSocket(socketUrl());
    } catch (error) {
      scheduleReconnect();
      return;
    }
    socket.addEventListener("open", function () {
      var ticket = ticketId();
      if (page() === "ticket" && ticket) { send({ type: "subscribe", ticket_id: ticket }); }
      send({ type: "resume", last_event_id: lastEventId });
      armWatchdog();
    });
    socket.addEventListener("message", function (message) {
      armWatchdog();
      var frame;
      try { frame = JSON.parse(message.data); } catch (error) { return; }
      handleFrame(frame);
    });
    socket.addEventListener("close", function (event) {
      window.clearTimeout(watchdogTimer);
      socket = null;
      if (event.code === 4401 || event.code === 4403) {
        setStatus("offline", "Signed out");
        return;  // a new sign-in reloads the page; retrying would only be refused
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    var delay = Math.min(backoff, MAX_BACKOFF_MS);
    var jittered = delay / 2 + Math.random() * delay / 2;
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    setStatus("reconnecting", "Reconnecting…");
    reconnectTimer = window.setTimeout(connect, jittered);
  }

  function armWatchdog() {
    // The server beats every heartbeat_seconds; two silent periods mean a dead link
    // that the browser has not noticed (sleeping laptop, changed network).
    window.clearTimeout(watchdogTimer);
    watchdogTimer = window.setTimeout(function () {
      if (socket) { socket.close(); }
    }, heartbeatMs * 2 + 5000);
  }

  // --- frames -------------------------------------------------------------------

  function handleFrame(frame) {
    switch (frame.type) {
      case "hello":
        heartbeatMs = (frame.heartbeat_seconds || 25) * 1000;
        setTeam(frame.presence || []);
        break;
      case "resumed":
        backoff = MIN_BACKOFF_MS;
        setStatus("live", "Live");
        break;
      case "resync":
        setStatus("stale", "Updates missed");
        showPending("You were away too long for live updates.", function () {
          window.location.reload();
        }, "Reload");
        break;
      case "event":
        handleEvent(frame);
        break;
      case "viewers":
        if (frame.ticket_id === ticketId()) { viewers = frame.viewers || []; renderViewers(); }
        break;
      case "error":
        if (window.console) { window.console.warn("live:", frame.code, frame.message); }
        break;
      default:
        break;
    }
  }

  function handleEvent(frame) {
    if (frame.id !== null && frame.id !== undefined) {
      if (seenIds[frame.id]) { return; }
      seenIds[frame.id] = true;
      if (frame.id > lastEventId) { lastEventId = frame.id; }
    }
    var data = frame.data || {};
    var current = ticketId();
    if (frame.kind === "presence.changed") { updatePresence(data); return; }
    if (frame.kind === "typing") { handleTyping(data); return; }
    if (frame.kind === "automation.notification") { handleNotification(data); return; }
    if (frame.kind === "automation.notifications_read") { handleNotificationsRead(data); return; }
    if (frame.stream === "staff") {
      if (page() === "inbox" || page() === "list") {
        scheduleRefresh();
        scheduleCountsCatchUp();
      }
      return;
    }
    if (current && frame.stream === "ticket." + current) {
      if (frame.kind === "entry.created") {
        noteNewEntry(data);
        clearTyping(data.author_name);
      }
      scheduleRefresh();
    }
  }

  // --- notifications (a rule's "notify", an escalation) -----------------------------
  // The server sends these to the agents they name only. A pop-up per notification,
  // newest on top, at most TOASTS_SHOWN at once (older ones give way: the bell and the
  // list keep them all); each goes after TOAST_SHOWN_MS, waits while the pointer or the
  // focus is on it, and closes with its button or Escape. The stack is one polite live
  // region that exists before the first pop-up, so screen readers announce each one.

  var TOASTS_SHOWN = 3;
  var TOAST_SHOWN_MS = 8000;

  function setNotificationCount(value) {
    var count = $("[data-notification-count]");
    if (!count) { return; }
    var unread = Math.max(0, value);
    count.textContent = String(unread);
    count.hidden = unread === 0;
  }

  function notificationCount() {
    var count = $("[data-notification-count]");
    return count ? parseInt(count.textContent || "0", 10) || 0 : 0;
  }

  function toastStack() {
    var stack = $("[data-notification-toasts]");
    if (stack) { return stack; }
    stack = document.createElement("div");
    stack.className = "notification-toasts";
    stack.setAttribute("data-notification-toasts", "");
    stack.setAttribute("role", "status");
    stack.setAttribute("aria-live", "polite");
    stack.setAttribute("aria-label", "New notifications");
    stack.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") { return; }
      var toast = event.target.closest ? event.target.closest("[data-notification-toast]") : null;
      if (toast) { event.preventDefault(); dismissToast(toast, true); }
    });
    document.body.appendChild(stack);
    return stack;
  }

  function dismissToast(toast, moveFocus) {
    window.clearTimeout(toast.dismissTimer);
    var next = toast.nextElementSibling || toast.previousElementSibling;
    var hadFocus = toast.contains(document.activeElement);
    toast.remove();
    if (moveFocus || hadFocus) {
      // Keyboard users keep their place: the next pop-up, or the bell.
      var target = next ? $("a", next) : $("[data-notification-bell]");
      if (target) { target.focus(); }
    }
  }

  function armToast(toast) {
    window.clearTimeout(toast.dismissTimer);
    toast.dismissTimer = window.setTimeout(function () { dismissToast(toast, false); }, TOAST_SHOWN_MS);
  }

  function holdToast(toast) { window.clearTimeout(toast.dismissTimer); }

  function showToast(data) {
    var stack = toastStack();
    var toast = document.createElement("div");
    toast.className = "flash flash--info notification-toast";
    toast.setAttribute("data-notification-toast", "");
    if (data.ticket_id) { toast.setAttribute("data-ticket-id", String(data.ticket_id)); }
    var link = document.createElement("a");
    // data.link: a workspace path the server built (an article's flags); never a full URL.
    var local = typeof data.link === "string" && data.link.charAt(0) === "/" && data.link.charAt(1) !== "/";
    link.href = data.ticket_id ? "/tickets/" + encodeURIComponent(data.ticket_id) + "/" : (local ? data.link : "/notifications/");
    link.textContent = data.message || "New notification";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "notification-toast__close";
    close.setAttribute("aria-label", "Dismiss notification");
    close.setAttribute("data-notification-dismiss", "");
    close.textContent = "\u00d7";
    close.addEventListener("click", function () { dismissToast(toast, false); });
    toast.appendChild(link);
    toast.appendChild(close);
    toast.addEventListener("mouseenter", function () { holdToast(toast); });
    toast.addEventListener("mouseleave", function () {
      if (!toast.contains(document.activeElement)) { armToast(toast); }
    });
    toast.addEventListener("focusin", function () { holdToast(toast); });
    toast.addEventListener("focusout", function (event) {
      if (!toast.contains(event.relatedTarget)) { armToast(toast); }
    });
    stack.insertBefore(toast, stack.firstChild);
    // Over the limit, the oldest go first; never the one the agent is on.
    var shown = $all("[data-notification-toast]", stack);
    shown.reverse().filter(function (old) { return !old.contains(document.activeElement); })
      .slice(0, Math.max(0, shown.length - TOASTS_SHOWN))
      .forEach(function (old) { dismissToast(old, false); });
    armToast(toast);
  }

  function isForMe(data) {
    // The server already sends these only to the agents named; this is a second lock.
    return (data.user_ids || []).indexOf(config.userId) >= 0;
  }

  function handleNotification(data) {
    if (!isForMe(data)) { return; }
    if (data.ticket_id && data.ticket_id === ticketId() && document.visibilityState === "visible") {
      // The agent is looking at that ticket: no bell, no pop-up. The server marks it
      // read and tells every tab the new count; if that fails, it is an ordinary notice.
      markTicketNoticesRead(data);
      return;
    }
    setNotificationCount(notificationCount() + 1);
    showToast(data);
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function markTicketNoticesRead(data) {
    var url = "/notifications/read/ticket/" + encodeURIComponent(data.ticket_id) + "/";
    window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
    }).catch(function () {
      setNotificationCount(notificationCount() + 1);
      showToast(data);
    });
  }

  function handleNotificationsRead(data) {
    // This agent read notifications in another tab (or opened the ticket): same count here.
    if (!isForMe(data)) { return; }
    if (typeof data.unread === "number") { setNotificationCount(data.unread); }
    if (data.ticket_id) {
      $all('[data-notification-toast][data-ticket-id="' + String(parseInt(data.ticket_id, 10)) + '"]')
        .forEach(function (toast) { dismissToast(toast, false); });
    }
  }

  // --- region refresh -----------------------------------------------------------

  function isBusy(region) {
    if (region.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    if ($all("details[open]", region).length) { return true; }
    return $all("input, textarea, select", region).some(isEdited);
  }

  function isEdited(field) {
    // A change the agent has not saved yet (or a ticket row picked for a bulk action).
    if (field.type === "hidden" || field.type === "file") { return false; }
    if (field.type === "checkbox" || field.type === "radio") {
      return field.checked !== field.defaultChecked;
    }
    if (field.tagName === "SELECT") {
      var options = Array.prototype.slice.call(field.options);
      if (field.multiple) {
        return options.some(function (option) { return option.selected !== option.defaultSelected; });
      }
      // With no option marked selected in the HTML the browser shows the first one.
      var initial = options.findIndex(function (option) { return option.defaultSelected; });
      return field.selectedIndex !== Math.max(initial, 0);
    }
    return field.value !== field.defaultValue;
  }

  function scheduleRefresh() {
    // A burst of events makes one request; the random part spreads a whole team's
    // pages over a second instead of all asking the server at the same instant.
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refresh, REFRESH_DEBOUNCE_MS + Math.random() * 600);
  }

  function scheduleCountsCatchUp() {
    // View counts are cached on the server for COUNTS_CACHE_MS; one more refresh after
    // that makes them exact even when this agent did not make the change.
    if (countsTimer) { return; }
    countsTimer = window.setTimeout(function () {
      countsTimer = null;
      refresh();
    }, COUNTS_CACHE_MS + 1000);
  }

  function refresh(force) {
    var regions = $all("[data-live-region]");
    if (!regions.length) { return; }
    window.fetch(window.location.href, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "concierge-live" },
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var deferred = false;
      regions.forEach(function (region) {
        var name = region.getAttribute("data-live-region");
        var replacement = fresh.querySelector('[data-live-region="' + name + '"]');
        if (!replacement) { return; }
        if (force !== true && isBusy(region)) { deferred = true; return; }
        var node = document.importNode(replacement, true);
        region.replaceWith(node);
        // htmx binds hx- attributes when it loads a page; new nodes need it again.
        if (window.htmx && window.htmx.process) { window.htmx.process(node); }
      });
      if (deferred) {
        showPending("New activity.", function () { refresh(true); }, "Show updates");
      } else {
        hidePending();
      }
      document.dispatchEvent(new CustomEvent("concierge:live-refreshed"));
    }).catch(function () { /* the next event or reconnect tries again */ });
  }

  function pendingBar() {
    var bar = $("[data-live-pending]");
    if (bar) { return bar; }
    bar = document.createElement("div");
    bar.className = "live-pending";
    bar.setAttribute("data-live-pending", "");
    bar.setAttribute("role", "status");
    bar.hidden = true;
    var text = document.createElement("span");
    text.setAttribute("data-live-pending-text", "");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small";
    button.setAttribute("data-live-pending-button", "");
    bar.appendChild(text);
    bar.appendChild(document.createTextNode(" "));
    bar.appendChild(button);
    var main = document.getElementById("main");
    if (main) { main.insertBefore(bar, main.firstChild); }
    return bar;
  }

  function showPending(message, action, label) {
    var bar = pendingBar();
    $("[data-live-pending-text]", bar).textContent = message;
    var button = $("[data-live-pending-button]", bar);
    button.textContent = label;
    button.onclick = function () { bar.hidden = true; action(); };
    bar.hidden = false;
  }

  function hidePending() {
    var bar = $("[data-live-pending]");
    if (bar) { bar.hidden = true; }
  }

  // --- presence -----------------------------------------------------------------

  var team = {};  // user_id -> {user_id, name, status}
  var STATUS_ORDER = { online: 0, away: 1, offline: 2 };

  function setTeam(people) {
    team = {};
    people.forEach(function (person) { team[person.user_id] = person; });
    renderTeam();
  }

  function updatePresence(person) {
    if (!person || person.user_id === undefined) { return; }
    team[person.user_id] = person;
    renderTeam();
  }

  function renderTeam() {
    var list = $("[data-presence-list]");
    if (!list) { return; }
    var people = Object.keys(team).map(function (id) { return team[id]; })
      .filter(function (person) { return person.user_id !== config.userId; })
      .sort(function (a, b) {
        return (STATUS_ORDER[a.status] - STATUS_ORDER[b.status]) || a.name.localeCompare(b.name);
      });
    list.textContent = "";
    people.forEach(function (person) {
      var item = document.createElement("li");
      item.className = "presence presence--" + person.status;
      item.setAttribute("data-presence-user", String(person.user_id));
      var dot = document.createElement("span");
      dot.className = "presence-dot";
      dot.setAttribute("aria-hidden", "true");
      var name = document.createElement("span");
      name.className = "presence-name";
      name.textContent = person.name;
      var label = document.createElement("span");
      label.className = "presence-label muted";
      label.textContent = person.status;
      item.appendChild(dot);
      item.appendChild(name);
      item.appendChild(label);
      list.appendChild(item);
    });
    if (!people.length) {
      var empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = "No teammates yet.";
      list.appendChild(empty);
    }
    var count = $("[data-presence-online-count]");
    if (count) {
      count.textContent = String(people.filter(function (p) { return p.status === "online"; }).length);
    }
    // Elsewhere on the page (the agents list): [data-presence-user] badges.
    $all("[data-presence-status]").forEach(function (badge) {
      var person = team[badge.getAttribute("data-presence-status")];
      if (person) { badge.textContent = person.status.charAt(0).toUpperCase() + person.status.slice(1); }
    });
  }

  // --- collisions: viewers, typing, newer entries ----------------------------------

  function handleTyping(data) {
    if (data.user_id === config.userId || data.ticket_id !== ticketId()) { return; }
    if (data.is_typing) {
      typists[data.user_id || "customer"] = {
        name: data.name || data.author_name || "The customer",
        isPublic: !!data.public || data.who === "customer",
        until: Date.now() + TYPING_SHOWN_MS,
      };
      window.setTimeout(renderViewers, TYPING_SHOWN_MS + 50);
    } else {
      delete typists[data.user_id || "customer"];
    }
    renderViewers();
  }

  function clearTyping(name) {
    Object.keys(typists).forEach(function (id) {
      if (typists[id].name === name) { delete typists[id]; }
    });
    renderViewers();
  }

  function renderViewers() {
    var bar = $("[data-live-viewers]");
    if (!bar) { return; }
    var now = Date.now();
    var parts = [];
    var typing = [];
    Object.keys(typists).forEach(function (id) {
      if (typists[id].until < now) { delete typists[id]; return; }
      typing.push(typists[id].name + (typists[id].isPublic ? " is typing…" : " is writing a note…"));
    });
    if (viewers.length) {
      parts.push("Also viewing: " + viewers.map(function (v) { return v.name; }).join(", "));
    }
    bar.textContent = parts.concat(typing).join(" · ");
    bar.hidden = !bar.textContent;
    bar.classList.toggle("live-viewers--typing", typing.length > 0);
  }

  function noteNewEntry(data) {
    // Only messages by someone else count, and only ones newer than the page (a replay
    // after reconnect can repeat entries the page already showed).
    if (data.kind === "event" || data.author_user_id === config.userId) { return; }
    var seen = $("[data-live-composer] [data-seen-last-entry]");
    var seenId = seen ? parseInt(seen.value || "0", 10) : 0;
    var known = newerEntries.some(function (entry) { return entry.entry_id === data.entry_id; });
    if (data.entry_id > seenId && !known) { newerEntries.push(data); }
  }

  function setUpComposer() {
    var composer = $("[data-live-composer]");
    if (!composer) { return; }
    var body = $('textarea[name="body"]', composer);
    if (body) {
      body.addEventListener("input", function () {
        var now = Date.now();
        // Not sent (socket still connecting)? The next keystroke tries again.
        if (now - typingSentAt > TYPING_SEND_EVERY_MS && sendTyping(true)) {
          typingSentAt = now;
        }
        window.clearTimeout(typingIdleTimer);
        typingIdleTimer = window.setTimeout(function () {
          typingSentAt = 0;
          sendTyping(false);
        }, TYPING_IDLE_MS);
      });
    }
    composer.addEventListener("submit", function (event) {
      window.clearTimeout(typingIdleTimer);
      sendTyping(false);
      if (!newerEntries.length) { return; }
      var names = newerEntries.map(function (entry) { return entry.author_name; })
        .filter(function (name, index, all) { return all.indexOf(name) === index; });
      var question = newerEntries.length + (newerEntries.length === 1 ? " new message" : " new messages") +
        " arrived since you opened this ticket (from " + names.join(", ") + "). Send yours anyway?";
      if (!window.confirm(question)) {
        event.preventDefault();
        event.stopImmediatePropagation();
        return;
      }
      // Confirmed: tell the server which entries the agent has now seen.
      var newest = newerEntries.reduce(function (max, entry) { return Math.max(max, entry.entry_id); }, 0);
      var seen = $("[data-seen-last-entry]", composer);
      if (seen && newest > parseInt(seen.value || "0", 10)) { seen.value = String(newest); }
      newerEntries = [];
    });
  }

  function composerKind() {
    var checked = $('#composer input[name="kind"]:checked');
    return checked ? checked.value : "reply";
  }

  function sendTyping(isTyping) {
    var ticket = ticketId();
    if (!ticket) { return false; }
    return send({
      type: "typing", ticket_id: ticket, is_typing: isTyping, public: composerKind() === "reply",
    });
  }

  // --- activity (presence: not away) ------------------------------------------------

  function noteActivity() {
    var now = Date.now();
    if (now - lastActivitySent < ACTIVITY_EVERY_MS) { return; }
    if (send({ type: "activity" })) { lastActivitySent = now; }
  }

  // --- start ------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    var element = document.getElementById("live-config");
    if (!element || !window.WebSocket) { return; }
    config = {
      socketPath: element.getAttribute("data-socket-path"),
      lastEventId: parseInt(element.getAttribute("data-last-event-id") || "0", 10),
      userId: parseInt(element.getAttribute("data-user-id") || "0", 10),
    };
    heartbeatMs = parseFloat(element.getAttribute("data-heartbeat-seconds") || "25") * 1000;
    lastEventId = config.lastEventId;
    setUpComposer();
    ["keydown", "pointerdown", "scroll"].forEach(function (name) {
      document.addEventListener(name, noteActivity, { passive: true });
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        lastActivitySent = 0;
        noteActivity();
        if (!socket) { backoff = MIN_BACKOFF_MS; connect(); }
      }
    });
    window.addEventListener("online", function () {
      if (!socket) { backoff = MIN_BACKOFF_MS; connect(); }
    });
    connect();
  });
})();
