/**
 * Skipping the LM head in an embeddings context, through llama.cpp's `cb_eval` scheduler callback.
 *
 * ggml_backend_sched (ggml-backend.cpp) asks the callback, node by node, whether the caller needs that node's
 * data (ask=true); it computes the nodes up to the first "yes" as one graph, then calls back with ask=false and
 * stops computing the current split when that call returns false. We answer "yes" only for the node holding the
 * post-final-norm hidden state and "stop" right after it, so the LM head (hidden × vocab) never runs. That node is
 * named `result_norm` by the model graph; an embeddings context without pooling renames the very same tensor
 * `result_embd_pooled` (llama-graph.cpp, build_pooling). The logits buffer is garbage afterwards: never read
 * logits from a context that uses this.
 *
 * Limits: the stop applies to the split being computed; with a GPU, later splits still run. Each callback call
 * made during an async decode hops to the JS main thread, so the cost grows with the number of graph nodes.
 */
import koffi from "koffi";
import { callbackType, type Ptr } from "./llamaAbi.js";
import { LLAMA_HEADER } from "./llamaHeader.generated.js";

export const HIDDEN_STATE_NODE_NAMES = ["result_norm", "result_embd_pooled"] as const;

export class LmHeadSkip {
  private registered: Ptr | null;
  /** Callback calls since creation (instrumentation). */
  calls = 0;
  /** Name of the node the last graph was stopped after (null: no stop happened yet). */
  lastStopNode: string | null = null;
  /** Graph computations stopped early. */
  stops = 0;

  constructor() {
    const nameAt = BigInt(LLAMA_HEADER.ggmlTensorNameOffset);
    const wanted = new Set<string>(HIDDEN_STATE_NODE_NAMES);
    this.registered = koffi.register((tensor: Ptr, ask: boolean) => {
      this.calls++;
      if (!ask) {
        // called right after the node we said we needed was computed: stop this split here
        this.stops++;
        return false;
      }
      const name = koffi.decode.string(tensor + nameAt);
      if (wanted.has(name)) {
        this.lastStopNode = name;
        return true;
      }
      return false;
    }, callbackType("ggml_backend_sched_eval_callback"));
  }

  /** The function pointer to put in llama_context_params.cb_eval. */
  get pointer(): Ptr {
    if (this.registered === null) throw new Error("LmHeadSkip was disposed");
    return this.registered;
  }

  /** Unregister the callback. Only after the context using it has been freed. */
  dispose(): void {
    if (this.registered === null) return;
    koffi.unregister(this.registered);
    this.registered = null;
  }
}
