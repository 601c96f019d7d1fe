// @ts-check
// views/privacy.js — the Privacy & AI page. For each training purpose: its state (off
// unless an owner opted in), the policy text, a preview of exactly what a training run
// would read, the owner's explicit opt-in (never pre-ticked) and one-click withdrawal,
// each member's own include/exclude key, and the hash-chained consent history.
// Everything is rendered as text; the page says so when the server does not offer
// consent (`GET /features`). The purposes and the categories each may read are the
// server's (`GET /consent/policies`); only their titles and descriptions are here.

import { h, clear, fullTime } from '../dom.js';
import { state, on, myRole, userName } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { accountDataCard } from './account-data.js';

/** @typedef {import('../protocol.js').Policy} Policy */
/** @typedef {import('../protocol.js').PurposeState} PurposeState */
/** @typedef {import('../protocol.js').ConsentView} ConsentView */

/** How each purpose is shown; a purpose the server adds later shows by its name. */
const PURPOSES = {
  search_ranking: {
    title: 'Search ranking',
    what: 'Learn which search results people open, to rank results better.',
  },
  emoji_suggestions: {
    title: 'Emoji suggestions',
    what: 'Learn which emoji people react with to which words, to suggest reactions.',
  },
  channel_suggestions: {
    title: 'Channel suggestions',
    what: 'Learn which channels people join together, to suggest channels.',
  },
};
const CATEGORY_LABELS = {
  messages: 'Message text of public channels',
  reactions: 'Reactions',
  memberships: 'Channel memberships',
  search_interactions: 'Search queries and clicks',
};
/**
 * A member's own key entry. Sealed (`action.commitment`, no actor): only the member's
 * own entries carry `opening: {user, included, nonce}`; anyone else's is just "a
 * member changed their own key". An older unsealed entry of another member comes
 * blanked with `redacted: true`.
 */
function memberSetLabel(e, a, pname) {
  const what = pname ? ` for ${pname}` : '';
  if (e.opening && typeof e.opening.included === 'boolean') {
    return `${e.opening.included ? 'Included' : 'Excluded'} their own data${what}`;
  }
  if (e.redacted) return `A member changed their own key${what} (hidden)`;
  if (!a.commitment && typeof a.included === 'boolean') {
    // An older, unsealed entry the caller may see (their own).
    return `${a.included ? 'Included' : 'Excluded'} their own data${what}`;
  }
  return `A member changed their own key${what}`;
}
const NIL_ID = '00000000000000000000000000'; // a sealed entry's actor: nobody named
function whoLabel(e, type) {
  const actor = e.actor && e.actor !== NIL_ID ? e.actor : null;
  const user = actor || (e.opening && e.opening.user) || null;
  if (user) return state.me && user === state.me.id ? `${userName(user)} (you)` : userName(user);
  if (type === 'member_set') return 'A member';
  if (type === 'budget_spent') return 'Scheduled training run';
  return '';
}
const short = (hash) => (hash ? String(hash).slice(0, 10) : '—');

export function mountPrivacy(root) {
  const offs = [];
  const page = h('section.privacy-page', { 'aria-labelledby': 'privacy-title' });
  const scroller = h('div.page-scroll', page);
  clear(root).append(scroller);
  let data = null;
  const previews = new Map(); // purpose -> {loading, data, error}
  const openForms = new Set();

  async function load() {
    const ws = state.wsId;
    try {
      if (api.features.consent === false) {
        data = { unavailable: true };
        return render();
      }
      const [policies, consent] = await Promise.all([api.consent.policies(), api.consent.state(ws)]);
      const history = await api.consent.history(ws).catch((e) => ({ error: e }));
      if (ws !== state.wsId) return;
      data = { policies, consent, history };
    } catch (e) {
      data = { error: e };
    }
    render();
  }

  function render() {
    clear(page);
    page.append(
      h('header.page-header',
        h('h1#privacy-title', 'Privacy & AI'),
        h('p.lead', 'Confab can learn better search ranking and suggestions from your workspace — but only if an owner explicitly opts in, purpose by purpose. Until then nothing here is used for training; features run on defaults and live statistics that stay with the workspace. Private channels and direct messages are never training data.')),
    );
    if (!data) {
      page.append(h('p.muted', 'Loading…'));
      return;
    }
    if (data.error) {
      page.append(h('p.error', `Could not load consent settings: ${data.error.message}`));
      return;
    }
    if (data.unavailable) {
      page.append(h('div.card.notice', h('h2', 'Not available on this server'), h('p', 'This server does not offer consent-gated training yet, so none of your workspace’s data is used to train models.')));
      return;
    }
    const role = myRole();
    const isOwner = role === 'owner';
    const owners = [...state.members.values()].filter((m) => m.role === 'owner');
    page.append(
      h('div.card.who',
        isOwner
          ? h('p', h('strong', 'You are an owner of this workspace. '), 'You can grant or withdraw consent for each purpose below. Every change is recorded in the signed history.')
          : h('p', h('strong', 'Only workspace owners can change these settings. '), `Owners: ${owners.map((o) => `${o.display_name} (@${o.username})`).join(', ') || 'unknown'}. `, 'You can always exclude your own data below.')),
    );
    /** @type {Policy[]} */
    const policies = data.policies;
    /** @type {PurposeState[]} */
    const states = data.consent.purposes;
    const names = [...new Set([...policies.map((p) => p.purpose), ...states.map((s) => s.purpose)])];
    for (const purpose of names) {
      page.append(purposeCard(purpose, policies.find((p) => p.purpose === purpose), states.find((s) => s.purpose === purpose) || { purpose, granted: false }, isOwner));
    }
    page.append(historySection());
    page.append(accountDataCard());
  }

  /**
   * Whether the caller's own data is in for a purpose: their key, or (not chosen yet)
   * what the grant's member mode says, as the server folds it.
   * @param {string} purpose
   * @param {PurposeState} st
   */
  function ownKey(purpose, st) {
    /** @type {ConsentView} */
    const consent = data.consent;
    const key = consent.me.find((k) => k.purpose === purpose);
    return key ? key.included : st.members === 'opt_out';
  }

  function purposeCard(purpose, policy, st, isOwner) {
    const info = PURPOSES[purpose] || { title: purpose, what: '' };
    const granted = !!st.granted;
    const card = h('article.card.purpose', { 'aria-labelledby': `p-${purpose}`, dataset: { purpose } });
    card.append(
      h('header.purpose-head',
        h('div', h('h2', { id: `p-${purpose}` }, info.title), h('p.muted', info.what)),
        h(`span.state.${granted ? 'on' : 'off'}`, { role: 'status' }, granted ? 'On' : 'Off')),
    );
    if (granted) {
      card.append(
        h('dl.facts',
          h('dt', 'Scope'), h('dd', st.scope === 'shared' ? 'Shared: this workspace’s model and the server-wide model' : 'This workspace’s own model only'),
          h('dt', 'Data'), h('dd', (st.categories || []).map((c) => CATEGORY_LABELS[c] || c).join(', ') || '—'),
          h('dt', 'Members'), h('dd', st.members === 'opt_out' ? 'Included unless they exclude themselves' : 'Excluded unless they opt in'),
          h('dt', 'Policy'), h('dd', `version ${st.policy_version ?? '?'}`),
          h('dt', 'Granted by'), h('dd', `${st.granted_by ? userName(st.granted_by) : '—'}${st.granted_at ? `, ${fullTime(st.granted_at)}` : ''}`)),
      );
    } else {
      card.append(h('p', 'Not granted: no data of this workspace is used to train this purpose.'));
    }
    if (policy) {
      card.append(h('details.policy', h('summary', `Read the policy (version ${policy.version}, sha256 ${short(policy.sha256)}…)`), h('pre.policy-text', policy.text || '')));
    }
    card.append(previewBlock(purpose));

    // The member's own key.
    const effective = ownKey(purpose, st);
    const meLine = h('div.member-key',
      h('p', h('strong', 'Your data: '), granted
        ? effective ? 'included in training for this purpose.' : 'excluded from training for this purpose.'
        : effective ? 'not used while the workspace has not opted in; you chose to be included if it does.' : 'not used (the workspace has not opted in).'),
      h('button.btn.small', {
        type: 'button',
        dataset: { action: effective ? 'exclude-me' : 'include-me' },
        on: { click: (e) => setMine(purpose, !effective, e.currentTarget) },
      }, effective ? 'Exclude my data' : 'Include my data'));
    card.append(meLine);

    if (isOwner) card.append(granted ? withdrawBlock(purpose) : grantBlock(purpose, policy, info));
    return card;
  }

  function previewBlock(purpose) {
    const p = previews.get(purpose);
    const box = h('div.preview');
    if (!p) {
      box.append(h('button.btn.small', { type: 'button', dataset: { action: 'preview' }, on: { click: () => loadPreview(purpose) } }, 'Preview what would be shared'));
      return box;
    }
    if (p.loading) {
      box.append(h('p.muted', 'Loading preview…'));
      return box;
    }
    if (p.error) {
      box.append(h('p.error', `Preview failed: ${p.error.message}`));
      return box;
    }
    box.append(h('h3', 'What a training run would read right now'), renderPreview(p.data),
      h('button.btn.small', { type: 'button', on: { click: () => { previews.delete(purpose); render(); } } }, 'Hide preview'));
    return box;
  }

  async function loadPreview(purpose) {
    previews.set(purpose, { loading: true });
    render();
    try {
      const d = await api.consent.preview(state.wsId, purpose);
      previews.set(purpose, { data: d });
    } catch (e) {
      previews.set(purpose, { error: e });
    }
    render();
  }

  function grantBlock(purpose, policy, info) {
    const open = openForms.has(purpose);
    const box = h('div.grant');
    if (!open) {
      box.append(h('button.btn.primary', { type: 'button', dataset: { action: 'start-grant' }, on: { click: () => { openForms.add(purpose); render(); } } }, 'Opt in…'));
      return box;
    }
    const id = (s) => `${purpose}-${s}`;
    const radio = (name, value, label, checked, hint) =>
      h('div.check', h('input', { type: 'radio', name: id(name), id: id(`${name}-${value}`), value, checked }),
        h('label', { for: id(`${name}-${value}`) }, label, hint ? h('span.muted', ` — ${hint}`) : null));
    const cats = policy ? policy.categories : [];
    const catBoxes = cats.map((c) => h('div.check', h('input', { type: 'checkbox', id: id(`cat-${c}`), value: c, checked: true, name: id('cat') }), h('label', { for: id(`cat-${c}`) }, CATEGORY_LABELS[c] || c)));
    const agree = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: id('agree') }));
    const confirmBtn = /** @type {HTMLButtonElement} */ (h('button.btn.primary', { type: 'submit', disabled: true, dataset: { action: 'confirm-grant' } }, 'Confirm opt-in'));
    /** @param {string} selector */
    const checked = (selector) => /** @type {HTMLInputElement[]} */ ([...form.querySelectorAll(`${selector}:checked`)]).map((x) => x.value);
    agree.addEventListener('change', () => {
      confirmBtn.disabled = !agree.checked;
    });
    const err = h('p.error', { role: 'alert', hidden: true });
    const form = h('form.stack.grant-form', {
      on: {
        submit: async (e) => {
          e.preventDefault();
          if (!agree.checked) return;
          const [scope] = checked(`input[name="${id('scope')}"]`);
          const [members] = checked(`input[name="${id('members')}"]`);
          const categories = checked(`input[name="${id('cat')}"]`);
          if (!policy) {
            err.hidden = false;
            err.textContent = 'The policy could not be loaded; reload the page.';
            return;
          }
          confirmBtn.disabled = true;
          try {
            await api.consent.set(state.wsId, purpose, {
              granted: true, scope, categories, members, policy_version: policy.version, policy_sha256: policy.sha256, accept: true,
            });
            openForms.delete(purpose);
            app.toast(`Opted in to ${info.title.toLowerCase()}`);
            await load();
          } catch (e2) {
            err.hidden = false;
            err.textContent = e2.code === 'policy_mismatch' ? 'The policy changed since you read it. Reload the page and read it again.' : e2.message;
            confirmBtn.disabled = !agree.checked;
          }
        },
      },
    },
    h('fieldset', h('legend', 'Where may the learning go?'),
      radio('scope', 'workspace', 'This workspace only', true, 'a model trained on and served to this workspace'),
      radio('scope', 'shared', 'Also the server-wide model', false, 'shared with every workspace on this server')),
    h('fieldset', h('legend', 'Which data?'), catBoxes),
    h('fieldset', h('legend', 'Members'),
      radio('members', 'opt_in', 'Each member opts in themselves (recommended)', true, 'an employer’s yes is not each employee’s'),
      radio('members', 'opt_out', 'Members are included unless they opt out', false)),
    h('div.check.agree', agree, h('label', { for: id('agree') }, `I have read the policy (version ${policy ? policy.version : '?'}) and agree`)),
    err,
    h('div.actions', h('button.btn', { type: 'button', on: { click: () => { openForms.delete(purpose); render(); } } }, 'Cancel'), confirmBtn));
    box.append(form);
    return box;
  }

  function withdrawBlock(purpose) {
    return h('div.grant',
      h('button.btn.danger', {
        type: 'button',
        dataset: { action: 'withdraw' },
        on: {
          click: async (e) => {
            e.currentTarget.disabled = true;
            try {
              await api.consent.set(state.wsId, purpose, { granted: false });
              app.toast('Consent withdrawn. Models trained with this workspace’s data stop being served.');
              await load();
            } catch (e2) {
              app.reportError(e2, 'Withdraw failed');
              e.currentTarget.disabled = false;
            }
          },
        },
      }, 'Withdraw consent'),
      h('p.muted', 'Takes effect at once: the next run excludes this workspace and models that used its data stop being served.'));
  }

  async function setMine(purpose, included, btn) {
    btn.disabled = true;
    try {
      await api.consent.setMine(state.wsId, purpose, included);
      await load();
    } catch (e) {
      app.reportError(e, 'Could not change your setting');
      btn.disabled = false;
    }
  }

  function historySection() {
    const sec = h('section.card.history', { 'aria-labelledby': 'hist-title' }, h('h2#hist-title', 'Consent history'));
    const hist = data.history;
    if (hist.error) {
      sec.append(h('p.muted', hist.error.status === 403 || hist.error.code === 'forbidden' ? 'Only owners and admins can see the full history.' : `Could not load the history: ${hist.error.message}`));
      return sec;
    }
    const entries = hist.entries;
    const v = hist.verification;
    if (v) {
      sec.append(v.first_bad === null || v.first_bad === undefined
        ? h('p.verified', `✓ Chain verified: ${v.entries} entr${v.entries === 1 ? 'y' : 'ies'}, intact${v.head_hash ? ` (head ${short(v.head_hash)}…)` : ''}`)
        : h('p.error', `Chain broken at entry #${v.first_bad}: the history has been tampered with.`));
    }
    sec.append(h('p.muted', 'Every grant, withdrawal and member choice is an entry in an append-only chain: each entry’s hash covers the one before it, so nothing can be edited or removed unnoticed.'));
    if (!entries.length) {
      sec.append(h('p', 'No entries yet: nothing has ever been granted.'));
      return sec;
    }
    const tbody = h('tbody');
    for (const e of [...entries].reverse()) {
      const a = e.action || {};
      const type = a.type || e.type || '';
      const pname = (PURPOSES[a.purpose] || { title: a.purpose || '' }).title.toLowerCase();
      const what = {
        grant: `Granted ${pname} (scope ${a.scope}; ${(a.categories || []).map((c) => c.replace(/_/g, ' ')).join(', ')}; members ${String(a.members).replace('_', '-')})`,
        withdraw: `Withdrew ${pname}`,
        member_set: memberSetLabel(e, a, pname),
        budget_spent: `Training run spent ε=${a.epsilon} for ${pname}`,
      }[type] || `${type} ${pname}`;
      tbody.append(h('tr', { dataset: { type } },
        h('td', String(e.seq ?? '')),
        h('td', e.at ? fullTime(e.at) : ''),
        h('td', whoLabel(e, type)),
        h('td', what),
        h('td', h('code', { title: e.prev_hash || '' }, short(e.prev_hash))),
        h('td', h('code', { title: e.hash || '' }, short(e.hash)))));
    }
    sec.append(h('div.table-wrap', h('table.history-table',
      h('thead', h('tr', ['#', 'When', 'Who', 'What', 'Previous', 'Hash'].map((t) => h('th', { scope: 'col' }, t)))), tbody)));
    return sec;
  }

  offs.push(on('consent-changed', () => load()));
  offs.push(on('members', () => data && render()));
  render();
  load();
  return { destroy: () => offs.forEach((f) => f()) };
}

const EXCLUSION = {
  not_granted: 'not included: no owner has opted in to this purpose',
  withdrawn: 'not included: consent was withdrawn',
  scope: 'not included: the grant does not cover this scope',
};

/**
 * The preview answer `{purpose, taken_at, workspaces: [{allowed_by, messages, reactions,
 * memberships, search_interactions, ...}], excluded: [{workspace, reason}]}`: counts per
 * category and a sample of the records, all as text.
 */
function renderPreview(d) {
  if (!d || !Array.isArray(d.workspaces)) return renderPreviewGeneric(d);
  const box = h('div.preview-body');
  if (d.taken_at) box.append(h('p.muted', `As of ${fullTime(d.taken_at)}.`));
  for (const ex of d.excluded || []) {
    box.append(h('p', h('strong', 'Nothing would be read: '), `this workspace is ${EXCLUSION[ex.reason] || `excluded (${ex.reason})`}.`));
  }
  for (const w of d.workspaces) {
    const counts = h('ul.counts');
    const samples = h('div');
    for (const [k, v] of Object.entries(w)) {
      if (!Array.isArray(v)) continue;
      counts.append(h('li', h('strong', String(v.length)), ` ${(CATEGORY_LABELS[k] || k.replace(/_/g, ' ')).toLowerCase()}`));
      if (!v.length) continue;
      const sample = v.slice(0, 5).map((r) => {
        if (k === 'messages') return `${userName(r.author)}: ${r.text}`;
        if (k === 'reactions') return `${r.emoji} × ${(r.users || []).length} on message #${r.seq}`;
        if (k === 'memberships') return `${userName(r.user)} in a channel since ${fullTime(r.joined_at)}`;
        return JSON.stringify(r);
      });
      samples.append(h('details', h('summary', `Sample of ${k.replace(/_/g, ' ')} (${sample.length} of ${v.length})`), h('pre.sample', sample.join('\n'))));
    }
    if (w.allowed_by) {
      box.append(h('p', `Allowed by ledger entry #${w.allowed_by.entry_seq} (${short(w.allowed_by.entry_hash)}…): ${(w.allowed_by.categories || []).join(', ')}, scope ${w.allowed_by.scope}, members ${w.allowed_by.members}.`));
    }
    box.append(counts, samples);
  }
  if (!d.workspaces.length && !(d.excluded || []).length) box.append(h('p', 'Nothing: no records would be read.'));
  return box;
}

/** A generic, safe rendering of any other preview shape: counts, then a sample of each record list. */
function renderPreviewGeneric(d) {
  const box = h('div.preview-body');
  const counts = h('ul.counts');
  const samples = h('div');
  const walk = (obj, prefix) => {
    for (const [k, v] of Object.entries(obj || {})) {
      const label = prefix ? `${prefix}.${k}` : k;
      if (Array.isArray(v)) {
        counts.append(h('li', h('strong', String(v.length)), ` ${label.replace(/_/g, ' ')}`));
        if (v.length && typeof v[0] === 'object') {
          samples.append(h('details', h('summary', `Sample of ${label.replace(/_/g, ' ')} (${Math.min(5, v.length)} of ${v.length})`),
            h('pre.sample', v.slice(0, 5).map((r) => JSON.stringify(r, null, 2)).join('\n'))));
        }
      } else if (typeof v === 'number') {
        counts.append(h('li', h('strong', String(v)), ` ${label.replace(/_/g, ' ')}`));
      } else if (v && typeof v === 'object' && !prefix) {
        walk(v, k);
      } else if (typeof v === 'string' || typeof v === 'boolean') {
        counts.append(h('li', `${label.replace(/_/g, ' ')}: `, h('strong', String(v))));
      }
    }
  };
  walk(d, '');
  if (!counts.childNodes.length) counts.append(h('li', 'Nothing: no records would be read.'));
  box.append(counts, samples);
  return box;
}
