// The admin's one script. Every page works without it.
(function () {
  "use strict";
  // Images: drag one onto another to put it there; the new order is posted
  // with the same form the "Earlier" and "Later" buttons use.
  var list = document.querySelector("[data-image-list]");
  var form = document.querySelector("form[data-image-order]");
  if (list && form) {
    var dragged = null;
    list.addEventListener("dragstart", function (e) {
      dragged = e.target.closest("li[data-image-id]");
      if (dragged) {
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", dragged.getAttribute("data-image-id"));
        dragged.classList.add("dragging");
      }
    });
    list.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("dragging");
    });
    list.addEventListener("dragover", function (e) {
      if (dragged) e.preventDefault();
    });
    list.addEventListener("drop", function (e) {
      var target = e.target.closest("li[data-image-id]");
      if (!dragged || !target || target === dragged) return;
      e.preventDefault();
      var items = Array.prototype.slice.call(list.children);
      var before = items.indexOf(target) < items.indexOf(dragged);
      list.insertBefore(dragged, before ? target : target.nextSibling);
      var order = Array.prototype.map.call(list.children, function (li) {
        return li.getAttribute("data-image-id");
      });
      form.elements.order.value = order.join(",");
      form.submit();
    });
  }
  // A file dropped anywhere on the upload's zone goes to its file input.
  var zone = document.querySelector(".drop-zone");
  if (zone) {
    var input = zone.querySelector("input[type=file]");
    zone.addEventListener("dragover", function (e) {
      if (e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0) {
        e.preventDefault();
        zone.classList.add("drop-over");
      }
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("drop-over"); });
    zone.addEventListener("drop", function (e) {
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      zone.classList.remove("drop-over");
      input.files = e.dataTransfer.files;
    });
  }
})();

// ---- Theme settings (admin/theme.rs) ----------------------------------
// The preview follows the form: a moment after a change, the form posts
// to the preview frame, as its "Preview" button does without script.
(function () {
  "use strict";
  var form = document.querySelector("form[data-theme-form]");
  var button = form && form.querySelector("[data-theme-preview]");
  if (!form || !button || !form.requestSubmit) return;
  var timer = null;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (form.checkValidity()) form.requestSubmit(button);
    }, 400);
  }
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
})();
