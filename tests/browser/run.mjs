#!/usr/bin/env node
// Runs one browser spec: `node tests/browser/run.mjs tests/browser/<spec>.mjs`.
//
// Environment: FERRY_PANEL_URL (the origin of the server under test, required),
// FERRY_BROWSER_ARTIFACTS (screenshots, in <it>/<spec>/; target/browser-artifacts
// by default), FERRY_CHROMIUM (/usr/bin/chromium by default), whatever the spec
// reads (tokens). Exits 0 when every step passed; 1 when one failed, printing the
// step, the page's URL and a screenshot taken at the failure; 2 when it could not
// run (no spec, no FERRY_PANEL_URL, no Chromium).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHROMIUM, Context, ROOT, artifactsRoot, launch } from './lib.mjs';

/** Longest a whole spec may run before it is stopped as hung. */
const SPEC_TIMEOUT_MS = Number(process.env.FERRY_BROWSER_SPEC_SECS || 300) * 1000;

function usage(message) {
  console.error(`run.mjs: ${message}`);
  console.error('usage: FERRY_PANEL_URL=http://127.0.0.1:PORT node tests/browser/run.mjs tests/browser/<spec>.mjs');
  process.exit(2);
}

const given = process.argv[2];
if (!given) usage('no spec given');
const candidates = [path.resolve(given), path.join(ROOT, 'tests', 'browser', given)];
const specFile = candidates.find((f) => existsSync(f));
if (!specFile) usage(`no spec ${given}`);
const baseURL = process.env.FERRY_PANEL_URL;
if (!baseURL) usage('FERRY_PANEL_URL is not set (the origin of the server under test, e.g. http://127.0.0.1:8080)');

const specName = path.basename(specFile, '.mjs');
const artifacts = path.join(artifactsRoot(), specName);
const spec = await import(pathToFileURL(specFile).href);
if (typeof spec.run !== 'function') usage(`${specFile} exports no \`async function run(ctx)\``);

const playwrightVersion = JSON.parse(
  readFileSync(new URL('./node_modules/playwright-core/package.json', import.meta.url), 'utf8'),
).version;

const started = Date.now();
let browser;
try {
  browser = await launch();
} catch (e) {
  console.error(`run.mjs: ${e.message}`);
  process.exit(2);
}
console.log(
  `spec ${specName} against ${baseURL} (Chromium ${browser.version()} at ${CHROMIUM}, playwright-core ${playwrightVersion}); screenshots in ${artifacts}`,
);
const ctx = await Context.open({ browser, baseURL, artifacts });

const hung = setTimeout(() => {
  console.error(`FAIL ${specName}: still running after ${SPEC_TIMEOUT_MS / 1000} s, in step "${ctx.currentStep ?? '(between steps)'}" at ${ctx.page.url()}`);
  process.exit(1);
}, SPEC_TIMEOUT_MS);
hung.unref();

let failed = false;
try {
  await spec.run(ctx);
} catch (error) {
  failed = true;
  const step = ctx.currentStep ?? '(outside any step)';
  let shot;
  try {
    shot = await ctx.screenshot(`${step} FAILED`);
  } catch (e) {
    shot = `(none: ${e.message.split('\n')[0]})`;
  }
  const lines = [
    `FAIL ${specName}, step ${ctx.passed.length + 1}: ${step}`,
    `  url:        ${ctx.page.url()}${ctx.lastStatus ? ` (answered ${ctx.lastStatus})` : ''}`,
    `  error:      ${error.name === 'AssertionFailure' ? error.message : error.stack ?? error}`,
    `  screenshot: ${shot}`,
  ];
  for (const e of ctx.pageErrors.slice(-10)) lines.push(`  page said:  ${e}`);
  console.error(lines.join('\n'));
} finally {
  await ctx.close();
  await browser.close().catch(() => {});
}
const took = ((Date.now() - started) / 1000).toFixed(1);
if (failed) {
  console.error(`spec ${specName}: failed after ${ctx.passed.length} step(s) passed, in ${took} s; screenshots in ${artifacts}`);
  process.exit(1);
}
console.log(`spec ${specName}: ok, ${ctx.passed.length} steps in ${took} s; screenshots in ${artifacts}`);
