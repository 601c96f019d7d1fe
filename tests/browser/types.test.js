// types.test.js — the web client's shapes are declared once, as JSDoc types in
// client-web/js/protocol.js (the mirror of crates/protocol), and every module that
// starts with `// @ts-check` is type-checked against them by TypeScript's checker.
// A call that expects a shape the types do not declare (the guessing of
// `r.suggestions || r.channels`) fails here. Needs no server or browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const js = path.resolve(here, '../../client-web/js');

/** Every module of the web client, relative to client-web/js. */
function modules(dir = js) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return modules(full);
    return e.name.endsWith('.js') ? [full] : [];
  });
}

test('the modules that use the API shapes are type-checked against protocol.js', () => {
  const checked = modules().filter((f) => fs.readFileSync(f, 'utf8').startsWith('// @ts-check'));
  const names = checked.map((f) => path.relative(js, f)).sort();
  for (const must of ['protocol.js', 'api.js', 'live.js', 'store.js', 'app.js', 'emoji.js', 'views/privacy.js', 'views/search.js']) {
    assert.ok(names.includes(must), `${must} starts with // @ts-check`);
  }
  const tsc = path.join(here, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '--noEmit', '--allowJs', '--strict', 'false', '--target', 'es2022', '--module', 'es2022',
    '--moduleResolution', 'bundler', '--lib', 'es2022,dom,dom.iterable', '--skipLibCheck', ...checked];
  let output = '';
  try {
    execFileSync(process.execPath, args, { cwd: js, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    output = `${e.stdout || ''}${e.stderr || ''}` || String(e);
  }
  assert.equal(output, '', `type errors in the web client:\n${output}`);
});

test('the type check fails on a shape protocol.js does not declare', () => {
  // The checker is not vacuous: reading a field the types lack is an error.
  const dir = fs.mkdtempSync(path.join(here, 'screenshots', 'types-'));
  const probe = path.join(dir, 'probe.js');
  fs.writeFileSync(probe, `// @ts-check
/** @param {import(${JSON.stringify(path.join(js, 'protocol.js'))}).ChannelSuggestion} s */
export const guess = (s) => s.channel_id;
`);
  const tsc = path.join(here, 'node_modules', 'typescript', 'bin', 'tsc');
  let failed = false;
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '--allowJs', '--target', 'es2022', '--module', 'es2022',
      '--moduleResolution', 'bundler', '--skipLibCheck', probe], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    failed = /channel_id/.test(`${e.stdout}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(failed, 'reading s.channel_id of a ChannelSuggestion is a type error');
});
