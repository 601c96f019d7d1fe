// docs-screenshots.js — the screenshots of README.md: the main screen, the channel
// details panel, the workspace settings (admin) screen and the Privacy & AI page, each
// on a desktop, on a phone and in dark mode, of a small workspace made up here (a
// real server, a trained model). Not a test and not run in CI. Emoji need a colour
// emoji font (Debian: fonts-noto-color-emoji).
//
//   CONFAB_BIN=… node docs-screenshots.js [OUT_DIR]
//
// OUT_DIR defaults to ./screenshots/docs (ignored by git); pass ../../docs/images to
// refresh the committed ones.

import fs from 'node:fs';
import path from 'node:path';
import { startServer, launch, signup, apiOk } from './helpers.js';

process.env.CONFAB_TRAINING_MIN_USERS_PER_WORD = '2';
const out = path.resolve(process.argv[2] || path.join(path.dirname(new URL(import.meta.url).pathname), 'screenshots', 'docs'));
fs.mkdirSync(out, { recursive: true });

const VIEWS = {
  desktop: { viewport: { width: 1100, height: 700 }, colorScheme: 'light' },
  mobile: { viewport: { width: 390, height: 760 }, colorScheme: 'light' },
  dark: { viewport: { width: 1100, height: 700 }, colorScheme: 'dark' },
};

const server = await startServer();
const browser = await launch();
try {
  const root = await signup(server, 'Operator');
  const alice = await signup(server, 'Alice');
  const ws = await apiOk(server, 'POST', '/workspaces', { name: 'Acme' }, alice.token);
  const people = [alice];
  for (const name of ['Bob', 'Carol', 'Dan']) {
    const u = await signup(server, name);
    const inv = await apiOk(server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
    await apiOk(server, 'POST', `/invites/${inv.code}/accept`, undefined, u.token);
    people.push(u);
  }
  const [, bob, carol, dan] = people;
  const channels = (await apiOk(server, 'GET', `/workspaces/${ws.id}/channels`, undefined, alice.token)).channels;
  const general = channels.find((c) => c.name === 'general');
  const post = (u, text, extra = {}) => apiOk(server, 'POST', `/channels/${general.id}/messages`, { text, ...extra }, u.token);
  // Reactions teach the emoji model something.
  for (const [i, u] of people.entries()) {
    const m = await post(u, `pizza friday ${i + 1}: who is in?`);
    for (const r of people.filter((x) => x !== u)) await apiOk(server, 'PUT', `/messages/${m.id}/reactions/pizza`, undefined, r.token);
  }
  const plan = await post(alice, 'The **Q3 plan** is ready: `docs/plan.md`. Comments by Friday, please.');
  await apiOk(server, 'PUT', `/messages/${plan.id}/reactions/tada`, undefined, bob.token);
  await apiOk(server, 'PUT', `/messages/${plan.id}/pin`, undefined, bob.token);
  await post(bob, 'Looks good. One question on hiring', { thread_root: plan.id });
  await post(carol, '@alice I added the numbers for support');
  await apiOk(server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'design', topic: 'Mockups and reviews' }, alice.token);
  await apiOk(server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'random' }, dan.token);
  await post(dan, 'Deploy went out, all green ✅');

  const policy = (await apiOk(server, 'GET', '/consent/policies', undefined, alice.token)).policies.find((p) => p.purpose === 'emoji_suggestions');
  await apiOk(server, 'PUT', `/workspaces/${ws.id}/consent/emoji_suggestions`, {
    granted: true, scope: 'workspace', categories: policy.categories, members: 'opt_in', policy_version: policy.version, policy_sha256: policy.sha256, accept: true,
  }, alice.token);
  for (const u of people) await apiOk(server, 'PUT', `/workspaces/${ws.id}/consent/emoji_suggestions/me`, { included: true }, u.token);
  await apiOk(server, 'POST', '/admin/train', { purpose: 'emoji_suggestions' }, root.token);

  for (const [name, opts] of Object.entries(VIEWS)) {
    const context = await browser.newContext(opts);
    await context.addInitScript(([token]) => localStorage.setItem('confab.token', token), [alice.token]);
    const page = await context.newPage();
    const snap = async (screen) => {
      await page.evaluate(() => document.fonts.ready);
      await page.screenshot({ path: path.join(out, `${screen}-${name}.png`) });
    };
    await page.goto(`${server.url}/#/w/${ws.id}/c/${general.id}`);
    await page.locator('.channel-view .msg', { hasText: 'Deploy went out' }).waitFor();
    await snap('main');
    await page.getByRole('button', { name: 'Channel details' }).click();
    await page.locator('.details-panel .member-row').first().waitFor();
    await page.locator('.details-panel .pin').first().waitFor();
    await snap('channel-details');
    await page.goto(`${server.url}/#/w/${ws.id}/settings`);
    await page.getByRole('heading', { name: 'Workspace settings' }).first().waitFor();
    await snap('admin');
    await page.goto(`${server.url}/#/w/${ws.id}/privacy`);
    await page.locator('.models li.model').first().waitFor();
    // The purpose that is on, with its summary, rather than the page's top.
    await page.locator('article.purpose[data-purpose="emoji_suggestions"]').evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await snap('privacy');
    await context.close();
  }
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  await server.stop();
}
