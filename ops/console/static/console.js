// Live refresh of a page part without reloading: an element with data-src is replaced every
// data-every seconds by the HTML fragment the console renders at that address. A session that
// has ended sends the browser back to the login page.
(function () {
  "use strict";
  function refresh(el) {
    fetch(el.dataset.src, { credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) {
          window.location.assign("/login?m=expired");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html !== null) { el.innerHTML = html; } })
      .catch(function () { /* the next round tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-src]").forEach(function (el) {
      var every = Math.max(parseFloat(el.dataset.every || "5"), 1) * 1000;
      window.setInterval(function () { refresh(el); }, every);
    });
  });
})();
