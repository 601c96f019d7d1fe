// main.js — start-up and routing: restores the session, connects the live socket,
// mounts the shell (top bar, sidebar, main view, side panel, banner, toasts) and
// switches views on hash changes (#/w/WS/c/CH, #/w/WS/privacy, #/w/WS/settings,
// #/w/WS/people, #/w/WS/activity, #/w/WS/threads, #/w/WS/saved, #/invite/CODE,
// which asks the server where the code leads, then asks before joining), and starts
// desktop notifications (notify.js). Every way a session ends goes through
// signOut(), which forgets unsent texts and drafts. Global keys: Ctrl/Cmd+K the quick
// switcher (views/switcher.js), Ctrl/Cmd+G or "/" search, Alt+Up/Down the previous or
// next channel, Esc closes what is open; a form's error goes when a field changes.

import { h, clear, $, debounce } from './dom.js';
import * as api from './api.js';
import * as live from './live.js';
import { abortUploads } from './files.js';
import { state, on, emit, loadPending, clearLocalData, currentWorkspace, channelTitle, attentionCount } from './store.js';
import * as app from './app.js';
import { icon } from './icons.js';
import { mountAuth, mountWelcome } from './views/auth.js';
import { mountSidebar } from './views/sidebar.js';
import { mountChannel } from './views/channel.js';
import { mountThread } from './views/thread.js';
import { mountSearch } from './views/search.js';
import { mountPrivacy } from './views/privacy.js';
import { closePicker } from './views/picker.js';
import { openSwitcher, stepChannel } from './views/switcher.js';
import { confirmInviteDialog } from './views/dialogs.js';
import { mountChannelDetails } from './views/details.js';
import { mountSettings } from './views/settings.js';
import { mountPeople } from './views/people.js';
import { mountActivity } from './views/activity.js';
import { mountThreads } from './views/threads.js';
import { mountSaved } from './views/saved.js';
import { startNotifications } from './notify.js';

const root = document.getElementById('app');
let shell = null; // {main, panel, sidebar, ...}
let mainView = null;
let panelView = null;
let sidebarView = null;

// ---- Session ------------------------------------------------------------------------

// The signed-in user's id is kept next to the token, so that a session found dead at
// start-up (401) still clears that user's unsent texts.
const UID_KEY = 'confab.uid';

function rememberInvite(route) {
  sessionStorage.setItem('confab.invite', route.code);
}
function takeInvite() {
  const code = sessionStorage.getItem('confab.invite');
  sessionStorage.removeItem('confab.invite');
  sessionStorage.removeItem('confab.invite.hint'); // kept by earlier versions
  return code ? { code } : null;
}

async function boot() {
  installGlobalHandlers();
  const route = app.parseRoute();
  if (route.name === 'invite') rememberInvite(route);
  if (!api.getToken()) {
    clearLocalData();
    return showAuth();
  }
  try {
    state.me = await api.auth.me();
  } catch (e) {
    if (e.status === 401) {
      api.setToken(null);
      localStorage.removeItem(UID_KEY);
      clearLocalData();
      return showAuth({ notice: 'Your session has ended. Sign in again.' });
    }
    clear(root).append(h('main.auth-screen', h('div.auth-card', h('h1', 'Cannot reach the server'), h('p', e.message), h('button.btn.primary', { type: 'button', on: { click: () => location.reload() } }, 'Retry'))));
    return;
  }
  await afterSignIn();
}

async function afterSignIn({ joined = false } = {}) {
  // Another user's leftovers (a session that ended while this tab was closed) go.
  const prev = localStorage.getItem(UID_KEY);
  if (prev && prev !== state.me.id) clearLocalData();
  localStorage.setItem(UID_KEY, state.me.id);
  loadPending();
  // What the server offers (search, suggestions, consent): views hide what it lacks.
  api.loadFeatures().catch((e) => console.warn('features unknown', e));
  const helloSeen = new Promise((resolve) => {
    const off = on('hello', () => {
      off();
      resolve();
    });
    setTimeout(resolve, 3000);
  });
  live.start();
  await helloSeen; // events after the hello are applied on top of what we fetch next
  const invite = takeInvite();
  await app.loadWorkspaces();
  if (invite && !joined) {
    // An invite link never joins by itself: show where it leads and ask.
    history.replaceState(null, '', '#/');
    await onRoute();
    askToJoin(invite);
    return;
  }
  if (joined && app.parseRoute().name === 'invite') history.replaceState(null, '', '#/');
  await onRoute();
}

function showAuth({ notice } = {}) {
  destroyShell();
  const invite = sessionStorage.getItem('confab.invite');
  mountAuth(root, {
    invite,
    notice,
    onSignedIn: async (user, { joined }) => {
      state.me = user;
      // A sign-up that carried the invite code has joined already (the form said so).
      if (joined) takeInvite();
      await afterSignIn({ joined });
    },
  });
}

/** The confirmation an invite link opens: the workspace the server says it leads to, Join or Cancel. */
function askToJoin({ code }) {
  confirmInviteDialog({
    code,
    onJoined: async (ws) => {
      await app.loadWorkspaces();
      app.navigate(`#/w/${ws.id}`, { replace: true });
    },
  });
}

let signingOut = false;
/**
 * Every way a session ends comes here: the Sign out button (`ended` false: tell the
 * server), a 401 from any request, a WebSocket closed with 4001 (`ended` true: the
 * server ended it — signed out elsewhere, password changed, expired). Unsent texts and
 * drafts are forgotten, the socket stops for good, and the sign-in screen shows.
 */
async function signOut({ ended = false } = {}) {
  if (signingOut) return;
  signingOut = true;
  try {
    // The request takes the token now, before it is dropped below.
    const bye = ended ? null : api.auth.logout().catch(() => {});
    live.stop();
    abortUploads();
    clearLocalData();
    api.setToken(null);
    localStorage.removeItem(UID_KEY);
    state.me = null;
    state.wsId = null;
    state.workspaces = [];
    state.channels = new Map();
    state.members = new Map();
    state.logs.clear();
    state.threads.clear();
    app.ui.panel = null;
    for (const d of document.querySelectorAll('dialog')) d.remove();
    history.replaceState(null, '', '#/');
    showAuth({ notice: ended ? 'Your session has ended (signed out elsewhere, password changed or expired). Sign in again.' : null });
    if (bye) await bye;
  } finally {
    signingOut = false;
  }
}

// ---- Shell --------------------------------------------------------------------------

function ensureShell() {
  if (shell) return shell;
  const menuBtn = h('button.icon-btn.menu-btn', { type: 'button', 'aria-label': 'Open navigation', 'aria-controls': 'sidebar', 'aria-expanded': 'false', on: { click: () => setDrawer(!app.ui.drawerOpen) } }, icon('menu', 20));
  const wsName = h('span.topbar-ws');
  const chName = h('span.topbar-ch');
  const title = h('div.topbar-title', h('span.logo.small', icon('thread', 16)), wsName, chName);
  const q = h('input#search-input', { type: 'search', placeholder: 'Search messages (Ctrl+G or /)', autocomplete: 'off', 'aria-label': 'Search messages', 'aria-keyshortcuts': 'Control+G Meta+G /', title: 'Operators: from:@name in:#channel before: after: on: has:link has:reaction is:thread "phrase" -word' });
  const searchForm = h('form.search-form', {
    role: 'search',
    on: {
      submit: (e) => {
        e.preventDefault();
        const text = q.value.trim();
        if (!text) return;
        app.ui.panel = { type: 'search', q: text, n: Date.now() };
        emit('panel');
      },
    },
  }, q);
  const banner = h('div.banner', { role: 'status', hidden: true });
  // Two complementary landmarks: each needs a name of its own.
  const sidebar = h('aside.sidebar#sidebar', { 'aria-label': 'Sidebar' });
  const main = h('main.main#main');
  const panel = h('aside.panel#panel', { hidden: true, 'aria-label': 'Side panel' });
  const scrim = h('div.scrim', { on: { click: () => setDrawer(false) } });
  const toasts = h('div.toasts', { 'aria-live': 'polite' });
  const notifySlot = h('div.notify-slot');
  const el = h('div.shell', h('header.topbar', menuBtn, title, searchForm), h('div.bars', banner, notifySlot), h('div.layout', sidebar, main, panel), scrim, toasts);
  clear(root).append(el);
  shell = { el, main, panel, sidebar, banner, title, wsName, chName, searchForm, q, toasts, menuBtn, offs: [] };
  sidebarView = mountSidebar(sidebar, { onSignOut: signOut });
  shell.offs.push(on('panel', renderPanel));
  shell.offs.push(startNotifications(notifySlot));
  shell.offs.push(on('connection', renderBanner));
  shell.offs.push(on('channels', renderTitle));
  shell.offs.push(on('workspaces', renderTitle));
  shell.offs.push(api.onFeatureChange((name, v) => {
    if (name === 'search') searchForm.hidden = !v;
  }));
  searchForm.hidden = api.features.search === false;
  renderBanner();
  return shell;
}

function destroyShell() {
  if (!shell) return;
  mainView && mainView.destroy();
  panelView && panelView.destroy();
  sidebarView && sidebarView.destroy();
  shell.offs.forEach((f) => f());
  mainView = panelView = sidebarView = null;
  shell = null;
}

function setDrawer(open) {
  app.ui.drawerOpen = open;
  if (!shell) return;
  shell.el.classList.toggle('drawer-open', open);
  shell.menuBtn.setAttribute('aria-expanded', String(open));
  if (open) {
    const first = shell.sidebar.querySelector('a, button, select');
    if (first) first.focus();
  }
}

function renderBanner() {
  if (!shell) return;
  const s = state.connection;
  shell.banner.hidden = s === 'online' || s === 'connecting';
  clear(shell.banner);
  if (s !== 'offline') return;
  const noNetwork = navigator.onLine === false;
  shell.banner.append(
    noNetwork ? 'Offline — no network. Messages are sent once it is back.' : 'Offline — reconnecting… Messages are sent once connected.',
    ' ',
    noNetwork ? null : h('button.link', { type: 'button', on: { click: () => live.reconnectSoon() } }, 'Retry now'),
  );
}

function renderTitle() {
  if (!shell) return;
  const r = app.ui.route;
  const ws = currentWorkspace();
  let t = ws ? ws.name : 'Confab';
  if (r.name === 'channel') {
    const c = state.channels.get(r.channel);
    if (c) t = c.kind === 'dm' ? channelTitle(c) : `#${c.name}`;
  } else if (r.name === 'privacy') t = 'Privacy & AI';
  else if (r.name === 'settings') t = 'Workspace settings';
  else if (r.name === 'people') t = 'People';
  else if (r.name === 'activity') t = 'Activity';
  else if (r.name === 'threads') t = 'Threads';
  else if (r.name === 'saved') t = 'Saved items';
  shell.wsName.textContent = ws ? ws.name : 'Confab';
  shell.chName.textContent = t;
  const waiting = attentionCount();
  document.title = `${waiting ? `(${waiting}) ` : ''}${t}${ws && t !== ws.name ? ` · ${ws.name}` : ''} · Confab`;
}

function renderPanel() {
  if (!shell) return;
  const p = app.ui.panel;
  const key = p ? `${p.type}:${p.root || p.q || p.channel}:${p.n || ''}` : null;
  if (shell.panelKey === key) return;
  shell.panelKey = key;
  panelView && panelView.destroy();
  panelView = null;
  shell.el.classList.toggle('panel-open', !!p);
  if (!p) {
    shell.panel.hidden = true;
    clear(shell.panel);
    if (mainView && mainView.focus) mainView.focus();
    return;
  }
  shell.panel.hidden = false;
  panelView = p.type === 'thread' ? mountThread(shell.panel, p.root) : p.type === 'details' ? mountChannelDetails(shell.panel, p.channel) : mountSearch(shell.panel, p.q);
  if (panelView.focus) panelView.focus();
}

// ---- Routing --------------------------------------------------------------------------

async function onRoute() {
  if (!state.me) {
    const r = app.parseRoute();
    if (r.name === 'invite') {
      rememberInvite(r);
      showAuth();
    }
    return;
  }
  const r = app.parseRoute();
  app.ui.route = r;
  closePicker();
  if (r.name === 'invite') {
    // Signed in already: show the current screen underneath, then ask.
    history.replaceState(null, '', state.wsId ? `#/w/${state.wsId}` : '#/');
    await onRoute();
    askToJoin({ code: r.code });
    return;
  }
  if (!state.workspaces.length) {
    destroyShell();
    mountWelcome(root, { me: state.me, onSignOut: signOut });
    return;
  }
  if (r.name === 'home' || r.name === 'welcome' || !state.workspaces.some((w) => w.id === r.ws)) {
    const last = localStorage.getItem('confab.ws');
    const ws = state.workspaces.find((w) => w.id === last) || state.workspaces[0];
    app.navigate(`#/w/${ws.id}`, { replace: true });
    return;
  }
  ensureShell();
  try {
    await app.selectWorkspace(r.ws);
  } catch (e) {
    app.reportError(e, 'Could not load the workspace');
    return;
  }
  if (app.parseRoute().name !== r.name || app.parseRoute().ws !== r.ws) return; // navigated meanwhile
  if (r.name === 'workspace') {
    const last = localStorage.getItem(`confab.last.${r.ws}`);
    const chans = [...state.channels.values()].filter((c) => c.is_member && !c.archived);
    const c = state.channels.get(last) || chans.find((x) => x.name === 'general') || chans[0];
    if (c) app.navigate(app.channelHash(r.ws, c.id), { replace: true });
    else showEmptyMain();
    return;
  }
  setDrawer(false);
  mainView && mainView.destroy();
  mainView = null;
  if (app.ui.panel && app.ui.panel.type === 'details' && (r.name !== 'channel' || app.ui.panel.channel !== r.channel)) app.closePanel();
  if (r.name === 'privacy') {
    state.openChannel = null;
    mainView = mountPrivacy(shell.main);
  } else if (r.name === 'settings') {
    state.openChannel = null;
    mainView = mountSettings(shell.main);
  } else if (r.name === 'people') {
    state.openChannel = null;
    mainView = mountPeople(shell.main);
  } else if (r.name === 'activity' || r.name === 'threads' || r.name === 'saved') {
    state.openChannel = null;
    const mount = { activity: mountActivity, threads: mountThreads, saved: mountSaved }[r.name];
    mainView = mount(shell.main);
  } else if (r.name === 'channel') {
    if (!state.channels.has(r.channel)) {
      try {
        await app.refreshChannels();
      } catch {
        /* handled below */
      }
    }
    if (!state.channels.has(r.channel)) {
      state.openChannel = null;
      clear(shell.main).append(h('div.empty', h('h1', 'Channel not found'), h('p', 'It may be private, or it was removed.')));
    } else {
      state.openChannel = r.channel;
      localStorage.setItem(`confab.last.${r.ws}`, r.channel);
      if (r.message) {
        app.jumpToMessage(r.message).catch((e) => app.reportError(e, 'Could not open the message'));
      }
      mainView = mountChannel(shell.main, r.channel);
      if (!window.matchMedia('(max-width: 760px)').matches || !app.ui.panel) mainView.focus();
    }
  }
  emit('route');
  renderTitle();
}

function showEmptyMain() {
  state.openChannel = null;
  mainView && mainView.destroy();
  mainView = null;
  clear(shell.main).append(h('div.empty', h('h1', 'No channels yet'), h('p', 'Create a channel or browse the existing ones from the sidebar.')));
  emit('route');
}

// ---- Global handlers --------------------------------------------------------------------

/** Whether keys typed at `el` are text (a "/" there is a character, not a shortcut). */
function isTyping(el) {
  return el instanceof HTMLElement && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

function installGlobalHandlers() {
  window.addEventListener('hashchange', () => onRoute().catch((e) => app.reportError(e)));
  window.addEventListener('popstate', () => {});
  api.hooks.onUnauthenticated = () => {
    if (state.me) signOut({ ended: true });
  };
  on('unauthenticated', () => state.me && signOut({ ended: true }));
  const refreshChannels = debounce(() => app.refreshChannels().then(app.loadSuggestedChannels).catch((e) => console.warn(e)), 150);
  on('channels-stale', refreshChannels);
  on('members-stale', debounce(() => app.refreshMembers().catch((e) => console.warn(e)), 150));
  on('threads-stale', debounce(() => app.loadMyThreads().catch((e) => console.warn(e)), 150));
  // One's own profile changed in another tab or device (user.updated).
  on('me-stale', debounce(async () => {
    try {
      state.me = await api.auth.me();
      emit('members');
    } catch (e) {
      console.warn('profile', e);
    }
  }, 150));
  on('resync', async (ws) => {
    if (ws !== state.wsId) return;
    try {
      await app.refreshChannels();
      await app.refreshMembers();
      if (state.openChannel) await app.reloadHistory(state.openChannel);
      if (app.ui.panel && app.ui.panel.type === 'thread') await app.openThread(app.ui.panel.root);
    } catch (e) {
      app.reportError(e, 'Could not resync');
    }
  });
  // Removed from a workspace (or left it): it goes from the UI at once.
  on('workspace-removed', (ws) => {
    const w = state.workspaces.find((x) => x.id === ws);
    if (!w) return;
    state.workspaces = state.workspaces.filter((x) => x.id !== ws);
    state.eventSeq.delete(ws);
    if (localStorage.getItem('confab.ws') === ws) localStorage.removeItem('confab.ws');
    emit('workspaces');
    app.toast(`You are no longer a member of ${w.name}.`, 'error');
    if (state.wsId === ws) {
      state.wsId = null;
      state.channels = new Map();
      state.members = new Map();
      state.logs.clear();
      state.threads.clear();
      state.openChannel = null;
      app.ui.panel = null;
      emit('panel');
      for (const d of document.querySelectorAll('dialog')) d.remove();
      app.navigate('#/', { replace: true });
    }
  });
  on('hello', ({ first }) => {
    if (!first && state.wsId) app.refreshMembers().catch(() => {});
  });
  on('toast', ({ text, kind }) => {
    if (!shell) return;
    const t = h(`div.toast.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
    shell.toasts.append(t);
    setTimeout(() => t.remove(), kind === 'error' ? 6000 : 3500);
  });
  document.addEventListener('visibilitychange', () => live.presence(document.visibilityState === 'visible' ? 'online' : 'away'));
  window.addEventListener('online', () => {
    live.reconnectSoon();
    renderBanner();
  });
  // The socket may look open for a while with the network gone: drop it at once.
  window.addEventListener('offline', () => live.connectionLost());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !e.defaultPrevented) {
      if (document.querySelector('dialog[open]')) return; // the dialog closes itself
      if (closePicker()) return;
      if (app.closePanel()) return;
      if (app.ui.drawerOpen) {
        setDrawer(false);
        shell && shell.menuBtn.focus();
      }
      return;
    }
    if (!shell || e.defaultPrevented || document.querySelector('dialog[open]')) return;
    const key = e.key.toLowerCase();
    const mod = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey;
    if (mod && key === 'k') {
      e.preventDefault();
      openSwitcher();
    } else if (((mod && key === 'g') || (e.key === '/' && !e.ctrlKey && !e.metaKey && !e.altKey && !isTyping(e.target))) && !shell.searchForm.hidden) {
      e.preventDefault();
      shell.q.focus();
      shell.q.select();
    } else if (e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      e.preventDefault();
      stepChannel(e.key === 'ArrowUp' ? -1 : 1);
    }
  });
  // A form's error is about what was typed: it goes once the field changes. (The
  // composer's own error stays until the text fits.)
  const clearFormErrors = (e) => {
    const form = e.target instanceof Element && e.target.closest('form:not(.composer)');
    if (form) for (const err of form.querySelectorAll('.error[role=alert]')) err.hidden = true;
  };
  document.addEventListener('input', clearFormErrors);
  document.addEventListener('change', clearFormErrors);
}

boot().catch((e) => {
  console.warn('start-up failed', e);
  clear(root).append(h('main.auth-screen', h('div.auth-card', h('h1', 'Something went wrong'), h('p', e.message))));
});

export { $ };
