// @ts-check
// views/details.js — the channel details side panel ("Channel details"), opened from
// the channel header: name and "Rename", "Topic", "Archive"/"Unarchive", "Leave",
// the members as the server lists them ("Add people" from the workspace's members,
// "Remove" for the channel's creator and admins; a name opens the profile card), its
// pinned messages (views/pins.js), the
// channel's message retention (views/policies.js) and, for owners and admins, its
// incoming webhooks (views/integrations.js). Each control shows only to those the
// server allows (channel members edit the topic and add people; the creator, admins
// and owners rename and archive; admins and owners set retention and webhooks); the
// server still checks, and its refusals are shown in the panel.

import { icon } from '../icons.js';
import { h, clear, uid } from '../dom.js';
import { state, on, channelTitle, myRole, userName, updateChannel } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { presenceDot } from './message.js';
import { openProfileCard, botTag } from './profile.js';
import { refusal, webhooksSection } from './integrations.js';
import { channelRetentionSection } from './policies.js';
import { pinsSection } from './pins.js';

/**
 * @typedef {{id: string, username: string, display_name?: string, role?: string}} Member
 * @typedef {{id: string, workspace: string, name: string, kind: 'public'|'private'|'dm',
 *   topic?: string, archived?: boolean, created_by?: string, is_member?: boolean,
 *   member_count?: number, dm_members?: Member[]}} ChannelView
 */

/** What the signed-in user may do to a channel (the server checks again). */
export function channelRights(/** @type {ChannelView} */ ch) {
  const role = myRole();
  const admin = role === 'owner' || role === 'admin';
  const me = state.me && state.me.id;
  const isDm = ch.kind === 'dm';
  const member = !!ch.is_member;
  const manages = !isDm && (admin || ch.created_by === me);
  return {
    topic: !isDm && !ch.archived && (member || admin),
    rename: manages && !ch.archived,
    archive: manages,
    leave: !isDm && member,
    join: !isDm && !member && ch.kind === 'public' && !ch.archived && role !== 'guest',
    add: !isDm && !ch.archived && (member || admin),
    webhooks: !isDm && admin,
  };
}

/** @param {HTMLElement} root @param {string} chId */
export function mountChannelDetails(root, chId) {
  const offs = [];
  const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Close channel details', title: 'Close (Esc)', on: { click: () => app.closePanel() } }, icon('close'));
  const sub = h('span.muted');
  const body = h('div.panel-scroll.details');
  const err = h('p.error', { role: 'alert', hidden: true });
  const panel = h('section.details-panel', { 'aria-label': 'Channel details' },
    h('header.panel-header', h('div', h('h2', 'Channel details'), sub), closeBtn), err, body);
  clear(root).append(panel);

  /** @type {Member[] | null | undefined} undefined: loading; null: the list could not be loaded */
  let members;
  let loads = 0;
  let addOpen = false;
  let addQuery = '';
  /** @type {Set<string>} */
  const added = new Set();
  // The name and topic inputs outlive re-renders (a channel event re-renders the
  // panel): what someone is typing is kept until it is saved.
  const nameInput = /** @type {HTMLInputElement} */ (h('input', { type: 'text', maxlength: 80, pattern: '[a-z0-9_\\-]{1,80}', required: true, autocomplete: 'off', id: 'det-name' }));
  const topicInput = /** @type {HTMLInputElement} */ (h('input', { type: 'text', maxlength: 250, autocomplete: 'off', id: 'det-topic', placeholder: 'What is this channel about?' }));
  const dirty = { name: false, topic: false };
  nameInput.addEventListener('input', () => {
    const v = nameInput.value.toLowerCase().replace(/\s+/g, '-').replace(/[^a-z0-9_-]/g, '');
    if (v !== nameInput.value) nameInput.value = v;
    dirty.name = true;
  });
  topicInput.addEventListener('input', () => {
    dirty.topic = true;
  });

  const showError = (/** @type {any} */ e, /** @type {string} */ what) => {
    err.hidden = false;
    err.textContent = `${what}: ${messageFor(e)}`;
  };
  const clearError = () => {
    err.hidden = true;
    err.textContent = '';
  };
  // Sections with state of their own (a webhook URL shown once, a policy being
  // chosen) are built once and put back on each render.
  const errors = { show: showError, clear: clearError };
  const retention = channelRetentionSection(chId, errors);
  const hooks = webhooksSection(chId, errors);
  let hooksLoaded = false;

  async function loadMembers() {
    const ch = state.channels.get(chId);
    if (!ch) return;
    if (ch.kind === 'dm') {
      const others = (ch.dm_members || []).filter((m) => !state.me || m.id !== state.me.id);
      members = state.me ? [state.me, ...others] : others;
      render();
      return;
    }
    // Loads may overlap (a Remove, then its member.left event): only the last one counts.
    const mine = ++loads;
    try {
      const list = await api.channels.members(chId);
      if (mine !== loads) return;
      members = list.map((m) => ({ ...(state.members.get(m.id) || {}), ...m }));
    } catch (e) {
      if (mine !== loads) return;
      members = null;
      if (!(e instanceof api.ApiError && (e.code === 'channel_not_found' || e.code === 'forbidden'))) showError(e, 'Could not load the members');
    }
    render();
  }

  /** Runs a change, shows the server's refusal, refreshes the channel. */
  async function act(/** @type {() => Promise<any>} */ fn, /** @type {string} */ what, /** @type {HTMLButtonElement | null} */ btn, /** @type {string | null} */ done) {
    clearError();
    if (btn) btn.disabled = true;
    try {
      const r = await fn();
      if (r && r.id === chId) updateChannel(r);
      if (done) app.toast(done);
      await app.refreshChannels();
      return true;
    } catch (e) {
      showError(e, what);
      return false;
    } finally {
      if (btn && btn.isConnected) btn.disabled = false;
    }
  }

  function render() {
    const ch = state.channels.get(chId);
    const active = panel.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = active && (active.getAttribute('aria-label') || active.id || active.textContent);
    clear(body);
    if (!ch) {
      sub.textContent = '';
      body.append(h('p.muted', 'This channel is no longer available to you.'));
      return;
    }
    const rights = channelRights(ch);
    sub.textContent = ch.kind === 'dm' ? channelTitle(ch) : `#${ch.name}`;

    // ---- About: name, topic, state
    const about = h('section.details-section', { 'aria-labelledby': 'det-about' }, h('h3#det-about', 'About'));
    const facts = h('dl.facts',
      h('dt', 'Name'), h('dd', ch.kind === 'dm' ? channelTitle(ch) : `#${ch.name}`),
      h('dt', 'Kind'), h('dd', ch.kind === 'private' ? 'Private: only its members see it' : ch.kind === 'dm' ? 'Direct message' : 'Public: every member of the workspace can find and join it'),
      ch.created_by ? [h('dt', 'Created by'), h('dd', userName(ch.created_by))] : null,
      ch.archived ? [h('dt', 'State'), h('dd', 'Archived: read-only')] : null);
    about.append(facts);
    if (!dirty.name) nameInput.value = ch.name;
    if (!dirty.topic) topicInput.value = ch.topic || '';
    if (rights.rename) {
      const btn = /** @type {HTMLButtonElement} */ (h('button.btn.small', { type: 'submit' }, 'Rename'));
      about.append(h('form.inline-form', {
        on: {
          submit: (/** @type {Event} */ e) => {
            e.preventDefault();
            const name = nameInput.value.trim();
            if (!name || name === ch.name) return;
            act(() => api.channels.update(chId, { name }), 'Could not rename', btn, `Renamed to #${name}`).then((ok) => {
              if (ok) dirty.name = false;
            });
          },
        },
      }, h('label', { for: 'det-name' }, 'Channel name'), h('div.inline-row', nameInput, btn)));
    }
    if (ch.kind !== 'dm') {
      if (rights.topic) {
        const btn = /** @type {HTMLButtonElement} */ (h('button.btn.small', { type: 'submit' }, 'Save topic'));
        about.append(h('form.inline-form', {
          on: {
            submit: (/** @type {Event} */ e) => {
              e.preventDefault();
              const topic = topicInput.value.trim();
              if (topic === (ch.topic || '')) return;
              act(() => api.channels.update(chId, { topic }), 'Could not change the topic', btn, 'Topic saved').then((ok) => {
                if (ok) dirty.topic = false;
              });
            },
          },
        }, h('label', { for: 'det-topic' }, 'Topic'), h('div.inline-row', topicInput, btn)));
      } else {
        about.append(h('p', h('strong', 'Topic: '), ch.topic || h('span.muted', 'none')));
      }
    }
    body.append(about);

    // ---- Members
    const count = members ? members.length : ch.member_count || 0;
    const sec = h('section.details-section', { 'aria-labelledby': 'det-members' },
      h('div.section-head', h('h3#det-members', `Members (${count})`),
        rights.add ? h('button.btn.small', { type: 'button', 'aria-expanded': String(addOpen), on: { click: () => { addOpen = !addOpen; addQuery = ''; render(); } } }, icon('userPlus', 16), 'Add people') : null));
    if (rights.add && addOpen) sec.append(addPeople(ch));
    if (members === undefined) sec.append(h('p.muted', 'Loading members…'));
    else if (members === null) {
      sec.append(h('p.muted.members-unlisted', `${count} member${count === 1 ? '' : 's'}.`));
      if (added.size) sec.append(h('p.muted', `Added just now: ${[...added].map(userName).join(', ')}.`));
    } else {
      const ul = h('ul.member-list');
      const sorted = [...members].sort((a, b) => (a.display_name || a.username || '').localeCompare(b.display_name || b.username || ''));
      for (const m of sorted) {
        const name = m.display_name || m.username || userName(m.id);
        const canRemove = ch.kind !== 'dm' && m.id !== (state.me && state.me.id) && rights.archive;
        ul.append(h('li.member-row', { dataset: { user: m.id } },
          presenceDot(m.id),
          h('span.member-name', h('button.link.member-open', { type: 'button', 'aria-label': `${name}: profile`, on: { click: () => openProfileCard(m.id) } }, h('strong', name)), botTag(m.id), m.username ? h('span.muted', ` @${m.username}`) : null, m.id === (state.me && state.me.id) ? h('span.muted', ' (you)') : null),
          canRemove ? h('button.btn.small', {
            type: 'button',
            'aria-label': `Remove ${name} from the channel`,
            on: {
              click: async (/** @type {Event} */ e) => {
                const btn = /** @type {HTMLButtonElement} */ (e.currentTarget);
                const ok = await act(() => api.channels.removeMember(chId, m.id), `Could not remove ${name}`, btn, null);
                if (!ok) return;
                app.toast(`Removed ${name} from #${ch.name}`);
                await loadMembers();
              },
            },
          }, 'Remove') : null));
      }
      sec.append(ul);
    }
    body.append(sec);

    // ---- Pinned messages
    if (ch.kind !== 'dm' || state.pins.has(chId)) body.append(pinsSection(chId));

    // ---- Retention, webhooks
    retention.render();
    body.append(retention.el);
    if (rights.webhooks) {
      if (!hooksLoaded) {
        hooksLoaded = true;
        hooks.load();
      }
      body.append(hooks.el);
    }

    // ---- Actions
    const actions = h('section.details-section.details-actions', { 'aria-label': 'Channel actions' });
    if (rights.join) {
      actions.append(h('button.btn.primary', { type: 'button', on: { click: (/** @type {Event} */ e) => act(() => app.joinChannel(chId), 'Could not join', /** @type {HTMLButtonElement} */ (e.currentTarget), `Joined #${ch.name}`).then(loadMembers) } }, 'Join channel'));
    }
    if (rights.archive) {
      actions.append(ch.archived
        ? h('button.btn', { type: 'button', on: { click: (/** @type {Event} */ e) => act(() => api.channels.update(chId, { archived: false }), 'Could not unarchive', /** @type {HTMLButtonElement} */ (e.currentTarget), `#${ch.name} is back`) } }, 'Unarchive')
        : h('button.btn', { type: 'button', on: { click: (/** @type {Event} */ e) => act(() => api.channels.update(chId, { archived: true }), 'Could not archive', /** @type {HTMLButtonElement} */ (e.currentTarget), `Archived #${ch.name}`) } }, 'Archive'));
    }
    if (rights.leave) {
      actions.append(h('button.btn.danger', {
        type: 'button',
        on: {
          click: async (/** @type {Event} */ e) => {
            const ok = await act(() => api.channels.leave(chId), 'Could not leave', /** @type {HTMLButtonElement} */ (e.currentTarget), `You left #${ch.name}`);
            if (!ok) return;
            const left = state.channels.get(chId);
            if (!left || left.kind === 'private') {
              app.closePanel();
              app.navigate(`#/w/${state.wsId}`);
            } else loadMembers();
          },
        },
      }, 'Leave'));
    }
    if (actions.childNodes.length) body.append(actions);
    if (ch.kind !== 'dm' && !rights.rename && !rights.archive) {
      body.append(h('p.muted.hint', 'Only the channel’s creator and the workspace’s admins can rename or archive it.'));
    }

    if (focusKey) {
      const again = [...panel.querySelectorAll('button, input, select')].find((el) => (el.getAttribute('aria-label') || el.id || el.textContent) === focusKey);
      if (again instanceof HTMLElement) again.focus();
    }
  }

  function addPeople(/** @type {ChannelView} */ ch) {
    const listId = uid('add');
    const input = /** @type {HTMLInputElement} */ (h('input', { type: 'search', value: addQuery, placeholder: 'Search people in this workspace', autocomplete: 'off', 'aria-controls': listId, id: 'det-add' }));
    const ul = h('ul.people-list', { id: listId });
    const inChannel = new Set((members || []).map((m) => m.id));
    const fill = () => {
      clear(ul);
      const q = input.value.trim().toLowerCase();
      const people = [...state.members.values()]
        .filter((m) => m.id !== (state.me && state.me.id) && !inChannel.has(m.id))
        .filter((m) => !(ch.kind === 'public' && m.role === 'guest'))
        .filter((m) => !q || m.username.toLowerCase().includes(q) || (m.display_name || '').toLowerCase().includes(q))
        .sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username))
        .slice(0, 20);
      if (!people.length) ul.append(h('li.muted', q ? 'Nobody matches.' : 'Everyone is here already.'));
      for (const m of people) {
        const name = m.display_name || m.username;
        ul.append(h('li.pick-row',
          h('span', presenceDot(m.id), ' ', h('strong', name), h('span.muted', ` @${m.username}`)),
          added.has(m.id)
            ? h('span.muted', 'Added')
            : h('button.btn.small.primary', {
              type: 'button',
              'aria-label': `Add ${name} to #${ch.name}`,
              on: {
                click: async (/** @type {Event} */ e) => {
                  const ok = await act(() => api.channels.addMember(chId, m.id), `Could not add ${name}`, /** @type {HTMLButtonElement} */ (e.currentTarget), `Added ${name} to #${ch.name}`);
                  if (!ok) return;
                  added.add(m.id);
                  if (members) await loadMembers();
                  else render();
                },
              },
            }, 'Add')));
      }
    };
    input.addEventListener('input', () => {
      addQuery = input.value;
      fill();
    });
    fill();
    queueMicrotask(() => {
      if (document.activeElement === document.body || !document.activeElement || (document.activeElement.textContent || '').includes('Add people')) input.focus();
    });
    return h('div.add-people', h('label', { for: 'det-add' }, 'Add people'), input, ul);
  }

  offs.push(on('channels', () => render()));
  offs.push(on('members', () => render()));
  offs.push(on('pins', (/** @type {any} */ ch) => ch === chId && render()));
  offs.push(on('channel-members-changed', (/** @type {any} */ p) => {
    if (!p || p.channel !== chId || members === null) return;
    // Out of a private channel (left, or removed): it is no longer readable, so
    // there is no list to ask for; the channel goes from the store next.
    const ch = state.channels.get(chId);
    if (p.kind === 'member.left' && state.me && p.user === state.me.id && (!ch || ch.kind !== 'public')) return;
    loadMembers();
  }));
  render();
  loadMembers();
  retention.load();
  if (!state.pins.has(chId)) app.loadPins(chId).catch((e) => showError(e, 'Could not load the pinned messages'));
  return {
    destroy: () => offs.forEach((f) => f()),
    // Opened from the header's "Pinned messages": at the pins.
    focus: () => {
      const pins = app.ui.panel && app.ui.panel.section === 'pins' ? /** @type {HTMLElement | null} */ (panel.querySelector('#det-pins')) : null;
      if (pins) {
        pins.scrollIntoView({ block: 'start' });
        pins.focus();
      } else closeBtn.focus();
    },
  };
}

/** A refusal, written for people. */
function messageFor(/** @type {any} */ e) {
  return refusal(e, {
    name_taken: 'another channel already has that name',
    channel_archived: 'the channel is archived',
  });
}
