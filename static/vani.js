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

  /* Live regions: an element with an id and [data-live-kinds] (any message of those kinds) or
     [data-live-match] (exact messages, space separated) is drawn again when one arrives, from
     [data-live-src] (a fragment) or else from this page, picking the element with the same id.
     Unchanged nodes are kept (focus and typing survive); rows with a new data-id are marked. */
  var KINDS = ["event", "delivery", "notification", "message", "conversation", "prospect", "meeting"];
  var calm = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)");

  function sameKey(a, b) {
    return a.nodeType === b.nodeType && a.nodeName === b.nodeName &&
      (a.nodeType !== 1 || ((a.id || "") === (b.id || "") && (a.dataset.id || "") === (b.dataset.id || "")));
  }

  function syncAttributes(old, fresh) {
    Array.prototype.slice.call(old.attributes).forEach(function (a) {
      if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
    });
    Array.prototype.forEach.call(fresh.attributes, function (a) {
      if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
    });
  }

  /* Make old's children look like fresh's, reusing the nodes that match (by id/data-id, else by place). */
  function morphChildren(old, fresh, added) {
    var keyed = {};
    Array.prototype.forEach.call(old.children, function (c) {
      if (c.dataset && c.dataset.id) keyed[c.nodeName + c.dataset.id] = c;
    });
    var cursor = old.firstChild;
    Array.prototype.slice.call(fresh.childNodes).forEach(function (next) {
      var match = null;
      if (next.nodeType === 1 && next.dataset.id) {
        match = keyed[next.nodeName + next.dataset.id] || null;
        if (!match && added) added.push(next);
      } else if (cursor && sameKey(cursor, next) && !(cursor.dataset && cursor.dataset.id)) {
        match = cursor;
      }
      if (match) {
        if (match !== cursor) old.insertBefore(match, cursor);
        else cursor = cursor.nextSibling;
        morph(match, next, added);
      } else {
        old.insertBefore(next, cursor);
      }
    });
    while (cursor) { var gone = cursor; cursor = cursor.nextSibling; old.removeChild(gone); }
  }

  function morph(old, fresh, added) {
    if (old.nodeType !== 1) {
      if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
      return;
    }
    if (old.isEqualNode(fresh)) return;
    if (old === document.activeElement && "value" in old) { /* the field being typed in stays as it is */
      return;
    }
    syncAttributes(old, fresh);
    morphChildren(old, fresh, added);
  }

  function pick(html, region) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    if (!region.dataset.liveSrc) return doc.getElementById(region.id);
    var box = document.createElement(region.nodeName === "TBODY" ? "tbody" : "div");
    var tpl = document.createElement("template");
    tpl.innerHTML = region.nodeName === "TBODY" ? "<table><tbody>" + html + "</tbody></table>" : html;
    var src = region.nodeName === "TBODY" ? tpl.content.querySelector("tbody") : tpl.content;
    while (src.firstChild) box.appendChild(src.firstChild);
    syncAttributes(box, region);
    return box;
  }

  /* Rows fetched by id ([data-live-rows]): each replaces its row or goes on top, a row asked for
     and not answered leaves (it no longer matches the filters); the list keeps its length. */
  function mergeRows(region, fresh, added, ids) {
    var limit = parseInt(region.dataset.liveRows, 10) || 50;
    ids.forEach(function (id) { /* asked for and not answered: it no longer matches the list's filters */
      if (!fresh.querySelector('tr[data-id="' + id + '"]')) {
        var gone = region.querySelector('tr[data-id="' + id + '"]');
        if (gone) region.removeChild(gone);
      }
    });
    Array.prototype.slice.call(fresh.children).reverse().forEach(function (row) {
      var old = region.querySelector('tr[data-id="' + row.dataset.id + '"]');
      if (old) { morph(old, row, added); return; }
      region.insertBefore(row, region.firstElementChild);
      added.push(row);
    });
    while (region.children.length > limit) region.removeChild(region.lastElementChild);
  }

  var busy = new Map(); /* region id → ids still to fetch, or "all" */
  var ROWS_AT_ONCE = 50; /* the server takes at most 100 ids */
  function refresh(region, id) {
    var key = region.id, byRow = region.dataset.liveRows && id;
    var waiting = busy.get(key);
    if (waiting !== undefined) {
      if (waiting === "all") return;
      if (!byRow || waiting.length >= ROWS_AT_ONCE) busy.set(key, "all"); /* many rows: the whole list */
      else if (waiting.indexOf(id) < 0) waiting.push(id);
      return;
    }
    busy.set(key, []);
    fetchRegion(region, byRow ? [id] : null);
  }

  function fetchRegion(region, ids) {
    var key = region.id;
    var src = region.dataset.liveSrc || window.location.href;
    if (ids) src += (src.indexOf("?") < 0 ? "?" : "&") + "ids=" + ids.join(",");
    fetch(src, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (res) {
        if (ids && res.status >= 400 && res.status < 500) { busy.set(key, "all"); return null; } /* draw it all again */
        return res.ok && !res.redirected ? res.text() : null;
      })
      .then(function (html) {
        var current = document.getElementById(key);
        var fresh = html !== null && current ? pick(html, current) : null;
        if (!fresh) return;
        var added = [];
        if (ids) mergeRows(current, fresh, added, ids); else morph(current, fresh, added);
        localize(current);
        localizeChart(current);
        templateChoice(current);
        if (!(calm && calm.matches)) added.forEach(function (r) { if (r.nodeName === "TR") r.classList.add("row-new"); });
      })
      .catch(function () {})
      .then(function () {
        var again = busy.get(key);
        var current = document.getElementById(key);
        if (current && (again === "all" || again.length)) {
          busy.set(key, []);
          fetchRegion(current, again === "all" ? null : again);
        } else {
          busy.delete(key);
        }
      });
  }

  function regions() {
    return document.querySelectorAll("[id][data-live-kinds], [id][data-live-match]");
  }

  function wants(region, kind, data) {
    if (region.dataset.liveMatch) return region.dataset.liveMatch.split(" ").indexOf(data) >= 0;
    return region.dataset.liveKinds.split(" ").indexOf(kind) >= 0;
  }

  function live() {
    var url = document.body.dataset.stream;
    if (!regions().length || !url || !window.EventSource) return;
    var first = true;
    var badge = document.getElementById("live-status");
    var source = new EventSource(url);
    source.onopen = function () {
      if (badge) badge.hidden = false;
      if (!first) regions().forEach(function (r) { refresh(r, null); }); /* catch up after reconnecting */
      first = false;
    };
    source.onerror = function () { if (badge) badge.hidden = true; };
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (msg) {
        var id = msg.data.split(":")[1];
        regions().forEach(function (region) {
          if (wants(region, kind, msg.data)) refresh(region, /^\d+$/.test(id) ? id : null);
        });
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

  /* Navigation menus: one open at a time; Escape or a click elsewhere closes them. */
  function menus() {
    var groups = document.querySelectorAll(".nav-group details");
    function close(except) {
      groups.forEach(function (d) { if (d !== except) d.open = false; });
    }
    groups.forEach(function (d) {
      d.addEventListener("toggle", function () { if (d.open) close(d); });
    });
    document.addEventListener("click", function (e) {
      if (!e.target.closest || !e.target.closest(".nav-group")) close(null);
    });
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      var open = document.querySelector(".nav-group details[open]");
      if (open) { open.open = false; open.querySelector("summary").focus(); }
    });
  }

  /* Copy buttons beside webhook URLs (shown only where the clipboard can be written). */
  function copyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = document.getElementById(button.dataset.copy).textContent.trim();
        var status = document.querySelector("[data-copy-status]");
        navigator.clipboard.writeText(text).then(function () {
          button.textContent = "Copied";
          if (status) status.textContent = "Copied " + text;
          setTimeout(function () { button.textContent = "Copy"; }, 2000);
        }, function () { if (status) status.textContent = "Could not copy; select the address instead."; });
      });
    });
  }

  /* The approved-template picker (prospect page): the chosen template's body, and a field for
     each of its variables, named as the template names them; the others hidden and not sent. */
  function templateChoice(root) {
    root.querySelectorAll("select[data-template-choice]").forEach(function (select) {
      var option = select.options[select.selectedIndex];
      if (!option) return;
      var names = (option.dataset.variables || "").split(" ").filter(Boolean);
      var labels = (option.dataset.labels || "").split("|");
      var body = select.form.querySelector("#template-body");
      if (body) body.textContent = option.dataset.body || "(no text)";
      select.form.querySelectorAll("[data-template-variable]").forEach(function (field) {
        var i = parseInt(field.dataset.templateVariable, 10), used = i < names.length;
        field.hidden = !used;
        field.querySelector("input").disabled = !used;
        if (used) field.querySelector("label").textContent = labels[i] || "Value for {{" + names[i] + "}}";
      });
    });
  }

  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-template-choice]")) templateChoice(e.target.form);
  });

  document.addEventListener("DOMContentLoaded", function () {
    menus();
    copyButtons();
    localize(document);
    autosubmit();
    localizeChart(document);
    live();
    confirmations();
    templateChoice(document);
  });
})();
