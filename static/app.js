// Gatehouse progressive enhancement. No inline script anywhere (CSP): behaviour hangs
// off data attributes. Every form works without this file.
(function () {
  "use strict";
  // The token of the page on screen: boosted navigation swaps the body but not the
  // head, so a hidden field of the current body wins over the head's meta tag.
  function csrfToken() {
    var f = document.body && document.body.querySelector('input[name="_csrf"]');
    if (f) { return f.value; }
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  // Every HTMX request carries the CSRF token as a header.
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // announce says msg to screen readers through the layout's polite live region.
  function announce(msg) {
    var live = document.getElementById("live");
    if (!live) { return; }
    live.textContent = "";
    setTimeout(function () { live.textContent = msg; }, 30);
  }

  // copyText uses the Clipboard API where the page is a secure context (https,
  // localhost) and falls back to selecting a hidden textarea and execCommand("copy")
  // elsewhere (plain-HTTP deployments), so Copy never fails silently.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }
  function legacyCopy(text) {
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "visually-hidden";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      document.body.removeChild(ta);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  document.addEventListener("click", function (e) {
    var copy = e.target.closest("[data-copy]");
    if (!copy) { return; }
    e.preventDefault();
    var text = copy.getAttribute("data-copy");
    var label = copy.getAttribute("data-label") || copy.textContent;
    copy.setAttribute("data-label", label);
    copyText(text).then(function () {
      copy.textContent = "Copied";
      announce("Copied to the clipboard");
    }, function () {
      // Last resort: select the value so the person can press Ctrl+C / ⌘C.
      var box = copy.parentNode;
      var input = box && box.querySelector("input:not([type=hidden])");
      var block = box && box.querySelector(".secret-value");
      if (input) {
        input.focus(); input.select();
      } else if (block && window.getSelection) {
        var range = document.createRange();
        range.selectNodeContents(block);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
      }
      copy.textContent = "Press Ctrl+C";
      announce("Copying is blocked here: the value is selected, press Control C to copy it");
    }).then(function () {
      setTimeout(function () { copy.textContent = label; }, 2000);
    });
  });

  // Forms and buttons that need a confirmation say so in data-confirm.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    var msg = f.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);
  // A SAML message form to the IdP (HTTP-POST binding: AuthnRequest, LogoutResponse)
  // submits itself.
  document.addEventListener("DOMContentLoaded", function () {
    var f = document.querySelector("form[data-autopost]");
    if (f) { f.submit(); }
  });

  // Busy state: a submitted form's button is disabled at once and says what is
  // happening (data-busy, or data-busy-url when the form registers a metadata URL),
  // so a slow action is not submitted twice. The server is idempotent as well.
  function busyText(btn, form) {
    var m = form.querySelector('input[name="method"]:checked');
    if (m && m.value === "url" && btn.getAttribute("data-busy-url")) { return btn.getAttribute("data-busy-url"); }
    return btn.getAttribute("data-busy") || "Working…";
  }
  function setBusy(form, submitter) {
    var btn = submitter || form.querySelector('button[type="submit"], button:not([type])');
    if (!btn || btn.getAttribute("aria-busy") === "true") { return; }
    btn.setAttribute("data-label", btn.textContent);
    btn.setAttribute("aria-busy", "true");
    btn.textContent = busyText(btn, form);
    // Disabled after the browser has read the form (a disabled submitter is not sent).
    setTimeout(function () { btn.disabled = true; }, 0);
    announce(btn.textContent);
  }
  function clearBusy(root) {
    (root || document).querySelectorAll('button[aria-busy="true"]').forEach(function (btn) {
      btn.removeAttribute("aria-busy");
      btn.disabled = false;
      if (btn.getAttribute("data-label")) { btn.textContent = btn.getAttribute("data-label"); }
    });
  }
  document.addEventListener("submit", function (e) {
    var f = e.target;
    // htmx prevents the native submit of boosted forms: that is still a submission.
    // (getAttribute: a field named "method" shadows form.method.)
    if (!(f instanceof HTMLFormElement) || (f.getAttribute("method") || "get").toLowerCase() === "get" || f.hasAttribute("data-no-busy")) { return; }
    setBusy(f, e.submitter);
  });
  // A request that fails without replacing the page gives the button back.
  document.addEventListener("htmx:afterRequest", function (e) {
    if (!e.detail.successful) { clearBusy(); }
  });
  document.addEventListener("htmx:sendError", function () { clearBusy(); });
  // Back/forward cache: a page restored from it must not keep a busy button.
  window.addEventListener("pageshow", function () { clearBusy(); });

  // History: htmx snapshots the DOM, where a typed value is not an attribute; copy the
  // current values into attributes first, so Back shows the search box as it was.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("input").forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) { el.setAttribute("checked", ""); } else { el.removeAttribute("checked"); }
      } else if (el.type !== "password" && el.type !== "hidden" && el.type !== "file") {
        el.setAttribute("value", el.value);
      }
    });
    document.querySelectorAll("select").forEach(function (s) {
      Array.prototype.forEach.call(s.options, function (o) {
        if (o.selected) { o.setAttribute("selected", ""); } else { o.removeAttribute("selected"); }
      });
    });
    clearBusy();
  });

  // A table that scrolls inside its box must be reachable by keyboard (WCAG 2.1.1):
  // pages mark their figures focusable; this covers any other scrolling box.
  function focusableScrollers(root) {
    (root || document).querySelectorAll("figure, .table-wrap, main table").forEach(function (el) {
      if (!el.hasAttribute("tabindex") && el.scrollWidth > el.clientWidth) { el.setAttribute("tabindex", "0"); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { focusableScrollers(); });
  document.addEventListener("htmx:afterSettle", function () { focusableScrollers(); });

  // Selects marked data-autosubmit submit their form when changed.
  document.addEventListener("change", function (e) {
    var s = e.target.closest("[data-autosubmit]");
    if (s && s.form) {
      if (s.form.requestSubmit) { s.form.requestSubmit(); } else { s.form.submit(); }
    }
  });
})();
