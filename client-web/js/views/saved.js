// @ts-check
// views/saved.js — the Saved view (#/w/WS/saved): the messages the caller saved for
// later (a message's toolbar saves it), the most recently saved first, in pages;
// each opens in its channel or thread, and Remove takes it out.

import { h, clear, timeOf, fullTime, debounce } from '../dom.js';
import { state, on, channelTitle, userName } from '../store.js';
import * as app from '../app.js';
import { avatar, markdownContext } from './message.js';
import { renderMarkdown } from '../markdown.js';

/** @typedef {import('../protocol.js').SavedItem} SavedItem */

const PAGE = 30;

/** @param {SavedItem} item */
function renderItem(item) {
  const m = item.message;
  const c = state.channels.get(m.channel);
  const where = c ? (c.kind === 'dm' ? channelTitle(c) : `#${c.name}`) : 'a channel';
  const who = userName(m.author);
  const text = h('div.activity-text');
  text.append(renderMarkdown(m.text, markdownContext()));
  return h('li.activity-item.saved-item', { dataset: { id: m.id } },
    h('button.activity-open', { type: 'button', 'aria-label': `Open ${who}'s message in ${where}`, on: { click: () => app.openMessage(m) } },
      avatar(m.author, 'sm'),
      h('div.activity-body',
        h('div.activity-meta', h('strong', who), h('span.muted', ` in ${where}${m.thread_root ? ' (thread)' : ''}`),
          h('time.muted', { title: fullTime(m.created_at) }, ` · ${new Date(m.created_at).toLocaleDateString()} ${timeOf(m.created_at)}`)),
        text)),
    h('button.btn.small.saved-remove', { type: 'button', 'aria-label': `Remove ${who}'s message from saved items`, on: { click: () => app.toggleSaved(m) } }, 'Remove'));
}

/** @param {HTMLElement} root */
export function mountSaved(root) {
  const list = h('ol.activity-list', { 'aria-label': 'Saved items' });
  const status = h('p.muted.center', { 'aria-live': 'polite' }, 'Loading…');
  const more = h('button.btn', { type: 'button', hidden: true }, 'Show more');
  clear(root).append(h('section.inbox-view', { 'aria-label': 'Saved items' },
    h('header.ch-header', h('div.ch-heading', h('h1', 'Saved items'), h('p.ch-topic', 'Messages you saved for later; only you see them'))),
    h('div.inbox-scroll', list, status, h('div.center', more))));

  let generation = 0;
  async function load(append = false) {
    const mine = ++generation;
    try {
      const page = await app.loadSaved(PAGE, append ? list.childElementCount : 0);
      if (mine !== generation) return;
      if (!append) clear(list);
      list.append(...page.items.map(renderItem));
      more.hidden = list.childElementCount >= page.total;
      status.textContent = list.childElementCount ? '' : 'Nothing saved: “Save for later” on a message keeps it here.';
    } catch (e) {
      status.textContent = `Could not load your saved items: ${e.message}`;
    }
  }
  more.addEventListener('click', () => load(true));
  const offs = [on('saved-changed', debounce(() => load(false), 200))];
  load(false);
  return {
    focus: () => list.querySelector('button')?.focus(),
    destroy: () => offs.forEach((f) => f()),
  };
}
