// @ts-check
// api.js — the HTTP side of the Confab API (/api/v1): the session token, JSON
// requests, typed errors, what the server offers (`GET /features`), and one typed
// call per route. The shapes are declared once, in protocol.js.

/**
 * @typedef {import('./protocol.js').Session} Session
 * @typedef {import('./protocol.js').User} User
 * @typedef {import('./protocol.js').WorkspaceView} WorkspaceView
 * @typedef {import('./protocol.js').Workspace} Workspace
 * @typedef {import('./protocol.js').Invite} Invite
 * @typedef {import('./protocol.js').InvitePreview} InvitePreview
 * @typedef {import('./protocol.js').MemberView} MemberView
 * @typedef {import('./protocol.js').PresenceEntry} PresenceEntry
 * @typedef {import('./protocol.js').Channel} Channel
 * @typedef {import('./protocol.js').ChannelView} ChannelView
 * @typedef {import('./protocol.js').ChannelMemberView} ChannelMemberView
 * @typedef {import('./protocol.js').Message} Message
 * @typedef {import('./protocol.js').Thread} Thread
 * @typedef {import('./protocol.js').SearchAnswer} SearchAnswer
 * @typedef {import('./protocol.js').EmojiSuggestion} EmojiSuggestion
 * @typedef {import('./protocol.js').ChannelSuggestion} ChannelSuggestion
 * @typedef {import('./protocol.js').Features} Features
 * @typedef {import('./protocol.js').Policy} Policy
 * @typedef {import('./protocol.js').ConsentView} ConsentView
 * @typedef {import('./protocol.js').FileInfo} FileInfo
 * @typedef {import('./protocol.js').FilePosted} FilePosted
 * @typedef {import('./protocol.js').UpdateProfile} UpdateProfile
 * @typedef {import('./protocol.js').Bot} Bot
 * @typedef {import('./protocol.js').NewBot} NewBot
 * @typedef {import('./protocol.js').Webhook} Webhook
 * @typedef {import('./protocol.js').NewWebhook} NewWebhook
 * @typedef {import('./protocol.js').RetentionPolicy} RetentionPolicy
 * @typedef {import('./protocol.js').ChannelRetention} ChannelRetention
 * @typedef {import('./protocol.js').ErasurePolicy} ErasurePolicy
 */

const BASE = '/api/v1';
const TOKEN_KEY = 'confab.token';

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {string | null} [retryAfter]
   */
  constructor(status, code, message, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}
/** @param {string | null} token */
export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/**
 * Handlers the app installs: called when the token stops working.
 * @type {{onUnauthenticated: (e: ApiError) => void}}
 */
export const hooks = { onUnauthenticated: () => {} };

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {{signal?: AbortSignal, noAuthHook?: boolean}} [opts]
 * @returns {Promise<any>}
 */
export async function request(method, path, body, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the server');
  }
  if (res.status === 204) return null;
  const data = parseJson(await res.text());
  if (!res.ok) throw failure(res.status, data, res.headers.get('Retry-After'), !!token && !opts.noAuthHook);
  return data;
}

/** @param {string} text */
function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The error of a failed answer; a 401 to a request that carried the token also tells
 * the app the session has ended.
 * @param {number} status
 * @param {any} data  The parsed body, if it was JSON.
 * @param {string | null} retryAfter
 * @param {boolean} sessionHook
 */
function failure(status, data, retryAfter, sessionHook) {
  const err = (data && data.error) || {};
  const e = new ApiError(status, err.code || 'http_error', err.message || `HTTP ${status}`, retryAfter);
  if (status === 401 && sessionHook) hooks.onUnauthenticated(e);
  return e;
}

function abortError() {
  return new DOMException('The upload was cancelled', 'AbortError');
}

/** @typedef {{signal?: AbortSignal, noAuthHook?: boolean}} Opts */
/** @type {(path: string, opts?: Opts) => Promise<any>} */
export const get = (path, opts) => request('GET', path, undefined, opts);
/** @type {(path: string, body?: unknown, opts?: Opts) => Promise<any>} */
export const post = (path, body, opts) => request('POST', path, body === undefined ? {} : body, opts);
/** @type {(path: string, body?: unknown, opts?: Opts) => Promise<any>} */
export const put = (path, body, opts) => request('PUT', path, body, opts);
/** @type {(path: string, body?: unknown, opts?: Opts) => Promise<any>} */
export const patch = (path, body, opts) => request('PATCH', path, body, opts);
/** @type {(path: string, opts?: Opts) => Promise<any>} */
export const del = (path, opts) => request('DELETE', path, undefined, opts);

const enc = encodeURIComponent;
/** @param {Record<string, string | number | undefined | null>} params */
export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${enc(k)}=${enc(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * What this server offers, from `GET /features` ([`loadFeatures`]): each flag is
 * `undefined` until then. Views hide a feature's UI while it is false.
 * @type {{search?: boolean, emojiSuggest?: boolean, channelSuggest?: boolean, consent?: boolean}}
 */
export const features = {};
/** @typedef {keyof typeof features} FeatureName */
/** @type {Set<(name: FeatureName, value: boolean) => void>} */
const featureListeners = new Set();
/** @param {(name: FeatureName, value: boolean) => void} fn */
export function onFeatureChange(fn) {
  featureListeners.add(fn);
  return () => featureListeners.delete(fn);
}
/**
 * @param {FeatureName} name
 * @param {boolean} value
 */
function setFeature(name, value) {
  if (features[name] === value) return;
  features[name] = value;
  for (const fn of featureListeners) fn(name, value);
}

/**
 * The server's limits, from `GET /features`: undefined until then (or from a server
 * that does not say), and the client then leaves the checking to the server.
 * @type {{maxMessageChars?: number}}
 */
export const limits = {};

/** Asks the server what it offers; the flags change (and listeners hear) once. */
export async function loadFeatures() {
  /** @type {Features} */
  const f = await get('/features');
  setFeature('search', f.search);
  setFeature('emojiSuggest', f.emoji_suggest);
  setFeature('channelSuggest', f.channel_suggest);
  if (typeof f.max_message_chars === 'number') limits.maxMessageChars = f.max_message_chars;
  setFeature('consent', f.consent);
  return features;
}

// ---- Typed calls -------------------------------------------------------------

export const auth = {
  /** @type {(b: {email: string, password: string, display_name: string, username?: string, invite?: string}) => Promise<Session>} */
  signup: (b) => post('/auth/signup', b, { noAuthHook: true }),
  /** @type {(b: {email: string, password: string}) => Promise<Session>} */
  login: (b) => post('/auth/login', b, { noAuthHook: true }),
  /** @type {() => Promise<null>} */
  logout: () => post('/auth/logout', undefined, { noAuthHook: true }),
  /** @type {() => Promise<User>} */
  me: () => get('/me'),
  /** @type {(b: UpdateProfile) => Promise<User>} One's own display name, status and time zone. */
  updateProfile: (b) => patch('/me', b),
  /** @type {(image: Blob) => Promise<User>} One's own picture: the server makes a square PNG of it. */
  setAvatar: (image) => sendBody('PUT', '/me/avatar', image),
  /** @type {() => Promise<User>} */
  removeAvatar: () => del('/me/avatar'),
};

export const workspaces = {
  /** @type {() => Promise<WorkspaceView[]>} */
  list: () => get('/workspaces').then((r) => r.workspaces),
  /** @type {(name: string) => Promise<WorkspaceView>} */
  create: (name) => post('/workspaces', { name }),
  /** @type {(ws: string, body?: {max_uses?: number, expires_in_hours?: number, role?: 'member' | 'guest'}) => Promise<Invite>} */
  invite: (ws, body) => post(`/workspaces/${ws}/invites`, body || {}),
  /** @type {(ws: string, name: string) => Promise<Workspace>} */
  rename: (ws, name) => patch(`/workspaces/${ws}`, { name }),
  /** @type {(code: string) => Promise<InvitePreview>} Where an invite leads, before accepting it. */
  preview: (code) => get(`/invites/${enc(code)}`),
  /** @type {(code: string) => Promise<WorkspaceView>} */
  accept: (code) => post(`/invites/${enc(code)}/accept`),
  /** @type {(ws: string) => Promise<MemberView[]>} */
  members: (ws) => get(`/workspaces/${ws}/members`).then((r) => r.members),
  /** @type {(ws: string, user: string, role: string) => Promise<MemberView>} */
  setRole: (ws, user, role) => patch(`/workspaces/${ws}/members/${user}`, { role }),
  /** @type {(ws: string, user: string) => Promise<null>} */
  removeMember: (ws, user) => del(`/workspaces/${ws}/members/${user}`),
  /** @type {(ws: string) => Promise<Invite[]>} */
  invites: (ws) => get(`/workspaces/${ws}/invites`).then((r) => r.invites),
  /** @type {(ws: string, code: string) => Promise<null>} */
  revokeInvite: (ws, code) => del(`/workspaces/${ws}/invites/${enc(code)}`),
  /** @type {(ws: string) => Promise<PresenceEntry[]>} */
  presence: (ws) => get(`/workspaces/${ws}/presence`).then((r) => r.presence),
};

export const channels = {
  /** @type {(ws: string) => Promise<ChannelView[]>} */
  list: (ws) => get(`/workspaces/${ws}/channels`).then((r) => r.channels),
  /** @type {(ws: string, body: {name: string, private?: boolean, topic?: string}) => Promise<Channel>} */
  create: (ws, body) => post(`/workspaces/${ws}/channels`, body),
  /** @type {(ws: string, users: string[]) => Promise<Channel>} */
  dm: (ws, users) => post(`/workspaces/${ws}/dms`, { users }),
  /** @type {(ch: string) => Promise<Channel>} */
  get: (ch) => get(`/channels/${ch}`),
  /** @type {(ch: string, body: {name?: string, topic?: string, archived?: boolean}) => Promise<Channel>} */
  update: (ch, body) => patch(`/channels/${ch}`, body),
  /** @type {(ch: string) => Promise<Channel>} */
  join: (ch) => post(`/channels/${ch}/join`),
  /** @type {(ch: string) => Promise<null>} */
  leave: (ch) => post(`/channels/${ch}/leave`),
  /** @type {(ch: string, user: string) => Promise<null>} */
  addMember: (ch, user) => post(`/channels/${ch}/members`, { user }),
  /** @type {(ch: string) => Promise<ChannelMemberView[]>} */
  members: (ch) => get(`/channels/${ch}/members`).then((r) => r.members),
  /** @type {(ch: string, user: string) => Promise<null>} */
  removeMember: (ch, user) => del(`/channels/${ch}/members/${user}`),
  /** @type {(ch: string, params: {before?: number, after?: number, limit?: number}) => Promise<Message[]>} */
  history: (ch, params) => get(`/channels/${ch}/messages${qs(params)}`).then((r) => r.messages),
  /** @type {(ch: string, body: {text: string, thread_root?: string, client_msg_id?: string}) => Promise<Message>} */
  post: (ch, body) => post(`/channels/${ch}/messages`, body),
  /** @type {(ch: string, seq: number) => Promise<{seq: number}>} */
  read: (ch, seq) => post(`/channels/${ch}/read`, { seq }),
};

export const messages = {
  /** @type {(id: string) => Promise<Message>} */
  get: (id) => get(`/messages/${id}`),
  /** @type {(id: string) => Promise<Thread>} */
  thread: (id) => get(`/messages/${id}/thread`),
  /** @type {(id: string, text: string) => Promise<Message>} */
  edit: (id, text) => patch(`/messages/${id}`, { text }),
  /** @type {(id: string) => Promise<null>} */
  remove: (id) => del(`/messages/${id}`),
  /** @type {(id: string, emoji: string) => Promise<Message>} */
  react: (id, emoji) => put(`/messages/${id}/reactions/${enc(emoji)}`),
  /** @type {(id: string, emoji: string) => Promise<Message>} */
  unreact: (id, emoji) => del(`/messages/${id}/reactions/${enc(emoji)}`),
};

/**
 * Uploads files to a channel (`multipart/form-data`, one `file` part each), which posts
 * them as one message with the optional `text`. XMLHttpRequest rather than fetch: it
 * reports upload progress.
 * @param {string} ch
 * @param {{file: Blob, name: string}[]} parts
 * @param {string} text
 * @param {{onProgress?: (sent: number, total: number) => void, signal?: AbortSignal, threadRoot?: string | null}} [opts]
 *   `threadRoot`: the message is a reply in that thread.
 * @returns {Promise<FilePosted>}
 */
function upload(ch, parts, text, opts = {}) {
  const size = parts.reduce((sum, p) => sum + p.file.size, 0);
  return new Promise((resolve, reject) => {
    if (opts.signal && opts.signal.aborted) {
      reject(abortError());
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${BASE}/channels/${ch}/files${opts.threadRoot ? `?thread_root=${enc(opts.threadRoot)}` : ''}`);
    const token = getToken();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => opts.onProgress && opts.onProgress(e.loaded, e.lengthComputable ? e.total : size);
    xhr.onload = () => {
      const data = parseJson(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
      else reject(failure(xhr.status, data, xhr.getResponseHeader('Retry-After'), !!token));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'Cannot reach the server'));
    xhr.onabort = () => reject(abortError());
    if (opts.signal) opts.signal.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    if (text) form.append('text', text);
    for (const p of parts) form.append('file', p.file, p.name);
    xhr.send(form);
  });
}

/**
 * A file's bytes (or its thumbnail's), fetched with the session's token: an <img src>
 * or a link could not send it.
 * @param {string} id
 * @param {boolean} thumb
 * @returns {Promise<Blob>}
 */
async function bytes(id, thumb) {
  return blobAt(`/files/${id}${thumb ? '/thumb' : ''}`);
}

/** A member's picture, fetched with the session's token. @param {string} user */
export function avatarBytes(user) {
  return blobAt(`/users/${user}/avatar`);
}

/** The body at `path`, fetched with the session's token. @param {string} path */
async function blobAt(path) {
  const token = getToken();
  let res;
  try {
    res = await fetch(`${BASE}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server');
  }
  if (!res.ok) throw failure(res.status, parseJson(await res.text()), res.headers.get('Retry-After'), !!token);
  return res.blob();
}

/**
 * Sends `body` as it is (not JSON) and parses the JSON answer.
 * @param {string} method
 * @param {string} path
 * @param {Blob} body
 */
async function sendBody(method, path, body) {
  const token = getToken();
  let res;
  try {
    res = await fetch(`${BASE}${path}`, { method, body, headers: token ? { Authorization: `Bearer ${token}` } : {} });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server');
  }
  const data = parseJson(await res.text());
  if (!res.ok) throw failure(res.status, data, res.headers.get('Retry-After'), !!token);
  return data;
}

export const bots = {
  /** @type {(ws: string) => Promise<Bot[]>} */
  list: (ws) => get(`/workspaces/${ws}/bots`).then((r) => r.bots),
  /** @type {(ws: string, name: string) => Promise<NewBot>} */
  create: (ws, name) => post(`/workspaces/${ws}/bots`, { name }),
  /** @type {(ws: string, bot: string) => Promise<null>} Its token stops working at once. */
  revoke: (ws, bot) => del(`/workspaces/${ws}/bots/${bot}`),
};

export const webhooks = {
  /** @type {(ws: string) => Promise<Webhook[]>} */
  list: (ws) => get(`/workspaces/${ws}/webhooks`).then((r) => r.webhooks),
  /** @type {(ws: string, channel: string) => Promise<NewWebhook>} */
  create: (ws, channel) => post(`/workspaces/${ws}/webhooks`, { channel }),
  /** @type {(ws: string, id: string) => Promise<null>} Its URL answers 404 at once. */
  revoke: (ws, id) => del(`/workspaces/${ws}/webhooks/${enc(id)}`),
};

export const lifecycle = {
  /** @type {(ws: string) => Promise<RetentionPolicy>} */
  retention: (ws) => get(`/workspaces/${ws}/retention`),
  /** @type {(ws: string, days: number | null) => Promise<RetentionPolicy>} */
  setRetention: (ws, days) => put(`/workspaces/${ws}/retention`, { days }),
  /** @type {(ch: string) => Promise<ChannelRetention>} */
  channelRetention: (ch) => get(`/channels/${ch}/retention`),
  /** @type {(ch: string, days: number | null) => Promise<ChannelRetention>} The channel's own policy. */
  setChannelRetention: (ch, days) => put(`/channels/${ch}/retention`, { days }),
  /** @type {(ch: string) => Promise<ChannelRetention>} The workspace's policy applies again. */
  inheritRetention: (ch) => del(`/channels/${ch}/retention`),
  /** @type {(ws: string) => Promise<ErasurePolicy>} */
  erasure: (ws) => get(`/workspaces/${ws}/erasure`),
  /** @type {(ws: string, messages: ErasurePolicy['messages']) => Promise<ErasurePolicy>} */
  setErasure: (ws, messages) => put(`/workspaces/${ws}/erasure`, { messages }),
};

export const files = {
  upload,
  bytes,
  /** @type {(id: string) => Promise<FileInfo>} */
  info: (id) => get(`/files/${id}/info`),
  /** @type {(id: string) => Promise<null>} Takes the file out of its message. */
  remove: (id) => del(`/files/${id}`),
};

export const search = {
  /** @type {(ws: string, q: string, limit?: number, signal?: AbortSignal, offset?: number) => Promise<SearchAnswer>} */
  query: (ws, q, limit = 20, signal, offset = 0) => get(`/workspaces/${ws}/search${qs({ q, limit, offset: offset || undefined })}`, { signal }),
  /** @type {(ws: string, body: {query_id: string, message: string}) => Promise<null>} */
  click: (ws, body) => post(`/workspaces/${ws}/search/clicks`, body),
};

export const suggest = {
  /** @type {(ws: string, prefix: string, limit?: number) => Promise<EmojiSuggestion[]>} */
  emojiPrefix: (ws, prefix, limit = 8) =>
    get(`/workspaces/${ws}/emoji/suggest${qs({ prefix, limit })}`).then((r) => r.suggestions),
  /** @type {(ws: string, text: string, limit?: number) => Promise<EmojiSuggestion[]>} */
  emojiText: (ws, text, limit = 8) =>
    get(`/workspaces/${ws}/emoji/suggest${qs({ text: text.slice(0, 500), limit })}`).then((r) => r.suggestions),
  /** @type {(ws: string, limit?: number) => Promise<ChannelSuggestion[]>} */
  channels: (ws, limit = 5) => get(`/workspaces/${ws}/channels/suggested${qs({ limit })}`).then((r) => r.suggestions),
};

export const consent = {
  /** @type {() => Promise<Policy[]>} Every purpose's policy, with the categories it may read. */
  policies: () => get('/consent/policies').then((r) => r.policies),
  /** @type {(ws: string) => Promise<ConsentView>} */
  state: (ws) => get(`/workspaces/${ws}/consent`),
  /** @type {(ws: string, purpose: string) => Promise<any>} Exactly the records a run would read now. */
  preview: (ws, purpose) => get(`/workspaces/${ws}/consent/preview${qs({ purpose })}`),
  /** @type {(ws: string) => Promise<import('./protocol.js').ModelView[]>} The models that learned from or may serve this workspace (owners and admins). */
  models: (ws) => get(`/workspaces/${ws}/models`).then((r) => r.models),
  /** @type {(ws: string) => Promise<any>} The ledger entries and their verification. */
  history: (ws) => get(`/workspaces/${ws}/consent/history`),
  /** @type {(ws: string, purpose: string, body: object) => Promise<ConsentView>} */
  set: (ws, purpose, body) => put(`/workspaces/${ws}/consent/${enc(purpose)}`, body),
  /** @type {(ws: string, purpose: string, included: boolean) => Promise<ConsentView>} */
  setMine: (ws, purpose, included) => put(`/workspaces/${ws}/consent/${enc(purpose)}/me`, { included }),
};

/** What not to miss: the caller's activity, their threads and their read markers in threads. */
export const inbox = {
  /** @type {(ws: string, before?: string | null, limit?: number) => Promise<import('./protocol.js').ActivityPage>} */
  activity: (ws, before, limit = 30) => get(`/workspaces/${ws}/activity${qs({ before, limit })}`),
  /** @type {(ws: string, limit?: number, offset?: number) => Promise<import('./protocol.js').ThreadsPage>} */
  threads: (ws, limit = 50, offset = 0) => get(`/workspaces/${ws}/threads${qs({ limit, offset })}`),
  /** @type {(root: string, seq: number) => Promise<{seq: number}>} Moves the read marker in a thread (back too). */
  threadRead: (root, seq) => post(`/messages/${root}/thread/read`, { seq }),
  /** @type {(id: string) => Promise<null>} Saves a message for later. */
  save: (id) => put(`/messages/${id}/saved`),
  /** @type {(id: string) => Promise<null>} */
  unsave: (id) => del(`/messages/${id}/saved`),
  /** @type {(ws: string, limit?: number, offset?: number) => Promise<import('./protocol.js').SavedPage>} */
  saved: (ws, limit = 30, offset = 0) => get(`/workspaces/${ws}/saved${qs({ limit, offset })}`),
  /** @type {(id: string) => Promise<null>} Pins a message to its channel. */
  pin: (id) => put(`/messages/${id}/pin`),
  /** @type {(id: string) => Promise<null>} */
  unpin: (id) => del(`/messages/${id}/pin`),
  /** @type {(ch: string) => Promise<import('./protocol.js').PinnedMessage[]>} The channel's pins, the most recently pinned first. */
  pins: (ch) => get(`/channels/${ch}/pins`).then((r) => r.pins),
  /** @type {(ch: string, level: import('./protocol.js').NotifyLevel) => Promise<{level: import('./protocol.js').NotifyLevel}>} */
  notify: (ch, level) => put(`/channels/${ch}/notifications`, { level }),
};
