/**
 * The servers a benchmark runs against: rtmp-server from a checkout (this one, or another worktree given with
 * --server-root / --compare, so that half-done edits here cannot break a run), plainly or in a variant (with
 * outputs on, or played over HTTP-FLV / WS-FLV / LL-HLS / HLS), nginx-rtmp (with its own HLS too), and the
 * floor (floor-server.ts). Each gets a label for the tables and a command line with its configuration written
 * into a scratch directory.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { type PlayerProtocol, isHls } from "./audience.ts";
import { OUTPUT_TAGS, type Output } from "./outputs.ts";

export interface RtmpServerTarget {
  kind: "rtmp-server";
  root: string;
  label: string;
  /** Outputs every stream gets (--with): none in a plain run. */
  outputs: Output[];
  /** How its players play (--protocol). */
  protocol: PlayerProtocol;
  /** Whether it listens on HTTP too: for FLV players and the outputs' /metrics, and on the rows they pair with. */
  http: boolean;
  /** The checkout given with --compare: what this one's runs are compared with. */
  baseline: boolean;
}

export type ServerTarget = RtmpServerTarget | NginxTarget | { kind: "floor"; label: string };

export interface NginxTarget {
  kind: "nginx";
  label: string;
  /** Its HLS on (hls_path served by an http block of the same nginx), played by plain HLS viewers. */
  hls?: boolean;
}

/** One way of running the same server: what outputs it has on, and how its players play. */
export interface Variant {
  outputs: Output[];
  protocol: PlayerProtocol;
}

/** This checkout: the default server root. */
export const ROOT = resolve(import.meta.dir, "..");
const NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
/** Above the saturation search's largest step; nginx refuses connections past worker_connections. */
const NGINX_CONNECTIONS = 16_384;
/** The HLS both servers run in a benchmark: rtmp-server's defaults, and nginx-rtmp set to match. */
export const HLS = { segmentMs: 1000, partMs: 200, window: 7 } as const;

/**
 * rtmp-server run from `root`, labelled `<dir>@<commit>`, with `+` when its src/ differs from that commit;
 * `baseline` for the checkout of --compare.
 */
export function rtmpServerTarget(root: string, { baseline = false } = {}): RtmpServerTarget {
  const dir = resolve(root);
  if (!existsSync(join(dir, "src", "cli.ts"))) throw new Error(`${dir} is not an rtmp-server checkout (no src/cli.ts)`);
  const git = (...args: string[]) => Bun.spawnSync(["git", "-C", dir, ...args], { stdout: "pipe", stderr: "ignore" });
  const head = git("rev-parse", "--short", "HEAD");
  const target = (label: string): RtmpServerTarget => {
    return { kind: "rtmp-server", root: dir, label, outputs: [], protocol: "rtmp", http: false, baseline };
  };
  if (!head.success) return target(basename(dir));
  const changed = git("diff", "--quiet", "HEAD", "--", "src").exitCode === 1;
  return target(`${basename(dir)}@${head.stdout.toString().trim()}${changed ? "+" : ""}`);
}

/**
 * `target` run plainly, then once per variant, labelled e.g. `main@abc +rec+relay` or `main@abc (http-flv)`.
 * With variants, every one of them listens on HTTP, the plain run included, so that paired rows differ only
 * in what they compare.
 */
export function withVariants(target: RtmpServerTarget, variants: Variant[]): RtmpServerTarget[] {
  if (variants.length === 0) return [target];
  const variant = ({ outputs, protocol }: Variant): RtmpServerTarget => {
    const tags = outputs.map((o) => `+${OUTPUT_TAGS[o]}`).join("");
    const label = [target.label, tags, protocol === "rtmp" ? "" : `(${protocol})`].filter((s) => s !== "").join(" ");
    return { ...target, outputs, protocol, label, http: true };
  };
  return [{ ...target, http: true }, ...variants.map(variant)];
}

export function nginxTarget(): NginxTarget {
  if (Bun.which("nginx") === null || !existsSync(NGINX_RTMP_MODULE)) {
    throw new Error(`--nginx: needs nginx and ${NGINX_RTMP_MODULE} (apt-get install nginx libnginx-mod-rtmp)`);
  }
  return { kind: "nginx", label: "nginx-rtmp" };
}

/** nginx-rtmp with its own HLS (MPEG-TS segments, no low latency), served by nginx's own HTTP. */
export function nginxHlsTarget(): NginxTarget {
  return { ...nginxTarget(), label: "nginx-rtmp (hls)", hls: true };
}

/** How a target's players play. */
export function playsOver(target: ServerTarget): PlayerProtocol {
  if (target.kind === "rtmp-server") return target.protocol;
  return target.kind === "nginx" && target.hls === true ? "hls" : "rtmp";
}

/** Whether a target listens on HTTP (an HTTP port is then chosen for it). */
export function listensOnHttp(target: ServerTarget): boolean {
  return target.kind === "rtmp-server" ? target.http : playsOver(target) !== "rtmp";
}

/** floor-server.ts: the least an RTMP fan-out on Bun does, to tell Bun's own cost from rtmp-server's. */
export function floorTarget(): ServerTarget {
  return { kind: "floor", label: "floor (Bun)" };
}

/**
 * The command that runs `target` on 127.0.0.1:`port`, its working directory, and its config in `dir`;
 * `yaml`: further top-level configuration for rtmp-server (HTTP listener, outputs); `httpPort`: nginx's HTTP
 * port, when it serves its HLS (rtmp-server's is in `yaml`). HLS players get HLS turned on, as HLS says.
 */
export function serverCommand(
  target: ServerTarget,
  dir: string,
  port: number,
  yaml: string[] = [],
  httpPort?: number,
): { cmd: string[]; cwd: string } {
  if (target.kind === "nginx") return nginxCommand(dir, port, [], target.hls === true ? httpPort : undefined);
  if (target.kind === "floor") return { cmd: [process.execPath, "bench/floor-server.ts", String(port)], cwd: ROOT };
  const config = join(dir, "server.yaml");
  const hls = isHls(target.protocol) ? hlsYaml(target.protocol === "ll-hls") : [];
  writeFileSync(config, [`listen: "127.0.0.1:${port}"`, "log:", "  level: warn", ...yaml, ...hls, ""].join("\n"));
  return { cmd: [process.execPath, "src/cli.ts", "--config", config], cwd: target.root };
}

function hlsYaml(lowLatency: boolean): string[] {
  const { segmentMs, partMs, window } = HLS;
  return ["hls:", "  enabled: true", `  low_latency: ${lowLatency}`, `  segment: ${segmentMs}ms`, `  part: ${partMs}ms`, `  window: ${window}`];
}

/**
 * nginx-rtmp on 127.0.0.1:`port` with its files in `dir`; `rtmp`: further directives of its rtmp block; with
 * `hlsHttpPort`, its HLS on (a directory per stream, as ours: /live/NAME/index.m3u8) and served from there.
 */
export function nginxCommand(dir: string, port: number, rtmp: string[] = [], hlsHttpPort?: number): { cmd: string[]; cwd: string } {
  // nginx opens <prefix>/logs/error.log before it reads the configuration.
  mkdirSync(join(dir, "logs"), { recursive: true });
  const conf = join(dir, "nginx.conf");
  const hlsPath = join(dir, "hls");
  const hls =
    hlsHttpPort === undefined
      ? ""
      : ` hls on; hls_path ${hlsPath}; hls_nested on; hls_fragment ${HLS.segmentMs}ms; hls_playlist_length ${HLS.segmentMs * HLS.window}ms;`;
  writeFileSync(
    conf,
    [
      `load_module ${NGINX_RTMP_MODULE};`,
      `error_log ${join(dir, "logs", "error.log")} warn;`,
      `pid ${join(dir, "nginx.pid")};`,
      `worker_rlimit_nofile ${NGINX_CONNECTIONS + 1024};`,
      `events { worker_connections ${NGINX_CONNECTIONS}; }`,
      // wait_key: a joining player starts at a keyframe, as ours does from its GOP cache.
      `rtmp { ${rtmp.map((d) => `${d} `).join("")}server { listen 127.0.0.1:${port}; chunk_size 4096; application live { live on; wait_key on;${hls} } } }`,
      ...(hlsHttpPort === undefined ? [] : [nginxHttp(hlsHttpPort, hlsPath)]),
      "",
    ].join("\n"),
  );
  return { cmd: ["nginx", "-p", dir, "-c", conf, "-g", "daemon off; master_process off;"], cwd: dir };
}

/** nginx's own HTTP serving its HLS files as a deployment would: sendfile, keep-alive, playlists not cached. */
function nginxHttp(port: number, hlsPath: string): string {
  const types = "types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }";
  const location = `location /live/ { alias ${hlsPath}/; add_header Cache-Control no-cache; }`;
  return `http { access_log off; sendfile on; tcp_nopush on; ${types} server { listen 127.0.0.1:${port}; ${location} } }`;
}
