// @ts-check
// views/integrations.js — bots and incoming webhooks, for owners and admins: the
// "Bots" card of the workspace settings (list, create — the token is shown once, with
// a copy button —, revoke) and the "Incoming webhooks" section of a channel's details
// (list, create for this channel — the URL is shown once —, revoke). The server
// checks every call again; its refusals are shown where the call was made.

import { h, clear, fullTime } from '../dom.js';
import { state, userName } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { openDialog } from './dialogs.js';

/**
 * @typedef {import('../protocol.js').Bot} Bot
 * @typedef {import('../protocol.js').Webhook} Webhook
 * @typedef {{show: (e: any, what: string) => void, clear: () => void}} Errors
 */

/**
 * A refusal, written for people; `special` words the codes a screen knows better
 * (e.g. `last_owner` in the workspace settings).
 * @param {any} e
 * @param {Record<string, string>} [special]
 */
export function refusal(e, special = {}) {
  const code = e && e.code;
  if (code && Object.hasOwn(special, code)) return special[code];
  switch (code) {
    case 'forbidden':
      return `not allowed (${e.message})`;
    case 'quota_exceeded':
      return e.message;
    case 'user_not_found':
    case 'not_found':
      return 'it no longer exists';
    case 'invalid_field':
      return e.message;
    case 'rate_limited':
      return `too many changes; try again in ${e.retryAfter || 'a few'} seconds`;
    default:
      return (e && e.message) || String(e);
  }
}

/**
 * A secret shown once: read-only, selected on focus, with a Copy button and a note that
 * it cannot be shown again.
 * @param {{id: string, label: string, value: string, note: string, onDone: () => void}} o
 */
export function secretBox({ id, label, value, note, onDone }) {
  const input = /** @type {HTMLInputElement} */ (h('input.secret-value', { id, type: 'text', readonly: true, value, spellcheck: 'false', on: { focus: () => input.select() } }));
  const said = h('span.muted.copy-state', { role: 'status' });
  const copy = h('button.btn.small', {
    type: 'button',
    on: {
      click: async () => {
        said.textContent = (await copyText(value, input)) ? 'Copied' : 'Select it and copy it by hand';
      },
    },
  }, 'Copy');
  return h('div.secret-box', { role: 'group', 'aria-labelledby': `${id}-label` },
    h('label', { id: `${id}-label`, for: id }, label),
    h('div.inline-row', input, copy, said),
    h('p.hint', note),
    h('div', h('button.btn.small', { type: 'button', on: { click: onDone } }, 'Done')));
}

/** Copies `text` to the clipboard (the selected input as a fallback); whether it did. */
async function copyText(/** @type {string} */ text, /** @type {HTMLInputElement} */ input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.focus();
    input.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

/**
 * Asks before an irreversible step; `run` does it and may throw (shown in the dialog,
 * worded by `explain`, [`refusal`] unless given).
 * @param {{title: string, text: (string | Node)[], yes: string, run: () => Promise<void>,
 *   explain?: (e: any) => string}} o
 */
export function confirmStep(o) {
  openDialog(o.title, (body, close) => {
    const err = h('p.error', { role: 'alert', hidden: true });
    const yes = /** @type {HTMLButtonElement} */ (h('button.btn.danger', {
      type: 'button',
      on: {
        click: async () => {
          yes.disabled = true;
          try {
            await o.run();
            close();
          } catch (e) {
            err.hidden = false;
            err.textContent = (o.explain || refusal)(e);
            yes.disabled = false;
          }
        },
      },
    }, o.yes));
    const no = h('button.btn', { type: 'button', on: { click: close } }, 'Cancel');
    body.append(...o.text.map((t) => (typeof t === 'string' ? h('p', t) : t)), err, h('div.actions', no, yes));
    queueMicrotask(() => no.focus());
  });
}

/**
 * The "Bots" card of the workspace settings. Its element is built once and keeps its
 * state (the list, the token just shown, what is typed) across the page's re-renders.
 * @param {Errors} errors
 */
export function botsCard(errors) {
  /** @type {Bot[] | null | undefined} */
  let bots;
  /** @type {{bot: Bot, token: string} | null} */
  let fresh = null;
  const el = h('section.card.settings-bots', { 'aria-labelledby': 'set-bots' });
  const name = /** @type {HTMLInputElement} */ (h('input#bot-name', { type: 'text', maxlength: 80, required: true, autocomplete: 'off', placeholder: 'e.g. Deploy bot' }));
  const create = /** @type {HTMLButtonElement} */ (h('button#bot-create.btn.primary', { type: 'submit' }, 'Create bot'));
  const form = h('form.inline-form', {
    on: {
      submit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        const wanted = name.value.trim();
        if (!wanted) return;
        errors.clear();
        create.disabled = true;
        try {
          fresh = await api.bots.create(/** @type {string} */ (state.wsId), wanted);
          name.value = '';
          app.toast(`Bot ${fresh.bot.name} created`);
          await load();
        } catch (e2) {
          errors.show(e2, 'Could not create the bot');
        } finally {
          create.disabled = false;
        }
      },
    },
  }, h('label', { for: 'bot-name' }, 'Bot name'), h('div.inline-row', name, create));

  async function load() {
    const ws = state.wsId;
    try {
      const list = await api.bots.list(/** @type {string} */ (ws));
      if (ws !== state.wsId) return;
      bots = list;
    } catch (e) {
      bots = null;
      errors.show(e, 'Could not load the bots');
    }
    render();
  }

  function render() {
    const active = el.contains(document.activeElement) ? document.activeElement : null;
    clear(el).append(h('h2#set-bots', 'Bots'),
      h('p.muted', 'A bot posts and reads with its token through the Slack-compatible Web API (/api/slack/), so Slack SDKs and scripts work unchanged. It belongs to this workspace only and reads the channels it joins.'),
      form);
    if (fresh) {
      el.append(secretBox({
        id: 'bot-token',
        label: `Token of ${fresh.bot.name}`,
        value: fresh.token,
        note: 'Shown once: copy it now. The server keeps only its hash, so it cannot show it again; revoke the bot and make another if it is lost.',
        onDone: () => {
          fresh = null;
          render();
          name.focus();
        },
      }));
    }
    if (bots === undefined) el.append(h('p.muted', 'Loading bots…'));
    else if (bots && !bots.length) el.append(h('p.muted', 'No bots yet.'));
    else if (bots) {
      const tbody = h('tbody');
      for (const b of [...bots].sort((x, y) => x.name.localeCompare(y.name))) {
        tbody.append(h('tr', { dataset: { bot: b.id } },
          h('td', h('strong', b.name), h('span.tag.bot-tag', 'BOT')),
          h('td.muted', `@${b.username}`),
          h('td.muted', userName(b.created_by)),
          h('td.muted', fullTime(b.created_at)),
          h('td', h('button.btn.small.danger', { type: 'button', 'aria-label': `Revoke ${b.name}`, on: { click: () => revoke(b) } }, 'Revoke'))));
      }
      el.append(h('div.table-wrap', h('table.settings-table.bots-table',
        h('thead', h('tr', ['Bot', 'Username', 'Created by', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))), tbody)));
    }
    if (active instanceof HTMLElement && el.contains(active)) active.focus();
  }

  function revoke(/** @type {Bot} */ b) {
    confirmStep({
      title: `Revoke ${b.name}?`,
      text: [`Its token stops working at once: scripts using it get invalid_auth. Its messages stay. This cannot be undone.`],
      yes: 'Revoke bot',
      run: async () => {
        await api.bots.revoke(/** @type {string} */ (state.wsId), b.id);
        if (fresh && fresh.bot.id === b.id) fresh = null;
        app.toast(`${b.name} revoked`);
        await load();
      },
    });
  }

  render();
  return { el, load };
}

/**
 * The "Incoming webhooks" section of a channel's details (owners and admins). Built
 * once per panel, so the URL just shown survives the panel's re-renders.
 * @param {string} chId
 * @param {Errors} errors
 */
export function webhooksSection(chId, errors) {
  /** @type {Webhook[] | null | undefined} */
  let hooks;
  /** @type {{url: string, webhook: Webhook} | null} */
  let fresh = null;
  const el = h('section.details-section.details-webhooks', { 'aria-labelledby': 'det-hooks' });
  const add = /** @type {HTMLButtonElement} */ (h('button.btn.small', {
    type: 'button',
    on: {
      click: async () => {
        errors.clear();
        add.disabled = true;
        try {
          const made = await api.webhooks.create(/** @type {string} */ (state.wsId), chId);
          fresh = { url: made.url, webhook: made.webhook };
          app.toast('Incoming webhook created');
          await load();
        } catch (e) {
          errors.show(e, 'Could not create the webhook');
        } finally {
          add.disabled = false;
        }
      },
    },
  }, 'Add incoming webhook'));

  async function load() {
    try {
      const all = await api.webhooks.list(/** @type {string} */ (state.wsId));
      hooks = all.filter((w) => w.channel === chId);
    } catch (e) {
      hooks = null;
      errors.show(e, 'Could not load the webhooks');
    }
    render();
  }

  function render() {
    const ch = state.channels.get(chId);
    const title = ch ? `#${ch.name}` : 'this channel';
    clear(el).append(
      h('div.section-head', h('h3#det-hooks', 'Incoming webhooks'), add),
      h('p.muted', `A URL that takes Slack’s incoming-webhook payload (text, blocks, username, icon_emoji) and posts it into ${title} as an app, so CI and monitoring integrations post unchanged. Whoever has the URL can post: keep it secret.`));
    if (fresh) {
      el.append(secretBox({
        id: 'hook-url',
        label: 'Webhook URL',
        value: fresh.url,
        note: 'Shown once: copy it now. The server keeps only a hash of its secret; revoke the webhook and add another if it is lost.',
        onDone: () => {
          fresh = null;
          render();
          add.focus();
        },
      }));
    }
    if (hooks === undefined) el.append(h('p.muted', 'Loading webhooks…'));
    else if (hooks && !hooks.length) el.append(h('p.muted', 'No incoming webhooks.'));
    else if (hooks) {
      const ul = h('ul.member-list.webhook-list');
      for (const w of hooks) {
        const name = userName(w.bot);
        ul.append(h('li.member-row', { dataset: { hook: w.id } },
          h('span.member-name', h('strong', name), h('span.tag.bot-tag', 'BOT'),
            h('span.muted', ` · by ${userName(w.created_by)}, ${fullTime(w.created_at)}`)),
          h('button.btn.small.danger', { type: 'button', 'aria-label': `Revoke webhook ${name}`, on: { click: () => revoke(w, name) } }, 'Revoke')));
      }
      el.append(ul);
    }
  }

  function revoke(/** @type {Webhook} */ w, /** @type {string} */ name) {
    confirmStep({
      title: `Revoke ${name}?`,
      text: ['Its URL stops working at once: whatever posts to it gets 404. Its messages stay. This cannot be undone.'],
      yes: 'Revoke webhook',
      run: async () => {
        await api.webhooks.revoke(/** @type {string} */ (state.wsId), w.id);
        if (fresh && fresh.webhook.id === w.id) fresh = null;
        app.toast('Webhook revoked');
        await load();
      },
    });
  }

  render();
  return { el, load };
}
