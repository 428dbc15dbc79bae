// Customer portal: small progressive enhancements. The pages work without it.
// Loaded as a static file (the Content-Security-Policy forbids inline script).
(function () {
  "use strict";

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  // Lists the chosen files under a file input and flags those over the size limit
  // before the upload starts; the server checks again either way.
  function enhanceFileInput(input) {
    var limit = parseInt(input.getAttribute("data-max-bytes"), 10) || 0;
    var list = document.createElement("ul");
    list.className = "file-list";
    list.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", list);
    function showFiles() {
      list.textContent = "";
      var tooLarge = false;
      Array.prototype.forEach.call(input.files || [], function (file) {
        var item = document.createElement("li");
        item.textContent = file.name + " (" + formatSize(file.size) + ")";
        if (limit && file.size > limit) {
          tooLarge = true;
          item.className = "file-list__item--error";
          item.textContent += " is over the " + formatSize(limit) + " limit";
        }
        list.appendChild(item);
      });
      input.setCustomValidity(tooLarge ? "One of the files is over the size limit." : "");
    }
    input.addEventListener("change", showFiles);
    // Files chosen before this script ran (a quick hand, or the browser
    // restoring the form on "back") are listed and checked too.
    showFiles();
  }

  // Prevents a second submission while the first is on its way.
  function guardSubmit(form) {
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.disabled = true;
          button.classList.add("is-busy");
        });
      }, 0);
    });
  }

  // A page restored from the back-forward cache must not keep its buttons disabled.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("body.portal button.is-busy").forEach(function (button) {
      button.disabled = false;
      button.classList.remove("is-busy");
    });
  });

  function init() {
    document.querySelectorAll("body.portal input[type=file][data-max-bytes]").forEach(enhanceFileInput);
    document.querySelectorAll("body.portal form[data-submit-once]").forEach(guardSubmit);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
