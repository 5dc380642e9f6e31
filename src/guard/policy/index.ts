/** Policy files on disk and per-tenant policy sets. */
export * from "./load.js";
export * from "./registry.js";
