/**
 * One source of truth for the strict/loose mode of a command: the policy's mode when its files set one, else
 * the `--mode` flag, else the default (strict). The stop rule of `stream` and the policy's decisions use the same
 * mode, and the output says which mode applied and where it came from.
 */
import { readFile } from "node:fs/promises";
import type { Strictness } from "../core/labels.js";
import type { Policy } from "../core/policy/index.js";
import { loadPolicy, parsePolicyText } from "../guard/policy/index.js";
import { warn } from "./report.js";

export interface ModeChoice {
  mode: Strictness;
  /** Where the mode came from. */
  modeFrom: "policy" | "--mode" | "default";
  /** With modeFrom "policy": the policy file that sets it. */
  policyFile?: string;
}

export interface PolicyAndMode extends ModeChoice {
  /** The policy (its mode is `mode`), when --policy was given. */
  policy?: Policy;
}

/** "loose (from policy examples/policies/chat-assistant.yaml)", "strict (from --mode)", "strict (default)". */
export function modeText(choice: ModeChoice): string {
  if (choice.modeFrom === "default") return `${choice.mode} (default)`;
  if (choice.modeFrom === "--mode") return `${choice.mode} (from --mode)`;
  return `${choice.mode} (from policy ${choice.policyFile})`;
}

/** The mode fields as JSON output carries them. */
export function modeJson(choice: ModeChoice): Record<string, string> {
  return {
    mode: choice.mode,
    modeFrom: choice.modeFrom,
    ...(choice.policyFile === undefined ? {} : { policyFile: choice.policyFile }),
  };
}

/**
 * Load `--policy` (when given) and settle the mode. `flag` is the `--mode` value when the user passed it (not its
 * default). A flag that disagrees with a policy that sets its mode is ignored, with a warning.
 */
export async function resolvePolicyAndMode(
  policyPath: string | undefined,
  flag: Strictness | undefined,
): Promise<PolicyAndMode> {
  if (policyPath === undefined) {
    return flag === undefined ? { mode: "strict", modeFrom: "default" } : { mode: flag, modeFrom: "--mode" };
  }
  const { policy, files } = await loadPolicy(policyPath);
  // The last document (in merge order) that sets `mode` is the one whose mode the policy has.
  let setter: string | undefined;
  for (const [i, id] of policy.sources.entries()) {
    const doc = parsePolicyText(await readFile(files[i]!, "utf8"), id);
    if (doc.mode !== undefined) setter = id;
  }
  if (setter !== undefined) {
    if (flag !== undefined && flag !== policy.mode) {
      warn(
        `--mode ${flag} is ignored: the policy ${setter} sets mode ${policy.mode}, and the policy's mode decides`,
      );
    }
    return { policy, mode: policy.mode, modeFrom: "policy", policyFile: setter };
  }
  if (flag !== undefined) return { policy: { ...policy, mode: flag }, mode: flag, modeFrom: "--mode" };
  return { policy, mode: policy.mode, modeFrom: "default" };
}
