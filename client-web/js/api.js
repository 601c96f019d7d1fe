// api.js — the HTTP side of the Confab API (/api/v1): the session token, JSON
// requests, typed errors and feature detection for endpoints a server may not have.

const BASE = '/api/v1';
const TOKEN_KEY = 'confab.token';

export class ApiError extends Error {
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
export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Handlers the app installs: called when the token stops working. */
export const hooks = { onUnauthenticated: () => {} };

export async function request(method, path, body, opts = {}) {
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
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the server');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(res.status, err.code || 'http_error', err.message || `HTTP ${res.status}`, res.headers.get('Retry-After'));
    if (res.status === 401 && token && !opts.noAuthHook) hooks.onUnauthenticated(e);
    throw e;
  }
  return data;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => request('PUT', path, body, opts);
export const patch = (path, body, opts) => request('PATCH', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

const enc = encodeURIComponent;
export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${enc(k)}=${enc(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** An endpoint the server does not have answers 404 with the generic `not_found` code. */
export function isMissingEndpoint(err) {
  return err instanceof ApiError && err.status === 404 && err.code === 'not_found';
}

/**
 * Optional features (search, suggestions, consent): `undefined` until the first call
 * says, then true or false. Views hide their UI when a feature is false.
 */
export const features = {};
const featureListeners = new Set();
export function onFeatureChange(fn) {
  featureListeners.add(fn);
  return () => featureListeners.delete(fn);
}
function setFeature(name, value) {
  if (features[name] === value) return;
  features[name] = value;
  for (const fn of featureListeners) fn(name, value);
}

/** Calls an optional endpoint; resolves to null (and marks the feature absent) on 404 `not_found`. */
export async function optional(feature, promise) {
  try {
    const r = await promise;
    setFeature(feature, true);
    return r;
  } catch (e) {
    if (isMissingEndpoint(e)) {
      setFeature(feature, false);
      return null;
    }
    // Any other answer (a 400 for a bad query, a 403) means the endpoint exists.
    if (e instanceof ApiError && e.status >= 400 && e.status < 500) setFeature(feature, true);
    throw e;
  }
}

// ---- Typed calls -------------------------------------------------------------

export const auth = {
  signup: (b) => post('/auth/signup', b, { noAuthHook: true }),
  login: (b) => post('/auth/login', b, { noAuthHook: true }),
  logout: () => post('/auth/logout', undefined, { noAuthHook: true }),
  me: () => get('/me'),
};

export const workspaces = {
  list: () => get('/workspaces').then((r) => r.workspaces),
  create: (name) => post('/workspaces', { name }),
  invite: (ws, body) => post(`/workspaces/${ws}/invites`, body || {}),
  rename: (ws, name) => patch(`/workspaces/${ws}`, { name }),
  /** Where an invite leads ({workspace: {id, name}, role, expires_at}), before accepting it. */
  preview: (code) => get(`/invites/${enc(code)}`),
  accept: (code) => post(`/invites/${enc(code)}/accept`),
  members: (ws) => get(`/workspaces/${ws}/members`).then((r) => r.members),
  setRole: (ws, user, role) => patch(`/workspaces/${ws}/members/${user}`, { role }),
  removeMember: (ws, user) => del(`/workspaces/${ws}/members/${user}`),
  invites: (ws) => get(`/workspaces/${ws}/invites`).then((r) => r.invites),
  revokeInvite: (ws, code) => del(`/workspaces/${ws}/invites/${enc(code)}`),
  presence: (ws) => get(`/workspaces/${ws}/presence`).then((r) => r.presence),
};

export const channels = {
  list: (ws) => get(`/workspaces/${ws}/channels`).then((r) => r.channels),
  create: (ws, body) => post(`/workspaces/${ws}/channels`, body),
  dm: (ws, users) => post(`/workspaces/${ws}/dms`, { users }),
  get: (ch) => get(`/channels/${ch}`),
  update: (ch, body) => patch(`/channels/${ch}`, body),
  join: (ch) => post(`/channels/${ch}/join`),
  leave: (ch) => post(`/channels/${ch}/leave`),
  addMember: (ch, user) => post(`/channels/${ch}/members`, { user }),
  members: (ch) => get(`/channels/${ch}/members`).then((r) => r.members),
  removeMember: (ch, user) => del(`/channels/${ch}/members/${user}`),
  history: (ch, params) => get(`/channels/${ch}/messages${qs(params)}`).then((r) => r.messages),
  post: (ch, body) => post(`/channels/${ch}/messages`, body),
  read: (ch, seq) => post(`/channels/${ch}/read`, { seq }),
};

export const messages = {
  get: (id) => get(`/messages/${id}`),
  thread: (id) => get(`/messages/${id}/thread`),
  edit: (id, text) => patch(`/messages/${id}`, { text }),
  remove: (id) => del(`/messages/${id}`),
  react: (id, emoji) => put(`/messages/${id}/reactions/${enc(emoji)}`),
  unreact: (id, emoji) => del(`/messages/${id}/reactions/${enc(emoji)}`),
};

export const search = {
  query: (ws, q, limit = 20, signal) => optional('search', get(`/workspaces/${ws}/search${qs({ q, limit })}`, { signal })),
  click: (ws, body) => optional('searchClicks', post(`/workspaces/${ws}/search/clicks`, body)),
};

export const suggest = {
  emojiPrefix: (ws, prefix, limit = 8) =>
    optional('emojiSuggest', get(`/workspaces/${ws}/emoji/suggest${qs({ prefix, limit })}`)),
  emojiText: (ws, text, limit = 8) =>
    optional('emojiSuggest', get(`/workspaces/${ws}/emoji/suggest${qs({ text: text.slice(0, 500), limit })}`)),
  channels: (ws, limit = 5) => optional('channelSuggest', get(`/workspaces/${ws}/channels/suggested${qs({ limit })}`)),
};

export const consent = {
  policies: () => optional('consent', get('/consent/policies')),
  state: (ws) => optional('consent', get(`/workspaces/${ws}/consent`)),
  preview: (ws, purpose) => optional('consentPreview', get(`/workspaces/${ws}/consent/preview${qs({ purpose })}`)),
  history: (ws) => optional('consentHistory', get(`/workspaces/${ws}/consent/history`)),
  set: (ws, purpose, body) => put(`/workspaces/${ws}/consent/${enc(purpose)}`, body),
  setMine: (ws, purpose, included) => put(`/workspaces/${ws}/consent/${enc(purpose)}/me`, { included }),
};
