// The page controller: reads the state from the URL, keeps the controls in
// step with it, builds the current view and reloads it. Every selection goes
// through navigate(), which writes the URL first, so a link reproduces what
// is on screen and back/forward walk through it.

import { api, serverBase, token, setTokenPrompt, askForToken, forgetToken } from './api.js';
import { parseState, serializeState, sameState } from './state.js';
import { PRESETS, presetOf, describeRange, parseTime, fromLocalInput } from './time.js';
import { appOf, parseSelector, buildSelector } from './query.js';
import { compileMatcher } from './search.js';
import { Tooltip, escapeHTML } from './tooltip.js';
import { View } from './views.js';
import { ExploreView } from './explore.js';
import { Menu } from './menu.js';
import { AppPicker } from './apppicker.js';
import { SignIn } from './signin.js';

const $ = (id) => document.getElementById(id);
const LAST_APP = 'ember.app';
const THEME = 'ember.theme';
const ALIGN = 'ember.align';
const PALETTE = 'ember.palette';
const REFRESH_MS = 10000;
const WELCOME_POLL_MS = 5000;

const tooltip = new Tooltip($('tooltip'));
const menu = new Menu();
const signIn = new SignIn($('auth-dialog'));
let state = withPreferences(parseState(location.search), location.search);
let apps = null;
let view = null;
let gen = 0;
let loading = null; // AbortController of the load in flight
let search = compileMatcher(state.search, state.regex);
let refreshTimer = 0;
let welcomeTimer = 0;

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* storage may be disabled; the URL still carries everything */
  }
}

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

// Label alignment and the diff palette are preferences: a URL that does
// not say otherwise gets the last choice.
function withPreferences(st, search) {
  const q = new URLSearchParams(search || '');
  const out = { ...st };
  if (!q.has('align') && stored(ALIGN) === 'right') out.align = 'right';
  if (!q.has('palette') && stored(PALETTE) === 'cb') out.palette = 'cb';
  return out;
}

function setStatus(s) {
  document.body.dataset.status = s;
}

// ---- Theme ---------------------------------------------------------------

function theme() {
  const t = document.documentElement.dataset.theme;
  if (t === 'light' || t === 'dark') return t;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function toggleTheme() {
  const next = theme() === 'dark' ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  store(THEME, next);
  themeChanged();
}

function themeChanged() {
  $('theme').title = `Theme: ${theme()} (click to switch)`;
  if (view) {
    view.setTheme();
    view.show(state, search, theme());
  }
}

// ---- Navigation ----------------------------------------------------------

// Applies a change to the state. opts.replace keeps the history entry (for
// typing in the search box and sorting); everything else adds one.
function navigate(patch, opts = {}) {
  const next = { ...state, ...patch };
  if ('align' in patch) store(ALIGN, patch.align === 'right' ? 'right' : null);
  if ('palette' in patch) store(PALETTE, patch.palette === 'cb' ? 'cb' : null);
  menu.close(false);
  if (sameState(next, state)) return;
  state = next;
  const url = serializeState(state) || location.pathname;
  history[opts.replace ? 'replaceState' : 'pushState'](null, '', url);
  render();
}

window.addEventListener('popstate', () => {
  state = withPreferences(parseState(location.search), location.search);
  render();
});

// ---- Rendering -----------------------------------------------------------

function render() {
  if (apps && apps.length === 0 && !state.query) {
    showWelcome();
    return;
  }
  hideWelcome();
  if (state.query) store(LAST_APP, appOf(state.query));
  search = searchFor(state);
  if (!view || view.kind !== state.view) {
    if (view) view.destroy();
    const Kind = state.view === 'explore' ? ExploreView : View;
    view = new Kind(state.view, {
      selectors: $('selectors'),
      panels: $('panels'),
      tooltip,
      menu,
      navigate,
      banner,
    });
  }
  syncControls();
  view.show(state, search, theme());
  load();
  scheduleRefresh();
}

let lastSearchKey = null;
function searchFor(st) {
  const key = `${st.regex ? 'r' : 's'}:${st.search}`;
  if (key !== lastSearchKey) {
    lastSearchKey = key;
    search = compileMatcher(st.search, st.regex);
  }
  return search;
}

async function load() {
  if (!state.query) return;
  if (loading) loading.abort();
  const ctl = new AbortController();
  loading = ctl;
  const v = view;
  setStatus('loading');
  const status = await v.load(state, gen, ctl.signal);
  if (ctl.signal.aborted || v !== view) return;
  loading = null;
  // A profile that arrived after show() needs the view state applied.
  v.show(state, search, theme());
  syncZoomButton();
  setStatus(status);
  if (status === 'offline') retrySoon();
}

// While the server is unreachable, try again every 10 s on our own.
let retryTimer = 0;
function retrySoon() {
  if (retryTimer) return;
  retryTimer = setTimeout(() => {
    retryTimer = 0;
    if (document.body.dataset.status === 'offline') refresh();
  }, REFRESH_MS);
}

function refresh() {
  gen++;
  loadApps(true);
  if (view) load();
}

function scheduleRefresh() {
  clearInterval(refreshTimer);
  refreshTimer = 0;
  if (state.refresh) {
    refreshTimer = setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
  }
}

// The banner over the page: null hides it; an ApiError of kind 'network'
// says the server is unreachable, one of kind 'auth' that it needs a token
// the person has not given, a 403 that the token's role is too weak;
// anything else is shown as its message.
function banner(err) {
  const el = $('banner');
  if (!err) {
    el.hidden = true;
    return;
  }
  let action = ['Try again', refresh];
  if (err.kind === 'network') {
    el.innerHTML =
      `<span><strong>Cannot reach the Ember server</strong> at <code>${escapeHTML(serverBase())}</code>. ` +
      'Is <code>ember serve</code> running? The page shows the last data it received.</span>';
  } else if (err.kind === 'auth') {
    el.innerHTML =
      '<span><strong>This server requires a token</strong> to show profiles; its operator keeps them in the file given to ' +
      '<code>ember serve --auth-token-file</code>.</span>';
    action = ['Enter a token', signInAgain];
  } else {
    el.innerHTML = `<span>${escapeHTML(err.message || String(err))}</span>`;
    if (err.status === 403 && token.get()) action = ['Use another token', signOut];
  }
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = action[0];
  b.addEventListener('click', action[1]);
  el.append(b);
  el.hidden = false;
}

// ---- Token ---------------------------------------------------------------

function signInAgain() {
  askForToken();
  refresh();
}

// Forgets the token and starts the page over, so that nothing fetched with
// it stays on screen; the server then asks for a token again.
function signOut() {
  forgetToken();
  location.reload();
}

function syncTokenControl() {
  $('forget-token').hidden = !token.get();
}

// ---- Controls ------------------------------------------------------------

function syncControls() {
  for (const b of document.querySelectorAll('.views button')) {
    b.setAttribute('aria-pressed', String(b.dataset.view === state.view));
  }
  for (const b of document.querySelectorAll('[data-show]')) {
    b.setAttribute('aria-pressed', String(b.dataset.show === state.show));
  }
  syncApps();
  syncRange();
  $('auto-refresh').checked = state.refresh;
  const s = $('search');
  if (s.value !== state.search) s.value = state.search;
  $('regex').checked = state.regex;
  $('align').setAttribute('aria-pressed', String(state.align === 'right'));
  document.body.classList.toggle('palette-cb', state.palette === 'cb');
  const mn = $('max-nodes');
  if (![...mn.options].some((o) => o.value === String(state.maxNodes))) {
    mn.append(new Option(`${state.maxNodes.toLocaleString('en-US')} frames`, String(state.maxNodes)));
  }
  mn.value = String(state.maxNodes);
  const res = $('search-result');
  res.textContent = search.error || '';
  res.classList.toggle('bad', Boolean(search.error));
  $('search').setAttribute('aria-invalid', search.error ? 'true' : 'false');
  syncZoomButton();
  document.title = state.query ? `${state.query} · Ember` : 'Ember';
}

function syncZoomButton() {
  $('reset-zoom').hidden = !(view && view.zoomed(state)) && !state.fn;
}

const picker = new AppPicker($('app-picker'), pickApp);

// Another app: a fresh query. Another type of the same app: the same tags.
function pickApp(app, sameApp) {
  const reset = { leftQuery: '', rightQuery: '', zoom: '', leftZoom: '', rightZoom: '', fn: '', sandwich: '', hide: '', groupValue: '' };
  let query = `${app}{}`;
  if (sameApp) {
    try {
      query = buildSelector(app, parseSelector(state.query).matchers);
    } catch {
      /* an unreadable query: start the new type without tags */
    }
  }
  navigate({ ...reset, query });
}

function syncApps() {
  picker.set(apps || [], appOf(state.query));
}

function syncRange() {
  const sel = $('preset');
  const p = presetOf(state.from, state.until);
  let custom = sel.querySelector('option[value="custom"]');
  if (!p) {
    if (!custom) {
      custom = document.createElement('option');
      custom.value = 'custom';
      sel.append(custom);
    }
    custom.textContent = describeRange(state.from, state.until, Math.floor(Date.now() / 1000));
    sel.value = 'custom';
  } else {
    if (custom) custom.remove();
    sel.value = p.key;
  }
  if (!$('custom-range').open) {
    $('custom-from').value = state.from;
    $('custom-until').value = state.until;
  }
}

// A time typed into the custom range form: the server's syntax as is, or a
// local date and time turned into Unix seconds.
function userTime(text) {
  const t = text.trim();
  if (parseTime(t, 0) !== null) return t;
  const local = fromLocalInput(t.replace(' ', 'T'));
  if (local !== null) return String(local);
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : String(Math.floor(ms / 1000));
}

function bindControls() {
  for (const b of document.querySelectorAll('.views button')) {
    b.addEventListener('click', () => navigate({ view: b.dataset.view }));
  }
  for (const b of document.querySelectorAll('[data-show]')) {
    b.addEventListener('click', () => navigate({ show: b.dataset.show }, { replace: true }));
  }
  $('align').addEventListener('click', () => navigate({ align: state.align === 'right' ? 'left' : 'right' }, { replace: true }));
  const preset = $('preset');
  preset.innerHTML = PRESETS.map((p) => `<option value="${p.key}">${p.label}</option>`).join('');
  preset.addEventListener('change', () => {
    const p = PRESETS.find((x) => x.key === preset.value);
    if (p) navigate({ from: p.from, until: 'now', leftFrom: '', leftUntil: '', rightFrom: '', rightUntil: '' });
  });
  $('custom-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = userTime($('custom-from').value);
    const until = userTime($('custom-until').value || 'now');
    const err = $('custom-error');
    const now = Math.floor(Date.now() / 1000);
    let msg = '';
    if (from === null) msg = `“${$('custom-from').value}” is not a time.`;
    else if (until === null) msg = `“${$('custom-until').value}” is not a time.`;
    else if (parseTime(until, now) <= parseTime(from, now)) msg = 'The end must be after the start.';
    err.textContent = msg;
    err.hidden = !msg;
    if (msg) return;
    $('custom-range').open = false;
    navigate({ from, until, leftFrom: '', leftUntil: '', rightFrom: '', rightUntil: '' });
  });
  $('refresh').addEventListener('click', refresh);
  $('auto-refresh').addEventListener('change', (e) => navigate({ refresh: e.target.checked }, { replace: true }));
  $('theme').addEventListener('click', toggleTheme);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', themeChanged);
  let typing = 0;
  $('search').addEventListener('input', (e) => {
    // One update per frame however fast a person types.
    const value = e.target.value;
    cancelAnimationFrame(typing);
    typing = requestAnimationFrame(() => navigate({ search: value, fn: '' }, { replace: true }));
  });
  $('regex').addEventListener('change', (e) => navigate({ regex: e.target.checked }, { replace: true }));
  $('max-nodes').addEventListener('change', (e) => navigate({ maxNodes: Number(e.target.value) }));
  $('reset-zoom').addEventListener('click', resetZoom);
  document.addEventListener('keydown', onKey);
}

function resetZoom() {
  navigate({ zoom: '', leftZoom: '', rightZoom: '', fn: '' });
}

function onKey(e) {
  if (e.target.closest && e.target.closest('dialog')) return;
  const typing = e.target.closest && e.target.closest('input, select, textarea');
  if (e.key === 'Escape') {
    if (menu.isOpen) {
      menu.close(true);
      return;
    }
    if (document.querySelector('details[open]')) {
      for (const d of document.querySelectorAll('details[open]')) {
        d.open = false;
        if (d.contains(document.activeElement)) d.querySelector('summary').focus();
      }
      return;
    }
    if (!typing && state.sandwich) {
      navigate({ sandwich: '' });
      return;
    }
    if (typing && e.target.id === 'search' && state.search) {
      navigate({ search: '' }, { replace: true });
      return;
    }
    resetZoom();
    return;
  }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === '/') {
    e.preventDefault();
    $('search').focus();
    $('search').select();
  } else if (e.key === 'r') {
    refresh();
  }
}

// ---- Apps and the first visit ------------------------------------------

async function loadApps(quiet = false) {
  let list;
  try {
    list = await api.apps();
  } catch (e) {
    if (e.kind === 'network') {
      banner(e);
      setStatus('offline');
      retrySoon();
    } else if (e.kind === 'auth') {
      banner(e);
      setStatus('auth');
    } else if (!quiet) {
      banner(Object.assign(new Error(`The list of apps could not be loaded: ${e.message}`), { status: e.status }));
    }
    return false;
  }
  if (!Array.isArray(list)) list = [];
  const had = apps;
  apps = list.filter((a) => a && typeof a.name === 'string');
  banner(null);
  if (!state.query && apps.length) {
    const last = stored(LAST_APP);
    const pick = apps.find((a) => a.name === last) || apps[0];
    state = { ...state, query: `${pick.name}{}` };
    history.replaceState(null, '', serializeState(state) || location.pathname);
    render();
  } else if (!had || had.length !== apps.length || (!state.query && !apps.length)) {
    if (!view || !state.query) render();
    else syncApps();
  } else {
    syncApps();
  }
  return true;
}

function showWelcome() {
  setStatus('welcome');
  const el = $('welcome');
  const base = serverBase();
  // With auth on, a push needs a token of role ingest or admin, which may
  // not be the one this tab reads with: the command names it, not the value.
  const auth = token.get() ? '-H "Authorization: Bearer $EMBER_TOKEN" ' : '';
  const cmd =
    "printf 'main;handle_request;parse_json 120\\nmain;handle_request;db_query;mutex_lock 75\\nmain;idle 3\\n' > cpu.folded\n" +
    `curl -g -X POST ${auth}--data-binary @cpu.folded \\\n  "${base}ingest?name=my-app.cpu{host=$(hostname)}&from=$(date +%s)&format=folded&sampleRate=100"`;
  const tokenHint = auth
    ? '<p class="hint">This server requires a token: set <code>EMBER_TOKEN</code> to one of role <code>ingest</code> or <code>admin</code> from its token file.</p>'
    : '';
  el.innerHTML = `
    <h2>No profiles yet</h2>
    <p>This Ember server has not received any data. Point an agent at <code>${escapeHTML(base)}</code>
    (any agent that speaks Pyroscope's <code>/ingest</code> API works), or send a first profile by hand:</p>
    <pre><code id="welcome-cmd">${escapeHTML(cmd)}</code></pre>
    ${tokenHint}
    <p><button type="button" id="copy-cmd">Copy the commands</button>
    <span class="hint">This page checks for data every few seconds and opens the first app as soon as one arrives.</span></p>`;
  el.querySelector('#copy-cmd').addEventListener('click', async (e) => {
    try {
      await navigator.clipboard.writeText(cmd);
      e.target.textContent = 'Copied';
    } catch {
      e.target.textContent = 'Select the text above to copy it';
    }
  });
  el.hidden = false;
  for (const id of ['selectors', 'toolbar', 'panels']) $(id).hidden = true;
  if (view) {
    view.destroy();
    view = null;
  }
  syncApps();
  syncRange();
  clearInterval(welcomeTimer);
  welcomeTimer = setInterval(() => loadApps(true), WELCOME_POLL_MS);
}

function hideWelcome() {
  clearInterval(welcomeTimer);
  welcomeTimer = 0;
  $('welcome').hidden = true;
  for (const id of ['selectors', 'toolbar', 'panels']) $(id).hidden = false;
}

// ---- Start ---------------------------------------------------------------

// A hook for the end-to-end tests and the benchmark: read-only views of
// what is on screen.
window.emberUI = {
  get state() {
    return { ...state };
  },
  get view() {
    return view;
  },
  navigate,
  menu,
};

setTokenPrompt((o) => signIn.ask(o));
token.onChange(syncTokenControl);
$('forget-token').addEventListener('click', signOut);
syncTokenControl();
bindControls();
// The range shows what will load, even while the first answer waits (for
// a token, say).
syncRange();
themeChanged();
setStatus('loading');
if (state.query) render();
loadApps();
