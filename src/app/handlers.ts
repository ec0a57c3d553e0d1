/**
 * Action handlers: what runs an action and undoes it. A policy names the
 * handler of each action; the runtime looks it up here.
 *
 * Whether a failure can be rolled back is part of the error's type:
 * `HandlerError.recoverable`. Anything a handler throws that is not a
 * HandlerError (a bug, garbage) counts as recoverable: the governor rolls
 * back rather than guess.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../ledger/canonical.ts";

export interface ActionContext {
  readonly actionId: string;
  readonly signalId: string;
  readonly account: string;
  readonly action: string;
  readonly params: Record<string, unknown>;
  /** The action's settings from the policy. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Fires at the action's deadline (its reason a `TimeoutError` DOMException); a handler must stop then. */
  readonly signal: AbortSignal;
}

export interface ActionResult {
  /** A digest of what the handler returned, recorded in `action_complete` (never the result itself). */
  readonly resultSha256?: string;
}

export interface ActionHandler {
  readonly name: string;
  run(ctx: ActionContext): Promise<ActionResult>;
  rollback(ctx: ActionContext & { readonly cause: string }): Promise<void>;
}

/** A handler's failure, with whether rolling back makes sense. */
export class HandlerError extends Error {
  readonly code: string;
  readonly recoverable: boolean;
  constructor(code: string, message: string, recoverable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HandlerError";
    this.code = code;
    this.recoverable = recoverable;
  }
}

/** Does nothing, at once: for demos and benchmarks. */
export const noopHandler: ActionHandler = {
  name: "noop",
  run: () => Promise.resolve({}),
  rollback: () => Promise.resolve(),
};

function digest(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

async function post(url: string, body: unknown, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
      redirect: "error",
    });
  } catch (err) {
    if (signal.aborted) throw new HandlerError("deadline", "the request was aborted at the action's deadline", true, { cause: err });
    throw new HandlerError("unreachable", `POST ${new URL(url).origin} failed: ${(err as Error).message}`, true, { cause: err });
  }
}

/**
 * POSTs `{action_id, signal_id, account, action, params}` to `config.url`;
 * rollback POSTs the same to `config.rollback_url`. 2xx with a JSON body
 * succeeds; 4xx is unrecoverable (the request itself is wrong); 5xx, network
 * errors and unparseable bodies are recoverable (rolled back).
 */
export const httpHandler: ActionHandler = {
  name: "http",
  async run(ctx) {
    const url = ctx.config["url"];
    if (typeof url !== "string") throw new HandlerError("misconfigured", "http handler needs config.url", false);
    const res = await post(url, body(ctx), ctx.signal);
    if (res.status >= 400 && res.status < 500) {
      await res.body?.cancel();
      throw new HandlerError(`http_${res.status}`, `the action endpoint refused the request (HTTP ${res.status})`, false);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new HandlerError(`http_${res.status}`, `the action endpoint failed (HTTP ${res.status})`, true);
    }
    let parsed: unknown;
    try {
      const text = await res.text();
      parsed = text.length === 0 ? null : JSON.parse(text);
    } catch (err) {
      if (ctx.signal.aborted) throw new HandlerError("deadline", "the response was cut off at the action's deadline", true);
      throw new HandlerError("invalid_response", "the action endpoint returned a body that is not JSON", true, { cause: err });
    }
    return { resultSha256: digest(parsed) };
  },
  async rollback(ctx) {
    const url = ctx.config["rollback_url"];
    if (typeof url !== "string") throw new HandlerError("misconfigured", "http handler needs config.rollback_url", false);
    const res = await post(url, { ...body(ctx), cause: ctx.cause }, ctx.signal);
    await res.body?.cancel();
    if (!res.ok) throw new HandlerError(`http_${res.status}`, `the rollback endpoint failed (HTTP ${res.status})`, false);
  },
};

function body(ctx: ActionContext) {
  return { action_id: ctx.actionId, signal_id: ctx.signalId, account: ctx.account, action: ctx.action, params: ctx.params };
}

/** The built-in handlers by name. */
export const builtinHandlers: ReadonlyMap<string, ActionHandler> = new Map([
  [noopHandler.name, noopHandler],
  [httpHandler.name, httpHandler],
]);
