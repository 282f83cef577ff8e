// The township page: a plain client of /api/v1. Everything shown is built with
// textContent (never parsed as markup), so nothing in a ticket can run as code.
//
// A token is only ever typed into the sign-in form and kept in sessionStorage. An
// address never carries one: it would stay in browser history, screenshots and shared
// links. A `token=` found in the address anyway is removed from it at once, unused, and
// the sign-in form says why. Changes and downloads happen only when the user presses the
// page's own buttons. The address carries only what holds no secret:
//   #ticket=ID          open one ticket
//   #township=CODE      (admin tokens) look at one township
//   #view=readiness     readiness for the inspection (with #township=… for one)
//
// <body data-state> says where the page is (signed-out, loading, list, readiness,
// detail, not-found, error); it turns to loading while a request is out, so the browser test
// waits on what the page says it is doing, never on time.
(function () {
  'use strict';

  var TOKEN_KEY = 'popsync.token';
  var DEPARTMENTS = [['psb', '公安'], ['mca', '民政'], ['nhc', '卫健'], ['pis', '人口库']];
  var STATUS_ZH = { open: '待处理', dismissed: '已驳回', resolved: '已解决', withdrawn: '已撤回' };
  var COLOURS = ['#c0392b', '#2980b9', '#27ae60', '#8e44ad', '#d35400', '#16a085', '#f39c12', '#2c3e50', '#e84393', '#7f8c8d', '#6c5ce7', '#00b894'];
  var me = null;
  var currentTicket = null;
  // The list's owner filter (a name, or `none`); kept in the page, not the address:
  // it is a member of staff's name.
  var ownerFilter = '';

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      if (arguments[i] !== null && arguments[i] !== undefined) node.appendChild(arguments[i]);
    }
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function hashParams() { return new URLSearchParams(location.hash.replace(/^#/, '')); }

  function setState(state) { document.body.setAttribute('data-state', state); }

  function say(text, isError, code) {
    var m = $('message');
    m.hidden = !text;
    m.textContent = text || '';
    m.className = isError ? 'error' : '';
    if (code) m.setAttribute('data-code', code); else m.removeAttribute('data-code');
  }

  function ApiFail(status, code, message) { this.status = status; this.code = code; this.message = message; }

  // The township an admin is looking at (empty: the whole city); township tokens ignore it.
  function townshipQuery(prefix) {
    var t = me && me.is_admin ? (hashParams().get('township') || '') : '';
    return t ? prefix + 'township=' + encodeURIComponent(t) : '';
  }

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({ Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY) }, options.headers || {});
    return fetch(path, Object.assign({}, options, { headers: headers })).then(function (res) {
      if (res.ok) return res;
      return res.json().catch(function () { return null; }).then(function (body) {
        var err = (body && body.error) || {};
        if (res.status === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          showSignIn('令牌无效或已被吊销，请重新登录。');
        }
        throw new ApiFail(res.status, err.code || 'http_' + res.status, err.message || res.statusText);
      });
    });
  }

  function getJson(path) { return api(path).then(function (r) { return r.json(); }); }

  function showOnly(id) {
    ['sign-in', 'list-view', 'readiness-view', 'detail-view'].forEach(function (v) { $(v).hidden = v !== id; });
  }

  function showSignIn(text, code) {
    me = null;
    $('who').hidden = true;
    showOnly('sign-in');
    say(text || '', !!text, text ? code || 'unauthorized' : null);
    setState('signed-out');
  }

  // Takes a `token=` out of the address (query or fragment) without reading its value,
  // so the history entry no longer holds it, and shows the sign-in form saying why. The
  // tab's own token goes too: a reload must not sign in behind a form that asks for one.
  // True when there was one.
  function refuseTokenInAddress() {
    var query = new URLSearchParams(location.search);
    var hash = hashParams();
    if (!query.has('token') && !hash.has('token')) return false;
    query.delete('token');
    hash.delete('token');
    var q = query.toString();
    var h = hash.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + (h ? '#' + h : ''));
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn('链接中不能带令牌，已将其从地址中删除。请在下方输入令牌登录。', 'token_in_address');
    return true;
  }

  // ---- list ------------------------------------------------------------------------

  function subjectText(s) {
    if (s.id_number) return s.id_number;
    if (s.child_id_number) return s.child_id_number;
    if (s.pis_person_ids) return s.pis_person_ids.join('、');
    if (s.pis_person_id) return '人口库 ' + s.pis_person_id;
    if (s.birth_cert_no) return '出生证 ' + s.birth_cert_no;
    return '';
  }

  function ownerQuery() {
    return ownerFilter ? '&owner=' + encodeURIComponent(ownerFilter) : '';
  }

  function ticketLink(id) {
    var p = new URLSearchParams();
    p.set('ticket', id);
    var t = hashParams().get('township');
    if (t) p.set('township', t);
    return '#' + p.toString();
  }

  function renderCounts(counts) {
    var body = clear($('counts').querySelector('tbody'));
    if (!counts.kinds.length) body.appendChild(el('tr', {}, el('td', { colspan: '4', text: '暂无工单' })));
    counts.kinds.forEach(function (k) {
      body.appendChild(el('tr', { 'data-kind': k.kind },
        el('td', { className: 'kind', text: k.kind_zh }),
        el('td', { className: 'num', text: String(k.open) }),
        el('td', { className: 'num', text: String(k.dismissed) }),
        el('td', { className: 'num', text: String(k.resolved) })));
    });
  }

  // A chart's width in pixels: its box's, within [min, max] (a hidden box has none yet).
  // Drawn at that width its text stays at its size; CSS shrinks it should the box narrow
  // later.
  function fitWidth(box, min, max) {
    return Math.max(min, Math.min(max, box.clientWidth || max));
  }

  function renderChart(runs) {
    var box = clear($('chart'));
    var list = runs.runs.slice().reverse();
    if (!list.length) { box.appendChild(el('p', { text: '尚无核对记录' })); return; }
    var kinds = [];
    list.forEach(function (r) { Object.keys(r.open_by_kind).forEach(function (k) { if (kinds.indexOf(k) < 0) kinds.push(k); }); });
    kinds.sort();
    var names = {};
    (me.kinds || []).forEach(function (k) { names[k.kind] = k.kind_zh; });
    var totals = list.map(function (r) { return kinds.reduce(function (s, k) { return s + (r.open_by_kind[k] || 0); }, 0); });
    var max = Math.max.apply(null, totals.concat([1]));
    var W = fitWidth(box, 280, 560), H = 200, left = 36, bottom = 24, top = 10;
    var barW = Math.min(40, (W - left - 10) / list.length * 0.7);
    var step = (W - left - 10) / list.length;
    // A date label is about 30 px wide: on a narrow chart every second (or third) one.
    var labelEvery = Math.ceil(30 / step);
    var chart = svg('svg', { width: String(W), height: String(H), viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': '近几次核对后各类待处理工单数', id: 'chart-svg' });
    chart.appendChild(svg('line', { x1: String(left), y1: String(H - bottom), x2: String(W), y2: String(H - bottom), stroke: '#999' }));
    chart.appendChild(svg('text', { x: String(left - 4), y: String(top + 10), 'text-anchor': 'end', 'font-size': '11', text: String(max) }));
    chart.appendChild(svg('text', { x: String(left - 4), y: String(H - bottom), 'text-anchor': 'end', 'font-size': '11', text: '0' }));
    list.forEach(function (r, i) {
      var x = left + i * step + (step - barW) / 2;
      var y = H - bottom;
      kinds.forEach(function (k, ki) {
        var n = r.open_by_kind[k] || 0;
        if (!n) return;
        var h = n / max * (H - bottom - top);
        y -= h;
        var rect = svg('rect', { x: String(x), y: String(y), width: String(barW), height: String(h), fill: COLOURS[ki % COLOURS.length], 'data-kind': k, 'data-count': String(n) });
        rect.appendChild(svg('title', { text: r.as_of + ' ' + (names[k] || k) + '：' + n }));
        chart.appendChild(rect);
      });
      if ((list.length - 1 - i) % labelEvery === 0) chart.appendChild(svg('text', { x: String(x + barW / 2), y: String(H - 8), 'text-anchor': 'middle', 'font-size': '10', text: r.as_of.slice(5) }));
    });
    box.appendChild(chart);
    var legend = el('p', { className: 'legend' });
    kinds.forEach(function (k, ki) {
      var sw = svg('svg', { width: '10', height: '10', 'aria-hidden': 'true' });
      sw.appendChild(svg('rect', { width: '10', height: '10', fill: COLOURS[ki % COLOURS.length] }));
      var item = el('span', { className: 'legend-item' }, el('span', { className: 'kind', text: names[k] || k }));
      item.insertBefore(sw, item.firstChild);
      legend.appendChild(item);
    });
    box.appendChild(legend);
  }

  function renderTickets(page) {
    var groups = clear($('groups'));
    $('list-total').textContent = '共 ' + page.total + ' 件' + (page.total > page.tickets.length ? '（仅显示前 ' + page.tickets.length + ' 件，完整清单请下载）' : '');
    if (!page.tickets.length) { groups.appendChild(el('p', { text: '没有待处理的工单。' })); return; }
    // The whole city at once: each ticket says whose it is, beside its village.
    var cityWide = !!(me && me.is_admin && !hashParams().get('township'));
    var place = cityWide ? '乡镇 · 村(居)' : '村(居)';
    var byKind = {};
    var order = [];
    page.tickets.forEach(function (t) {
      if (!byKind[t.kind]) { byKind[t.kind] = []; order.push(t.kind); }
      byKind[t.kind].push(t);
    });
    order.forEach(function (kind) {
      var list = byKind[kind];
      var body = el('tbody');
      list.forEach(function (t) {
        // data-label: the column's name, shown beside the value when a row is a card.
        body.appendChild(el('tr', { className: 'ticket-row', 'data-ticket': t.ticket_id },
          el('td', {}, el('a', { href: ticketLink(t.ticket_id), text: t.ticket_id })),
          el('td', { className: 'subject', 'data-label': '对象', text: subjectText(t.subject) }),
          el('td', { className: 'ticket-summary', text: t.summary_zh }),
          el('td', { className: 'nowrap', 'data-label': place, text: (cityWide ? t.township_name + ' · ' : '') + (t.village || '—') }),
          el('td', { className: 'owner nowrap', 'data-label': '责任人', text: t.owner || '—' }),
          el('td', { className: 'nowrap', 'data-label': '发现日期', text: t.opened_at.slice(0, 10) })));
      });
      groups.appendChild(el('div', { className: 'group', 'data-kind': kind },
        el('h3', { text: list[0].kind_zh + '（' + list.length + '）' }),
        el('table', { className: 'tickets' },
          el('thead', {}, el('tr', {}, el('th', { text: '工单编号' }), el('th', { text: '对象' }), el('th', { text: '问题说明' }), el('th', { text: place }), el('th', { text: '责任人' }), el('th', { text: '发现日期' }))),
          body)));
    });
  }

  function showList() {
    showOnly('list-view');
    currentTicket = null;
    var q = townshipQuery('&');
    return Promise.all([
      getJson('/api/v1/counts?' + townshipQuery('')),
      getJson('/api/v1/runs?limit=10' + q),
      getJson('/api/v1/tickets?status=open&limit=500' + q + ownerQuery()),
    ]).then(function (r) {
      renderCounts(r[0]);
      renderChart(r[1]);
      renderTickets(r[2]);
      setState('list');
    });
  }

  // ---- readiness for the inspection ----------------------------------------------------
  //
  // #view=readiness (with #township=CODE for an admin looking at one township): a
  // township's figures and its burn-down; for the admin, the city's figures and every
  // township's burn-down side by side, worst first, the laggards marked in colour and
  // in words. The figures are the API's, formatted only.

  var STEPS_COLOUR = '#2980b9';
  var LINE_COLOUR = '#e67e22';

  function readinessLink(township) {
    var p = new URLSearchParams();
    p.set('view', 'readiness');
    if (township) p.set('township', township);
    return '#' + p.toString();
  }

  // Days since 1970-01-01 of a `YYYY-MM-DD` date: the chart's x is linear in these.
  function dayNumber(date) {
    var d = date.split('-');
    return Date.UTC(+d[0], +d[1] - 1, +d[2]) / 86400000;
  }

  function dayText(n) { return new Date(n * 86400000).toISOString().slice(0, 10); }

  // The step of a count axis with at most about four steps: 1, 2 or 5 times a power of ten.
  function niceStep(max) {
    var raw = Math.max(1, max / 4);
    var p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var m = [1, 2, 5, 10].filter(function (k) { return k * p >= raw; })[0];
    return m * p;
  }

  function kindNames() {
    var names = {};
    (me.kinds || []).forEach(function (k) { names[k.kind] = k.kind_zh; });
    return names;
  }

  // `value` with `digits` decimals, or a dash for none.
  function fixed(value, digits) { return value === null || value === undefined ? '—' : value.toFixed(digits); }

  function daysText(days) {
    if (days === null || days === undefined) return '未定检查日期';
    return days >= 0 ? days + ' 天' : '已过 ' + (-days) + ' 天';
  }

  function paceBadge(pace) {
    if (!pace) return el('span', { className: 'badge', 'data-figure': 'pace', text: '尚无进度' });
    return el('span', { className: 'badge ' + (pace.on_pace ? 'ok' : 'behind'), 'data-figure': 'pace', text: pace.on_pace ? '进度正常' : '进度落后' });
  }

  // One figure: its name above its value; `key` names the API's field (`data-figure`).
  function figure(key, label, value, note) {
    return el('div', { className: 'figure' }, el('dt', { text: label }),
      el('dd', { 'data-figure': key, text: value }), note ? el('dd', { className: 'note', text: note }) : null);
  }

  // A row's figures (a township's or the city's) in plain Chinese.
  function figures(row, ready) {
    var names = kindNames();
    var kinds = Object.keys(row.open_by_kind).map(function (k) { return (names[k] || k) + ' ' + row.open_by_kind[k]; }).join('、');
    return el('dl', { className: 'figures' },
      figure('records', '在册记录', row.records + ' 条'),
      figure('open', '待处理', row.open + ' 件', kinds ? '其中 ' + kinds : null),
      figure('errors_per_1000', '每千条差错', fixed(row.errors_per_1000, 2)),
      figure('overdue', '超期未改（超过 ' + ready.fix_within_days + ' 天）', row.overdue + ' 件'),
      figure('p_sample_finds_error', '抽查 ' + row.sample_size + ' 条发现差错的概率', fixed(row.p_sample_finds_error * 100, 1) + '%'),
      figure('expected_points_lost', '预计扣分', fixed(row.expected_points_lost, 1) + ' / ' + ready.points + ' 分'),
      figure('days_left', '距检查', daysText(row.days_left)));
  }

  // A township's burn-down: its open tickets after each as-of date's last run as steps
  // with a dot per point, and the dashed straight line from its first point to zero on
  // the inspection date. Drawn as wide as its box, like the bar chart.
  function burnChart(box, h, ready, small) {
    var points = h.points;
    if (!points.length) { box.appendChild(el('p', { className: 'no-chart', text: '尚无核对记录' })); return; }
    var days = points.map(function (p) { return dayNumber(p.as_of); });
    var inspection = h.line ? dayNumber(h.line.to.as_of) : null;
    // From the first point (or an inspection day before it) to the later of the last
    // point, today and the inspection day.
    var d0 = inspection === null ? days[0] : Math.min(days[0], inspection);
    var d1 = Math.max(days[days.length - 1], dayNumber(ready.as_of), inspection === null ? d0 : inspection);
    if (d1 === d0) d1 = d0 + 1;
    var max = Math.max.apply(null, points.map(function (p) { return p.open; }).concat([1]));
    var step = niceStep(max);
    var top = Math.ceil(max / step) * step;
    var W = fitWidth(box, 280, small ? 480 : 960), H = small ? 170 : 260;
    var left = 40, right = 18, up = 22, bottom = 36;
    var x = function (d) { return left + (d - d0) / (d1 - d0) * (W - left - right); };
    var y = function (n) { return H - bottom - n / top * (H - bottom - up); };
    var r = function (v) { return String(Math.round(v * 10) / 10); };
    var chart = svg('svg', { width: String(W), height: String(H), viewBox: '0 0 ' + W + ' ' + H, role: 'img', class: 'burn-chart', 'data-township': h.township, 'aria-label': h.township_name + '待处理工单的燃尽图' });
    // The count axis: gridlines and their numbers, its name on top.
    for (var n = 0; n <= top; n += step) {
      chart.appendChild(svg('line', { x1: String(left), y1: r(y(n)), x2: String(W - right), y2: r(y(n)), stroke: n ? '#e4e4e4' : '#999', class: n ? 'grid' : 'x-axis' }));
      chart.appendChild(svg('text', { x: String(left - 5), y: r(y(n) + 4), 'text-anchor': 'end', 'font-size': '11', fill: '#444', text: String(n) }));
    }
    chart.appendChild(svg('text', { x: '2', y: '12', 'font-size': '11', fill: '#444', text: '待处理（件）' }));
    // The date axis: every day, or every second, third… day from the first, where a
    // label (about 30 px wide) has room; and always the inspection day.
    var every = Math.max(1, Math.ceil(56 / ((W - left - right) / (d1 - d0))));
    var ticks = [];
    for (var t = d0; t <= d1; t += every) ticks.push(t);
    var kept = [];
    ticks.forEach(function (d) {
      var clash = kept.some(function (k) { return Math.abs(x(k) - x(d)) < 44; }) ||
        (inspection !== null && d !== inspection && Math.abs(x(inspection) - x(d)) < 44);
      if (!clash && kept.indexOf(d) < 0) kept.push(d);
    });
    if (inspection !== null && kept.indexOf(inspection) < 0) kept.push(inspection);
    kept.forEach(function (d) {
      var anchor = x(d) < left + 20 ? 'start' : x(d) > W - right - 20 ? 'end' : 'middle';
      chart.appendChild(svg('line', { x1: r(x(d)), y1: r(H - bottom), x2: r(x(d)), y2: r(H - bottom + 4), stroke: '#999' }));
      chart.appendChild(svg('text', { x: r(x(d)), y: String(H - bottom + 16), 'text-anchor': anchor, 'font-size': '10', fill: '#444', class: 'date-tick', 'data-as-of': dayText(d), text: dayText(d).slice(5) }));
    });
    chart.appendChild(svg('text', { x: String(W - right), y: String(H - 3), 'text-anchor': 'end', 'font-size': '10', fill: '#444', text: '日期（月-日）' }));
    // The inspection day: a rule across the chart, named on top.
    if (inspection !== null) {
      chart.appendChild(svg('line', { x1: r(x(inspection)), y1: String(up - 6), x2: r(x(inspection)), y2: r(H - bottom), stroke: '#999', 'stroke-dasharray': '2 3', class: 'inspection-rule', 'data-as-of': h.line.to.as_of }));
      chart.appendChild(svg('text', { x: r(x(inspection) - 3), y: String(up - 8), 'text-anchor': 'end', 'font-size': '10', fill: '#444', text: '检查日' }));
    }
    // The line it is held to: from the first point to zero on the inspection day.
    if (h.line) {
      chart.appendChild(svg('line', { x1: r(x(dayNumber(h.line.from.as_of))), y1: r(y(h.line.from.open)), x2: r(x(inspection)), y2: r(y(0)), stroke: LINE_COLOUR, 'stroke-width': '2', 'stroke-dasharray': '6 4', class: 'burn-line' }));
    }
    // The steps: a count holds until the next run's.
    var d = 'M' + r(x(days[0])) + ' ' + r(y(points[0].open));
    for (var k = 1; k < points.length; k++) d += ' H' + r(x(days[k])) + ' V' + r(y(points[k].open));
    chart.appendChild(svg('path', { d: d, fill: 'none', stroke: STEPS_COLOUR, 'stroke-width': '2', class: 'burn-steps' }));
    points.forEach(function (p, j) {
      var dot = svg('circle', { cx: r(x(days[j])), cy: r(y(p.open)), r: small ? '3' : '4', fill: STEPS_COLOUR, class: 'burn-point', 'data-as-of': p.as_of, 'data-open': String(p.open) });
      dot.appendChild(svg('title', { text: p.as_of + ' 待处理 ' + p.open + ' 件' }));
      chart.appendChild(dot);
    });
    box.appendChild(chart);
  }

  function burnLegend() {
    var legend = el('p', { className: 'legend' });
    [[STEPS_COLOUR, '', '每次核对后的待处理数'], [LINE_COLOUR, '6 4', '按期清零的进度线']].forEach(function (l) {
      var sw = svg('svg', { width: '24', height: '10', 'aria-hidden': 'true' });
      sw.appendChild(svg('line', { x1: '0', y1: '5', x2: '24', y2: '5', stroke: l[0], 'stroke-width': '2', 'stroke-dasharray': l[1] || 'none' }));
      var item = el('span', { className: 'legend-item' }, el('span', { text: l[2] }));
      item.insertBefore(sw, item.firstChild);
      legend.appendChild(item);
    });
    return legend;
  }

  function renderReadiness(ready, hist) {
    var body = clear($('readiness-body'));
    var histories = {};
    hist.townships.forEach(function (h) { histories[h.township] = h; });
    var rows = {};
    ready.townships.forEach(function (t) { rows[t.township] = t; });
    $('readiness-dates').textContent = (ready.inspection_date ? '省级检查日期 ' + ready.inspection_date : '尚未设定省级检查日期') + '；数据截至 ' + ready.as_of + '。';
    var empty = function (t) { return { township: t.township, township_name: t.township_name, points: [], line: null }; };

    if (ready.city) {
      $('readiness-title').textContent = '迎检准备 · 全市';
      var behind = ready.city.behind.map(function (c) { return rows[c] ? rows[c].township_name : c; });
      var city = el('section', { className: 'readiness-panel', id: 'readiness-city' }, figures(ready.city, ready),
        el('p', { className: 'behind-list', 'data-figure': 'behind', text: behind.length ? '进度落后：' + behind.join('、') : '各乡镇进度正常' }));
      body.appendChild(city);
      body.appendChild(el('h3', { text: '各乡镇燃尽图（预计扣分多的在前）' }));
      body.appendChild(burnLegend());
      var grid = el('div', { id: 'readiness-grid' });
      body.appendChild(grid);
      ready.city.ranking.forEach(function (code, rank) {
        var t = rows[code];
        if (!t) return;
        var late = ready.city.behind.indexOf(code) >= 0;
        var card = el('section', { className: 'small-chart' + (late ? ' behind' : ''), 'data-township': code, 'data-behind': String(late) },
          el('h3', {}, el('span', { className: 'rank', text: (rank + 1) + '.' }), el('a', { href: readinessLink(code), text: t.township_name }),
            el('span', { className: 'badge ' + (late ? 'behind' : t.pace ? 'ok' : ''), text: late ? '落后' : t.pace ? '正常' : '尚无进度' })),
          el('p', { className: 'small-figures', text: '待处理 ' + t.open + ' 件 · 预计扣分 ' + fixed(t.expected_points_lost, 1) + ' · 超期 ' + t.overdue + ' 件' }));
        grid.appendChild(card);
        burnChart(card, histories[code] || empty(t), ready, true);
      });
      return;
    }
    $('readiness-title').textContent = '迎检准备';
    ready.townships.forEach(function (t) {
      var panel = el('section', { className: 'readiness-panel', 'data-township': t.township },
        el('h3', {}, document.createTextNode(t.township_name + ' '), paceBadge(t.pace)));
      if (t.pace) {
        panel.appendChild(el('p', { className: 'pace-note', text: '今天待处理 ' + t.open + ' 件；按 ' + t.pace.first_as_of + ' 的 ' + t.pace.first_open + ' 件到检查日清零，今天应不超过 ' + t.pace.target_open.toFixed(1) + ' 件。' }));
      }
      panel.appendChild(figures(t, ready));
      panel.appendChild(el('h3', { text: '燃尽图' }));
      var box = el('div', { className: 'burn-box' });
      panel.appendChild(box);
      body.appendChild(panel);
      burnChart(box, histories[t.township] || empty(t), ready, false);
      panel.appendChild(burnLegend());
    });
  }

  function showReadiness() {
    showOnly('readiness-view');
    var q = townshipQuery('?');
    return Promise.all([getJson('/api/v1/readiness' + q), getJson('/api/v1/readiness/history' + q)]).then(function (r) {
      renderReadiness(r[0], r[1]);
      setState('readiness');
    });
  }

  // ---- one ticket --------------------------------------------------------------------

  function renderDetail(d) {
    var t = d.ticket;
    currentTicket = t;
    $('detail-title').textContent = t.kind_zh + ' · ' + t.ticket_id;
    var meta = clear($('detail-meta'));
    var subject = [];
    if (t.subject.id_number) subject.push('身份证号 ' + t.subject.id_number);
    if (t.subject.child_id_number) subject.push('子女身份证号 ' + t.subject.child_id_number);
    if (t.subject.birth_cert_no) subject.push('出生医学证明 ' + t.subject.birth_cert_no);
    if (t.subject.pis_person_id) subject.push('人口库编号 ' + t.subject.pis_person_id);
    if (t.subject.pis_person_ids) subject.push('人口库编号 ' + t.subject.pis_person_ids.join('、'));
    [['状态', t.status_zh], ['责任人', t.owner || '未指派'], ['乡镇', t.township_name + '（' + t.township + '）'], ['村(居)', t.village || '—'],
      ['对象', subject.join('；')], ['建议身份证号', t.suggestion && t.suggestion.id_number ? t.suggestion.id_number : null],
      ['发现时间', t.opened_at], ['更新时间', t.updated_at]].forEach(function (row) {
      if (row[1] === null) return;
      meta.appendChild(el('dt', { text: row[0] }));
      meta.appendChild(el('dd', { text: row[1], id: row[0] === '状态' ? 'detail-status' : row[0] === '责任人' ? 'detail-owner' : null }));
    });
    $('detail-status').setAttribute('data-status', t.status);
    $('detail-summary').textContent = t.summary_zh;
    var ev = clear($('evidence'));
    DEPARTMENTS.forEach(function (dep) {
      var items = t.evidence.filter(function (e) { return e.source.split('.')[0] === dep[0]; });
      var box = el('div', { className: 'dept' + (items.length ? '' : ' empty'), 'data-source': dep[0] }, el('h4', { text: dep[1] }));
      if (!items.length) box.appendChild(el('p', { text: '无相关记录' }));
      items.forEach(function (e) {
        box.appendChild(el('p', {}, el('span', { className: 'record', text: e.record }), el('br'), document.createTextNode(e.detail)));
      });
      ev.appendChild(box);
    });
    $('assign-owner').value = t.owner || '';
    $('dismiss-form').hidden = !t.can_dismiss;
    $('reopen-form').hidden = !t.can_reopen;
    var hist = clear($('history'));
    d.history.forEach(function (h) {
      // An assignment leaves the status as it was: its reason says whom.
      var moved = h.from_status === h.to_status ? '' : (STATUS_ZH[h.from_status] || '—') + ' → ' + (STATUS_ZH[h.to_status] || h.to_status) + '  ';
      hist.appendChild(el('li', { text: h.at + '  ' + moved + h.actor + '：' + h.reason }));
    });
  }

  function showDetail(id) {
    showOnly('detail-view');
    return getJson('/api/v1/tickets/' + encodeURIComponent(id) + '?' + townshipQuery('')).then(function (d) {
      renderDetail(d);
      setState('detail');
    }, function (e) {
      if (e.status === 404) {
        showOnly('list-view');
        say('没有这个工单，或它不属于本乡镇。', true, 'not_found');
        setState('not-found');
        return;
      }
      throw e;
    });
  }

  var DONE = { dismiss: '工单已驳回。', reopen: '工单已重新打开。', assign: '责任人已更新。' };

  function change(action, body) {
    if (!currentTicket) return Promise.reject(new ApiFail(0, 'no_ticket', '没有打开的工单'));
    var id = currentTicket.ticket_id;
    setState('loading');
    return api('/api/v1/tickets/' + encodeURIComponent(id) + '/' + action + '?' + townshipQuery(''), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(function () {
      return showDetail(id);
    }).then(function () {
      say(DONE[action], false);
      document.body.setAttribute('data-action', action + ':ok');
    });
  }

  // ---- download ----------------------------------------------------------------------

  function download(format) {
    var status = $('download-status');
    status.setAttribute('data-state', 'busy');
    status.textContent = '正在生成…';
    return api('/api/v1/tickets.' + format + '?status=open' + townshipQuery('&') + ownerQuery()).then(function (res) {
      var disposition = res.headers.get('Content-Disposition') || '';
      var m = /filename\*=UTF-8''([^;]+)/.exec(disposition);
      var name = m ? decodeURIComponent(m[1]) : '问题清单.' + format;
      return res.blob().then(function (blob) {
        return blob.slice(0, 4).arrayBuffer().then(function (head) {
          var b = new Uint8Array(head);
          var magic = format === 'xlsx' ? String.fromCharCode(b[0], b[1]) : (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 'BOM' : 'none');
          var url = URL.createObjectURL(blob);
          var a = el('a', { href: url, download: name });
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
          status.setAttribute('data-state', 'done');
          status.setAttribute('data-bytes', String(blob.size));
          status.setAttribute('data-magic', magic);
          status.setAttribute('data-name', name);
          status.textContent = '已下载 ' + name + '（' + Math.ceil(blob.size / 1024) + ' KB）';
          document.body.setAttribute('data-action', 'download:ok');
        });
      });
    });
  }

  // ---- start -------------------------------------------------------------------------

  function fail(e) {
    if (e && e.status === 401) return;
    say((e && e.message) || '出错了，请稍后重试。', true, (e && e.code) || 'error');
    setState('error');
  }

  function route() {
    say('', false);
    setState('loading');
    var id = hashParams().get('ticket');
    if (!id && hashParams().get('view') === 'readiness') return showReadiness().catch(fail);
    return (id ? showDetail(id) : showList()).catch(fail);
  }

  function signedIn() {
    setState('loading');
    return getJson('/api/v1/me').then(function (who) {
      me = who;
      $('who').hidden = false;
      $('who-name').textContent = (who.is_admin ? '全市管理员' : who.township_name + '（' + who.township + '）') + ' · ' + who.name;
      if (who.is_admin) {
        $('township-picker').hidden = false;
        var sel = $('township-select');
        who.townships.forEach(function (t) { sel.appendChild(el('option', { value: t.township, text: t.township_name })); });
        sel.value = hashParams().get('township') || '';
      }
      return route();
    }).catch(fail);
  }

  function boot() {
    $('sign-in-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
      $('token-input').value = '';
      say('', false);
      signedIn();
    });
    $('sign-out').addEventListener('click', function () { sessionStorage.removeItem(TOKEN_KEY); showSignIn(); });
    $('back').addEventListener('click', function (ev) { ev.preventDefault(); var t = hashParams().get('township'); location.hash = t ? 'township=' + t : ''; });
    $('dismiss-form').addEventListener('submit', function (ev) { ev.preventDefault(); change('dismiss', { reason: $('dismiss-reason').value.trim() }).catch(fail); });
    $('reopen-form').addEventListener('submit', function (ev) { ev.preventDefault(); change('reopen', { reason: $('reopen-reason').value.trim() }).catch(fail); });
    $('assign-form').addEventListener('submit', function (ev) { ev.preventDefault(); change('assign', { owner: $('assign-owner').value.trim() || null }).catch(fail); });
    $('owner-filter').addEventListener('change', function (ev) { ownerFilter = ev.target.value.trim(); route(); });
    $('open-readiness').addEventListener('click', function () { location.hash = readinessLink(hashParams().get('township') || ''); });
    $('readiness-back').addEventListener('click', function (ev) { ev.preventDefault(); var t = hashParams().get('township'); location.hash = t ? 'township=' + t : ''; });
    $('download-xlsx').addEventListener('click', function () { download('xlsx').catch(fail); });
    $('download-csv').addEventListener('click', function () { download('csv').catch(fail); });
    $('township-select').addEventListener('change', function (ev) { location.hash = ev.target.value ? 'township=' + ev.target.value : ''; });
    window.addEventListener('hashchange', function () { if (!refuseTokenInAddress() && me) route(); });
    if (refuseTokenInAddress()) return;
    if (!sessionStorage.getItem(TOKEN_KEY)) { showSignIn(); return; }
    signedIn();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot); else boot();
})();
