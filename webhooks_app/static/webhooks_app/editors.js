// The webhook form's editors (resource groups of the event picker, custom header rows,
// the filter rows and "Test filters") and the in-place refresh of a delivery in progress.
// Every page works without this script: the picker is plain checkboxes, the header rows are
// inputs the browser posts, the filters are the JSON textarea, and a delivery page can be
// reloaded by hand.
(function () {
  "use strict";

  // Texts in the page's language: settings_layout.html renders them translated on [data-wh-i18n];
  // the English fallback serves a page without it.
  function t(key, fallback) {
    var box = document.querySelector("[data-wh-i18n]");
    return (box && box.getAttribute("data-" + key)) || fallback;
  }
  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  // Event picker: a checked "All <resource> events" box covers its group's single boxes.
  function syncGroups(box) {
    box.querySelectorAll("[data-event-group]").forEach(function (group) {
      var all = group.querySelector("[data-group-all]");
      group.classList.toggle("is-group-all", !!(all && all.checked));
    });
  }
  document.querySelectorAll("[data-events]").forEach(function (box) {
    syncGroups(box);
    box.addEventListener("change", function () { syncGroups(box); });
  });

  // Custom headers: add and remove rows (the server reads every posted row).
  document.querySelectorAll("[data-header-rows]").forEach(function (editor) {
    var list = editor.querySelector("[data-header-list]");
    var add = editor.querySelector("[data-header-add]");
    var max = parseInt(editor.getAttribute("data-max") || "20", 10);
    var added = 0;
    function count() { return list.querySelectorAll("[data-header-row]").length; }
    function renumber() {
      list.querySelectorAll("[data-header-row]").forEach(function (row, index) {
        row.querySelectorAll("[data-label-index]").forEach(function (el) {
          el.textContent = String(index + 1);
        });
      });
      add.disabled = count() >= max;
    }
    add.hidden = false;
    add.addEventListener("click", function () {
      var template = list.querySelector("[data-header-row]");
      var row = template.cloneNode(true);
      added += 1;
      row.querySelectorAll("input").forEach(function (input) {
        var label = row.querySelector('label[for="' + input.id + '"]');
        input.id = input.id.replace(/_\d+$/, "") + "_new" + added;
        if (label) label.setAttribute("for", input.id);
        input.value = "";
        input.placeholder = input.getAttribute("data-placeholder") || "";
      });
      list.appendChild(row);
      renumber();
      row.querySelector("input").focus();
    });
    list.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-header-remove]");
      if (!remove) return;
      var row = remove.closest("[data-header-row]");
      if (count() > 1) {
        row.remove();
      } else {
        row.querySelectorAll("input").forEach(function (input) { input.value = ""; input.placeholder = ""; });
      }
      renumber();
      add.focus();
    });
    list.querySelectorAll("[data-header-remove]").forEach(function (b) { b.hidden = false; });
    renumber();
  });

  // Filters: rows of path / operator / value, written to the JSON textarea on every change.
  var OPERATORS = [
    ["$eq", "equals"], ["$ne", "does not equal"], ["$in", "is one of"], ["$nin", "is none of"],
    ["$gt", "is greater than"], ["$gte", "is at least"], ["$lt", "is less than"], ["$lte", "is at most"],
    ["$contains", "contains"], ["$exists", "exists"]
  ].map(function (o) { return [o[0], t("op-" + o[0].slice(1), o[1])]; });

  function parseValue(text) {
    var trimmed = text.trim();
    if (trimmed === "") return "";
    if (/^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?|".*")$/.test(trimmed)) {
      try { return JSON.parse(trimmed); } catch (e) { return text; }
    }
    return text;
  }
  function showValue(value) {
    if (typeof value === "string") return /^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$/.test(value) ? JSON.stringify(value) : value;
    return JSON.stringify(value);
  }

  // The filter as rows, or null when it cannot be shown as rows ($or/$and, nested objects).
  function toRows(filters) {
    if (filters === null || typeof filters !== "object" || Array.isArray(filters)) return null;
    var rows = [];
    for (var path in filters) {
      if (path === "$or" || path === "$and") return null;
      var expected = filters[path];
      if (Array.isArray(expected)) {
        rows.push({ path: path, op: "$in", value: expected.map(showValue).join(", ") });
      } else if (expected !== null && typeof expected === "object") {
        for (var op in expected) {
          var operand = expected[op];
          if (Array.isArray(operand)) rows.push({ path: path, op: op, value: operand.map(showValue).join(", ") });
          else if (operand !== null && typeof operand === "object") return null;
          else rows.push({ path: path, op: op, value: op === "$exists" ? String(operand) : showValue(operand) });
        }
      } else {
        rows.push({ path: path, op: "$eq", value: showValue(expected) });
      }
    }
    return rows;
  }

  function fromRows(rows) {
    var filters = {};
    rows.forEach(function (row) {
      if (!row.path) return;
      var value;
      if (row.op === "$in" || row.op === "$nin") {
        value = row.value.split(",").map(function (part) { return parseValue(part.trim()); }).filter(function (v) { return v !== ""; });
      } else if (row.op === "$exists") {
        value = row.value.trim().toLowerCase() !== "false";
      } else {
        value = parseValue(row.value);
      }
      var current = filters[row.path];
      if (row.op === "$eq" && current === undefined && (value === null || typeof value !== "object")) {
        filters[row.path] = value;
        return;
      }
      if (current === undefined || current === null || typeof current !== "object" || Array.isArray(current)) {
        current = current === undefined ? {} : { $eq: current };
      }
      current[row.op] = value;
      filters[row.path] = current;
    });
    return filters;
  }

  document.querySelectorAll("[data-filter-editor]").forEach(function (editor) {
    var textarea = document.getElementById(editor.getAttribute("data-textarea"));
    var rowsBox = editor.querySelector("[data-filter-rows]");
    var note = editor.querySelector("[data-filter-note]");
    var add = editor.querySelector("[data-filter-add]");
    var counter = 0;
    editor.hidden = false;

    function rowElement(row) {
      counter += 1;
      var id = "wh-filter-" + counter;
      var div = document.createElement("div");
      div.className = "wh-filter-row";
      div.setAttribute("data-filter-row", "");
      var options = OPERATORS.map(function (o) {
        return '<option value="' + o[0] + '">' + esc(o[1]) + "</option>";
      }).join("");
      div.innerHTML =
        '<label class="wh-sr" for="' + id + '-path">' + esc(t("field", "Field")) + '</label>' +
        '<input type="text" id="' + id + '-path" class="wh-input mono" data-part="path" placeholder="' + esc(t("field-placeholder", "field, e.g. address.country")) + '" spellcheck="false">' +
        '<label class="wh-sr" for="' + id + '-op">' + esc(t("condition", "Condition")) + '</label>' +
        '<select id="' + id + '-op" class="wh-select" data-part="op">' + options + "</select>" +
        '<label class="wh-sr" for="' + id + '-value">' + esc(t("value", "Value")) + '</label>' +
        '<input type="text" id="' + id + '-value" class="wh-input" data-part="value" placeholder="' + esc(t("value-placeholder", "value (lists: SE, NO)")) + '">' +
        '<button type="button" class="wh-btn wh-btn-sm" data-filter-remove>' + esc(t("remove", "Remove")) + '<span class="wh-sr"> ' + esc(t("this-condition", "this condition")) + '</span></button>';
      div.querySelector('[data-part="path"]').value = row.path || "";
      div.querySelector('[data-part="op"]').value = row.op || "$eq";
      div.querySelector('[data-part="value"]').value = row.value || "";
      return div;
    }
    function readRows() {
      return Array.prototype.map.call(rowsBox.querySelectorAll("[data-filter-row]"), function (div) {
        return {
          path: div.querySelector('[data-part="path"]').value.trim(),
          op: div.querySelector('[data-part="op"]').value,
          value: div.querySelector('[data-part="value"]').value
        };
      });
    }
    function fromTextarea() {
      var text = textarea.value.trim();
      var filters = {};
      if (text) {
        try { filters = JSON.parse(text); } catch (e) { filters = undefined; }
      }
      var rows = filters === undefined ? null : toRows(filters);
      rowsBox.innerHTML = "";
      if (rows === null) {
        note.textContent = t("note-nested", "These filters use $or/$and or nested values: edit them as JSON below.");
        rowsBox.hidden = true;
        add.hidden = true;
        return;
      }
      note.textContent = rows.length ? "" : t("note-empty", "No conditions: every event of the chosen types is sent.");
      rowsBox.hidden = false;
      add.hidden = false;
      rows.forEach(function (row) { rowsBox.appendChild(rowElement(row)); });
    }
    function toTextarea() {
      var filters = fromRows(readRows());
      textarea.value = Object.keys(filters).length ? JSON.stringify(filters, null, 2) : "";
      note.textContent = Object.keys(filters).length ? "" : t("note-empty", "No conditions: every event of the chosen types is sent.");
    }
    rowsBox.addEventListener("input", toTextarea);
    rowsBox.addEventListener("change", toTextarea);
    rowsBox.addEventListener("click", function (event) {
      if (!event.target.closest("[data-filter-remove]")) return;
      event.target.closest("[data-filter-row]").remove();
      toTextarea();
      add.focus();
    });
    add.addEventListener("click", function () {
      var div = rowElement({ path: "", op: "$eq", value: "" });
      rowsBox.appendChild(div);
      div.querySelector("input").focus();
    });
    textarea.addEventListener("change", fromTextarea);
    fromTextarea();

    // "Test filters": evaluate against the last recorded events of the chosen types.
    var test = editor.querySelector("[data-filter-test]");
    var result = editor.querySelector("[data-filter-result]");
    if (test) {
      test.addEventListener("click", function () {
        var form = textarea.form;
        var body = new FormData();
        body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
        body.append("filters", textarea.value);
        form.querySelectorAll("[name=events]:checked").forEach(function (box) { body.append("events", box.value); });
        result.textContent = t("testing", "Testing\u2026");
        fetch(test.getAttribute("data-url"), { method: "POST", body: body, headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (data) {
            result.innerHTML = "";
            if (data.error) { result.textContent = data.error; return; }
            var summary = document.createElement("p");
            summary.textContent = data.summary;
            result.appendChild(summary);
            if (data.events.length) {
              var list = document.createElement("ul");
              list.className = "wh-filter-results";
              data.events.forEach(function (e) {
                var li = document.createElement("li");
                li.className = e.sent ? "is-sent" : "is-filtered";
                li.textContent = (e.sent ? t("sent", "Sent:") : t("not-sent", "Not sent:")) + " " + e.event_type + " " + e.id + " (" + e.created_at + ")";
                list.appendChild(li);
              });
              result.appendChild(list);
            }
          })
          .catch(function () { result.textContent = t("test-failed", "Could not test the filters; try again."); });
      });
    }
  });

  // A delivery in progress: the page's live parts are fetched again and replaced in place,
  // and a change of state is announced in the aria-live region; never a page reload (which
  // resets scroll and focus and interrupts screen readers). The first polls come quickly (a
  // test event's answer shows as soon as the receiver has given it), then less often; they
  // stop when the delivery is no longer in progress.
  var waiting = document.querySelector("[data-live-delivery]");
  var announcer = document.querySelector("[data-live-status]");
  if (waiting && announcer) {
    var state = function (doc) {
      var head = doc.querySelector("[data-live-state]");
      return head ? head.getAttribute("data-live-state") : "";
    };
    var last = state(document);
    var tick = function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live-part]").forEach(function (part) {
            var fresh = doc.querySelector('[data-live-part="' + part.getAttribute("data-live-part") + '"]');
            if (fresh && fresh.innerHTML !== part.innerHTML) {
              part.innerHTML = fresh.innerHTML;
              if (fresh.hasAttribute("data-live-state")) part.setAttribute("data-live-state", fresh.getAttribute("data-live-state"));
            }
          });
          document.dispatchEvent(new CustomEvent("wh:updated"));
          var now = state(doc);
          if (now && now !== last) {
            announcer.textContent = now;
            last = now;
          }
          if (doc.querySelector("[data-live-delivery]")) window.setTimeout(tick, next());
        })
        .catch(function () { window.setTimeout(tick, 10000); });
    };
    var delay = 250;
    var next = function () {
      delay = Math.min(delay * 1.5, 5000);
      return delay;
    };
    window.setTimeout(tick, next());
  }
})();
