// webhooks_app console: small progressive enhancements. Every page works
// without this file; it only saves page loads and adds conveniences.
(function () {
  "use strict";

  // Texts in the page's language: settings_layout.html renders them translated on [data-wh-i18n];
  // the English fallback serves a page without it.
  function t(key, fallback) {
    var box = document.querySelector("[data-wh-i18n]");
    return (box && box.getAttribute("data-" + key)) || fallback;
  }

  function flash(text, level) {
    var stack = document.querySelector("[data-flash-stack]");
    if (!stack) return;
    var box = document.createElement("div");
    box.className = "wh-flash wh-flash-" + (level || "success");
    box.setAttribute("role", level === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.className = "wh-flash-text";
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "wh-flash-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", t("dismiss", "Dismiss"));
    close.textContent = "\u00d7";
    box.appendChild(span);
    box.appendChild(close);
    stack.replaceChildren(box);
  }

  // The enabled switch posts in place; on any problem the form is submitted
  // normally, so the server-rendered path stays the reference.
  function setSwitch(form, enabled) {
    var button = form.querySelector(".wh-switch");
    button.setAttribute("aria-checked", enabled ? "true" : "false");
    button.title = enabled ? t("enabled-title", "Enabled: click to disable") : t("disabled-title", "Disabled: click to enable");
    form.querySelector(".wh-switch-text").textContent = enabled ? t("on", "On") : t("off", "Off");
    form.querySelector("input[name=enabled]").value = enabled ? "0" : "1";
  }

  function copied(button) {
    var text = button.textContent;
    button.textContent = t("copied", "Copied");
    setTimeout(function () { button.textContent = text; }, 1500);
  }

  // "Copy as curl": the server builds the command (signed afresh for who may read the secret);
  // without a clipboard the form shows it as text.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("[data-copy-curl]") || !window.fetch || !navigator.clipboard) return;
    event.preventDefault();
    var button = form.querySelector("button");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) { return navigator.clipboard.writeText(data.curl); })
      .then(function () { copied(button); })
      .catch(function () { form.submit(); });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("[data-toggle-form]") || !window.fetch) return;
    event.preventDefault();
    var button = form.querySelector(".wh-switch");
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        setSwitch(form, data.enabled);
        flash(data.message, "success");
      })
      .catch(function () {
        form.submit();
      })
      .finally(function () {
        button.removeAttribute("aria-busy");
      });
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      dismiss.closest(".wh-flash").remove();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      navigator.clipboard.writeText(source.textContent.trim()).then(function () { copied(copy); });
    }
  });

  // Relative times ("in 40 s", "4 min ago") count on by themselves, by the rules of
  // templatetags/webhooks_console.relative_time, in the page's language.
  function relativeText(moment, now) {
    var seconds = (moment - now) / 1000;
    var future = seconds > 0;
    var span = Math.abs(seconds);
    if (span < 1 || (!future && span < 5)) return future ? t("rel-now", "now") : t("rel-just-now", "just now");
    var amount, unit;
    if (span < 60) {
      amount = Math.min(Math.max(Math.round(span), 1), 59); unit = "s";
    } else if (span < 3600) {
      amount = Math.round(span / 60); unit = "min";
      if (amount >= 60) { amount = 1; unit = "h"; }
    } else if (span < 86400) {
      amount = Math.round(span / 3600); unit = "h";
      if (amount >= 24) { amount = 1; unit = "d"; }
    } else {
      amount = Math.round(span / 86400); unit = "d";
    }
    var fallback = future ? "in %(n)s " + unit : "%(n)s " + unit + " ago";
    return t("rel-" + (future ? "in-" : "ago-") + unit, fallback).replace("%(n)s", String(amount));
  }
  function relativeTick() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var moment = Date.parse(el.getAttribute("datetime"));
      if (!Number.isNaN(moment)) {
        var text = relativeText(moment, now);
        if (el.textContent !== text) el.textContent = text;
      }
    });
  }
  if (document.querySelector("[data-wh-i18n]")) window.setInterval(relativeTick, 1000);

  // On a small screen a delivery's attempts are collapsed but the last (each opens on a tap):
  // a phone does not scroll through every request and response to reach the outcome.
  function collapseAttempts() {
    if (!window.matchMedia || !window.matchMedia("(max-width: 760px)").matches) return;
    var attempts = document.querySelectorAll("details[data-attempt]");
    attempts.forEach(function (details, index) {
      details.open = index === attempts.length - 1;
    });
  }
  collapseAttempts();
  document.addEventListener("wh:updated", collapseAttempts);

  // A refused submit: the focus goes to the error summary, and each of its links moves to
  // its field (the first control of a group of them), opening a closed section on the way.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) summary.focus();
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-error-link]");
    if (!link) return;
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    event.preventDefault();
    for (var up = target.parentElement; up; up = up.parentElement) {
      if (up.tagName === "DETAILS") up.open = true;
    }
    var control = target.matches("input, select, textarea, button")
      ? target
      : target.querySelector("input:not([type=hidden]), select, textarea");
    (control || target).focus();
    (control || target).scrollIntoView({ block: "center" });
  });

  // "All events" includes every type: dim the single types while it is checked.
  function syncAllEvents(box) {
    var all = box.querySelector("[data-all-events]");
    if (all) box.classList.toggle("is-all", all.checked);
  }
  document.querySelectorAll("[data-events]").forEach(function (box) {
    syncAllEvents(box);
    box.addEventListener("change", function () { syncAllEvents(box); });
  });
})();
