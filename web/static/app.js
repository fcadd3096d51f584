// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  function renumber(body) {
    var rows = body.querySelectorAll("tr.rule-row");
    rows.forEach(function (row, i) {
      var cell = row.querySelector(".order-num");
      if (cell) cell.textContent = String(i + 1);
    });
  }

  // Times are rendered in UTC (to match the identity provider's logs); the toggle shows them
  // in the browser's time zone instead and remembers the choice.
  function showTimes(root, local) {
    root.querySelectorAll("time[data-utc]").forEach(function (t) {
      if (!t.dataset.utcText) t.dataset.utcText = t.textContent;
      var d = new Date(t.getAttribute("datetime"));
      t.textContent = local && !isNaN(d) ? d.toLocaleString(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        second: "2-digit", timeZoneName: "short"
      }) : t.dataset.utcText;
    });
    document.querySelectorAll("[data-time-toggle]").forEach(function (b) {
      b.textContent = local ? "show UTC" : "show local time";
      b.setAttribute("aria-pressed", local ? "true" : "false");
    });
  }

  function localTimes() {
    try { return window.localStorage.getItem("scb-time") === "local"; } catch (e) { return false; }
  }

  function init(root) {
    root.querySelectorAll("[data-time-toggle]").forEach(function (btn) {
      if (btn.dataset.bound) return;
      btn.dataset.bound = "1";
      btn.hidden = false;
      btn.addEventListener("click", function () {
        var local = !localTimes();
        try { window.localStorage.setItem("scb-time", local ? "local" : "utc"); } catch (e) { /* private mode */ }
        showTimes(document, local);
      });
    });
    if (localTimes()) showTimes(root, true);

    // Copy buttons: data-copy="<input id>".
    root.querySelectorAll("[data-copy]").forEach(function (btn) {
      if (btn.dataset.bound) return;
      btn.dataset.bound = "1";
      btn.addEventListener("click", function () {
        var input = document.getElementById(btn.dataset.copy);
        if (!input) return;
        input.select();
        var done = function () {
          var old = btn.textContent;
          btn.textContent = "Copied";
          setTimeout(function () { btn.textContent = old; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
        } else {
          document.execCommand("copy");
          done();
        }
      });
    });

    // Forms that ask before they submit: data-confirm="question".
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.dataset.confirm)) e.preventDefault();
      });
    });

    // The tenant switcher submits on change.
    root.querySelectorAll("form[data-autosubmit] select").forEach(function (sel) {
      if (sel.dataset.bound) return;
      sel.dataset.bound = "1";
      sel.addEventListener("change", function () { if (sel.value) sel.form.submit(); });
    });

    // The role-mapping table: add, remove and reorder rows.
    var body = root.querySelector("#rules-body");
    if (body && !body.dataset.bound) {
      body.dataset.bound = "1";
      renumber(body);
      body.addEventListener("click", function (e) {
        var btn = e.target.closest("button");
        if (!btn) return;
        var row = btn.closest("tr");
        if (btn.dataset.move === "up" && row.previousElementSibling) {
          body.insertBefore(row, row.previousElementSibling);
        } else if (btn.dataset.move === "down" && row.nextElementSibling) {
          body.insertBefore(row.nextElementSibling, row);
        } else if (btn.hasAttribute("data-remove")) {
          if (body.querySelectorAll("tr.rule-row").length > 1) {
            row.remove();
          } else {
            row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
          }
        } else {
          return;
        }
        renumber(body);
        btn.focus();
      });
      var add = root.querySelector("#add-rule");
      if (add) {
        var counter = 0;
        add.addEventListener("click", function () {
          var rows = body.querySelectorAll("tr.rule-row");
          var copy = rows[rows.length - 1].cloneNode(true);
          counter += 1;
          copy.querySelectorAll("input").forEach(function (i) { i.value = ""; i.removeAttribute("aria-invalid"); });
          copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
          copy.querySelectorAll("[id]").forEach(function (el) {
            var old = el.id;
            el.id = old + "-a" + counter;
            var label = copy.querySelector('label[for="' + old + '"]');
            if (label) label.htmlFor = el.id;
          });
          body.appendChild(copy);
          renumber(body);
          var first = copy.querySelector("input");
          if (first) first.focus();
        });
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (e) { init(e.target); });
})();
