// @ts-check
// notify.js — desktop notifications: a new message notifies when its channel's level
// says so (`notify` of the channel list: every message, mentions only — the default
// of channels — or muted; a DM defaults to every message) and the reader is not
// looking at it. A thread reply notifies when it mentions the reader, or, in a
// thread they are in, when the channel notifies of everything. The browser's
// permission is asked at a sensible moment: never on load, but once the reader has
// sent a message here, with "Turn on" and "Not now" (remembered for a week).

import { h } from './dom.js';
import { state, on, userName, channelTitle } from './store.js';
import * as app from './app.js';
import { plainPreview } from './markdown.js';

/** @typedef {import('./protocol.js').Message} Message */

const DISMISSED_KEY = 'confab.notify.dismissed';
const WEEK = 7 * 24 * 3600 * 1000;
const STALE_MS = 2 * 60 * 1000;

const supported = () => typeof window.Notification === 'function';

/** @param {Message} msg */
function shouldNotify(msg) {
  const me = state.me && state.me.id;
  const c = state.channels.get(msg.channel);
  if (!me || msg.author === me || !c || !c.is_member) return false;
  const level = c.notify || (c.kind === 'dm' ? 'all' : 'mentions');
  if (level === 'mute') return false;
  const mentioned = msg.mentions.includes(me);
  if (msg.thread_root) {
    if (!mentioned && !(level === 'all' && state.myThreads.has(msg.thread_root))) return false;
  } else if (level === 'mentions' && !mentioned) return false;
  const onScreen = msg.thread_root ? state.openThread === msg.thread_root : state.openChannel === msg.channel;
  return !(onScreen && document.visibilityState === 'visible' && document.hasFocus());
}

/** @param {Message} msg */
function titleOf(msg) {
  const c = state.channels.get(msg.channel);
  const who = userName(msg.author);
  if (!c) return who;
  if (c.kind === 'dm') return msg.thread_root ? `${who} in a thread with ${channelTitle(c)}` : who;
  return `${who} in ${msg.thread_root ? 'a thread in ' : ''}#${c.name}`;
}

/**
 * @param {Message} msg
 * @param {boolean} [again]  Once the channel list has been fetched.
 */
function notify(msg, again = false) {
  // Not for what a reconnect replays from long ago.
  if (!supported() || Notification.permission !== 'granted' || Date.now() - msg.created_at > STALE_MS) return;
  if (!state.channels.has(msg.channel) && !again) {
    // A DM opened just now by the sender: the list does not have it yet.
    app.refreshChannels().then(() => notify(msg, true), (e) => console.warn('channels', e));
    return;
  }
  if (!shouldNotify(msg)) return;
  const body = msg.text ? plainPreview(msg.text, 160) : 'Sent a file';
  const note = new Notification(titleOf(msg), { body, tag: msg.id });
  note.onclick = () => {
    window.focus();
    app.openMessage(msg);
    note.close();
  };
}

/**
 * Asks for the permission, from a button the reader pressed (browsers allow it then).
 * @param {HTMLElement} prompt
 */
async function turnOn(prompt) {
  prompt.remove();
  try {
    const answer = await Notification.requestPermission();
    app.toast(answer === 'granted' ? 'Desktop notifications are on: direct messages and mentions.' : 'Desktop notifications stay off (the browser was told no).');
  } catch (e) {
    console.warn('notification permission', e);
  }
}

/**
 * The question, once the reader has sent a message here and has not been asked
 * lately: a bar under the top bar (covering nothing).
 * @param {HTMLElement} slot
 */
function maybeAsk(slot) {
  if (!supported() || Notification.permission !== 'default' || slot.querySelector('.notify-prompt')) return;
  if (Date.now() - Number(localStorage.getItem(DISMISSED_KEY) || 0) < WEEK) return;
  const prompt = h('div.notify-prompt', { role: 'region', 'aria-label': 'Desktop notifications' },
    h('span', 'Get a desktop notification for direct messages and mentions?'),
    h('div.notify-actions',
      h('button.btn.small', {
        type: 'button',
        on: {
          click: () => {
            localStorage.setItem(DISMISSED_KEY, String(Date.now()));
            prompt.remove();
          },
        },
      }, 'Not now'),
      h('button.btn.small.primary', { type: 'button', on: { click: () => turnOn(prompt) } }, 'Turn on')));
  slot.append(prompt);
}

/**
 * Starts listening; the question goes in `slot`. Returns the stop function.
 * @param {HTMLElement} slot
 */
export function startNotifications(slot) {
  const offs = [
    on('message-live', (/** @type {Message} */ m) => {
      if (state.me && m.author === state.me.id) maybeAsk(slot);
      else notify(m);
    }),
  ];
  return () => {
    offs.forEach((f) => f());
    slot.querySelector('.notify-prompt')?.remove();
  };
}
