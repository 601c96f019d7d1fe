// @ts-check
// views/pins.js — a channel's pinned messages, as a section of the channel details
// panel ("Pinned messages"): each pin's author, text (the safe markdown renderer),
// who pinned it and when, "Open" (its permalink) and, for the channel's members,
// "Unpin". The list is the store's (`state.pins`, loaded by the channel view and kept
// current by `message.pinned` / `message.unpinned` / `message.deleted`).

import { h, fullTime } from '../dom.js';
import { state, userName } from '../store.js';
import { renderMarkdown } from '../markdown.js';
import * as app from '../app.js';
import { markdownContext } from './message.js';

/**
 * The "Pinned messages" section of channel `chId`.
 * @param {string} chId
 */
export function pinsSection(chId) {
  const ch = state.channels.get(chId);
  const list = state.pins.get(chId);
  const sec = h('section.details-section.pins', { 'aria-labelledby': 'det-pins' },
    h('h3#det-pins', { tabindex: '-1' }, `Pinned messages${list ? ` (${list.length})` : ''}`));
  if (!list) {
    sec.append(h('p.muted', 'Loading pinned messages…'));
    return sec;
  }
  if (!list.length) {
    sec.append(h('p.muted', 'Nothing is pinned yet. Pin a message from its “Pin to channel” action to keep it here for everyone in the channel.'));
    return sec;
  }
  const ul = h('ul.pin-list');
  for (const p of list) {
    const m = p.message;
    const text = h('div.pin-text');
    text.append(renderMarkdown(m.text || '', markdownContext()));
    ul.append(h('li.pin', { dataset: { id: m.id } },
      h('div.pin-meta', h('strong', userName(m.author)), h('span.muted', ` · ${fullTime(m.created_at)}`)),
      text,
      h('p.muted.pin-by', `Pinned by ${userName(p.pinned_by)}, ${fullTime(p.pinned_at)}`),
      h('div.pin-actions',
        h('button.btn.small', { type: 'button', 'aria-label': `Open the message by ${userName(m.author)}`, on: { click: () => app.jumpToMessage(m) } }, 'Open'),
        ch && ch.is_member && !ch.archived
          ? h('button.btn.small', { type: 'button', 'aria-label': `Unpin the message by ${userName(m.author)}`, on: { click: () => app.togglePin(m) } }, 'Unpin')
          : null)));
  }
  sec.append(ul);
  return sec;
}
