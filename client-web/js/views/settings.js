// @ts-check
// views/settings.js — "Workspace settings" for owners and admins (#/w/WS/settings):
// the workspace's name ("Rename"; every member's open pages follow the
// `workspace.updated` event), the members with their roles (change a role, remove a member), the invites by code
// (create, "Revoke"), the bots (views/integrations.js), the message retention and
// the erasure policy (views/policies.js). Only owners are offered the owner role and
// the removal of owners; the server checks every change again and its refusals are
// shown here. A member who opens the page reads the retention and erasure policies,
// with no control to change them.

import { h, clear, fullTime } from '../dom.js';
import { state, on, emit, myRole, currentWorkspace, userName } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { presenceDot } from './message.js';
import { inviteLink } from './dialogs.js';
import { botsCard, confirmStep, refusal } from './integrations.js';
import { retentionCard, erasureCard } from './policies.js';

/**
 * @typedef {'owner'|'admin'|'member'|'guest'} Role
 * @typedef {{id: string, username: string, display_name?: string, role: Role, joined_at?: number}} Member
 * @typedef {{code: string, workspace: string, created_by: string, created_at: number,
 *   expires_at: number, max_uses: number, uses: number, role: Role}} Invite
 */

const ROLES = /** @type {const} */ (['owner', 'admin', 'member', 'guest']);
const ROLE_LABELS = { owner: 'Owner', admin: 'Admin', member: 'Member', guest: 'Guest' };

/** @param {HTMLElement} root */
export function mountSettings(root) {
  const offs = [];
  const page = h('section.settings-page', { 'aria-labelledby': 'settings-title' });
  clear(root).append(h('div.page-scroll', page));
  /** @type {Invite[] | null | undefined} */
  let invites;
  /** @type {Error | null} */
  let invitesError = null;
  /** @type {string | null} */
  let lastLink = null;
  const err = h('p.error', { role: 'alert', hidden: true });
  // The invite form's fields outlive re-renders (a member event re-renders the page).
  const roleSel = /** @type {HTMLSelectElement} */ (h('select#inv-role', h('option', { value: 'member' }, 'Member'), h('option', { value: 'guest' }, 'Guest')));
  const uses = /** @type {HTMLInputElement} */ (h('input#inv-uses', { type: 'number', min: 1, max: 1000, value: '10' }));
  const hours = /** @type {HTMLInputElement} */ (h('input#inv-hours', { type: 'number', min: 1, max: 8760, value: '168' }));
  // The name being typed is kept across re-renders until it is saved (or the
  // workspace changes); until then the field follows renames made elsewhere.
  const nameInput = /** @type {HTMLInputElement} */ (h('input#ws-name', { type: 'text', maxlength: 80, required: true, autocomplete: 'off' }));
  let nameDirty = false;
  /** @type {string | null} */
  let nameFor = null;
  nameInput.addEventListener('input', () => {
    nameDirty = true;
  });

  const showError = (/** @type {any} */ e, /** @type {string} */ what) => {
    err.hidden = false;
    err.textContent = `${what}: ${messageFor(e)}`;
    err.scrollIntoView({ block: 'nearest' });
  };
  const clearError = () => {
    err.hidden = true;
  };
  // Cards that keep their own state (a token shown once, a policy being chosen) are
  // built once and put back on each render.
  const errors = { show: showError, clear: clearError };
  const bots = botsCard(errors);
  const retention = retentionCard(errors);
  const erasure = erasureCard(errors);
  let botsLoaded = false;

  async function loadInvites() {
    const ws = state.wsId;
    try {
      const list = await api.workspaces.invites(/** @type {string} */ (ws));
      if (ws !== state.wsId) return;
      invites = list;
      invitesError = null;
    } catch (e) {
      invites = null;
      invitesError = /** @type {Error} */ (e);
    }
    render();
  }

  function render() {
    const ws = currentWorkspace();
    const role = myRole();
    const active = page.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = active && (active.getAttribute('aria-label') || active.id);
    clear(page);
    page.append(h('header.page-header', h('h1#settings-title', 'Workspace settings'), ws ? h('p.lead', ws.name) : null), err);
    if (!ws) return;
    retention.render();
    erasure.render();
    if (role !== 'owner' && role !== 'admin') {
      page.append(h('div.card.notice', h('p', 'Only the workspace’s owners and admins manage its members, invites and bots, and set its policies.')), retention.el, erasure.el);
      return;
    }
    if (!botsLoaded) {
      botsLoaded = true;
      bots.load();
    }
    page.append(nameCard(ws), membersCard(role), invitesCard(role), bots.el, retention.el, erasure.el);
    if (focusKey) {
      const again = [...page.querySelectorAll('button, select, input')].find((el) => (el.getAttribute('aria-label') || el.id) === focusKey);
      if (again instanceof HTMLElement) again.focus();
    }
  }

  function nameCard(/** @type {{id: string, name: string}} */ ws) {
    if (!nameDirty || nameFor !== ws.id) {
      nameInput.value = ws.name;
      nameFor = ws.id;
      nameDirty = false;
    }
    const btn = /** @type {HTMLButtonElement} */ (h('button#ws-rename.btn.small', { type: 'submit' }, 'Rename'));
    return h('section.card.settings-name', { 'aria-labelledby': 'set-name' },
      h('h2#set-name', 'Name'),
      h('form.inline-form', {
        on: {
          submit: async (/** @type {Event} */ e) => {
            e.preventDefault();
            const name = nameInput.value.trim();
            if (!name || name === ws.name) return;
            clearError();
            btn.disabled = true;
            try {
              const updated = await api.workspaces.rename(ws.id, name);
              nameDirty = false;
              const w = state.workspaces.find((x) => x.id === ws.id);
              if (w) w.name = (updated && updated.name) || name;
              app.toast(`Renamed the workspace to ${(w && w.name) || name}`);
              emit('workspaces');
            } catch (e2) {
              showError(e2, 'Could not rename the workspace');
            } finally {
              if (btn.isConnected) btn.disabled = false;
            }
          },
        },
      }, h('label', { for: 'ws-name' }, 'Workspace name'), h('div.inline-row', nameInput, btn)),
      h('p.muted', 'Everyone in the workspace sees the new name at once.'));
  }

  function membersCard(/** @type {Role} */ myRoleNow) {
    const me = state.me && state.me.id;
    const members = /** @type {Member[]} */ ([...state.members.values()]).sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role) || (a.display_name || a.username).localeCompare(b.display_name || b.username));
    const tbody = h('tbody');
    for (const m of members) {
      const name = m.display_name || m.username;
      const isOwner = myRoleNow === 'owner';
      // Admins neither make nor unmake owners; an owner's row is theirs to leave alone.
      const mayChange = isOwner || m.role !== 'owner';
      const select = /** @type {HTMLSelectElement} */ (h('select.role-select', {
        'aria-label': `Role of ${name}`,
        disabled: !mayChange,
        on: {
          change: async () => {
            const next = select.value;
            clearError();
            select.disabled = true;
            try {
              const updated = await api.workspaces.setRole(/** @type {string} */ (state.wsId), m.id, next);
              const cur = state.members.get(m.id);
              if (cur) cur.role = updated.role;
              app.toast(`${name} is now ${ROLE_LABELS[/** @type {Role} */ (next)] || next}`);
              await app.refreshMembers();
            } catch (e) {
              select.value = m.role;
              showError(e, `Could not change ${name}’s role`);
            } finally {
              if (select.isConnected) select.disabled = !mayChange;
            }
          },
        },
      }, ROLES.filter((r) => isOwner || r !== 'owner' || m.role === 'owner').map((r) => h('option', { value: r, selected: r === m.role }, ROLE_LABELS[r]))));
      const mayRemove = m.id !== me && (isOwner || m.role !== 'owner');
      tbody.append(h('tr', { dataset: { user: m.id } },
        h('td', presenceDot(m.id), ' ', h('strong', name), m.id === me ? h('span.muted', ' (you)') : null),
        h('td.muted', `@${m.username}`),
        h('td', select),
        h('td.muted', m.joined_at ? new Date(m.joined_at).toLocaleDateString() : ''),
        h('td', mayRemove ? h('button.btn.small.danger', { type: 'button', 'aria-label': `Remove ${name}`, on: { click: () => confirmRemove(m) } }, 'Remove') : null)));
    }
    return h('section.card.settings-members', { 'aria-labelledby': 'set-members' },
      h('h2#set-members', `Members (${members.length})`),
      h('p.muted', 'Owners and admins change roles and remove members. Only owners make or remove owners. A guest sees only the channels they are added to. Removing someone takes them out of every channel at once.'),
      h('div.table-wrap', h('table.settings-table',
        h('thead', h('tr', ['Name', 'Username', 'Role', 'Joined', ''].map((t) => h('th', { scope: 'col' }, t)))), tbody)));
  }

  function confirmRemove(/** @type {Member} */ m) {
    const name = m.display_name || m.username;
    confirmStep({
      title: `Remove ${name}?`,
      text: [`${name} (@${m.username}) loses access to this workspace at once: every channel, and its messages. Their messages stay. Invite them again to bring them back.`],
      yes: 'Remove from workspace',
      explain: messageFor,
      run: async () => {
        await api.workspaces.removeMember(/** @type {string} */ (state.wsId), m.id);
        app.toast(`Removed ${name} from the workspace`);
        await app.refreshMembers();
      },
    });
  }

  function invitesCard(/** @type {Role} */ myRoleNow) {
    const sec = h('section.card.settings-invites', { 'aria-labelledby': 'set-invites' }, h('h2#set-invites', 'Invites'));
    // Create.
    const create = /** @type {HTMLButtonElement} */ (h('button.btn.primary', { type: 'submit' }, 'Create invite'));
    sec.append(h('form.invite-form', {
      on: {
        submit: async (/** @type {Event} */ e) => {
          e.preventDefault();
          clearError();
          create.disabled = true;
          try {
            const inv = await api.workspaces.invite(/** @type {string} */ (state.wsId), { role: /** @type {'member' | 'guest'} */ (roleSel.value), max_uses: Number(uses.value) || undefined, expires_in_hours: Number(hours.value) || undefined });
            lastLink = inviteLink(inv.code);
            app.toast(`Invite ${inv.code} created`);
            await loadInvites();
          } catch (e2) {
            showError(e2, 'Could not create the invite');
          } finally {
            create.disabled = false;
          }
        },
      },
    },
    h('div.field', h('label', { for: 'inv-role' }, 'Role'), roleSel),
    h('div.field', h('label', { for: 'inv-uses' }, 'Uses'), uses),
    h('div.field', h('label', { for: 'inv-hours' }, 'Expires after (hours)'), hours),
    create));
    if (lastLink) {
      sec.append(h('div.field', h('label', { for: 'inv-link' }, 'New invite link'), h('input#inv-link.invite-link', { type: 'text', readonly: true, value: lastLink })));
    }
    // List.
    if (invites === undefined) sec.append(h('p.muted', 'Loading invites…'));
    else if (invitesError) sec.append(h('p.error', `Could not load the invites: ${messageFor(invitesError)}`));
    else if (invites && !invites.length) sec.append(h('p.muted', 'No invites yet.'));
    else if (invites) {
      const now = Date.now();
      const tbody = h('tbody');
      for (const inv of invites) {
        const usable = inv.expires_at > now && inv.uses < inv.max_uses;
        tbody.append(h('tr', { dataset: { code: inv.code } },
          h('td', h('code', inv.code)),
          h('td', ROLE_LABELS[inv.role] || inv.role),
          h('td', `${inv.uses} of ${inv.max_uses}`),
          h('td', usable ? `until ${fullTime(inv.expires_at)}` : inv.uses >= inv.max_uses ? 'used up' : 'expired'),
          h('td.muted', userName(inv.created_by)),
          h('td', h('button.btn.small', {
            type: 'button',
            'aria-label': `Revoke invite ${inv.code}`,
            on: {
              click: async (/** @type {Event} */ e) => {
                const btn = /** @type {HTMLButtonElement} */ (e.currentTarget);
                btn.disabled = true;
                clearError();
                try {
                  await api.workspaces.revokeInvite(/** @type {string} */ (state.wsId), inv.code);
                  app.toast(`Invite ${inv.code} revoked`);
                  await loadInvites();
                } catch (e2) {
                  showError(e2, `Could not revoke ${inv.code}`);
                  btn.disabled = false;
                }
              },
            },
          }, 'Revoke'))));
      }
      sec.append(h('div.table-wrap', h('table.settings-table.invites-table',
        h('thead', h('tr', ['Code', 'Role', 'Used', 'Valid', 'Created by', ''].map((t) => h('th', { scope: 'col' }, t)))), tbody)));
    }
    if (myRoleNow !== 'owner' && myRoleNow !== 'admin') sec.append(h('p.muted', 'You see the invites you created.'));
    return sec;
  }

  offs.push(on('members', () => render()));
  offs.push(on('workspaces', () => render()));
  render();
  loadInvites();
  retention.load();
  erasure.load();
  app.refreshMembers().catch(() => {});
  return {
    destroy: () => offs.forEach((f) => f()),
    focus: () => {
      const t = page.querySelector('h1');
      if (t instanceof HTMLElement) t.focus();
    },
  };
}

/** A refusal, written for people. */
function messageFor(/** @type {any} */ e) {
  return refusal(e, {
    last_owner: 'a workspace needs at least one owner',
    invite_not_found: 'that invite no longer exists',
    user_not_found: 'that person is no longer a member',
  });
}
