/**
 * The servers a benchmark runs against: rtmp-server from a checkout (this one, or another worktree given with
 * --server-root / --compare, so that half-done edits here cannot break a run), and nginx-rtmp. Each gets a
 * label for the tables and a command line with its configuration written into a scratch directory.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";

export type ServerTarget =
  | { kind: "rtmp-server"; root: string; label: string }
  | { kind: "nginx"; label: string };

/** This checkout: the default server root. */
export const ROOT = resolve(import.meta.dir, "..");
const NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
/** Above the saturation search's largest step; nginx refuses connections past worker_connections. */
const NGINX_CONNECTIONS = 16_384;

/** rtmp-server run from `root`, labelled `<dir>@<commit>`, with `+` when its src/ differs from that commit. */
export function rtmpServerTarget(root: string): ServerTarget {
  const dir = resolve(root);
  if (!existsSync(join(dir, "src", "cli.ts"))) throw new Error(`${dir} is not an rtmp-server checkout (no src/cli.ts)`);
  const git = (...args: string[]) => Bun.spawnSync(["git", "-C", dir, ...args], { stdout: "pipe", stderr: "ignore" });
  const head = git("rev-parse", "--short", "HEAD");
  if (!head.success) return { kind: "rtmp-server", root: dir, label: basename(dir) };
  const changed = git("diff", "--quiet", "HEAD", "--", "src").exitCode === 1;
  return { kind: "rtmp-server", root: dir, label: `${basename(dir)}@${head.stdout.toString().trim()}${changed ? "+" : ""}` };
}

export function nginxTarget(): ServerTarget {
  if (Bun.which("nginx") === null || !existsSync(NGINX_RTMP_MODULE)) {
    throw new Error(`--nginx: needs nginx and ${NGINX_RTMP_MODULE} (apt-get install nginx libnginx-mod-rtmp)`);
  }
  return { kind: "nginx", label: "nginx-rtmp" };
}

/** The command that runs `target` on 127.0.0.1:`port`, its working directory, and its config in `dir`. */
export function serverCommand(target: ServerTarget, dir: string, port: number): { cmd: string[]; cwd: string } {
  if (target.kind === "rtmp-server") {
    const config = join(dir, "server.yaml");
    writeFileSync(config, `listen: "127.0.0.1:${port}"\nlog:\n  level: warn\n`);
    return { cmd: [process.execPath, "src/cli.ts", "--config", config], cwd: target.root };
  }
  // nginx opens <prefix>/logs/error.log before it reads the configuration.
  mkdirSync(join(dir, "logs"));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    [
      `load_module ${NGINX_RTMP_MODULE};`,
      `error_log ${join(dir, "logs", "error.log")} warn;`,
      `pid ${join(dir, "nginx.pid")};`,
      `worker_rlimit_nofile ${NGINX_CONNECTIONS + 1024};`,
      `events { worker_connections ${NGINX_CONNECTIONS}; }`,
      // wait_key: a joining player starts at a keyframe, as ours does from its GOP cache.
      `rtmp { server { listen 127.0.0.1:${port}; chunk_size 4096; application live { live on; wait_key on; } } }`,
      "",
    ].join("\n"),
  );
  return { cmd: ["nginx", "-p", dir, "-c", conf, "-g", "daemon off; master_process off;"], cwd: dir };
}
