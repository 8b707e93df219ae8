/* Vani dashboard: local times and live updates. Pages work without this file. */
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"
  });

  /* Show <time datetime="…Z"> in the viewer's timezone; the UTC value stays in the title.
     A time the server drew in the organisation's zone (data-zone) stays as it is. */
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local || el.dataset.zone) return;
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.title = el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
      el.textContent = fmt.format(d);
      el.dataset.local = "1";
    });
  }

  /* The server-drawn chart labels hours in UTC: show them in the viewer's timezone too. */
  var hourFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  function localizeChart(root) {
    if (root.querySelector("svg.chart[data-zone]")) return;  /* drawn in the organisation's zone */
    root.querySelectorAll("svg.chart [data-hour]").forEach(function (el) {
      var d = new Date(el.getAttribute("data-hour"));
      if (!isNaN(d)) el.textContent = hourFmt.format(d);
    });
    root.querySelectorAll("svg.chart title[data-at]").forEach(function (el) {
      var d = new Date(el.getAttribute("data-at"));
      if (!isNaN(d)) el.textContent = fmt.format(d) + ": " + el.getAttribute("data-rest");
    });
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    root.querySelectorAll(".tz-name").forEach(function (el) { el.textContent = zone || "your time"; });
  }

  /* Live regions: [data-live-src] is fetched again when a matching message arrives. */
  function rowIds(el) {
    return Array.prototype.map.call(el.querySelectorAll("tr[data-id]"), function (r) { return r.dataset.id; });
  }

  function refresh(region) {
    var before = rowIds(region);
    fetch(region.dataset.liveSrc, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (res) { return res.ok && !res.redirected ? res.text() : null; })
      .then(function (html) {
        if (html === null) return;
        region.innerHTML = html;
        localize(region);
        localizeChart(region);
        if (before.length) {
          region.querySelectorAll("tr[data-id]").forEach(function (r) {
            if (before.indexOf(r.dataset.id) < 0) r.classList.add("row-new");
          });
        }
      })
      .catch(function () {});
  }

  function wants(region, kind, data) {
    if (region.dataset.liveMatch) return region.dataset.liveMatch === data;
    return (region.dataset.liveKinds || "").split(" ").indexOf(kind) >= 0;
  }

  function live() {
    var regions = document.querySelectorAll("[data-live-src]");
    var url = document.body.dataset.stream;
    if (!regions.length || !url || !window.EventSource) return;
    var pending = new Set(), timer = null, first = true;
    var badge = document.getElementById("live-status");
    function schedule(region) {
      pending.add(region);
      if (!timer) timer = setTimeout(function () {
        timer = null;
        pending.forEach(refresh);
        pending.clear();
      }, 200);
    }
    var source = new EventSource(url);
    source.onopen = function () {
      if (badge) badge.hidden = false;
      if (!first) regions.forEach(schedule); /* catch up on anything missed while reconnecting */
      first = false;
    };
    source.onerror = function () { if (badge) badge.hidden = true; };
    ["event", "delivery", "notification", "message", "conversation"].forEach(function (kind) {
      source.addEventListener(kind, function (msg) {
        regions.forEach(function (region) { if (wants(region, kind, msg.data)) schedule(region); });
      });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  /* Buttons that ask before doing something large (the server asks again without JS). */
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.dataset.confirm)) e.preventDefault();
      });
    });
  }

  /* Menus that act when changed (the organisation switcher); the button stays for no-JS. */
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    autosubmit();
    localizeChart(document);
    live();
    confirmations();
  });
})();
