// @ts-check
// live.js — the one WebSocket per tab: authentication, resume from the last durable
// event_seq per workspace, reconnect with exponential backoff, send/ack of messages by
// client_msg_id (pending sends are re-sent after a reconnect; the server dedups),
// throttled typing frames and presence.

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
    const delay = e.code === 4000 ? 0 : Math.min(15000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt++;
    reconnectTimer = setTimeout(connect, delay);
  };
}

/** Reconnect now (e.g. the browser came back online). */
export function reconnectSoon() {
  if (stopped || (ws && ws.readyState <= 1)) return;
  attempt = 0;
  connect();
}

/** @param {ServerFrame} f */
function onFrame(f) {
  switch (f.type) {
    case 'hello': {
      attempt = 0;
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
  if (!isOpen()) return false;
  const req = `r${++reqCounter}`;
  inflight.set(req, p.client_msg_id);
  /** @type {ClientFrame} */
  const frame = { type: 'send', req, channel: p.channel, text: p.text, client_msg_id: p.client_msg_id };
  if (p.thread_root) frame.thread_root = p.thread_root;
  send(/** @type {WebSocket} */ (ws), frame);
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

export function retryPending(id) {
  const p = state.pending.get(id);
  if (!p) return;
  p.status = 'pending';
  p.error = null;
  savePending();
  emit('messages', { channel: p.channel, thread: p.thread_root });
  sendPending(p);
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
