/**
 * `rtmp-server sign KEY --expires DURATION --config FILE`: the `?sign=EXPIRES-HEX` query that lets stream KEY
 * publish or play until DURATION from now, signed with the config's auth.secret (auth.mode: sign).
 */
import { resolve } from "node:path";
import { signStreamKey } from "../shared/signature.ts";
import { ConfigError, type ConfigProblem } from "./config.ts";
import { type FlagSpec, readArgs, usageText } from "./flags.ts";
import { loadConfigFile } from "./load.ts";
import { describeValue, parseDuration, parseStreamKey, ValueError } from "./parse.ts";

interface SignArgs {
  streamKey?: string;
  expiresInMs?: number;
  /** As typed: relative to the working directory, and how config errors name the file. */
  configPath?: string;
  help: boolean;
}

const SIGN_SPECS: readonly FlagSpec<SignArgs>[] = [
  { name: "--expires", arg: "DURATION", help: "validity", apply: (a, v) => (a.expiresInMs = validity(v)) },
  { name: "--config", arg: "FILE", help: "holds auth.secret", apply: (a, v) => (a.configPath = v) },
  { name: "--help", help: "print the usage and exit", apply: (a) => (a.help = true) },
];

/**
 * What the command prints on stdout: the query to append to the stream's URL (or the usage, for --help).
 * `nowMs` is the clock the validity starts from. Throws ConfigError for bad arguments or config.
 */
export function signCommand(argv: readonly string[], cwd: string, nowMs: number): string {
  const args: SignArgs = { help: false };
  const problems = readArgs(argv, SIGN_SPECS, args, (arg) => storeKey(args, arg));
  if (args.help) return usageText();
  const need = (present: boolean, path: string, message: string) => {
    if (!present && !problems.some((p) => p.path === path)) problems.push({ path, message });
  };
  const example = "rtmp-server sign live/test --expires 1h --config FILE";
  need(args.streamKey !== undefined, "KEY", `needs the stream key: ${example}`);
  need(args.expiresInMs !== undefined, "--expires", "required: how long the URL stays valid, like 1h");
  need(args.configPath !== undefined, "--config", "required: the config file whose auth.secret signs the URL");
  if (problems.length > 0) throw new ConfigError(problems);
  const { streamKey, expiresInMs, configPath } = args as Required<SignArgs>;
  const config = loadConfigFile(resolve(cwd, configPath), configPath);
  if (config.auth.secret === "") {
    const message = "is empty: it is the key that signs URLs";
    throw new ConfigError([{ file: configPath, path: "auth.secret", message }]);
  }
  const expiresAtSec = Math.floor((nowMs + expiresInMs) / 1_000);
  return `?sign=${signStreamKey(streamKey, config.auth.secret, expiresAtSec)}\n`;
}

function storeKey(args: SignArgs, arg: string): ConfigProblem | undefined {
  if (args.streamKey !== undefined) return { path: arg, message: "unexpected argument: sign takes one stream key" };
  try {
    args.streamKey = parseStreamKey(arg);
    return undefined;
  } catch (error) {
    if (!(error instanceof ValueError)) throw error;
    return { path: "KEY", message: error.message };
  }
}

/** At least a second: EXPIRES counts whole seconds, so less could be over before it is printed. */
function validity(value: string): number {
  const ms = parseDuration(value);
  if (ms < 1_000) throw new ValueError(`expected a duration of at least 1s, like "1h", got ${describeValue(value)}`);
  return ms;
}
