// views/message.js — one message as DOM: author, time, safe markdown text, edited and
// deleted marks, its files (views/files.js), reactions (count, who reacted, toggle),
// "N replies" (with how many are unread in a thread the caller is in), a "Pinned"
// mark, pending, waiting and failed state (with Retry), and the toolbar (react,
// reply, mark as unread, save for later, copy link, pin/unpin, edit, delete), shown
// on hover and whenever focus is inside the message, so every action is reachable
// by keyboard. Also the inline editor.

import { h } from '../dom.js';
import { timeOf, fullTime } from '../dom.js';
import { renderMarkdown } from '../markdown.js';
import { state, emit, userName, memberByUsername, channelByName, isPinned } from '../store.js';
import { emojiName } from '../emoji.js';
import * as app from '../app.js';
import * as api from '../api.js';
import { retryPending, discardPending } from '../live.js';
import { openPicker } from './picker.js';
import { icon } from '../icons.js';
import { messageFiles } from './files.js';
import { showAvatar } from '../files.js';
import { authorLabel, authorKey } from './profile.js';

export function markdownContext() {
  const me = state.me;
  return {
    isMe: (u) => me && u.toLowerCase() === me.username.toLowerCase(),
    knownUser: (u) => !!memberByUsername(u) || (me && u.toLowerCase() === me.username.toLowerCase()),
    knownChannel: (n) => !!channelByName(n),
    onChannel: (n) => {
      const c = channelByName(n);
      if (c) app.navigate(app.channelHash(state.wsId, c.id));
    },
  };
}

function hue(id) {
  // FNV-1a over the whole id: ULIDs share their time prefix, so every character counts.
  let x = 0x811c9dc5;
  for (const ch of String(id)) x = Math.imul(x ^ ch.charCodeAt(0), 0x01000193);
  return (x >>> 0) % 360;
}

/** A member's picture's version, if they have one (`avatar` in their profile). */
export function avatarVersion(/** @type {string} */ userId) {
  const me = /** @type {{id: string, avatar?: string} | null} */ (state.me);
  if (me && me.id === userId) return me.avatar || '';
  const member = /** @type {{avatar?: string} | undefined} */ (state.members.get(userId));
  return (member && member.avatar) || '';
}

/** A member's picture, or their initials on their colour until it shows (and if they have none). */
export function avatar(userId, size = 'md') {
  const name = userName(userId);
  const initials = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join('');
  const el = h(`span.avatar.${size}`, { 'aria-hidden': 'true', style: { '--h': hue(userId) } }, initials || '?');
  const version = avatarVersion(userId);
  if (version) {
    const img = /** @type {HTMLImageElement} */ (h('img.avatar-picture', { alt: '' }));
    el.append(img);
    showAvatar(img, userId, version).catch(() => img.remove());
  }
  return el;
}

export function presenceDot(userId) {
  const s = state.presence.get(userId) || 'offline';
  return h(`span.presence.${s}`, { title: s, 'aria-label': s, role: 'img' });
}

/** A key that changes whenever the rendered output would. */
export function messageKey(m, opts) {
  const r = (m.reactions || []).map((x) => `${x.emoji}:${x.users.join(',')}`).join('|');
  const files = (m.files || []).join(',');
  const t = state.myThreads.get(m.id);
  const unread = t ? `${t.unread}/${t.mentions}` : '';
  return [m.id, m.text, m.edited_at, m.deleted, r, files, m.reply_count, opts.grouped, app.ui.editing === m.id, state.members.size, authorKey(m.author), unread, state.saved.has(m.id), isPinned(m)].join('\u0001');
}

export function renderMessage(m, opts = {}) {
  const me = state.me && state.me.id;
  const mine = m.author === me;
  const mentioned = (m.mentions || []).includes(me);
  const el = h(`div.msg${opts.grouped ? '.grouped' : ''}${mentioned ? '.mentioned' : ''}${m.deleted ? '.deleted' : ''}`, {
    dataset: { id: m.id, seq: m.seq },
    tabindex: '-1',
  });
  const gutter = opts.grouped
    ? h('span.gutter-time', { title: fullTime(m.created_at) }, timeOf(m.created_at))
    : avatar(m.author);
  const body = h('div.msg-body');
  const pinned = !m.deleted && isPinned(m);
  if (pinned) body.append(h('div.pinned-mark', icon('pin', 14), ' Pinned'));
  if (!opts.grouped) {
    body.append(
      h('div.msg-meta', authorLabel(m.author), h('time', { datetime: new Date(m.created_at).toISOString(), title: fullTime(m.created_at) }, timeOf(m.created_at))),
    );
  }
  if (m.deleted) {
    body.append(h('div.msg-text.muted', h('em', 'This message was deleted.')));
  } else if (app.ui.editing === m.id) {
    body.append(editor(m));
  } else if (m.text || !(m.files || []).length) {
    const text = h('div.msg-text');
    text.append(renderMarkdown(m.text, markdownContext()));
    if (m.edited_at) text.append(h('span.edited', { title: `Edited ${fullTime(m.edited_at)}` }, ' (edited)'));
    body.append(text);
  }
  if (!m.deleted && (m.files || []).length) body.append(messageFiles(m));
  if (!m.deleted && (m.reactions || []).length) body.append(reactionsRow(m));
  if (opts.context !== 'thread-root' && opts.context !== 'thread' && m.reply_count > 0) {
    const t = state.myThreads.get(m.id);
    const fresh = t && t.unread > 0 ? t.unread : 0;
    body.append(
      h(`button.replies${fresh ? '.unread' : ''}${t && t.mentions ? '.mentions-me' : ''}`, { type: 'button', on: { click: () => app.openThread(m.id) } },
        `${m.reply_count} ${m.reply_count === 1 ? 'reply' : 'replies'}`,
        fresh ? h('span.new-replies', ` · ${fresh} new`) : null,
        m.last_reply_at ? h('span.muted', ` · last ${timeOf(m.last_reply_at)}`) : null),
    );
  }
  el.append(h('div.gutter', gutter), body);
  if (!m.deleted) el.append(toolbar(m, mine, opts));
  return el;
}

function reactionsRow(m) {
  const me = state.me.id;
  const row = h('div.reactions');
  for (const r of m.reactions) {
    const names = r.users.map((u) => (u === me ? 'You' : userName(u)));
    const label = `${names.join(', ')} reacted with ${emojiName(r.emoji)}`;
    const mine = r.users.includes(me);
    row.append(
      h('button.reaction', {
        type: 'button',
        title: label,
        'aria-label': `${r.emoji} ${r.users.length}: ${label}. ${mine ? 'Remove your reaction' : 'Add yours'}`,
        'aria-pressed': mine ? 'true' : 'false',
        on: { click: () => app.toggleReaction(m, r.emoji) },
      }, h('span.e', r.emoji), h('span.count', String(r.users.length))),
    );
  }
  row.append(
    h('button.reaction.add', { type: 'button', 'aria-label': 'Add reaction', title: 'Add reaction', on: { click: (e) => openPicker(e.currentTarget, m) } }, icon('smile', 16), '+'),
  );
  return row;
}

function toolbar(m, mine, opts) {
  const bar = h('div.msg-actions', { role: 'toolbar', 'aria-label': 'Message actions' });
  bar.append(h('button', { type: 'button', 'aria-label': 'Add reaction', title: 'Add reaction', on: { click: (e) => openPicker(e.currentTarget, m) } }, icon('smile')));
  if (opts.context === 'channel' && !m.thread_root) {
    bar.append(h('button', { type: 'button', 'aria-label': 'Reply in thread', title: 'Reply in thread', on: { click: () => app.openThread(m.id) } }, icon('thread')));
  }
  if (m.seq > 0 && (opts.context === 'channel' || opts.context === 'thread')) {
    bar.append(h('button', { type: 'button', 'aria-label': 'Mark as unread', title: 'Mark as unread', on: { click: () => app.markUnread(m) } }, icon('unread')));
  }
  const saved = state.saved.has(m.id);
  bar.append(h(`button${saved ? '.on' : ''}`, { type: 'button', 'aria-label': saved ? 'Remove from saved items' : 'Save for later', 'aria-pressed': saved ? 'true' : 'false', title: saved ? 'Remove from saved items' : 'Save for later', on: { click: () => app.toggleSaved(m) } }, icon('bookmark')));
  bar.append(h('button', { type: 'button', 'aria-label': 'Copy link', title: 'Copy link', on: { click: () => app.copyLink(m) } }, icon('link')));
  const ch = state.channels.get(m.channel);
  if (ch && ch.is_member && !ch.archived && m.seq > 0) {
    const pinned = isPinned(m);
    bar.append(h(`button${pinned ? '.on' : ''}`, { type: 'button', 'aria-label': pinned ? 'Unpin from channel' : 'Pin to channel', 'aria-pressed': pinned ? 'true' : 'false', title: pinned ? 'Unpin from channel' : 'Pin to channel', on: { click: () => app.togglePin(m) } }, icon('pin')));
  }
  if (mine) {
    bar.append(h('button', { type: 'button', 'aria-label': 'Edit message', title: 'Edit', on: { click: () => startEdit(m) } }, icon('edit')));
    bar.append(
      h('button', { type: 'button', 'aria-label': 'Delete message', title: 'Delete', on: { click: () => { if (confirm('Delete this message?')) app.deleteMessage(m); } } }, icon('trash')),
    );
  }
  return bar;
}

export function startEdit(m) {
  app.ui.editing = m.id;
  app.ui.editingText = m.text;
  emit('messages', { channel: m.channel, thread: m.thread_root || m.id, focusEdit: m.id });
}

function stopEdit(m) {
  app.ui.editing = null;
  emit('messages', { channel: m.channel, thread: m.thread_root || m.id, refocus: true });
}

/** By how many characters `text` is over the server's limit (≤ 0 when it fits or the limit is unknown). */
function overLimit(text) {
  const max = api.limits.maxMessageChars;
  return max ? [...text].length - max : 0;
}

function editor(m) {
  const ta = h('textarea.edit-box', { 'aria-label': 'Edit message', rows: 2 });
  // A too-long edit is never sent and never lost: it stays, with what is wrong.
  const error = h('p.error.edit-error', { role: 'alert', hidden: true });
  const showLength = () => {
    const over = overLimit(ta.value.trim());
    error.hidden = over <= 0;
    error.textContent = over > 0 ? `Your message is ${over.toLocaleString()} character${over === 1 ? '' : 's'} too long. Shorten it to save.` : '';
  };
  ta.value = app.ui.editingText != null ? app.ui.editingText : m.text;
  ta.addEventListener('input', () => {
    app.ui.editingText = ta.value;
    if (!error.hidden) showLength();
  });
  const save = async () => {
    const text = ta.value.trim();
    if (overLimit(text) > 0) {
      showLength();
      return;
    }
    // A refused edit keeps the editor open with its text (the error is reported).
    if (text && text !== m.text && !(await app.editMessage(m, text))) return;
    stopEdit(m);
  };
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      save();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      stopEdit(m);
    }
  });
  return h('div.editor', ta, error,
    h('div.editor-actions',
      h('span.hint', 'Enter to save · Esc to cancel'),
      h('button.btn.small', { type: 'button', on: { click: () => stopEdit(m) } }, 'Cancel'),
      h('button.btn.small.primary', { type: 'button', on: { click: save } }, 'Save')));
}

/** A pending (optimistic) message: shown greyed until acknowledged; failed ones offer retry. */
export function renderPending(p, grouped) {
  const el = h(`div.msg.pending${p.status === 'failed' ? '.failed' : ''}${grouped ? '.grouped' : ''}`, { dataset: { pending: p.client_msg_id } });
  const body = h('div.msg-body');
  if (!grouped) body.append(h('div.msg-meta', h('span.author', userName(p.author)), h('time', timeOf(p.created_at))));
  const text = h('div.msg-text');
  text.append(renderMarkdown(p.text, markdownContext()));
  body.append(text);
  if (p.status === 'failed') {
    body.append(
      h('div.pending-status.error', `Not sent: ${p.error || 'error'} `,
        h('button.link', { type: 'button', on: { click: () => retryPending(p.client_msg_id) } }, 'Retry'), ' · ',
        h('button.link', { type: 'button', on: { click: () => discardPending(p.client_msg_id) } }, 'Discard')),
    );
  } else if (p.stalled || state.connection === 'offline') {
    // Not "Sending…" for ever: it goes out by itself once connected, or now on Retry.
    body.append(
      h('div.pending-status.waiting', { 'aria-live': 'polite' }, 'Not sent yet: no connection. ',
        h('button.link', { type: 'button', on: { click: () => retryPending(p.client_msg_id) } }, 'Retry'), ' · ',
        h('button.link', { type: 'button', on: { click: () => discardPending(p.client_msg_id) } }, 'Discard')),
    );
  } else {
    body.append(h('div.pending-status', { 'aria-live': 'polite' }, 'Sending…'));
  }
  el.append(h('div.gutter', grouped ? h('span.gutter-time') : avatar(p.author)), body);
  return el;
}
