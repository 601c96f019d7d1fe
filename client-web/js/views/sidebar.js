// views/sidebar.js — the sidebar: workspace switcher, Activity (with the count of
// unread mentions), Threads (bold with unread replies, with the count of unread
// mentions in threads) and Saved items, channels with unread and mention badges
// (a muted one dimmed, never bold), direct messages
// with presence, "Browse channels", "Channels you may like" (when the server
// suggests), archived channels, and the user's own menu.

import { h, clear } from '../dom.js';
import { state, on, channelTitle, currentWorkspace } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { presenceDot } from './message.js';
import { icon } from '../icons.js';
import { createChannelDialog, browseChannelsDialog, newDmDialog, inviteDialog, workspaceDialog } from './dialogs.js';
import { openProfileCard } from './profile.js';

export function mountSidebar(root, { onSignOut }) {
  const nav = h('nav.sidebar-inner', { 'aria-label': 'Workspace navigation' });
  clear(root).append(nav);
  const offs = [];

  function channelLink(c) {
    const active = state.openChannel === c.id && app.ui.route.name === 'channel';
    // A muted channel is not bold with unread messages; its mentions still show.
    const muted = c.notify === 'mute';
    const unread = c.is_member && c.unread_count > 0 && !muted;
    const a = h(`a.side-item${active ? '.active' : ''}${unread ? '.unread' : ''}${c.archived ? '.archived' : ''}${muted ? '.muted-channel' : ''}`, {
      href: app.channelHash(state.wsId, c.id),
      'aria-current': active ? 'page' : null,
      dataset: { channel: c.id },
    });
    if (c.kind === 'dm') {
      const others = (c.dm_members || []).filter((u) => u.id !== state.me.id);
      a.append(others.length === 1 ? presenceDot(others[0].id) : h('span.side-icon', icon('users', 16)));
    } else {
      a.append(h('span.side-icon', icon(c.kind === 'private' ? 'lock' : 'hash', 16)));
    }
    a.append(h('span.side-name', channelTitle(c)));
    if (c.is_member && c.mention_count > 0) {
      a.append(h('span.badge.mention', { 'aria-label': `${c.mention_count} mention${c.mention_count === 1 ? '' : 's'}` }, String(c.mention_count)));
    } else if (unread) {
      a.append(h('span.badge', { 'aria-label': `${c.unread_count} unread` }, String(c.unread_count)));
    }
    return h('li', a);
  }

  /** Activity and Threads: what not to miss, above the channels. */
  function inboxLinks() {
    const member = [...state.channels.values()].filter((c) => c.is_member && !c.archived);
    const mentions = member.filter((c) => c.kind !== 'dm').reduce((n, c) => n + (c.mention_count || 0), 0);
    const inThreads = member.reduce((n, c) => n + (c.thread_mention_count || 0), 0);
    const unreadThreads = [...state.myThreads.values()].filter((t) => t.unread > 0).length;
    const link = (name, label, iconName, unread, badge) => {
      const active = app.ui.route.name === name;
      return h('li', h(`a.side-item${active ? '.active' : ''}${unread ? '.unread' : ''}`, { href: `#/w/${state.wsId}/${name}`, 'aria-current': active ? 'page' : null, dataset: { inbox: name } },
        h('span.side-icon', icon(iconName, 16)), h('span.side-name', label), badge));
    };
    const mentionBadge = (n) => h('span.badge.mention', { 'aria-label': `${n} mention${n === 1 ? '' : 's'}` }, String(n));
    return h('ul.side-list.inbox',
      link('activity', 'Activity', 'at', mentions > 0, mentions ? mentionBadge(mentions) : null),
      link('threads', 'Threads', 'thread', unreadThreads > 0 || inThreads > 0,
        inThreads ? mentionBadge(inThreads) : unreadThreads ? h('span.badge', { 'aria-label': `${unreadThreads} with unread replies` }, String(unreadThreads)) : null),
      link('saved', 'Saved items', 'bookmark', false, null));
  }

  function section(title, addLabel, onAdd, items, empty) {
    const head = h('div.side-head', h('h2', title), addLabel ? h('button.icon-btn.small', { type: 'button', 'aria-label': addLabel, title: addLabel, on: { click: onAdd } }, icon('plus', 16)) : null);
    const ul = h('ul.side-list');
    if (items.length) ul.append(...items);
    else if (empty) ul.append(h('li.side-empty', empty));
    return h('section.side-section', head, ul);
  }

  function render() {
    // Keep keyboard focus on the same control across re-renders.
    const active = nav.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = active && (active.getAttribute('href') || active.getAttribute('aria-label') || active.id || active.textContent);
    clear(nav);
    const ws = currentWorkspace();
    // Workspace switcher.
    const sel = h('select#ws-select', {
      on: {
        change: () => {
          if (sel.value === '__add') {
            sel.value = state.wsId;
            workspaceDialog();
          } else app.navigate(`#/w/${sel.value}`);
        },
      },
    });
    for (const w of state.workspaces) sel.append(h('option', { value: w.id, selected: w.id === state.wsId }, w.name));
    sel.append(h('option', { value: '__add' }, '＋ Create or join a workspace…'));
    nav.append(
      h('div.ws-switch', h('label.sr-only', { for: 'ws-select' }, 'Workspace'), sel,
        ws && ws.role !== 'guest' ? h('button.icon-btn', { type: 'button', 'aria-label': 'Invite people', title: 'Invite people', on: { click: inviteDialog } }, icon('userPlus')) : null),
    );

    const all = [...state.channels.values()];
    const mine = all.filter((c) => c.is_member && c.kind !== 'dm' && !c.archived).sort((a, b) => a.name.localeCompare(b.name));
    const dms = all.filter((c) => c.kind === 'dm' && !c.archived).sort((a, b) => (b.last_seq || 0) - (a.last_seq || 0) || channelTitle(a).localeCompare(channelTitle(b)));
    const archived = all.filter((c) => c.archived).sort((a, b) => a.name.localeCompare(b.name));
    const browsable = all.filter((c) => c.kind === 'public' && !c.is_member && !c.archived);
    const canCreate = ws && ws.role !== 'guest';

    nav.append(inboxLinks());
    nav.append(section('Channels', canCreate ? 'Create channel' : null, createChannelDialog, mine.map(channelLink), 'No channels yet'));
    nav.append(
      h('button.side-action', { type: 'button', on: { click: browseChannelsDialog } }, h('span.side-icon', icon('search', 16)),
        `Browse channels${browsable.length ? ` (${browsable.length})` : ''}`),
    );
    nav.append(section('Direct messages', 'New direct message', newDmDialog, dms.map(channelLink), 'No conversations yet'));

    if (api.features.channelSuggest !== false && app.suggestions.channels.length) {
      const items = app.suggestions.channels.map((s) => {
        const c = s.channel || state.channels.get(s.id);
        const name = c ? c.name : 'channel';
        return h('li.suggest',
          h('div', h('a.side-item', { href: app.channelHash(state.wsId, s.id) }, h('span.side-icon', icon('hash', 16)), h('span.side-name', name)),
            s.reason ? h('p.reason', s.reason) : null),
          h('button.btn.small', {
            type: 'button',
            'aria-label': `Join #${name}`,
            on: { click: () => app.joinChannel(s.id).then(() => app.navigate(app.channelHash(state.wsId, s.id))).catch((e) => app.reportError(e, 'Join failed')) },
          }, 'Join'));
      });
      nav.append(section('Channels you may like', null, null, items));
    }
    if (archived.length) {
      const det = h('details.side-section.archived-section', h('summary', h('h2', `Archived (${archived.length})`)), h('ul.side-list', archived.map(channelLink)));
      nav.append(det);
    }
    const me = state.me;
    nav.append(
      h('div.side-footer',
        ws && (ws.role === 'owner' || ws.role === 'admin')
          ? h('a.side-item', { href: `#/w/${state.wsId}/settings`, 'aria-current': app.ui.route.name === 'settings' ? 'page' : null }, h('span.side-icon', icon('settings', 16)), h('span.side-name', 'Workspace settings'))
          : null,
        h('a.side-item', { href: `#/w/${state.wsId}/people`, 'aria-current': app.ui.route.name === 'people' ? 'page' : null }, h('span.side-icon', icon('users', 16)), h('span.side-name', 'People')),
        h('a.side-item', { href: `#/w/${state.wsId}/privacy`, 'aria-current': app.ui.route.name === 'privacy' ? 'page' : null }, h('span.side-icon', icon('shield', 16)), h('span.side-name', 'Privacy & AI')),
        h('div.side-me', presenceDot(me.id), h('button.side-name.side-me-open', { type: 'button', title: 'Your profile', on: { click: () => openProfileCard(me.id) } }, h('strong', me.display_name), me.status_emoji ? h('span', { title: me.status_text || '' }, ` ${me.status_emoji}`) : null, h('span.muted', ` @${me.username}`)),
          h('button.btn.small', { type: 'button', on: { click: onSignOut } }, 'Sign out'))),
    );
    if (focusKey) {
      const again = [...nav.querySelectorAll('a, button, select, summary')].find(
        (el) => (el.getAttribute('href') || el.getAttribute('aria-label') || el.id || el.textContent) === focusKey,
      );
      if (again) again.focus();
    }
  }

  for (const t of ['channels', 'workspaces', 'workspace', 'presence', 'suggestions', 'route', 'members', 'threads-changed']) offs.push(on(t, render));
  offs.push(api.onFeatureChange(render));
  render();
  return { destroy: () => offs.forEach((f) => f()) };
}
