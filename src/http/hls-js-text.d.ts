// hls.js's light build, imported `with { type: "text" }` by watch-page.ts: its source text, for the browser.
declare module "hls.js/dist/hls.light.min.js" {
  const source: string;
  export default source;
}
