// views/channel.js — the channel view: header (name, topic, members), the message
// list (history paging on scroll, day separators, grouping, thread replies kept out
// of the channel, pending sends, jump-to-message flash), the typing line and the composer.
// The header chooses which new messages notify the reader (all, mentions, mute) and
// opens the channel's pinned messages (in the details panel). "X joined #channel"
// lines come from the channel's members and when each joined (GET
// /channels/{ch}/members, again on every `member.joined`), placed among the messages
// by time. Up and Down move the focus from message to message; Tab then reaches the
// focused message's actions.
// A channel with unread messages opens at the first of them under a "New" line, and
// is marked read as far as its messages have been on screen ("Mark as unread" moves
// the line and holds it there until the channel is opened again).

import { icon } from '../icons.js';
import { h, clear, dayKey, dayLabel, timeOf, fullTime } from '../dom.js';
import { state, on, emit, log, pendingFor, typingIn, userName, channelTitle } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { renderMessage, renderPending, messageKey, startEdit, presenceDot } from './message.js';
import { createComposer } from './composer.js';

const GROUP_MS = 5 * 60 * 1000;

/**
 * Builds the list items (day separators, messages, pending) with keyed reuse of
 * unchanged nodes; `newAfter` puts the "New" line before the first message after
 * that `seq`.
 */
export function renderList(container, cache, items, context, newAfter = null) {
  const nodes = [];
  let prev = null;
  const seen = new Set();
  let newLine = newAfter === null;
  let lineBefore = false;
  for (const it of items) {
    const at = it.created_at;
    if (!newLine && !it.pendingItem && it.seq > newAfter) {
      newLine = true;
      let e = cache.get('new-line');
      if (!e) cache.set('new-line', (e = { el: h('div.new-line', { role: 'separator', 'aria-label': 'New messages' }, h('span', 'New')) }));
      seen.add('new-line');
      nodes.push(e.el);
      lineBefore = true; // the first new message shows its author
    }
    if (!prev || dayKey(prev.created_at) !== dayKey(at)) {
      const k = `day:${dayKey(at)}`;
      let sep = cache.get(k);
      if (!sep || sep.label !== dayLabel(at)) {
        sep = { label: dayLabel(at), el: h('div.day-sep', { role: 'separator' }, h('span', dayLabel(at))) };
        cache.set(k, sep);
      }
      seen.add(k);
      nodes.push(sep.el);
      prev = null;
    }
    if (it.joinItem) {
      const k = `join:${it.user}:${it.created_at}:${userName(it.user)}:${it.channelName}`;
      let e = cache.get(k);
      if (!e) cache.set(k, (e = { el: h('div.join-line', { role: 'note' }, h('span', `${userName(it.user)} joined #${it.channelName}`), h('time.muted', { datetime: new Date(at).toISOString(), title: fullTime(at) }, ` ${timeOf(at)}`)) }));
      seen.add(k);
      nodes.push(e.el);
      prev = it; // no author: the next message shows its own again
      lineBefore = false;
      continue;
    }
    const grouped = !!(!lineBefore && prev && prev.author === it.author && at - prev.created_at < GROUP_MS && !prev.deleted && !it.deleted && !prev.pendingItem === !it.pendingItem);
    if (it.pendingItem) {
      const k = `p:${it.client_msg_id}:${it.status}:${!!it.stalled}:${grouped}:${state.connection}`;
      let e = cache.get(k);
      if (!e) cache.set(k, (e = { el: renderPending(it, grouped) }));
      seen.add(k);
      nodes.push(e.el);
    } else {
      const key = messageKey(it, { grouped });
      let e = cache.get(it.id);
      if (!e || e.key !== key) {
        e = { key, el: renderMessage(it, { grouped, context }) };
        cache.set(it.id, e);
      }
      seen.add(it.id);
      nodes.push(e.el);
    }
    prev = it;
    lineBefore = false;
  }
  for (const k of [...cache.keys()]) if (!seen.has(k)) cache.delete(k);
  // Reconcile children in order, moving only what changed.
  let cur = container.firstChild;
  for (const n of nodes) {
    if (cur === n) {
      cur = cur.nextSibling;
    } else {
      container.insertBefore(n, cur);
    }
  }
  while (cur) {
    const next = cur.nextSibling;
    container.removeChild(cur);
    cur = next;
  }
}

/**
 * Up and Down in a message list move the focus from message to message (each shows
 * its actions while it has the focus, and Tab reaches them); from the list itself,
 * Up starts at the newest.
 * @param {HTMLElement} scroller
 */
export function focusByArrows(scroller) {
  scroller.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    const target = /** @type {HTMLElement} */ (e.target);
    if (target !== scroller && !target.classList.contains('msg')) return;
    const msgs = [...scroller.querySelectorAll('.msg[data-id]')];
    if (!msgs.length) return;
    const at = msgs.indexOf(target);
    const next = at < 0 ? msgs[msgs.length - 1] : msgs[at + (e.key === 'ArrowUp' ? -1 : 1)];
    if (!next) return;
    e.preventDefault();
    /** @type {HTMLElement} */ (next).focus();
  });
}

export function typingText(users) {
  if (!users.length) return '';
  const names = users.map(userName);
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

/** Which new messages of the channel notify the reader (desktop notifications). */
function notifySelect(ch) {
  const level = ch.notify || (ch.kind === 'dm' ? 'all' : 'mentions');
  const sel = h('select.notify-level', { 'aria-label': 'Notifications', title: 'Notifications', on: { change: () => app.setNotify(ch.id, sel.value) } },
    h('option', { value: 'all', selected: level === 'all' }, 'All new messages'),
    h('option', { value: 'mentions', selected: level === 'mentions' }, 'Mentions only'),
    h('option', { value: 'mute', selected: level === 'mute' }, 'Mute'));
  return h('label.notify-pick', icon('bell', 16), sel);
}

/** The read marker a channel opens with, if a member has unread messages in it. */
function unreadAfter(c) {
  return c && c.is_member && c.unread_count > 0 && c.last_read_seq < c.last_seq ? c.last_read_seq : null;
}

/** Calls `fn` at most every `ms`, the last call of a burst included. */
function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, wait);
    }
  };
}

export function mountChannel(root, chId) {
  const c = state.channels.get(chId);
  const cache = new Map();
  const offs = [];
  const l = log(chId);
  // Opened anew: what is on screen is read again, and the "New" line is where the
  // read marker is now.
  app.ui.holdRead.delete(chId);
  let newAfter = unreadAfter(c);

  const title = h('h1.ch-title');
  const topic = h('p.ch-topic');
  const meta = h('div.ch-meta');
  const header = h('header.ch-header', h('div.ch-heading', title, topic), meta);
  const list = h('div.msg-list');
  const status = h('div.list-status', { 'aria-live': 'polite' });
  const scroller = h('div.messages', { role: 'log', 'aria-label': 'Messages', tabindex: '0' }, status, list);
  const typingLine = h('div.typing', { 'aria-live': 'polite' });
  const composerSlot = h('div.composer-slot');
  const view = h('section.channel-view', { 'aria-label': 'Channel' }, header, scroller, typingLine, composerSlot);
  clear(root).append(view);

  let composer = null;
  function renderHeader() {
    const ch = state.channels.get(chId) || c;
    if (!ch) return;
    clear(title);
    if (ch.kind === 'dm') {
      const others = (ch.dm_members || []).filter((u) => u.id !== state.me.id);
      if (others.length === 1) title.append(presenceDot(others[0].id), ' ');
      title.append(channelTitle(ch));
    } else title.append(h('span.hash', icon(ch.kind === 'private' ? 'lock' : 'hash', 18)), ch.name);
    topic.textContent = ch.topic || '';
    clear(meta);
    if (ch.archived) meta.append(h('span.tag', 'Archived'));
    const openDetails = () => {
      app.ui.panel = { type: 'details', channel: chId };
      emit('panel');
    };
    if (ch.kind !== 'dm') {
      meta.append(h('button.link.members-link', { type: 'button', title: 'Show the members', on: { click: openDetails } }, `${ch.member_count || 0} member${ch.member_count === 1 ? '' : 's'}`));
    }
    if (ch.is_member) meta.append(notifySelect(ch));
    const pins = state.pins.get(chId);
    meta.append(h('button.link.pins-link', {
      type: 'button',
      'aria-label': `Pinned messages${pins ? `: ${pins.length}` : ''}`,
      title: 'Pinned messages',
      on: {
        click: () => {
          app.ui.panel = { type: 'details', channel: chId, section: 'pins', n: Date.now() };
          emit('panel');
        },
      },
    }, icon('pin', 16), pins ? String(pins.length) : ''));
    meta.append(h('button.icon-btn', { type: 'button', 'aria-label': 'Channel details', title: 'Channel details', on: { click: openDetails } }, icon('info', 18)));
    if (!ch.is_member && ch.kind === 'public' && !ch.archived) {
      meta.append(h('button.btn.primary.small', { type: 'button', on: { click: () => app.joinChannel(chId).then(renderComposer).catch((e) => app.reportError(e, 'Join failed')) } }, 'Join channel'));
    }
  }
  function renderComposer() {
    const ch = state.channels.get(chId) || c;
    const want = `${ch && ch.is_member}-${ch && ch.archived}-${ch && ch.name}`;
    if (composer && composer.state === want) return;
    let disabled = null;
    if (ch && ch.archived) disabled = 'This channel is archived.';
    else if (ch && !ch.is_member) disabled = 'Join the channel to post.';
    const label = ch ? (ch.kind === 'dm' ? `Message ${channelTitle(ch)}` : `Message #${ch.name}`) : 'Message';
    composer = createComposer({ channel: chId, label, disabledReason: disabled, onUpEmpty: editLast, dropTarget: view });
    composer.state = want;
    clear(composerSlot).append(composer);
  }
  function editLast() {
    const mine = l.list.filter((m) => m.author === state.me.id && !m.deleted && !m.thread_root);
    const last = mine[mine.length - 1];
    if (!last) return false;
    startEdit(last);
    return true;
  }

  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  let stick = true;
  /**
   * The message this view jumped to (a permalink, a search hit, a mention): a history
   * load that lands after the jump (the view's own, started when it mounted) keeps
   * it in view instead of opening at the bottom, until the reader moves.
   */
  let openedAt = null;
  for (const event of ['wheel', 'touchstart', 'keydown', 'mousedown']) {
    scroller.addEventListener(event, () => { openedAt = null; }, { passive: true });
  }

  function render(opts = {}) {
    const wasBottom = nearBottom();
    const prevHeight = scroller.scrollHeight;
    const prevTop = scroller.scrollTop;
    const items = withJoins(l.list.filter((m) => !m.thread_root));
    const pend = l.hasNewer ? [] : pendingFor(chId).map((p) => ({ ...p, pendingItem: true }));
    renderList(list, cache, items.concat(pend), 'channel', newAfter);
    clear(status);
    if (!l.loaded) status.append(h('div.muted.center', 'Loading…'));
    else if (l.hasOlder) status.append(h('div.muted.center', l.loading ? 'Loading older messages…' : ''));
    else {
      const ch = state.channels.get(chId) || c;
      status.append(
        h('div.channel-start',
          h('h2', ch ? (ch.kind === 'dm' ? channelTitle(ch) : `#${ch.name}`) : ''),
          h('p.muted', ch && ch.kind === 'dm' ? 'This is the very beginning of your direct message history.' : 'This is the very beginning of the channel.')),
      );
    }
    if (opts.older) {
      scroller.scrollTop = prevTop + (scroller.scrollHeight - prevHeight);
    } else if (opts.jump) {
      scrollToMessage(opts.jump);
    } else if (opts.reset && openedAt && l.byId.has(openedAt)) {
      scrollToMessage(openedAt);
    } else if (opts.reset && !app.ui.flash && newLineEl()) {
      // Open at the first unread message, under the "New" line.
      stick = false;
      scroller.scrollTop += newLineEl().getBoundingClientRect().top - scroller.getBoundingClientRect().top - 40;
    } else if (opts.reset && !app.ui.flash) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (wasBottom || stick) {
      scroller.scrollTop = scroller.scrollHeight;
    }
    if (app.ui.flash && l.byId.has(app.ui.flash) && !opts.jump) scrollToMessage(app.ui.flash);
    if (opts.focusEdit) {
      const ta = list.querySelector(`.msg[data-id="${opts.focusEdit}"] textarea`);
      if (ta) {
        ta.focus();
        ta.setSelectionRange(ta.value.length, ta.value.length);
      }
    }
    if (opts.refocus && composer) composer.focusInput();
    maybeFill();
    markSeen();
  }

  /** @type {{id: string, joined_at: number}[] | null} the channel's members, for the "joined" lines */
  let joins = null;
  async function loadJoins() {
    const ch = state.channels.get(chId) || c;
    if (!ch || ch.kind === 'dm') return;
    try {
      joins = await api.channels.members(chId);
      render();
    } catch {
      joins = null; // e.g. left a private channel: no lines
    }
  }

  /**
   * The messages with a "joined" line for each member who joined within the loaded
   * stretch of history (all of it once the start is loaded), in time order.
   */
  function withJoins(msgs) {
    const ch = state.channels.get(chId) || c;
    if (!joins || !ch || !l.loaded) return msgs;
    const from = l.hasOlder && msgs.length ? msgs[0].created_at : -Infinity;
    const to = l.hasNewer && msgs.length ? msgs[msgs.length - 1].created_at : Infinity;
    const lines = joins
      .filter((m) => m.joined_at >= from && m.joined_at <= to)
      .map((m) => ({ joinItem: true, user: m.id, created_at: m.joined_at, channelName: ch.name }));
    if (!lines.length) return msgs;
    const out = [];
    let i = 0;
    for (const m of msgs) {
      while (i < lines.length && lines[i].created_at <= m.created_at) out.push(lines[i++]);
      out.push(m);
    }
    while (i < lines.length) out.push(lines[i++]);
    return out;
  }

  const newLineEl = () => /** @type {HTMLElement | null} */ (list.querySelector('.new-line'));

  /**
   * The `seq` the channel has been read up to on screen: that of the lowest message
   * whose bottom is in view, and of the thread replies after it (the channel does
   * not show them; their threads keep their own read markers).
   */
  function seenUpTo() {
    const bottom = scroller.getBoundingClientRect().bottom;
    let seen = null;
    for (const el of list.querySelectorAll('.msg[data-seq]')) {
      if (el.getBoundingClientRect().bottom <= bottom + 2) seen = Number(el.dataset.seq);
      else break;
    }
    if (seen === null) return null;
    const next = l.list.find((m) => m.seq > seen && !m.thread_root);
    if (next) return next.seq - 1;
    return l.hasNewer ? seen : l.maxSeq;
  }

  const markSeen = throttle(() => {
    if (document.visibilityState !== 'visible' || !l.loaded) return;
    const upTo = seenUpTo();
    if (upTo) app.markRead(chId, upTo);
  }, 700);

  function scrollToMessage(id) {
    const el = list.querySelector(`.msg[data-id="${id}"]`);
    if (!el) return;
    stick = false;
    openedAt = id;
    el.scrollIntoView({ block: 'center' });
    if (app.ui.flash === id) {
      app.ui.flash = null;
      el.classList.remove('flash');
      void el.offsetWidth;
      el.classList.add('flash');
    }
  }

  // Keep loading while the visible history does not fill the view (replies are hidden).
  function maybeFill() {
    if (l.loaded && !l.loading && l.hasOlder && scroller.scrollHeight <= scroller.clientHeight + 100) {
      app.loadOlder(chId).catch((e) => app.reportError(e, 'Could not load history'));
    }
  }

  focusByArrows(scroller);

  scroller.addEventListener('scroll', () => {
    stick = nearBottom();
    if (scroller.scrollTop < 150 && l.hasOlder && !l.loading) app.loadOlder(chId).catch((e) => app.reportError(e, 'Could not load history'));
    if (stick && l.hasNewer && !l.loading) app.loadNewer(chId).catch((e) => app.reportError(e, 'Could not load history'));
    markSeen();
  });

  function renderTyping() {
    typingLine.textContent = typingText(typingIn(chId, null));
  }
  const typingTimer = setInterval(renderTyping, 2000);

  offs.push(on('messages', (p) => {
    if (!p || p.channel === chId) render(p || {});
  }));
  offs.push(on('pending', () => render()));
  offs.push(on('connection', () => render()));
  offs.push(on('members', () => render()));
  offs.push(on('pins', (ch) => ch === chId && renderHeader()));
  offs.push(on('pins-stale', (ch) => ch === chId && app.loadPins(chId).catch((e) => console.warn('pins', e))));
  // Only a join adds a line (a leave would be a member one may no longer list: one's
  // own leaving of a private channel makes its members unreadable).
  offs.push(on('channel-members-changed', (p) => p && p.channel === chId && p.kind === 'member.joined' && loadJoins()));
  let shownName = c && c.name;
  offs.push(on('channels', () => {
    renderHeader();
    renderComposer();
    const ch = state.channels.get(chId);
    if (ch && ch.name !== shownName) {
      shownName = ch.name;
      render(); // the channel-start heading names it
    }
  }));
  offs.push(on('typing', (ch) => ch === chId && renderTyping()));
  offs.push(on('message-arrived', (m) => {
    if (m.channel === chId && m.author === state.me.id) stick = true;
  }));
  // Replies' unread marks on their roots.
  offs.push(on('threads-changed', () => render()));
  offs.push(on('unread-marked', (p) => {
    if (p.channel !== chId) return;
    newAfter = p.seq;
    render();
  }));
  const onVisible = () => {
    if (document.visibilityState === 'visible') markSeen();
  };
  document.addEventListener('visibilitychange', onVisible);

  renderHeader();
  renderComposer();
  render({ reset: true });
  app.ensureHistory(chId).catch((e) => app.reportError(e, 'Could not load messages'));
  app.loadPins(chId).catch((e) => console.warn('pins', e));
  loadJoins();

  return {
    focus: () => composer && composer.focusInput(),
    destroy() {
      offs.forEach((f) => f());
      clearInterval(typingTimer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
