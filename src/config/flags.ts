/**
 * The command line: argv (the arguments after the program name) -> Flags, and Flags -> the effective Config
 * (the --config file or the built-in defaults, then the flag overrides). Printing and exiting are the
 * caller's: exit 2 on ConfigError.
 */
import { resolve } from "node:path";
import { LOG_LEVELS, type LogLevel } from "../logger.ts";
import { type Config, ConfigError, type ConfigProblem, DEFAULT_CONFIG, type ListenAddress } from "./config.ts";
import { loadConfigFile } from "./load.ts";
import { describeValue, enumParser, parseListen, suggest, ValueError } from "./parse.ts";

export interface Flags {
  /** As typed: relative to the working directory, and how config errors name the file. */
  configPath?: string;
  listen?: ListenAddress;
  /** null: `--http ""`, HTTP off even if the file turns it on. */
  http?: ListenAddress | null;
  logLevel?: LogLevel;
  record: boolean;
  recordDir?: string;
  checkConfig: boolean;
  help: boolean;
  version: boolean;
}

/** One flag of a command; `T` is what the command's flags are stored in. */
export interface FlagSpec<T> {
  name: string;
  /** The value's placeholder in the usage text; absent for switches. */
  arg?: string;
  help: string;
  /** Stores the flag in `into`, throwing ValueError for a bad value. */
  apply(into: T, value: string): void;
}

const parseLogLevel = enumParser(LOG_LEVELS);

/** Every flag, in usage order: parsing and the usage text both come from this table. */
const FLAG_SPECS: readonly FlagSpec<Flags>[] = [
  {
    name: "--config",
    arg: "FILE",
    help: "YAML config file (without it: built-in defaults, listening on 0.0.0.0:1935)",
    apply: (flags, value) => (flags.configPath = value),
  },
  {
    name: "--listen",
    arg: "HOST:PORT",
    help: 'RTMP listen address, overrides the file\'s listen: "0.0.0.0:1935", "[::]:1935", ":1935"',
    apply: (flags, value) => (flags.listen = parseListen(value)),
  },
  {
    name: "--http",
    arg: "HOST:PORT",
    help: 'API, /metrics, dashboard and HTTP-FLV listen address, overrides http.listen ("" = off)',
    apply: (flags, value) => (flags.http = value === "" ? null : parseListen(value)),
  },
  {
    name: "--log-level",
    arg: "LEVEL",
    help: "debug | info | warn | error, overrides log.level",
    apply: (flags, value) => (flags.logLevel = parseLogLevel(value)),
  },
  {
    name: "--record",
    help: "record every published stream to FLV (recording.enabled: true)",
    apply: (flags) => (flags.record = true),
  },
  {
    name: "--record-dir",
    arg: "DIR",
    help: "directory for recordings, overrides recording.dir (does not turn recording on)",
    apply: (flags, value) => {
      if (value === "") throw new ValueError(`expected a directory path, got ${describeValue(value)}`);
      flags.recordDir = value;
    },
  },
  {
    name: "--check-config",
    help: "validate the configuration, print the effective config and exit (0 valid, 2 invalid)",
    apply: (flags) => (flags.checkConfig = true),
  },
  { name: "--version", help: "print the version and exit", apply: (flags) => (flags.version = true) },
  { name: "--help", help: "print this help and exit", apply: (flags) => (flags.help = true) },
];

/** `-h` is what people type first; every other flag is long-form only. */
const ALIASES: Record<string, string> = { "-h": "--help" };

/**
 * Accepts `--flag value` and `--flag=value`; a later repeat of a flag wins. Throws ConfigError listing every
 * unknown flag, missing value and bad value.
 */
export function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { record: false, checkConfig: false, help: false, version: false };
  const problems = readArgs(argv, FLAG_SPECS, flags, (arg) => ({
    path: arg,
    message:
      arg === "sign"
        ? "the sign command comes first: rtmp-server sign KEY --expires DURATION --config FILE"
        : "unexpected argument (rtmp-server takes only flags; see --help)",
  }));
  if (problems.length > 0) throw new ConfigError(problems);
  return flags;
}

/**
 * Reads `argv` against `specs` into `into`, handing each word that is not a flag to `positional` (which
 * stores it or says what is wrong with it). Every problem is returned, none thrown.
 */
export function readArgs<T>(
  argv: readonly string[],
  specs: readonly FlagSpec<T>[],
  into: T,
  positional: (arg: string) => ConfigProblem | undefined,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const note = (problem: ConfigProblem | undefined) => problem !== undefined && problems.push(problem);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("-")) {
      note(positional(arg));
      continue;
    }
    const equals = arg.indexOf("=");
    const name = ALIASES[arg] ?? (equals < 0 ? arg : arg.slice(0, equals));
    const spec = specs.find((s) => s.name === name);
    if (spec === undefined) {
      const near = suggest(name, specs.map((s) => s.name));
      note({ path: name, message: `unknown flag${near === undefined ? "" : ` (did you mean ${near}?)`}` });
      // A word after it is most likely its value: reporting that as a stray argument too would be noise.
      if (equals < 0 && i + 1 < argv.length && !argv[i + 1].startsWith("-")) i++;
      continue;
    }
    let value = "";
    if (spec.arg === undefined) {
      if (equals >= 0) {
        note({ path: name, message: `takes no value, got ${describeValue(arg.slice(equals + 1))}` });
        continue;
      }
    } else if (equals >= 0) {
      value = arg.slice(equals + 1);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
      // A following "--flag" is far likelier a forgotten value than a value; --name=--x still says it.
      value = argv[++i];
    } else {
      note({ path: name, message: `needs a value: ${name} ${spec.arg}` });
      continue;
    }
    try {
      spec.apply(into, value);
    } catch (error) {
      if (!(error instanceof ValueError)) throw error;
      note({ path: name, message: error.message });
    }
  }
  return problems;
}

/**
 * The effective Config: the --config file (relative to `cwd`) or the built-in defaults, then the flags on
 * top. Throws ConfigError for an unreadable or invalid file.
 */
export function resolveConfig(flags: Flags, cwd: string): Config {
  const base =
    flags.configPath === undefined
      ? structuredClone(DEFAULT_CONFIG)
      : loadConfigFile(resolve(cwd, flags.configPath), flags.configPath);
  return {
    ...base,
    listen: flags.listen ?? base.listen,
    log: { ...base.log, level: flags.logLevel ?? base.log.level },
    recording: {
      ...base.recording,
      enabled: flags.record || base.recording.enabled,
      dir: flags.recordDir ?? base.recording.dir,
    },
    http: { ...base.http, listen: flags.http === undefined ? base.http.listen : flags.http },
  };
}

export function usageText(): string {
  const width = Math.max(...FLAG_SPECS.map((s) => flagLabel(s).length));
  const options = FLAG_SPECS.map((s) => `  ${flagLabel(s).padEnd(width)}  ${s.help}`);
  return [
    "Usage:",
    "  rtmp-server [--config FILE] [--listen HOST:PORT] [--http HOST:PORT] [--log-level LEVEL] [--record] [--record-dir DIR] [--check-config]",
    "  rtmp-server sign KEY --expires DURATION --config FILE",
    "  rtmp-server --version | --help",
    "",
    "Options:",
    ...options,
    "",
    "Flags override the config file. Durations in the file: 250ms, 5s, 2m, 1h or seconds; sizes: 65536, 64KiB, 16MiB.",
    "`sign` prints the ?sign= query that lets stream KEY (app/name) publish or play until DURATION from now,",
    "signed with auth.secret from FILE (auth.mode: sign).",
    "Exit status: 0 clean shutdown, 1 runtime failure, 2 bad flags or configuration.",
    "",
  ].join("\n");
}

function flagLabel(spec: FlagSpec<Flags>): string {
  return spec.arg === undefined ? spec.name : `${spec.name} ${spec.arg}`;
}
