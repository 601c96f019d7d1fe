// markdown.js — the safe "markdown-lite" renderer for message text. It builds DOM
// nodes with textContent only (never innerHTML), so any HTML in a message shows as
// text. Supports ``` code blocks ```, "> " quotes, "- item" and "1. item" lists,
// `inline code`, **bold** / *bold*, _italics_, ~~strike~~, [text](url) links, bare
// http(s) URLs, www. hosts and mailto: addresses, @mentions and #channels. Links go
// only to http, https and mailto (the search index's has:link counts the same ones),
// in a new tab without opener or referrer. Search snippets render through
// renderHighlighted, which keeps the server's highlights as <mark> across formatting.

import { h } from './dom.js';

/**
 * ctx: { isMe(username) -> bool, knownUser(username) -> bool, knownChannel(name) -> bool,
 *        onChannel(name) }
 */
export function renderMarkdown(text, ctx = {}) {
  const frag = document.createDocumentFragment();
  const lines = String(text).split('\n');
  let i = 0;
  let para = [];
  const flushPara = () => {
    if (!para.length) return;
    const p = h('p');
    para.forEach((line, j) => {
      if (j) p.appendChild(h('br'));
      renderInline(line, p, ctx);
    });
    frag.appendChild(p);
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^\s*```(.*)$/.exec(line);
    if (fence) {
      // A fenced block runs to the next ``` line (or the end of the message).
      flushPara();
      const body = [];
      let rest = fence[1];
      const sameLineEnd = rest.indexOf('```');
      if (sameLineEnd >= 0) {
        // ```code``` on one line
        frag.appendChild(h('pre.code', h('code', rest.slice(0, sameLineEnd))));
        const after = rest.slice(sameLineEnd + 3);
        if (after.trim()) para.push(after);
        i++;
        continue;
      }
      if (rest.trim() && !/^[\w+-]+$/.test(rest.trim())) body.push(rest); // not a language tag
      i++;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) {
        const end = lines[i].indexOf('```');
        if (end >= 0) {
          body.push(lines[i].slice(0, end));
          break;
        }
        body.push(lines[i]);
        i++;
      }
      i++;
      frag.appendChild(h('pre.code', h('code', body.join('\n'))));
      continue;
    }
    if (/^>\s?/.test(line)) {
      flushPara();
      const q = h('blockquote');
      let first = true;
      while (i < lines.length && /^>\s?/.test(lines[i])) {
        if (!first) q.appendChild(h('br'));
        renderInline(lines[i].replace(/^>\s?/, ''), q, ctx);
        first = false;
        i++;
      }
      frag.appendChild(q);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      flushPara();
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? 'ol' : 'ul');
      while (i < lines.length) {
        const m = LIST_ITEM.exec(lines[i]);
        // One list holds one kind of marker: "1." after "-" starts another.
        if (!m || /^\d/.test(m[1]) !== ordered) break;
        if (ordered && !list.childNodes.length && m[1] !== '1') list.setAttribute('start', String(parseInt(m[1], 10)));
        renderInline(m[2], list.appendChild(h('li')), ctx);
        i++;
      }
      frag.appendChild(list);
      continue;
    }
    if (!line.trim()) {
      flushPara();
      i++;
      continue;
    }
    para.push(line);
    i++;
  }
  flushPara();
  return frag;
}

// "- item", "* item", "1. item" or "1) item" (at most 9 digits, so no number overflows).
const LIST_ITEM = /^\s*([-*]|\d{1,9}[.)])\s+(.*)$/;

// Inline tokens, earliest match wins. URLs stop before trailing punctuation.
const URL_END = '[^\\s<>".,:;!?\'")\\]}]';
const INLINE = new RegExp(
  [
    '(?<code>`[^`\\n]+`)',
    '(?<mdlink>\\[(?<label>[^\\]\\n]+)\\]\\((?<href>[^()\\s]+)\\))',
    `(?<url>\\b[hH][tT][tT][pP][sS]?:\\/\\/[^\\s<>"]*${URL_END})`,
    `(?<www>(?<![\\w.@/-])[wW]{3}\\.[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*\\.[a-zA-Z]{2,}(?:[/?#][^\\s<>"]*${URL_END})?(?![\\w-]))`,
    '(?<mailto>\\bmailto:[^\\s<>"@]+@[a-zA-Z0-9.-]*[a-zA-Z0-9])',
    '(?<strike>~~(?=\\S)[^~\\n]*?\\S~~|~~[^\\s~]~~)',
    '(?<bold2>\\*\\*(?=\\S)[^*]*?\\S\\*\\*)',
    '(?<bold1>(?<![\\w*])\\*(?=\\S)[^*\\n]*?[^\\s*]\\*(?![\\w*])|(?<![\\w*])\\*[^\\s*]\\*(?![\\w*]))',
    '(?<ital>(?<![\\w])_(?=\\S)[^_\\n]*?\\S_(?![\\w])|(?<![\\w])_[^\\s_]_(?![\\w]))',
    '(?<mention>(?<![\\w@.])@[a-zA-Z0-9_][a-zA-Z0-9_.-]*[a-zA-Z0-9_]|(?<![\\w@.])@[a-zA-Z0-9_])',
    '(?<chan>(?<![\\w#&])#[a-z0-9_-]+)',
  ].join('|'),
  'g',
);

export function renderInline(text, parent, ctx = {}, depth = 0) {
  let last = 0;
  const re = new RegExp(INLINE); // own lastIndex: this function recurses
  let m;
  while ((m = re.exec(text))) {
    const g = m.groups;
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    last = m.index + m[0].length;
    if (g.code) {
      parent.appendChild(h('code.inline', g.code.slice(1, -1)));
    } else if (g.mdlink) {
      const a = ctx.inLink || depth >= 3 ? null : anchorFor(g.href, ctx);
      if (a) parent.appendChild(renderInline(g.label, a, { ...ctx, inLink: true }, depth + 1));
      else parent.appendChild(document.createTextNode(g.mdlink));
    } else if (g.url || g.mailto || g.www) {
      const a = ctx.inLink ? null : anchorFor(g.www ? `https://${g.www}` : m[0], ctx);
      if (a) a.textContent = m[0];
      parent.appendChild(a || document.createTextNode(m[0]));
    } else if (g.strike && depth < 3) {
      renderInline(g.strike.slice(2, -2), parent.appendChild(h('del')), ctx, depth + 1);
    } else if ((g.bold2 || g.bold1) && depth < 3) {
      const inner = g.bold2 ? g.bold2.slice(2, -2) : g.bold1.slice(1, -1);
      renderInline(inner, parent.appendChild(h('strong')), ctx, depth + 1);
    } else if (g.ital && depth < 3) {
      renderInline(g.ital.slice(1, -1), parent.appendChild(h('em')), ctx, depth + 1);
    } else if (g.mention) {
      const name = g.mention.slice(1);
      const known = ctx.knownUser ? ctx.knownUser(name) : true;
      const special = ['here', 'channel', 'everyone'].includes(name);
      if (known || special) {
        const cls = ctx.isMe && ctx.isMe(name) ? 'mention.me' : 'mention';
        parent.appendChild(h(`span.${cls}`, g.mention));
      } else parent.appendChild(document.createTextNode(g.mention));
    } else if (g.chan) {
      const name = g.chan.slice(1);
      if (ctx.knownChannel && ctx.knownChannel(name)) {
        parent.appendChild(
          h('a.chan-link', { href: '#', on: { click: (e) => { e.preventDefault(); ctx.onChannel && ctx.onChannel(name); } } }, g.chan),
        );
      } else parent.appendChild(document.createTextNode(g.chan));
    } else {
      parent.appendChild(document.createTextNode(m[0]));
    }
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  return parent;
}

const LINK_PROTOCOLS = ['http:', 'https:', 'mailto:'];

/** An empty <a> to `href` if it is an http, https or mailto URL, else null. */
function safeAnchor(href) {
  let url;
  try {
    // Highlight markers (renderHighlighted) are never part of an address.
    url = new URL(href.replace(MARKS, ''));
  } catch {
    return null;
  }
  if (!LINK_PROTOCOLS.includes(url.protocol)) return null;
  const a = h('a', { target: '_blank', rel: 'noopener noreferrer nofollow' });
  a.href = url.href;
  return a;
}

/** safeAnchor's link, or with `ctx.noAnchors` (text inside a button) a span styled as one. */
function anchorFor(href, ctx) {
  const a = safeAnchor(href);
  return a && ctx.noAnchors ? h('span.link-text') : a;
}

// Private-use characters that stand for the start and end of a highlight while the
// text goes through the inline renderer; a message's own are dropped first.
const MARK_OPEN = '\uE000';
const MARK_CLOSE = '\uE001';
const MARKS = /[\uE000\uE001]/g;

/**
 * Renders a search snippet ([{text, highlight}]) as one line of inline markdown into
 * `parent`, each highlighted part in a <mark>, also where it lies inside bold, code or
 * a link. Text only ever becomes text nodes, as in renderInline. `ctx` as renderInline's
 * (`noAnchors` inside a button).
 */
export function renderHighlighted(parts, parent, ctx = {}) {
  let text = '';
  for (const part of parts) {
    const t = String(part.text).replace(MARKS, '');
    text += part.highlight ? `${MARK_OPEN}${t}${MARK_CLOSE}` : t;
  }
  renderInline(text.replace(/```/g, '').replace(/\s+/g, ' '), parent, ctx);
  const walker = document.createTreeWalker(parent, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  let open = false;
  for (const node of nodes) {
    const value = node.nodeValue || '';
    if (!open && !value.includes(MARK_OPEN) && !value.includes(MARK_CLOSE)) continue;
    const out = document.createDocumentFragment();
    let run = '';
    const flush = () => {
      if (run) out.append(open ? h('mark', run) : document.createTextNode(run));
      run = '';
    };
    for (const ch of value) {
      if (ch === MARK_OPEN || ch === MARK_CLOSE) {
        flush();
        open = ch === MARK_OPEN;
      } else run += ch;
    }
    flush();
    node.replaceWith(out);
  }
  return parent;
}

/** Plain one-line preview of message text (for search results, replies, titles). */
export function plainPreview(text, max = 140) {
  const s = String(text).replace(/```/g, '').replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
