-- nas.report_app: the script of a run's report page (nas.report_page puts it
-- at the end of the page, after the data block and Vega).
--
-- It reads the data block (<script type="application/json" id="nas-data">)
-- with JSON.parse and draws each section: Vega views rendered as SVG, tables
-- built with textContent only. When every view has rendered it writes what it
-- drew into <pre id="nas-selfcheck"> (script errors, marks per plot, table
-- rows, milliseconds) and shows a banner if a script error happened.
local M = {}

M.script = [==[
(function () {
  'use strict';
  var t_start = performance.now();
  var D = JSON.parse(document.getElementById('nas-data').textContent);
  var vega = window.nasVega;
  var views = [];
  // milliseconds spent building each section (then rendering), for the record below
  var phases = {}, t_last = t_start;
  function mark(name) {
    var now = performance.now();
    phases[name] = Math.round(now - t_last);
    t_last = now;
  }
  var COLORS = { ok: '#3b6db3', repeat: '#9fbbe0', failed: '#d6453d', rejected: '#f0932b', running: '#8e8e8e' };
  var STATUS_ORDER = ['ok', 'repeat', 'failed', 'rejected'];

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return '-';
    if (typeof v === 'number') {
      if (!isFinite(v)) return '-';
      if (Number.isInteger(v)) return String(v);
      var a = Math.abs(v);
      if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
      return String(Number(v.toPrecision(5)));
    }
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }
  function empty(parent, text) { parent.appendChild(el('p', 'empty', text)); }
  // a number as C's printf("%.6g") writes it: the labels the report's Lua side gives decision values
  function g6(v) {
    if (v === 0 || !isFinite(v)) return String(v);
    var m = v.toExponential(5).split('e'), e = Number(m[1]);
    if (e < -4 || e >= 6) {
      var mant = m[0].indexOf('.') >= 0 ? m[0].replace(/0+$/, '').replace(/\.$/, '') : m[0];
      return mant + 'e' + (e < 0 ? '-' : '+') + (Math.abs(e) < 10 ? '0' : '') + Math.abs(e);
    }
    var f = v.toFixed(5 - e);
    return f.indexOf('.') >= 0 ? f.replace(/0+$/, '').replace(/\.$/, '') : f;
  }

  // ---- trials ----------------------------------------------------------------
  var trials = D.trials.map(function (r) {
    return { id: r[0], status: r[1], score: r[2], t0: r[3], t1: r[4], seconds: r[5], worker: r[6],
             fidelity: r[7], cached: r[8], reason: r[9], m: r[10], g: r[11] };
  });
  var byId = {};
  trials.forEach(function (t) { byId[t.id] = t; t.cat = t.status === 'ok'
      && t.cached !== null ? 'repeat' : t.status; });
  function genoText(t) {
    var parts = [];
    D.decisions.forEach(function (name, i) {
      if (t.g[i] !== null && t.g[i] !== undefined) parts.push(name + '=' + fmt(t.g[i]));
    });
    return parts.join(' ');
  }
  // the hover text of a trial (made on first hover; plots carry the trial's id as their tooltip value)
  function tip(t) {
    if (t.tipText === undefined) t.tipText = makeTip(t);
    return t.tipText;
  }
  function makeTip(t) {
    var lines = ['trial #' + t.id + '  ' + t.status + (t.cached !== null ? ' (same graph as #' + t.cached + ')' : '')];
    if (t.score !== null) lines.push('score ' + fmt(t.score));
    if (t.fidelity !== null) lines.push((D.fidelity_name || 'fidelity') + ' ' + fmt(t.fidelity));
    if (t.reason !== null) lines.push('reason: ' + t.reason);
    D.decisions.forEach(function (name, i) {
      if (t.g[i] !== null && t.g[i] !== undefined) lines.push('  ' + name + ' = ' + fmt(t.g[i]));
    });
    D.metrics.forEach(function (name, i) {
      if (t.m[i] !== null && t.m[i] !== undefined) lines.push(name + ': ' + fmt(t.m[i]));
    });
    return lines.join('\n');
  }

  // ---- Vega helpers ------------------------------------------------------------
  var tipEl = $('nas-tip');
  function tooltip(handler, event, item, value) {
    if (value === null || value === undefined || value === '') { tipEl.hidden = true; return; }
    if (typeof value === 'number' && byId[value]) value = tip(byId[value]); // a trial's id: its hover text
    tipEl.textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 1);
    tipEl.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 14;
    var w = tipEl.offsetWidth, h = tipEl.offsetHeight;
    if (x + w > window.innerWidth - 4) x = Math.max(4, event.clientX - w - 14);
    if (y + h > window.innerHeight - 4) y = Math.max(4, event.clientY - h - 14);
    tipEl.style.left = x + 'px';
    tipEl.style.top = y + 'px';
  }
  function plot(parent, name, title, spec) {
    var box = el('div', 'plot');
    box.setAttribute('data-plot', name);
    if (title) box.appendChild(el('div', 'plot-title', title));
    var target = el('div');
    box.appendChild(target);
    parent.appendChild(box);
    spec.$schema = 'https://vega.github.io/schema/vega/v5.json';
    spec.padding = spec.padding || 6;
    spec.config = { axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 160 }, legend: { labelLimit: 160 } };
    try {
      var view = new vega.View(vega.parse(spec), { renderer: 'svg', container: target, hover: true, tooltip: tooltip });
      views.push({ name: name, view: view, box: box });
    } catch (e) {
      window.nasErrors.push('plot ' + name + ': ' + String(e && e.message || e));
    }
  }
  function statusScale() {
    return { name: 'color', type: 'ordinal', domain: STATUS_ORDER,
             range: STATUS_ORDER.map(function (s) { return COLORS[s]; }) };
  }
  function extent(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (typeof v === 'number'
        && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } });
    return lo <= hi ? [lo, hi] : null;
  }
  function logScaleFor(values) {
    var e = extent(values);
    return e && e[0] > 0 && e[1] / e[0] > 100 ? 'log' : 'linear';
  }

  // ---- header ------------------------------------------------------------------
  (function () {
    var tb = $('header-table');
    D.header.forEach(function (kv) {
      var tr = el('tr');
      tr.appendChild(el('th', null, kv[0]));
      tr.appendChild(el('td', null, kv[1]));
      tb.appendChild(tr);
    });
    var run = $('running');
    if (D.running.length > 0) {
      run.appendChild(el('p', 'explain', D.running.length + ' trial(s) in the running table: running now, or left ' +
        'there by a search that stopped (a resumed search records those as lost).'));
      var t = el('table', 'data'), tr = el('tr');
      ['#', 'worker', 'started (s)', 'genotype'].forEach(function (h) { tr.appendChild(el('th', null, h)); });
      t.appendChild(tr);
      D.running.forEach(function (r) {
        var row = el('tr');
        row.appendChild(el('td', 'num', r.id));
        row.appendChild(el('td', 'num', fmt(r.worker)));
        row.appendChild(el('td', 'num', fmt(r.started)));
        row.appendChild(el('td', 'geno', r.genotype));
        t.appendChild(row);
      });
      run.appendChild(t);
    }
  })();
  mark('header');

  // ---- search history ------------------------------------------------------------
  (function () {
    var box = $('history-plots');
    var scored = trials.filter(function (t) { return t.score !== null; });
    if (trials.length === 0) { empty(box, 'No trials yet.'); return; }
    var ys = extent(scored.map(function (t) { return t.score; })) || [0, 1];
    var pad = (ys[1] - ys[0]) * 0.06 || 0.05;
    var floor = ys[0] - pad;
    function points(xOf) {
      var out = [];
      trials.forEach(function (t) {
        var x = xOf(t);
        if (x === null || x === undefined) return;
        out.push({ x: x, y: t.score !== null ? t.score : floor, cat: t.cat, tip: t.id });
      });
      return out;
    }
    function bestLine(pts) {
      var sorted = pts.filter(function (p) { return p.cat === 'ok' || p.cat === 'repeat'; })
                      .sort(function (a, b) { return a.x - b.x; });
      var best = -Infinity, out = [];
      sorted.forEach(function (p) { if (p.y > best) best = p.y; out.push({ x: p.x, y: best }); });
      return out;
    }
    function spec(pts, xTitle) {
      return {
        width: 560, height: 250,
        data: [{ name: 'points', values: pts }, { name: 'best', values: bestLine(pts) }],
        scales: [
          { name: 'x', type: 'linear', domain: { data: 'points', field: 'x' }, range: 'width', zero: false,
              nice: false },
          { name: 'y', type: 'linear', domain: [floor - pad * 0.6, ys[1] + pad], range: 'height', zero: false,
            nice: false },
          statusScale(),
          { name: 'shape', type: 'ordinal', domain: STATUS_ORDER, range: ['circle', 'circle', 'cross',
              'triangle-down'] }
        ],
        axes: [{ orient: 'bottom', scale: 'x', title: xTitle, tickMinStep: 1 },
               { orient: 'left', scale: 'y', title: 'score' }],
        legends: [{ fill: 'color', shape: 'shape', title: 'status', orient: 'right' }],
        marks: [
          { type: 'symbol', from: { data: 'points' },
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' },
                               fill: { scale: 'color', field: 'cat' }, shape: { scale: 'shape', field: 'cat' },
                               size: { value: 28 }, opacity: { value: 0.75 }, tooltip: { field: 'tip' } },
                      hover: { size: { value: 90 }, opacity: { value: 1 } },
                      update: { size: { value: 28 }, opacity: { value: 0.75 } } } },
          { type: 'line', from: { data: 'best' }, interactive: false,
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' },
                interpolate: { value: 'step-after' },
                               stroke: { value: '#1d2330' }, strokeWidth: { value: 1.5 } } } }
        ]
      };
    }
    plot(box, 'history-trial', 'score by trial number (line: best so far)',
        spec(points(function (t) { return t.id; }), 'trial #'));
    var ends = trials.map(function (t) { return t.t1; });
    var span = extent(ends);
    if (span) {
      var unit = span[1] > 7200 ? 3600 : span[1] > 120 ? 60 : 1;
      var uname = unit === 3600 ? 'hours' : unit === 60 ? 'minutes' : 'seconds';
      plot(box, 'history-time', 'score by time the trial finished (line: best so far)',
           spec(points(function (t) { return t.t1 === null ? null : t.t1 / unit; }), uname
               + ' since the first trial started'));
    }
  })();
  mark('history');

  // ---- Pareto front ------------------------------------------------------------
  (function () {
    var box = $('pareto-plots');
    var P = D.pareto;
    if (!P || P.axes.length < 2) { empty(box, P && P.note ? P.note : 'No two objectives to draw a front of.'); return; }
    if (P.note) $('pareto-note').textContent = P.note;
    var front = {};
    P.front.forEach(function (id) { front[id] = true; });
    var idx = P.axes.map(function (a) { return D.metrics.indexOf(a.metric); });
    var pool = trials.filter(function (t) { return t.status === 'ok' && t.cached === null; });
    var controls = el('div', 'controls');
    var sx = el('select'), sy = el('select');
    P.axes.forEach(function (a, i) {
      var label = (a.sense === 'max' ? 'maximize ' : 'minimize ') + a.metric;
      var o1 = el('option', null, label), o2 = el('option', null, label);
      o1.value = String(i); o2.value = String(i);
      sx.appendChild(o1); sy.appendChild(o2);
    });
    sx.value = '1'; sy.value = '0';
    if (P.axes.length > 2) {
      controls.appendChild(el('span', null, 'x:')); controls.appendChild(sx);
      controls.appendChild(el('span', null, 'y:')); controls.appendChild(sy);
      box.appendChild(controls);
    }
    var holder = el('div');
    box.appendChild(holder);
    function draw() {
      var ix = Number(sx.value), iy = Number(sy.value);
      var pts = [];
      pool.forEach(function (t) {
        var x = P.axes[ix].score ? t.score : t.m[idx[ix]];
        var y = P.axes[iy].score ? t.score : t.m[idx[iy]];
        if (typeof x !== 'number' || typeof y !== 'number') return;
        pts.push({ x: x, y: y, f: front[t.id] ? 'Pareto front' : 'dominated', tip: t.id });
      });
      var ax = P.axes[ix], ay = P.axes[iy];
      // the staircase of a front of two objectives; a projection of more: straight segments
      var interp = P.axes.length === 2 ? (ay.sense === ax.sense ? 'step-before' : 'step-after') : 'linear';
      // the front of this pair: a staircase through the non-dominated points of the two axes
      var line = pts.filter(function (p) { return p.f === 'Pareto front'; }).map(function (p) { return { x: p.x,
          y: p.y }; });
      line.sort(function (a, b) { return a.x - b.x; });
      while (holder.firstChild) holder.removeChild(holder.firstChild);
      views = views.filter(function (v) {
        if (v.name !== 'pareto') return true;
        v.view.finalize();
        return false;
      });
      var xs = logScaleFor(pts.map(function (p) { return p.x; })),
          ys = logScaleFor(pts.map(function (p) { return p.y; }));
      plot(holder, 'pareto', (ay.sense === 'max' ? 'up' : 'down') + ' and ' + (ax.sense === 'max' ? 'right' : 'left') +
           ' is better; ' + P.front.length + ' trial(s) on the front of ' + pts.length, {
        width: 560, height: 320,
        data: [{ name: 'points', values: pts }, { name: 'front', values: line }],
        scales: [
          { name: 'x', type: xs, domain: { data: 'points', field: 'x' }, range: 'width', zero: false, nice: true },
          { name: 'y', type: ys, domain: { data: 'points', field: 'y' }, range: 'height', zero: false, nice: true },
          { name: 'color', type: 'ordinal', domain: ['Pareto front', 'dominated'], range: ['#d6453d', '#9aa5b8'] }
        ],
        axes: [{ orient: 'bottom', scale: 'x', title: (ax.sense === 'max' ? 'maximize ' : 'minimize ') + ax.metric },
               { orient: 'left', scale: 'y', title: (ay.sense === 'max' ? 'maximize ' : 'minimize ') + ay.metric }],
        legends: [{ fill: 'color', orient: 'right' }],
        marks: [
          { type: 'line', from: { data: 'front' }, interactive: false,
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' },
                stroke: { value: '#d6453d' },
                               strokeOpacity: { value: 0.5 },
                                   interpolate: { value: interp } } } },
          { type: 'symbol', from: { data: 'points' },
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, fill: { scale: 'color',
                field: 'f' },
                               size: { signal: "datum.f === 'Pareto front' ? 60 : 24" }, tooltip: { field: 'tip' } },
                      update: { opacity: { value: 0.8 } }, hover: { opacity: { value: 1 } } } }
        ]
      });
      if (done) views.forEach(function (v) { if (v.name === 'pareto') v.view.runAsync(); });
    }
    sx.addEventListener('change', draw);
    sy.addEventListener('change', draw);
    draw();
  })();
  mark('pareto');

  // ---- decision importance and marginals -----------------------------------------------
  var I = D.importance;
  (function () {
    var box = $('importance-plots');
    if (!I || I.decisions.length === 0) { empty(box, 'No decisions to rate.'); return; }
    if (I.n < D.min_trials) { empty(box, 'Too few scored genotypes (' + I.n + ') to estimate importance.'); }
    var bars = I.decisions.filter(function (d) { return d.importance !== null; }).map(function (d) {
      return { name: d.name, v: d.importance,
               tip: d.name + '\nimportance (epsilon^2) ' + fmt(d.importance) + '\neta^2 ' + fmt(d.eta2) + '\n'
                   + d.groups.length + ' group(s)' +
                    (d.binned ? ' (binned)' : '') };
    });
    if (bars.length > 0) {
      plot(box, 'importance', 'share of the score variance each decision explains (epsilon squared, ' + I.n
          + ' genotypes)', {
        width: 420, height: Math.max(60, 18 * bars.length),
        data: [{ name: 'bars', values: bars }],
        scales: [
          { name: 'y', type: 'band', domain: bars.map(function (b) { return b.name; }), range: 'height', padding: 0.2 },
          { name: 'x', type: 'linear', domain: [0, Math.max(0.05, bars[0].v)], range: 'width', nice: true }
        ],
        axes: [{ orient: 'bottom', scale: 'x', title: 'importance', format: '.0%' }, { orient: 'left', scale: 'y' }],
        marks: [{ type: 'rect', from: { data: 'bars' },
                  encode: { enter: { y: { scale: 'y', field: 'name' }, height: { scale: 'y', band: 1 },
                      x: { scale: 'x', value: 0 },
                                     x2: { scale: 'x', field: 'v' }, fill: { value: '#3b6db3' },
                                         tooltip: { field: 'tip' } },
                            update: { fillOpacity: { value: 0.85 } }, hover: { fillOpacity: { value: 1 } } } }]
      });
    }
    var mbox = $('marginal-plots');
    var ys = [];
    I.decisions.forEach(function (d) { d.groups.forEach(function (g) { ys.push(g.min, g.max); }); });
    var yd = extent(ys) || [0, 1];
    I.decisions.slice(0, D.max_marginals).forEach(function (d) {
      var groups = d.groups.map(function (g) {
        return { label: g.label, mean: g.mean, min: g.min, max: g.max, n: g.n,
                 tip: d.name + ' = ' + g.label + '\nmean score ' + fmt(g.mean) + '\nmin ' + fmt(g.min) + '  max '
                     + fmt(g.max) +
                      '\n' + g.n + ' genotype(s)' };
      });
      plot(mbox, 'marginal', d.name + (d.importance !== null ? ' (' + fmt(Math.round(d.importance * 1000) / 10)
          + '%)' : ''), {
        width: Math.min(360, Math.max(90, 34 * groups.length)), height: 130,
        data: [{ name: 'g', values: groups }],
        scales: [
          { name: 'x', type: 'point', domain: groups.map(function (g) { return g.label; }), range: 'width',
              padding: 0.6 },
          { name: 'y', type: 'linear', domain: yd, range: 'height', zero: false, nice: true }
        ],
        axes: [{ orient: 'bottom', scale: 'x', labelAngle: groups.length > 5 ? -40 : 0,
            labelAlign: groups.length > 5 ? 'right' : 'center' },
               { orient: 'left', scale: 'y', tickCount: 4 }],
        marks: [
          { type: 'rule', from: { data: 'g' }, interactive: false,
            encode: { enter: { x: { scale: 'x', field: 'label' }, y: { scale: 'y', field: 'min' }, y2: { scale: 'y',
                field: 'max' },
                               stroke: { value: '#9aa5b8' } } } },
          { type: 'symbol', from: { data: 'g' },
            encode: { enter: { x: { scale: 'x', field: 'label' }, y: { scale: 'y', field: 'mean' },
                fill: { value: '#3b6db3' },
                               size: { value: 50 }, tooltip: { field: 'tip' } } } }
        ]
      });
    });
  })();
  mark('importance');

  // ---- parallel coordinates ----------------------------------------------------------
  (function () {
    var box = $('parallel-plots');
    if (!I || I.decisions.length === 0 || I.n === 0) { empty(box, 'No scored trials.'); return; }
    var dims = I.decisions.slice(0, D.max_parallel_dims);
    var use = trials.filter(function (t) { return t.status === 'ok' && t.cached === null && t.score !== null; });
    use.sort(function (a, b) { return b.score - a.score; });
    var total = use.length;
    if (use.length > D.max_lines) use = use.slice(0, D.max_lines);
    var gi = dims.map(function (d) { return D.decisions.indexOf(d.name); });
    var sd = extent(use.map(function (t) { return t.score; })) || [0, 1];
    // each axis maps its values to [0, 1]: categories evenly, numbers linearly
    var maps = dims.map(function (d, k) {
      var numeric = d.numeric && !d.binned;
      if (numeric) {
        var e = extent(use.map(function (t) { return t.g[gi[k]]; })) || [0, 1];
        return { numeric: true, lo: e[0], hi: e[1] };
      }
      var pos = Object.create(null), n = d.groups.length;
      d.groups.forEach(function (g, i) { pos[g.label] = n > 1 ? i / (n - 1) : 0.5; });
      return { numeric: false, pos: pos, labels: d.groups.map(function (g) { return g.label; }) };
    });
    function labelOf(d, v) {
      if (v === null || v === undefined) return '(absent)';
      if (d.binned) {
        for (var i = 0; i < d.groups.length; i++) if (d.groups[i].lo !== undefined && v >= d.groups[i].lo
            && v <= d.groups[i].hi) return d.groups[i].label;
      }
      if (typeof v === 'number') return Number.isInteger(v) ? String(v) : g6(v);
      if (typeof v === 'object') return JSON.stringify(v);
      return String(v);
    }
    var pts = [], ticks = [];
    use.forEach(function (t) {
      var tp = t.id;
      dims.forEach(function (d, k) {
        var v = t.g[gi[k]], m = maps[k], y;
        if (m.numeric) y = typeof v === 'number' ? (m.hi > m.lo ? (v - m.lo) / (m.hi - m.lo) : 0.5) : null;
        else { var p = m.pos[labelOf(d, v)]; y = p === undefined ? null : p; }
        if (y !== null) pts.push({ id: t.id, d: k, y: y, s: t.score, tip: tp });
      });
      pts.push({ id: t.id, d: dims.length, y: sd[1] > sd[0] ? (t.score - sd[0]) / (sd[1] - sd[0]) : 0.5, s: t.score,
          tip: tp });
    });
    maps.forEach(function (m, k) {
      if (m.numeric) {
        [0, 0.5, 1].forEach(function (f) { ticks.push({ d: k, y: f, label: fmt(m.lo + f * (m.hi - m.lo)) }); });
      } else {
        var every = Math.ceil(m.labels.length / 12);
        m.labels.forEach(function (l, i) { if (i % every === 0) ticks.push({ d: k, y: m.pos[l], label: l }); });
      }
    });
    [0, 0.5, 1].forEach(function (f) { ticks.push({ d: dims.length, y: f, label: fmt(sd[0]
        + f * (sd[1] - sd[0])) }); });
    var names = dims.map(function (d) { return d.name; }).concat(['score']);
    var axes = names.map(function (n, k) { return { d: k, name: n }; });
    var w = Math.max(360, Math.min(1100, 120 * names.length));
    plot(box, 'parallel', (total > use.length ? 'the best ' + use.length + ' of ' + total + ' scored trials; ' : '') +
         'axes: the most important decisions, then the score (colour: score)', {
      width: w, height: 280,
      data: [{ name: 'pts', values: pts }, { name: 'ticks', values: ticks }, { name: 'axes', values: axes }],
      scales: [
        { name: 'x', type: 'point', domain: names.map(function (_, k) { return k; }), range: 'width', padding: 0.3 },
        { name: 'y', type: 'linear', domain: [0, 1], range: 'height', zero: false, nice: false },
        { name: 'color', type: 'linear', domain: sd, range: { scheme: 'viridis' } }
      ],
      legends: [{ fill: 'color', title: 'score', orient: 'right', gradientLength: 160 }],
      marks: [
        { type: 'rule', from: { data: 'axes' }, interactive: false,
          encode: { enter: { x: { scale: 'x', field: 'd' }, y: { value: 0 }, y2: { signal: 'height' },
              stroke: { value: '#888' } } } },
        { type: 'group', from: { facet: { name: 'series', data: 'pts', groupby: 'id' } },
          marks: [{ type: 'line', from: { data: 'series' }, sort: { field: 'datum.d' },
                    encode: { enter: { x: { scale: 'x', field: 'd' }, y: { scale: 'y', field: 'y' },
                        stroke: { scale: 'color', field: 's' },
                                       strokeWidth: { value: 1.2 }, tooltip: { field: 'tip' } },
                              update: { strokeOpacity: { value: 0.45 } }, hover: { strokeOpacity: { value: 1 } } } }] },
        { type: 'text', from: { data: 'ticks' }, interactive: false,
          encode: { enter: { x: { scale: 'x', field: 'd', offset: 4 }, y: { scale: 'y', field: 'y' },
              text: { field: 'label' },
                             fontSize: { value: 10 }, fill: { value: '#333' }, baseline: { value: 'middle' },
                                 limit: { value: 110 } } } },
        { type: 'text', from: { data: 'axes' }, interactive: false,
          encode: { enter: { x: { scale: 'x', field: 'd' }, y: { value: -8 }, text: { field: 'name' },
              align: { value: 'center' },
                             fontWeight: { value: 'bold' }, fontSize: { value: 11 }, limit: { value: 115 } } } }
      ]
    });
  })();
  mark('parallel');

  // ---- learning curves -----------------------------------------------------------
  (function () {
    var box = $('curves-plots');
    var S = D.supernet;
    if (S && S.length > 0) {
      // one-shot searches: the supernet's training, one point per finished epoch
      var sp = [];
      S.forEach(function (p) {
        var tp = 'supernet epoch ' + fmt(p.x) + (p.phase ? ' (' + p.phase + ')' : '') + '\nloss ' + fmt(p.loss) +
                 '\ntraining accuracy ' + fmt(p.acc);
        if (p.loss !== null) sp.push({ x: p.x, y: p.loss, m: 'loss', tip: tp });
        if (p.acc !== null) sp.push({ x: p.x, y: p.acc, m: 'training accuracy', tip: tp });
      });
      plot(box, 'supernet', 'one-shot search: the supernet\'s training loss and accuracy after each epoch', {
        width: 560, height: 220,
        data: [{ name: 'pts', values: sp }],
        scales: [
          { name: 'x', type: 'linear', domain: { data: 'pts', field: 'x' }, range: 'width', zero: false, nice: false },
          { name: 'y', type: 'linear', domain: { data: 'pts', field: 'y' }, range: 'height', zero: true, nice: true },
          { name: 'color', type: 'ordinal', domain: ['loss', 'training accuracy'], range: ['#d6453d', '#3b6db3'] }
        ],
        axes: [{ orient: 'bottom', scale: 'x', title: 'supernet epoch', tickMinStep: 1 }, { orient: 'left',
            scale: 'y' }],
        legends: [{ stroke: 'color', orient: 'right' }],
        marks: [
          { type: 'group', from: { facet: { name: 'series', data: 'pts', groupby: 'm' } },
            marks: [{ type: 'line', from: { data: 'series' }, sort: { field: 'datum.x' }, interactive: false,
                      encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' },
                                         stroke: { scale: 'color', field: 'm' }, strokeWidth: { value: 1.5 } } } }] },
          { type: 'symbol', from: { data: 'pts' },
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, fill: { scale: 'color',
                field: 'm' },
                               size: { value: 22 }, tooltip: { field: 'tip' } } } }
        ]
      });
    }
    var C = D.curves;
    if (C && C.series.length > 0) {
      var pts = [];
      C.series.forEach(function (s) {
        var t = byId[s.id], tp = t ? t.id : 'trial #' + s.id;
        s.v.forEach(function (v, i) { if (v !== null) pts.push({ id: s.id, x: i + 1, y: v, s: t
            && t.score !== null ? t.score : v, tip: tp }); });
      });
      var sd = extent(pts.map(function (p) { return p.s; })) || [0, 1];
      plot(box, 'curves', C.label + (C.total > C.series.length ? ' (the best ' + C.series.length + ' of ' + C.total
          + ' trials)' : ''), {
        width: 560, height: 260,
        data: [{ name: 'pts', values: pts }],
        scales: [
          { name: 'x', type: 'linear', domain: { data: 'pts', field: 'x' }, range: 'width', zero: false, nice: false },
          { name: 'y', type: 'linear', domain: { data: 'pts', field: 'y' }, range: 'height', zero: false, nice: true },
          { name: 'color', type: 'linear', domain: sd, range: { scheme: 'viridis' } }
        ],
        axes: [{ orient: 'bottom', scale: 'x', title: C.x, tickMinStep: 1 }, { orient: 'left', scale: 'y',
            title: C.y }],
        legends: [{ fill: 'color', title: 'score', orient: 'right', gradientLength: 140 }],
        marks: [
          { type: 'group', from: { facet: { name: 'series', data: 'pts', groupby: 'id' } },
            marks: [{ type: 'line', from: { data: 'series' },
                      encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' },
                          stroke: { scale: 'color', field: 's' },
                                         strokeWidth: { value: 1.5 }, tooltip: { field: 'tip' } },
                                update: { strokeOpacity: { value: 0.6 } },
                                    hover: { strokeOpacity: { value: 1 } } } }] },
          { type: 'symbol', from: { data: 'pts' },
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, fill: { scale: 'color',
                field: 's' },
                               size: { value: 14 }, tooltip: { field: 'tip' } } } }
        ]
      });
      return;
    }
    var F = D.fidelity_curves;
    if (F && F.points.length > 0) {
      var fp = F.points.map(function (p) {
        var t = byId[p.id];
        return { gk: p.gk, x: p.x, y: p.y, tip: t ? t.id : 'trial #' + p.id };
      });
      plot(box, 'curves', 'score against ' + (D.fidelity_name || 'fidelity') + ', one line per genotype ('
          + F.genotypes +
           ' genotypes evaluated at more than one fidelity)', {
        width: 560, height: 260,
        data: [{ name: 'pts', values: fp }],
        scales: [
          { name: 'x', type: logScaleFor(fp.map(function (p) { return p.x; })), domain: { data: 'pts', field: 'x' },
              range: 'width', zero: false, nice: false },
          { name: 'y', type: 'linear', domain: { data: 'pts', field: 'y' }, range: 'height', zero: false, nice: true }
        ],
        axes: [{ orient: 'bottom', scale: 'x', title: D.fidelity_name || 'fidelity' }, { orient: 'left', scale: 'y',
            title: 'score' }],
        marks: [
          { type: 'group', from: { facet: { name: 'series', data: 'pts', groupby: 'gk' } },
            marks: [{ type: 'line', from: { data: 'series' }, sort: { field: 'datum.x' },
                      encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' },
                          stroke: { value: '#3b6db3' },
                                         strokeWidth: { value: 1 } },
                                update: { strokeOpacity: { value: 0.35 } },
                                    hover: { strokeOpacity: { value: 1 } } } }] },
          { type: 'symbol', from: { data: 'pts' },
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, fill: { value: '#3b6db3' },
                               size: { value: 18 }, tooltip: { field: 'tip' } } } }
        ]
      });
      return;
    }
    if (!(S && S.length > 0)) {
      empty(box, 'No trial recorded a learning curve (metrics.curve: nas.train{ curve = true }), and no genotype ' +
                 'was evaluated at more than one fidelity.');
    }
  })();
  mark('curves');

  // ---- worker timeline -------------------------------------------------------------
  (function () {
    var box = $('timeline-plots');
    var rows = trials.filter(function (t) { return t.t0 !== null && t.t1 !== null && t.cat !== 'repeat'; });
    var workers = {};
    function wname(t) { return t.worker === null ? 'coordinator' : 'worker ' + t.worker; }
    rows.forEach(function (t) { workers[wname(t)] = true; });
    var names = Object.keys(workers).sort(function (a, b) {
      var x = a === 'coordinator' ? -1 : Number(a.slice(7)), y = b === 'coordinator' ? -1 : Number(b.slice(7));
      return x - y;
    });
    if (rows.length === 0 || names.length < 2) {
      empty(box, rows.length === 0 ? 'No trial has start and end times.' :
                 'The trials ran one at a time in one process (no worker column): no timeline to draw.');
      return;
    }
    var span = extent(rows.map(function (t) { return t.t1; }));
    var unit = span[1] > 7200 ? 3600 : span[1] > 120 ? 60 : 1;
    var uname = unit === 3600 ? 'hours' : unit === 60 ? 'minutes' : 'seconds';
    var items = rows.map(function (t) {
      return { w: wname(t), a: t.t0 / unit, b: Math.max(t.t1, t.t0) / unit,
          cat: t.cat, tip: t.id };
    });
    plot(box, 'timeline', 'each bar: one trial, from its start to its end, on the worker that ran it', {
      width: 760, height: Math.max(60, 22 * names.length),
      data: [{ name: 'items', values: items }],
      scales: [
        { name: 'x', type: 'linear', domain: { data: 'items', fields: ['a', 'b'] }, range: 'width', zero: true,
            nice: false },
        { name: 'y', type: 'band', domain: names, range: 'height', padding: 0.15 },
        statusScale()
      ],
      axes: [{ orient: 'bottom', scale: 'x', title: uname + ' since the first trial started' }, { orient: 'left',
          scale: 'y' }],
      legends: [{ fill: 'color', title: 'status', orient: 'right' }],
      marks: [{ type: 'rect', from: { data: 'items' },
                encode: { enter: { x: { scale: 'x', field: 'a' }, x2: { scale: 'x', field: 'b', offset: -0.5 },
                                   y: { scale: 'y', field: 'w' }, height: { scale: 'y', band: 1 },
                                   fill: { scale: 'color', field: 'cat' }, tooltip: { field: 'tip' } },
                          update: { fillOpacity: { value: 0.8 } }, hover: { fillOpacity: { value: 1 } } } }]
    });
  })();
  mark('timeline');

  // ---- tables ------------------------------------------------------------------------
  var COLUMNS = [
    { label: '#', num: true, get: function (t) { return t.id; } },
    { label: 'status', cls: 'st', get: function (t) { return t.cat === 'repeat' ? 'ok (repeat)' : t.status; } },
    { label: 'score', num: true, get: function (t) { return t.score; } }
  ];
  if (D.fidelity_name) COLUMNS.push({ label: D.fidelity_name, num: true, get: function (t) { return t.fidelity; } });
  COLUMNS.push({ label: 'genotype', cls: 'geno', get: genoText });
  D.metrics.forEach(function (name, i) {
    COLUMNS.push({ label: name, num: D.metric_numeric[i], get: function (t) { return t.m[i]; } });
  });
  COLUMNS.push({ label: 'seconds', num: true, get: function (t) { return t.seconds; } });
  if (trials.some(function (t) { return t.worker !== null; })) {
    COLUMNS.push({ label: 'worker', num: true, get: function (t) { return t.worker; } });
  }
  COLUMNS.push({ label: 'note', get: function (t) {
    if (t.reason !== null) return t.reason;
    if (t.cached !== null) return 'same graph as #' + t.cached;
    return t.id === D.best ? 'best' : null;
  } });

  (function () {
    var box = $('failed-table');
    var bad = trials.filter(function (t) { return t.status !== 'ok'; });
    if (bad.length === 0) { empty(box, 'No failed or rejected trials.'); return; }
    var counts = Object.create(null);
    bad.forEach(function (t) {
      var k = t.status + ': ' + (t.reason || '?').replace(/-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?/gi, 'N');
      counts[k] = (counts[k] || 0) + 1;
    });
    var sum = el('ul');
    Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a]; }).slice(0, 12).forEach(function (k) {
      sum.appendChild(el('li', null, counts[k] + ' x ' + k));
    });
    box.appendChild(el('p', 'explain', 'Most common reasons (numbers replaced by N):'));
    box.appendChild(sum);
    var wrap = el('div', 'table-wrap'), tab = el('table', 'data'), head = el('tr');
    ['#', 'status', 'reason', 'genotype'].forEach(function (h) { head.appendChild(el('th', null, h)); });
    var thead = el('thead'); thead.appendChild(head); tab.appendChild(thead);
    var body = el('tbody'), frag = document.createDocumentFragment();
    bad.forEach(function (t) {
      var tr = el('tr', 'st-' + t.status);
      tr.setAttribute('data-id', String(t.id));
      tr.appendChild(el('td', 'num', t.id));
      tr.appendChild(el('td', 'st', t.status));
      tr.appendChild(el('td', null, t.reason === null ? '-' : t.reason));
      tr.appendChild(el('td', 'geno', genoText(t)));
      frag.appendChild(tr);
    });
    body.appendChild(frag); tab.appendChild(body); wrap.appendChild(tab); box.appendChild(wrap);
  })();
  mark('failed');

  (function () {
    var box = $('trial-table');
    var controls = el('div', 'controls');
    var q = el('input'); q.type = 'search'; q.placeholder = 'filter: text in any column (e.g. width=16)';
    var st = el('select');
    ['all', 'ok', 'failed', 'rejected'].forEach(function (s) { var o = el('option', null,
        s); o.value = s; st.appendChild(o); });
    var count = el('span');
    controls.appendChild(q); controls.appendChild(st); controls.appendChild(count);
    box.appendChild(controls);
    var wrap = el('div', 'table-wrap'), tab = el('table', 'data');
    tab.id = 'trials';
    var thead = el('thead'), head = el('tr');
    COLUMNS.forEach(function (c, ci) {
      var th = el('th', null, c.label);
      th.addEventListener('click', function () { sortBy(ci); });
      head.appendChild(th);
    });
    thead.appendChild(head); tab.appendChild(thead);
    var body = el('tbody');
    // each row a copy of one empty row (quicker than creating every cell), filled with textContent
    var proto = el('tr');
    COLUMNS.forEach(function (c) { proto.appendChild(el('td', (c.num ? 'num' : '') + (c.cls ? ' ' + c.cls : ''))); });
    var rows = trials.map(function (t) {
      var tr = proto.cloneNode(true);
      tr.className = 'st-' + t.status + (t.id === D.best ? ' best' : '');
      tr.setAttribute('data-id', String(t.id));
      var td = tr.firstChild;
      var vals = COLUMNS.map(function (c) {
        var v = c.get(t);
        td.textContent = fmt(v);
        td = td.nextSibling;
        return v;
      });
      return { tr: tr, vals: vals, status: t.status, text: null };
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r.tr); });
    body.appendChild(frag);
    tab.appendChild(body); wrap.appendChild(tab); box.appendChild(wrap);
    var sorted = -1, asc = true;
    function cmp(a, b) {
      if (a === b) return 0;
      if (a === null || a === undefined) return 1;
      if (b === null || b === undefined) return -1;
      if (typeof a === 'number' && typeof b === 'number') return a - b;
      return String(a) < String(b) ? -1 : 1;
    }
    function sortBy(ci) {
      asc = sorted === ci ? !asc : ci !== 2;
      sorted = ci;
      Array.prototype.forEach.call(head.children, function (th, i) {
        th.className = i === ci ? (asc ? 'sorted-asc' : 'sorted-desc') : '';
      });
      rows.sort(function (x, y) {
        var a = x.vals[ci], b = y.vals[ci];
        if (a === null || a === undefined || b === null || b === undefined) return cmp(a, b);
        return asc ? cmp(a, b) : cmp(b, a);
      });
      var f = document.createDocumentFragment();
      rows.forEach(function (r) { f.appendChild(r.tr); });
      body.appendChild(f);
    }
    function filter() {
      var words = q.value.toLowerCase().split(/\s+/).filter(Boolean), s = st.value, shown = 0;
      rows.forEach(function (r) {
        if (words.length > 0 && r.text === null) r.text = r.tr.textContent.toLowerCase();
        var ok = (s === 'all' || r.status === s) && words.every(function (w) { return r.text.indexOf(w) >= 0; });
        r.tr.hidden = !ok;
        if (ok) shown++;
      });
      count.textContent = shown + ' of ' + rows.length + ' trials';
    }
    q.addEventListener('input', filter);
    st.addEventListener('change', filter);
    count.textContent = rows.length + ' of ' + rows.length + ' trials';
  })();
  mark('table');

  (function () {
    var pre = $('log-text');
    if (D.log.length === 0) { pre.hidden = true; empty($('log-box'), 'No search.log in the run folder.'); return; }
    pre.textContent = D.log.join('\n');
  })();
  mark('log');

  // ---- render, then record what was drawn -----------------------------------------------
  var done = false;
  function marks(box) {
    var n = 0;
    box.querySelectorAll('g.role-mark').forEach(function (g) {
      for (var c = g.firstElementChild; c; c = c.nextElementSibling) if (c.tagName.toLowerCase() !== 'g') n++;
    });
    return n;
  }
  Promise.all(views.map(function (v) { return v.view.runAsync(); })).then(function () {
    done = true;
    mark('render');
    var report = { errors: window.nasErrors, plots: [], rows: document.querySelectorAll('#trials tbody tr').length,
                   render_ms: Math.round(performance.now() - t_start), phases: phases };
    views.forEach(function (v) { report.plots.push({ name: v.name, marks: marks(v.box) }); });
    var out = $('nas-selfcheck');
    out.textContent = JSON.stringify(report);
    if (window.nasErrors.length > 0) {
      var banner = $('nas-errors');
      banner.textContent = 'This page had script errors:\n' + window.nasErrors.join('\n');
      banner.hidden = false;
    }
    document.body.setAttribute('data-rendered', 'yes');
  }).catch(function (e) { window.nasErrors.push(String(e && e.stack || e)); });
})();
]==]

return M
