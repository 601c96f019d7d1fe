// files.test.js — files in the web client: files dropped on the composer are posted
// with the message (an image shows as its thumbnail and opens full size, another file
// as a card), both download byte for byte; a pasted screenshot is posted; an upload in
// progress shows its progress and can be cancelled (nothing is posted, the text comes
// back); one file of a message is deleted by its author (the message stays, the
// image's object URL is revoked), never offered to another member; search shows a
// hit's files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, api, until } from './helpers.js';

const env = serverAndBrowser();

// ---- Test data --------------------------------------------------------------------

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(kind, data) {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(kind, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, crc]);
}

/** A `width` × `height` RGB PNG with a gradient (each call's `seed` makes other bytes). */
function png(width, height, seed = 0) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([(x * 4 + seed) & 255, (y * 4) & 255, 160], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Bytes that are no known type (so a card, not an image). */
function binary(size) {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + (i >> 8)) & 255;
  out[0] = 0; // not text either
  return out;
}

/** A DataTransfer in the page holding these files (for drop and paste events). */
function dataTransfer(page, files) {
  return page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
    return dt;
  }, files.map((f) => ({ ...f, bytes: [...f.bytes] })));
}

/** Uploads a file over the API, as `user`, with an optional text. */
async function upload(server, user, channel, name, bytes, text = '') {
  const form = new FormData();
  if (text) form.append('text', text);
  form.append('file', new Blob([bytes]), name);
  const res = await fetch(`${server.apiUrl}/api/v1/channels/${channel}/files`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: form });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

/** The bytes of a download the page starts with `click`. */
async function downloaded(page, click) {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = await download.path();
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(file) };
}

/** Waits until an <img> has decoded an image, and answers its natural size. */
async function loadedImage(locator) {
  await locator.waitFor();
  const handle = await locator.elementHandle();
  await handle.waitForElementState('visible');
  await locator.page().waitForFunction((img) => img.complete && img.naturalWidth > 0, handle);
  return locator.evaluate((img) => ({ width: img.naturalWidth, height: img.naturalHeight, src: img.src }));
}

async function history(server, user, channel) {
  return (await apiOk(server, 'GET', `/channels/${channel}/messages?limit=50`, undefined, user.token)).messages;
}

// ---- Tests ------------------------------------------------------------------------

test('files dropped on the composer are posted with the message, shown and downloaded byte for byte', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice });
  const b = await openPage(env.browser, env.server, { user: bob });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();

  const picture = png(640, 400);
  const figures = binary(70_000);
  await box.fill('Here are the figures');
  const dt = await dataTransfer(a, [
    { name: 'chart.png', type: 'image/png', bytes: picture },
    { name: 'figures.bin', type: 'application/octet-stream', bytes: figures },
  ]);
  // Dropped anywhere on the channel (here: on the message list).
  const list = a.getByRole('log', { name: 'Messages' });
  for (const kind of ['dragenter', 'dragover', 'drop']) await list.dispatchEvent(kind, { dataTransfer: dt });
  const attachments = a.getByRole('list', { name: 'Attachments' });
  await attachments.getByText('chart.png').waitFor();
  await attachments.getByText('figures.bin').waitFor();
  assert.equal(await a.locator('.msg', { hasText: 'Here are the figures' }).count(), 0, 'nothing is sent before Enter');
  await box.press('Enter');

  // One message with both files and the text; the composer is empty again.
  const withImage = a.locator('.channel-view .msg', { hasText: 'Here are the figures' });
  const thumb = withImage.getByRole('button', { name: 'Open image chart.png' }).locator('img');
  const shown = await loadedImage(thumb);
  assert.ok(shown.src.startsWith('blob:'), `the thumbnail is fetched with the token: ${shown.src}`);
  assert.ok(shown.width <= 360 && shown.width > 0 && shown.width / shown.height === 640 / 400, `a thumbnail: ${JSON.stringify(shown)}`);
  const card = a.locator('.channel-view .msg .file-card', { hasText: 'figures.bin' });
  await card.waitFor();
  assert.match(await card.innerText(), /68 KB · application\/octet-stream/);
  await attachments.waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), '');
  const posted = (await history(env.server, bob, general.id)).filter((m) => (m.files || []).length);
  assert.deepEqual(posted.map((m) => [m.text, m.files.length]), [['Here are the figures', 2]], 'one message carries both files');
  await withImage.locator('.file-card', { hasText: 'figures.bin' }).waitFor();

  // Bob sees both live, the thumbnail too.
  const bThumb = b.locator('.channel-view .msg', { hasText: 'Here are the figures' }).locator('img.file-thumb');
  assert.ok((await loadedImage(bThumb)).width > 0);
  await b.locator('.channel-view .file-card', { hasText: 'figures.bin' }).waitFor();
  await shot(b, 'files-in-messages');

  // The card's download and the lightbox's give the bytes that were uploaded.
  const got = await downloaded(b, () => b.getByRole('button', { name: 'Download figures.bin' }).click());
  assert.equal(got.name, 'figures.bin');
  assert.ok(got.bytes.equals(figures), 'the downloaded file is byte-identical');
  await b.getByRole('button', { name: 'Open image chart.png' }).click();
  const lightbox = b.getByRole('dialog', { name: 'chart.png' });
  const full = await loadedImage(lightbox.locator('img'));
  assert.deepEqual([full.width, full.height], [640, 400], 'the full image, not the thumbnail');
  await shot(b, 'files-lightbox');
  const image = await downloaded(b, () => lightbox.getByRole('button', { name: 'Download chart.png' }).click());
  assert.ok(image.bytes.equals(picture), 'the downloaded image is byte-identical');
  await b.keyboard.press('Escape');
  await lightbox.waitFor({ state: 'detached' });
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});

test('a pasted screenshot is posted; an upload in progress shows progress and can be cancelled', async () => {
  const { alice, general } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();

  // Paste: a screenshot arrives as "image.png", and is named for when it was pasted.
  const screenshot = png(200, 120, 9);
  const clip = await dataTransfer(a, [{ name: 'image.png', type: 'image/png', bytes: screenshot }]);
  await box.evaluate((el, data) => el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true })), clip);
  const attachments = a.getByRole('list', { name: 'Attachments' });
  await attachments.getByText(/^Pasted image .*\.png$/).waitFor();
  await box.press('Enter'); // an upload on its own, without a text
  await loadedImage(a.locator('.channel-view .msg img.file-thumb'));
  const [pasted] = (await history(env.server, alice, general.id)).filter((m) => (m.files || []).length);
  const info = await apiOk(env.server, 'GET', `/files/${pasted.files[0]}/info`, undefined, alice.token);
  assert.match(info.name, /^Pasted image \d{4}-\d\d-\d\d \d\d\.\d\d\.\d\d\.png$/);
  assert.equal(pasted.text, '');

  // A staged file can be taken out before sending.
  const pick = async (file) => {
    const [chooser] = await Promise.all([a.waitForEvent('filechooser'), a.getByRole('button', { name: 'Attach files' }).click()]);
    await chooser.setFiles(file);
  };
  await pick({ name: 'oops.txt', mimeType: 'text/plain', buffer: Buffer.from('not this one') });
  await attachments.getByRole('button', { name: 'Remove oops.txt' }).click();
  await attachments.waitFor({ state: 'hidden' });

  // A slow upload (the network throttled to 256 KB/s): its bar moves, then it is cancelled.
  const cdp = await a.context().newCDPSession(a);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  const big = binary(3 * 1024 * 1024);
  await pick({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: big });
  await box.fill('about the big file');
  await box.press('Enter');
  const bar = attachments.getByRole('progressbar', { name: 'Uploading big.bin' });
  await bar.waitFor();
  await a.waitForFunction((el) => el.value > 0 && el.value < el.max, await bar.elementHandle());
  await shot(a, 'files-upload-progress');
  await attachments.getByRole('button', { name: 'Cancel upload of big.bin' }).click();
  await attachments.waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), 'about the big file', 'the text comes back to the composer');

  // Two files in one message; one is cancelled on the way: the other goes, with the text.
  await pick([
    { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big },
    { name: 'keep.txt', mimeType: 'text/plain', buffer: Buffer.from('kept') },
  ]);
  await box.fill('only the small one');
  await box.press('Enter');
  const bigBar = attachments.getByRole('progressbar', { name: 'Uploading big.bin' });
  await bigBar.waitFor();
  await a.waitForFunction((el) => el.value > 0, await bigBar.elementHandle());
  await attachments.getByRole('button', { name: 'Cancel upload of big.bin' }).click();
  await a.locator('.channel-view .msg', { hasText: 'only the small one' }).locator('.file-card', { hasText: 'keep.txt' }).waitFor();
  await attachments.waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), '');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  // Nothing was posted: not the file, not the text. (A later post is the barrier.)
  await box.fill('after the cancel');
  await box.press('Enter');
  await a.locator('.msg:not(.pending)', { hasText: 'after the cancel' }).waitFor();
  const texts = (await history(env.server, alice, general.id)).map((m) => m.text);
  assert.ok(!texts.includes('about the big file'), `${texts}`);
  const withFiles = (await history(env.server, alice, general.id)).filter((m) => (m.files || []).length);
  assert.deepEqual(withFiles.map((m) => [m.text, m.files.length]).sort(), [['', 1], ['only the small one', 1]], 'the screenshot, and the kept file with its text');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('a file attached in a thread is a reply there, with its text', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  const root = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Send me the notes' }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const rootMsg = a.locator('.channel-view .msg', { hasText: 'Send me the notes' });
  await rootMsg.hover();
  await rootMsg.getByRole('button', { name: 'Reply in thread' }).click();
  const thread = a.getByRole('region', { name: 'Thread' });
  const box = thread.getByRole('textbox', { name: 'Reply in thread' });
  await box.waitFor();
  const [chooser] = await Promise.all([a.waitForEvent('filechooser'), thread.getByRole('button', { name: 'Attach files' }).click()]);
  await chooser.setFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('the meeting notes') });
  await thread.getByRole('list', { name: 'Attachments' }).getByText('notes.txt').waitFor();
  assert.equal(await a.getByRole('list', { name: 'Attachments' }).count(), 1, 'staged in the thread, not in the channel too');
  await box.fill('here they are');
  await box.press('Enter');
  await thread.locator('.msg', { hasText: 'here they are' }).locator('.file-card', { hasText: 'notes.txt' }).waitFor();
  const replies = (await apiOk(env.server, 'GET', `/messages/${root.id}/thread`, undefined, alice.token)).replies;
  assert.deepEqual(replies.map((m) => [m.text, (m.files || []).length]), [['here they are', 1]], 'one reply with the file');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('the author deletes one file of a message: the message stays, other members see it go', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  const photo = await upload(env.server, alice, general.id, 'photo.png', png(90, 60, 3), 'the photo and its caption');
  const notes = await upload(env.server, alice, general.id, 'notes.bin', binary(5000));
  const a = await openPage(env.browser, env.server, { user: alice });
  const b = await openPage(env.browser, env.server, { user: bob });
  const aPhoto = a.locator('.channel-view .msg', { hasText: 'the photo and its caption' });
  const { src } = await loadedImage(aPhoto.locator('img.file-thumb'));
  await loadedImage(b.locator('.channel-view .msg img.file-thumb'));
  await b.locator('.channel-view .file-card', { hasText: 'notes.bin' }).waitFor();
  // Whether an object URL still loads as an image (the page's CSP allows blob: images only).
  const loads = (url) => a.evaluate((u) => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(true);
    img.onerror = () => resolve(false);
    img.src = u;
  }), url);
  assert.ok(await loads(src), 'the object URL loads while the thumbnail shows');
  // Bob may delete neither: no control is offered.
  assert.equal(await b.getByRole('button', { name: /^Delete file/ }).count(), 0);

  await aPhoto.hover();
  await aPhoto.getByRole('button', { name: 'Delete file photo.png' }).click();
  const confirm = a.getByRole('dialog', { name: 'Delete file?' });
  await confirm.getByRole('button', { name: 'Delete file' }).click();
  await confirm.waitFor({ state: 'detached' });
  // The message stays, with its text and without the image, for both.
  for (const page of [a, b]) {
    const msg = page.locator(`.channel-view .msg[data-id="${photo.message.id}"]`);
    await msg.locator('.file').waitFor({ state: 'detached' });
    assert.equal(await msg.locator('.msg-text').innerText(), 'the photo and its caption');
  }
  // The thumbnail's object URL was revoked once no element showed it: it loads no more.
  // (Within the grace an element built but never attached keeps it: 10 s, files.js.)
  await until(async () => !(await loads(src)), { timeout: 25000, message: 'the object URL to be revoked' });
  assert.equal((await api(env.server, 'GET', `/files/${photo.file.id}`, undefined, alice.token)).status, 404);

  // A message of a file alone goes with its file.
  const aNotes = a.locator(`.channel-view .msg[data-id="${notes.message.id}"]`);
  await aNotes.hover();
  await aNotes.getByRole('button', { name: 'Delete file notes.bin' }).click();
  await a.getByRole('dialog', { name: 'Delete file?' }).getByRole('button', { name: 'Delete file' }).click();
  await b.locator(`.channel-view .msg.deleted[data-id="${notes.message.id}"]`).waitFor();
  assert.ok((await apiOk(env.server, 'GET', `/messages/${notes.message.id}`, undefined, bob.token)).deleted);
  // (Less the console's note of the revoked URL the probe above failed to load, and a
  // 404 of a deleted file's bytes or info that was in flight when it went: the
  // browser logs those itself.)
  const gone = (p) => /Failed to load resource/.test(p) && [photo.file.id, notes.file.id].some((id) => p.includes(id));
  assert.deepEqual(a.problems.filter((p) => !p.includes(src) && !gone(p)), []);
  assert.deepEqual(b.problems.filter((p) => !gone(p)), []);
  await a.context().close();
  await b.context().close();
});

test('search results show the files of a hit', async () => {
  const { alice, ws, general } = await teamOfTwo(env.server);
  await upload(env.server, alice, general.id, 'quarterly-report.bin', binary(2000), 'numbers for the board');
  const chart = await upload(env.server, alice, general.id, 'board-chart.png', png(120, 80, 5), 'and a chart');
  await until(async () => {
    const r = await api(env.server, 'GET', `/workspaces/${ws.id}/search?q=has:image`, undefined, alice.token);
    return r.status === 200 && r.data.hits.some((hit) => hit.message.id === chart.message.id);
  }, { message: 'the uploads to be searchable' });
  const a = await openPage(env.browser, env.server, { user: alice });
  // As a user would: search once the workspace is on screen (a CI run once searched
  // before the page had loaded it, and the results never came).
  await a.locator('.channel-view .msg', { hasText: 'and a chart' }).waitFor();
  const search = a.getByRole('searchbox', { name: 'Search messages' });
  await search.fill('quarterly');
  await search.press('Enter');
  const results = a.getByRole('list', { name: 'Search results' });
  await results.locator('.search-hit .hit-file', { hasText: 'quarterly-report.bin' }).waitFor();
  await search.fill('has:image');
  await search.press('Enter');
  const hit = results.locator('.search-hit', { hasText: 'board-chart.png' });
  assert.ok((await loadedImage(hit.locator('img.hit-thumb'))).width > 0, 'the image hit shows its thumbnail');
  await shot(a, 'files-search');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});
