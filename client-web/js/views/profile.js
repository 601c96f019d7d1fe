// @ts-check
// views/profile.js — people's profiles: the card a name opens (display name,
// @username, status, role, local time where the member gave a time zone, a "BOT" tag
// for a bot's or a webhook's account, "Message" to open the DM), the author label of a
// message (the name opens the card, a bot's carries the tag), and the dialog where one
// edits one's own profile (display name, status emoji and text, time zone).

import { h, clear } from '../dom.js';
import { state, on, emit, userName } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { openDialog } from './dialogs.js';
import { avatar, avatarVersion, presenceDot } from './message.js';

/**
 * @typedef {import('../protocol.js').MemberView} MemberView
 * @typedef {import('../protocol.js').User} User
 * @typedef {import('../protocol.js').Role} Role
 */

export const ROLE_LABELS = { owner: 'Owner', admin: 'Admin', member: 'Member', guest: 'Guest' };

/** The member record of `id` in the open workspace (one's own falls back to the account). */
export function person(/** @type {string} */ id) {
  const m = state.members.get(id);
  if (m) return m;
  return state.me && state.me.id === id ? state.me : null;
}

/** Whether `id` is a bot's or an incoming webhook's account (the member list says so). */
export function isBot(/** @type {string} */ id) {
  const m = state.members.get(id);
  return !!(m && m.is_bot);
}

/** The "BOT" tag of a bot's account, or nothing. */
export function botTag(/** @type {string} */ id) {
  return isBot(id) ? h('span.tag.bot-tag', { title: 'A bot: an app posts its messages' }, 'BOT') : null;
}

/**
 * The time now where the member is, from the time zone they gave; null without one,
 * or for a zone this browser does not know.
 * @param {string | undefined} zone
 * @param {Date} [now]
 */
export function localTime(zone, now = new Date()) {
  if (!zone) return null;
  try {
    return new Intl.DateTimeFormat([], { timeZone: zone, hour: '2-digit', minute: '2-digit', weekday: 'short' }).format(now);
  } catch {
    return null;
  }
}

/** "🌴 On holiday", or null. */
export function statusLine(/** @type {{status_emoji?: string, status_text?: string} | null} */ p) {
  if (!p || !(p.status_emoji || p.status_text)) return null;
  return h('span.status-line', p.status_emoji ? h('span.status-emoji', { 'aria-hidden': 'true' }, p.status_emoji) : null, p.status_emoji && p.status_text ? ' ' : null, p.status_text || '');
}

/** What a message's author label shows, for knowing when to render it again. */
export function authorKey(/** @type {string} */ id) {
  return `${userName(id)}\u0002${isBot(id)}\u0002${avatarVersion(id)}`;
}

/** A message's author: the name opens the profile card; a bot's carries its tag. */
export function authorLabel(/** @type {string} */ id) {
  const name = userName(id);
  return [
    h('button.author', { type: 'button', title: `${name}: profile`, on: { click: () => openProfileCard(id) } }, name),
    botTag(id),
  ];
}

/** The profile card of a member, as a dialog. */
export function openProfileCard(/** @type {string} */ id) {
  const p = person(id);
  const name = userName(id);
  openDialog(name, (body, close) => {
    const dlg = body.closest('dialog');
    if (dlg) dlg.classList.add('profile-dialog');
    const fill = () => {
      const cur = person(id);
      clear(body).append(profileCard(id, cur, close));
    };
    fill();
    // The card follows a change of the profile (user.updated refetches the members).
    const stop = on('members', fill);
    const stopPresence = on('presence', fill);
    dlg && dlg.addEventListener('close', () => {
      stop();
      stopPresence();
    });
  });
  return p;
}

/**
 * @param {string} id
 * @param {MemberView | User | null} p
 * @param {() => void} close
 */
function profileCard(id, p, close) {
  const me = state.me && state.me.id === id;
  const member = state.members.get(id);
  const name = userName(id);
  const card = h('div.profile-card', { dataset: { user: id } });
  card.append(h('div.profile-head', avatar(id, 'lg'),
    h('div.profile-names',
      h('p.profile-name', h('strong', name), botTag(id)),
      p ? h('p.muted', `@${p.username}`) : null)));
  if (!p) {
    card.append(h('p.muted', 'This person is no longer a member of this workspace.'));
    return card;
  }
  const facts = h('dl.facts');
  const status = statusLine(p);
  if (status) facts.append(h('dt', 'Status'), h('dd.profile-status', status));
  if (member) facts.append(h('dt', 'Role'), h('dd.profile-role', ROLE_LABELS[member.role] || member.role));
  const time = localTime(p.time_zone);
  if (time) facts.append(h('dt', 'Local time'), h('dd.profile-time', `${time}`, h('span.muted', ` (${p.time_zone})`)));
  facts.append(h('dt', 'Presence'), h('dd', presenceDot(id), ' ', state.presence.get(id) || 'offline'));
  card.append(facts);
  const actions = h('div.actions');
  if (me) {
    actions.append(h('button.btn.primary', { type: 'button', on: { click: () => { close(); editProfileDialog(); } } }, 'Edit profile'));
  } else if (member) {
    const err = h('p.error', { role: 'alert', hidden: true });
    const msg = /** @type {HTMLButtonElement} */ (h('button.btn.primary', {
      type: 'button',
      on: {
        click: async () => {
          msg.disabled = true;
          try {
            await app.openDm(id);
            close();
          } catch (e) {
            err.hidden = false;
            err.textContent = `Could not open the conversation: ${(e && e.message) || e}`;
            msg.disabled = false;
          }
        },
      },
    }, 'Message'));
    card.append(err);
    actions.append(msg);
  }
  card.append(actions);
  return card;
}

/** Every IANA zone this browser knows, for the time-zone picker. */
function knownZones() {
  const intl = /** @type {any} */ (Intl);
  try {
    if (typeof intl.supportedValuesOf === 'function') return /** @type {string[]} */ (intl.supportedValuesOf('timeZone'));
  } catch {
    /* an older browser: the current zone alone */
  }
  return [];
}

/** This browser's own time zone (`Europe/Berlin`), if it says. */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return '';
  }
}

/** Edits one's own profile: display name, status (emoji and text), time zone. */
export function editProfileDialog() {
  const me = /** @type {User} */ (state.me);
  openDialog('Edit your profile', (body, close) => {
    const name = /** @type {HTMLInputElement} */ (h('input#prof-name', { type: 'text', maxlength: 80, required: true, autocomplete: 'name', value: me.display_name }));
    const emoji = /** @type {HTMLInputElement} */ (h('input#prof-emoji.emoji-input', { type: 'text', maxlength: 40, autocomplete: 'off', placeholder: '🙂', value: me.status_emoji || '' }));
    const text = /** @type {HTMLInputElement} */ (h('input#prof-status', { type: 'text', maxlength: 100, autocomplete: 'off', placeholder: 'What is your status?', value: me.status_text || '' }));
    const here = browserZone();
    const zones = knownZones();
    const current = me.time_zone || '';
    const zone = /** @type {HTMLSelectElement} */ (h('select#prof-zone',
      h('option', { value: '' }, 'Not shown'),
      [...new Set([current, here, ...zones])].filter(Boolean).map((z) => h('option', { value: z, selected: z === current }, z === here ? `${z} (this device)` : z))));
    const err = h('p.error', { role: 'alert', hidden: true });
    // A refusal stays until the field it names changes.
    for (const f of [name, emoji, text, zone]) {
      f.addEventListener('input', () => {
        err.hidden = true;
      });
    }
    const clearStatus = h('button.btn.small', {
      type: 'button',
      on: {
        click: () => {
          emoji.value = '';
          text.value = '';
          text.focus();
        },
      },
    }, 'Clear status');
    // The picture is sent on its own, at once: the server makes a square PNG of it.
    const pictureSlot = h('span.picture-preview');
    const showPicture = () => pictureSlot.replaceChildren(avatar(me.id, 'lg'));
    showPicture();
    const took = (/** @type {User} */ user) => {
      state.me = user;
      const m = state.members.get(user.id);
      if (m) m.avatar = user.avatar;
      Object.assign(me, { avatar: user.avatar });
      showPicture();
      removePicture.hidden = !user.avatar;
      emit('members');
    };
    const picker = /** @type {HTMLInputElement} */ (h('input#prof-picture.sr-only', { type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp', tabindex: '-1', 'aria-hidden': 'true' }));
    picker.addEventListener('change', async () => {
      const file = picker.files && picker.files[0];
      picker.value = '';
      if (!file) return;
      err.hidden = true;
      try {
        took(await api.auth.setAvatar(file));
      } catch (e2) {
        err.hidden = false;
        err.textContent = e2 instanceof api.ApiError && e2.code === 'payload_too_large'
          ? 'That picture is too large (at most 5 MB).'
          : `That picture could not be used: ${e2 instanceof Error ? e2.message : String(e2)}`;
      }
    });
    const choosePicture = h('button.btn.small', { type: 'button', on: { click: () => picker.click() } }, 'Choose a picture…');
    const removePicture = h('button.btn.small', {
      type: 'button',
      hidden: !me.avatar,
      on: { click: async () => took(await api.auth.removeAvatar()) },
    }, 'Remove picture');
    const save = /** @type {HTMLButtonElement} */ (h('button.btn.primary', { type: 'submit' }, 'Save'));
    const form = h('form.stack', {
      on: {
        submit: async (/** @type {Event} */ e) => {
          e.preventDefault();
          save.disabled = true;
          try {
            const user = await api.auth.updateProfile({
              display_name: name.value.trim(),
              status_emoji: emoji.value.trim(),
              status_text: text.value.trim(),
              time_zone: zone.value,
            });
            state.me = user;
            const m = state.members.get(user.id);
            if (m) Object.assign(m, { display_name: user.display_name, status_text: user.status_text, status_emoji: user.status_emoji, time_zone: user.time_zone });
            emit('members');
            close();
            app.toast('Profile saved');
          } catch (e2) {
            err.hidden = false;
            err.textContent = profileError(e2);
            save.disabled = false;
          }
        },
      },
    },
    h('fieldset.picture-fields', h('legend', 'Picture'),
      h('div.inline-row', pictureSlot, choosePicture, removePicture, picker)),
    h('div.field', h('label', { for: 'prof-name' }, 'Display name'), name),
    h('fieldset.status-fields',
      h('legend', 'Status'),
      h('div.inline-row',
        h('label.sr-only', { for: 'prof-emoji' }, 'Status emoji'), emoji,
        h('label.sr-only', { for: 'prof-status' }, 'Status text'), text),
      h('p.hint', 'One emoji (or its :shortcode:) and a line of text; others see them on your profile.'),
      h('div', clearStatus)),
    h('div.field', h('label', { for: 'prof-zone' }, 'Time zone'), zone,
      h('p.hint', 'Others see your local time on your profile.'),
      here && here !== current ? h('button.btn.small', { type: 'button', on: { click: () => { zone.value = here; err.hidden = true; } } }, `Use this device’s (${here})`) : null),
    err,
    h('div.actions', h('button.btn', { type: 'button', on: { click: close } }, 'Cancel'), save));
    body.append(form);
  });
}

/** A refusal of `PATCH /me`, written for people. */
function profileError(/** @type {any} */ e) {
  if (e && e.code === 'invalid_field') {
    const m = String(e.message || '');
    if (m.includes('status_emoji')) return 'The status emoji must be one emoji, such as 🌴 or :palm_tree:.';
    if (m.includes('status_text')) return `The status text: ${m.replace(/^.*status_text:?\s*/, '')}`;
    if (m.includes('display_name')) return `The display name: ${m.replace(/^.*display_name:?\s*/, '')}`;
    if (m.includes('time_zone')) return 'That time zone is not one the server accepts.';
    return m;
  }
  if (e && e.code === 'rate_limited') return `Too many changes; try again in ${e.retryAfter || 'a few'} seconds.`;
  return `Could not save your profile: ${(e && e.message) || e}`;
}
