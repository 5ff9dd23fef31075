/**
 * Building blocks of the auth tests: settings with one mode switched on, a publish/play request, and the
 * captured logger (to check, among other things, that no secret ever reaches the log).
 */
import type { AuthRequest, AuthSettings } from "../../src/auth/authorizer.ts";
import { DEFAULT_CONFIG } from "../../src/config/config.ts";

export function authSettings(overrides: Partial<AuthSettings>): AuthSettings {
  return { ...structuredClone(DEFAULT_CONFIG.auth), ...overrides };
}

/** A publish of live/test from 127.0.0.1 with no query, as changed by `overrides`. */
export function authRequest(overrides: Partial<AuthRequest> = {}): AuthRequest {
  return {
    action: "publish",
    app: "live",
    name: "test",
    streamKey: "live/test",
    query: {},
    clientIp: "127.0.0.1",
    ...overrides,
  };
}

export { capturedLog, LogCapture } from "../helpers/log-capture.ts";
