// The drill's "service" in a lab namespace: answers every GET with this node's name.
// Args: NAME PORT [TAG]. NAME and TAG (a lab id) are in argv so a track script finds this very
// process with pgrep -f, not the one of another node or of another run.
import { createServer } from "node:http";

const [name = "", portArg = "8080"] = process.argv.slice(2);
if (name === "") {
  process.stderr.write("usage: http-service.ts NAME PORT [TAG]\n");
  process.exit(64);
}
createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain" }).end(`${name}\n`);
}).listen(Number(portArg), "0.0.0.0", () => process.stdout.write(`listening ${portArg}\n`));
