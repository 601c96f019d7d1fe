// @ts-check
// views/threads.js — the Threads view (#/w/WS/threads): the threads the caller is in
// (they started one that got replies, or replied), the most recently active first,
// each with its root, its newest replies and how many replies (and mentions of the
// caller) are unread; "Open thread" opens it beside its channel.

import { h, clear, timeOf, fullTime, debounce } from '../dom.js';
import { state, on, channelTitle, userName } from '../store.js';
import * as app from '../app.js';
import { avatar, markdownContext } from './message.js';
import { renderMarkdown } from '../markdown.js';

/** @typedef {import('../protocol.js').ThreadSummary} ThreadSummary */
/** @typedef {import('../protocol.js').Message} Message */

const PAGE = 20;

/** @param {Message} m */
function line(m) {
  const text = h('div.thread-line-text');
  if (m.deleted) text.append(h('em.muted', 'This message was deleted.'));
  else text.append(renderMarkdown(m.text, markdownContext()));
  return h('div.thread-line', avatar(m.author, 'sm'),
    h('div', h('div.activity-meta', h('strong', userName(m.author)),
      h('time.muted', { title: fullTime(m.created_at) }, ` ${timeOf(m.created_at)}`)), text));
}

/** @param {ThreadSummary} t */
function renderThread(t) {
  const c = state.channels.get(t.root.channel);
  const where = c ? (c.kind === 'dm' ? channelTitle(c) : `#${c.name}`) : '';
  // What the live view knows may be newer than the page.
  const live = state.myThreads.get(t.root.id);
  const unread = live ? live.unread : t.unread_replies;
  const mentions = live ? live.mentions : t.unread_mentions;
  const open = () => {
    const newest = t.latest_replies[t.latest_replies.length - 1];
    app.openMessage(newest || t.root);
  };
  const n = t.root.reply_count;
  return h(`li.thread-card${unread ? '.unread' : ''}`, { dataset: { root: t.root.id } },
    h('header.thread-card-head',
      h('strong', where),
      h('span.muted', ` · ${n} ${n === 1 ? 'reply' : 'replies'}`),
      unread ? h(`span.badge${mentions ? '.mention' : ''}`, { 'aria-label': `${unread} unread ${unread === 1 ? 'reply' : 'replies'}${mentions ? `, ${mentions} mentioning you` : ''}` }, `${unread} new`) : null),
    line(t.root),
    t.latest_replies.length < n ? h('p.muted.thread-more', `${n - t.latest_replies.length} earlier ${n - t.latest_replies.length === 1 ? 'reply' : 'replies'}`) : null,
    h('div.thread-replies', t.latest_replies.map(line)),
    h('button.btn.small', { type: 'button', on: { click: open } }, 'Open thread'));
}

/** @param {HTMLElement} root */
export function mountThreads(root) {
  const list = h('ol.thread-cards', { 'aria-label': 'Threads' });
  const status = h('p.muted.center', { 'aria-live': 'polite' }, 'Loading…');
  const more = h('button.btn', { type: 'button', hidden: true }, 'Show more');
  clear(root).append(h('section.inbox-view', { 'aria-label': 'Threads' },
    h('header.ch-header', h('div.ch-heading', h('h1', 'Threads'), h('p.ch-topic', 'Threads you started or replied in'))),
    h('div.inbox-scroll', list, status, h('div.center', more))));

  let shown = 0;
  let generation = 0;
  async function load(append = false) {
    const mine = ++generation;
    try {
      const page = await app.loadThreads(PAGE, append ? shown : 0);
      if (mine !== generation) return;
      if (!append) clear(list);
      list.append(...page.threads.map(renderThread));
      shown = list.childElementCount;
      more.hidden = shown >= page.total;
      status.textContent = shown ? '' : 'No threads yet: threads you start or reply in show here.';
    } catch (e) {
      status.textContent = `Could not load your threads: ${e.message}`;
    }
  }
  more.addEventListener('click', () => load(true));
  const offs = [on('threads-changed', debounce(() => load(false), 300))];
  load(false);
  return {
    focus: () => list.querySelector('button')?.focus(),
    destroy: () => offs.forEach((f) => f()),
  };
}
