// markdown.js — the safe "markdown-lite" renderer for message text. It builds DOM
// nodes with textContent only (never innerHTML), so any HTML in a message shows as
// text. Supports ``` code blocks ```, "> " quotes, `inline code`, **bold** / *bold*,
// _italics_, http(s) links, @mentions and #channels.

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

// Inline tokens, earliest match wins. URLs stop before trailing punctuation.
const INLINE = new RegExp(
  [
    '(?<code>`[^`\\n]+`)',
    '(?<url>\\bhttps?:\\/\\/[^\\s<>"]*[^\\s<>".,:;!?\'")\\]}])',
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
    } else if (g.url) {
      parent.appendChild(link(g.url));
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

/** A link only for http(s) URLs; anything else stays text. */
export function link(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    return document.createTextNode(raw);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return document.createTextNode(raw);
  const a = h('a', { target: '_blank', rel: 'noopener noreferrer nofollow' }, raw);
  a.href = url.href;
  return a;
}

/** Plain one-line preview of message text (for search results, replies, titles). */
export function plainPreview(text, max = 140) {
  const s = String(text).replace(/```/g, '').replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
