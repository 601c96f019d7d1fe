// @ts-check
// app.js — the controller: loading workspaces, channels, members, presence and
// history over HTTP into the store, paging (older/newer/around a message), read
// markers, navigation, and toasts. Views call these; they never fetch directly.

import * as api from './api.js';
import { state, emit, log, setChannels, putMessage } from './store.js';

export const ui = {
  route: { name: 'loading' },
  panel: null, // null | {type:'thread', root} | {type:'search', q}
  drawerOpen: false,
  flash: null, // message id to flash once rendered
  editing: null, // message id being edited
};

// ---- Navigation ------------------------------------------------------------------

export function navigate(hash, { replace = false } = {}) {
  if (location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
    return;
  }
  if (replace) history.replaceState(null, '', hash);
  else history.pushState(null, '', hash);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}
export const channelHash = (ws, ch, msg) => `#/w/${ws}/c/${ch}${msg ? `/m/${msg}` : ''}`;

export function parseRoute(hash = location.hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  // #/invite/CODE[/Workspace name]: older links carry the name; it is never shown (the
  // server says where a code leads).
  if (parts[0] === 'invite' && parts[1]) return { name: 'invite', code: parts[1], hint: parts[2] || null };
  if (parts[0] === 'welcome') return { name: 'welcome' };
  if (parts[0] === 'w' && parts[1]) {
    const ws = parts[1];
    if (parts[2] === 'privacy') return { name: 'privacy', ws };
    if (parts[2] === 'settings') return { name: 'settings', ws };
    if (parts[2] === 'people') return { name: 'people', ws };
    if (parts[2] === 'c' && parts[3]) return { name: 'channel', ws, channel: parts[3], message: parts[4] === 'm' ? parts[5] : null };
    return { name: 'workspace', ws };
  }
  return { name: 'home' };
}

// ---- Toasts -----------------------------------------------------------------------

export function toast(text, kind = 'info') {
  emit('toast', { text, kind });
}
export function reportError(e, what) {
  if (e && e.name === 'AbortError') return;
  console.warn(what || 'request failed', e);
  toast(`${what ? `${what}: ` : ''}${(e && e.message) || e}`, 'error');
}

// ---- Workspace data ---------------------------------------------------------------

export async function loadWorkspaces() {
  state.workspaces = await api.workspaces.list();
  emit('workspaces');
  return state.workspaces;
}

let wsLoadToken = 0;
export async function selectWorkspace(wsId) {
  if (state.wsId === wsId && state.channels.size) return;
  const token = ++wsLoadToken;
  state.wsId = wsId;
  state.channels = new Map();
  state.members = new Map();
  state.presence = new Map();
  state.logs.clear();
  state.threads.clear();
  state.typing.clear();
  ui.panel = null;
  localStorage.setItem('confab.ws', wsId);
  emit('workspace');
  const [channels, members, presence] = await Promise.all([
    api.channels.list(wsId),
    api.workspaces.members(wsId),
    api.workspaces.presence(wsId).catch(() => []),
  ]);
  if (token !== wsLoadToken) return;
  state.members = new Map(members.map((m) => [m.id, m]));
  state.presence = new Map(presence.map((p) => /** @type {const} */ ([p.user, p.status])));
  setChannels(channels);
  emit('members');
  emit('presence');
  loadSuggestedChannels();
}

export async function refreshChannels() {
  if (!state.wsId) return;
  const ws = state.wsId;
  const list = await api.channels.list(ws);
  if (ws !== state.wsId) return;
  setChannels(list);
}

export async function refreshMembers() {
  if (!state.wsId) return;
  const ws = state.wsId;
  const [members, presence] = await Promise.all([api.workspaces.members(ws), api.workspaces.presence(ws).catch(() => null)]);
  if (ws !== state.wsId) return;
  state.members = new Map(members.map((m) => [m.id, m]));
  if (presence) state.presence = new Map(presence.map((p) => [p.user, p.status]));
  emit('members');
  emit('presence');
}

export const suggestions = { channels: [] };
export async function loadSuggestedChannels() {
  if (!state.wsId || api.features.channelSuggest === false) return;
  try {
    const list = await api.suggest.channels(state.wsId, 5);
    suggestions.channels = list
      .map((s) => ({ id: s.channel.id, channel: state.channels.get(s.channel.id) || s.channel, reason: s.reason }))
      .filter((s) => !(state.channels.get(s.id) || {}).is_member);
  } catch (e) {
    console.warn('channel suggestions failed', e);
    suggestions.channels = [];
  }
  emit('suggestions');
}

// ---- History ------------------------------------------------------------------------

const PAGE = 50;

function fill(l, msgs) {
  for (const m of msgs) l.upsert(m);
}

export async function ensureHistory(chId) {
  const l = log(chId);
  if (l.loaded || l.loading) return;
  l.loading = true;
  l.buffer = [];
  try {
    const msgs = await api.channels.history(chId, { limit: PAGE });
    l.clear();
    fill(l, msgs);
    l.hasOlder = msgs.length === PAGE && l.minSeq > 1;
    l.hasNewer = false;
    l.loaded = true;
    for (const m of l.buffer) l.upsert(m);
  } finally {
    l.loading = false;
    l.buffer = null;
  }
  emit('messages', { channel: chId, reset: true });
}

export async function reloadHistory(chId) {
  const l = log(chId);
  l.loaded = false;
  await ensureHistory(chId);
}

export async function loadOlder(chId) {
  const l = log(chId);
  if (!l.loaded || l.loading || !l.hasOlder || !l.minSeq) return false;
  l.loading = true;
  try {
    const msgs = await api.channels.history(chId, { before: l.minSeq, limit: PAGE });
    fill(l, msgs);
    l.hasOlder = msgs.length === PAGE && l.minSeq > 1;
  } finally {
    l.loading = false;
  }
  emit('messages', { channel: chId, older: true });
  return true;
}

export async function loadNewer(chId) {
  const l = log(chId);
  if (!l.loaded || l.loading || !l.hasNewer) return false;
  l.loading = true;
  try {
    const msgs = await api.channels.history(chId, { after: l.maxSeq, limit: 100 });
    fill(l, msgs);
    if (msgs.length < 100) l.hasNewer = false;
  } finally {
    l.loading = false;
  }
  emit('messages', { channel: chId, newer: true });
  return true;
}

/** Loads the window around `seq` (after=seq-10), for jumping to a message in context. */
export async function loadAround(chId, seq) {
  const l = log(chId);
  l.loading = true;
  try {
    const msgs = await api.channels.history(chId, { after: Math.max(0, seq - 11), limit: PAGE });
    l.clear();
    fill(l, msgs);
    const c = state.channels.get(chId);
    l.hasNewer = msgs.length === PAGE && (!c || l.maxSeq < (c.last_seq || Infinity));
    l.hasOlder = (l.minSeq || 1) > 1;
    l.loaded = true;
  } finally {
    l.loading = false;
  }
  emit('messages', { channel: chId, reset: true });
}

/** Opens a message in its channel: loads history around it, scrolls to it and flashes it. */
export async function jumpToMessage(msgOrId) {
  let msg = typeof msgOrId === 'string' ? null : msgOrId;
  if (!msg || msg.seq === undefined) msg = await api.messages.get(typeof msgOrId === 'string' ? msgOrId : msgOrId.id);
  const l = log(msg.channel);
  const target = msg.thread_root ? await api.messages.get(msg.thread_root).catch(() => msg) : msg;
  if (!(l.loaded && l.byId.has(target.id))) {
    l.loaded = false;
    await loadAround(msg.channel, target.seq);
  }
  ui.flash = target.id;
  if (msg.thread_root) openThread(msg.thread_root, msg.id);
  if (state.openChannel === msg.channel && ui.route.name === 'channel' && !ui.route.message) {
    emit('messages', { channel: msg.channel, jump: target.id });
  } else {
    // The channel view flashes ui.flash when it mounts.
    navigate(channelHash(msg.workspace || state.wsId, msg.channel), { replace: ui.route.name === 'channel' && !!ui.route.message });
  }
}

// ---- Threads --------------------------------------------------------------------------

export async function openThread(rootId, flashId) {
  ui.panel = { type: 'thread', root: rootId, flash: flashId || null };
  emit('panel');
  try {
    const t = await api.messages.thread(rootId);
    state.threads.set(rootId, { root: t.root, replies: new Map(t.replies.map((r) => [r.id, r])) });
    emit('messages', { channel: t.root.channel, thread: rootId });
  } catch (e) {
    reportError(e, 'Could not open the thread');
  }
}

export function closePanel() {
  if (!ui.panel) return false;
  ui.panel = null;
  emit('panel');
  return true;
}

// ---- Read markers ----------------------------------------------------------------------

const reading = new Set();
export async function markRead(chId) {
  const c = state.channels.get(chId);
  const l = log(chId);
  if (!c || !c.is_member || !l.loaded || l.hasNewer || reading.has(chId)) return;
  const seq = l.maxSeq;
  if (!seq || (c.last_read_seq || 0) >= seq) {
    if (c.unread_count || c.mention_count) {
      c.unread_count = 0;
      c.mention_count = 0;
      emit('channels');
    }
    return;
  }
  reading.add(chId);
  try {
    await api.channels.read(chId, seq);
    c.last_read_seq = seq;
    c.unread_count = 0;
    c.mention_count = 0;
    emit('channels');
  } catch (e) {
    console.warn('read marker', e);
  } finally {
    reading.delete(chId);
  }
}

// ---- Messages ---------------------------------------------------------------------------

export async function toggleReaction(msg, emoji) {
  const me = state.me.id;
  const r = (msg.reactions || []).find((x) => x.emoji === emoji);
  try {
    const updated = r && r.users.includes(me) ? await api.messages.unreact(msg.id, emoji) : await api.messages.react(msg.id, emoji);
    if (updated) putMessage(updated);
  } catch (e) {
    reportError(e, 'Reaction failed');
  }
}

export async function editMessage(msg, text) {
  try {
    putMessage(await api.messages.edit(msg.id, text));
  } catch (e) {
    reportError(e, 'Edit failed');
  }
}

export async function deleteMessage(msg) {
  try {
    await api.messages.remove(msg.id);
  } catch (e) {
    reportError(e, 'Delete failed');
  }
}

/** Opens (creating if need be) the direct message with one member, and goes there. */
export async function openDm(userId) {
  const ch = await api.channels.dm(state.wsId, [userId]);
  await refreshChannels();
  navigate(channelHash(state.wsId, ch.id));
  return ch;
}

export async function joinChannel(chId) {
  await api.channels.join(chId);
  await refreshChannels();
  suggestions.channels = suggestions.channels.filter((s) => s.id !== chId);
  emit('suggestions');
}
