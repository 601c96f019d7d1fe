// @ts-check
// views/search.js — search results in the side panel: runs the query (operators are
// the server's: from:@name in:#channel before: after: on: has:link has:reaction
// has:file has:image is:thread "phrase" -word), pages through the results with
// "Load more" (the server's offset, as deep as it goes), renders snippets as inline
// markdown with <mark> built from the answer's parts and the hit's files (names,
// thumbnails of images), labels a DM hit "Direct message with …", opens a hit in
// context and reports the click for ranking.

import { icon } from '../icons.js';
import { h, clear, timeOf, fullTime } from '../dom.js';
import { state, channelTitle } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { avatar } from './message.js';
import { hitFiles } from './files.js';
import { plainPreview, renderHighlighted } from '../markdown.js';

const PAGE = 20;
/** How deep the server pages: results past the first 1,000 are not reachable. */
const MAX_DEPTH = 1000;

export const OPERATORS = [
  ['from:@name', 'written by someone'],
  ['in:#channel', 'in a channel'],
  ['before:2025-01-31', 'before a day'],
  ['after:2025-01-01', 'after a day'],
  ['on:2025-01-15', 'on a day'],
  ['has:link', 'with a link'],
  ['has:reaction', 'with reactions'],
  ['has:file', 'with a file'],
  ['has:image', 'with an image'],
  ['is:thread', 'in a thread'],
  ['"exact phrase"', 'words together'],
  ['-word', 'without a word'],
];


export function mountSearch(root, q) {
  let ctrl = new AbortController();
  const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Close search', title: 'Close (Esc)', on: { click: () => app.closePanel() } }, icon('close'));
  const summary = h('p.muted', { 'aria-live': 'polite' }, 'Searching…');
  const results = h('ol.search-results', { 'aria-label': 'Search results' });
  const help = h('details.search-help', h('summary', 'Search operators'),
    h('dl', OPERATORS.map(([op, what]) => [h('dt', h('code', op)), h('dd', what)])));
  clear(root).append(h('section.search-panel', { 'aria-label': 'Search results' },
    h('header.panel-header', h('div', h('h2', 'Search'), h('span.muted', `“${q}”`)), closeBtn),
    h('div.panel-scroll', summary, results, help)));

  let offset = 0;
  let shown = 0;
  let total = 0;
  let partial = false;
  const seen = new Set();
  const more = /** @type {HTMLButtonElement} */ (h('button.btn.load-more', { type: 'button', hidden: true, on: { click: () => loadPage() } }, 'Load more'));
  results.after(more);

  const describe = () => {
    if (!shown) return 'No messages match.';
    const count = `${total.toLocaleString()} result${total === 1 ? '' : 's'}`;
    const of = shown < total ? `Showing ${shown.toLocaleString()} of ${count}` : count;
    const deepest = offset >= MAX_DEPTH && shown < total ? '. Add words or operators to see the others.' : '';
    return `${of}${partial && !deepest ? ' (partial: some results may be missing)' : ''}${deepest}`;
  };

  async function loadPage() {
    more.disabled = true;
    const first = offset === 0;
    let r;
    try {
      r = await api.search.query(state.wsId, q, PAGE, ctrl.signal, offset);
    } catch (e) {
      if (e.name === 'AbortError') return;
      summary.textContent = e.code === 'invalid_query' ? `Invalid query: ${e.message}` : e.code === 'index_rebuilding' ? 'The search index is being rebuilt; try again in a moment.' : `Search failed: ${e.message}`;
      summary.classList.add('error');
      more.disabled = false;
      return;
    }
    summary.classList.remove('error');
    offset += PAGE;
    total = r.total;
    partial = r.partial;
    let firstNew = null;
    for (const hit of r.hits) {
      // A message posted between two pages shifts the rest: never show one twice.
      if (seen.has(hit.message.id)) continue;
      seen.add(hit.message.id);
      const li = renderHit(hit, r.query_id);
      results.append(li);
      firstNew = firstNew || li;
    }
    shown = seen.size;
    summary.textContent = describe();
    // The server pages while there are more and it goes that deep (a page may come
    // back short where it skips a message deleted since it was indexed).
    more.hidden = !(offset < total && offset < MAX_DEPTH);
    more.disabled = false;
    // Keyboard users go on reading where the new page starts.
    if (!first && firstNew) firstNew.querySelector('button')?.focus();
  }
  loadPage();

  return {
    destroy: () => ctrl.abort(),
    focus: () => closeBtn.focus(),
  };
}

/**
 * @param {import('../protocol.js').SearchHit} hit
 * @param {string} queryId  The answer's `query_id`, which a click reports.
 */
function renderHit(hit, queryId) {
  const msg = hit.message;
  const authorId = hit.author.id;
  const ch = state.channels.get(hit.channel.id) || hit.channel;
  const when = msg.created_at;
  // Links in a snippet are not followed: the whole hit is one button.
  const snippet = renderHighlighted(hit.snippet.length ? hit.snippet : [{ text: plainPreview(msg.text, 200), highlight: false }], h('p.snippet'), { noAnchors: true });
  const authorName = hit.author.display_name || hit.author.username;
  const open = async () => {
    // The click signal for ranking: the server takes exactly these two fields.
    api.search.click(state.wsId, { query_id: queryId, message: msg.id }).catch((e) => console.warn('search click not recorded', e));
    try {
      await app.jumpToMessage(msg);
      if (window.matchMedia('(max-width: 760px)').matches) app.closePanel();
    } catch (e) {
      app.reportError(e, 'Could not open the message');
    }
  };
  const where = ch.kind === 'dm' ? dmLabel(ch) : `in #${ch.name}`;
  return h('li.search-hit',
    h('button.hit', { type: 'button', on: { click: open }, 'aria-label': `Open message by ${authorName}, ${where}` },
      h('div.hit-meta', avatar(authorId, 'sm'), h('strong', authorName), h('span.muted', ` ${where}`),
        when ? h('time.muted', { title: fullTime(when) }, ` · ${new Date(when).toLocaleDateString()} ${timeOf(when)}`) : null,
        (hit.thread_root || msg.thread_root) ? h('span.tag', 'thread') : null),
      snippet,
      (msg.files || []).length ? hitFiles(msg) : null));
}

/**
 * Where a DM hit was written: "Direct message with Bob" (the channel's title names
 * the others; one's own notes to self say so).
 * @param {any} ch  A DM, as the channel list has it.
 */
function dmLabel(ch) {
  if (!ch.dm_members) return 'Direct message';
  const others = ch.dm_members.filter((u) => !state.me || u.id !== state.me.id);
  return others.length ? `Direct message with ${channelTitle(ch)}` : 'Your notes to self';
}
