// Dominion dashboard: theme toggle, confirmation dialogs, live numbers and charts.
// Plain JavaScript, no library, nothing fetched from elsewhere. The live data comes from one
// EventSource per page, fed by the server's single poller, which job events wake.
"use strict";
(function () {
  var body = document.body;
  var fmt = new Intl.NumberFormat("en-US");

  // ---- theme: system → light → dark → system ----
  var themes = ["system", "light", "dark"];
  function currentTheme() {
    return document.documentElement.getAttribute("data-theme") || "system";
  }
  function setTheme(t) {
    if (t === "system") {
      document.documentElement.removeAttribute("data-theme");
    } else {
      document.documentElement.setAttribute("data-theme", t);
    }
    try {
      if (t === "system") localStorage.removeItem("dominion-theme");
      else localStorage.setItem("dominion-theme", t);
    } catch (e) { /* private mode */ }
    var b = document.getElementById("theme-toggle");
    if (b) b.title = t === "system" ? "Theme: follows the system" : "Theme: " + t;
    redrawCharts();
  }
  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    setTheme(currentTheme());
    toggle.addEventListener("click", function () {
      setTheme(themes[(themes.indexOf(currentTheme()) + 1) % themes.length]);
    });
  }

  // ---- confirmations: a form with data-confirm asks first, in a dialog ----
  var dialog = document.getElementById("confirm-dialog");
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute("data-confirm");
    if (!question || form.querySelector("input[name=confirm]")) return;
    ev.preventDefault();
    function go() {
      var c = document.createElement("input");
      c.type = "hidden"; c.name = "confirm"; c.value = "yes";
      form.appendChild(c);
      form.submit();
    }
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm(question)) go();
      return;
    }
    dialog.querySelector("#confirm-text").textContent = question;
    var yes = dialog.querySelector("[data-test=confirm-yes]");
    var btn = form.querySelector("button");
    yes.textContent = btn ? btn.textContent.trim() : "Confirm";
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue === "ok") go();
      else applyRows();
    };
    dialog.showModal();
    yes.focus();
  });

  // ---- selects that submit their form when changed ----
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  // ---- live updates ----
  // A jobs page's list is pushed again when its queue changes, rendered by the server as it
  // rendered the page, and replaces the one shown when what it shows differs (its data-rows-sig);
  // not while a confirmation dialog is open (its form is in the list), but when it closes
  // without submitting.
  var pendingRows = null;
  function applyRows() {
    if (pendingRows === null || (dialog && dialog.open)) return;
    var list = document.querySelector("[data-jobs-list]");
    if (list && pendingRows.sig !== list.getAttribute("data-rows-sig")) {
      list.innerHTML = pendingRows.html;
      list.setAttribute("data-rows-sig", pendingRows.sig);
    }
    pendingRows = null;
  }
  var history = [];     // chart points, oldest first
  var maxWindowMs = 60 * 60 * 1000, minWindowMs = 60 * 1000;
  // Points further apart than this are not joined: the workers' history has one point per
  // 10 s, the live samples one per second; a longer gap is a time nobody recorded.
  var gapMs = 25 * 1000;
  var liveURL = body.getAttribute("data-live-url");
  var indicator = document.getElementById("live");
  function setLive(state, text) {
    if (!indicator) return;
    indicator.setAttribute("data-state", state);
    indicator.querySelector(".live-text").textContent = text;
  }
  function show(key, value) {
    var els = document.querySelectorAll('[data-live="' + cssEscape(key) + '"]');
    if (!els.length) return;
    var text = typeof value === "number" ? fmt.format(value) : String(value);
    els.forEach(function (el) {
      if (el.textContent === text) return;
      el.textContent = text;
      el.classList.remove("flash-value");
      void el.offsetWidth; // restart the animation
      el.classList.add("flash-value");
    });
  }
  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/["\\]/g, "\\$&");
  }
  // showProgress writes a job's progress (percent, message) into its page (text only: the
  // message is the handler's).
  function showProgress(p) {
    var dd = document.querySelector("[data-test=job-progress]");
    if (!dd) return;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = p.percent;
    var text = document.createElement("span");
    text.textContent = p.percent + "%" + (p.message ? " · " + p.message : "");
    dd.replaceChildren(bar, document.createTextNode(" "), text);
  }
  // A hidden tab holds no stream: a browser opens at most six HTTP/1.1 connections to one
  // host, so streams held by background tabs would keep a seventh tab from loading at all.
  // The stream opens again when the tab is shown, and its first sample carries every value.
  var es = null;
  function connect() {
    if (es || document.visibilityState === "hidden") return;
    es = new EventSource(liveURL);
    es.addEventListener("open", function () { setLive("live", "live"); });
    es.addEventListener("error", function () { setLive("offline", "reconnecting"); });
    es.addEventListener("history", function (ev) {
      history = JSON.parse(ev.data) || [];
      redrawCharts();
    });
    // A sample carries the values that changed (all of them every few seconds), and a chart
    // point at most once a second.
    es.addEventListener("sample", function (ev) {
      var s = JSON.parse(ev.data);
      if (s.error) setLive("offline", "broker unreachable");
      else if (s.mode === "refresh") setLive("polling", "refreshing every few seconds");
      else setLive("live", "live");
      if (indicator) {
        indicator.title = s.error || {
          events: "Live: the page changes as jobs do",
          busy: "Live: jobs change faster than a page can show, so it is refreshed every second",
          refresh: "The job event stream is unavailable: the page is refreshed every few seconds"
        }[s.mode] || "";
      }
      for (var k in s.values) show(k, s.values[k]);
      if (!s.error && s.point) {
        if (!history.length || history[history.length - 1].t !== s.point.t) history.push(s.point);
        var cut = Date.now() - 2 * maxWindowMs;
        while (history.length && history[0].t < cut) history.shift();
        redrawCharts();
      }
      body.setAttribute("data-last-sample", String(s.t));
    });
    es.addEventListener("rows", function (ev) {
      pendingRows = JSON.parse(ev.data);
      applyRows();
    });
    // A job's, workflow's or batch's page reloads when its state changes; a job's progress
    // and a batch's counts are shown in place.
    es.addEventListener("job", function (ev) {
      var j = JSON.parse(ev.data);
      var head = document.querySelector("[data-item-state]");
      if (head && head.getAttribute("data-item-state") !== j.state + "/" + j.attempt) {
        es.close();
        window.location.reload();
      } else if (j.progress) {
        showProgress(j.progress);
      } else if (j.counts) { // a batch's jobs by state
        for (var k in j.counts) show(k, j.counts[k]);
      }
    });
  }
  function disconnect() {
    if (!es) return;
    es.close();
    es = null;
  }
  if (liveURL && window.EventSource) {
    connect();
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "hidden") {
        connect();
        return;
      }
      disconnect();
      setLive("paused", "paused while hidden");
    });
    window.addEventListener("pagehide", disconnect);
  }

  // ---- charts: inline SVG, drawn from the history ----
  var SVG = "http://www.w3.org/2000/svg";
  var charts = {
    rates: [{ key: "p", cls: "s-processed", label: "processed/s" }, { key: "f", cls: "s-failed", label: "failed/s" }],
    depth: [{ key: "d", cls: "s-pending", label: "pending" }, { key: "a", cls: "s-active", label: "active" }, { key: "w", cls: "s-waiting", label: "waiting" }]
  };
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  // niceScale returns the top of a y axis that must reach v (at least 4) and the step between
  // its ticks: a whole 1, 2 or 5 times a power of ten, for at most four intervals, so that
  // every label is a round integer (as the reports chart's, niceScale in Go).
  function niceScale(v) {
    v = Math.max(v, 4);
    var raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw))), step = 10 * p;
    var ms = [1, 2, 5];
    for (var i = 0; i < ms.length; i++) if (ms[i] * p >= raw) { step = ms[i] * p; break; }
    step = Math.max(1, Math.ceil(step));
    return { top: Math.ceil(v / step) * step, step: step };
  }
  function short(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M";
    if (v >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return String(Math.round(v * 10) / 10);
  }
  function drawChart(box, series) {
    var w = box.clientWidth || 400, h = box.clientHeight || 190;
    var left = 40, right = 8, top = 8, bottom = 22;
    var now = history.length ? Math.max(history[history.length - 1].t, Date.now() - 1500) : Date.now();
    // The chart shows the history it has, from one minute up to the last hour.
    var windowMs = history.length ? Math.min(maxWindowMs, Math.max(minWindowMs, now - history[0].t)) : minWindowMs;
    var from = now - windowMs;
    var pts = history.filter(function (p) { return p.t >= from; });
    var max = 0;
    pts.forEach(function (p) {
      series.forEach(function (s) { if (p[s.key] != null && p[s.key] > max) max = p[s.key]; });
    });
    var scale = niceScale(max), top2 = scale.top;
    var svg = el("svg", { viewBox: "0 0 " + w + " " + h, preserveAspectRatio: "none" });
    var x = function (t) { return left + (t - from) / windowMs * (w - left - right); };
    var y = function (v) { return top + (1 - v / top2) * (h - top - bottom); };
    for (var v = 0; v <= top2; v += scale.step) {
      el("line", { x1: left, x2: w - right, y1: y(v), y2: y(v), "class": "grid" }, svg);
      el("text", { x: left - 6, y: y(v), "class": "axis", "text-anchor": "end", "dominant-baseline": "middle" }, svg).textContent = short(v);
    }
    var stepMs = windowMs > 30 * 60000 ? 10 * 60000 : windowMs > 10 * 60000 ? 5 * 60000 : windowMs > 2 * 60000 ? 60000 : 15000;
    for (var m = Math.floor(windowMs / stepMs); m >= 0; m--) {
      var t = now - m * stepMs;
      var label = m === 0 ? "now" : stepMs >= 60000 ? "-" + (m * stepMs / 60000) + "m" : "-" + (m * 15) + "s";
      if (x(t) < left + 10 && m !== 0) continue;
      el("text", { x: x(t), y: h - 4, "class": "axis", "text-anchor": m === 0 ? "end" : "middle" }, svg).textContent = label;
    }
    series.forEach(function (s) {
      var d = "", area = "", start = null, prev = null;
      pts.forEach(function (p) {
        var v = p[s.key];
        // A gap in sampling (nobody watching) or a missing rate breaks the line.
        if (v == null || (prev && p.t - prev.t > gapMs)) {
          if (start !== null) area += "L" + x(prev.t).toFixed(1) + "," + y(0) + "L" + start + "," + y(0) + "Z";
          start = null;
          if (v == null) { prev = p; return; }
        }
        var X = x(p.t).toFixed(1), Y = y(v).toFixed(1);
        if (start === null) { d += "M" + X + "," + Y; area += "M" + X + "," + y(0) + "L" + X + "," + Y; start = X; }
        else { d += "L" + X + "," + Y; area += "L" + X + "," + Y; }
        prev = p;
      });
      if (start !== null && prev) area += "L" + x(prev.t).toFixed(1) + "," + y(0) + "L" + start + "," + y(0) + "Z";
      if (area) el("path", { d: area, "class": "area " + s.cls }, svg);
      if (d) el("path", { d: d, "class": "line " + s.cls }, svg);
    });
    box.textContent = "";
    box.appendChild(svg);
    if (!pts.length) {
      var msg = document.createElement("div");
      msg.className = "chart-empty";
      msg.textContent = liveURL ? "waiting for data…" : "no data";
      box.appendChild(msg);
    }
  }
  var pending = false;
  function redrawCharts() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      document.querySelectorAll("[data-chart]").forEach(function (box) {
        var series = charts[box.getAttribute("data-chart")];
        if (series) drawChart(box, series);
      });
    });
  }
  window.addEventListener("resize", redrawCharts);
  redrawCharts();
})();
