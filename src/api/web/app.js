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
//
// <body data-state> says where the page is (signed-out, loading, list, detail,
// not-found, error); it turns to loading while a request is out, so the browser test
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
    ['sign-in', 'list-view', 'detail-view'].forEach(function (v) { $(v).hidden = v !== id; });
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
          el('td', { className: 'nowrap', 'data-label': '村(居)', text: t.village || '—' }),
          el('td', { className: 'owner nowrap', 'data-label': '责任人', text: t.owner || '—' }),
          el('td', { className: 'nowrap', 'data-label': '发现日期', text: t.opened_at.slice(0, 10) })));
      });
      groups.appendChild(el('div', { className: 'group', 'data-kind': kind },
        el('h3', { text: list[0].kind_zh + '（' + list.length + '）' }),
        el('table', { className: 'tickets' },
          el('thead', {}, el('tr', {}, el('th', { text: '工单编号' }), el('th', { text: '对象' }), el('th', { text: '问题说明' }), el('th', { text: '村(居)' }), el('th', { text: '责任人' }), el('th', { text: '发现日期' }))),
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
