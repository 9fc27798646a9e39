// The "Explore the settings" page: draws the shrinkage of the chosen setting as SVG.
// Each setting's data is a small script (written at build time by shrinkage.explorer)
// that calls window.shrinkageExplorer.add(key, data); scripts load from file:// too.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var OWN = "#F49E71", MIXED = "#808133";
  // Drawn in CSS pixels at the width the page gives the plot (at most 600), so that text
  // and points keep their size on a phone; the margins hold the tick labels.
  var SIZE = { width: 600, height: 450, left: 56, right: 12, top: 12, bottom: 44 };
  var MIN_RADIUS = 2.5, MIN_OPACITY = 0.35;  // every point stays visible on a phone
  var DURATION = 2000;  // ms of movement
  var store = {}, waiting = {};

  window.shrinkageExplorer = {
    add: function (key, data) {
      store[key] = data;
      (waiting[key] || []).forEach(function (done) { done(data); });
      delete waiting[key];
    }
  };

  function load(base, key, done) {
    if (store[key]) { done(store[key]); return; }
    if (waiting[key]) { waiting[key].push(done); return; }
    waiting[key] = [done];
    var script = document.createElement("script");
    script.src = base + key + ".js";
    document.head.appendChild(script);
  }

  function keyOf(form) {
    var v = function (name) { return form.elements[name].value; };
    return "n" + v("obs_per_cluster") + "-int" + v("sd_int") + "-slope" + v("sd_slope") +
      "-sigma" + v("sigma") + "-kept" + v("balanced");
  }

  function element(name, attributes, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (a) { node.setAttribute(a, attributes[a]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function scales(view) {
    var w = SIZE.width - SIZE.left - SIZE.right, h = SIZE.height - SIZE.top - SIZE.bottom;
    return {
      x: function (v) { return SIZE.left + (v - view.x[0]) / (view.x[1] - view.x[0]) * w; },
      y: function (v) { return SIZE.top + (view.y[1] - v) / (view.y[1] - view.y[0]) * h; }
    };
  }

  // Axes, ticks and labels are drawn once; they never change, so settings compare.
  function drawFrame(svg, view, s) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    svg.setAttribute("viewBox", "0 0 " + SIZE.width + " " + SIZE.height);
    element("rect", { x: SIZE.left, y: SIZE.top, width: SIZE.width - SIZE.left - SIZE.right,
      height: SIZE.height - SIZE.top - SIZE.bottom, class: "explorer-panel" }, svg);
    var narrow = SIZE.width < 480;  // fewer ticks, so that labels do not touch
    [["x", narrow ? 1 : 0.5], ["y", 0.25]].forEach(function (axis) {
      var name = axis[0], step = axis[1];
      for (var t = Math.ceil(view[name][0] / step) * step; t <= view[name][1] + 1e-9; t += step) {
        var label = element("text", { class: "explorer-tick" }, svg);
        label.textContent = (Math.round(t * 100) / 100).toString();
        if (name === "x") {
          label.setAttribute("x", s.x(t)); label.setAttribute("y", SIZE.height - SIZE.bottom + 16);
          label.setAttribute("text-anchor", "middle");
        } else {
          label.setAttribute("x", SIZE.left - 6); label.setAttribute("y", s.y(t) + 4);
          label.setAttribute("text-anchor", "end");
        }
      }
    });
    var xTitle = element("text", { x: (SIZE.left + SIZE.width) / 2, y: SIZE.height - 8,
      "text-anchor": "middle", class: "explorer-axis" }, svg);
    xTitle.textContent = "Intercept";
    var yTitle = element("text", { x: 14, y: SIZE.height / 2, "text-anchor": "middle",
      transform: "rotate(-90 14 " + SIZE.height / 2 + ")", class: "explorer-axis" }, svg);
    yTitle.textContent = "Slope";
    element("clipPath", { id: "explorer-clip" }, svg).appendChild(element("rect", {
      x: SIZE.left, y: SIZE.top, width: SIZE.width - SIZE.left - SIZE.right,
      height: SIZE.height - SIZE.top - SIZE.bottom }));
    return element("g", { "clip-path": "url(#explorer-clip)" }, svg);
  }

  function radius(area) { return Math.max(MIN_RADIUS, Math.sqrt(area / Math.PI) * 0.9); }
  function opacity(value) { return Math.max(MIN_OPACITY, value); }

  // Artists are built once per setting; frame(t) only moves the mixed-model points.
  function drawSetting(layer, data, s) {
    while (layer.firstChild) { layer.removeChild(layer.firstChild); }
    var hole = element("g", { class: "explorer-hole" }, layer);
    element("circle", { cx: s.x(data.centre[0]), cy: s.y(data.centre[1]), r: 14, opacity: 0.25 }, hole);
    element("circle", { cx: s.x(data.centre[0]), cy: s.y(data.centre[1]), r: 9, opacity: 0.5 }, hole);
    var moving = data.points.map(function (p) {
      element("line", { x1: s.x(p[0]), y1: s.y(p[1]), x2: s.x(p[2]), y2: s.y(p[3]),
        class: "explorer-path" }, layer);
      element("circle", { cx: s.x(p[0]), cy: s.y(p[1]), r: radius(p[5]), fill: OWN,
        "fill-opacity": opacity(p[4]), class: "explorer-own" }, layer);
      return element("circle", { r: radius(p[5]), fill: MIXED, "fill-opacity": opacity(p[4]),
        class: "explorer-mixed" }, layer);
    });
    return function frame(t) {
      var e = t < 0.5 ? 2 * t * t : 1 - Math.pow(-2 * t + 2, 2) / 2;  // ease in and out
      data.points.forEach(function (p, i) {
        moving[i].setAttribute("cx", s.x(p[0] + (p[2] - p[0]) * e));
        moving[i].setAttribute("cy", s.y(p[1] + (p[3] - p[1]) * e));
      });
    };
  }

  function describe(root, data) {
    var numbers = root.querySelector(".explorer-numbers");
    var caption = root.querySelector(".explorer-caption");
    var f = data.fit, m = data.median_fraction, pct = function (v) { return Math.round(100 * v) + "%"; };
    var rows = [
      ["Median move, intercepts", pct(m.intercept)], ["Median move, slopes", pct(m.slope)],
      ["Fitted intercept SD", f.sd_int.toFixed(3)], ["Fitted slope SD", f.sd_slope.toFixed(3)],
      ["Fitted correlation", f.correlation === null ? "none" : f.correlation.toFixed(2)],
      ["Fitted residual SD", f.sigma.toFixed(3)],
      ["Singular fit (a variance at 0 or correlation \u00b11)", f.singular ? "yes" : "no"]];
    numbers.innerHTML = "";
    rows.forEach(function (r) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = r[0]; dd.textContent = r[1];
      numbers.appendChild(dt); numbers.appendChild(dd);
    });
    caption.textContent = data.clusters + " clusters, " + data.rows + " rows: the median cluster " +
      "moves " + pct(m.intercept) + " of the way to the average intercept and " + pct(m.slope) +
      " of the way to the average slope.";
  }

  function size(root) {
    var width = Math.round(Math.min(600, root.clientWidth || 600));
    SIZE.width = width; SIZE.height = Math.round(width * 0.75);
  }

  function start(root) {
    root.hidden = false;  // without JavaScript the page shows the static figure instead
    var form = root.querySelector("form"), svg = root.querySelector("svg");
    var stage = root.querySelector(".explorer-stage"), play = root.querySelector(".explorer-play");
    var numbers = root.querySelector(".explorer-numbers"), caption = root.querySelector(".explorer-caption");
    var view = JSON.parse(root.getAttribute("data-view")), base = root.getAttribute("data-base");
    var s, layer, frame = null, request = null, shown = null;
    var still = window.matchMedia("(prefers-reduced-motion: reduce)");

    function layout() {
      size(root); s = scales(view); layer = drawFrame(svg, view, s);
    }

    function animate() {
      if (!frame) { return; }
      if (request) { cancelAnimationFrame(request); }
      var began = null;
      var step = function (now) {
        if (began === null) { began = now; }
        var t = Math.min(1, (now - began) / DURATION);
        frame(t);
        request = t < 1 ? requestAnimationFrame(step) : null;
        root.setAttribute("data-state", t < 1 ? "moving" : "done");
      };
      request = requestAnimationFrame(step);
    }

    // An unfittable setting: no plot, no numbers, one message that says what to change;
    // the caption (which also labels the plot) says the same, so nothing lags behind.
    function refuse(data) {
      stage.hidden = true; play.disabled = true; numbers.innerHTML = "";
      caption.textContent = "This setting cannot be fitted: " + data.error + " " + data.remedy;
      caption.classList.add("explorer-refused");
      frame = null;
    }

    function draw(data, auto) {
      stage.hidden = false; play.disabled = false;
      caption.classList.remove("explorer-refused");
      frame = drawSetting(layer, data, s);
      describe(root, data);
      if (auto && !still.matches) { frame(0); animate(); }
      else { frame(1); }
    }

    function show(auto) {
      var key = keyOf(form);
      root.setAttribute("data-state", "loading");
      load(base, key, function (data) {
        if (keyOf(form) !== key) { return; }  // the reader has moved on
        root.setAttribute("data-key", key);
        if (request) { cancelAnimationFrame(request); request = null; }
        shown = data;
        if (data.error) { refuse(data); } else { draw(data, auto); }
        if (!request) { root.setAttribute("data-state", "done"); }
      });
    }

    layout();
    form.addEventListener("change", function () { show(true); });
    play.addEventListener("click", animate);
    // A new width (a phone turned, a window resized) redraws at the new size, still.
    var drawnWidth = SIZE.width;
    window.addEventListener("resize", function () {
      size(root);
      if (SIZE.width === drawnWidth) { return; }
      drawnWidth = SIZE.width; layout();
      if (shown && !shown.error) {
        if (request) { cancelAnimationFrame(request); request = null; }
        draw(shown, false); root.setAttribute("data-state", "done");
      }
    });
    show(true);
  }

  document.querySelectorAll(".explorer").forEach(start);
})();
