// views/composer.js — the message box: Enter sends, Shift+Enter adds a line, drafts
// are kept per channel/thread in localStorage, ":" completes emoji, "@" members and
// "#" channels, typing frames are sent (throttled in live.js), and Up in an empty box
// edits your last message. Drafts are kept per user (store.js draftKey) and cleared
// on sign-out. In a channel and in a thread, files are attached by the paperclip
// button, by dropping them on the view (`dropTarget`, or the composer) or by pasting
// them (screenshots); they are sent as one message with the text, a reply in a
// thread's composer (files.js). The emoji button opens the
// reaction picker to insert at the cursor. Near the server's text limit
// (`GET /features` max_message_chars) a counter shows what is left; a text past it is
// never sent nor cleared, and says by how much it is too long until it fits.

import { icon } from '../icons.js';
import { h, clear, uid, debounce } from '../dom.js';
import { state, channelTitle, draftKey } from '../store.js';
import { completePrefix } from '../emoji.js';
import { sendMessage, typing } from '../live.js';
import { presenceDot } from './message.js';
import { limits } from '../api.js';
import { openPicker } from './picker.js';
import { sendStaged, uploadsOf } from '../files.js';
import { composerAttachments } from './files.js';

export function createComposer({ channel, threadRoot = null, label, onUpEmpty, disabledReason, dropTarget = null }) {
  const taId = uid('composer');
  const listId = uid('ac');
  const ta = h('textarea.composer-input', {
    id: taId,
    rows: 1,
    placeholder: label,
    autocomplete: 'off',
    'aria-autocomplete': 'list',
    'aria-controls': listId,
  });
  const list = h('ul.autocomplete', { id: listId, role: 'listbox', 'aria-label': 'Suggestions', hidden: true });
  const send = h('button.send', { type: 'submit', 'aria-label': 'Send message', title: 'Send (Enter)' }, icon('send', 18));
  const emojiBtn = h('button.icon-btn.composer-emoji', { type: 'button', 'aria-label': 'Add emoji', title: 'Add emoji', on: { click: () => pickEmoji() } }, icon('smile', 18));
  const counter = h('span.char-count', { id: uid('count'), hidden: true });
  const tooLong = h('p.error.composer-error', { role: 'alert', hidden: true });
  ta.setAttribute('aria-describedby', counter.id);
  const files = composerAttachments(channel, ta, threadRoot);
  const form = h('form.composer', { 'aria-label': label }, h('label.sr-only', { for: taId }, label), list,
    files && files.list, h('div.composer-row', files && files.button, files && files.picker, ta, emojiBtn, send), h('div.composer-foot', tooLong, counter));
  if (disabledReason) {
    ta.disabled = true;
    send.disabled = true;
    emojiBtn.disabled = true;
    ta.placeholder = disabledReason;
    if (files) files.button.disabled = true;
  }
  if (files) {
    files.plugInto(form, dropTarget || form, () => {
      // The text of a cancelled upload came back to the draft.
      if (ta.value) return;
      ta.value = localStorage.getItem(key) || '';
      autosize();
    });
  }

  // Drafts are the signed-in user's: the key names them, and a save that fires after
  // they signed out writes nothing.
  const owner = state.me && state.me.id;
  const key = draftKey(channel, threadRoot);
  ta.value = localStorage.getItem(key) || '';
  const saveDraft = debounce(() => {
    if (!state.me || state.me.id !== owner) return;
    if (ta.value) localStorage.setItem(key, ta.value);
    else localStorage.removeItem(key);
  }, 250);
  const autosize = () => {
    ta.style.height = 'auto';
    ta.style.height = `${Math.min(ta.scrollHeight, 200)}px`;
  };

  // ---- length: counted as the server counts, in characters of the trimmed text
  const overBy = () => {
    const max = limits.maxMessageChars;
    return max ? [...ta.value.trim()].length - max : -Infinity;
  };
  /** Updates the counter, and the error once one was shown (it stays until the text fits). */
  const checkLength = () => {
    const max = limits.maxMessageChars;
    const over = overBy();
    // The counter appears in the last tenth of the limit (at most 1,000 characters).
    const near = max ? Math.min(1000, Math.ceil(max / 10)) : 0;
    counter.hidden = !max || over < -near;
    if (!counter.hidden) {
      const left = Math.max(0, -over); // not -0, which toLocaleString writes "-0"
      counter.textContent = over > 0 ? `${over.toLocaleString()} over the limit` : `${left.toLocaleString()} character${left === 1 ? '' : 's'} left`;
      counter.classList.toggle('over', over > 0);
    }
    if (over <= 0) tooLong.hidden = true;
    else if (!tooLong.hidden) tooLong.textContent = tooLongText(over);
    return over;
  };
  const tooLongText = (over) => `Your message is ${over.toLocaleString()} character${over === 1 ? '' : 's'} too long. Shorten it, or split it into several messages.`;

  // ---- emoji button: the reaction picker, inserting at the cursor
  const pickEmoji = () => {
    const start = ta.selectionStart;
    const end = ta.selectionEnd;
    openPicker(emojiBtn, { text: ta.value }, (emoji) => {
      ta.setRangeText(emoji, start, end, 'end');
      ta.focus();
      ta.dispatchEvent(new Event('input'));
    }, { label: 'Choose an emoji' });
  };

  // ---- autocomplete
  let ac = null; // {trigger, start, items, index}
  let acSeq = 0;
  const closeAc = () => {
    ac = null;
    list.hidden = true;
    clear(list);
    ta.removeAttribute('aria-activedescendant');
  };
  const renderAc = () => {
    clear(list);
    if (!ac || !ac.items.length) {
      closeAc();
      return;
    }
    ac.items.forEach((it, i) => {
      const li = h('li', {
        id: `${listId}-${i}`,
        role: 'option',
        'aria-selected': i === ac.index ? 'true' : 'false',
        on: {
          mousedown: (e) => {
            e.preventDefault();
            ac.index = i;
            accept();
          },
        },
      }, it.view);
      list.append(li);
    });
    list.hidden = false;
    ta.setAttribute('aria-activedescendant', `${listId}-${ac.index}`);
  };
  const accept = () => {
    if (!ac) return;
    const it = ac.items[ac.index];
    const before = ta.value.slice(0, ac.start);
    const after = ta.value.slice(ta.selectionStart);
    const insert = `${it.insert} `;
    ta.value = before + insert + after.replace(/^ /, '');
    const pos = before.length + insert.length;
    ta.setSelectionRange(pos, pos);
    closeAc();
    saveDraft();
    autosize();
  };
  const updateAc = async () => {
    const upto = ta.value.slice(0, ta.selectionStart);
    const m = /(^|[\s(])([:@#])([\w+.-]*)$/.exec(upto);
    if (!m || (m[2] === ':' && m[3].length < 2)) {
      closeAc();
      return;
    }
    const [, , trigger, query] = m;
    const start = upto.length - query.length - 1;
    const seq = ++acSeq;
    let items = [];
    const q = query.toLowerCase();
    if (trigger === ':') {
      const res = await completePrefix(state.wsId, q, 8);
      if (seq !== acSeq) return;
      items = res.map((e) => ({
        insert: e.emoji,
        view: [h('span.ac-emoji', e.emoji), h('span', e.shortcode ? `:${e.shortcode}:` : e.name), e.name && e.shortcode ? h('span.muted', ` ${e.name}`) : null],
      }));
    } else if (trigger === '@') {
      items = [...state.members.values()]
        .filter((u) => u.username.toLowerCase().startsWith(q) || (u.display_name || '').toLowerCase().split(/\s+/).some((w) => w.startsWith(q)))
        .sort((a, b) => a.username.localeCompare(b.username))
        .slice(0, 8)
        .map((u) => ({ insert: `@${u.username}`, view: [presenceDot(u.id), h('strong', u.display_name || u.username), h('span.muted', ` @${u.username}`)] }));
    } else {
      items = [...state.channels.values()]
        .filter((c) => c.kind !== 'dm' && c.name.startsWith(q))
        .sort((a, b) => a.name.localeCompare(b.name))
        .slice(0, 8)
        .map((c) => ({ insert: `#${c.name}`, view: [h('span', `#${channelTitle(c)}`), c.topic ? h('span.muted', ` ${c.topic}`) : null] }));
    }
    ac = { trigger, start, items, index: 0 };
    renderAc();
  };

  const submit = () => {
    const text = ta.value.trim();
    if (ta.disabled) return;
    const over = checkLength();
    if (over > 0) {
      // Never sent, never cleared: the text stays for the writer to shorten.
      tooLong.textContent = tooLongText(over);
      tooLong.hidden = false;
      return;
    }
    if (files && uploadsOf(channel, threadRoot).some((u) => u.status === 'staged')) sendStaged(channel, text, threadRoot);
    else if (text) sendMessage(channel, text, threadRoot);
    else return;
    ta.value = '';
    localStorage.removeItem(key);
    closeAc();
    autosize();
    checkLength();
  };

  ta.addEventListener('keydown', (e) => {
    if (ac && ac.items.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const n = ac.items.length;
        ac.index = (ac.index + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
        renderAc();
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        e.preventDefault();
        accept();
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        closeAc();
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'ArrowUp' && !e.altKey && !ta.value && onUpEmpty) {
      if (onUpEmpty()) e.preventDefault();
    }
  });
  ta.addEventListener('input', () => {
    saveDraft();
    autosize();
    checkLength();
    updateAc();
    if (ta.value.trim()) typing(channel, threadRoot);
  });
  ta.addEventListener('blur', () => setTimeout(closeAc, 150));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
    ta.focus();
  });
  requestAnimationFrame(() => {
    autosize();
    checkLength(); // a kept draft may be near the limit already
  });

  form.focusInput = () => ta.focus();
  form.input = ta;
  return form;
}
