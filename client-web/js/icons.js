// icons.js — small inline SVG icons for the interface chrome (built with DOM calls,
// no markup strings), so the UI does not depend on an emoji font.

const NS = 'http://www.w3.org/2000/svg';
const PATHS = {
  search: 'M10.5 3a7.5 7.5 0 0 1 5.93 12.1l4.24 4.23-1.42 1.42-4.23-4.24A7.5 7.5 0 1 1 10.5 3zm0 2a5.5 5.5 0 1 0 0 11 5.5 5.5 0 0 0 0-11z',
  hash: 'M9.5 3h2l-.7 4.5h4L15.5 3h2l-.7 4.5H20v2h-3.5l-.6 4H19v2h-3.4l-.7 4.5h-2l.7-4.5h-4L8.9 20h-2l.7-4.5H4v-2h3.9l.6-4H5v-2h3.8zm.9 6.5-.6 4h4l.6-4z',
  lock: 'M12 2a5 5 0 0 1 5 5v3h1a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2h1V7a5 5 0 0 1 5-5zm0 2a3 3 0 0 0-3 3v3h6V7a3 3 0 0 0-3-3z',
  shield: 'M12 2 4 5v6c0 5 3.4 9.5 8 11 4.6-1.5 8-6 8-11V5zm0 2.2 6 2.2V11c0 3.9-2.5 7.5-6 8.9-3.5-1.4-6-5-6-8.9V6.4z',
  userPlus: 'M9 4a4 4 0 1 1 0 8 4 4 0 0 1 0-8zm0 2a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm0 8c3.3 0 6 1.6 6 4v2H3v-2c0-2.4 2.7-4 6-4zm0 2c-2.1 0-3.6.8-3.9 2h7.8c-.3-1.2-1.8-2-3.9-2zM19 8v3h3v2h-3v3h-2v-3h-3v-2h3V8z',
  smile: 'M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zm0 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zm-3.5 5a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm7 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM7.8 14h8.4a4.5 4.5 0 0 1-8.4 0z',
  thread: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm0 2v12.2L8.3 16H20V6zm3 3h10v2H7zm0 3h7v2H7z',
  edit: 'M16.6 3.4a2 2 0 0 1 2.8 0l1.2 1.2a2 2 0 0 1 0 2.8L9 19H5v-4zM15.2 7.6 7 15.8V17h1.2l8.2-8.2z',
  trash: 'M9 3h6l1 2h4v2H4V5h4zM6 9h12l-1 11a2 2 0 0 1-2 2H9a2 2 0 0 1-2-2zm2.2 2 .8 9h6l.8-9z',
  close: 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z',
  menu: 'M3 5h18v2H3zm0 6h18v2H3zm0 6h18v2H3z',
  send: 'M3 20.5 21 12 3 3.5v6.8L15 12 3 13.7z',
  plus: 'M11 4h2v7h7v2h-7v7h-2v-7H4v-2h7z',
  info: 'M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zm0 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zm-1 6h2v7h-2zm0-3h2v2h-2z',
  settings: 'M10.3 2h3.4l.5 2.6 1.6.9 2.5-.9 1.7 2.9-2 1.7v1.8l2 1.7-1.7 2.9-2.5-.9-1.6.9-.5 2.6h-3.4l-.5-2.6-1.6-.9-2.5.9-1.7-2.9 2-1.7v-1.8l-2-1.7 1.7-2.9 2.5.9 1.6-.9zM12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z',
  attach: 'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z',
  file: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM6 20V4h7v5h5v11z',
  image: 'M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm0 2v10.6l3.5-3.5 3 3 4-4L19 14.6V5zm3.5 1.5a2 2 0 1 1 0 4 2 2 0 0 1 0-4z',
  download: 'M11 3h2v9.2l3.3-3.3 1.4 1.4L12 16l-5.7-5.7 1.4-1.4 3.3 3.3zM5 18h14v2H5z',
  users: 'M8 5a3.5 3.5 0 1 1 0 7 3.5 3.5 0 0 1 0-7zm8 1a3 3 0 1 1 0 6 3 3 0 0 1 0-6zM8 14c3.3 0 6 1.5 6 3.5V20H2v-2.5C2 15.5 4.7 14 8 14zm8 .5c2.8 0 5 1.2 5 3V20h-5v-2.5c0-1.1-.4-2.1-1.1-2.9.4-.1.7-.1 1.1-.1z',
  at: 'M12 2a10 10 0 0 1 10 10v1.5a3.5 3.5 0 0 1-6.4 2A5 5 0 1 1 17 12v1.5a1.5 1.5 0 0 0 3 0V12a8 8 0 1 0-3.2 6.4l1.2 1.6A10 10 0 1 1 12 2zm0 7a3 3 0 1 0 0 6 3 3 0 0 0 0-6z',
  unread: 'M4 5h11v2H4v10h14v-5h2v5a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2zm15-3a3 3 0 1 1 0 6 3 3 0 0 1 0-6z',
  bookmark: 'M6 2h12a1 1 0 0 1 1 1v19l-7-4.5L5 22V3a1 1 0 0 1 1-1zm1 2v14.3l5-3.2 5 3.2V4z',
  pin: 'M15 2 22 9l-1.4 1.4-1.3-.6-3.6 3.6.6 3.9L15 18.6l-3.9-3.9L5.4 20.4 4 20l-.4-1.4 5.7-5.7L5.4 9l1.3-1.3 3.9.6 3.6-3.6-.6-1.3zm-.1 4.6-4.6 4.6-2.6-.4 4.9 4.9-.4-2.6 4.6-4.6z',
  link: 'M10.6 13.4a1 1 0 0 1 0-1.4l4-4a1 1 0 1 1 1.4 1.4l-4 4a1 1 0 0 1-1.4 0zM8.5 9.5l1.4 1.4-2.8 2.8a2 2 0 0 0 2.8 2.8l2.8-2.8 1.4 1.4-2.8 2.8a4 4 0 0 1-5.6-5.6zm7 5-1.4-1.4 2.8-2.8a2 2 0 0 0-2.8-2.8l-2.8 2.8-1.4-1.4 2.8-2.8a4 4 0 0 1 5.6 5.6z',
  bell: 'M12 2a6 6 0 0 1 6 6v4.6l2 3.4v1H4v-1l2-3.4V8a6 6 0 0 1 6-6zm0 2a4 4 0 0 0-4 4v5.1L6.9 15h10.2L16 13.1V8a4 4 0 0 0-4-4zm-2 15h4a2 2 0 0 1-4 0z',
};

export function icon(name, size = 18) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', PATHS[name] || PATHS.plus);
  path.setAttribute('fill', 'currentColor');
  svg.appendChild(path);
  return svg;
}
