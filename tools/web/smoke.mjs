// Smoke test of the browser playground in headless Chromium (Debian: apt-get install chromium):
//   slm web --port 8080 &   then   node --experimental-websocket tools/web/smoke.mjs [URL] [PNG]
// Loads the page, clicks Generate, prints the status and output, and saves a screenshot. Extra Chromium
// flags come from SLM_CHROMIUM_FLAGS, e.g. WebGPU on a software Vulkan driver (lavapipe):
//   SLM_CHROMIUM_FLAGS='--enable-unsafe-webgpu --enable-features=Vulkan' … '…/web/index.html?backend=webgpu'
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const chrome = spawn(
  'chromium',
  [
    '--headless=new',
    '--no-sandbox',
    '--remote-debugging-port=9229',
    '--window-size=1000,800',
    ...(process.env.SLM_CHROMIUM_FLAGS ?? '').split(' ').filter(Boolean),
    'about:blank',
  ],
  { stdio: 'ignore' },
);
await new Promise((r) => setTimeout(r, 2500));
const targets = await (await fetch('http://127.0.0.1:9229/json')).json();
const page = targets.find((t) => t.type === 'page');
const ws = new WebSocket(page.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener('open', r));
let id = 0;
const pending = new Map();
ws.addEventListener('message', (e) => {
  const m = JSON.parse(e.data);
  if (m.id && pending.has(m.id)) {
    pending.get(m.id)(m);
    pending.delete(m.id);
  }
});
const send = (method, params = {}) =>
  new Promise((r) => {
    const i = ++id;
    pending.set(i, r);
    ws.send(JSON.stringify({ id: i, method, params }));
  });
const evaluate = async (expr) =>
  (await send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true })).result
    ?.result?.value;
await send('Page.enable');
await send('Page.navigate', { url: process.argv[2] ?? 'http://127.0.0.1:8080/' });
for (let i = 0; i < 60; i++) {
  await new Promise((r) => setTimeout(r, 500));
  if (await evaluate("!document.getElementById('go')?.disabled")) break;
}
console.log('status after load:', await evaluate("document.getElementById('status').textContent"));
await evaluate("document.getElementById('go').click()");
for (let i = 0; i < 120; i++) {
  await new Promise((r) => setTimeout(r, 500));
  if (
    await evaluate(
      "document.getElementById('status').textContent.includes('tokens/s') || document.getElementById('status').textContent.includes('error')",
    )
  )
    break;
}
console.log('status after generate:', await evaluate("document.getElementById('status').textContent"));
console.log('output:', await evaluate("document.getElementById('output').textContent"));
const shot = await send('Page.captureScreenshot', { format: 'png' });
writeFileSync(process.argv[3] ?? 'playground.png', Buffer.from(shot.result.data, 'base64'));
ws.close();
chrome.kill();
