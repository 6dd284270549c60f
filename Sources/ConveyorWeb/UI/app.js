// Conveyor web UI: repositories, builds, jobs and live logs.
// Plain ES2020, no build step, no dependencies. Served as-is by the web role at /app.js.
//
// Routes (location.hash):
//   #/                 repositories with the state of their latest build
//   #/repos/<slug>     builds of one repository
//   #/repos/<slug>/settings  a repository's settings and env vars (needs the API token)
//   #/builds/<id>      a build, its jobs grouped by stage
//   #/jobs/<id>        a job and its live log
//
// Hooks for tests: #job-state and #build-state carry data-state; log lines are #log .line.
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'conveyor.token';
  const FINAL = new Set(['passed', 'failed', 'errored', 'canceled']);
  const app = document.getElementById('app');

  // ---------------------------------------------------------------- DOM helpers

  /** h('a', {class: 'x', href: '#/', onclick: fn, dataset: {k: 'v'}}, child, …) */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of [children].flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  function debounce(fn, ms) {
    let timer = null;
    const wrapped = (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => { timer = null; fn(...args); }, ms);
    };
    wrapped.cancel = () => clearTimeout(timer);
    return wrapped;
  }

  // ---------------------------------------------------------------- formatting

  const parseTime = (iso) => (iso ? Date.parse(iso) : NaN);

  function fmtDuration(ms) {
    if (!Number.isFinite(ms) || ms < 0) return '—';
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s} sec`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} sec`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function fmtAgo(iso) {
    const t = parseTime(iso);
    if (!Number.isFinite(t)) return '—';
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 10) return 'just now';
    if (s < 60) return `${s} sec ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} days ago`;
  }

  function ago(iso) {
    return h('time', {datetime: iso || '', title: iso ? new Date(iso).toLocaleString() : '', dataset: {ago: iso || ''}},
      fmtAgo(iso));
  }

  /** A duration that keeps ticking while `finished` is null (see tick()). */
  function duration(started, finished) {
    const el = h('span', {class: 'duration'});
    if (started) el.dataset.started = started;
    if (finished) el.dataset.finished = finished;
    el.textContent = started ? fmtDuration((finished ? parseTime(finished) : Date.now()) - parseTime(started)) : '—';
    return el;
  }

  function tick() {
    for (const el of document.querySelectorAll('.duration[data-started]:not([data-finished])')) {
      el.textContent = fmtDuration(Date.now() - parseTime(el.dataset.started));
    }
    for (const el of document.querySelectorAll('time[data-ago]')) el.textContent = fmtAgo(el.dataset.ago);
  }
  setInterval(tick, 1000);

  const shortSha = (sha) => (sha ? String(sha).slice(0, 7) : '');

  function badge(state, attrs) {
    const s = state || 'unknown';
    return h('span', Object.assign({class: `badge state-${s}`, dataset: {state: s}, text: s}, attrs || {}));
  }

  const firstLine = (text) => String(text || '').split('\n')[0];

  // A job's language / version / os / env in a few words.
  const VERSION_KEYS = ['rvm', 'ruby', 'node_js', 'python', 'go', 'jdk', 'php', 'perl', 'rust', 'scala', 'elixir',
    'otp_release', 'dart', 'julia', 'crystal', 'ghc', 'r', 'd', 'dotnet', 'mono', 'swift', 'xcode_sdk', 'osx_image',
    'haxe', 'nix', 'smalltalk'];

  function envList(env) {
    if (!env) return [];
    if (Array.isArray(env)) return env.map(String);
    if (typeof env === 'string') return [env];
    if (typeof env === 'object') return [].concat(envList(env.global), envList(env.jobs), envList(env.matrix));
    return [];
  }

  function configSummary(config) {
    const c = config || {};
    const parts = [];
    if (c.language) parts.push(c.language);
    for (const key of VERSION_KEYS) {
      const v = c[key];
      if (v !== undefined && v !== null && (typeof v === 'string' || typeof v === 'number')) parts.push(`${key}: ${v}`);
    }
    if (c.os) parts.push(c.os);
    if (c.dist) parts.push(c.dist);
    if (c.arch) parts.push(c.arch);
    return parts.join(' · ');
  }

  // ---------------------------------------------------------------- API

  const getToken = () => localStorage.getItem(TOKEN_KEY) || '';
  const authHeaders = () => (getToken() ? {Authorization: `Bearer ${getToken()}`} : {});
  // EventSource can't set headers: reads take the token as ?access_token= (never writes).
  const withToken = (url) => (getToken() ? `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(getToken())}` : url);

  async function api(path, options) {
    const opts = options || {};
    const headers = {Accept: 'application/json'};
    // Every call carries the token when one is saved: writes need it, and reads of private
    // repositories see nothing without it. A server in insecure_no_auth mode needs none.
    if (getToken()) headers.Authorization = `Bearer ${getToken()}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(API + path, {method: opts.method || 'GET', headers, cache: 'no-store',
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body)});
    } catch (e) {
      throw new Error(`Cannot reach the server: ${e.message}`);
    }
    const text = await response.text();
    let body = null;
    if (opts.text) body = text;
    else {
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        const err = JSON.parse(text);
        if (err && err.error) message = `${err.error.message || err.error} (${response.status})`;
      } catch (e) { /* not JSON */ }
      if (response.status === 401 && opts.auth) {
        openSettings();
        if (!getToken()) message += ' — enter the API token under "API token".';
      }
      throw new Error(message);
    }
    return body;
  }

  // ---------------------------------------------------------------- flash messages

  const flashEl = document.getElementById('flash');
  let flashTimer = null;

  function flash(message, kind) {
    clearTimeout(flashTimer);
    clear(flashEl);
    flashEl.className = `flash ${kind || 'info'}`;
    append(flashEl, [h('span', {text: message}),
      h('button', {type: 'button', class: 'link close', title: 'Dismiss', text: '×', onclick: hideFlash})]);
    flashEl.hidden = false;
    if (kind !== 'error') flashTimer = setTimeout(hideFlash, 4000);
  }

  function hideFlash() { flashEl.hidden = true; }

  // ---------------------------------------------------------------- settings (token)

  const settings = document.getElementById('settings');
  const settingsToggle = document.getElementById('settings-toggle');
  const tokenInput = document.getElementById('token-input');
  const tokenStatus = document.getElementById('token-status');

  function refreshTokenUI() {
    const has = getToken() !== '';
    settingsToggle.textContent = has ? 'API token ✓' : 'API token';
    tokenStatus.textContent = has ? 'A token is saved in this browser.' : 'No token saved: Cancel and Restart, and private repositories, need one.';
  }

  function openSettings() {
    settings.hidden = false;
    settingsToggle.setAttribute('aria-expanded', 'true');
    tokenInput.focus();
  }

  settingsToggle.addEventListener('click', () => {
    if (settings.hidden) openSettings();
    else { settings.hidden = true; settingsToggle.setAttribute('aria-expanded', 'false'); }
  });
  settings.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = tokenInput.value.trim();
    if (value) localStorage.setItem(TOKEN_KEY, value);
    tokenInput.value = '';
    refreshTokenUI();
    settings.hidden = true;
    settingsToggle.setAttribute('aria-expanded', 'false');
    if (value) flash('API token saved.', 'ok');
  });
  document.getElementById('token-clear').addEventListener('click', () => {
    localStorage.removeItem(TOKEN_KEY);
    refreshTokenUI();
    flash('API token forgotten.', 'ok');
  });
  refreshTokenUI();

  // ---------------------------------------------------------------- live events (fan-out)

  const liveIndicator = document.getElementById('live-indicator');
  let liveSources = 0;

  function setLive(delta) {
    liveSources = Math.max(0, liveSources + delta);
    liveIndicator.hidden = liveSources === 0;
  }

  // Event names of cv:events as the web role forwards them (`event: <type>`). EventSource only
  // dispatches named events to listeners registered for that exact name, hence the list.
  const STATES = ['created', 'queued', 'received', 'started', 'passed', 'failed', 'errored', 'canceled',
    'finished', 'reset', 'restarted', 'updated', 'changed'];
  const EVENT_TYPES = [].concat(STATES.map((s) => `job:${s}`), STATES.map((s) => `build:${s}`),
    ['repo:created', 'repo:updated', 'message']);

  /** Opens the fan-out stream for the current page; `onEvent(type, data)` for job and build events. */
  function subscribeEvents(page, onEvent) {
    if (!('EventSource' in window)) return;
    const source = new EventSource(withToken(`${API}/events/stream`));
    let open = false;
    const handler = (ev) => {
      let data = {};
      try { data = JSON.parse(ev.data); } catch (e) { /* keep-alive or non-JSON */ }
      if (page.alive) onEvent(ev.type, data || {});
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, handler);
    source.onopen = () => { if (!open) { open = true; setLive(1); } };
    source.onerror = () => { if (open) { open = false; setLive(-1); } };
    page.onDispose(() => { source.close(); if (open) setLive(-1); });
  }

  // ---------------------------------------------------------------- router

  class Page {
    constructor() { this.alive = true; this.disposers = []; }
    onDispose(fn) { this.disposers.push(fn); }
    dispose() {
      this.alive = false;
      for (const fn of this.disposers) { try { fn(); } catch (e) { console.error(e); } }
    }
  }

  let page = null;

  const routes = [
    [/^#?\/?$/, () => showRepos()],
    [/^#\/repos\/(.+)\/settings$/, (m) => showRepoSettings(decodeURIComponent(m[1]))],
    [/^#\/repos\/(.+)$/, (m) => showRepo(decodeURIComponent(m[1]))],
    [/^#\/builds\/(\d+)$/, (m) => showBuild(m[1])],
    [/^#\/jobs\/(\d+)$/, (m) => showJob(m[1])],
  ];

  function route() {
    if (page) page.dispose();
    page = new Page();
    hideFlash();
    window.scrollTo(0, 0);
    const hash = location.hash || '#/';
    for (const [pattern, view] of routes) {
      const m = hash.match(pattern);
      if (m) {
        view(m).catch((e) => renderError(e));
        return;
      }
    }
    document.title = 'Not found · Conveyor';
    render(h('div', {class: 'empty'}, h('h1', {text: 'Not found'}), h('p', {}, 'No page here. ', h('a', {href: '#/', text: 'Repositories'}))));
  }

  function render(...children) { clear(app); append(app, children); }

  function renderError(e) {
    console.error(e);
    render(h('div', {class: 'empty'}, h('h1', {text: 'Something went wrong'}), h('p', {class: 'error-text', text: e.message})));
  }

  window.addEventListener('hashchange', route);

  // ---------------------------------------------------------------- #/ repositories

  async function showRepos() {
    const p = page;
    document.title = 'Repositories · Conveyor';
    const list = h('div', {class: 'card'});
    render(h('div', {class: 'page-head'}, h('h1', {text: 'Repositories'})), list);

    const load = async () => {
      const data = await api('/repos');
      if (!p.alive) return;
      clear(list);
      const repos = (data && data.repos) || [];
      if (repos.length === 0) {
        append(list, h('p', {class: 'empty-inline'}, 'No repositories yet. Point a GitHub webhook at ',
          h('code', {text: '/webhooks/github'}), ' or run ', h('code', {text: 'conveyor submit REPO_URL'}), '.'));
        return;
      }
      repos.sort((a, b) => String(a.slug).localeCompare(String(b.slug)));
      append(list, h('table', {class: 'list'},
        h('thead', {}, h('tr', {}, ['Repository', 'Latest build', 'Branch', 'Commit', 'Duration', 'Finished']
          .map((t) => h('th', {text: t})))),
        h('tbody', {}, repos.map(repoRow))));
    };
    const refresh = debounce(() => load().catch((e) => flash(e.message, 'error')), 400);
    subscribeEvents(p, (type) => { if (type.startsWith('build:') || type.startsWith('job:') || type.startsWith('repo:')) refresh(); });
    p.onDispose(refresh.cancel);
    await load();
  }

  function repoRow(repo) {
    const b = repo.last_build;
    const state = b ? b.state : 'none';
    return h('tr', {class: `stripe-${state}`, dataset: {repo: repo.slug}},
      h('td', {class: 'repo-slug'}, h('a', {href: `#/repos/${encodeURIComponent(repo.slug)}`, text: repo.slug})),
      h('td', {}, b ? h('a', {href: `#/builds/${b.id}`, class: 'build-link'}, badge(b.state), ` #${b.number}`)
        : h('span', {class: 'muted', text: 'no builds'})),
      h('td', {class: 'branch', text: b ? b.branch || '' : ''}),
      h('td', {class: 'sha', title: b ? b.sha : '', text: b ? shortSha(b.sha) : ''}),
      h('td', {}, b ? duration(b.started_at, b.finished_at) : ''),
      h('td', {}, b ? (b.finished_at ? ago(b.finished_at) : h('span', {class: 'muted', text: b.started_at ? 'running' : 'waiting'})) : ''));
  }

  // ---------------------------------------------------------------- #/repos/<slug> builds of a repository

  async function showRepo(slug) {
    const p = page;
    document.title = `${slug} · Conveyor`;
    const list = h('div', {class: 'card'});
    render(h('div', {class: 'crumbs'}, h('a', {href: '#/', text: 'Repositories'}), ' / ', slug),
      h('div', {class: 'page-head'}, h('h1', {text: slug}),
        h('a', {href: `#/repos/${encodeURIComponent(slug)}/settings`, class: 'settings-link', text: 'Settings'})), list);

    const load = async () => {
      const data = await api(`/builds?repo=${encodeURIComponent(slug)}&limit=50`);
      if (!p.alive) return;
      clear(list);
      const builds = (data && data.builds) || [];
      if (builds.length === 0) {
        append(list, h('p', {class: 'empty-inline', text: 'No builds yet.'}));
        return;
      }
      append(list, h('table', {class: 'list'},
        h('thead', {}, h('tr', {}, ['Build', 'Branch', 'Commit', 'Message', 'Event', 'Duration', 'Created']
          .map((t) => h('th', {text: t})))),
        h('tbody', {}, builds.map((b) => h('tr', {class: `stripe-${b.state}`},
          h('td', {}, h('a', {href: `#/builds/${b.id}`, class: 'build-link'}, badge(b.state), ` #${b.number}`)),
          h('td', {class: 'branch', text: b.branch || ''}),
          h('td', {class: 'sha', title: b.sha || '', text: shortSha(b.sha)}),
          h('td', {class: 'message', title: b.commit_message || '', text: firstLine(b.commit_message)}),
          h('td', {class: 'muted', text: b.event_type || ''}),
          h('td', {}, duration(b.started_at, b.finished_at)),
          h('td', {}, ago(b.created_at)))))));
    };
    const refresh = debounce(() => load().catch((e) => flash(e.message, 'error')), 400);
    subscribeEvents(p, (type) => { if (type.startsWith('build:') || type.startsWith('job:')) refresh(); });
    p.onDispose(refresh.cancel);
    await load();
  }

  // ---------------------------------------------------------------- #/repos/<slug>/settings

  // Settings and env vars of a repository. Secret values are never shown (the API never returns them);
  // secrets fields are write-only: left blank, they stay as they are.
  const SETTING_FIELDS = [
    ['build_pushes', 'Build pushes', 'bool'],
    ['build_pull_requests', 'Build pull requests', 'bool'],
    ['auto_cancel_pushes', 'Auto-cancel pushes', 'bool'],
    ['auto_cancel_pull_requests', 'Auto-cancel pull requests', 'bool'],
    ['auto_cancel_running_jobs', 'Auto-cancel running jobs too', 'bool'],
    ['private', 'Private', 'bool'],
    ['max_concurrent_jobs', 'Max concurrent jobs', 'int'],
    ['hard_timeout_seconds', 'Hard timeout (s)', 'int'],
    ['no_output_timeout_seconds', 'No-output timeout (s)', 'int'],
    ['max_log_bytes', 'Max log size (bytes)', 'int'],
    ['webhooks', 'Notification webhooks (one URL a line)', 'list'],
    ['webhooks_on_start', 'Webhooks when a build starts', 'bool'],
    ['webhook_secret', 'GitHub webhook secret', 'secret'],
    ['notification_secret', 'Notification signing secret', 'secret'],
  ];

  async function showRepoSettings(slug) {
    const p = page;
    const path = `/repos/${slug}`;
    document.title = `Settings · ${slug} · Conveyor`;
    const form = h('form', {class: 'card settings-form', id: 'repo-settings'});
    const envCard = h('div', {class: 'card', id: 'env-vars'});
    render(h('div', {class: 'crumbs'}, h('a', {href: '#/', text: 'Repositories'}), ' / ',
      h('a', {href: `#/repos/${encodeURIComponent(slug)}`, text: slug}), ' / settings'),
      h('div', {class: 'page-head'}, h('h1', {text: `${slug} settings`})), form, h('h2', {text: 'Environment variables'}), envCard);

    const inputs = {};
    const fillSettings = (s) => {
      clear(form);
      for (const [key, label, kind] of SETTING_FIELDS) {
        let input;
        if (kind === 'bool') input = h('input', {type: 'checkbox', name: key, checked: !!s[key]});
        else if (kind === 'int') input = h('input', {type: 'number', name: key, min: 0, value: s[key] ?? '', placeholder: 'default'});
        else if (kind === 'list') input = h('textarea', {name: key, rows: 2, text: (s[key] || []).join('\n')});
        else input = h('input', {type: 'password', name: key, autocomplete: 'off',
          placeholder: s[key === 'webhook_secret' ? 'webhook_secret_set' : 'notification_secret_set'] ? 'set (blank: keep)' : 'not set'});
        inputs[key] = [input, kind];
        append(form, h('label', {class: 'setting'}, h('span', {text: label}), input));
      }
      append(form, h('div', {class: 'actions'}, h('button', {type: 'submit', text: 'Save settings'})));
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = {};
      for (const [key, [input, kind]] of Object.entries(inputs)) {
        if (kind === 'bool') body[key] = input.checked;
        else if (kind === 'int') body[key] = input.value === '' ? null : Number(input.value);
        else if (kind === 'list') body[key] = input.value.split('\n').map((x) => x.trim()).filter((x) => x);
        else if (input.value !== '') body[key] = input.value;
      }
      try {
        fillSettings(await api(`${path}/settings`, {method: 'PATCH', auth: true, body}));
        flash('Settings saved: the next build uses them.', 'ok');
      } catch (e) { flash(`Saving failed: ${e.message}`, 'error'); }
    });

    const loadEnv = async () => {
      const data = await api(`${path}/env_vars`, {auth: true});
      if (!p.alive) return;
      clear(envCard);
      const name = h('input', {name: 'name', placeholder: 'NAME', required: true, pattern: '[A-Za-z_][A-Za-z0-9_]*'});
      const value = h('input', {name: 'value', type: 'password', placeholder: 'value', autocomplete: 'off'});
      const pub = h('input', {type: 'checkbox', name: 'public'});
      const branch = h('input', {name: 'branch', placeholder: 'all branches'});
      const add = h('form', {class: 'env-add'}, name, value, h('label', {}, pub, ' public'), branch, h('button', {type: 'submit', text: 'Add'}));
      add.addEventListener('submit', async (event) => {
        event.preventDefault();
        try {
          await api(`${path}/env_vars`, {method: 'POST', auth: true,
            body: {name: name.value.trim(), value: value.value, public: pub.checked, branch: branch.value.trim() || null}});
          flash(`${name.value.trim()} saved.`, 'ok');
          await loadEnv();
        } catch (e) { flash(`Adding failed: ${e.message}`, 'error'); }
      });
      const vars = (data && data.env_vars) || [];
      append(envCard, vars.length === 0 ? h('p', {class: 'empty-inline', text: 'No variables.'}) :
        h('table', {class: 'list'},
          h('thead', {}, h('tr', {}, ['Name', 'Value', 'Branch', ''].map((t) => h('th', {text: t})))),
          h('tbody', {}, vars.map((v) => {
            const remove = h('button', {type: 'button', class: 'link', text: 'Delete'});
            remove.addEventListener('click', async () => {
              try { await api(`${path}/env_vars/${v.id}`, {method: 'DELETE', auth: true}); await loadEnv(); } catch (e) { flash(e.message, 'error'); }
            });
            return h('tr', {dataset: {env: v.name}}, h('td', {class: 'sha', text: v.name}),
              h('td', {text: v.public ? v.value : '[secure]', class: v.public ? '' : 'muted'}),
              h('td', {text: v.branch || 'all'}), h('td', {}, remove));
          }))), add);
    };
    fillSettings(await api(`${path}/settings`, {auth: true}));
    await loadEnv();
  }

  // ---------------------------------------------------------------- cancel / restart

  function actions(kind, id, state, onDone) {
    const box = h('div', {class: 'actions'});
    const make = (action, label, cls) => {
      const button = h('button', {type: 'button', class: cls, text: label, dataset: {action}});
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          await api(`/${kind}s/${id}/${action}`, {method: 'POST', auth: true});
          flash(`${label} requested for ${kind} ${id}.`, 'ok');
          onDone(action);
        } catch (e) {
          flash(`${label} failed: ${e.message}`, 'error');
        } finally {
          button.disabled = false;
        }
      });
      return button;
    };
    if (FINAL.has(state)) box.append(make('restart', 'Restart', 'secondary'));
    else box.append(make('cancel', 'Cancel', 'danger'));
    return box;
  }

  // ---------------------------------------------------------------- #/builds/<id>

  async function showBuild(id) {
    const p = page;
    const head = h('div', {});
    const stagesEl = h('div', {class: 'stages'});
    render(head, stagesEl);

    const load = async () => {
      const data = await api(`/builds/${id}`);
      if (!p.alive) return;
      const build = data.build;
      const jobs = data.jobs || [];
      document.title = `${stateIcon(build.state)} ${build.repo} #${build.number} · Conveyor`;
      clear(head);
      append(head, buildHeader(build, () => refresh()));
      clear(stagesEl);
      append(stagesEl, stageSections(build, jobs));
    };
    const refresh = debounce(() => load().catch((e) => flash(e.message, 'error')), 300);
    subscribeEvents(p, (type, data) => {
      if (String(data.build) === String(id) || (type.startsWith('build:') && String(data.id) === String(id))) refresh();
    });
    p.onDispose(refresh.cancel);
    await load();
  }

  const stateIcon = (state) => ({passed: '✓', failed: '✗', errored: '!', canceled: '⊘', started: '●'}[state] || '○');

  function buildHeader(build, refresh) {
    const lines = String(build.commit_message || '').split('\n');
    const rest = lines.slice(1).join('\n').trim();
    return [
      h('div', {class: 'crumbs'}, h('a', {href: '#/', text: 'Repositories'}), ' / ',
        h('a', {href: `#/repos/${encodeURIComponent(build.repo)}`, text: build.repo}), ' / ', `build #${build.number}`),
      h('section', {class: `card summary stripe-${build.state}`},
        h('div', {class: 'summary-main'},
          h('div', {class: 'summary-title'},
            badge(build.state, {id: 'build-state', class: `badge big state-${build.state}`}),
            h('h1', {}, h('a', {href: `#/repos/${encodeURIComponent(build.repo)}`, text: build.repo}), ` #${build.number}`)),
          h('p', {class: 'commit-message', text: lines[0] || '(no commit message)'}),
          rest ? h('pre', {class: 'commit-rest', text: rest}) : null,
          h('dl', {class: 'facts'},
            fact('Branch', h('span', {class: 'branch', text: build.branch || '—'})),
            fact('Commit', h('span', {class: 'sha', title: build.sha || '', text: shortSha(build.sha) || '—'})),
            fact('Event', build.event_type || '—'),
            fact('Duration', duration(build.started_at, build.finished_at)),
            fact(build.finished_at ? 'Finished' : 'Created', ago(build.finished_at || build.created_at)),
            build.fast_finish ? fact('Fast finish', 'on') : null)),
        actions('build', build.id, build.state, refresh)),
    ];
  }

  function fact(label, value) {
    return h('div', {class: 'fact'}, h('dt', {text: label}), h('dd', {}, value));
  }

  function jobNumberKey(number) {
    const parts = String(number || '').split('.');
    return Number(parts[parts.length - 1]) || 0;
  }

  function stageSections(build, jobs) {
    const order = (Array.isArray(build.stages) ? build.stages : []).map((st) => (st && typeof st === 'object' ? st.name : st));
    const groups = new Map();
    for (const job of jobs) {
      const name = job.stage || '';
      if (!groups.has(name)) groups.set(name, {name, index: Number.isFinite(job.stage_index) ? job.stage_index : 0, jobs: []});
      groups.get(name).jobs.push(job);
    }
    const rank = (g) => {
      const i = order.indexOf(g.name);
      return i >= 0 ? i : order.length + g.index;
    };
    const sorted = Array.from(groups.values()).sort((a, b) => rank(a) - rank(b) || a.index - b.index);
    if (sorted.length === 0) return h('p', {class: 'card empty-inline', text: 'This build has no jobs.'});
    return sorted.map((g) => {
      g.jobs.sort((a, b) => jobNumberKey(a.number) - jobNumberKey(b.number));
      return h('section', {class: 'card stage', dataset: {stage: g.name}},
        h('h2', {class: 'stage-name'}, g.name ? `Stage: ${g.name}` : 'Jobs', ' ', badge(stageState(g.jobs))),
        h('div', {class: 'jobs'}, g.jobs.map(jobRow)));
    });
  }

  function stageState(jobs) {
    const states = jobs.map((j) => j.state);
    if (states.some((s) => !FINAL.has(s))) return states.some((s) => s === 'started' || s === 'received') ? 'started' : 'created';
    const required = jobs.filter((j) => !j.allow_failure).map((j) => j.state);
    for (const s of ['canceled', 'errored', 'failed']) if (required.includes(s)) return s;
    return 'passed';
  }

  function jobRow(job) {
    const config = job.config || {};
    const env = envList(config.env);
    return h('a', {class: `job-row stripe-${job.state}`, href: `#/jobs/${job.id}`, dataset: {job: job.id, state: job.state}},
      h('span', {class: 'job-state'}, badge(job.state)),
      h('span', {class: 'job-number', text: `#${job.number}`}),
      h('span', {class: 'job-summary'},
        config.name ? h('strong', {class: 'job-name', text: config.name}) : null,
        h('span', {class: 'muted', text: configSummary(config)})),
      h('span', {class: 'job-env', title: env.join(' '), text: env.join(' ')}),
      h('span', {class: 'job-flags'},
        job.allow_failure ? h('span', {class: 'tag allow-failure', title: 'This job may fail without failing the build', text: 'allowed to fail'}) : null,
        job.attempt > 1 ? h('span', {class: 'tag', title: 'attempt', text: `attempt ${job.attempt}`}) : null),
      h('span', {class: 'job-duration'}, duration(job.started_at, job.finished_at)));
  }

  // ---------------------------------------------------------------- #/jobs/<id>

  async function showJob(id) {
    const p = page;
    const head = h('div', {});
    const logLines = h('div', {class: 'log-lines'});
    const followButton = h('button', {type: 'button', class: 'follow', hidden: true, text: '↓ Follow log'});
    const status = h('span', {class: 'log-status muted'});
    const logPane = h('section', {class: 'log-pane'},
      h('div', {class: 'log-toolbar'},
        status,
        h('span', {class: 'spacer'}),
        h('button', {type: 'button', class: 'link', text: 'Expand all', onclick: () => setAllFolds(logLines, true)}),
        h('button', {type: 'button', class: 'link', text: 'Collapse all', onclick: () => setAllFolds(logLines, false)}),
        h('a', {href: `${API}/jobs/${id}/log`, target: '_blank', rel: 'noopener', text: 'Raw log'})),
      h('pre', {id: 'log', class: 'log'}, logLines),
      followButton);
    render(head, logPane);

    let current = null;
    let stream = null;
    let view = null;

    const loadJob = async () => {
      const data = await api(`/jobs/${id}`);
      if (!p.alive) return null;
      current = data.job;
      const build = data.build || {};
      document.title = `${stateIcon(current.state)} ${build.repo || ''} #${current.number} · Conveyor`;
      clear(head);
      append(head, jobHeader(current, build, (action) => (action === 'restart' ? restartView() : refreshJob())));
      return current;
    };
    const refreshJob = debounce(() => loadJob().catch((e) => flash(e.message, 'error')), 250);
    p.onDispose(refreshJob.cancel);

    // The log can be complete before the hub records the job's final state: keep watching the
    // job (fan-out events, and a slow poll as a safety net) until it is final.
    let watch = null;
    const stopWatch = () => { if (watch) { watch.dispose(); watch = null; } };
    p.onDispose(stopWatch);
    const watchUntilFinal = () => {
      if (watch || !p.alive) return;
      const w = new Page();
      watch = w;
      const check = async () => {
        const j = await loadJob().catch(() => null);
        if (j && FINAL.has(j.state) && watch === w) stopWatch();
      };
      const onEvent = debounce(check, 200);
      subscribeEvents(w, (type, data) => { if (String(data.job) === String(id)) onEvent(); });
      const timer = setInterval(check, 3000);
      w.onDispose(() => { clearInterval(timer); onEvent.cancel(); });
      check();
    };

    // Auto-scroll: follow while the window is at the bottom; stop as soon as the user scrolls up
    // (wheel, keys, or any scroll that leaves the place we scrolled to); resume at the bottom.
    let follow = false;
    let autoY = -1;  // where the last automatic scroll put the window
    const atBottom = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 24;
    const live = () => view && !view.finished && stream !== null;
    const showFollow = () => { followButton.hidden = follow || !live(); };
    const stopFollowing = () => { if (live() && follow) { follow = false; showFollow(); } };
    const onScroll = () => {
      if (atBottom()) follow = live();
      else if (autoY >= 0 && window.scrollY < autoY - 2) follow = false;
      showFollow();
    };
    const onWheel = (e) => { if (e.deltaY < 0) stopFollowing(); };
    const onKey = (e) => { if (['ArrowUp', 'PageUp', 'Home'].includes(e.key)) stopFollowing(); };
    window.addEventListener('scroll', onScroll, {passive: true});
    window.addEventListener('wheel', onWheel, {passive: true});
    window.addEventListener('keydown', onKey);
    p.onDispose(() => {
      window.removeEventListener('scroll', onScroll);
      window.removeEventListener('wheel', onWheel);
      window.removeEventListener('keydown', onKey);
    });
    const scrollToEnd = () => {
      window.scrollTo(0, document.documentElement.scrollHeight);
      autoY = window.scrollY;
    };
    followButton.addEventListener('click', () => {
      follow = true;
      scrollToEnd();
      showFollow();
    });
    const afterWrite = () => {
      // The user moved up since our last automatic scroll (the scroll event may not have fired yet).
      if (follow && autoY >= 0 && window.scrollY < autoY - 2) follow = false;
      if (follow) scrollToEnd();
      showFollow();
    };

    const startLog = (job) => {
      if (stream) stream.close();
      stream = null;
      stopWatch();
      clear(logLines);
      view = new LogView(logLines);
      if (FINAL.has(job.state)) {
        status.textContent = 'Loading log…';
        const v = view;
        loadStaticLog(v, id, status, () => p.alive && view === v).then(() => v.finish());
      } else {
        follow = true;
        autoY = -1;
        status.textContent = 'Live';
        stream = new LogStream(id, view, {
          attempt: job.attempt,
          onWrite: afterWrite,
          onState: (data) => {
            if (data.attempt && current && data.attempt > current.attempt) { loadJob().then((j) => j && startLog(j)); return; }
            const el = document.getElementById('job-state');
            if (el && data.state) {
              el.textContent = data.state;
              el.className = `badge big state-${data.state}`;
              el.dataset.state = data.state;
            }
            refreshJob();
          },
          onEnd: () => {
            status.textContent = 'Log complete';
            showFollow();
            loadJob().then((j) => { if (j && !FINAL.has(j.state)) watchUntilFinal(); }).catch(() => watchUntilFinal());
          },
          onFailure: () => {
            stream = null;
            status.textContent = 'Live log unavailable; showing the stored log';
            view = new LogView(logLines);
            const v = view;
            loadStaticLog(v, id, status, () => p.alive && view === v).then(() => { v.finish(); watchUntilFinal(); });
          },
        });
      }
    };
    const restartView = () => loadJob().then((j) => j && startLog(j)).catch((e) => flash(e.message, 'error'));
    p.onDispose(() => { if (stream) stream.close(); });

    const job = await loadJob();
    if (job) startLog(job);
  }

  /**
   * Reads a finished job's whole log from `/api/v1/jobs/<id>/log`. While the server says the log
   * is not complete yet (X-Log-Complete: false, its last parts still on their way), polls for the
   * rest with `?offset=` for up to half a minute.
   */
  async function loadStaticLog(view, id, status, alive) {
    const decoder = new TextDecoder();
    let offset = 0;
    for (let round = 0; round < 15; round++) {
      let response;
      try {
        response = await fetch(`${API}/jobs/${id}/log?offset=${offset}`, {cache: 'no-store', headers: authHeaders()});
      } catch (e) {
        status.textContent = `Log unavailable: ${e.message}`;
        return;
      }
      if (!alive()) return;
      if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try { message = JSON.parse(await response.text()).error || message; } catch (e) { /* not JSON */ }
        status.textContent = `Log unavailable: ${message}`;
        return;
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (!alive()) return;
      const complete = response.headers.get('X-Log-Complete') !== 'false';
      view.write(decoder.decode(bytes, {stream: !complete}));
      const length = Number(response.headers.get('X-Log-Length'));
      offset = Number.isFinite(length) && response.headers.has('X-Log-Length') ? length : offset + bytes.length;
      if (complete) {
        status.textContent = offset === 0 && view.lineNumber === 0 ? 'This log is empty.' : '';
        return;
      }
      status.textContent = 'Waiting for the end of the log…';
      await new Promise((resolve) => setTimeout(resolve, 2000));
      if (!alive()) return;
    }
    status.textContent = 'The end of this log has not arrived.';
  }

  function setAllFolds(root, open) {
    for (const fold of root.querySelectorAll('.fold')) {
      fold.classList.toggle('open', open);
      fold.dataset.user = '1';
    }
  }

  function jobHeader(job, build, refresh) {
    const config = job.config || {};
    const env = envList(config.env);
    return [
      h('div', {class: 'crumbs'}, h('a', {href: '#/', text: 'Repositories'}), ' / ',
        build.repo ? h('a', {href: `#/repos/${encodeURIComponent(build.repo)}`, text: build.repo}) : '', ' / ',
        h('a', {href: `#/builds/${job.build_id || build.id}`, text: `build #${build.number || ''}`}), ' / ', `job #${job.number}`),
      h('section', {class: `card summary stripe-${job.state}`},
        h('div', {class: 'summary-main'},
          h('div', {class: 'summary-title'},
            badge(job.state, {id: 'job-state', class: `badge big state-${job.state}`}),
            h('h1', {}, `Job #${job.number}`, config.name ? h('span', {class: 'job-name', text: ` ${config.name}`}) : null)),
          build.commit_message ? h('p', {class: 'commit-message', text: firstLine(build.commit_message)}) : null,
          h('dl', {class: 'facts'},
            fact('Attempt', String(job.attempt || 1)),
            fact('Duration', duration(job.started_at, job.finished_at)),
            fact('Finished', job.finished_at ? ago(job.finished_at) : '—'),
            fact('Reason', job.finished_reason || '—'),
            fact('Queue', job.queue || '—'),
            fact('Branch', h('span', {class: 'branch', text: build.branch || '—'})),
            fact('Commit', h('span', {class: 'sha', title: build.sha || '', text: shortSha(build.sha) || '—'})),
            job.allow_failure ? fact('Allow failure', h('span', {class: 'tag allow-failure', text: 'allowed to fail'})) : null),
          h('p', {class: 'config-summary muted'}, configSummary(config), env.length ? h('code', {class: 'env', text: env.join(' ')}) : null)),
        actions('job', job.id, job.state, refresh)),
    ];
  }

  // ---------------------------------------------------------------- live log stream

  /**
   * Reads `/api/v1/jobs/<id>/log/stream` (SSE): `part` events with {number, content, final},
   * `state` events, and `end` once the job is final and its log complete. Parts are written in
   * number order; a part that arrives after a later one was written makes the log re-render.
   */
  class LogStream {
    constructor(id, view, hooks) {
      this.id = id;
      this.view = view;
      this.hooks = hooks;
      this.parts = new Map();
      this.last = null;      // highest number written
      this.finalNumber = null;
      this.gapTimer = null;
      this.closed = false;
      this.received = 0;
      this.source = new EventSource(withToken(`${API}/jobs/${id}/log/stream`));
      this.source.addEventListener('part', (ev) => this.onPart(ev));
      this.source.addEventListener('state', (ev) => {
        let data = {};
        try { data = JSON.parse(ev.data); } catch (e) { /* ignore */ }
        this.hooks.onState(data || {});
      });
      this.source.addEventListener('end', () => this.onEnd());
      this.open = false;
      this.source.onopen = () => { if (!this.open) { this.open = true; setLive(1); } };
      this.source.onerror = () => {
        if (this.open) { this.open = false; setLive(-1); }
        // CLOSED means the browser gave up (e.g. 404); CONNECTING means it reconnects by itself
        // and resends Last-Event-ID.
        if (this.source.readyState === EventSource.CLOSED && !this.closed) {
          this.close();
          if (this.received === 0) this.hooks.onFailure();
        }
      };
    }

    onPart(ev) {
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      const n = Number(data.number);
      if (!Number.isFinite(n) || this.parts.has(n)) return;
      if (data.attempt && this.hooks.attempt && data.attempt !== this.hooks.attempt) return;
      this.received += 1;
      this.parts.set(n, String(data.content || ''));
      if (data.final) this.finalNumber = n;
      if (this.last !== null && n < this.last) this.rewrite();
      else this.drain(false);
    }

    /** Writes every part that directly follows the last written one; after a short wait, skips gaps. */
    drain(force) {
      clearTimeout(this.gapTimer);
      let wrote = false;
      for (;;) {
        let next = this.last === null ? Math.min(...this.parts.keys()) : this.last + 1;
        if (!this.parts.has(next)) {
          if (!force) break;
          const later = Array.from(this.parts.keys()).filter((k) => this.last === null || k > this.last);
          if (later.length === 0) break;
          next = Math.min(...later);
          force = false;
        }
        this.view.write(this.parts.get(next));
        this.last = next;
        wrote = true;
      }
      if (this.finalNumber !== null && this.last === this.finalNumber) this.view.finish();
      const waiting = Array.from(this.parts.keys()).some((k) => k > this.last);
      if (waiting) this.gapTimer = setTimeout(() => this.drain(true), 1500);
      if (wrote) this.hooks.onWrite();
    }

    rewrite() {
      this.view.reset();
      const numbers = Array.from(this.parts.keys()).sort((a, b) => a - b);
      for (const n of numbers) this.view.write(this.parts.get(n));
      this.last = numbers[numbers.length - 1];
      if (this.finalNumber !== null && this.last === this.finalNumber) this.view.finish();
      this.hooks.onWrite();
    }

    onEnd() {
      this.drain(true);
      this.view.finish();
      this.close();
      this.hooks.onWrite();
      this.hooks.onEnd();
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this.gapTimer);
      if (this.open) { this.open = false; setLive(-1); }
      this.source.close();
    }
  }

  // ---------------------------------------------------------------- log rendering

  const COLORS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];
  // Markers written by the build script; never shown. `\r\x1b[0K` makes a terminal erase them too.
  const MARKER = /conveyor_(fold|time):(start|end):([^\r\n]*?)\r\x1b\[0?K/g;
  const MARKER_HINT = /conveyor_(fold|time):/;
  // CSI (ESC [ … final), OSC (ESC ] … BEL/ST), other two-byte escapes.
  const ESCAPE = /\x1b\[([0-9;:?<=>]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;
  const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

  const newStyle = () => ({fg: null, bg: null, fgRGB: null, bgRGB: null, bold: false, italic: false, underline: false});

  function color256(n) {
    if (n < 8) return {name: COLORS[n]};
    if (n < 16) return {name: `bright-${COLORS[n - 8]}`};
    if (n < 232) {
      const i = n - 16;
      const level = (v) => (v === 0 ? 0 : 55 + v * 40);
      return {rgb: `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`};
    }
    const g = 8 + (n - 232) * 10;
    return {rgb: `rgb(${g},${g},${g})`};
  }

  /** Applies one SGR sequence's parameters to `style`. */
  function applySGR(style, paramText) {
    const params = paramText === '' ? [0] : paramText.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (p === 0) Object.assign(style, newStyle());
      else if (p === 1) style.bold = true;
      else if (p === 3) style.italic = true;
      else if (p === 4) style.underline = true;
      else if (p === 22) style.bold = false;
      else if (p === 23) style.italic = false;
      else if (p === 24) style.underline = false;
      else if (p >= 30 && p <= 37) { style.fg = COLORS[p - 30]; style.fgRGB = null; }
      else if (p >= 90 && p <= 97) { style.fg = `bright-${COLORS[p - 90]}`; style.fgRGB = null; }
      else if (p >= 40 && p <= 47) { style.bg = COLORS[p - 40]; style.bgRGB = null; }
      else if (p >= 100 && p <= 107) { style.bg = `bright-${COLORS[p - 100]}`; style.bgRGB = null; }
      else if (p === 39) { style.fg = null; style.fgRGB = null; }
      else if (p === 49) { style.bg = null; style.bgRGB = null; }
      else if (p === 38 || p === 48) {
        let c = null;
        if (params[i + 1] === 5) { c = color256(params[i + 2] || 0); i += 2; }
        else if (params[i + 1] === 2) { c = {rgb: `rgb(${params[i + 2] || 0},${params[i + 3] || 0},${params[i + 4] || 0})`}; i += 4; }
        if (c && p === 38) { style.fg = c.name || null; style.fgRGB = c.rgb || null; }
        if (c && p === 48) { style.bg = c.name || null; style.bgRGB = c.rgb || null; }
      }
    }
  }

  /** Renders `text` with ANSI SGR into `out` (or only updates `style` when `out` is null). */
  function renderAnsi(text, style, out) {
    let last = 0;
    ESCAPE.lastIndex = 0;
    const emit = (chunk) => {
      if (!out || chunk === '') return;
      const clean = chunk.replace(CONTROL, '');
      if (clean === '') return;
      const classes = [];
      if (style.fg) classes.push(`fg-${style.fg}`);
      if (style.bg) classes.push(`bg-${style.bg}`);
      if (style.bold) classes.push('b');
      if (style.italic) classes.push('i');
      if (style.underline) classes.push('u');
      if (classes.length === 0 && !style.fgRGB && !style.bgRGB) { out.append(clean); return; }
      const span = document.createElement('span');
      if (classes.length) span.className = classes.join(' ');
      if (style.fgRGB) span.style.color = style.fgRGB;
      if (style.bgRGB) span.style.backgroundColor = style.bgRGB;
      span.textContent = clean;
      out.append(span);
    };
    for (let m = ESCAPE.exec(text); m !== null; m = ESCAPE.exec(text)) {
      emit(text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[2] === 'm' && !/[?<=>]/.test(m[1] || '')) applySGR(style, m[1] || '');
    }
    emit(text.slice(last));
  }

  const visibleText = (text) => text.replace(ESCAPE, '').replace(CONTROL, '');

  function fmtNanos(ns) {
    const s = Number(ns) / 1e9;
    if (!Number.isFinite(s) || s < 0) return '';
    if (s < 60) return `${s.toFixed(2)}s`;
    const m = Math.floor(s / 60);
    return `${m}m ${(s - m * 60).toFixed(2)}s`;
  }

  /**
   * Streaming log renderer. Text arrives in arbitrary chunks; complete lines are rendered once,
   * the unterminated last line is shown provisionally and replaced when more text arrives.
   * Colours carry across lines like in a terminal.
   */
  class LogView {
    constructor(root) {
      this.root = root;
      this.reset();
    }

    reset() {
      clear(this.root);
      this.stack = [{body: this.root, fold: null}];
      this.style = newStyle();
      this.pending = '';
      this.tail = null;
      this.lineNumber = 0;
      this.timers = new Map();     // timer id -> line element waiting for its duration
      this.pendingTimer = null;    // timer started, its command line not yet seen
      this.lastLine = null;        // the last complete line, where a timer may attach
      this.finished = false;
    }

    write(text) {
      if (!text) return;
      this.pending += text;
      const cut = this.pending.lastIndexOf('\n');
      this.removeTail();
      if (cut >= 0) {
        const complete = this.pending.slice(0, cut);
        this.pending = this.pending.slice(cut + 1);
        for (const line of complete.split('\n')) this.line(line);
      }
      this.showTail();
    }

    /** The log is complete: the last unterminated line becomes a real line; live folds close. */
    finish() {
      if (this.finished) return;
      this.removeTail();
      if (this.pending !== '') this.line(this.pending);
      this.pending = '';
      this.finished = true;
      for (const fold of this.root.querySelectorAll('.fold.streaming')) {
        fold.classList.remove('streaming');
        if (!fold.dataset.user) fold.classList.remove('open');
      }
    }

    get top() { return this.stack[this.stack.length - 1]; }

    line(raw) {
      const text = raw.replace(/\r+$/, '');
      const markers = Array.from(text.matchAll(MARKER));
      if (markers.length === 0) {
        this.emit(text);
        return;
      }
      let last = 0;
      markers.forEach((m, i) => {
        // Text before a marker on the same line is kept (the marker's \r does not erase it).
        this.emitIfVisible(text.slice(last, m.index));
        last = m.index + m[0].length;
        const after = text.slice(last, i + 1 < markers.length ? markers[i + 1].index : text.length);
        this.marker(m[1], m[2], m[3], after);
      });
      this.emitIfVisible(text.slice(last));
    }

    /** Emits a line when `text` shows something; otherwise only applies its colour codes. */
    emitIfVisible(text) {
      if (visibleText(text) !== '') this.emit(text);
      else renderAnsi(text, this.style, null);
    }

    marker(kind, edge, arg, after) {
      if (kind === 'fold' && edge === 'start') this.openFold(arg);
      else if (kind === 'fold' && edge === 'end') this.closeFold(arg);
      else if (kind === 'time' && edge === 'start') this.startTimer(arg, after);
      else if (kind === 'time' && edge === 'end') this.endTimer(arg);
    }

    /**
     * A timer belongs to a command line ("$ …"). Conveyor prints the command, then the start marker
     * at the head of the command's first output line; Travis-style scripts print the marker first
     * and the command after it. Attach to whichever is the command.
     */
    startTimer(id, after) {
      const isCommand = (text) => /^\s*\$ /.test(text);
      const prev = this.lastLine;
      if (!isCommand(visibleText(after)) && prev && isCommand(prev.querySelector('.content').textContent)) {
        this.timers.set(id, prev);
        this.pendingTimer = null;
      } else {
        this.pendingTimer = id;
      }
    }

    endTimer(arg) {
      const id = arg.split(':')[0];
      const fields = {};
      for (const pair of arg.slice(id.length + 1).split(',')) {
        const [k, v] = pair.split('=');
        if (k) fields[k.trim()] = v;
      }
      if (this.pendingTimer === id) this.pendingTimer = null;
      const el = this.timers.get(id);
      this.timers.delete(id);
      if (el && fields.duration !== undefined) {
        const dur = el.querySelector(':scope > .dur');
        dur.textContent = fmtNanos(fields.duration);
        dur.title = `${(Number(fields.duration) / 1e9).toFixed(3)} seconds`;
      }
    }

    openFold(name) {
      const header = h('div', {class: 'fold-header'});
      const body = h('div', {class: 'fold-body'});
      const fold = h('div', {class: 'fold open streaming', dataset: {name}}, header, body);
      header.addEventListener('click', () => {
        fold.classList.toggle('open');
        fold.dataset.user = '1';
      });
      fold.hidden = true;  // shown once it has a first line
      this.top.body.append(fold);
      this.stack.push({body, fold, header, headerPending: true});
    }

    closeFold(name) {
      let i = this.stack.length - 1;
      while (i > 0 && this.stack[i].fold.dataset.name !== name) i--;
      if (i === 0) return;  // no such open fold
      while (this.stack.length > i) {
        const entry = this.stack.pop();
        if (entry.headerPending) entry.fold.remove();  // empty fold: nothing to show
        else {
          entry.fold.classList.remove('streaming');
          if (!entry.fold.dataset.user) entry.fold.classList.remove('open');
          entry.fold.classList.toggle('empty', entry.body.childElementCount === 0);
        }
      }
    }

    makeLine(text, style) {
      this.lineNumber += 1;
      const el = h('div', {class: 'line', dataset: {n: this.lineNumber}});
      el.append(h('span', {class: 'ln', 'aria-hidden': 'true', dataset: {n: this.lineNumber}}));
      const content = h('span', {class: 'content'});
      // A line's last \r-segment wins (progress bars); earlier segments still set colours.
      const segments = text.split('\r');
      let shown = segments.length - 1;
      while (shown > 0 && visibleText(segments[shown]) === '') shown--;
      segments.forEach((seg, i) => renderAnsi(seg, style, i === shown ? content : null));
      el.append(content, h('span', {class: 'dur'}));
      return el;
    }

    emit(text) {
      const el = this.makeLine(text, this.style);
      const top = this.top;
      if (top.headerPending) {
        top.header.append(el);
        top.headerPending = false;
        top.fold.hidden = false;
      } else {
        top.body.append(el);
      }
      if (this.pendingTimer !== null) {
        this.timers.set(this.pendingTimer, el);
        this.pendingTimer = null;
      }
      this.lastLine = el;
    }

    showTail() {
      if (this.pending === '') return;
      const text = this.pending.replace(MARKER, '');
      if (MARKER_HINT.test(text) || visibleText(text) === '') return;  // a marker still arriving
      const saved = this.lineNumber;
      this.tail = this.makeLine(text, Object.assign({}, this.style));
      this.tail.classList.add('tail');
      this.lineNumber = saved;
      this.top.body.append(this.tail);
      if (this.top.fold) this.top.fold.hidden = false;
    }

    removeTail() {
      if (this.tail) this.tail.remove();
      this.tail = null;
    }
  }

  // ---------------------------------------------------------------- start

  route();
})();
