// Drives headless Chromium (Playwright) for client/tests/dashboard_browser.rs: opens the
// dashboard, waits until the live data is drawn, saves a screenshot and prints the DOM.
//
//   node dashboard.cjs URL SCREENSHOT WORKERS COMPLETED_TASKS
//
// Exit 0: the page showed WORKERS worker rows, COMPLETED_TASKS runs in the task stream and a
// full progress bar; the DOM is on stdout. Otherwise exit 1 with the reason and the DOM.
const { chromium } = require("playwright-core");

async function main() {
  const [url, shot, workers, completed] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.TESSERA_CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    const drawn = page.waitForFunction(
      ([n, runs]) => {
        const stream = document.getElementById("task-stream");
        const bar = document.querySelector(".computation");
        return document.querySelectorAll(".worker-row").length === n
          && document.querySelector(".badge.on") !== null
          && stream !== null && stream.dataset.totalRuns === String(runs)
          && bar !== null && bar.dataset.done === bar.dataset.total;
      },
      [Number(workers), Number(completed)],
      { timeout: 20000, polling: 100 },
    );
    let waited = null;
    await drawn.catch((e) => { waited = e; });
    await page.screenshot({ path: shot, fullPage: true });
    const dom = await page.content();
    if (waited !== null || errors.length > 0) {
      console.error(`the dashboard did not show the expected state: ${waited || ""}`);
      console.error(errors.join("\n"));
      console.error(dom);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(dom);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
