/* The reply composer's article picker: search the knowledge base (htmx renders the
 * results), then insert a link to an article or its text into the reply.
 *
 * Loaded by workspace/_composer.html as a plain (not deferred) script so that the
 * component is registered before Alpine starts. No inline script, no eval.
 */
(function () {
  "use strict";

  function composerBody() {
    return document.querySelector('#composer textarea[name="body"]');
  }

  // Inserts text at the cursor (or at the end), keeping a blank line around blocks.
  function insertAtCursor(textarea, text) {
    var start = textarea.selectionStart != null ? textarea.selectionStart : textarea.value.length;
    var end = textarea.selectionEnd != null ? textarea.selectionEnd : start;
    var before = textarea.value.slice(0, start);
    var after = textarea.value.slice(end);
    textarea.value = before + text + after;
    var caret = before.length + text.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("kbPicker", function () {
      return {
        open: false,
        get expanded() { return this.open ? "true" : "false"; },
        get closed() { return !this.open; },
        toggle: function () {
          this.open = !this.open;
          if (this.open) {
            var root = this.$root;
            window.setTimeout(function () {
              var input = root.querySelector("input[type=search]");
              if (input) input.focus();
            }, 0);
          }
        },
        // Enter in the search box must not send the reply the box sits in.
        stay: function () {},
        insertLink: function (event) {
          var button = event.currentTarget;
          var body = composerBody();
          if (!body) return;
          var title = button.getAttribute("data-kb-title").replace(/[\[\]]/g, "");
          insertAtCursor(body, "[" + title + "](" + button.getAttribute("data-kb-url") + ")");
        },
        insertContent: function (event) {
          var button = event.currentTarget;
          var body = composerBody();
          var template = button.closest("li").querySelector("template[data-kb-body]");
          if (!body || !template) return;
          var text = template.content.textContent.trim();
          var separator = body.value && !/\n\n$/.test(body.value) ? "\n\n" : "";
          insertAtCursor(body, separator + text + "\n\nSource: " + button.getAttribute("data-kb-url"));
        },
      };
    });
  });
})();
