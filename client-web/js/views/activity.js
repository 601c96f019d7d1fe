// @ts-check
// views/activity.js — the Activity view (#/w/WS/activity): messages that mention the
// caller and replies in threads they are in, newest first, unread ones marked, in
// pages ("Show older"); each opens its message in its channel, or in its thread.
// It reloads when something new for the caller arrives.

import { h, clear, timeOf, fullTime, debounce } from '../dom.js';
import { state, on, channelTitle, userName } from '../store.js';
import * as app from '../app.js';
import { avatar, markdownContext } from './message.js';
import { renderMarkdown } from '../markdown.js';

/** @typedef {import('../protocol.js').ActivityItem} ActivityItem */

/** Where a message is: "#general", or the DM's people. */
function placeOf(channelId) {
  const c = state.channels.get(channelId);
  if (!c) return 'a channel';
  return c.kind === 'dm' ? channelTitle(c) : `#${c.name}`;
}

/** @param {ActivityItem} item */
function what(item) {
  const who = userName(item.message.author);
  const where = placeOf(item.message.channel);
  if (item.mention && item.message.thread_root) return `${who} mentioned you in a thread in ${where}`;
  if (item.mention) return `${who} mentioned you in ${where}`;
  return `${who} replied in a thread in ${where}`;
}

/** @param {ActivityItem} item */
function renderItem(item) {
  const m = item.message;
  const text = h('div.activity-text');
  text.append(renderMarkdown(m.text, markdownContext()));
  return h(`li.activity-item${item.unread ? '.unread' : ''}`, { dataset: { id: m.id } },
    h('button.activity-open', { type: 'button', 'aria-label': `${what(item)}${item.unread ? ' (unread)' : ''}`, on: { click: () => app.openMessage(m) } },
      avatar(m.author, 'sm'),
      h('div.activity-body',
        h('div.activity-meta',
          h('span.tag', item.mention ? '@ mention' : 'reply'),
          h('strong', what(item)),
          h('time.muted', { datetime: new Date(m.created_at).toISOString(), title: fullTime(m.created_at) }, ` · ${new Date(m.created_at).toLocaleDateString()} ${timeOf(m.created_at)}`),
          item.unread ? h('span.unread-dot', { 'aria-hidden': 'true' }) : null),
        text)));
}

/** @param {HTMLElement} root */
export function mountActivity(root) {
  const list = h('ol.activity-list', { 'aria-label': 'Activity' });
  const status = h('p.muted.center', { 'aria-live': 'polite' }, 'Loading…');
  const more = h('button.btn', { type: 'button', hidden: true }, 'Show older');
  const heading = h('h1', 'Activity');
  clear(root).append(h('section.inbox-view', { 'aria-label': 'Activity' },
    h('header.ch-header', h('div.ch-heading', heading, h('p.ch-topic', 'Mentions of you and replies in your threads'))),
    h('div.inbox-scroll', list, status, h('div.center', more))));

  /** @type {string | null} */
  let next = null;
  let generation = 0;

  async function load(older = false) {
    const mine = ++generation;
    try {
      const page = await app.loadActivity(older ? next : null);
      if (mine !== generation) return;
      if (!older) clear(list);
      list.append(...page.items.map(renderItem));
      next = page.next || null;
      more.hidden = !next;
      status.textContent = list.childElementCount ? '' : 'Nothing yet: mentions of you and replies in your threads show here.';
    } catch (e) {
      status.textContent = `Could not load your activity: ${e.message}`;
    }
  }
  more.addEventListener('click', () => load(true));
  const reload = debounce(() => load(false), 300);
  const offs = [on('activity-changed', reload)];
  load(false);
  return {
    focus: () => list.querySelector('button')?.focus(),
    destroy: () => offs.forEach((f) => f()),
  };
}
