// views/picker.js — the emoji picker, for reactions and the composer's emoji button:
// suggested emoji for the message (or the draft) first (from the server's
// suggestions for its text), then a searchable grid. Esc or a click
// outside closes it; arrow keys are not needed — every emoji is a button in Tab order.

import { h, clear } from '../dom.js';
import { state } from '../store.js';
import { CATALOGUE, QUICK, suggestForText, searchLocal } from '../emoji.js';
import * as app from '../app.js';

let current = null;

export function closePicker() {
  if (!current) return false;
  const { el, anchor, onDoc } = current;
  current = null;
  el.remove();
  document.removeEventListener('mousedown', onDoc, true);
  if (anchor && anchor.isConnected) anchor.focus();
  return true;
}

/**
 * Opens the picker next to `anchor`. `msg` ({text}) is what the suggestions are for;
 * `onPick(emoji)` (default: react to `msg`) gets the choice.
 */
export function openPicker(anchor, msg, onPick, { label = 'Choose a reaction' } = {}) {
  closePicker();
  const pick = onPick || ((emoji) => app.toggleReaction(msg, emoji));
  const choose = (emoji) => {
    closePicker();
    pick(emoji);
  };
  const button = (e) =>
    h('button.emoji-btn', { type: 'button', title: e.shortcode ? `:${e.shortcode}:` : e.name, 'aria-label': e.name || e.shortcode || e.emoji, on: { click: () => choose(e.emoji) } }, e.emoji);

  const suggested = h('div.emoji-row', { role: 'group', 'aria-label': 'Suggested' });
  const quick = QUICK.map((q) => CATALOGUE.find((c) => c.emoji === q) || { emoji: q, name: q });
  suggested.append(...quick.map(button));
  const input = h('input', { type: 'search', placeholder: 'Search emoji', 'aria-label': 'Search emoji', autocomplete: 'off' });
  const grid = h('div.emoji-grid', { role: 'group', 'aria-label': 'All emoji' });
  const fillGrid = () => {
    clear(grid);
    const list = input.value.trim() ? searchLocal(input.value.trim(), 200) : CATALOGUE;
    if (!list.length) grid.append(h('p.muted', 'No emoji found'));
    grid.append(...list.map(button));
  };
  input.addEventListener('input', fillGrid);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      const first = grid.querySelector('button');
      if (first) first.click();
    }
  });
  fillGrid();
  const el = h('div.picker', { role: 'dialog', 'aria-label': label },
    h('div.picker-label', 'Suggested'), suggested, input, grid);
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      closePicker();
    }
  });
  document.body.append(el);
  // Position next to the anchor, inside the viewport.
  const r = anchor.getBoundingClientRect();
  const w = el.offsetWidth;
  const hgt = el.offsetHeight;
  const left = Math.max(8, Math.min(window.innerWidth - w - 8, r.right - w));
  const top = r.top - hgt - 6 > 8 ? r.top - hgt - 6 : Math.min(window.innerHeight - hgt - 8, r.bottom + 6);
  el.style.left = `${left}px`;
  el.style.top = `${Math.max(8, top)}px`;
  const onDoc = (e) => {
    if (!el.contains(e.target) && e.target !== anchor) closePicker();
  };
  document.addEventListener('mousedown', onDoc, true);
  current = { el, anchor, onDoc };
  input.focus();

  if (msg && state.wsId) {
    suggestForText(state.wsId, msg.text, 8).then((list) => {
      if (!current || current.el !== el || !list.length) return;
      clear(suggested);
      const seen = new Set();
      for (const e of list.concat(quick)) {
        if (seen.has(e.emoji) || seen.size >= 10) continue;
        seen.add(e.emoji);
        suggested.append(button(e));
      }
    });
  }
}
