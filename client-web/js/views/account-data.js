// views/account-data.js — "Your data" on the Privacy page: download everything the
// server holds about you (GET /me/export, a zip), and delete your account (DELETE /me
// with your password) after reading what happens to your messages in this workspace
// (GET /workspaces/{ws}/erasure).

import { h, field } from '../dom.js';
import { state, emit } from '../store.js';
import * as api from '../api.js';

/** The card, for the current workspace. */
export function accountDataCard() {
  const status = h('p.muted', { role: 'status' });
  const download = h('button.btn', {
    type: 'button',
    on: {
      click: async () => {
        download.disabled = true;
        status.textContent = 'Preparing your export…';
        try {
          const res = await fetch('/api/v1/me/export', { headers: { Authorization: `Bearer ${api.getToken()}` } });
          if (!res.ok) throw new Error(`the server answered ${res.status}`);
          const url = URL.createObjectURL(await res.blob());
          const link = h('a', { href: url, download: 'confab-export.zip', hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60_000);
          status.textContent = 'Your export is downloaded.';
        } catch (e) {
          status.textContent = `The export failed: ${e instanceof Error ? e.message : e}`;
        }
        download.disabled = false;
      },
    },
  }, 'Download my data');

  const policy = h('p', 'Loading what happens to your messages…');
  api.get(`/workspaces/${state.wsId}/erasure`).then((p) => {
    policy.textContent = p.messages === 'keep'
      ? 'In this workspace your messages are kept and shown as written by “deleted user”.'
      : 'In this workspace your messages are deleted.';
  }).catch(() => { policy.textContent = ''; });
  const password = h('input', { type: 'password', required: true, autocomplete: 'current-password' });
  const error = h('p.error', { role: 'alert', hidden: true });
  const confirm = h('button.btn.danger', { type: 'submit' }, 'Delete my account');
  const form = h('form.stack', {
    on: {
      submit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        confirm.disabled = true;
        try {
          await api.request('DELETE', '/me', { password: password.value }, { noAuthHook: true });
          emit('unauthenticated');
        } catch (e2) {
          error.hidden = false;
          error.textContent = e2 instanceof api.ApiError && e2.code === 'invalid_credentials' ? 'That is not your password.' : (e2 instanceof Error ? e2.message : String(e2));
          confirm.disabled = false;
        }
      },
    },
  },
  policy,
  h('p', 'Your sessions end, your reactions, memberships and read positions go, and every model trained with your data is retired and rebuilt without it. This cannot be undone.'),
  field('Password', password, 'Confirm with your password.'),
  error,
  confirm);

  return h('div.card.account-data',
    h('h2', 'Your data'),
    h('p', 'Everything this server holds about you — account, memberships, messages, reactions, read positions, consent choices and the models your data went into — as a zip.'),
    h('div.row', download),
    status,
    h('details', h('summary', 'Delete my account'), form));
}
