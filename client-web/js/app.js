// @ts-check
// app.js — the controller: loading workspaces, channels, members, presence and
// history over HTTP into the store, paging (older/newer/around a message), read
// markers, navigation, and toasts. Views call these; they never fetch directly.

import * as api from './api.js';
import { state, emit, log, setChannels, putMessage, isPinned } from './store.js';

export const ui = {
  route: { name: 'loading' },
  panel: null, // null | {type:'thread', root} | {type:'search', q}
  drawerOpen: false,
  flash: null, // message id to flash once rendered
  editing: null, // message id being edited
  // Channel ids and thread roots the caller marked unread: not marked read again
  // by being on screen until they are opened anew.
  holdRead: new Set(),
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
    if (parts[2] === 'activity') return { name: 'activity', ws };
    if (parts[2] === 'threads') return { name: 'threads', ws };
    if (parts[2] === 'saved') return { name: 'saved', ws };
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
  state.myThreads = new Map();
  state.saved = new Set();
  state.pins = new Map();
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
  loadMyThreads().catch((e) => console.warn('threads', e));
  loadSavedIds().catch((e) => console.warn('saved', e));
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

/** The `seq` after which a member's unread messages start, if more are unread than a page shows with some context. */
function farUnread(chId) {
  const c = state.channels.get(chId);
  if (!c || !c.is_member || !c.unread_count) return null;
  const first = (c.last_read_seq || 0) + 1;
  return c.last_seq - first >= PAGE - CONTEXT ? first : null;
}
// Messages shown above the first unread one when a channel opens there.
const CONTEXT = 5;

export async function ensureHistory(chId) {
  const l = log(chId);
  if (l.loaded || l.loading) return;
  l.loading = true;
  l.buffer = [];
  try {
    // Many unread: open at the first of them (the view puts the "New" line there),
    // not at the newest.
    const first = farUnread(chId);
    const after = first === null ? null : Math.max(0, first - 1 - CONTEXT);
    const msgs = await api.channels.history(chId, after === null ? { limit: PAGE } : { after, limit: PAGE });
    l.clear();
    fill(l, msgs);
    l.hasOlder = after === null ? msgs.length === PAGE && l.minSeq > 1 : (l.minSeq || 1) > 1;
    l.hasNewer = after !== null && msgs.length === PAGE;
    l.loaded = true;
    for (const m of l.buffer) if (!l.hasNewer || l.byId.has(m.id)) l.upsert(m);
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
/**
 * Marks the channel read up to `upTo` (what the view has shown), or up to its newest
 * message when the loaded window reaches it. Mentions in thread replies stay: only
 * reading their thread reads them. Nothing while the caller holds it unread.
 */
export async function markRead(chId, upTo) {
  const c = state.channels.get(chId);
  const l = log(chId);
  if (!c || !c.is_member || !l.loaded || reading.has(chId) || ui.holdRead.has(chId)) return;
  if (upTo === undefined && l.hasNewer) return;
  const seq = upTo === undefined ? l.maxSeq : upTo;
  const all = seq >= (c.last_seq || 0);
  if (!seq || (c.last_read_seq || 0) >= seq) {
    if (all && (c.unread_count || c.mention_count > (c.thread_mention_count || 0))) {
      c.unread_count = 0;
      c.mention_count = c.thread_mention_count || 0;
      emit('channels');
    }
    return;
  }
  reading.add(chId);
  try {
    await api.channels.read(chId, seq);
    c.last_read_seq = Math.max(c.last_read_seq || 0, seq);
    if (all) {
      c.unread_count = 0;
      c.mention_count = c.thread_mention_count || 0;
    } else {
      c.unread_count = Math.max(0, c.last_seq - c.last_read_seq);
      emit('channels-stale'); // the exact counts of a partial read are the server's
    }
    emit('channels');
  } catch (e) {
    console.warn('read marker', e);
  } finally {
    reading.delete(chId);
  }
}

/** "Mark as unread": the read marker goes back to just before `msg`, in its channel or its thread. */
export async function markUnread(msg) {
  const root = msg.thread_root;
  try {
    if (root) {
      ui.holdRead.add(root);
      await api.inbox.threadRead(root, msg.seq - 1);
      const t = state.myThreads.get(root);
      if (t) t.last_read_seq = Math.min(t.last_read_seq, msg.seq - 1);
      await loadMyThreads();
    } else {
      ui.holdRead.add(msg.channel);
      await api.channels.read(msg.channel, msg.seq - 1);
      const c = state.channels.get(msg.channel);
      if (c) c.last_read_seq = msg.seq - 1;
      emit('unread-marked', { channel: msg.channel, seq: msg.seq - 1 });
    }
    await refreshChannels();
  } catch (e) {
    reportError(e, 'Could not mark it unread');
  }
}

// ---- Threads the caller is in, and activity ------------------------------------------

/** Loads the threads the caller is in (the newest 100) into state.myThreads. */
export async function loadMyThreads() {
  if (!state.wsId) return;
  const ws = state.wsId;
  const page = await api.inbox.threads(ws, 100);
  if (ws !== state.wsId) return;
  state.myThreads = new Map(page.threads.map((t) => [t.root.id, { last_read_seq: t.last_read_seq, unread: t.unread_replies, mentions: t.unread_mentions }]));
  emit('threads-changed');
}

const threadReading = new Map(); // root -> the seq being marked
/** Marks a thread read up to its newest reply loaded here, unless held unread or read already. */
export async function markThreadRead(rootId) {
  const t = state.threads.get(rootId);
  if (!t || ui.holdRead.has(rootId) || threadReading.has(rootId)) return;
  const seq = Math.max(0, ...[...t.replies.values()].map((r) => r.seq));
  const mine = state.myThreads.get(rootId);
  const c = state.channels.get(t.root.channel);
  const mentionsHere = c && c.thread_mention_count > 0;
  if (!seq || (t.readUpTo || 0) >= seq) return;
  if (mine && mine.last_read_seq >= seq && !mentionsHere) {
    t.readUpTo = seq;
    return;
  }
  threadReading.set(rootId, seq);
  try {
    await api.inbox.threadRead(rootId, seq);
    t.readUpTo = seq;
    if (mine) Object.assign(mine, { last_read_seq: seq, unread: 0, mentions: 0 });
    emit('threads-changed');
    if (mentionsHere) await refreshChannels();
  } catch (e) {
    console.warn('thread read marker', e);
  } finally {
    threadReading.delete(rootId);
  }
}

/** A page of the threads the caller is in, the most recently active first. */
export function loadThreads(limit, offset) {
  return api.inbox.threads(/** @type {string} */ (state.wsId), limit, offset);
}

/** A page of the caller's activity, newest first (older than `before`). */
export function loadActivity(before = null) {
  return api.inbox.activity(/** @type {string} */ (state.wsId), before, 30);
}

// ---- Saved messages and notification levels ---------------------------------------

/** Which messages the caller saved (the newest 500), for the Save buttons. */
async function loadSavedIds() {
  const ws = state.wsId;
  const ids = new Set();
  for (let offset = 0; offset < 500; offset += 100) {
    const page = await api.inbox.saved(/** @type {string} */ (ws), 100, offset);
    page.items.forEach((i) => ids.add(i.message.id));
    if (offset + 100 >= page.total) break;
  }
  if (ws !== state.wsId) return;
  state.saved = ids;
  emit('saved-changed');
}

/** A page of the caller's saved messages, the most recently saved first. */
export function loadSaved(limit, offset) {
  return api.inbox.saved(/** @type {string} */ (state.wsId), limit, offset);
}

/** Saves a message for later, or takes it out of the saved ones. */
export async function toggleSaved(msg) {
  const saving = !state.saved.has(msg.id);
  try {
    if (saving) await api.inbox.save(msg.id);
    else await api.inbox.unsave(msg.id);
    if (saving) state.saved.add(msg.id);
    else state.saved.delete(msg.id);
    emit('saved-changed');
    emit('messages', { channel: msg.channel, thread: msg.thread_root || msg.id });
    toast(saving ? 'Saved for later.' : 'Removed from saved items.');
  } catch (e) {
    reportError(e, saving ? 'Could not save it' : 'Could not remove it');
  }
}

/** The number of the latest load of each channel's pins: an older load's answer
 * that arrives after a newer one's (a pin made meanwhile) must not overwrite it. */
const pinLoads = new Map();

/** Loads (again) a channel's pinned messages. */
export async function loadPins(/** @type {string} */ chId) {
  const ws = state.wsId;
  const n = (pinLoads.get(chId) || 0) + 1;
  pinLoads.set(chId, n);
  const list = await api.inbox.pins(chId);
  if (ws !== state.wsId || pinLoads.get(chId) !== n) return;
  state.pins.set(chId, list);
  emit('pins', chId);
  emit('messages', { channel: chId });
}

/** Pins a message to its channel, or unpins it; the channel's members see it live. */
export async function togglePin(/** @type {import('./protocol.js').Message} */ msg) {
  const pinning = !isPinned(msg);
  try {
    if (pinning) await api.inbox.pin(msg.id);
    else await api.inbox.unpin(msg.id);
    await loadPins(msg.channel);
    toast(pinning ? 'Pinned to the channel.' : 'Unpinned.');
  } catch (e) {
    reportError(e, pinning ? 'Could not pin it' : 'Could not unpin it');
  }
}

/** The address of a message (its permalink), as the address bar would show it. */
export function messageLink(/** @type {{id: string, channel: string, workspace?: string}} */ msg) {
  return `${location.origin}${location.pathname}${channelHash(msg.workspace || state.wsId, msg.channel, msg.id)}`;
}

/** Copies a message's link to the clipboard. */
export async function copyLink(/** @type {{id: string, channel: string, workspace?: string}} */ msg) {
  const link = messageLink(msg);
  try {
    await navigator.clipboard.writeText(link);
    toast('Link copied.');
  } catch {
    // No clipboard (an insecure origin, or permission refused): show it to copy by hand.
    toast(`Copy this link: ${link}`);
  }
}

/** Sets which new messages of a channel notify the caller. */
export async function setNotify(chId, level) {
  try {
    const r = await api.inbox.notify(chId, level);
    const c = state.channels.get(chId);
    if (c) c.notify = r.level;
    emit('channels');
  } catch (e) {
    reportError(e, 'Could not change the notifications');
  }
}

/** Opens an activity item or a thread: its message in its channel, in its thread panel if it is a reply. */
export function openMessage(msg) {
  return jumpToMessage(msg).catch((e) => reportError(e, 'Could not open the message'));
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

/** Edits a message; whether the server took the edit (a refusal is reported). */
export async function editMessage(msg, text) {
  try {
    putMessage(await api.messages.edit(msg.id, text));
    return true;
  } catch (e) {
    reportError(e, 'Edit failed');
    return false;
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
