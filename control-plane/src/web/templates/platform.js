// The platform pages' one script. Every page works without it.
(function () {
  "use strict";
  // The hand-over to a single store's admin goes on by itself.
  var auto = document.querySelector("form[data-autosubmit]");
  if (auto) {
    auto.submit();
    return;
  }
  var form = document.querySelector("form[data-signup]");
  if (!form) return;
  var name = form.querySelector("#store_name");
  var handle = form.querySelector("#handle");
  var status = form.querySelector("#handle-status");
  var typed = handle.value !== "";
  var timer = null;
  var asked = 0;
  function slug(s) {
    return s.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f']/g, "")
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
  }
  function check() {
    var h = handle.value.trim() || slug(name.value);
    if (!h) { status.textContent = ""; return; }
    var mine = ++asked;
    fetch("/v1/handles/" + encodeURIComponent(h), { headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (a) {
        if (!a || mine !== asked) return;
        status.textContent = a.available ? h + " is available." : h + ": " + a.reason + ".";
        status.className = "fine-print " + (a.available ? "handle-ok" : "handle-taken");
      })
      .catch(function () {});
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  }
  handle.addEventListener("input", function () { typed = handle.value !== ""; later(); });
  name.addEventListener("input", function () {
    if (!typed) handle.placeholder = slug(name.value);
    later();
  });
})();
// The console's live pages (a move, a job): while it runs, the page (the
// URL its [data-live] names, else this one) is fetched again every second
// and its live region ([data-live], polite) and controls
// ([data-live-controls]) are swapped in when they changed.
// Polling stops once the fetched page says it finished ([data-finished]),
// or on a page that is not this one any more (signed out).
(function () {
  "use strict";
  var live = document.querySelector("[data-live]");
  if (!live || live.hasAttribute("data-finished") || !window.fetch || !window.DOMParser) return;
  var url = live.getAttribute("data-live") || window.location.href;
  var EVERY = 1000;
  var SLOWER = 5000;
  function swap(selector, fresh) {
    var mine = document.querySelector(selector);
    var theirs = fresh.querySelector(selector);
    if (mine && theirs && mine.innerHTML !== theirs.innerHTML) mine.innerHTML = theirs.innerHTML;
  }
  function poll() {
    if (document.hidden) { setTimeout(poll, EVERY); return; }
    fetch(url, { headers: { accept: "text/html" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) { setTimeout(poll, SLOWER); return; }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var next = fresh.querySelector("[data-live]");
        if (!next) return;
        swap("[data-live]", fresh);
        swap("[data-live-controls]", fresh);
        if (next.hasAttribute("data-finished")) {
          live.setAttribute("data-finished", "");
          return;
        }
        setTimeout(poll, EVERY);
      })
      .catch(function () { setTimeout(poll, SLOWER); });
  }
  setTimeout(poll, EVERY);
})();
