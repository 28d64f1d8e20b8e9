// The drill client: GET http://VIP:PORT/ every INTERVAL ms over one keep-alive connection (a new one
// after an error), for at most MAX ms or until SIGTERM. One line per request on stdout:
// "<epoch ms> ok <server>" or "<epoch ms> fail <error>". Args: URL INTERVAL_MS MAX_MS.
import { Agent, get } from "node:http";

const [url = "", intervalArg = "20", maxArg = "30000"] = process.argv.slice(2);
if (!url.startsWith("http://")) {
  process.stderr.write("usage: client-loop.ts http://VIP:PORT/ INTERVAL_MS MAX_MS\n");
  process.exit(64);
}
const intervalMs = Number(intervalArg);
const deadline = Date.now() + Number(maxArg);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
});

function once(): Promise<string> {
  return new Promise((resolve) => {
    const req = get(url, { agent, timeout: 400 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () =>
        resolve(res.statusCode === 200 ? `ok ${body.trim()}` : `fail status ${res.statusCode}`),
      );
      res.on("error", (e) => resolve(`fail ${e.message}`));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve(`fail ${e.code ?? e.message}`));
  });
}

while (!stopping && Date.now() < deadline) {
  const started = Date.now();
  const r = await once();
  process.stdout.write(`${started} ${r}\n`);
  const wait = intervalMs - (Date.now() - started);
  if (wait > 0) await new Promise((res) => setTimeout(res, wait));
}
agent.destroy();
