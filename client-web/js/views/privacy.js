// @ts-check
// views/privacy.js — the Privacy & AI page, written for an owner who is not an
// engineer. Two levels: each training purpose first says in plain words what is
// learned, from what, who sees the result and how to stop it, with the owner's
// explicit opt-in (never pre-ticked), one-click withdrawal, each member's own
// include/exclude key and a preview of what would be shared (a member sees only
// their own data); the policy is shown as formatted text. Hashes, ε and ledger
// entries sit behind "Details for auditors". Then the models trained from this
// workspace (owners and admins: when, from what, whether served and why, quality
// against the default, why one was retired) and the consent history. Everything is
// rendered as text; the page says so when the server does not offer consent
// (`GET /features`). The purposes and the categories each may read are the
// server's (`GET /consent/policies`); only their wording is here.

import { h, clear, fullTime } from '../dom.js';
import { state, on, myRole, userName } from '../store.js';
import { renderMarkdown, plainPreview } from '../markdown.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { accountDataCard } from './account-data.js';

/** @typedef {import('../protocol.js').Policy} Policy */
/** @typedef {import('../protocol.js').PurposeState} PurposeState */
/** @typedef {import('../protocol.js').ConsentView} ConsentView */

/**
 * How each purpose is told, in plain words; a purpose the server adds later shows by
 * its name. `learns`: what a model of it learns; `result`: what the workspace gets.
 */
const PURPOSES = {
  search_ranking: {
    title: 'Search ranking',
    what: 'Learn which search results people open, to rank results better.',
    learns: 'Which kinds of search results people open (how recent, how many reactions, whether they know the author), to put the most useful results first.',
    examples: 'searches',
  },
  emoji_suggestions: {
    title: 'Emoji suggestions',
    what: 'Learn which emoji people react with to which words, to suggest reactions.',
    learns: 'Which emoji tend to go with which words, to suggest reactions. Only words that several members used are learned, with random noise added, so nobody’s message can be read back from it.',
    examples: 'reacted messages',
  },
  channel_suggestions: {
    title: 'Channel suggestions',
    what: 'Learn which channels people join together, to suggest channels.',
    learns: 'Which channels people tend to join together, to suggest channels to join.',
    examples: 'channel joins',
  },
};
const CATEGORY_LABELS = {
  messages: 'Message text of public channels',
  reactions: 'Reactions',
  memberships: 'Channel memberships',
  search_interactions: 'Search queries and clicks',
  files: 'Files attached in public channels (names, types, sizes, the start of a text file)',
};
/** The categories in words, lower case, for a sentence. */
const categoriesInWords = (/** @type {string[]} */ cats) =>
  (cats || []).map((c) => (CATEGORY_LABELS[c] || c.replace(/_/g, ' ')).toLowerCase()).join(', ') || 'nothing';

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
const NIL_ID = '00000000000000000000000000'; // the server's own runs: nobody named
/**
 * Who made a history entry. A training run is the server's: scheduled (the nil
 * actor), or started by hand by the server's administrator, who need not be a
 * member of this workspace (and is then not "Unknown user").
 */
function whoLabel(e, type) {
  const actor = e.actor && e.actor !== NIL_ID ? e.actor : null;
  const user = actor || (e.opening && e.opening.user) || null;
  const known = user && (state.members.has(user) || (state.me && user === state.me.id));
  if (type === 'budget_spent') {
    if (!actor) return 'Scheduled training run';
    return known ? `Training run started by ${userName(actor)}` : 'Training run started by the server’s administrator';
  }
  if (user && known) return state.me && user === state.me.id ? `${userName(user)} (you)` : userName(user);
  if (type === 'member_set') return 'A member';
  return user ? 'A former member' : '';
}
const short = (hash) => (hash ? String(hash).slice(0, 10) : '—');

/**
 * A policy's Markdown as formatted text: headings become headings, everything else
 * goes through the message renderer (markdown.js: text nodes only, safe links).
 * @param {string} text
 */
function policyText(text) {
  const box = h('div.policy-text');
  let chunk = [];
  const flush = () => {
    if (chunk.length) box.append(renderMarkdown(chunk.join('\n')));
    chunk = [];
  };
  for (const line of String(text).split('\n')) {
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      box.append(h(heading[1].length <= 1 ? 'h3' : 'h4', heading[2]));
    } else {
      chunk.push(line);
    }
  }
  flush();
  return box;
}

/** A "Details for auditors" disclosure around technical facts. */
function auditorDetails(/** @type {any[]} */ ...children) {
  return h('details.auditors', h('summary', 'Details for auditors'), h('div.auditor-body', ...children));
}

export function mountPrivacy(root) {
  const offs = [];
  const page = h('section.privacy-page', { 'aria-labelledby': 'privacy-title' });
  const scroller = h('div.page-scroll', page);
  clear(root).append(scroller);
  let data = null;
  const previews = new Map(); // purpose -> {loading, data, error}
  const openForms = new Set();
  // Which disclosures are open survives re-renders (a consent event re-renders).
  const opened = new Set();

  async function load() {
    const ws = state.wsId;
    try {
      if (api.features.consent === false) {
        data = { unavailable: true };
        return render();
      }
      const [policies, consent] = await Promise.all([api.consent.policies(), api.consent.state(ws)]);
      const admin = consent.role === 'owner' || consent.role === 'admin';
      const [history, models] = await Promise.all([
        api.consent.history(ws).catch((e) => ({ error: e })),
        admin ? api.consent.models(ws).catch((e) => ({ error: e })) : Promise.resolve(null),
      ]);
      if (ws !== state.wsId) return;
      data = { policies, consent, history, models };
      // A preview is of the consent it was taken under: any change makes it stale
      // (a withdrawn purpose must not go on showing what "would" be shared).
      previews.clear();
    } catch (e) {
      data = { error: e };
    }
    render();
  }

  /** Keeps a disclosure open across re-renders. */
  function remember(/** @type {HTMLElement} */ el, /** @type {string} */ key) {
    const details = /** @type {HTMLDetailsElement} */ (el);
    if (opened.has(key)) details.open = true;
    details.addEventListener('toggle', () => {
      if (details.open) opened.add(key);
      else opened.delete(key);
    });
    return details;
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
    page.append(modelsSection());
    page.append(historySection());
    page.append(accountDataCard());
  }

  /**
   * Whether the caller's own data is in for a purpose: their key, or (not chosen yet)
   * what the grant's member mode says, as the server folds it.
   * @param {string} purpose
   * @param {any} st
   */
  function ownKey(purpose, st) {
    /** @type {ConsentView} */
    const consent = data.consent;
    const key = consent.me.find((k) => k.purpose === purpose);
    return key ? key.included : st.members === 'opt_out';
  }

  /** The plain-language summary of one purpose: what, from what, who sees it, how to stop. */
  function summary(purpose, st, info, isOwner) {
    const granted = !!st.granted;
    const from = granted
      ? `${categoriesInWords(st.categories)} — from public channels only, never private channels or direct messages. ${st.members === 'opt_out' ? 'Every member is included unless they exclude themselves.' : 'Only members who opt in themselves are included.'}`
      : 'Nothing: no owner has opted in, so no data of this workspace is used for this.';
    const who = !granted
      ? 'Nobody: nothing is trained.'
      : st.scope === 'shared'
        ? 'Everyone on this server: the result improves a shared model that every workspace here uses. Only noised counts leave this workspace, never messages or who wrote them.'
        : 'Only this workspace: the model is trained on this workspace’s data and used by this workspace alone.';
    const ownerNames = [...state.members.values()].filter((m) => m.role === 'owner').map((o) => o.display_name || o.username).join(', ');
    const stop = isOwner
      ? granted
        ? 'Press “Withdraw consent” below. It takes effect at once: models that learned from this workspace stop being used.'
        : 'Nothing to stop. If you opt in, you can withdraw with one click at any time.'
      : granted
        ? `Exclude your own data below, at any time; or ask an owner${ownerNames ? ` (${ownerNames})` : ''} to withdraw for everyone.`
        : 'Nothing to stop. Even if an owner opts in, you can exclude your own data.';
    return h('dl.facts.summary',
      h('dt', 'What is learned'), h('dd', info.learns || info.what || purpose),
      h('dt', 'From what'), h('dd', from),
      h('dt', 'Who sees the result'), h('dd', who),
      h('dt', 'How to stop it'), h('dd', stop));
  }

  function purposeCard(purpose, policy, st, isOwner) {
    const info = PURPOSES[purpose] || { title: purpose, what: '' };
    const granted = !!st.granted;
    const card = h('article.card.purpose', { 'aria-labelledby': `p-${purpose}`, dataset: { purpose } });
    card.append(
      h('header.purpose-head',
        h('div', h('h2', { id: `p-${purpose}` }, info.title), h('p.muted', info.what)),
        h(`span.state.${granted ? 'on' : 'off'}`, { role: 'status' }, granted ? 'On' : 'Off')),
      summary(purpose, st, info, isOwner),
    );
    if (granted) {
      card.append(h('p.muted.granted-by', `Turned on by ${st.granted_by ? userName(st.granted_by) : 'an owner'}${st.granted_at ? ` on ${fullTime(st.granted_at)}` : ''}.`));
    }

    // The member's own key.
    const effective = ownKey(purpose, st);
    card.append(h('div.member-key',
      h('p', h('strong', 'Your data: '), granted
        ? effective ? 'included in training for this purpose.' : 'excluded from training for this purpose.'
        : effective ? 'not used while the workspace has not opted in; you chose to be included if it does.' : 'not used (the workspace has not opted in).'),
      h('button.btn.small', {
        type: 'button',
        dataset: { action: effective ? 'exclude-me' : 'include-me' },
        on: { click: (e) => setMine(purpose, !effective, e.currentTarget) },
      }, effective ? 'Exclude my data' : 'Include my data')));

    card.append(previewBlock(purpose));
    if (policy) {
      card.append(remember(h('details.policy', h('summary', `Read the policy (version ${policy.version})`), policyText(policy.text || '')), `policy-${purpose}`));
    }
    const counts = (data.consent.member_counts || []).find((c) => c.purpose === purpose);
    card.append(remember(auditorDetails(h('dl.facts',
      h('dt', 'Policy'), h('dd', policy ? `version ${policy.version}, SHA-256 ${policy.sha256}` : '—'),
      granted ? [
        h('dt', 'Accepted policy'), h('dd', `version ${st.policy_version ?? '?'}, SHA-256 ${st.policy_sha256 || '—'}`),
        h('dt', 'Scope'), h('dd', st.scope || '—'),
        h('dt', 'Categories'), h('dd', (st.categories || []).join(', ') || '—'),
        h('dt', 'Members'), h('dd', st.members || '—'),
      ] : null,
      st.entry_seq != null ? [h('dt', 'Ledger entry'), h('dd', `#${st.entry_seq}, ${st.entry_hash || ''}`)] : null,
      counts ? [h('dt', 'Member keys'), h('dd', `${counts.opted_in} opted in, ${counts.opted_out} opted out (counts only)`)] : null)), `audit-${purpose}`));

    if (isOwner) card.append(granted ? withdrawBlock(purpose) : grantBlock(purpose, policy, info));
    return card;
  }

  function previewBlock(purpose) {
    const p = previews.get(purpose);
    const admin = data.consent.role === 'owner' || data.consent.role === 'admin';
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
    box.append(h('h3', admin ? 'What a training run would read right now' : 'What of your data a training run would read right now'),
      renderPreview(p.data, admin),
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
              // What "would be shared" no longer is: the preview goes with the grant.
              previews.delete(purpose);
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

  /** When a model was trained, from what, whether it is used and why, how good it is. */
  function modelsSection() {
    const sec = h('section.card.models', { 'aria-labelledby': 'models-title' }, h('h2#models-title', 'Models'));
    const models = data.models;
    if (models === null) {
      sec.append(h('p.muted', 'Owners and admins see here which models learned from this workspace.'));
      return sec;
    }
    if (models.error) {
      sec.append(h('p.error', `Could not load the models: ${models.error.message}`));
      return sec;
    }
    if (!models.length) {
      sec.append(h('p', 'No model has learned from this workspace: everything runs on the built-in defaults.'));
      return sec;
    }
    sec.append(h('p.muted', 'Each training run makes a model per purpose. A model is used only while it does better than the built-in default and while the consent it was trained under still holds.'));
    const list = h('ul.model-list');
    for (const m of [...models].sort((a, b) => b.manifest.created_at - a.manifest.created_at)) list.append(modelItem(m));
    sec.append(list);
    return sec;
  }

  /** @param {import('../protocol.js').ModelView} m */
  function modelItem(m) {
    const man = m.manifest;
    const info = PURPOSES[man.purpose] || { title: man.purpose, examples: 'examples' };
    const mine = man.contributors[0];
    const ev = man.evaluation;
    const better = ev.cases > 0 && ev.trained > ev.default;
    const pct = (/** @type {number} */ x) => `${Math.round(x * 1000) / 10}%`;
    const status = m.retired
      ? h('p.model-status.retired', h('strong', 'Retired'), ` on ${fullTime(m.retired.at)}: ${m.retired.reason}. It is no longer used.`)
      : m.served
        ? h('p.model-status.served', h('strong', 'In use'), ': this workspace gets its suggestions from this model.')
        : !man.servable
          ? h('p.model-status', h('strong', 'Not used'), ': it did not do better than the built-in default, so the default stays.')
          : h('p.model-status', h('strong', 'Not used'), ': a newer model of the same purpose is used instead.');
    const from = mine
      ? `${categoriesInWords(mine.categories)} (this workspace’s public channels only), from ${mine.member_count} member${mine.member_count === 1 ? '' : 's'}, up to ${fullTime(man.data_cutoff)}${mine.retention_cutoff ? ` (nothing older than ${fullTime(mine.retention_cutoff)}, the retention limit)` : ''}`
      : 'none of this workspace’s data (it is the shared model of other workspaces)';
    const others = m.other_contributors ? ` and ${m.other_contributors} other workspace${m.other_contributors === 1 ? '' : 's'} of this server (not named)` : '';
    return h('li.model', { dataset: { model: man.id, served: String(!!m.served), retired: String(!!m.retired) } },
      h('h3', `${info.title} — ${man.scope === 'shared' ? 'shared model for the whole server' : 'this workspace’s own model'}`),
      status,
      h('dl.facts',
        h('dt', 'Trained'), h('dd', fullTime(man.created_at)),
        h('dt', 'Learned from'), h('dd', `${from}${others}; ${ev.train_examples} ${info.examples || 'examples'} in all.`),
        h('dt', 'Quality'), h('dd', ev.cases
          ? `${better ? 'Better than' : 'Not better than'} the default: ${pct(ev.trained)} against ${pct(ev.default)} (${ev.task}, ${ev.cases} held-out cases).`
          : 'Not measured: there was too little data to hold some back for testing.')),
      auditorDetails(h('dl.facts',
        h('dt', 'Model id'), h('dd', h('code', man.id)),
        h('dt', 'Artifact SHA-256'), h('dd', h('code', man.artifact_sha256)),
        h('dt', 'Metric'), h('dd', `${ev.metric}: ${ev.trained} (default ${ev.default})`),
        h('dt', 'Privacy'), h('dd', `ε = ${man.privacy.epsilon} per workspace, ${man.privacy.mechanism} noise (${man.privacy.noise}); ${man.privacy.sensitivity}${man.privacy.min_users_per_word ? `; a word needs ${man.privacy.min_users_per_word} members` : ''}${man.privacy.min_workspaces_per_word ? ` and ${man.privacy.min_workspaces_per_word} workspaces` : ''}`),
        mine ? [h('dt', 'Consent'), h('dd', `ledger entry #${mine.entry_seq} (${mine.entry_hash}), policy version ${mine.policy_version}, members ${mine.members}, ledger head #${mine.ledger_head_seq}`)] : null,
        h('dt', 'Code'), h('dd', `confab-training ${man.code_version}, ${man.artifact_format}`))));
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
    const intact = !v || v.first_bad === null || v.first_bad === undefined;
    sec.append(intact
      ? h('p', 'Every grant, withdrawal, member choice and training run is recorded here, and the record cannot be changed unnoticed.')
      : h('p.error', `The history has been tampered with (at entry #${v.first_bad}).`));
    if (!entries.length) {
      sec.append(h('p', 'No entries yet: nothing has ever been granted.'));
      return sec;
    }
    const tbody = h('tbody');
    const hashes = h('tbody');
    for (const e of [...entries].reverse()) {
      const a = e.action || {};
      const type = a.type || e.type || '';
      const pname = (PURPOSES[a.purpose] || { title: a.purpose || '' }).title.toLowerCase();
      const what = {
        grant: `Turned on ${pname}: ${categoriesInWords(a.categories)}, ${a.scope === 'shared' ? 'shared with the server' : 'this workspace only'}, ${a.members === 'opt_out' ? 'members included unless they opt out' : 'members who opt in'}`,
        withdraw: `Turned off ${pname}`,
        member_set: memberSetLabel(e, a, pname),
        budget_spent: `Trained ${pname} with this workspace’s data`,
      }[type] || `${type} ${pname}`;
      tbody.append(h('tr', { dataset: { type } },
        h('td', e.at ? fullTime(e.at) : ''),
        h('td', whoLabel(e, type)),
        h('td', what)));
      hashes.append(h('tr',
        h('td', String(e.seq ?? '')),
        h('td', type === 'budget_spent' ? `ε = ${a.epsilon}` : type),
        h('td', h('code', short(e.prev_hash))),
        h('td', h('code', { title: e.hash || '' }, short(e.hash)))));
    }
    sec.append(h('div.table-wrap', h('table.history-table',
      h('thead', h('tr', ['When', 'Who', 'What'].map((t) => h('th', { scope: 'col' }, t)))), tbody)));
    sec.append(remember(auditorDetails(
      v ? (intact
        ? h('p.verified', `✓ Chain verified: ${v.entries} entr${v.entries === 1 ? 'y' : 'ies'}, intact${v.head_hash ? ` (head ${v.head_hash})` : ''}`)
        : h('p.error', `Chain broken at entry #${v.first_bad}.`)) : null,
      h('p.muted', 'The history is an append-only chain: each entry’s hash covers the one before it.'),
      h('div.table-wrap', h('table.hash-table',
        h('thead', h('tr', ['#', 'Entry', 'Previous', 'Hash'].map((t) => h('th', { scope: 'col' }, t)))), hashes))), 'audit-history'));
    return sec;
  }

  offs.push(on('consent-changed', () => load()));
  offs.push(on('members', () => data && render()));
  render();
  load();
  return { destroy: () => offs.forEach((f) => f()) };
}

/** Why a workspace is left out of a preview, in words (`ExclusionReason`). */
const EXCLUSION = {
  not_granted: 'no owner has opted in to this purpose',
  withdrawn: 'consent was withdrawn',
  policy_outdated: 'the policy changed since it was accepted; an owner must accept the new one',
  ledger_invalid: 'its consent history does not verify',
  workspace_scope_only: 'the grant covers this workspace only',
};

/**
 * The preview answer `{purpose, taken_at, workspaces: [{allowed_by, messages, reactions,
 * memberships, search_interactions, ...}], excluded: [{workspace, reason}]}`: counts per
 * category and a sample of the records, all as text. A member's preview holds only
 * their own records.
 * @param {any} d
 * @param {boolean} admin
 */
function renderPreview(d, admin) {
  if (!d || !Array.isArray(d.workspaces)) return renderPreviewGeneric(d);
  const box = h('div.preview-body');
  if (d.taken_at) box.append(h('p.muted', `As of ${fullTime(d.taken_at)}.`));
  for (const ex of d.excluded || []) {
    box.append(h('p', h('strong', 'Nothing would be read: '), `${EXCLUSION[ex.reason] || `excluded (${ex.reason})`}.`));
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
        if (k === 'search_interactions') return `A search on ${fullTime(r.at)}: a result ${r.clicked ? 'opened' : 'shown'}`;
        if (k === 'files') return `${userName(r.author)}'s file “${r.name}” (${r.content_type}, ${r.size} bytes)${r.text ? `: ${plainPreview(r.text, 80)}` : ''}`;
        return JSON.stringify(r);
      });
      samples.append(h('details', h('summary', `Sample of ${k.replace(/_/g, ' ')} (${sample.length} of ${v.length})`), h('pre.sample', sample.join('\n'))));
    }
    if (!admin) box.append(h('p', 'Only your own data is shown here; nobody else’s.'));
    box.append(counts, samples);
    if (w.allowed_by) {
      box.append(auditorDetails(h('p', `Allowed by ledger entry #${w.allowed_by.entry_seq} (${w.allowed_by.entry_hash}): ${(w.allowed_by.categories || []).join(', ')}, scope ${w.allowed_by.scope}, members ${w.allowed_by.members}, policy version ${w.allowed_by.policy_version}.`)));
    }
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
