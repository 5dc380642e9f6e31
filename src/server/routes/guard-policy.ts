/**
 * Policies over HTTP, for the playground and any client that wants to try a policy before deploying it:
 *
 * - `POST /v1/guard/policy/check` `{text, name?}`: validate a policy text (YAML or JSON). Answers 200 either way:
 *   `{valid: true, policy, held}` (the effective policy as one document) or `{valid: false, code, messages, issues}`
 *   with the messages `qwen3guard policy check` prints for the same text in a file called `name`.
 * - `POST /v1/guard/policy/decide` `{verdicts, policy? | tenant?, mode?}`: the decision and its reasons for each
 *   verdict (`decide`, as `qwen3guard policy explain` shows it) under a policy text, a tenant's policy (default: the
 *   caller's), optionally read in another mode; plus the tiers the proxy holds back under that policy.
 *
 * A policy sent as text stands alone: `extends` is refused (the server reads no file on a client's behalf). With API
 * keys configured, a key reaches only its own tenant's policy.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { RiskTier, Strictness } from "../../core/labels.js";
import {
  decide,
  parsePolicyInput,
  policyDocument,
  PolicyError,
  resolvePolicy,
  type Policy,
} from "../../core/policy/index.js";
import type { StreamRule } from "../../core/stream-decision.js";
import { parsePolicyText } from "../../guard/policy/load.js";
import { heldTiers } from "../../guard/moderated-stream.js";
import { HttpError } from "../http-errors.js";
import type { ServerRuntime } from "../runtime.js";
import { fieldPath, parseOrThrow } from "../validate.js";

export const POLICY_CHECK_ROUTE = "/v1/guard/policy/check";
export const POLICY_DECIDE_ROUTE = "/v1/guard/policy/decide";

/** Characters of a policy text. */
export const POLICY_TEXT_MAX_CHARS = 65_536;
/** Verdicts of one decide request. */
export const DECIDE_MAX_VERDICTS = 1024;
/** The file name policy messages name when the client gives none. */
export const DEFAULT_POLICY_NAME = "policy.yaml";

const policyText = z
  .string({ error: "expected the policy as a string (YAML or JSON)" })
  .max(POLICY_TEXT_MAX_CHARS, { error: `at most ${POLICY_TEXT_MAX_CHARS} characters` });
const policyName = z
  .string({ error: "expected a file name" })
  .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: "expected a file name of letters, digits, . _ - (at most 64)" });

const checkSchema = z.object({ text: policyText, name: policyName.optional() }).strict();

const decideSchema = z
  .object({
    /** A policy text; else `tenant`'s policy; else the caller's tenant's. */
    policy: policyText.optional(),
    name: policyName.optional(),
    tenant: z.string({ error: "expected a tenant name" }).max(128).optional(),
    /** Read the policy in this mode instead of its own. */
    mode: z.enum(["strict", "loose"], { error: 'expected "strict" or "loose"' }).optional(),
    verdicts: z
      .array(z.unknown(), { error: "expected an array of verdicts" })
      .max(DECIDE_MAX_VERDICTS, { error: `at most ${DECIDE_MAX_VERDICTS} verdicts in one request` }),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.policy !== undefined && v.tenant !== undefined)
      ctx.addIssue({ code: "custom", path: ["tenant"], message: "give a policy text or a tenant, not both" });
  });

/**
 * A policy text on its own: parsed and validated like a file named `name`, resolved without `extends`.
 * @throws PolicyError with the messages of `qwen3guard policy check`.
 */
export function policyFromText(text: string, name: string = DEFAULT_POLICY_NAME): Policy {
  const doc = parsePolicyText(text, name);
  if (doc.extends !== undefined && doc.extends.length > 0) {
    throw new PolicyError([
      {
        source: name,
        path: ["extends"],
        message:
          "not available for a policy sent to the server (it reads no file for it): paste the effective policy, " +
          "which `qwen3guard policy check FILE` prints",
      },
    ]);
  }
  return resolvePolicy(name, new Map([[name, doc]]));
}

/** The tiers the proxy holds a token back for under a policy, per pair rule. */
export function heldByRule(policy: Policy): Record<StreamRule, RiskTier[]> {
  return { official: heldTiers(policy, "official"), report: heldTiers(policy, "report") };
}

/**
 * A tenant's policy, if the caller may read it: with API keys, only its own; without, any configured tenant.
 * @throws HttpError 403 TENANT_FORBIDDEN, 400 BAD_REQUEST (no such tenant on an open server).
 */
export function visiblePolicy(runtime: ServerRuntime, request: FastifyRequest, tenant: string): Policy {
  if (runtime.auth.required) {
    if (tenant !== request.tenant) {
      throw new HttpError(
        403,
        "TENANT_FORBIDDEN",
        `tenant: an API key reads only its own tenant's policy (this key's tenant is "${request.tenant}")`,
        { param: "tenant" },
      );
    }
  } else if (!runtime.tenants().includes(tenant)) {
    throw new HttpError(400, "BAD_REQUEST", `tenant: no tenant "${tenant}" on this server`, {
      param: "tenant",
    });
  }
  return runtime.policyFor(tenant);
}

/** A PolicyError as the 400 of a request that needs a valid policy. */
function invalidPolicy(error: PolicyError): HttpError {
  return new HttpError(400, error.code, `policy: ${error.message}`, { param: "policy", cause: error });
}

export function registerGuardPolicyRoutes(app: FastifyInstance, runtime: ServerRuntime): void {
  app.post(POLICY_CHECK_ROUTE, async (request) => {
    const body = parseOrThrow(checkSchema, request.body);
    const name = body.name ?? DEFAULT_POLICY_NAME;
    try {
      const policy = policyFromText(body.text, name);
      return { valid: true, name, policy: policyDocument(policy), held: heldByRule(policy) };
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      return {
        valid: false,
        name,
        code: error.code,
        // one line per problem, as `qwen3guard policy check` prints them after "qwen3guard: error: "
        messages: error.message.split("\n").filter((l) => l.trim() !== ""),
        issues: error.issues.map((i) => ({ path: fieldPath(i.path), message: i.message })),
      };
    }
  });

  app.post(POLICY_DECIDE_ROUTE, async (request) => {
    const body = parseOrThrow(decideSchema, request.body);
    let policy: Policy;
    let source: Record<string, string>;
    if (body.policy !== undefined) {
      const name = body.name ?? DEFAULT_POLICY_NAME;
      try {
        policy = policyFromText(body.policy, name);
      } catch (error) {
        throw error instanceof PolicyError ? invalidPolicy(error) : error;
      }
      source = { source: "text", name };
    } else {
      const tenant = body.tenant ?? request.tenant;
      policy = visiblePolicy(runtime, request, tenant);
      source = { source: "tenant", tenant };
    }
    const mode: Strictness = body.mode ?? policy.mode;
    const modeFrom = body.mode === undefined || body.mode === policy.mode ? "policy" : "request";
    if (mode !== policy.mode) policy = { ...policy, mode };
    const inputs = body.verdicts.map((v, i) => {
      try {
        return parsePolicyInput(v);
      } catch (error) {
        if (!(error instanceof PolicyError)) throw error;
        const issue = error.issues[0]!;
        const param = fieldPath(["verdicts", i, ...issue.path]);
        throw new HttpError(400, "BAD_REQUEST", `${param}: ${issue.message}`, { param });
      }
    });
    return {
      policy: {
        ...source,
        ...(policy.name === undefined ? {} : { policyName: policy.name }),
        mode,
        modeFrom,
      },
      held: heldByRule(policy),
      decisions: inputs.map((input) => decide(policy, input)),
    };
  });
}
