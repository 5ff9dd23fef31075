/**
 * The executable: flags and YAML -> Config, then the server, until SIGINT/SIGTERM. Exit codes are the
 * operator contract's: 0 clean shutdown, 1 runtime failure, 2 bad flags or configuration.
 */
import pkg from "../package.json" with { type: "json" };
import type { Config } from "./config/config.ts";
import { ConfigError } from "./config/config.ts";
import { parseFlags, resolveConfig, usageText } from "./config/flags.ts";
import { formatConfig } from "./config/load.ts";
import { signCommand } from "./config/sign-command.ts";
import { createLogger } from "./logger.ts";
import { type RtmpServer, startServer } from "./server.ts";

function loadOrExit(argv: string[]): { config: Config; checkOnly: boolean } {
  try {
    const flags = parseFlags(argv);
    if (flags.help) {
      process.stdout.write(usageText());
      process.exit(0);
    }
    if (flags.version) {
      console.log(`rtmp-server ${pkg.version}`);
      process.exit(0);
    }
    return { config: resolveConfig(flags, process.cwd()), checkOnly: flags.checkConfig };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}

/** `rtmp-server sign ...` prints a signed URL query and exits; it never starts the server. */
function signOrExit(argv: string[]): never {
  try {
    process.stdout.write(signCommand(argv, process.cwd(), Date.now()));
    process.exit(0);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}

if (process.argv[2] === "sign") signOrExit(process.argv.slice(3));
const { config, checkOnly } = loadOrExit(process.argv.slice(2));
if (checkOnly) {
  process.stdout.write(formatConfig(config));
  process.exit(0);
}
const log = createLogger(config.log);

let server: RtmpServer | null = null;
let signalled = false;
// Handlers go in before the server starts: a signal right after "listening" must still shut down cleanly.
const shutdown = (signal: string) => {
  if (signalled) {
    log.warn("second signal: exiting at once", { signal });
    process.exit(1);
  }
  signalled = true;
  log.info("shutting down", { signal, budget_ms: config.timeouts.shutdownMs });
  if (server === null) process.exit(0);
  const forced = setTimeout(() => {
    log.error("shutdown budget exceeded: exiting", { budget_ms: config.timeouts.shutdownMs });
    process.exit(1);
  }, config.timeouts.shutdownMs + 1000);
  server.stop().then(() => {
    clearTimeout(forced);
    process.exit(0);
  });
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
// SIGHUP re-reads the auth token file and the TLS certificate (and must never kill the process).
process.on("SIGHUP", () => {
  log.info("SIGHUP: reloading");
  server?.reload();
});

try {
  // The one place the environment is read: hook scripts get the server's PATH and HOME.
  const { PATH, HOME } = process.env;
  const hookEnvironment = Object.fromEntries(Object.entries({ PATH, HOME }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  server = await startServer(config, log, { hookEnvironment });
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  log.error("cannot start", { error: message });
  console.error(`rtmp-server: ${message}`);
  process.exit(1);
}
