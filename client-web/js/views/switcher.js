// @ts-check
// views/switcher.js — the quick switcher (Ctrl/Cmd+K): a dialog that jumps to a
// channel, a group conversation or a person (their direct message, opened if need
// be) as one types. Names that start with what was typed come first, then names with
// a word that does, then names that merely contain it; Up/Down choose, Enter goes.
// Also the channel order Alt+Up/Down steps through: the sidebar's (channels, then
// direct messages).

import { h, clear, uid } from '../dom.js';
import { state, channelTitle } from '../store.js';
import * as app from '../app.js';
import { openDialog } from './dialogs.js';
import { presenceDot } from './message.js';
import { icon } from '../icons.js';

/** @typedef {{key: string, label: string, hint: string, icon: Node, names: string[], unread: boolean, go: () => Promise<unknown> | void}} Target */

const MAX_SHOWN = 12;

/** The ids of the channels the sidebar lists, in its order (Alt+Up/Down). */
export function sidebarOrder() {
  const all = [...state.channels.values()];
  const mine = all.filter((c) => c.is_member && c.kind !== 'dm' && !c.archived).sort((a, b) => a.name.localeCompare(b.name));
  const dms = all.filter((c) => c.kind === 'dm' && !c.archived).sort((a, b) => (b.last_seq || 0) - (a.last_seq || 0) || channelTitle(a).localeCompare(channelTitle(b)));
  return [...mine, ...dms].map((c) => c.id);
}

/** Opens the channel `step` places from the open one in the sidebar's order (wrapping). */
export function stepChannel(step) {
  const order = sidebarOrder();
  if (!order.length || !state.wsId) return;
  const at = state.openChannel ? order.indexOf(state.openChannel) : -1;
  const next = at < 0 ? (step > 0 ? 0 : order.length - 1) : (at + step + order.length) % order.length;
  app.navigate(app.channelHash(state.wsId, order[next]));
}

/** Everything one may jump to: channels one is in or may join, group DMs, people. */
function targets() {
  const ws = state.wsId;
  /** @type {Target[]} */
  const out = [];
  const dmWith = new Map(); // user id -> their 1:1 DM
  for (const c of state.channels.values()) {
    if (c.archived) continue;
    const unread = !!c.is_member && (c.unread_count || 0) > 0 && c.notify !== 'mute';
    if (c.kind === 'dm') {
      const others = (c.dm_members || []).filter((u) => u.id !== state.me.id);
      if (others.length === 1) {
        dmWith.set(others[0].id, c);
        continue;
      }
      const title = channelTitle(c);
      out.push({ key: c.id, label: title, hint: 'Group conversation', icon: icon('users', 16), names: [title, ...others.map((u) => u.username)], unread, go: () => app.navigate(app.channelHash(ws, c.id)) });
    } else if (c.is_member || c.kind === 'public') {
      out.push({ key: c.id, label: `#${c.name}`, hint: c.is_member ? (c.topic || '') : 'Not joined yet', icon: icon(c.kind === 'private' ? 'lock' : 'hash', 16), names: [c.name], unread, go: () => app.navigate(app.channelHash(ws, c.id)) });
    }
  }
  for (const m of state.members.values()) {
    if (m.id === state.me.id) continue;
    const dm = dmWith.get(m.id);
    const name = m.display_name || m.username;
    out.push({
      key: `user:${m.id}`,
      label: name,
      hint: `@${m.username} · Direct message`,
      icon: presenceDot(m.id),
      names: [name, m.username],
      unread: !!dm && (dm.unread_count || 0) > 0,
      go: () => (dm ? app.navigate(app.channelHash(ws, dm.id)) : app.openDm(m.id)),
    });
  }
  return out;
}

/**
 * How well `names` match the query `q` (lower case): 0 a name starts with it, 1 a word
 * of a name does, 2 a name contains it; null for no match.
 * @param {string[]} names
 * @param {string} q
 */
export function matchRank(names, q) {
  let best = null;
  for (const raw of names) {
    const name = raw.toLowerCase();
    const rank = name.startsWith(q) ? 0 : name.split(/[\s_.-]+/).some((w) => w.startsWith(q)) ? 1 : name.includes(q) ? 2 : null;
    if (rank !== null && (best === null || rank < best)) best = rank;
  }
  return best;
}

/** @param {string} query */
function ranked(query) {
  const q = query.trim().toLowerCase().replace(/^[#@]/, '');
  const scored = [];
  for (const t of targets()) {
    const rank = q ? matchRank(t.names, q) : t.unread ? 0 : 1;
    if (rank !== null) scored.push({ t, rank });
  }
  scored.sort((a, b) => a.rank - b.rank || Number(b.t.unread) - Number(a.t.unread) || a.t.label.localeCompare(b.t.label));
  return scored.slice(0, MAX_SHOWN).map((s) => s.t);
}

let open = false;

export function openSwitcher() {
  if (open || !state.wsId || !state.me) return;
  open = true;
  const dlg = openDialog('Jump to a conversation', (body, close) => {
    const listId = uid('switch');
    const input = /** @type {HTMLInputElement} */ (h('input.switcher-input', {
      type: 'text',
      role: 'combobox',
      'aria-label': 'Channel or person',
      'aria-controls': listId,
      'aria-expanded': 'true',
      'aria-autocomplete': 'list',
      placeholder: 'Channel or person…',
      autocomplete: 'off',
    }));
    const list = h('ul.switcher-list', { id: listId, role: 'listbox', 'aria-label': 'Conversations' });
    /** @type {Target[]} */
    let items = [];
    let index = 0;
    const choose = async (/** @type {Target} */ t) => {
      close();
      try {
        await t.go();
      } catch (e) {
        app.reportError(e, 'Could not open the conversation');
      }
    };
    const render = () => {
      clear(list);
      items.forEach((t, i) => {
        const li = h('li.switcher-item', {
          id: `${listId}-${i}`,
          role: 'option',
          'aria-selected': i === index ? 'true' : 'false',
          on: {
            mousedown: (/** @type {MouseEvent} */ e) => e.preventDefault(),
            click: () => choose(t),
          },
        }, t.icon, h('span.switcher-label', t.label), t.unread ? h('span.badge.dot', { 'aria-label': 'unread' }) : null, t.hint ? h('span.muted.switcher-hint', t.hint) : null);
        list.append(li);
      });
      if (!items.length) list.append(h('li.muted.switcher-empty', 'No channel or person by that name.'));
      if (items.length) input.setAttribute('aria-activedescendant', `${listId}-${index}`);
      else input.removeAttribute('aria-activedescendant');
      const current = list.children[index];
      if (current && 'scrollIntoView' in current) current.scrollIntoView({ block: 'nearest' });
    };
    const update = () => {
      items = ranked(input.value);
      index = 0;
      render();
    };
    input.addEventListener('input', update);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        if (!items.length) return;
        index = (index + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
        render();
      } else if (e.key === 'Enter') {
        e.preventDefault();
        if (items[index]) choose(items[index]);
      }
    });
    body.append(h('div.switcher', input, list, h('p.hint', '↑↓ to choose, Enter to go, Esc to close')));
    update();
  });
  dlg.classList.add('switcher-dialog');
  dlg.addEventListener('close', () => {
    open = false;
  });
}
