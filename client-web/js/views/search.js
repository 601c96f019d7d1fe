// @ts-check
// views/search.js — search results in the side panel: runs the query (operators are
// the server's: from:@name in:#channel before: after: on: has:link has:reaction
// has:file has:image is:thread "phrase" -word), renders snippets with <mark> built
// from the answer's parts and the hit's files (names, thumbnails of images), opens a
// hit in context and reports the click for ranking.

import { icon } from '../icons.js';
import { h, clear, timeOf, fullTime } from '../dom.js';
import { state, channelTitle } from '../store.js';
import * as api from '../api.js';
import * as app from '../app.js';
import { avatar } from './message.js';
import { hitFiles } from './files.js';
import { plainPreview } from '../markdown.js';

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

  (async () => {
    let r;
    try {
      r = await api.search.query(state.wsId, q, 20, ctrl.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      summary.textContent = e.code === 'invalid_query' ? `Invalid query: ${e.message}` : e.code === 'index_rebuilding' ? 'The search index is being rebuilt; try again in a moment.' : `Search failed: ${e.message}`;
      summary.classList.add('error');
      return;
    }
    const hits = r.hits;
    summary.textContent = hits.length
      ? `${r.total} result${r.total === 1 ? '' : 's'}${r.partial ? ' (partial: some results may be missing)' : ''}`
      : 'No messages match.';
    const queryId = r.query_id;
    hits.forEach((hit) => results.append(renderHit(hit, queryId)));
  })();

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
  const snippet = h('p.snippet');
  if (hit.snippet.length) {
    for (const part of hit.snippet) {
      if (part.highlight) snippet.append(h('mark', part.text));
      else snippet.append(document.createTextNode(part.text));
    }
  } else snippet.textContent = plainPreview(msg.text, 200);
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
  return h('li.search-hit',
    h('button.hit', { type: 'button', on: { click: open }, 'aria-label': `Open message by ${authorName} in ${ch ? channelTitle(ch) : 'channel'}` },
      h('div.hit-meta', avatar(authorId, 'sm'), h('strong', authorName),
        h('span.muted', ch ? ` in ${ch.kind === 'dm' ? channelTitle(ch) : `#${ch.name}`}` : ''),
        when ? h('time.muted', { title: fullTime(when) }, ` · ${new Date(when).toLocaleDateString()} ${timeOf(when)}`) : null,
        (hit.thread_root || msg.thread_root) ? h('span.tag', 'thread') : null),
      snippet,
      (msg.files || []).length ? hitFiles(msg) : null));
}
