// views/dialogs.js — modal dialogs (native <dialog>, so Esc closes them and focus is
// trapped): create a channel, browse and join channels, open a DM, invite people,
// create or join a workspace.

import { icon } from '../icons.js';
import { h, clear, field, fullTime } from '../dom.js';
import { state, channelTitle, on } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { presenceDot } from './message.js';

export function openDialog(title, build) {
  const body = h('div.dialog-body');
  const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Close dialog', on: { click: () => dlg.close() } }, icon('close'));
  const heading = h('h2', title);
  const dlg = h('dialog.dialog', { 'aria-label': title }, h('header.dialog-header', heading, closeBtn), body);
  document.body.append(dlg);
  dlg.addEventListener('close', () => dlg.remove());
  build(body, () => dlg.close());
  dlg.showModal();
  const first = body.querySelector('input, select, textarea, button');
  if (first) first.focus();
  return dlg;
}

function errorLine() {
  return h('p.error', { role: 'alert', hidden: true });
}
function showError(el, e) {
  el.hidden = false;
  el.textContent = e.message || String(e);
}

export function createChannelDialog() {
  openDialog('Create a channel', (body, close) => {
    const name = h('input', { type: 'text', required: true, maxlength: 80, pattern: '[a-z0-9_\\-]{1,80}', placeholder: 'e.g. project-launch', autocomplete: 'off' });
    const topic = h('input', { type: 'text', maxlength: 250, placeholder: 'What is it about? (optional)' });
    const priv = h('input', { type: 'checkbox', id: 'new-ch-private' });
    const err = errorLine();
    name.addEventListener('input', () => {
      const v = name.value.toLowerCase().replace(/\s+/g, '-').replace(/[^a-z0-9_-]/g, '');
      if (v !== name.value) name.value = v;
    });
    const form = h('form.stack', {
      on: {
        submit: async (e) => {
          e.preventDefault();
          try {
            const ch = await api.channels.create(state.wsId, { name: name.value, private: priv.checked, topic: topic.value || undefined });
            await app.refreshChannels();
            close();
            app.navigate(app.channelHash(state.wsId, ch.id));
          } catch (e2) {
            showError(err, e2);
          }
        },
      },
    },
    field('Name', name, 'Lowercase letters, digits, - and _.'),
    field('Topic', topic),
    h('div.check', priv, h('label', { for: 'new-ch-private' }, 'Private — only invited members can see it')),
    err,
    h('div.actions', h('button.btn', { type: 'button', on: { click: close } }, 'Cancel'), h('button.btn.primary', { type: 'submit' }, 'Create')));
    body.append(form);
  });
}

export function browseChannelsDialog() {
  openDialog('Browse channels', (body, close) => {
    const filter = h('input', { type: 'search', placeholder: 'Filter channels', autocomplete: 'off' });
    const list = h('ul.browse-list');
    const render = () => {
      clear(list);
      const q = filter.value.trim().toLowerCase();
      const chans = [...state.channels.values()]
        .filter((c) => c.kind === 'public' && !c.archived && (!q || c.name.includes(q) || (c.topic || '').toLowerCase().includes(q)))
        .sort((a, b) => Number(a.is_member) - Number(b.is_member) || a.name.localeCompare(b.name));
      if (!chans.length) list.append(h('li.muted', 'No channels to show.'));
      for (const c of chans) {
        const action = c.is_member
          ? h('button.btn.small', { type: 'button', on: { click: () => { close(); app.navigate(app.channelHash(state.wsId, c.id)); } } }, 'Open')
          : h('button.btn.small.primary', {
            type: 'button',
            'aria-label': `Join #${c.name}`,
            on: {
              click: async (e) => {
                e.currentTarget.disabled = true;
                try {
                  await app.joinChannel(c.id);
                  close();
                  app.navigate(app.channelHash(state.wsId, c.id));
                } catch (e2) {
                  app.reportError(e2, 'Join failed');
                }
              },
            },
          }, 'Join');
        list.append(h('li', h('div', h('strong', `#${c.name}`), h('span.muted', ` · ${c.member_count} member${c.member_count === 1 ? '' : 's'}`), c.topic ? h('p.muted', c.topic) : null), action));
      }
    };
    filter.addEventListener('input', render);
    render();
    body.append(field('Filter', filter), list);
  });
}

export function newDmDialog() {
  openDialog('New direct message', (body, close) => {
    const filter = h('input', { type: 'search', placeholder: 'Find people', autocomplete: 'off' });
    const list = h('ul.people-list');
    const chosen = new Set();
    const err = errorLine();
    const render = () => {
      clear(list);
      const q = filter.value.trim().toLowerCase();
      for (const m of [...state.members.values()].sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username))) {
        if (m.id === state.me.id) continue;
        if (q && !m.username.toLowerCase().includes(q) && !(m.display_name || '').toLowerCase().includes(q)) continue;
        const id = `dm-pick-${m.id}`;
        const cb = h('input', { type: 'checkbox', id, checked: chosen.has(m.id), on: { change: () => (cb.checked ? chosen.add(m.id) : chosen.delete(m.id)) } });
        list.append(h('li.check', cb, h('label', { for: id }, presenceDot(m.id), ' ', h('strong', m.display_name || m.username), h('span.muted', ` @${m.username}`))));
      }
      if (!list.childNodes.length) list.append(h('li.muted', 'Nobody else here yet — invite people first.'));
    };
    filter.addEventListener('input', render);
    render();
    // Someone who joins while the dialog is open appears in it.
    const stop = on('members', render);
    body.closest('dialog')?.addEventListener('close', stop);
    const form = h('form.stack', {
      on: {
        submit: async (e) => {
          e.preventDefault();
          if (!chosen.size) return showError(err, new Error('Choose at least one person.'));
          try {
            const ch = await api.channels.dm(state.wsId, [...chosen]);
            await app.refreshChannels();
            close();
            app.navigate(app.channelHash(state.wsId, ch.id));
          } catch (e2) {
            showError(err, e2);
          }
        },
      },
    }, field('People', filter), list, err,
    h('div.actions', h('button.btn', { type: 'button', on: { click: close } }, 'Cancel'), h('button.btn.primary', { type: 'submit' }, 'Open conversation')));
    body.append(form);
  });
}

export function inviteDialog() {
  openDialog('Invite people', (body) => {
    const out = h('div.stack');
    const role = h('select', h('option', { value: 'member' }, 'Member'), h('option', { value: 'guest' }, 'Guest (admins only)'));
    const uses = h('input', { type: 'number', min: 1, max: 1000, value: '10' });
    const hours = h('input', { type: 'number', min: 1, max: 8760, value: '168' });
    const err = errorLine();
    const form = h('form.stack', {
      on: {
        submit: async (e) => {
          e.preventDefault();
          try {
            const inv = await api.workspaces.invite(state.wsId, { role: role.value, max_uses: Number(uses.value) || undefined, expires_in_hours: Number(hours.value) || undefined });
            const link = inviteLink(inv.code);
            const input = h('input.invite-link', { type: 'text', readonly: true, value: link });
            clear(out).append(
              field('Invite link', input, `Or share the code: ${inv.code}`),
              h('button.btn', { type: 'button', on: { click: async () => { input.select(); try { await navigator.clipboard.writeText(link); app.toast('Link copied'); } catch { document.execCommand('copy'); } } } }, 'Copy link'),
            );
            input.select();
          } catch (e2) {
            showError(err, e2);
          }
        },
      },
    }, field('Role', role), field('Uses', uses), field('Expires after (hours)', hours), err,
    h('div.actions', h('button.btn.primary', { type: 'submit' }, 'Create invite link')));
    body.append(form, out);
  });
}

/**
 * An invite link: the code alone. Where it leads is asked of the server before
 * joining (older links also carry a name after the code; it is not shown).
 */
export function inviteLink(code) {
  return `${location.origin}/#/invite/${encodeURIComponent(code)}`;
}

function inviteErrorText(e) {
  if (e.code === 'invite_not_found') return 'That invite does not exist (it may have been revoked).';
  if (e.code === 'invite_expired') return 'That invite has expired or been used up.';
  return e.message || String(e);
}

/**
 * Opening an invite link asks first: the server says which workspace the code leads
 * to (GET /invites/{code}; never the name a link carries, which anyone can write),
 * then Join or Cancel. A code that does not work says why and offers no Join; a
 * workspace one is in already is opened instead of joined.
 */
export function confirmInviteDialog({ code, onJoined }) {
  return openDialog('Join workspace?', (body, close) => {
    const err = errorLine();
    const what = h('div.invite-what', { 'aria-live': 'polite' }, h('p.muted', 'Looking up the invite…'));
    const join = /** @type {HTMLButtonElement} */ (h('button.btn.primary', {
      type: 'button',
      disabled: true,
      on: {
        click: async () => {
          join.disabled = true;
          err.hidden = true;
          try {
            const ws = await api.workspaces.accept(code);
            close();
            app.toast(`You joined ${ws.name}.`);
            await onJoined(ws);
          } catch (e) {
            showError(err, new Error(inviteErrorText(e)));
            join.disabled = false;
          }
        },
      },
    }, 'Join'));
    const cancel = h('button.btn', { type: 'button', on: { click: close } }, 'Cancel');
    body.append(what, err, h('div.actions', cancel, join));
    // Cancel is the default: Enter or a stray click does not join.
    queueMicrotask(() => cancel.focus());

    api.workspaces.preview(code).then((p) => {
      const ws = p && p.workspace;
      if (!ws || typeof ws.name !== 'string') throw new Error('The server did not say where this invite leads.');
      const mine = state.workspaces.find((w) => w.id === ws.id);
      if (mine) {
        clear(what).append(h('p.invite-to', 'You are already a member of ', h('strong.invite-ws', ws.name), '.'));
        join.replaceWith(h('button.btn.primary', {
          type: 'button',
          on: {
            click: async () => {
              close();
              await onJoined(mine);
            },
          },
        }, `Open ${ws.name}`));
        return;
      }
      clear(what).append(
        h('p.invite-to', 'You have been invited to join the workspace ', h('strong.invite-ws', ws.name), p.role === 'guest' ? ' as a guest' : '', '.'),
        h('p.muted', `Invite code ${code}${p.expires_at ? `, valid until ${fullTime(p.expires_at)}` : ''}.`),
      );
      join.disabled = false;
    }).catch((e) => {
      // Nothing to join: say why, and leave only the way out.
      clear(what).append(h('p.invite-to', 'This invite link does not work.'));
      showError(err, new Error(e instanceof api.ApiError && e.status === 0 ? `${e.message}. Try the link again later.` : inviteErrorText(e)));
      join.remove();
      cancel.textContent = 'Close';
    });
  });
}

/** The create-or-join form, used both in a dialog and on the welcome screen. */
export function workspaceForms(onDone) {
  const name = h('input', { type: 'text', required: true, maxlength: 80, placeholder: 'e.g. Acme' });
  const code = h('input', { type: 'text', required: true, placeholder: 'Paste an invite link or code', autocomplete: 'off' });
  const err1 = errorLine();
  const err2 = errorLine();
  const create = h('form.stack.card', {
    on: {
      submit: async (e) => {
        e.preventDefault();
        try {
          const ws = await api.workspaces.create(name.value.trim());
          await app.loadWorkspaces();
          onDone && onDone();
          app.navigate(`#/w/${ws.id}`);
        } catch (e2) {
          showError(err1, e2);
        }
      },
    },
  }, h('h3', 'Create a workspace'), h('p.muted', 'You will be its owner. A #general channel is created for you.'), field('Workspace name', name), err1, h('button.btn.primary', { type: 'submit' }, 'Create workspace'));
  const join = h('form.stack.card', {
    on: {
      submit: async (e) => {
        e.preventDefault();
        const raw = code.value.trim();
        const m = /invite\/([^/?#\s]+)/.exec(raw);
        try {
          const ws = await api.workspaces.accept(m ? decodeURIComponent(m[1]) : raw);
          await app.loadWorkspaces();
          onDone && onDone();
          app.navigate(`#/w/${ws.id}`);
        } catch (e2) {
          showError(err2, new Error(inviteErrorText(e2)));
        }
      },
    },
  }, h('h3', 'Join with an invite'), h('p.muted', 'Ask someone in the workspace for an invite link.'), field('Invite link or code', code), err2, h('button.btn', { type: 'submit' }, 'Join workspace'));
  return h('div.ws-forms', create, join);
}

export function workspaceDialog() {
  openDialog('Add a workspace', (body, close) => body.append(workspaceForms(close)));
}

export { channelTitle };
