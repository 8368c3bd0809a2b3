// test_dashboard.mjs - the gateway's /dashboard page in a real browser.
//
// Starts the three services and a gateway from the build (BM_BUILD_DIR/bin)
// on free loopback ports with temporary databases, drives Debian's chromium
// headless with playwright-core (pinned in scripts/npm_tools.sh) and checks:
// the page loads with no console errors; each service's chart draws data;
// a stopped service turns `unreachable` on the page within 3 s; a rate change
// made with the page's control reaches the service's GET /config (and a
// missing token shows the API's 401 message); the summary is there with
// JavaScript off; curl still gets JSON; / redirects a browser. A screenshot is
// written to BM_BUILD_DIR/test-artifacts/dashboard.png and must not be one
// colour. A missing chromium is a failure, not a skip. Everything started
// here is stopped here.
//
//   node tests/browser/test_dashboard.mjs    (BM_BUILD_DIR defaults to build/)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const SRC = process.env.BM_SOURCE_DIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BUILD = process.env.BM_BUILD_DIR || path.join(SRC, "build");
const BIN = path.join(BUILD, "bin");
const CHROMIUM = process.env.BM_CHROMIUM || "/usr/bin/chromium";
const TOKEN = "dash-test-token";
const SERVICES = ["transaction-service", "auth-service", "monitoring-service"];
const URL_FLAG = { "transaction-service": "--transaction-url", "auth-service": "--auth-url",
  "monitoring-service": "--monitoring-url" };

const work = mkdtempSync(path.join(tmpdir(), "bm-dash-"));
const children = [];
let passed = 0, failed = 0;

function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log("ok      " + name);
  } else {
    failed++;
    console.log("FAILED  " + name + (detail ? "\n        | " + String(detail).split("\n").join("\n        | ") : ""));
  }
  return ok;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts a daemon on port 0 and resolves to its port, read from its
// "listening" log line.
function start(name, args) {
  const log = [];
  const child = spawn(path.join(BIN, name), args, {
    cwd: work,
    env: Object.assign({}, process.env, { ADMIN_TOKEN: TOKEN }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  child.name = name;
  child.log = log;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(name + " did not log `listening` in 10 s:\n" + log.join(""))), 10000);
    const onData = (chunk) => {
      log.push(chunk.toString());
      const m = /"port":(\d+)[^\n]*"listening"|"listening"[^\n]*"port":(\d+)/.exec(log.join(""));
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] || m[2]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (c) => log.push(c.toString()));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(name + " exited (" + code + "):\n" + log.join("")));
    });
  });
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null)
    return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  if (await Promise.race([gone.then(() => true), sleep(5000).then(() => false)]))
    return;
  child.kill("SIGKILL");
  await gone;
}

// Every pixel of an 8-bit RGB(A) PNG, as [r,g,b,a] arrays (enough of PNG for
// chromium's screenshots: no palette, no interlace).
function decodePng(bytes) {
  if (bytes.readUInt32BE(0) !== 0x89504e47)
    throw new Error("not a PNG");
  let off = 8, width = 0, height = 0, depth = 0, ctype = 0, interlace = 0;
  const idat = [];
  while (off < bytes.length) {
    const len = bytes.readUInt32BE(off), type = bytes.toString("latin1", off + 4, off + 8);
    const data = bytes.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8];
      ctype = data[9];
      interlace = data[12];
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
    off += 12 + len;
  }
  if (depth !== 8 || (ctype !== 2 && ctype !== 6) || interlace !== 0)
    throw new Error(`unsupported PNG: depth ${depth}, colour type ${ctype}, interlace ${interlace}`);
  const bpp = ctype === 6 ? 4 : 3, stride = width * bpp;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[y * stride + x - bpp] : 0;
      const b = y ? out[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y ? out[(y - 1) * stride + x - bpp] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[y * stride + x] = v & 0xff;
    }
  }
  return { width, height, bpp, data: out };
}

function distinctColours(png) {
  const seen = new Set();
  for (let i = 0; i < png.data.length && seen.size < 10000; i += png.bpp)
    seen.add((png.data[i] << 16) | (png.data[i + 1] << 8) | png.data[i + 2]);
  return seen.size;
}

function loadPlaywright() {
  const tools = path.join(SRC, "scripts/npm_tools.sh");
  let r = spawnSync("bash", [tools], { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error("scripts/npm_tools.sh failed:\n" + r.stdout + r.stderr);
  r = spawnSync("bash", [tools, "--dir"], { encoding: "utf8" });
  const dir = r.stdout.trim();
  return createRequire(path.join(dir, "node_modules", "noop.js"))("playwright-core");
}

async function main() {
  const t0 = Date.now();
  if (!check("chromium is installed at " + CHROMIUM + " (scripts/deps.sh installs it)", existsSync(CHROMIUM)))
    return;
  const { chromium } = loadPlaywright();

  const ports = {};
  await Promise.all(SERVICES.map(async (svc) => {
    ports[svc] = await start(svc, ["--port", "0", "--bind", "127.0.0.1", "--db", path.join(work, svc + ".db"),
      "--seed", "7"]);
  }));
  // A longer upstream timeout than the default 800 ms: on a loaded CI
  // machine a proxied POST may take that long. A stopped service refuses
  // the connection at once, so the 3 s check does not depend on it.
  const gwArgs = ["--port", "0", "--bind", "127.0.0.1", "--upstream-timeout-ms", "5000"];
  for (const svc of SERVICES)
    gwArgs.push(URL_FLAG[svc], "http://127.0.0.1:" + ports[svc]);
  const gwPort = await start("api-gateway", gwArgs);
  const base = "http://127.0.0.1:" + gwPort;
  const byName = (n) => children.find((c) => c.name === n);

  // Ready: the gateway has polled all three (a loaded machine may take a while).
  let ready = null;
  for (const until = Date.now() + 30000; Date.now() < until; await sleep(250)) {
    ready = await fetch(base + "/system/health").then((x) => x.json(), (e) => ({ status: String(e.cause || e) }));
    if (ready.status === "ok")
      break;
  }
  if (!check("the gateway sees all three services ok", ready && ready.status === "ok", JSON.stringify(ready)))
    return;

  // What curl sees is unchanged: JSON without text/html in Accept.
  let r = await fetch(base + "/dashboard");
  const json = await r.json().catch(() => null);
  check("GET /dashboard without text/html answers JSON with totals and services",
    (r.headers.get("content-type") || "").startsWith("application/json") && json && json.totals && json.services,
    r.headers.get("content-type"));
  r = await fetch(base + "/", { redirect: "manual", headers: { Accept: "text/html" } });
  check("GET / with text/html in Accept redirects (302) to /dashboard",
    r.status === 302 && r.headers.get("location") === "/dashboard", r.status + " " + r.headers.get("location"));
  r = await fetch(base + "/", { redirect: "manual" });
  const index = await r.json().catch(() => null);
  check("GET / without it answers the JSON index", r.status === 200 && index && index.links.dashboard === "/dashboard",
    r.status);
  r = await fetch(base + "/dashboard", { headers: { Accept: "text/html,application/xhtml+xml" } });
  const html = await r.text();
  check(`the HTML page is self-contained and under 150 KB (${html.length} bytes)`,
    r.headers.get("content-type").startsWith("text/html") && html.length < 150 * 1024 &&
    !/\b(src|href)=["']?https?:/i.test(html), r.headers.get("content-type"));

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
    const page = await ctx.newPage();
    const problems = [];
    const requests = [];
    const badAnswers = [];
    page.on("console", (m) => {
      if (m.type() !== "error" && m.type() !== "warning")
        return;
      // Chromium logs every non-2xx answer as "Failed to load resource":
      // the answers are checked below, by endpoint, instead (the probes of
      // the later endpoints answer 404 by design, the test asks for a 401,
      // and a proxied call may time out on a loaded machine).
      if (/^Failed to load resource: the server responded with a status of \d+/.test(m.text()))
        return;
      problems.push(m.type() + ": " + m.text() + " @ " + (m.location().url || ""));
    });
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("request", (q) => requests.push(q.url()));
    // The gateway's own endpoints answer from memory: always 200.
    page.on("response", (a) => {
      const u = new URL(a.url());
      if (/^\/(dashboard|system\/health|events)$/.test(u.pathname) && a.status() !== 200)
        badAnswers.push(a.status() + " " + u.pathname + u.search);
    });

    await page.goto(base + "/", { waitUntil: "load" });
    check("a browser at / lands on /dashboard", page.url() === base + "/dashboard", page.url());
    check("the live view replaces the summary (JavaScript on)", await page.isVisible("#app"));

    // Every service's chart line has drawn received events.
    const drawn = await page.waitForFunction((svcs) => svcs.every((s) => {
      const p = document.querySelector(`#rate-chart path[data-service="${s}"]`);
      return p && /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){10,}$/.test(p.getAttribute("d")) && Number(p.dataset.total) > 0;
    }), SERVICES, { timeout: 20000 }).then(() => true, () => false);
    const totals = await page.$$eval("#rate-chart path", (ps) => ps.map((p) => p.dataset.service + "=" + p.dataset.total));
    check("each service's events/s chart has a non-empty path with data (" + totals.join(", ") + ")", drawn);
    const states = await page.$$eval(".card", (cs) => cs.map((c) => c.dataset.service + ":" + c.dataset.state));
    check("every service shows ok or backfilling (" + states.join(", ") + ")",
      states.length === 3 && states.every((s) => /:(ok|backfilling)$/.test(s)));
    check("the anomalies-by-type chart has a bar per type",
      (await page.$$("#type-chart rect.bar")).length >= 9);
    // The gateway answers /incidents (merged); injection goes to a service
    // through /services/{name}/inject.
    check("the incidents and inject sections show",
      await page.waitForSelector("#incidents-panel", { state: "visible", timeout: 5000 }).then(() => true, () => false) &&
      await page.waitForSelector("#inject-panel", { state: "visible", timeout: 5000 }).then(() => true, () => false));

    // The rate control: without the token the API's message, with it the change.
    const form = '#cfg-transaction-service';
    await page.waitForFunction((f) => document.querySelector(f + " input[name=anomaly_rate]").value !== "", form);
    await page.fill(form + " input[name=anomaly_rate]", "0.123");
    await page.fill(form + " input[name=events_per_second]", "40");
    await page.click(form + " button[data-action=apply]");
    await page.waitForFunction((f) => !/saving|^$/.test(document.querySelector(f + " .msg").textContent), form);
    const denied = await page.textContent(form + " .msg");
    check("without the admin token the page shows the API's 401 message (" + denied + ")",
      /bearer token/.test(denied) && /401/.test(denied));
    await page.fill("#token", TOKEN);
    await page.click(form + " button[data-action=apply]");
    await page.waitForFunction((f) => document.querySelector(f + " .msg").textContent === "saved", form,
      { timeout: 5000 }).catch(() => {});
    const cfg = await (await fetch(`http://127.0.0.1:${ports["transaction-service"]}/config`)).json();
    check("a change made with the page's control is in the service's GET /config (" +
      cfg.anomaly_rate + ", " + cfg.events_per_second + ")", cfg.anomaly_rate === 0.123 && cfg.events_per_second === 40);

    // An injection from the page's button (the token is typed now).
    const injected = `http://127.0.0.1:${ports["auth-service"]}/incidents?type=brute_force&limit=1000`;
    const before = (await (await fetch(injected)).json()).incidents.length;
    await page.click('#inject-buttons button[data-type="brute_force"]');
    await page.waitForFunction(() => !/injecting|^$/.test(document.querySelector("#inject-msg").textContent),
      null, { timeout: 5000 }).catch(() => {});
    const said = await page.textContent("#inject-msg");
    check("the brute_force button injects one through the gateway (" + said + ")", said === "injected brute_force");
    const appeared = await (async () => {
      for (let i = 0; i < 30; i++) {
        const list = (await (await fetch(injected)).json()).incidents;
        if (list.some((x) => x.origin === "injected")) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    })();
    check(`the injected brute force is listed by auth-service (${before} before)`, appeared);

    // Newest anomalies listed from /events?anomalies_only=true.
    const rows = await page.waitForFunction(() => document.querySelectorAll("#anomalies tbody tr td.mono").length > 0,
      null, { timeout: 10000 }).then(() => true, () => false);
    check("the newest anomalies are listed", rows);

    // They follow /events/stream (SSE): the list is read once, and a new
    // anomaly (one injected now, or a generated one) comes on top without
    // another read of it.
    const listReads = () => requests.filter((u) => {
      const x = new URL(u);
      return x.pathname === "/events" && x.searchParams.get("anomalies_only") === "true";
    }).length;
    const reads0 = listReads();
    const top0 = await page.textContent("#anomalies tbody tr");
    await fetch(base + "/services/monitoring-service/inject", {
      method: "POST",
      headers: { Authorization: "Bearer " + TOKEN, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "high_cpu" }),
    });
    const moved = await page.waitForFunction((t) => {
      const r = document.querySelector("#anomalies tbody tr");
      return r && r.textContent !== t;
    }, top0, { timeout: 10000 }).then(() => true, () => false);
    const streamed = requests.some((u) => new URL(u).pathname === "/events/stream");
    check(`the newest anomalies follow /events/stream (stream opened: ${streamed}, a new one on top: ${moved}, ` +
      `list reads meanwhile: ${listReads() - reads0})`, streamed && moved && listReads() === reads0);

    mkdirSync(path.join(BUILD, "test-artifacts"), { recursive: true });
    const shot = path.join(BUILD, "test-artifacts", "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    const png = decodePng(readFileSync(shot));
    const colours = distinctColours(png);
    check(`the screenshot ${path.relative(BUILD, shot)} (${png.width}x${png.height}) is not one colour (${colours} colours)`,
      colours > 20);

    // A stopped service turns unreachable within 3 s.
    await stop(byName("auth-service"));
    const t = Date.now();
    const turned = await page.waitForFunction(() => {
      const b = document.querySelector('#card-auth-service [data-role="state"]');
      return b && b.textContent === "unreachable";
    }, null, { timeout: 3000, polling: 100 }).then(() => true, () => false);
    check(`the stopped auth-service shows unreachable within 3 s (${Date.now() - t} ms)`, turned,
      await page.textContent('#card-auth-service [data-role="state"]'));
    await page.screenshot({ path: path.join(BUILD, "test-artifacts", "dashboard-unreachable.png") });

    const outside = requests.filter((u) => !u.startsWith(base) && !u.startsWith("data:"));
    check("the page fetched nothing but this gateway", outside.length === 0, outside.join("\n"));
    check("no console errors or warnings, no uncaught exceptions", problems.length === 0, problems.join("\n"));
    check("every poll of /dashboard, /system/health and /events answered 200", badAnswers.length === 0,
      badAnswers.join("\n"));

    // JavaScript off: the server's summary.
    const noJs = await browser.newContext({ javaScriptEnabled: false });
    const p2 = await noJs.newPage();
    await p2.goto(base + "/dashboard");
    const summary = await p2.textContent("#summary").catch(() => "");
    check("with JavaScript off the page shows the server's summary of all three services",
      await p2.isVisible("#summary") && SERVICES.every((s) => summary.includes(s)) && /unreachable/.test(summary),
      summary.slice(0, 300));
    await noJs.close();
    await ctx.close();
  } finally {
    await browser.close();
  }
  console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

let status = 1;
try {
  await main();
  status = failed || !passed ? 1 : 0;
} catch (e) {
  check("the test ran to its end", false, (e.stack || e) + (e.cause ? "\ncause: " + e.cause : ""));
  for (const c of children)
    if (c.log)
      console.log("--- " + c.name + "\n" + c.log.join("").split("\n").slice(-15).join("\n"));
} finally {
  await Promise.all(children.map(stop));
  rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(status);
