// @ts-check
// views/policies.js — what happens to the workspace's data over time, in words an
// owner can act on: the "Message retention" and "When someone deletes their account"
// cards of the workspace settings, and a channel's own retention in its details.
// Members read each policy; owners and admins change it. A change that deletes
// messages says what it will delete (which posts, from where, that it cannot be
// undone) and asks before saving.

import { h, clear } from '../dom.js';
import { state, myRole } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { confirmStep, refusal } from './integrations.js';

/**
 * @typedef {import('../protocol.js').ChannelRetention} ChannelRetention
 * @typedef {import('../protocol.js').ErasurePolicy} ErasurePolicy
 * @typedef {{show: (e: any, what: string) => void, clear: () => void}} Errors
 */

const MAX_DAYS = 36500;
const DAY_MS = 86400000;

const isAdmin = () => {
  const role = myRole();
  return role === 'owner' || role === 'admin';
};

/** "90 days", "1 day". */
export function days(/** @type {number} */ n) {
  return `${n.toLocaleString()} day${n === 1 ? '' : 's'}`;
}

/** A retention in a sentence. */
export function retentionWords(/** @type {number | null} */ d) {
  return d == null ? 'Messages and files are kept for ever.' : `Messages and files older than ${days(d)} are deleted.`;
}

/** The day before which messages go under `d` days, today. */
function cutoffDate(/** @type {number} */ d) {
  return new Date(Date.now() - d * DAY_MS).toLocaleDateString([], { year: 'numeric', month: 'long', day: 'numeric' });
}

/** Whether going from `before` to `after` deletes anything that was kept. */
function deletesMore(/** @type {number | null} */ before, /** @type {number | null} */ after) {
  return after != null && (before == null || after < before);
}

/** The days typed in a field, or an error text. */
function parseDays(/** @type {HTMLInputElement} */ input) {
  const n = Number(input.value);
  if (!input.value.trim() || !Number.isInteger(n) || n < 1 || n > MAX_DAYS) {
    return { error: `Enter a whole number of days from 1 to ${MAX_DAYS.toLocaleString()}.` };
  }
  return { days: n };
}

/**
 * What saving a workspace retention of `d` days will do, in words.
 * @param {number} d
 */
function workspaceConsequences(d) {
  return [
    `Every message and file posted before ${cutoffDate(d)} (${days(d)} ago) is deleted, in every channel and direct message that follows the workspace’s policy, and from then on each one once it is ${days(d)} old.`,
    'Channels with a retention of their own keep theirs. Deleted messages also leave search and suggestions, and models are retrained without them.',
    'This cannot be undone: deleted messages and files cannot be brought back.',
  ];
}

/**
 * The "Message retention" card of the workspace settings: the policy in words for
 * everyone; for owners and admins, keep for ever or delete after N days, with the
 * consequences shown while choosing and confirmed before saving.
 * @param {Errors} errors
 */
export function retentionCard(errors) {
  /** @type {number | null | undefined} */
  let current;
  const el = h('section.card.settings-retention', { 'aria-labelledby': 'set-retention' });
  const forever = /** @type {HTMLInputElement} */ (h('input#ret-forever', { type: 'radio', name: 'ret-mode', value: 'forever' }));
  const limited = /** @type {HTMLInputElement} */ (h('input#ret-limited', { type: 'radio', name: 'ret-mode', value: 'days' }));
  const count = /** @type {HTMLInputElement} */ (h('input#ret-days', { type: 'number', min: 1, max: MAX_DAYS, step: 1, value: '365', 'aria-label': 'Days to keep messages' }));
  const explain = h('div.consequences', { 'aria-live': 'polite' });
  const formErr = h('p.error', { role: 'alert', hidden: true });
  const save = /** @type {HTMLButtonElement} */ (h('button.btn.primary', { type: 'submit' }, 'Save retention'));
  let touched = false;
  const onChange = () => {
    touched = true;
    formErr.hidden = true;
    explainChoice();
  };
  for (const f of [forever, limited, count]) f.addEventListener('input', onChange);
  count.addEventListener('focus', () => {
    if (!limited.checked) {
      limited.checked = true;
      onChange();
    }
  });

  /** @returns {{days: number | null} | {error: string}} */
  function chosen() {
    return forever.checked ? { days: null } : parseDays(count);
  }

  function explainChoice() {
    clear(explain);
    const c = chosen();
    if ('error' in c) {
      explain.append(h('p.muted', c.error));
      return;
    }
    if (c.days === current) {
      explain.append(h('p.muted', 'This is the policy in force.'));
      return;
    }
    if (c.days == null) {
      explain.append(h('p', 'Nothing more will be deleted; what retention already deleted stays deleted.'));
      return;
    }
    explain.append(h('p.warning', h('strong', 'If you save: '), workspaceConsequences(c.days)[0]), ...workspaceConsequences(c.days).slice(1).map((t) => h('p.muted', t)));
  }

  const form = h('form.stack.retention-form', {
    on: {
      submit: (/** @type {Event} */ e) => {
        e.preventDefault();
        const c = chosen();
        if ('error' in c) {
          formErr.hidden = false;
          formErr.textContent = c.error;
          return;
        }
        if (c.days === current) return;
        const store = async () => {
          const r = await api.lifecycle.setRetention(/** @type {string} */ (state.wsId), c.days);
          current = r.days;
          touched = false;
          app.toast(c.days == null ? 'Messages are now kept for ever' : `Messages older than ${days(c.days)} will be deleted`);
          render();
        };
        if (deletesMore(current ?? null, c.days) && c.days != null) {
          confirmStep({ title: `Delete messages older than ${days(c.days)}?`, text: workspaceConsequences(c.days), yes: `Delete after ${days(c.days)}`, run: store });
          return;
        }
        errors.clear();
        save.disabled = true;
        store().catch((e2) => errors.show(e2, 'Could not save the retention')).finally(() => {
          save.disabled = false;
        });
      },
    },
  },
  h('fieldset',
    h('legend', 'Keep messages and files'),
    h('div.check', forever, h('label', { for: 'ret-forever' }, 'For ever')),
    h('div.check', limited, h('label', { for: 'ret-limited' }, 'Delete those older than'), count, h('span', 'days'))),
  explain, formErr, h('div', save));

  async function load() {
    try {
      current = (await api.lifecycle.retention(/** @type {string} */ (state.wsId))).days;
      touched = false;
    } catch (e) {
      current = undefined;
      errors.show(e, 'Could not load the retention');
    }
    render();
  }

  function render() {
    const active = el.contains(document.activeElement) ? document.activeElement : null;
    clear(el).append(h('h2#set-retention', 'Message retention'));
    if (current === undefined) {
      el.append(h('p.muted', 'Loading…'));
      return;
    }
    el.append(h('p.policy-now', h('strong', 'Now: '), retentionWords(current)));
    if (!isAdmin()) {
      el.append(h('p.muted', 'Owners and admins set it.'));
      return;
    }
    if (!touched) {
      forever.checked = current == null;
      limited.checked = current != null;
      if (current != null) count.value = String(current);
    }
    explainChoice();
    el.append(form);
    if (active instanceof HTMLElement && el.contains(active)) active.focus();
  }

  render();
  return { el, load, render };
}

const ERASURE = {
  delete: { label: 'Delete their messages', hint: 'Their messages are deleted, as if they had deleted each one: they leave channels, threads and search.' },
  keep: { label: 'Keep their messages, from “deleted user”', hint: 'Their messages stay where they are, shown as written by “deleted user”; mentions of them become @deleted-user.' },
};

/**
 * The "When someone deletes their account" card: the erasure policy in words for
 * everyone (a member reads it before deleting their account); owners and admins choose.
 * @param {Errors} errors
 */
export function erasureCard(errors) {
  /** @type {ErasurePolicy['messages'] | undefined} */
  let current;
  const el = h('section.card.settings-erasure', { 'aria-labelledby': 'set-erasure' });
  const radios = /** @type {const} */ (['delete', 'keep']).map((v) => ({
    v,
    input: /** @type {HTMLInputElement} */ (h('input', { type: 'radio', name: 'erasure', value: v, id: `erase-${v}` })),
  }));
  const save = /** @type {HTMLButtonElement} */ (h('button.btn.primary', { type: 'submit' }, 'Save erasure policy'));
  let touched = false;
  for (const r of radios) r.input.addEventListener('input', () => (touched = true));
  const form = h('form.stack', {
    on: {
      submit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        const pick = radios.find((r) => r.input.checked);
        if (!pick || pick.v === current) return;
        errors.clear();
        save.disabled = true;
        try {
          current = (await api.lifecycle.setErasure(/** @type {string} */ (state.wsId), pick.v)).messages;
          touched = false;
          app.toast(`Erasure policy saved: ${ERASURE[current].label.toLowerCase()}`);
          render();
        } catch (e2) {
          errors.show(e2, 'Could not save the erasure policy');
        } finally {
          save.disabled = false;
        }
      },
    },
  },
  h('fieldset',
    h('legend', 'A departing member’s messages'),
    radios.map((r) => h('div.check.with-hint', r.input, h('label', { for: r.input.id }, ERASURE[r.v].label, h('span.hint', ERASURE[r.v].hint))))),
  h('p.muted', 'Either way their account, reactions, read markers and searches go, and models are retrained without their data. Each member sees this before deleting their account.'),
  h('div', save));

  async function load() {
    try {
      current = (await api.lifecycle.erasure(/** @type {string} */ (state.wsId))).messages;
      touched = false;
    } catch (e) {
      current = undefined;
      errors.show(e, 'Could not load the erasure policy');
    }
    render();
  }

  function render() {
    clear(el).append(h('h2#set-erasure', 'When someone deletes their account'));
    if (current === undefined) {
      el.append(h('p.muted', 'Loading…'));
      return;
    }
    el.append(h('p.policy-now', h('strong', 'Now: '), ERASURE[current].hint));
    if (!isAdmin()) {
      el.append(h('p.muted', 'Owners and admins set it.'));
      return;
    }
    if (!touched) for (const r of radios) r.input.checked = r.v === current;
    el.append(form);
  }

  render();
  return { el, load, render };
}

/**
 * A channel's retention in its details: the policy in force and where it comes from;
 * owners and admins give the channel its own (for ever, or N days) or let it follow
 * the workspace's again.
 * @param {string} chId
 * @param {Errors} errors
 */
export function channelRetentionSection(chId, errors) {
  /** @type {ChannelRetention | null | undefined} */
  let current;
  const el = h('section.details-section.details-retention', { 'aria-labelledby': 'det-retention' });
  const mode = /** @type {HTMLSelectElement} */ (h('select#det-ret-mode',
    h('option', { value: 'inherit' }, 'Follow the workspace'),
    h('option', { value: 'forever' }, 'Keep for ever'),
    h('option', { value: 'days' }, 'Delete after a number of days')));
  const count = /** @type {HTMLInputElement} */ (h('input#det-ret-days', { type: 'number', min: 1, max: MAX_DAYS, step: 1, value: '90', 'aria-label': 'Days to keep this channel’s messages' }));
  const save = /** @type {HTMLButtonElement} */ (h('button.btn.small', { type: 'submit' }, 'Save retention'));
  const formErr = h('p.error', { role: 'alert', hidden: true });
  let touched = false;
  const onChange = () => {
    touched = true;
    formErr.hidden = true;
    count.hidden = mode.value !== 'days';
  };
  mode.addEventListener('input', onChange);
  count.addEventListener('input', onChange);

  const form = h('form.inline-form', {
    on: {
      submit: async (/** @type {Event} */ e) => {
        e.preventDefault();
        if (!current) return;
        const ch = state.channels.get(chId);
        const where = ch && ch.kind !== 'dm' ? `#${ch.name}` : 'this conversation';
        /** @type {() => Promise<ChannelRetention>} */
        let call;
        /** @type {number | null} */
        let after;
        if (mode.value === 'inherit') {
          if (!current.set) return;
          call = () => api.lifecycle.inheritRetention(chId);
          try {
            // The workspace's policy may delete more than the channel's own did.
            after = (await api.lifecycle.retention(/** @type {string} */ (state.wsId))).days;
          } catch (e2) {
            errors.show(e2, 'Could not read the workspace’s retention');
            return;
          }
        } else if (mode.value === 'forever') {
          call = () => api.lifecycle.setChannelRetention(chId, null);
          after = null;
        } else {
          const c = parseDays(count);
          if ('error' in c) {
            formErr.hidden = false;
            formErr.textContent = c.error;
            return;
          }
          call = () => api.lifecycle.setChannelRetention(chId, c.days);
          after = c.days;
        }
        const run = async () => {
          current = await call();
          touched = false;
          app.toast(`Retention of ${where} saved`);
          render();
        };
        if (after != null && deletesMore(current.effective_days, after)) {
          confirmStep({
            title: `Delete messages of ${where} older than ${days(after)}?`,
            text: [
              `Every message and file of ${where} posted before ${cutoffDate(after)} is deleted, and from then on each one once it is ${days(after)} old, whatever the workspace’s policy says.`,
              'This cannot be undone: deleted messages and files cannot be brought back.',
            ],
            yes: `Delete after ${days(after)}`,
            run,
          });
          return;
        }
        errors.clear();
        save.disabled = true;
        run().catch((e2) => errors.show(e2, 'Could not save the retention')).finally(() => {
          save.disabled = false;
        });
      },
    },
  }, h('label', { for: 'det-ret-mode' }, 'Keep this channel’s messages'), h('div.inline-row', mode, count, save), formErr);

  async function load() {
    try {
      current = await api.lifecycle.channelRetention(chId);
      touched = false;
    } catch (e) {
      current = null;
      if (!(e instanceof api.ApiError && e.code === 'channel_not_found')) errors.show(e, 'Could not load the retention');
    }
    render();
  }

  function render() {
    clear(el).append(h('h3#det-retention', 'Message retention'));
    if (current === undefined) {
      el.append(h('p.muted', 'Loading…'));
      return;
    }
    if (current === null) return;
    el.append(h('p.policy-now', retentionWords(current.effective_days), ' ', h('span.muted', current.set ? '(this channel’s own policy)' : '(the workspace’s policy)')));
    if (!isAdmin()) return;
    if (!touched) {
      mode.value = !current.set ? 'inherit' : current.days == null ? 'forever' : 'days';
      if (current.days != null) count.value = String(current.days);
    }
    count.hidden = mode.value !== 'days';
    el.append(form);
  }

  render();
  return { el, load, render };
}
