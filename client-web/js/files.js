// @ts-check
// files.js — files in the web client, apart from their views (views/files.js):
// - uploads from a channel's composer: staged until Send, then sent one at a time,
//   each as its own message (`POST /channels/{ch}/files` posts the message: the text
//   goes with the first file), with progress and cancel. They are kept per channel
//   here, not in the composer, so a composer mounted again shows them;
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
  const key = thumb ? `${id}/thumb` : id;
  let entry = shown.get(key);
  if (!entry) {
    /** @type {Shown} */
    const fresh = { url: Promise.resolve(''), ready: null, users: new Set() };
    fresh.url = api.files.bytes(id, thumb).then((blob) => {
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
 * @property {Blob} file
 * @property {string} name
 * @property {'staged' | 'queued' | 'uploading' | 'failed'} status
 *   staged: waiting for Send; queued: sent, waiting its turn; failed: see `error`.
 * @property {number} sent  Bytes sent.
 * @property {string} text  The message's text, which goes with this file.
 * @property {string} [error]
 * @property {number} [tries]  Times refused with `rate_limited`.
 * @property {AbortController} [abort]
 */

/** How often an upload refused with `rate_limited` is tried again, after `Retry-After`. */
const RATE_LIMIT_RETRIES = 3;

/** @type {Upload[]} every channel's, in order */
let uploads = [];
let uploadCounter = 0;

/** @param {string} channel */
export function uploadsOf(channel) {
  return uploads.filter((u) => u.channel === channel);
}

/** @param {string} channel */
function changed(channel) {
  emit('uploads', channel);
}

/**
 * Adds files to a channel's composer, to be sent with the next message.
 * @param {string} channel
 * @param {Iterable<File>} files
 */
export function stageFiles(channel, files) {
  for (const file of files) {
    uploads.push({ id: `u${++uploadCounter}`, channel, file, name: pastedName(file), status: 'staged', sent: 0, text: '' });
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

/**
 * Sends a channel's staged files, `text` with the first: one message each.
 * @param {string} channel
 * @param {string} text
 * @returns {boolean} whether there was anything to send
 */
export function sendStaged(channel, text) {
  const staged = uploadsOf(channel).filter((u) => u.status === 'staged');
  if (!staged.length) return false;
  staged.forEach((u, i) => {
    u.status = 'queued';
    u.text = i === 0 ? text : '';
  });
  changed(channel);
  pump(channel);
  return true;
}

/** Starts the channel's next queued upload, unless one is running: one at a time keeps the order of the messages. */
function pump(channel) {
  const mine = uploadsOf(channel);
  if (mine.some((u) => u.status === 'uploading')) return;
  const next = mine.find((u) => u.status === 'queued');
  if (next) run(next);
}

/** @param {Upload} u */
async function run(u) {
  u.status = 'uploading';
  u.sent = 0;
  u.error = undefined;
  u.abort = new AbortController();
  changed(u.channel);
  const onProgress = (/** @type {number} */ sent) => {
    u.sent = sent;
    emit('upload-progress', u);
  };
  try {
    const posted = await api.files.upload(u.channel, u.file, u.name, u.text, { onProgress, signal: u.abort.signal });
    remember(posted.file);
    putMessage(posted.message);
    uploads = uploads.filter((x) => x !== u);
  } catch (e) {
    if (e instanceof api.ApiError && e.code === 'rate_limited' && uploads.includes(u) && (u.tries = (u.tries || 0) + 1) <= RATE_LIMIT_RETRIES) {
      // Too many uploads or posts at once: this one waits its turn again.
      u.status = 'queued';
      changed(u.channel);
      setTimeout(() => pump(u.channel), 1000 * (Number(e.retryAfter) || 1));
      return;
    }
    if (e instanceof DOMException && e.name === 'AbortError') {
      // Cancelled (not signed out, which forgets every upload): its text is kept.
      if (uploads.includes(u)) passText(u);
      uploads = uploads.filter((x) => x !== u);
    } else {
      u.status = 'failed';
      u.error = e instanceof Error ? e.message : String(e);
    }
  }
  changed(u.channel);
  pump(u.channel);
}

/**
 * Cancels an upload (or takes a staged file out). A message's text that went with it
 * goes with the next file sent, or back into the composer if none is left.
 * @param {string} id
 */
export function cancelUpload(id) {
  const u = uploads.find((x) => x.id === id);
  if (!u) return;
  if (u.status === 'uploading' && u.abort) {
    u.abort.abort(); // run() takes it out
    return;
  }
  uploads = uploads.filter((x) => x !== u);
  passText(u);
  changed(u.channel);
}

/** @param {Upload} u */
function passText(u) {
  if (!u.text) return;
  const next = uploadsOf(u.channel).find((x) => x !== u && x.status === 'queued');
  if (next) {
    next.text = u.text;
    return;
  }
  // Back to the draft, where the composer shows it, unless a new one was started.
  const key = draftKey(u.channel, null);
  if (!localStorage.getItem(key)) {
    localStorage.setItem(key, u.text);
    emit('draft-restored', u.channel);
  }
}

/** Sends a failed upload again. @param {string} id */
export function retryUpload(id) {
  const u = uploads.find((x) => x.id === id);
  if (!u || u.status !== 'failed') return;
  u.status = 'queued';
  changed(u.channel);
  pump(u.channel);
}

/** Cancels every upload (signing out). */
export function abortUploads() {
  const running = uploads.filter((u) => u.abort);
  uploads = [];
  for (const u of running) u.abort && u.abort.abort();
}
