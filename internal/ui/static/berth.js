// Berth web console: small enhancements for pages that work without it.
// Copy buttons, confirmation dialogs for destructive forms, a theme switch
// without a reload, label colours. No dependencies.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // Copy buttons: shown only when scripts run; they copy the named field.
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var field = document.getElementById(b.getAttribute("data-copy"));
        if (!field) return;
        var text = field.value || field.textContent;
        var done = function () {
          var old = b.textContent;
          b.textContent = "Copied";
          b.classList.add("copied");
          setTimeout(function () { b.textContent = old; b.classList.remove("copied"); }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { field.select(); document.execCommand("copy"); done(); });
        } else {
          field.select();
          document.execCommand("copy");
          done();
        }
      });
    });

    // Destructive forms ask in a dialog, then post with confirm=yes; without
    // scripts the server answers with a confirmation page instead.
    var dialog = document.getElementById("confirm-dialog");
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        if (f.querySelector("input[name=confirm]") || !dialog || !dialog.showModal) return;
        ev.preventDefault();
        document.getElementById("confirm-text").textContent = f.getAttribute("data-confirm");
        var btn = f.querySelector("button[type=submit]");
        document.getElementById("confirm-ok").textContent = btn ? btn.textContent.trim() : "Confirm";
        dialog.returnValue = "";
        dialog.onclose = function () {
          if (dialog.returnValue !== "ok") return;
          var c = document.createElement("input");
          c.type = "hidden"; c.name = "confirm"; c.value = "yes";
          f.appendChild(c);
          f.submit();
        };
        dialog.showModal();
      });
    });

    // Theme: apply at once and remember in the cookie the server reads.
    var sel = document.getElementById("theme-select");
    if (sel) {
      sel.addEventListener("change", function () {
        var v = sel.value;
        if (v) {
          document.documentElement.setAttribute("data-theme", v);
          document.cookie = "berth_theme=" + v + "; path=/; max-age=31536000; samesite=lax";
        } else {
          document.documentElement.removeAttribute("data-theme");
          document.cookie = "berth_theme=; path=/; max-age=0; samesite=lax";
        }
        try { localStorage.setItem("berth_theme", v); } catch (e) { /* private mode */ }
      });
    }

    // Label colours (inline styles are not allowed by the page's policy,
    // but the style object is).
    document.querySelectorAll(".label[data-color]").forEach(function (el) {
      var c = el.getAttribute("data-color");
      if (/^#[0-9a-fA-F]{6}$/.test(c)) {
        el.style.borderColor = c;
        el.style.boxShadow = "inset 0.35rem 0 0 " + c;
      }
    });
  });
})();
