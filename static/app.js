// Gatehouse progressive enhancement. No inline script anywhere (CSP): behaviour hangs
// off data attributes.
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
  document.addEventListener("click", function (e) {
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      e.preventDefault();
      var text = copy.getAttribute("data-copy");
      navigator.clipboard.writeText(text).then(function () {
        var old = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = old; }, 1500);
      });
    }
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
  // A SAML request form to the IdP (HTTP-POST binding) submits itself.
  document.addEventListener("DOMContentLoaded", function () {
    var f = document.querySelector("form[data-autopost]");
    if (f) { f.submit(); }
  });
  // Selects marked data-autosubmit submit their form when changed.
  document.addEventListener("change", function (e) {
    var s = e.target.closest("[data-autosubmit]");
    if (s && s.form) {
      if (s.form.requestSubmit) { s.form.requestSubmit(); } else { s.form.submit(); }
    }
  });
})();
