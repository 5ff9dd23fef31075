/**
 * The Prometheus text exposition format (version 0.0.4): HELP and TYPE lines, then samples with escaped
 * label values; histograms as cumulative `_bucket{le=...}`, `_sum` and `_count`.
 */
import type { Histogram } from "../shared/server-stats.ts";

export type Labels = Record<string, string>;
export type Sample = readonly [labels: Labels, value: number];

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export class Exposition {
  private text = "";

  gauge(name: string, help: string, samples: number | readonly Sample[]): void {
    this.family(name, "gauge", help, samples);
  }

  /** Counter names end in `_total`. */
  counter(name: string, help: string, samples: number | readonly Sample[]): void {
    this.family(name, "counter", help, samples);
  }

  histogram(name: string, help: string, h: Histogram): void {
    this.header(name, "histogram", help);
    let cumulative = 0;
    for (let i = 0; i < h.bounds.length; i++) {
      cumulative += h.counts[i];
      this.sample(`${name}_bucket`, { le: String(h.bounds[i]) }, cumulative);
    }
    this.sample(`${name}_bucket`, { le: "+Inf" }, h.count);
    this.sample(`${name}_sum`, {}, h.sum);
    this.sample(`${name}_count`, {}, h.count);
  }

  toString(): string {
    return this.text;
  }

  private family(name: string, type: string, help: string, samples: number | readonly Sample[]): void {
    this.header(name, type, help);
    if (typeof samples === "number") this.sample(name, {}, samples);
    else for (const [labels, value] of samples) this.sample(name, labels, value);
  }

  private header(name: string, type: string, help: string): void {
    this.text += `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${name} ${type}\n`;
  }

  private sample(name: string, labels: Labels, value: number): void {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    this.text += `${name}${pairs.length === 0 ? "" : `{${pairs.join(",")}}`} ${formatValue(value)}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return String(value);
}

/**
 * Several expositions written by Exposition (one per worker) as one: each series' values summed, or merged by
 * `merge[family]` (e.g. Math.min for a start time); families and series in the order they first appear.
 */
export function mergeExpositions(texts: readonly string[], merge: Readonly<Record<string, (a: number, b: number) => number>> = {}): string {
  const families = new Map<string, { header: string; samples: Map<string, number> }>();
  for (const text of texts) {
    let family: { header: string; samples: Map<string, number> } | undefined;
    let name = "";
    for (const line of text.split("\n")) {
      const header = /^# (HELP|TYPE) (\S+) /.exec(line);
      if (header !== null) {
        name = header[2];
        family = families.get(name);
        if (family === undefined) families.set(name, (family = { header: "", samples: new Map() }));
        if (!family.header.includes(`# ${header[1]} `)) family.header += `${line}\n`;
        continue;
      }
      const at = line.lastIndexOf(" ");
      if (family === undefined || line === "" || at < 0) continue;
      const series = line.slice(0, at);
      const value = parseValue(line.slice(at + 1));
      const seen = family.samples.get(series);
      family.samples.set(series, seen === undefined ? value : (merge[name] ?? sum)(seen, value));
    }
  }
  let out = "";
  for (const { header, samples } of families.values()) {
    out += header;
    for (const [series, value] of samples) out += `${series} ${formatValue(value)}\n`;
  }
  return out;
}

function sum(a: number, b: number): number {
  return a + b;
}

function parseValue(text: string): number {
  return text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : Number(text);
}
