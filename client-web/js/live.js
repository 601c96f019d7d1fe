// @ts-check
// live.js — the one WebSocket per tab: authentication, resume from the last durable
// event_seq per workspace, reconnect with exponential backoff, send/ack of messages by
// client_msg_id (pending sends are re-sent after a reconnect; the server dedups),
// throttled typing frames and presence. A socket can look open with the network gone:
// the browser's offline event, a ping unanswered within PONG_WITHIN (sent every
// PING_EVERY and right after each send) and a hello not received within HELLO_WITHIN
// each drop it and mark the connection offline; a send not acknowledged within
// ACK_WITHIN is marked `stalled`, so that it offers Retry instead of "Sending…".

import { getToken } from './api.js';
import { state, emit, applyEvent, putMessage, savePending } from './store.js';

/** @typedef {import('./protocol.js').ClientFrame} ClientFrame */
/** @typedef {import('./protocol.js').ServerFrame} ServerFrame */

/** @type {WebSocket | null} */
let ws = null;
let attempt = 0;
let reconnectTimer = null;
let stopped = true;
let reqCounter = 0;
const inflight = new Map(); // req -> client_msg_id
let helloSeen = false;

const PING_EVERY = 15000;
const PONG_WITHIN = 5000;
const HELLO_WITHIN = 8000;
const ACK_WITHIN = 10000;
let pingTimer = null; // the heartbeat
let pongTimer = null; // set while a ping waits for its pong
let helloTimer = null;

function setConnection(s) {
  if (state.connection === s) return;
  state.connection = s;
  emit('connection', s);
}

export function start() {
  stopped = false;
  connect();
}

export function stop() {
  stopped = true;
  clearTimeout(reconnectTimer);
  stopWatching();
  inflight.clear();
  if (ws) {
    ws.onclose = null;
    ws.close(1000);
    ws = null;
  }
  state.eventSeq.clear();
  helloSeen = false;
  setConnection('connecting');
}

function url() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/v1/ws`;
}

/**
 * Sends a client frame on a socket.
 * @param {WebSocket} sock
 * @param {ClientFrame} frame
 */
function send(sock, frame) {
  sock.send(JSON.stringify(frame));
}

function connect() {
  clearTimeout(reconnectTimer);
  if (stopped) return;
  const token = getToken();
  if (!token) return;
  const sock = new WebSocket(url());
  ws = sock;
  sock.onopen = () => {
    const resume = [...state.eventSeq].map(([workspace, after]) => ({ workspace, after }));
    send(sock, resume.length ? { type: 'auth', token, resume } : { type: 'auth', token });
    clearTimeout(helloTimer);
    helloTimer = setTimeout(() => ws === sock && connectionLost(), HELLO_WITHIN);
  };
  sock.onmessage = (e) => {
    let frame;
    try {
      frame = JSON.parse(e.data);
    } catch {
      return;
    }
    onFrame(frame);
  };
  sock.onerror = () => {
    /* onclose follows */
  };
  sock.onclose = (e) => {
    if (ws !== sock) return;
    ws = null;
    inflight.clear();
    stopWatching();
    if (stopped) return;
    if (e.code === 4001) {
      // The session ended (signed out, signed out everywhere, password changed
      // elsewhere, expired): never reconnect with this token; main.js signs out.
      stopped = true;
      setConnection('offline');
      emit('unauthenticated');
      return;
    }
    setConnection('offline');
    // 4000: we fell behind; reconnect and resume at once.
    scheduleReconnect(e.code === 4000 ? 0 : null);
  };
}

function scheduleReconnect(delay = null) {
  clearTimeout(reconnectTimer);
  const wait = delay !== null ? delay : Math.min(15000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  attempt++;
  reconnectTimer = setTimeout(connect, wait);
}

/** Reconnect now (the browser came back online, or the user asked), unless a live socket is up. */
export function reconnectSoon() {
  if (stopped || (ws && state.connection === 'online')) return;
  if (ws) drop(ws);
  attempt = 0;
  connect();
}

/** Forgets a socket without waiting for its close (which a dead network may never bring). */
function drop(sock) {
  sock.onclose = null;
  sock.onmessage = null;
  try {
    sock.close();
  } catch {
    /* closing a dead socket may throw; it is gone either way */
  }
  if (ws === sock) ws = null;
}

/**
 * The connection is gone though no close came (the network went away, a ping or the
 * hello went unanswered): drop the socket, show it, and reconnect with backoff.
 */
export function connectionLost() {
  stopWatching();
  if (ws) drop(ws);
  inflight.clear();
  if (stopped) return;
  setConnection('offline');
  stallPending();
  scheduleReconnect();
}

function stopWatching() {
  clearInterval(pingTimer);
  clearTimeout(pongTimer);
  clearTimeout(helloTimer);
  pingTimer = pongTimer = helloTimer = null;
}

let pingCounter = 0;
/** Pings now unless a ping is already out: no pong within PONG_WITHIN means the socket is dead. */
function probe() {
  if (!ws || pongTimer || ws.readyState !== WebSocket.OPEN) return;
  send(ws, { type: 'ping', req: `hb${++pingCounter}` });
  const sock = ws;
  pongTimer = setTimeout(() => ws === sock && connectionLost(), PONG_WITHIN);
}

/** Every pending send offers Retry: it cannot go out now. */
function stallPending() {
  const touched = new Set();
  for (const p of state.pending.values()) {
    if (p.status === 'pending' && !p.stalled) {
      p.stalled = true;
      touched.add(p);
    }
  }
  for (const p of touched) emit('messages', { channel: p.channel, thread: p.thread_root });
}

/** @param {ServerFrame} f */
function onFrame(f) {
  switch (f.type) {
    case 'hello': {
      attempt = 0;
      clearTimeout(helloTimer);
      clearInterval(pingTimer);
      pingTimer = setInterval(probe, PING_EVERY);
      const first = !helloSeen;
      helloSeen = true;
      const resumed = new Set(state.eventSeq.keys());
      for (const w of f.workspaces) {
        // A workspace we did not resume (new, or first connection) starts at its current seq;
        // the caller refetches it over HTTP.
        if (!resumed.has(w.id)) state.eventSeq.set(w.id, w.event_seq);
      }
      setConnection('online');
      emit('hello', { first, workspaces: f.workspaces, user: f.user });
      resendPending();
      break;
    }
    case 'event': {
      const ev = f.event;
      if (!f.ephemeral) {
        const last = state.eventSeq.get(f.workspace);
        if (last !== undefined && f.event_seq <= last) return; // already applied
        state.eventSeq.set(f.workspace, f.event_seq);
      }
      applyEvent(f.workspace, ev);
      break;
    }
    case 'resync':
      emit('resync', f.workspace);
      break;
    case 'ack': {
      inflight.delete(f.req);
      putMessage(f.message);
      emit('pending');
      break;
    }
    case 'pong':
      clearTimeout(pongTimer);
      pongTimer = null;
      break;
    case 'error': {
      if (f.req && inflight.has(f.req)) {
        const id = inflight.get(f.req);
        inflight.delete(f.req);
        const p = state.pending.get(id);
        if (p && f.error.code === 'rate_limited') {
          setTimeout(() => sendPending(p), 1000);
        } else if (p) {
          p.status = 'failed';
          p.error = f.error.message || 'not sent';
          savePending();
          emit('messages', { channel: p.channel, thread: p.thread_root });
        }
      }
      break;
    }
    default:
      break;
  }
}

function isOpen() {
  return !!ws && ws.readyState === WebSocket.OPEN && state.connection === 'online';
}

function sendPending(p) {
  if (!isOpen()) {
    if (state.connection === 'offline' && !p.stalled) {
      p.stalled = true;
      emit('messages', { channel: p.channel, thread: p.thread_root });
    }
    return false;
  }
  const req = `r${++reqCounter}`;
  inflight.set(req, p.client_msg_id);
  p.stalled = false;
  /** @type {ClientFrame} */
  const frame = { type: 'send', req, channel: p.channel, text: p.text, client_msg_id: p.client_msg_id };
  if (p.thread_root) frame.thread_root = p.thread_root;
  send(/** @type {WebSocket} */ (ws), frame);
  // The send tells whether the socket still works: a dead one leaves the ping unanswered.
  probe();
  setTimeout(() => {
    if (state.pending.get(p.client_msg_id) === p && p.status === 'pending' && !p.stalled) {
      p.stalled = true;
      emit('messages', { channel: p.channel, thread: p.thread_root });
    }
  }, ACK_WITHIN);
  return true;
}

function resendPending() {
  const me = state.me && state.me.id;
  // Only the signed-in user's own texts: never another user's left in this browser.
  for (const p of state.pending.values()) if (p.status === 'pending' && p.author === me) sendPending(p);
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** Sends a message optimistically: it shows as pending until the ack (or the event) arrives. */
export function sendMessage(channel, text, threadRoot = null) {
  const p = {
    client_msg_id: newClientId(),
    channel,
    text,
    thread_root: threadRoot,
    created_at: Date.now(),
    author: state.me && state.me.id,
    status: 'pending',
  };
  state.pending.set(p.client_msg_id, p);
  savePending();
  emit('messages', { channel, thread: threadRoot });
  sendPending(p);
  return p;
}

/** Sends a failed or stalled message again; without a live connection, reconnects now (it goes on the hello). */
export function retryPending(id) {
  const p = state.pending.get(id);
  if (!p) return;
  p.status = 'pending';
  p.error = null;
  p.stalled = false;
  savePending();
  emit('messages', { channel: p.channel, thread: p.thread_root });
  if (isOpen()) sendPending(p);
  else reconnectSoon();
}

export function discardPending(id) {
  const p = state.pending.get(id);
  state.pending.delete(id);
  savePending();
  if (p) emit('messages', { channel: p.channel, thread: p.thread_root });
}

const lastTyping = new Map();
/** Sends a typing frame at most every 3 seconds per channel/thread. */
export function typing(channel, threadRoot = null) {
  const key = `${channel}/${threadRoot || ''}`;
  const now = Date.now();
  if (now - (lastTyping.get(key) || 0) < 3000 || !isOpen()) return;
  lastTyping.set(key, now);
  send(/** @type {WebSocket} */ (ws), threadRoot ? { type: 'typing', channel, thread_root: threadRoot } : { type: 'typing', channel });
}

/** @param {'online' | 'away'} status */
export function presence(status) {
  if (isOpen()) send(/** @type {WebSocket} */ (ws), { type: 'presence', status });
}
