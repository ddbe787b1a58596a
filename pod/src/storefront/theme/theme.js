// Mercato default theme: small improvements over pages that work without
// script. The variant picker updates price and stock as options change,
// selects submit themselves, the search box suggests titles as you type.
(function () {
  "use strict";
  var count = document.cookie.split("; ").find(function (c) { return c.indexOf("mercato_cart_count=") === 0; });
  var n = count ? parseInt(count.split("=")[1], 10) : 0;
  document.querySelectorAll("[data-cart-count]").forEach(function (el) { el.textContent = n > 0 ? " (" + n + ")" : ""; });
  document.querySelectorAll("[data-hide-with-js]").forEach(function (el) { el.hidden = true; });
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { var f = el.form; if (f) { f.requestSubmit ? f.requestSubmit() : f.submit(); } });
  });

  var variantsEl = document.getElementById("variants");
  if (variantsEl) {
    var data = JSON.parse(variantsEl.textContent);
    var selects = Array.prototype.slice.call(document.querySelectorAll("[data-option]"));
    var price = document.querySelector("[data-price]");
    var compare = document.querySelector("[data-compare-at]");
    var stock = document.querySelector("[data-stock]");
    var add = document.querySelector("[data-add]");
    var update = function () {
      var chosen = {};
      selects.forEach(function (s) { chosen[s.getAttribute("data-option")] = s.value; });
      var match = data.variants.find(function (v) {
        return Object.keys(chosen).every(function (k) { return v.options[k] === chosen[k]; });
      });
      if (!match) {
        stock.textContent = "This combination is not available";
        stock.className = "stock stock-sold_out";
        add.disabled = true; add.textContent = "Unavailable";
        return;
      }
      price.textContent = match.price;
      if (match.compare_at) { compare.hidden = false; compare.lastChild.textContent = match.compare_at; } else { compare.hidden = true; }
      stock.textContent = match.badge_text;
      stock.className = "stock stock-" + match.badge;
      add.disabled = match.badge === "sold_out";
      add.textContent = add.disabled ? "Sold out" : "Add to cart";
    };
    selects.forEach(function (s) { s.addEventListener("change", update); });
  }

  var box = document.querySelector("[data-suggest]");
  var list = document.getElementById("suggestions");
  if (box && list) {
    var timer = null, seq = 0;
    box.addEventListener("input", function () {
      clearTimeout(timer);
      var q = box.value.trim();
      if (!q) { list.hidden = true; return; }
      timer = setTimeout(function () {
        var mine = ++seq;
        fetch("/api/search/suggest?q=" + encodeURIComponent(q), { headers: { accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
          .then(function (body) {
            if (mine !== seq) return;
            list.textContent = "";
            body.suggestions.forEach(function (s) {
              var li = document.createElement("li");
              li.setAttribute("role", "option");
              var a = document.createElement("a");
              a.href = "/products/" + s.product_id;
              a.textContent = s.title;
              li.appendChild(a);
              list.appendChild(li);
            });
            list.hidden = body.suggestions.length === 0;
          })
          .catch(function () { list.hidden = true; });
      }, 150);
    });
    document.addEventListener("click", function (e) { if (!list.contains(e.target) && e.target !== box) list.hidden = true; });
  }
})();
