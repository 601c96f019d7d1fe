// @ts-check
// views/people.js — the people directory (#/w/WS/people): every member of the
// workspace with presence, role, status and a "BOT" tag for bots' accounts, searched
// by name, @username or status; a row opens the member's profile card. "Edit your
// profile" opens one's own. It follows the member list live (joins, leaves, roles,
// profile changes).

import { h, clear } from '../dom.js';
import { state, on, currentWorkspace } from '../store.js';
import * as app from '../app.js';
import { avatar, presenceDot } from './message.js';
import { openProfileCard, editProfileDialog, statusLine, botTag, ROLE_LABELS } from './profile.js';

/** @typedef {import('../protocol.js').MemberView} MemberView */

/** Whether a member matches what was typed: name, @username or status text. */
export function matches(/** @type {MemberView} */ m, /** @type {string} */ query) {
  const q = query.trim().toLowerCase().replace(/^@/, '');
  if (!q) return true;
  return [m.display_name, m.username, m.status_text].some((v) => (v || '').toLowerCase().includes(q));
}

/** @param {HTMLElement} root */
export function mountPeople(root) {
  const offs = [];
  const page = h('section.people-page', { 'aria-labelledby': 'people-title' });
  clear(root).append(h('div.page-scroll', page));
  const search = /** @type {HTMLInputElement} */ (h('input#people-search', { type: 'search', placeholder: 'Search by name, @username or status', autocomplete: 'off' }));
  const count = h('p.muted', { role: 'status' });
  const list = h('ul.directory');
  const ws = currentWorkspace();
  page.append(
    h('header.page-header',
      h('h1#people-title', { tabindex: '-1' }, 'People'),
      ws ? h('p.lead', ws.name) : null),
    h('div.people-tools',
      h('label.sr-only', { for: 'people-search' }, 'Search people'), search,
      h('button.btn', { type: 'button', on: { click: editProfileDialog } }, 'Edit your profile')),
    count, list);

  function render() {
    const people = /** @type {MemberView[]} */ ([...state.members.values()])
      .filter((m) => matches(m, search.value))
      .sort((a, b) => Number(!!a.is_bot) - Number(!!b.is_bot) || (a.display_name || a.username).localeCompare(b.display_name || b.username));
    clear(list);
    const total = state.members.size;
    count.textContent = search.value.trim() ? `${people.length} of ${total} ${total === 1 ? 'person' : 'people'}` : `${total} ${total === 1 ? 'person' : 'people'}`;
    if (!people.length) list.append(h('li.muted', 'Nobody matches.'));
    for (const m of people) {
      const name = m.display_name || m.username;
      const me = state.me && m.id === state.me.id;
      list.append(h('li.person', { dataset: { user: m.id } },
        h('button.person-open', { type: 'button', 'aria-label': `${name}: profile`, on: { click: () => openProfileCard(m.id) } },
          avatar(m.id),
          h('span.person-text',
            h('span.person-name', presenceDot(m.id), ' ', h('strong', name), me ? h('span.muted', ' (you)') : null, botTag(m.id),
              m.role !== 'member' ? h('span.tag', ROLE_LABELS[m.role] || m.role) : null),
            h('span.muted.person-handle', `@${m.username}`),
            statusLine(m)))));
    }
  }

  search.addEventListener('input', render);
  offs.push(on('members', render));
  offs.push(on('presence', render));
  render();
  app.refreshMembers().catch(() => {});
  return {
    destroy: () => offs.forEach((f) => f()),
    focus: () => search.focus(),
  };
}
