// views/thread.js — the thread side panel: the root message, its replies (live),
// a typing line and a composer that posts replies with thread_root. Once its newest
// reply has been on screen, the thread is read (its mentions of the caller too),
// unless the caller marked it unread. Up and Down move the focus from message to
// message, as in the channel.

import { icon } from '../icons.js';
import { h, clear } from '../dom.js';
import { state, on, pendingFor, typingIn, channelTitle } from '../store.js';
import * as app from '../app.js';
import { renderMessage, startEdit } from './message.js';
import { renderList, typingText, focusByArrows } from './channel.js';
import { createComposer } from './composer.js';

export function mountThread(root, rootId) {
  const offs = [];
  const cache = new Map();
  state.openThread = rootId;
  app.ui.holdRead.delete(rootId);
  const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Close thread', title: 'Close (Esc)', on: { click: () => app.closePanel() } }, icon('close'));
  const sub = h('span.muted');
  const rootSlot = h('div.thread-root');
  const count = h('div.thread-count');
  const replies = h('div.msg-list');
  const scroller = h('div.messages.thread-scroll', { role: 'log', 'aria-label': 'Thread replies', tabindex: '0' }, rootSlot, count, replies);
  focusByArrows(scroller);
  const typingLine = h('div.typing', { 'aria-live': 'polite' });
  const composerSlot = h('div.composer-slot');
  const panel = h('section.thread-panel', { 'aria-label': 'Thread' },
    h('header.panel-header', h('div', h('h2', 'Thread'), sub), closeBtn), scroller, typingLine, composerSlot);
  clear(root).append(panel);
  let composer = null;

  function render(opts = {}) {
    const t = state.threads.get(rootId);
    if (!t) {
      clear(rootSlot).append(h('p.muted.center', 'Loading…'));
      return;
    }
    const ch = state.channels.get(t.root.channel);
    sub.textContent = ch ? (ch.kind === 'dm' ? channelTitle(ch) : `#${ch.name}`) : '';
    clear(rootSlot).append(renderMessage(t.root, { context: 'thread-root' }));
    const list = [...t.replies.values()].sort((a, b) => a.seq - b.seq);
    const n = list.filter((m) => !m.deleted).length;
    count.textContent = n ? `${n} ${n === 1 ? 'reply' : 'replies'}` : 'No replies yet';
    const pend = pendingFor(t.root.channel, rootId).map((p) => ({ ...p, pendingItem: true }));
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    renderList(replies, cache, list.concat(pend), 'thread');
    if (!composer) {
      const disabled = ch && ch.archived ? 'This channel is archived.' : ch && !ch.is_member ? 'Join the channel to reply.' : null;
      composer = createComposer({ channel: t.root.channel, threadRoot: rootId, label: 'Reply in thread', disabledReason: disabled, onUpEmpty: () => {
        const mine = list.filter((m) => m.author === state.me.id && !m.deleted);
        if (!mine.length) return false;
        startEdit(mine[mine.length - 1]);
        return true;
      } });
      composerSlot.append(composer);
      composer.focusInput();
    }
    const flash = app.ui.panel && app.ui.panel.flash;
    if (flash) {
      const el = panel.querySelector(`.msg[data-id="${flash}"]`);
      if (el) {
        app.ui.panel.flash = null;
        el.scrollIntoView({ block: 'center' });
        el.classList.add('flash');
      }
    } else if (atBottom || opts.reset) scroller.scrollTop = scroller.scrollHeight;
    if (opts.focusEdit) {
      const ta = panel.querySelector(`.msg[data-id="${opts.focusEdit}"] textarea`);
      if (ta) ta.focus();
    }
    if (opts.refocus && composer) composer.focusInput();
    markSeen();
  }

  function markSeen() {
    const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    if (atEnd && document.visibilityState === 'visible') app.markThreadRead(rootId);
  }
  scroller.addEventListener('scroll', markSeen);
  document.addEventListener('visibilitychange', markSeen);
  offs.push(() => document.removeEventListener('visibilitychange', markSeen));
  offs.push(() => {
    if (state.openThread === rootId) state.openThread = null;
  });
  offs.push(on('messages', (p) => {
    const t = state.threads.get(rootId);
    if (!p || p.thread === rootId || (t && p.channel === t.root.channel)) render(p || {});
  }));
  offs.push(on('pending', () => render()));
  offs.push(on('connection', () => render()));
  offs.push(on('members', () => render()));
  offs.push(on('typing', () => {
    const t = state.threads.get(rootId);
    typingLine.textContent = t ? typingText(typingIn(t.root.channel, rootId)) : '';
  }));
  render({ reset: true });
  return {
    destroy: () => offs.forEach((f) => f()),
    focus: () => (composer ? composer.focusInput() : closeBtn.focus()),
  };
}
