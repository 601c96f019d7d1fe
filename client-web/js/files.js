// @ts-check
// files.js — files in the web client, apart from their views (views/files.js):
// - uploads from a channel's composer: staged until Send, then the files of one Send
//   go in one request as one message with the text (`POST /channels/{ch}/files`, one
//   `file` part each, up to the server's files.max_files_per_message), with each
//   file's progress and cancel. They are kept per channel here, not in the composer,
//   so a composer mounted again shows them;
// - file records (`GET /files/{id}/info`), cached: a file never changes;
// - bytes. The API takes a bearer token, which neither <img src> nor a link can send,
//   so images are fetched with it and shown through object URLs, which are revoked once
//   no element of the page shows them any more (`sweep`); a download is fetched the
//   same way and handed to the browser as a blob.

import * as api from './api.js';
import { emit, putMessage, draftKey } from './store.js';

/**
 * @typedef {import('./protocol.js').FileInfo} FileInfo
 * @typedef {import('./protocol.js').FilePosted} FilePosted
 */

// ---- Kinds and sizes ------------------------------------------------------------

/** Whether the browser is given the file as an image: raster types only, as the server serves them inline. */
export function isInlineImage(contentType) {
  return ['image/png', 'image/jpeg', 'image/gif', 'image/webp'].includes(contentType);
}

/** @param {number} bytes */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let n = bytes / 1024;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

/** A content type without its parameters (`text/plain; charset=utf-8` → `text/plain`). */
export function typeLabel(contentType) {
  return contentType.split(';')[0].trim() || 'unknown type';
}

// ---- Records ----------------------------------------------------------------------

/** @type {Map<string, Promise<FileInfo>>} */
const infos = new Map();

/** A file's record, fetched once (a failed fetch is tried again next time). */
export function fileInfo(id) {
  let info = infos.get(id);
  if (!info) {
    info = api.files.info(id);
    infos.set(id, info);
    info.catch(() => infos.delete(id));
  }
  return info;
}

/** @param {FileInfo} info */
function remember(info) {
  infos.set(info.id, Promise.resolve(info));
}

// ---- Object URLs --------------------------------------------------------------------

/**
 * One fetched file (or thumbnail) shown through an object URL, and the elements that
 * show it.
 * @typedef {object} Shown
 * @property {Promise<string>} url
 * @property {string | null} ready  The URL once fetched.
 * @property {Set<HTMLImageElement>} users
 */

/** @type {Map<string, Shown>} "id" or "id/thumb" → its object URL */
const shown = new Map();
/** Elements seen in the document: once one of them leaves it, it no longer holds its URL. */
const attached = new WeakSet();
/** When each element was given its URL: one never attached holds it for a while only. */
const given = new WeakMap();
const UNATTACHED_GRACE_MS = 10000;

/**
 * Shows a file's image (or its thumbnail) in `img`, fetched with the session's token.
 * @param {HTMLImageElement} img
 * @param {string} id
 * @param {{thumb?: boolean}} [opts]
 * @returns {Promise<void>} settles when the image is set (rejects if it cannot be fetched)
 */
export function showImage(img, id, { thumb = false } = {}) {
  return showBlob(img, thumb ? `${id}/thumb` : id, () => api.files.bytes(id, thumb));
}

/**
 * Shows a member's picture in `img`, as showImage does a file's.
 * @param {HTMLImageElement} img
 * @param {string} user
 * @param {string} version  The profile's `avatar`: a new one is fetched anew.
 */
export function showAvatar(img, user, version) {
  return showBlob(img, `avatar/${user}/${version}`, () => api.avatarBytes(user));
}

/**
 * @param {HTMLImageElement} img
 * @param {string} key  What the object URL is cached by.
 * @param {() => Promise<Blob>} fetchBlob
 */
function showBlob(img, key, fetchBlob) {
  let entry = shown.get(key);
  if (!entry) {
    /** @type {Shown} */
    const fresh = { url: Promise.resolve(''), ready: null, users: new Set() };
    fresh.url = fetchBlob().then((blob) => {
      fresh.ready = URL.createObjectURL(blob);
      return fresh.ready;
    });
    fresh.url.catch(() => shown.delete(key));
    shown.set(key, fresh);
    entry = fresh;
  }
  entry.users.add(img);
  given.set(img, Date.now());
  watch();
  return entry.url.then((url) => {
    img.src = url;
  });
}

/**
 * Revokes the object URLs no element in the document shows any more. Answers whether
 * an element that was never attached still holds one (to be let go after its grace).
 */
function sweep() {
  const now = Date.now();
  let waiting = false;
  for (const [key, entry] of shown) {
    for (const el of entry.users) {
      if (el.isConnected) attached.add(el);
      else if (attached.has(el) || now - (given.get(el) || 0) > UNATTACHED_GRACE_MS) entry.users.delete(el);
      else waiting = true;
    }
    if (!entry.users.size && entry.ready) {
      URL.revokeObjectURL(entry.ready);
      shown.delete(key);
    }
  }
  return waiting;
}

/** @type {MutationObserver | null} */
let observer = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let sweepTimer = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let graceTimer = null;
function scheduleSweep() {
  if (sweepTimer) return;
  sweepTimer = setTimeout(() => {
    sweepTimer = null;
    if (sweep() && !graceTimer) {
      graceTimer = setTimeout(() => {
        graceTimer = null;
        scheduleSweep();
      }, UNATTACHED_GRACE_MS);
    }
  }, 500);
}
/** Sweeps after the page's elements change (messages re-rendered, views closed). */
function watch() {
  if (!observer) {
    observer = new MutationObserver(scheduleSweep);
    observer.observe(document.body, { childList: true, subtree: true });
  }
  scheduleSweep();
}

/**
 * Downloads a file: its bytes are fetched with the token and handed to the browser as
 * a blob under the file's name (held in memory until saved).
 * @param {FileInfo} info
 */
export async function downloadFile(info) {
  const blob = await api.files.bytes(info.id, false);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = info.name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The browser reads the blob once the download starts; give it time before revoking.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// ---- Uploads --------------------------------------------------------------------------

/**
 * One file of a channel's composer.
 * @typedef {object} Upload
 * @property {string} id  Local.
 * @property {string} channel
 * @property {string | null} threadRoot  The thread whose composer holds it, if not the channel's.
 * @property {Blob} file
 * @property {string} name
 * @property {'staged' | 'queued' | 'uploading' | 'failed'} status
 *   staged: waiting for Send; queued: sent, waiting its turn; failed: see `error`.
 * @property {number} sent  Bytes sent.
 * @property {number} group  The files of one Send share it: they are one message.
 * @property {string} text  The message's text, which goes with this file's group.
 * @property {string} [error]
 * @property {number} [tries]  Times refused with `rate_limited`.
 * @property {AbortController} [abort]
 */

/** How often an upload refused with `rate_limited` is tried again, after `Retry-After`. */
const RATE_LIMIT_RETRIES = 3;

/** @type {Upload[]} every channel's, in order */
let uploads = [];
let uploadCounter = 0;

/**
 * A composer's uploads: the channel's, or a thread's.
 * @param {string} channel
 * @param {string | null} [threadRoot]
 */
export function uploadsOf(channel, threadRoot = null) {
  return uploads.filter((u) => u.channel === channel && u.threadRoot === threadRoot);
}

/** @param {string} channel */
function changed(channel) {
  emit('uploads', channel);
}

/**
 * Adds files to a channel's composer (or a thread's), to be sent with the next message.
 * @param {string} channel
 * @param {Iterable<File>} files
 * @param {string | null} [threadRoot]
 */
export function stageFiles(channel, files, threadRoot = null) {
  for (const file of files) {
    uploads.push({ id: `u${++uploadCounter}`, channel, threadRoot, file, name: pastedName(file), status: 'staged', sent: 0, group: 0, text: '' });
  }
  changed(channel);
}

/** A pasted screenshot comes as "image.png": give it a name that says what and when. */
function pastedName(file) {
  if (!/^image\.\w+$/.test(file.name)) return file.name || 'file';
  const at = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}.${pad(at.getMinutes())}.${pad(at.getSeconds())}`;
  return `Pasted image ${stamp}.${file.name.split('.').pop()}`;
}

/** Files one message may carry: the server's `files.max_files_per_message` default. */
const MAX_FILES_PER_MESSAGE = 10;
let groupCounter = 0;

/**
 * Sends a channel's staged files with `text` as one message (in messages of
 * MAX_FILES_PER_MESSAGE files, the text with the first, if there are more).
 * @param {string} channel
 * @param {string} text
 * @param {string | null} [threadRoot]  A thread's composer: the message is a reply in it.
 * @returns {boolean} whether there was anything to send
 */
export function sendStaged(channel, text, threadRoot = null) {
  const staged = uploadsOf(channel, threadRoot).filter((u) => u.status === 'staged');
  if (!staged.length) return false;
  staged.forEach((u, i) => {
    if (i % MAX_FILES_PER_MESSAGE === 0) groupCounter++;
    u.status = 'queued';
    u.group = groupCounter;
    u.text = i === 0 ? text : '';
  });
  changed(channel);
  pump(channel, threadRoot);
  return true;
}

/**
 * Starts a composer's next queued message of files, unless one is being sent: one at a
 * time keeps the order of the messages.
 * @param {string} channel
 * @param {string | null} threadRoot
 */
function pump(channel, threadRoot) {
  const mine = uploadsOf(channel, threadRoot);
  if (mine.some((u) => u.status === 'uploading')) return;
  const next = mine.find((u) => u.status === 'queued');
  if (next) run(mine.filter((u) => u.status === 'queued' && u.group === next.group));
}

/** The text that goes with a group of files (one of them holds it). @param {Upload[]} group */
const groupText = (group) => group.map((u) => u.text).find(Boolean) || '';

/** Sends one message's files in one request. @param {Upload[]} group */
async function run(group) {
  const { channel, threadRoot } = group[0];
  const abort = new AbortController();
  for (const u of group) {
    u.status = 'uploading';
    u.sent = 0;
    u.error = undefined;
    u.abort = abort;
  }
  changed(channel);
  // The body holds the files in order: what is sent so far fills them one by one.
  const onProgress = (/** @type {number} */ sent) => {
    let before = 0;
    for (const u of group) {
      u.sent = Math.max(0, Math.min(u.file.size, sent - before));
      before += u.file.size;
      emit('upload-progress', u);
    }
  };
  const parts = group.map((u) => ({ file: u.file, name: u.name }));
  try {
    const posted = await api.files.upload(channel, parts, groupText(group), { onProgress, signal: abort.signal, threadRoot });
    for (const info of posted.files || [posted.file]) remember(info);
    putMessage(posted.message);
    uploads = uploads.filter((x) => !group.includes(x));
  } catch (e) {
    const tries = (group[0].tries || 0) + 1;
    if (e instanceof api.ApiError && e.code === 'rate_limited' && group.every((u) => uploads.includes(u)) && tries <= RATE_LIMIT_RETRIES) {
      // Too many uploads or posts at once: this message waits its turn again.
      for (const u of group) {
        u.status = 'queued';
        u.tries = tries;
      }
      changed(channel);
      setTimeout(() => pump(channel, threadRoot), 1000 * (Number(e.retryAfter) || 1));
      return;
    }
    if (e instanceof DOMException && e.name === 'AbortError') {
      // A file was cancelled (not signed out, which forgets every upload): the others
      // go again, without it, with the text.
      for (const u of group) {
        if (!uploads.includes(u)) continue;
        u.status = 'queued';
        u.abort = undefined;
      }
    } else {
      for (const u of group) {
        u.status = 'failed';
        u.error = e instanceof Error ? e.message : String(e);
      }
    }
  }
  changed(channel);
  pump(channel, threadRoot);
}

/**
 * Cancels an upload (or takes a staged file out). A message's text that went with it
 * goes with the rest of its message's files, or back into the composer if none is left.
 * @param {string} id
 */
export function cancelUpload(id) {
  const u = uploads.find((x) => x.id === id);
  if (!u) return;
  uploads = uploads.filter((x) => x !== u);
  passText(u);
  // The request carries the other files of its message too: run() sends them again.
  if (u.status === 'uploading' && u.abort) u.abort.abort();
  changed(u.channel);
}

/** @param {Upload} u */
function passText(u) {
  if (!u.text) return;
  const mine = uploadsOf(u.channel, u.threadRoot);
  const next = mine.find((x) => x !== u && x.group === u.group && x.status !== 'failed')
    || mine.find((x) => x !== u && x.status === 'queued');
  if (next) {
    next.text = u.text;
    return;
  }
  // Back to the draft, where the composer shows it, unless a new one was started.
  const key = draftKey(u.channel, u.threadRoot);
  if (!localStorage.getItem(key)) {
    localStorage.setItem(key, u.text);
    emit('draft-restored', u.channel);
  }
}

/** Sends a failed upload again, with the other files of its message. @param {string} id */
export function retryUpload(id) {
  const u = uploads.find((x) => x.id === id);
  if (!u || u.status !== 'failed') return;
  for (const x of uploadsOf(u.channel, u.threadRoot)) {
    if (x.group === u.group && x.status === 'failed') x.status = 'queued';
  }
  changed(u.channel);
  pump(u.channel, u.threadRoot);
}

/** Cancels every upload (signing out). */
export function abortUploads() {
  const running = uploads.filter((u) => u.abort);
  uploads = [];
  for (const u of running) u.abort && u.abort.abort();
}
