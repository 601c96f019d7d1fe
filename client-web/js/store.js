// @ts-check
// store.js — the client's state (session, workspace, channels, members, presence,
// message logs, threads, pending sends, typing) and the reducers that apply server
// events to it. Views subscribe with `on(topic, fn)`; nothing here touches the DOM.

const listeners = new Map();
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}
export function emit(topic, payload) {
  for (const fn of listeners.get(topic) || []) {
    try {
      fn(payload);
    } catch (e) {
      console.warn('listener failed', topic, e);
    }
  }
}

/**
 * @typedef {import('./protocol.js').User} User
 * @typedef {import('./protocol.js').WorkspaceView} WorkspaceView
 * @typedef {import('./protocol.js').ChannelView} ChannelView
 * @typedef {import('./protocol.js').MemberView} MemberView
 * @typedef {import('./protocol.js').Presence} Presence
 * @typedef {import('./protocol.js').Event} Event
 */

export const state = {
  /** @type {User | null} */
  me: null,
  /** @type {WorkspaceView[]} */
  workspaces: [],
  /** @type {string | null} */
  wsId: null,
  /** @type {Map<string, ChannelView>} channel id -> its view (current workspace) */
  channels: new Map(),
  /** @type {Map<string, MemberView>} user id -> member */
  members: new Map(),
  /** @type {Map<string, Presence>} user id -> presence */
  presence: new Map(),
  logs: new Map(), // channel id -> ChannelLog
  threads: new Map(), // root id -> {root, replies: Map id -> Message}
  pending: new Map(), // client_msg_id -> {client_msg_id, channel, text, thread_root, created_at, status, error}
  typing: new Map(), // channel id -> Map(user id -> {until, thread_root})
  eventSeq: new Map(), // workspace id -> last durable event_seq seen
  connection: 'connecting', // connecting | online | offline
  openChannel: null,
  /** @type {string | null} the root of the thread open in the side panel */
  openThread: null,
  /**
   * The threads the caller is in (`GET /workspaces/{ws}/threads`), kept current by
   * live replies: root id -> their read marker and what they have not read of it.
   * @type {Map<string, {last_read_seq: number, unread: number, mentions: number}>}
   */
  myThreads: new Map(),
  /** @type {Set<string>} ids of the messages the caller saved (this workspace) */
  saved: new Set(),
  /**
   * Each opened channel's pinned messages (`GET /channels/{ch}/pins`), the most
   * recently pinned first, kept current by `message.pinned` / `message.unpinned`.
   * @type {Map<string, import('./protocol.js').PinnedMessage[]>}
   */
  pins: new Map(),
};

/** Whether a message is pinned in its channel (as far as the channel's pins are loaded). */
export function isPinned(/** @type {{id: string, channel: string}} */ m) {
  const list = state.pins.get(m.channel);
  return !!list && list.some((p) => p.message.id === m.id);
}

/** Drops a message from its channel's pins (unpinned, or deleted). */
function dropPin(/** @type {string} */ channel, /** @type {string} */ id) {
  const list = state.pins.get(channel);
  if (!list || !list.some((p) => p.message.id === id)) return;
  state.pins.set(channel, list.filter((p) => p.message.id !== id));
  emit('pins', channel);
  emit('messages', { channel });
}

export function currentWorkspace() {
  return state.workspaces.find((w) => w.id === state.wsId) || null;
}
export function myRole() {
  const ws = currentWorkspace();
  return ws ? ws.role : null;
}

export function userName(id) {
  if (state.me && id === state.me.id) return state.me.display_name || state.me.username;
  const m = state.members.get(id);
  return m ? m.display_name || m.username : 'Unknown user';
}
export function userHandle(id) {
  const m = state.members.get(id) || (state.me && state.me.id === id ? state.me : null);
  return m ? m.username : null;
}
export function memberByUsername(name) {
  const lower = name.toLowerCase();
  for (const m of state.members.values()) if (m.username && m.username.toLowerCase() === lower) return m;
  return null;
}
export function channelByName(name) {
  for (const c of state.channels.values()) if (c.kind !== 'dm' && c.name === name) return c;
  return null;
}

/** A DM's title: the other participants' names. */
export function channelTitle(c) {
  if (!c) return '';
  if (c.kind === 'dm') {
    const others = (c.dm_members || []).filter((u) => !state.me || u.id !== state.me.id);
    if (!others.length) return `${userName(state.me && state.me.id)} (you)`;
    return others.map((u) => u.display_name || u.username).join(', ');
  }
  return c.name;
}

// ---- Message logs ------------------------------------------------------------

/**
 * The loaded, contiguous window of one channel's messages (thread replies included,
 * since they share the channel's seq numbering; views hide them).
 */
export class ChannelLog {
  constructor(channel) {
    this.channel = channel;
    this.byId = new Map();
    this.list = []; // sorted by seq
    this.hasOlder = true;
    this.hasNewer = false; // true when the window does not reach the newest message
    this.loaded = false;
    this.version = 0;
  }
  get minSeq() {
    return this.list.length ? this.list[0].seq : null;
  }
  get maxSeq() {
    return this.list.length ? this.list[this.list.length - 1].seq : null;
  }
  /** Inserts or replaces; returns true if it was new. */
  upsert(msg) {
    const old = this.byId.get(msg.id);
    this.byId.set(msg.id, msg);
    this.version++;
    if (old) {
      const i = this.list.indexOf(old);
      if (i >= 0) this.list[i] = msg;
      return false;
    }
    // Insert keeping seq order (usually at the end).
    let i = this.list.length;
    while (i > 0 && this.list[i - 1].seq > msg.seq) i--;
    this.list.splice(i, 0, msg);
    return true;
  }
  clear() {
    this.byId.clear();
    this.list = [];
    this.hasOlder = true;
    this.hasNewer = false;
    this.loaded = false;
    this.version++;
  }
}

export function log(channel) {
  if (!state.logs.has(channel)) state.logs.set(channel, new ChannelLog(channel));
  return state.logs.get(channel);
}

function findMessage(id) {
  for (const l of state.logs.values()) {
    const m = l.byId.get(id);
    if (m) return m;
  }
  for (const t of state.threads.values()) {
    if (t.root.id === id) return t.root;
    const r = t.replies.get(id);
    if (r) return r;
  }
  return null;
}
export { findMessage };

/** Puts a message everywhere it is shown (channel log, thread) and settles its pending send. */
export function putMessage(msg, { live = false } = {}) {
  if (msg.client_msg_id && state.pending.has(msg.client_msg_id)) {
    const p = state.pending.get(msg.client_msg_id);
    if (p.channel === msg.channel) {
      state.pending.delete(msg.client_msg_id);
      savePending();
    }
  }
  const l = state.logs.get(msg.channel);
  let isNew = false;
  if (l && !l.loaded && l.buffer) l.buffer.push(msg);
  if (l && l.loaded) {
    const known = l.byId.has(msg.id);
    // A live message beyond a detached window is not inserted (the window is filled on scroll).
    if (known || !live || !l.hasNewer) isNew = l.upsert(msg);
  }
  if (msg.thread_root && state.threads.has(msg.thread_root)) {
    const t = state.threads.get(msg.thread_root);
    if (!t.replies.has(msg.id)) isNew = true;
    t.replies.set(msg.id, msg);
  }
  if (state.threads.has(msg.id)) state.threads.get(msg.id).root = msg;
  emit('messages', { channel: msg.channel, thread: msg.thread_root || msg.id });
  return isNew;
}

function patchMessage(id, fn) {
  const touched = new Set();
  for (const l of state.logs.values()) {
    const m = l.byId.get(id);
    if (m) {
      const next = fn({ ...m });
      l.upsert(next);
      touched.add(m.channel);
    }
  }
  for (const t of state.threads.values()) {
    if (t.root.id === id) {
      t.root = fn({ ...t.root });
      touched.add(t.root.channel);
    }
    if (t.replies.has(id)) {
      const r = fn({ ...t.replies.get(id) });
      t.replies.set(id, r);
      touched.add(r.channel);
    }
  }
  for (const ch of touched) emit('messages', { channel: ch });
}

export function setReaction(id, emoji, user, added) {
  patchMessage(id, (m) => {
    const reactions = (m.reactions || []).map((r) => ({ emoji: r.emoji, users: [...r.users] }));
    let r = reactions.find((x) => x.emoji === emoji);
    if (added) {
      if (!r) reactions.push((r = { emoji, users: [] }));
      if (!r.users.includes(user)) r.users.push(user);
    } else if (r) {
      r.users = r.users.filter((u) => u !== user);
    }
    m.reactions = reactions.filter((x) => x.users.length);
    return m;
  });
}

// ---- Pending sends (optimistic messages) --------------------------------------

// Kept per user (`confab.pending.<user id>`), and each entry names its author: a
// text typed by one user is never sent as another who signs in on the same browser.
// Every sign-out path calls clearLocalData().
const LEGACY_PENDING_KEY = 'confab.pending';
const pendingKey = (user) => `confab.pending.${user}`;
export function loadPending() {
  state.pending.clear();
  const me = state.me && state.me.id;
  // An entry from before pending texts were kept per user cannot be attributed safely
  // unless it names its author.
  const legacy = localStorage.getItem(LEGACY_PENDING_KEY);
  localStorage.removeItem(LEGACY_PENDING_KEY);
  if (!me) return;
  for (const raw of [legacy, localStorage.getItem(pendingKey(me))]) {
    try {
      const list = JSON.parse(raw || '[]');
      for (const p of list) {
        if (p && p.client_msg_id && p.author === me) state.pending.set(p.client_msg_id, { ...p, status: 'pending' });
      }
    } catch {
      /* ignore a corrupt entry */
    }
  }
  savePending();
}
export function savePending() {
  const me = state.me && state.me.id;
  if (!me) return;
  const list = [...state.pending.values()].filter((p) => p.status !== 'failed' && p.author === me);
  if (list.length) localStorage.setItem(pendingKey(me), JSON.stringify(list));
  else localStorage.removeItem(pendingKey(me));
}

/** A composer draft's storage key: per user, channel and thread. */
export function draftKey(channel, root) {
  const me = state.me && state.me.id;
  return `confab.draft.${me || 'anon'}.${channel}${root ? `.${root}` : ''}`;
}

/**
 * Forgets everything unsent that this browser keeps: pending texts and drafts (every
 * user's, since only one may be signed in here; plus legacy unkeyed entries). Called
 * on every way a session ends: sign-out, a 401, a WebSocket closed with 4001.
 */
export function clearLocalData() {
  state.pending.clear();
  const drop = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && (k === LEGACY_PENDING_KEY || k.startsWith('confab.pending.') || k.startsWith('confab.draft.'))) drop.push(k);
  }
  for (const k of drop) localStorage.removeItem(k);
}
export function pendingFor(channel, threadRoot = null) {
  return [...state.pending.values()].filter((p) => p.channel === channel && (p.thread_root || null) === threadRoot);
}

// ---- Channel list --------------------------------------------------------------

export function setChannels(list) {
  state.channels = new Map(list.map((c) => [c.id, c]));
  emit('channels');
}

export function updateChannel(channel) {
  const old = state.channels.get(channel.id);
  if (old) state.channels.set(channel.id, { ...old, ...channel });
  emit('channels');
}

/**
 * What waits for the reader in this workspace, for the tab's title: unread mentions
 * in their channels (thread replies included) and unread messages in their DMs.
 */
export function attentionCount() {
  let n = 0;
  for (const c of state.channels.values()) {
    if (!c.is_member || c.archived) continue;
    n += c.kind === 'dm' ? c.unread_count || 0 : c.mention_count || 0;
  }
  return n;
}

// ---- Typing ---------------------------------------------------------------------

export function typingIn(channel, threadRoot = null) {
  const m = state.typing.get(channel);
  if (!m) return [];
  const now = Date.now();
  const out = [];
  for (const [user, t] of m) {
    if (t.until < now) m.delete(user);
    else if ((t.thread_root || null) === threadRoot) out.push(user);
  }
  return out;
}

// ---- Threads and mentions in them ------------------------------------------------

/** Whether the caller is looking at the thread of `root` now (its view marks it read). */
export function readingThread(root) {
  return state.openThread === root && document.visibilityState === 'visible';
}

/**
 * A new reply in a thread: the caller's own makes them a member with all read; one
 * of someone else's counts as unread in a thread they are in (a thread whose root is
 * theirs counts from its first reply), and as an unread mention of them in the
 * channel (which reading the channel leaves unread) until they read the thread.
 * @param {import('./protocol.js').Message} msg
 * @param {ChannelView | undefined} c
 */
function noteReply(msg, c) {
  const me = state.me && state.me.id;
  const root = /** @type {string} */ (msg.thread_root);
  if (msg.author === me) {
    state.myThreads.set(root, { last_read_seq: msg.seq, unread: 0, mentions: 0 });
    emit('threads-changed');
    return;
  }
  let t = state.myThreads.get(root);
  if (!t) {
    const r = findMessage(root);
    if (r && r.author === me) state.myThreads.set(root, (t = { last_read_seq: 0, unread: 0, mentions: 0 }));
  }
  const mentioned = msg.mentions.includes(me);
  if (t) emit('activity-changed');
  if (readingThread(root)) return;
  if (t && msg.seq > t.last_read_seq) {
    t.unread += 1;
    if (mentioned) t.mentions += 1;
  }
  if (mentioned && c && c.is_member) {
    c.mention_count += 1;
    c.thread_mention_count = (c.thread_mention_count || 0) + 1;
    emit('channels');
  }
  emit('threads-changed');
}

// ---- Applying server events --------------------------------------------------------

/** Applies one WebSocket `event` frame's payload for the current workspace. */
/**
 * Applies one event of workspace `ws`.
 * @param {string} ws
 * @param {Event} ev
 */
export function applyEvent(ws, ev) {
  const me0 = state.me && state.me.id;
  if (ev.kind === 'member.left' && !ev.channel && ev.user === me0) {
    // Removed from the workspace (or left it elsewhere): main.js drops it at once.
    emit('workspace-removed', ws);
    return;
  }
  if (ev.kind === 'workspace.updated') {
    // Renamed: the switcher lists every workspace, so this applies to any of them.
    // Only the name is taken: the listed record also carries the caller's role.
    const w = state.workspaces.find((x) => x.id === ev.workspace.id);
    if (w && w.name !== ev.workspace.name) {
      w.name = ev.workspace.name;
      emit('workspaces');
    }
    return;
  }
  if (ws !== state.wsId) {
    emit('other-workspace-event', { ws, ev });
    return;
  }
  const me = state.me && state.me.id;
  switch (ev.kind) {
    case 'message.created': {
      const msg = ev.message;
      const isNew = putMessage(msg, { live: true });
      const c = state.channels.get(msg.channel);
      // A message replayed after a reconnect may be counted already (in a channel
      // not listed yet, a new DM say, it is taken as new).
      const fresh = c ? msg.seq > c.last_seq : true;
      if (c) {
        c.last_seq = Math.max(c.last_seq, msg.seq);
        const reading = state.openChannel === msg.channel && document.visibilityState === 'visible';
        if (fresh && msg.author !== me && !reading && !msg.thread_root) {
          c.unread_count += 1;
          if (msg.mentions.includes(me) || c.kind === 'dm') c.mention_count += 1;
        }
        emit('channels');
      }
      if (fresh && msg.thread_root) noteReply(msg, c);
      if (fresh && msg.author !== me && msg.mentions.includes(me)) emit('activity-changed');
      // Each new message once, for desktop notifications (notify.js).
      if (fresh) emit('message-live', msg);
      // A message clears the author's typing indicator.
      const t = state.typing.get(msg.channel);
      if (t && t.delete(msg.author)) emit('typing', msg.channel);
      if (isNew) emit('message-arrived', msg);
      break;
    }
    case 'message.updated':
      putMessage(ev.message, { live: true });
      break;
    case 'message.deleted':
      patchMessage(ev.message_id, (m) => ({ ...m, deleted: true, text: '', reactions: [] }));
      // Deleting a message unpins it (the server in the same write).
      dropPin(ev.channel, ev.message_id);
      break;
    case 'message.pinned':
      // The list carries the message and who pinned it: fetched again (app.js).
      if (state.pins.has(ev.channel)) emit('pins-stale', ev.channel);
      break;
    case 'message.unpinned':
      dropPin(ev.channel, ev.message_id);
      break;
    case 'reaction.added':
      setReaction(ev.message_id, ev.emoji, ev.user, true);
      break;
    case 'reaction.removed':
      setReaction(ev.message_id, ev.emoji, ev.user, false);
      break;
    case 'channel.created':
    case 'channel.updated': {
      const c = ev.channel;
      if (state.channels.has(c.id)) updateChannel(c);
      emit('channels-stale');
      break;
    }
    case 'member.joined':
    case 'member.left':
      if (!ev.channel || ev.user === me) emit('channels-stale');
      if (!ev.channel) emit('members-stale');
      else {
        const c = state.channels.get(ev.channel);
        if (c) {
          c.member_count = Math.max(0, (c.member_count || 0) + (ev.kind === 'member.joined' ? 1 : -1));
          emit('channels');
        }
        emit('channel-members-changed', { channel: ev.channel, user: ev.user, kind: ev.kind });
      }
      break;
    case 'member.updated': {
      const m = state.members.get(ev.user);
      if (m) m.role = ev.role;
      if (ev.user === me) {
        const w = currentWorkspace();
        if (w) w.role = ev.role;
        emit('workspaces');
      }
      emit('members');
      break;
    }
    case 'user.updated':
      // Someone changed their profile; the event names only who: fetch it again.
      emit('members-stale');
      emit('channels-stale'); // DM titles carry names too
      if (ev.user === me) emit('me-stale');
      break;
    case 'read.updated': {
      if (ev.user !== me) break;
      if (ev.thread_root) {
        // A thread was read (or marked unread) here or in another session: its
        // counts come from the server.
        const t = state.myThreads.get(ev.thread_root);
        if (t) t.last_read_seq = ev.seq;
        emit('threads-stale');
        emit('channels-stale');
        break;
      }
      const c = state.channels.get(ev.channel);
      if (c) {
        // It moves back too ("mark as unread", maybe in another session).
        const back = ev.seq < (c.last_read_seq || 0);
        c.last_read_seq = ev.seq;
        if (ev.seq >= (c.last_seq || 0)) {
          c.unread_count = 0;
          c.mention_count = c.thread_mention_count || 0;
        }
        if (back) emit('channels-stale');
        emit('channels');
      }
      break;
    }
    case 'typing': {
      if (ev.user === me) break;
      if (!state.typing.has(ev.channel)) state.typing.set(ev.channel, new Map());
      state.typing.get(ev.channel).set(ev.user, { until: Date.now() + 6000, thread_root: ev.thread_root || null });
      emit('typing', ev.channel);
      break;
    }
    case 'presence':
      state.presence.set(ev.user, ev.status);
      emit('presence', ev.user);
      break;
    case 'consent.changed':
      emit('consent-changed', ev);
      break;
    default:
      break;
  }
}
