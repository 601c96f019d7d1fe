// @ts-check
// views/files.js — files as DOM: a message's files (an image as its thumbnail, which
// opens the full image in a lightbox; any other file as a card with its name, size,
// type and a Download button), the delete control for whoever may delete it, the
// files of a search hit, and the composer's attachments (staged files and uploads in
// progress, with a progress bar and a cancel button). The data side is ../files.js.

import { h, clear } from '../dom.js';
import { icon } from '../icons.js';
import { state, myRole, on } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { openDialog } from './dialogs.js';
import {
  fileInfo, showImage, downloadFile, isInlineImage, formatSize, typeLabel,
  uploadsOf, stageFiles, cancelUpload, retryUpload,
} from '../files.js';

/**
 * @typedef {import('../protocol.js').Message} Message
 * @typedef {import('../protocol.js').FileInfo} FileInfo
 * @typedef {import('../files.js').Upload} Upload
 */

/** Whether the signed-in user may delete a message's files: its author, or an admin. */
function mayDelete(/** @type {Message} */ m) {
  const role = myRole();
  return !!state.me && (m.author === state.me.id || role === 'owner' || role === 'admin');
}

/**
 * The files of a message, each filled in once its record arrives.
 * @param {Message} m
 */
export function messageFiles(m) {
  const row = h('div.msg-files');
  for (const id of m.files || []) row.append(fileView(id, m));
  return row;
}

/**
 * @param {string} id
 * @param {Message} m
 */
function fileView(id, m) {
  const slot = h('div.file.loading', { dataset: { file: id } }, h('span.muted', 'Loading file…'));
  fileInfo(id).then(
    (info) => {
      slot.classList.remove('loading');
      clear(slot).append(isInlineImage(info.content_type) ? imageView(info) : cardView(info));
      if (mayDelete(m)) slot.append(deleteButton(info));
    },
    (e) => {
      slot.classList.remove('loading');
      clear(slot).append(h('span.muted', e && e.code === 'file_not_found' ? 'This file was deleted.' : 'The file could not be loaded.'));
    },
  );
  return slot;
}

/** @param {FileInfo} info */
function imageView(info) {
  const img = /** @type {HTMLImageElement} */ (h('img.file-thumb', { alt: info.name }));
  showImage(img, info.id, { thumb: true }).catch(() => img.replaceWith(h('span.muted', `${info.name} (no preview)`)));
  return h('figure.file-image',
    h('button.thumb-btn', { type: 'button', 'aria-label': `Open image ${info.name}`, title: info.name, on: { click: () => openLightbox(info) } }, img),
    h('figcaption.muted', `${info.name} · ${formatSize(info.size)}`));
}

/** @param {FileInfo} info */
function cardView(info) {
  return h('div.file-card',
    h('span.file-icon', icon('file', 28)),
    h('div.file-meta',
      h('span.file-name', { title: info.name }, info.name),
      h('span.muted.file-facts', `${formatSize(info.size)} · ${typeLabel(info.content_type)}`)),
    downloadButton(info, 'btn.small'));
}

/**
 * @param {FileInfo} info
 * @param {string} cls
 */
function downloadButton(info, cls) {
  return h(`button.${cls}`, {
    type: 'button',
    'aria-label': `Download ${info.name}`,
    title: `Download ${info.name}`,
    on: { click: () => downloadFile(info).catch((e) => app.reportError(e, 'Download failed')) },
  }, icon('download', 16), 'Download');
}

/** @param {FileInfo} info */
function deleteButton(info) {
  return h('button.icon-btn.small.file-delete', {
    type: 'button',
    'aria-label': `Delete file ${info.name}`,
    title: 'Delete this file',
    on: { click: () => confirmDelete(info) },
  }, icon('trash', 16));
}

/** Asks, then takes the file out of its message (the server announces the change). */
function confirmDelete(/** @type {FileInfo} */ info) {
  openDialog('Delete file?', (body, close) => {
    const err = h('p.error', { role: 'alert', hidden: true });
    body.append(
      h('p', `“${info.name}” will be deleted for everyone. A message left with no text and no file is deleted with it.`),
      err,
      h('div.actions',
        h('button.btn', { type: 'button', on: { click: close } }, 'Cancel'),
        h('button.btn.danger', {
          type: 'button',
          on: {
            click: async () => {
              try {
                await api.files.remove(info.id);
                close();
              } catch (e) {
                err.hidden = false;
                err.textContent = e.message || String(e);
              }
            },
          },
        }, 'Delete file')));
  });
}

/** The full image in a dialog, with its name and a download button. */
function openLightbox(/** @type {FileInfo} */ info) {
  const dlg = openDialog(info.name, (body) => {
    const img = /** @type {HTMLImageElement} */ (h('img.lightbox-img', { alt: info.name }));
    const status = h('p.muted', 'Loading…');
    showImage(img, info.id).then(() => status.remove(), (e) => {
      status.textContent = `The image could not be loaded: ${e.message || e}`;
    });
    body.append(status, img, h('div.actions', h('span.muted.lightbox-facts', formatSize(info.size)), downloadButton(info, 'btn.small')));
  });
  dlg.classList.add('lightbox');
}

/**
 * The files of a search hit, inside its (clickable) result: thumbnails and names only.
 * @param {Message} m
 */
export function hitFiles(m) {
  const row = h('span.hit-files');
  for (const id of m.files || []) {
    const slot = h('span.hit-file', { dataset: { file: id } });
    row.append(slot);
    fileInfo(id).then((info) => {
      if (isInlineImage(info.content_type)) {
        const img = /** @type {HTMLImageElement} */ (h('img.hit-thumb', { alt: info.name }));
        showImage(img, id, { thumb: true }).catch(() => img.remove());
        slot.append(img);
      } else slot.append(icon('file', 16));
      slot.append(h('span.hit-file-name', info.name));
    }, () => slot.remove());
  }
  return row;
}

// ---- The composer's attachments ---------------------------------------------------

/**
 * A composer's files (a channel's, or a thread's): the Attach button and its file
 * picker, the list of staged files and uploads, and (`plugInto`) dropping files on
 * `zone` and pasting them into the input.
 * @param {string} channel
 * @param {HTMLTextAreaElement} input
 * @param {string | null} [threadRoot]
 */
export function composerAttachments(channel, input, threadRoot = null) {
  const picker = /** @type {HTMLInputElement} */ (h('input.sr-only', { type: 'file', multiple: true, tabindex: '-1', 'aria-hidden': 'true' }));
  const button = /** @type {HTMLButtonElement} */ (h('button.icon-btn.attach', { type: 'button', 'aria-label': 'Attach files', title: 'Attach files', on: { click: () => picker.click() } }, icon('attach', 18)));
  picker.addEventListener('change', () => {
    stageFiles(channel, [...picker.files], threadRoot);
    picker.value = '';
    input.focus();
  });
  const view = attachmentList(channel, threadRoot);
  const accepting = () => !input.disabled;
  /**
   * @param {HTMLElement} form  The composer, marked `.dropping` while files are dragged over.
   * @param {HTMLElement} zone  Where files may be dropped.
   * @param {() => void} onDraftRestored
   */
  const plugInto = (form, zone, onDraftRestored) => {
    acceptDrops(zone, form, accepting, (dropped) => {
      stageFiles(channel, dropped, threadRoot);
      input.focus();
    });
    input.addEventListener('paste', (e) => {
      const pasted = e.clipboardData ? [...e.clipboardData.files] : [];
      if (!pasted.length || !accepting()) return;
      e.preventDefault();
      stageFiles(channel, pasted, threadRoot);
    });
    whileConnected(form, [
      on('uploads', (ch) => ch === channel && view.render()),
      on('upload-progress', (u) => u.channel === channel && view.progress(u)),
      on('draft-restored', (ch) => ch === channel && onDraftRestored()),
    ]);
  };
  return { picker, button, list: view.list, plugInto };
}

/**
 * Takes files dropped on `zone`, marking `marked` while they are dragged over it.
 * @param {HTMLElement} zone
 * @param {HTMLElement} marked
 * @param {() => boolean} accepting
 * @param {(files: File[]) => void} take
 */
function acceptDrops(zone, marked, accepting, take) {
  const hasFiles = (/** @type {DragEvent} */ e) => !!e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let depth = 0; // dragenter and dragleave fire for every child crossed
  const mark = (/** @type {boolean} */ on) => marked.classList.toggle('dropping', on);
  zone.addEventListener('dragenter', (e) => {
    if (!accepting() || !hasFiles(e)) return;
    e.preventDefault();
    depth++;
    mark(true);
  });
  zone.addEventListener('dragover', (e) => {
    if (!accepting() || !hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) mark(false);
  });
  zone.addEventListener('drop', (e) => {
    depth = 0;
    mark(false);
    if (!accepting() || !hasFiles(e)) return;
    e.preventDefault();
    take([...e.dataTransfer.files]);
  });
}

/**
 * Keeps store subscriptions until `el` leaves the page (a composer is replaced by a
 * new one, never told so).
 * @param {HTMLElement} el
 * @param {(() => void)[]} offs
 */
function whileConnected(el, offs) {
  let mounted = false;
  const stop = new MutationObserver(() => {
    if (el.isConnected) mounted = true;
    else if (mounted) {
      offs.forEach((off) => off());
      stop.disconnect();
    }
  });
  stop.observe(document.body, { childList: true, subtree: true });
  requestAnimationFrame(() => {
    mounted = mounted || el.isConnected;
  });
}

/**
 * The list of a composer's staged files and uploads; `render` brings it up to date
 * (progress only moves the bar of the element already shown).
 * @param {string} channel
 * @param {string | null} threadRoot
 */
function attachmentList(channel, threadRoot) {
  const list = h('ul.attachments', { 'aria-label': 'Attachments' });
  /** @type {Map<string, {status: string, error?: string, el: HTMLElement, bar: HTMLProgressElement | null}>} */
  const shown = new Map();
  const render = () => {
    const items = uploadsOf(channel, threadRoot);
    list.hidden = !items.length;
    const keep = new Set(items.map((u) => u.id));
    for (const [id, s] of shown) if (!keep.has(id)) { s.el.remove(); shown.delete(id); }
    items.forEach((u, i) => {
      let s = shown.get(u.id);
      if (!s || s.status !== u.status || s.error !== u.error) {
        const bar = u.status === 'uploading' ? /** @type {HTMLProgressElement} */ (h('progress', { max: u.file.size, value: u.sent, 'aria-label': `Uploading ${u.name}` })) : null;
        const el = attachmentItem(u, bar);
        if (s) s.el.replaceWith(el);
        s = { status: u.status, error: u.error, el, bar };
        shown.set(u.id, s);
      }
      // In order, moving only what is out of place (a moved element loses focus).
      if (list.children[i] !== s.el) list.insertBefore(s.el, list.children[i] || null);
    });
  };
  /** @param {Upload} u */
  const progress = (u) => {
    const s = shown.get(u.id);
    if (s && s.bar) s.bar.value = u.sent;
  };
  render();
  return { list, render, progress };
}

/**
 * @param {Upload} u
 * @param {HTMLProgressElement | null} bar
 */
function attachmentItem(u, bar) {
  const label = u.status === 'uploading' ? `Cancel upload of ${u.name}` : `Remove ${u.name}`;
  const status = u.status === 'staged' ? formatSize(u.file.size)
    : u.status === 'queued' ? 'Waiting…'
      : u.status === 'failed' ? `Not sent: ${u.error}` : null;
  return h(`li.attachment.${u.status}`, { dataset: { upload: u.id } },
    h('span.file-icon', icon(u.file.type.startsWith('image/') ? 'image' : 'file', 18)),
    h('span.attachment-name', { title: u.name }, u.name),
    bar,
    status ? h(`span.attachment-status${u.status === 'failed' ? '.error' : '.muted'}`, status) : null,
    u.status === 'failed' ? h('button.link', { type: 'button', on: { click: () => retryUpload(u.id) } }, 'Retry') : null,
    h('button.icon-btn.small', { type: 'button', 'aria-label': label, title: label, on: { click: () => cancelUpload(u.id) } }, icon('close', 14)));
}
